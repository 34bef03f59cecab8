"""Benchmark: the health-centre plan of the Taiyuan baseline (ten district p-medians), before and after issue 16.

Run with ``.venv/bin/python benchmarks/bench_primary_care.py [--rounds 1]``.

Builds the baseline's inputs once (road graph, demand, candidate sites, patient minutes
within 120 min), then sites the health centres twice in the same process:

* **shipped**: the p-median as it is now (greedy + fast swap + perturbed restarts as MIP
  start, Lagrangian bound, Lagrangian site fixing and pair pruning, HiGHS light presolve);
* **before**: the same start and bound without the site fixing and with HiGHS' full
  presolve (what issue 16 measured at 14-34 s on the baseline).

Every district's objective must equal the proven optimum recorded below (computed with
the code before issue 16's fixing, every district "optimal"); the run exits 1 otherwise.
Prints wall and CPU seconds per district and in total, and the ratio. The machine is shared
with other jobs: CPU seconds are the steadier figure.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

ROOT = Path(__file__).resolve().parent.parent
BASELINE = ROOT / "scenarios" / "taiyuan_2025_baseline.yaml"

#: Proven optima of the baseline's district p-medians (resident-weighted minutes), in the
#: order the plan solves them, with p and the number of demand points of the district.
#: Measured with the code before the Lagrangian fixing (HiGHS, gap 0, all "optimal").
EXPECTED: list[tuple[int, int, float]] = [
    (17, 1278, 4697687.027974261),
    (8, 493, 1909162.907686335),
    (13, 658, 2341244.6673907405),
    (13, 1292, 2504056.5538383787),
    (16, 1274, 3298256.536807446),
    (6, 1261, 2351148.871617512),
    (9, 692, 2134948.713979011),
    (10, 2274, 1224740.0703021958),
    (7, 1384, 761005.685886796),
    (13, 1641, 1461430.694357912),
]


def run_once(plan, settings, label: str) -> tuple[float, float, list[tuple[int, int, float, float, str]]]:
    """Site the centres once; return wall, CPU and per-district (p, points, objective, seconds, status)."""
    from healthopt.plans import primary_care as pcm

    seen: list[tuple[int, int, float, float, str]] = []
    original = pcm._solve_district

    def timed(sub, pop, xy, p, *args, **kwargs):
        t0 = time.perf_counter()
        result, row = original(sub, pop, xy, p, *args, **kwargs)
        seen.append((p, sub.shape[0], float(result.objective), time.perf_counter() - t0, result.status_code))
        return result, row

    pcm._solve_district = timed
    try:
        w0, c0 = time.perf_counter(), time.process_time()
        plan.solve(settings)
        wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    finally:
        pcm._solve_district = original
    print(f"  {label:<8} wall {wall:6.1f} s   CPU {cpu:6.1f} s")
    return wall, cpu, seen


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--no-before", action="store_true", help="skip the run without the site fixing")
    args = ap.parse_args()
    from healthopt.milp.settings import SolverSettings
    from healthopt.models import base, median
    from healthopt.pipeline.run import prepare_inputs
    from healthopt.plans.base import PlanContext
    from healthopt.plans.primary_care import PrimaryCare
    from healthopt.scenario import load_scenario

    t0 = time.perf_counter()
    sc = load_scenario(BASELINE)
    inputs = prepare_inputs(sc)
    plan = PrimaryCare(sc, inputs, PlanContext(inputs.points.copy(), inputs.travel_times))
    settings = SolverSettings.from_scenario(sc.solver)
    print(f"== health centres, Taiyuan baseline (inputs {time.perf_counter() - t0:.1f} s; solver "
          f"{settings.name}, limit {settings.time_limit_s:g} s per district, gap {settings.gap:g}, "
          f"threads {settings.threads}); machine shared with other jobs")
    wall, cpu, seen = run_once(plan, settings, "shipped")
    ok = len(seen) == len(EXPECTED)
    for (p, n, obj, sec, status), (ep, en, eobj) in zip(seen, EXPECTED, strict=False):
        same = (p, n) == (ep, en) and abs(obj - eobj) <= 1e-9 * eobj
        ok &= same
        print(f"    p = {p:2d}, {n:5,d} points: objective {obj:,.1f} (recorded {eobj:,.1f}, "
              f"{'equal' if same else 'DIFFERENT'})  {sec:5.2f} s  [{status}]")
    if not args.no_before:
        rounds, mode = base.FIXING_ROUNDS, median.PRESOLVE_MODE
        base.FIXING_ROUNDS, median.PRESOLVE_MODE = 0, 0
        try:
            wall0, cpu0, seen0 = run_once(plan, settings, "before")
        finally:
            base.FIXING_ROUNDS, median.PRESOLVE_MODE = rounds, mode
        ok &= all(abs(a[2] - b[2]) <= 1e-9 * b[2] for a, b in zip(seen0, EXPECTED, strict=False))
        print(f"  speed-up: wall {wall0 / wall:.1f} x, CPU {cpu0 / cpu:.1f} x (same optima: {ok})")
    if not ok:
        sys.exit("a district's objective differs from the recorded optimum")


if __name__ == "__main__":
    main()
