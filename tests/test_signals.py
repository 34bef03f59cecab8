"""Issue 11, item 5: SIGTERM and SIGHUP end ``run``, ``batch`` and ``compare`` like Ctrl-C.

Each command is paused at a known point *inside* its temporary output folder (a
``sitecustomize`` hook wraps one writer of :mod:`healthopt.outputs.tables` so that it
writes its file, then sleeps), so the hidden ``.NAME.XXXX.partial/`` folder holds files
when the signal arrives. The command must exit with 128 + the signal number (143 SIGTERM,
129 SIGHUP; 130 stays Ctrl-C) and leave no folder of its own behind, hidden ones included.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGHUP") or not Path("/proc/self").is_dir(),
                                reason="POSIX signals and /proc")

#: The test runner may have started us with signals ignored (a background job ignores SIGINT,
#: nohup SIGHUP), which the CLI rightly keeps: the child starts from the defaults instead.
CLI = ("import signal; signal.signal(signal.SIGINT, signal.default_int_handler); "
       "signal.signal(signal.SIGTERM, signal.SIG_DFL); signal.signal(signal.SIGHUP, signal.SIG_DFL); "
       "from healthopt.cli import run; run()")

SCENARIO = """\
name: {name}
area: {{districts: [140106], urban: [140106]}}
plans: {{ambulances: {{max_new_stations: {stations}}}}}
solver: {{time_limit_s: 15}}
outputs: {{map: false, report: false}}
"""

#: Wraps ``healthopt.outputs.tables.<HEALTHOPT_TEST_PAUSE>``: the file is written (for
#: ``atomic_folder``: the temporary folder is made and a file put in it), then the process
#: announces it on stderr and sleeps until a signal ends it.
HOOK = textwrap.dedent("""\
    import contextlib, os, sys, time
    _name = os.environ.get("HEALTHOPT_TEST_PAUSE")

    def _pause():
        sys.stderr.write("PAUSED %d\\n" % os.getpid())
        sys.stderr.flush()
        time.sleep(300)

    if _name:
        import healthopt.outputs.tables as _tables
        _orig = getattr(_tables, _name)
        if _name == "atomic_folder":  # pause inside the temporary folder, with a file in it
            @contextlib.contextmanager
            def _paused(*args, **kwargs):
                with _orig(*args, **kwargs) as tmp:
                    (tmp / "written-before-the-signal").write_text("x")
                    _pause()
                    yield tmp
        else:
            def _paused(*args, **kwargs):
                out = _orig(*args, **kwargs)
                _pause()
                return out
        setattr(_tables, _name, _paused)
    """)


def _env(tmp_path: Path, pause: str | None) -> dict[str, str]:
    hook = tmp_path / "hook"
    hook.mkdir(exist_ok=True)
    (hook / "sitecustomize.py").write_text(HOOK, encoding="utf-8")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(hook), *filter(None, [env.get("PYTHONPATH")])])
    env.pop("HEALTHOPT_TEST_PAUSE", None)
    if pause:
        env["HEALTHOPT_TEST_PAUSE"] = pause
    return env


class _Child:
    """A CLI process whose stderr lines are collected in the background."""

    def __init__(self, args: list[str], env: dict[str, str], cwd: Path) -> None:
        self.proc = subprocess.Popen([sys.executable, "-c", CLI, *args], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True, env=env, cwd=cwd)
        self.lines: list[str] = []
        self.paused = threading.Event()
        self.paused_pids: list[int] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line)
            if line.startswith("PAUSED "):
                self.paused_pids.append(int(line.split()[1]))
                self.paused.set()

    def wait_paused(self) -> bool:
        deadline = time.monotonic() + 180
        while not self.paused.wait(0.2) and self.proc.poll() is None and time.monotonic() < deadline:
            pass
        return self.paused.is_set()

    def signal_when_paused(self, signum: int) -> int:
        try:
            assert self.wait_paused(), "".join(self.lines)
            self.proc.send_signal(signum)
            return self.proc.wait(timeout=60)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            time.sleep(0.3)  # the reader thread takes the last lines

    def last_json(self) -> dict:
        return json.loads([ln for ln in self.lines if ln.startswith("{")][-1])


def _partials(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.name.endswith(".partial") or ".partial" in p.name]


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.parametrize(("signum", "code", "name"), [(signal.SIGTERM, 143, "SIGTERM"),
                                                       (signal.SIGHUP, 129, "SIGHUP"),
                                                       (signal.SIGINT, 130, None)])
def test_run_signal_leaves_nothing_and_exits_128_plus_signal(tmp_path, signum, code, name):
    (tmp_path / "s.yaml").write_text(SCENARIO.format(name="s", stations=3), encoding="utf-8")
    runs = tmp_path / "runs"
    child = _Child(["run", "s.yaml", "-o", str(runs), "--log-json"], _env(tmp_path, "write_summary_json"), tmp_path)
    # The partial folder must exist with summary.json in it at the moment of the signal.
    child.wait_paused()
    partial = _partials(runs)
    assert partial and (partial[0] / "summary.json").is_file(), "".join(child.lines)
    assert child.signal_when_paused(signum) == code, "".join(child.lines)
    event = child.last_json()
    assert event["event"] == "interrupted" and event["exit_code"] == code
    assert event["message"] == (f"terminated by {name}" if name else "interrupted") + ": nothing partial was written"
    assert sorted(os.listdir(runs)) == []


def test_run_sigterm_without_log_json_says_it_in_one_line(tmp_path):
    (tmp_path / "s.yaml").write_text(SCENARIO.format(name="s", stations=3), encoding="utf-8")
    runs = tmp_path / "runs"
    child = _Child(["run", "s.yaml", "-o", str(runs), "--quiet"], _env(tmp_path, "write_summary_json"), tmp_path)
    assert child.signal_when_paused(signal.SIGTERM) == 143
    assert [ln for ln in child.lines if not ln.startswith(("PAUSED", "Running HiGHS", "Includes third"))] == [
        "terminated by SIGTERM: nothing partial was written\n"]
    assert os.listdir(runs) == []


def test_batch_sigterm_stops_the_workers_and_leaves_no_partial_folder(tmp_path):
    members = tmp_path / "members"
    members.mkdir()
    for name, stations in (("m1", 2), ("m2", 4)):
        (members / f"{name}.yaml").write_text(SCENARIO.format(name=name, stations=stations), encoding="utf-8")
    runs = tmp_path / "runs"
    child = _Child(["batch", str(members), "-o", str(runs), "--workers", "2"], _env(tmp_path, "write_summary_json"),
                   tmp_path)
    assert child.signal_when_paused(signal.SIGTERM) == 143, "".join(child.lines)
    workers = child.paused_pids
    assert child.proc.pid not in workers  # the pause happened in a worker process
    deadline = time.monotonic() + 30
    while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not [pid for pid in workers if _alive(pid)]
    assert _partials(runs) == []
    assert child.lines[-1] == "terminated by SIGTERM: nothing partial was written\n", "".join(child.lines)
    assert "Traceback" not in "".join(child.lines)


def test_compare_sigterm_leaves_no_compare_folder(tmp_path):
    (tmp_path / "s.yaml").write_text(SCENARIO.format(name="s", stations=3), encoding="utf-8")
    runs = tmp_path / "runs"
    done = subprocess.run([sys.executable, "-c", CLI, "run", "s.yaml", "-o", str(runs), "--quiet"],
                          capture_output=True, text=True, cwd=tmp_path, env=_env(tmp_path, None), timeout=300)
    assert done.returncode == 0, done.stderr
    out = tmp_path / "cmp"
    child = _Child(["compare", str(runs / "s"), str(runs / "s"), "-o", str(out)], _env(tmp_path, "atomic_folder"),
                   tmp_path)
    assert child.signal_when_paused(signal.SIGHUP) == 129, "".join(child.lines)
    assert not out.exists()
    assert _partials(tmp_path) == []
    assert child.lines[-1] == "terminated by SIGHUP: nothing partial was written\n"


def test_a_signal_ignored_at_start_stays_ignored():
    from healthopt import _signals

    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        signal.signal(signal.SIGHUP, signal.SIG_IGN)  # as under nohup
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        assert _signals.install()
        assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
        assert signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL
        assert _signals.exit_code() == 130 and _signals.received() is None
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)
