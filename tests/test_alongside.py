"""A plan solved in a forked child while the run solves the others (:mod:`healthopt.pipeline._alongside`).

The run-level checks start a fresh interpreter: a test process that has already solved with
several HiGHS threads may not fork (and would silently run everything in one process).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from healthopt.errors import InfeasiblePlanError
from healthopt.pipeline._alongside import Alongside, can_fork_alongside

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.skipif(sys.platform != "linux" or len(os.sched_getaffinity(0)) < 2,
                                reason="forks on Linux with two cores")


def test_the_child_returns_its_value_and_its_seconds():
    handle = Alongside(lambda: (os.getpid(), sum(range(1000))))
    (pid, total), seconds = handle.result()
    assert pid != os.getpid() and total == 499_500 and 0.0 <= seconds < 30.0


def test_what_the_child_raises_is_raised_here():
    def fail():
        raise InfeasiblePlanError(["district X needs 46 ambulances, budget allows 40"])

    with pytest.raises(InfeasiblePlanError, match="budget allows 40"):
        Alongside(fail).result()


def test_a_child_that_dies_without_answering_is_an_error_not_a_hang():
    with pytest.raises(RuntimeError, match="exit 7"):
        Alongside(lambda: os._exit(7)).result()


def test_cancel_stops_a_running_child():
    handle = Alongside(lambda: time.sleep(60))
    t0 = time.perf_counter()
    handle.cancel()
    assert time.perf_counter() - t0 < 5.0


_RUN = r"""
import json, os, sys
from pathlib import Path
from healthopt.pipeline import run as pipeline
from healthopt.pipeline._alongside import can_fork_alongside
from healthopt.plans import primary_care
from healthopt.scenario import Scenario, load_scenario

tmp = Path(sys.argv[1])
base = Path("scenarios/taiyuan_2025_baseline.yaml").resolve()
data = load_scenario(base).resolved_dict()
data["name"] = "two_districts"
data["area"] = {"districts": ["140105", "140106"], "urban": ["140105", "140106"]}
data["outputs"].update({"map": False, "report": False})
sc = Scenario.from_dict(data, source=base, base_dir=base.parent)
inputs = pipeline.prepare_inputs(sc)
fork_ok = can_fork_alongside()
pids = []
solve = primary_care.PrimaryCare.solve
def spy(self, settings):
    with open(tmp / "pids", "a") as f:
        f.write(f"{os.getpid()}\n")
    if os.environ.get("FAIL_PRIMARY_CARE"):
        raise RuntimeError("health centres failed on purpose")
    return solve(self, settings)
primary_care.PrimaryCare.solve = spy
out = {"fork_ok": fork_ok, "parent": os.getpid()}
try:
    a = pipeline.run_prepared(sc, inputs, tmp / "alongside" / sc.name, alongside=True)
    b = pipeline.run_prepared(sc, inputs, tmp / "serial" / sc.name, alongside=False)
    read = lambda r: {k: v for k, v in json.loads((r.folder / "summary.json").read_text()).items()
                      if k not in ("inputs", "versions")}
    out["same"] = read(a) == read(b)
except RuntimeError as exc:
    out["error"] = str(exc)
out["folder"] = (tmp / "alongside" / sc.name).exists()
out["pids"] = [int(p) for p in (tmp / "pids").read_text().split()]
print(json.dumps(out))
"""


def _run(tmp_path: Path, **env: str) -> dict:
    proc = subprocess.run([sys.executable, "-c", _RUN, str(tmp_path)], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, **env}, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_a_run_solves_the_health_centres_in_a_child_with_the_same_outputs(tmp_path):
    out = _run(tmp_path)
    assert out["fork_ok"]
    child, serial = out["pids"]  # the alongside run's solve, then the serial run's
    assert child != out["parent"] and serial == out["parent"]
    assert out["same"]


@pytest.mark.slow
def test_a_failing_plan_in_the_child_stops_the_run_and_writes_nothing(tmp_path):
    out = _run(tmp_path, FAIL_PRIMARY_CARE="1")
    assert out["error"] == "health centres failed on purpose"
    assert out["folder"] is False and out["pids"][0] != out["parent"]


def test_this_process_may_fork_only_without_highs_threads(monkeypatch):
    import healthopt.pipeline._alongside as mod

    monkeypatch.setattr(mod, "highs_threads_alive", lambda: True)
    assert not can_fork_alongside()


def test_the_errors_a_plan_raises_come_back_whole():
    import pickle

    from healthopt.errors import InputError, SolverLimitError, UnprovenPlanError

    for exc in (InfeasiblePlanError(["a needs 3", "b needs 4"]), InputError("s.yaml", "plans.x", "bad", 4),
                SolverLimitError("ambulance plan", 30.0), UnprovenPlanError("ambulance plan", 0.08, 0.05)):
        back = pickle.loads(pickle.dumps(exc))
        assert type(back) is type(exc) and str(back) == str(exc) and vars(back) == vars(exc)


def test_ctrl_c_while_waiting_stops_the_child_too():
    import signal

    def interrupt(*_):
        raise KeyboardInterrupt

    handle = Alongside(lambda: time.sleep(60))
    old = signal.signal(signal.SIGALRM, interrupt)
    signal.setitimer(signal.ITIMER_REAL, 0.5)
    t0 = time.perf_counter()
    try:
        with pytest.raises(KeyboardInterrupt):
            handle.result()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    assert time.perf_counter() - t0 < 5.0 and not handle._proc.is_alive()
