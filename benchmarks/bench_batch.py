"""Benchmark: a 50-scenario sweep with 1 and 2 workers, and shared inputs vs rebuilding them.

Run with ``.venv/bin/python benchmarks/bench_batch.py [--rebuild-sample 10]``.

The sweep is ``scenarios/sweeps/taiyuan_core_fleet.yaml``'s grid (5 response standards x
10 fleet budgets) on 迎泽区 alone, with maps and reports off, so that it measures planning,
not HTML writing. Prints:

* wall and CPU time (this process and its finished worker processes) with 1 worker and
  with 2 worker processes, and the speed-up (issue 16's goal: >= 1.6x on an otherwise idle
  2-core machine; the load of other jobs is printed, since it decides the figure);
* seconds per scenario when the group's inputs (graph, demand, sites, travel times) are
  built once, against rebuilding them for every scenario (on the first ``--rebuild-sample``
  members, to keep the run short), and the ratio;
* the same sweep on a 2-worker Dask ``LocalCluster`` (with ``--dask-workers 1 4 8``, more sizes)
  workers: a scaling curve (on 2 cores, more than 2 workers only shows the overhead);
* that the 1-worker, 2-worker and Dask batch summaries are byte-identical.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from healthopt.batch import run_batch
from healthopt.outputs.batch import write_batch_outputs

ROOT = Path(__file__).resolve().parent.parent
BASELINE = ROOT / "scenarios" / "taiyuan_2025_baseline.yaml"
SET = {
    "area.districts": ["140106"], "area.urban": ["140106"],
    "plans.primary_care.enabled": False, "plans.beds.enabled": False, "outputs.map": False,
    "outputs.report": False, "solver.time_limit_s": 60, "solver.gap": 0.005, "solver.threads": 1,
    "solver.relax_norms_if_infeasible": True,
}  # fmt: skip
GRID = {"response_minutes.urban": [8, 10, 12, 15, 20],
        "plans.ambulances.max_vehicles": {"start": 8, "stop": 26, "step": 2}}


def write_sweep(folder: Path, name: str, grid: dict) -> Path:
    lines = ["sweep:", f"  name: {name}", f"  base: {BASELINE}", "  set:"]
    lines += [f"    {k}: {json.dumps(v)}" for k, v in SET.items()]
    lines += ["  grid:"] + [f"    {k}: {json.dumps(v)}" for k, v in grid.items()]
    path = folder / f"{name}.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def cpu_seconds() -> float:
    """CPU seconds of this process and of its finished children (the pool's workers once it shut down)."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def timed(label: str, fn):
    t0, c0 = time.perf_counter(), cpu_seconds()
    out = fn()
    seconds, cpu = time.perf_counter() - t0, cpu_seconds() - c0
    print(f"{label:<46} {seconds:8.1f} s wall  {cpu:8.1f} s CPU")
    return out, seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rebuild-sample", type=int, default=10)
    parser.add_argument("--quick", action="store_true", help="10 scenarios (2 standards x 5 budgets) instead of 50")
    parser.add_argument("--dask-workers", type=int, nargs="*", default=[],
                        help="more LocalCluster sizes besides 2, e.g. 1 4 8")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-batch-"))
    grid = GRID if not args.quick else {"response_minutes.urban": [8, 12],
                                        "plans.ambulances.max_vehicles": {"start": 8, "stop": 16, "step": 2}}
    n = 50 if not args.quick else 10
    sweep = write_sweep(work, "bench", grid)
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} (other jobs); "
          f"sweep of {n} scenarios on 迎泽区 ({work})")
    one, t1 = timed(f"1 worker, shared inputs ({n} scenarios)", lambda: run_batch(sweep, work / "w1"))
    two, t2 = timed(f"2 workers, shared inputs ({n} scenarios)", lambda: run_batch(sweep, work / "w2", workers=2))
    assert all(r["status"] == "ok" for r in one.records + two.records), "a scenario failed"
    same = write_batch_outputs(one)["summary_csv"].read_bytes() == write_batch_outputs(two)["summary_csv"].read_bytes()
    print(f"speed-up with 2 workers:                       {t1 / t2:8.2f} x   (results identical: {same})")
    expected = write_batch_outputs(one)["summary_csv"].read_bytes()
    for k in sorted({2, *args.dask_workers}):
        same = _dask_agrees(sweep, work, expected, t1, k, n_members=n) and same
    sample = {"response_minutes.urban": [8, 12], "plans.ambulances.max_vehicles":
              {"start": 8, "stop": 8 + 2 * (args.rebuild_sample // 2 - 1), "step": 2}}
    small = write_sweep(work, "sample", sample)
    _, shared = timed(f"{args.rebuild_sample} scenarios, inputs built once", lambda: run_batch(small, work / "s1"))
    _, rebuilt = timed(f"{args.rebuild_sample} scenarios, inputs rebuilt each time",
                       lambda: run_batch(small, work / "s2", share_inputs=False))
    n = args.rebuild_sample
    print(f"per scenario: shared {shared / n:.2f} s, rebuilt {rebuilt / n:.2f} s; "
          f"reuse speed-up {rebuilt / shared:.2f} x")
    if not same:
        sys.exit("the batch summaries of the runs differ")


def _dask_agrees(sweep: Path, work: Path, expected: bytes, t1: float, n_workers: int = 2, n_members: int = 50) -> bool:
    """Run the same sweep on a Dask LocalCluster of ``n_workers``; return whether its summary is identical."""
    from dask.distributed import LocalCluster

    with LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        run, seconds = timed(f"Dask LocalCluster, {n_workers} workers ({n_members} scenarios)",
                             lambda: run_batch(sweep, work / f"dask{n_workers}", scheduler=cluster.scheduler_address))
    same = write_batch_outputs(run)["summary_csv"].read_bytes() == expected
    print(f"speed-up on {n_workers} Dask workers vs 1 local:       {t1 / seconds:8.2f} x   (results identical: {same})")
    return same


if __name__ == "__main__":
    main()
