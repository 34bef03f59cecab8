"""Benchmark: a 50-scenario sweep with 1 and 2 workers, and shared inputs vs rebuilding them.

Run with ``.venv/bin/python benchmarks/bench_batch.py [--rebuild-sample 10]``.

The sweep is ``scenarios/sweeps/taiyuan_core_fleet.yaml``'s grid (5 response standards x
10 fleet budgets) on 迎泽区 alone, with maps and reports off, so that it measures planning,
not HTML writing. Prints:

* wall time with 1 worker and with 2 worker processes, and the speed-up;
* seconds per scenario when the group's inputs (graph, demand, sites, travel times) are
  built once, against rebuilding them for every scenario (on the first ``--rebuild-sample``
  members, to keep the run short), and the ratio;
* the same sweep on a 2-worker Dask ``LocalCluster``;
* that the 1-worker, 2-worker and Dask batch summaries are byte-identical.
"""

from __future__ import annotations

import argparse
import json
import os
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
    "area.districts": ["140106"], "area.urban": ["140106"], "plans.ambulances.model": "mclp",
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


def timed(label: str, fn):
    t0 = time.perf_counter()
    out = fn()
    seconds = time.perf_counter() - t0
    print(f"{label:<46} {seconds:8.1f} s")
    return out, seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rebuild-sample", type=int, default=10)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-batch-"))
    sweep = write_sweep(work, "bench", GRID)
    print(f"machine: {os.cpu_count()} cores; sweep of 5 x 10 = 50 scenarios on 迎泽区 ({work})")
    one, t1 = timed("1 worker, shared inputs (50 scenarios)", lambda: run_batch(sweep, work / "w1"))
    two, t2 = timed("2 workers, shared inputs (50 scenarios)", lambda: run_batch(sweep, work / "w2", workers=2))
    assert all(r["status"] == "ok" for r in one.records + two.records), "a scenario failed"
    same = write_batch_outputs(one)["summary_csv"].read_bytes() == write_batch_outputs(two)["summary_csv"].read_bytes()
    print(f"speed-up with 2 workers:                       {t1 / t2:8.2f} x   (results identical: {same})")
    same = same and _dask_agrees(sweep, work, write_batch_outputs(one)["summary_csv"].read_bytes(), t1)
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


def _dask_agrees(sweep: Path, work: Path, expected: bytes, t1: float) -> bool:
    """Run the same sweep on a 2-worker Dask LocalCluster; return whether its summary is identical."""
    from dask.distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        run, seconds = timed("Dask LocalCluster, 2 workers (50 scenarios)",
                             lambda: run_batch(sweep, work / "dask", scheduler=cluster.scheduler_address))
    same = write_batch_outputs(run)["summary_csv"].read_bytes() == expected
    print(f"speed-up on the LocalCluster:                  {t1 / seconds:8.2f} x   (results identical: {same})")
    return same


if __name__ == "__main__":
    main()
