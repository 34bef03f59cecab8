"""Batch worker processes end with their parent: by PR_SET_PDEATHSIG, and by the heartbeat where that is missing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads the process table from /proc")

#: A parent that starts one worker the way the batch pool does (spawn + the pool's initializer),
#: prints the worker's pid and waits to be killed. ``MODE`` picks the mechanism left in place.
PARENT = textwrap.dedent("""\
    import multiprocessing, os, sys, time
    from healthopt.batch import runner

    def work(parent, mode):
        if mode == "heartbeat":
            runner._PR_SET_PDEATHSIG = -1  # prctl(-1) fails: as on a system without it
        else:
            runner.HEARTBEAT_S = 3600.0  # the heartbeat would only notice in an hour
        runner._worker_init(parent)
        time.sleep(600)

    if __name__ == "__main__":
        proc = multiprocessing.get_context("spawn").Process(target=work, args=(os.getpid(), sys.argv[1]))
        proc.start()
        time.sleep(1.5)  # the worker has run its initializer
        print(proc.pid, flush=True)
        time.sleep(600)
    """)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["pdeathsig", "heartbeat"])
def test_worker_ends_when_its_parent_is_killed(tmp_path, mode):
    script = tmp_path / "parent.py"
    script.write_text(PARENT)
    parent = subprocess.Popen([sys.executable, str(script), mode], stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    worker = int(parent.stdout.readline())
    try:
        assert _alive(worker)
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait()
        deadline = time.monotonic() + 30  # a bound for a loaded machine, not a speed requirement
        while _alive(worker) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _alive(worker)
    finally:
        if _alive(worker):
            os.kill(worker, signal.SIGKILL)
