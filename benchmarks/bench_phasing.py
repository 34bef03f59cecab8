"""Benchmark: the baseline ambulance plan phased over 2023–2025, against the years solved one by one.

Run with ``.venv/bin/python benchmarks/bench_phasing.py [--time-limit 60]``.

Both on the shipped baseline's inputs (all ten Taiyuan units, its candidate sites and road
travel times), with the 2022 fleet (150 ambulances, 52 negative-pressure, 18 stations) in
service from 2023 and the 83 ambulances the 2025 norm adds bought 30 / 30 / 23 a year,
at most 20 new stations a year:

* ``phased`` — :func:`healthopt.plans.ambulance_phasing.phase_plan`: one stacked MILP over
  the three years (stations and vehicles never taken away), from the better of the forward
  and backward heuristic plans;
* ``myopic`` — each year solved alone on top of the previous year's plan (the baseline).

Printed: wall time, objective (expected coverage summed over the years), proven gap, and the
phased / myopic objective ratio (never below 1: the myopic plan is feasible for the phased
problem). Target: 3 periods in at most 60 s on 2 cores.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from healthopt.milp.periods import sequential_start, stack_periods
from healthopt.milp.solve import solve_problem
from healthopt.pipeline.run import plan_context, prepare_inputs
from healthopt.plans import ambulance_phasing as ap
from healthopt.plans.ambulances import Ambulances
from healthopt.scenario import load_scenario

BASELINE = Path(__file__).resolve().parent.parent / "scenarios" / "taiyuan_2025_baseline.yaml"
TARGET_S = 60.0
PHASES = [ap.PhaseYear(2023, 30, 20), ap.PhaseYear(2024, 30, 20), ap.PhaseYear(2025, 23, 20)]


def baseline_plan():
    sc = load_scenario(BASELINE)
    inputs = prepare_inputs(sc)
    return sc, Ambulances.from_scenario(sc, inputs, plan_context(sc, inputs)).plan


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--time-limit", type=float, default=TARGET_S, help="seconds for the phased solve")
    args = parser.parse_args()
    sc, plan = baseline_plan()
    base = sc.plans.ambulances.baseline
    kw = {"base_vehicles": base.vehicles, "base_negative_pressure": base.negative_pressure,
          "base_stations": base.stations}  # fmt: skip

    t0 = time.perf_counter()
    phased = ap.phase_plan(plan, PHASES, **kw, solver="highs", time_limit=args.time_limit, gap=5e-4)
    t_phased = time.perf_counter() - t0

    # The myopic plan on the same stacked problem: each year alone, on top of the last.
    periods = ap.period_problems(plan, PHASES, **kw)
    stacked = stack_periods(periods, stocks=ap.STOCKS)
    t0 = time.perf_counter()
    statuses: list[str] = []

    def one_year(q):
        out = solve_problem(q, "highs", args.time_limit, 5e-4)
        statuses.append(out.status_code)
        return out.x

    x = sequential_start(stacked, stocks=ap.STOCKS, solve=one_year)
    t_myopic = time.perf_counter() - t0
    myopic = float(stacked.problem.obj @ x) if x is not None else float("nan")
    if x is None:  # e.g. the early years put vehicles where the final year's district norms cannot follow
        years = [str(ph.year) for ph in PHASES]
        print("myopic: no plan; by year: " + ", ".join(f"{y} {st}" for y, st in zip(years, statuses, strict=False)))

    print(f"{'method':8} {'seconds':>8} {'objective':>14} {'gap':>8}")
    gap = "n/a" if phased.gap is None else f"{phased.gap:.3%}"
    print(f"{'phased':8} {t_phased:8.1f} {phased.objective:14,.0f} {gap:>8}")
    print(f"{'myopic':8} {t_myopic:8.1f} {myopic:14,.0f} {'':>8}")
    if x is not None:
        print(f"phased / myopic objective: {phased.objective / myopic:.5f} (>= 1 by construction)")
    print(f"phased time {t_phased:.1f} s against the {TARGET_S:.0f} s target: "
          f"{'met' if t_phased <= TARGET_S else 'missed'}")  # fmt: skip
    print(phased.years.to_string(index=False))


if __name__ == "__main__":
    main()
