"""Phased plans: stacked periods with monotone stocks, never worse than the years one by one."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from healthopt.errors import InfeasiblePlanError
from healthopt.milp.periods import sequential_start, stack_periods
from healthopt.milp.problem import MilpProblem
from healthopt.milp.solve import solve_problem
from healthopt.plans.ambulance_phasing import (
    STOCKS,
    PhaseYear,
    _caps,
    backward_start,
    forward_start,
    period_problems,
    phase_plan,
)
from healthopt.plans.ambulances import AmbulancePlan


def _year(values: list[float], cap: int) -> MilpProblem:
    p = MilpProblem("year", "max")
    p.add_variables("v", len(values), ub=cap, integer=True, obj=values)
    p.add_constraints("fleet", {"v": np.ones((1, len(values)))}, ub=float(cap))
    return p


def _solve(q: MilpProblem) -> np.ndarray | None:
    return solve_problem(q, "highs", None, 0.0).x


def test_stacked_beats_myopic_on_a_hand_instance():
    # Year 1: one vehicle, worth 1 at site 0, nothing at site 1. Year 2: two vehicles, worth 3 each at site 1.
    # Myopic: year 1 takes site 0 (1), year 2 keeps it and adds one at site 1 (0 + 3) = 4.
    # Phased: year 1 puts its vehicle at site 1 (0), year 2 has both there (6) = 6.
    stacked = stack_periods([_year([1.0, 0.0], 1), _year([0.0, 3.0], 2)], stocks=["v"])
    myopic = sequential_start(stacked, stocks=["v"], solve=_solve)
    assert myopic is not None and stacked.problem.obj @ myopic == pytest.approx(4.0)
    out = solve_problem(stacked.problem, "highs", None, 0.0, start=myopic)
    assert out.objective == pytest.approx(6.0)
    # Nothing at site 0 in year 1 (it would be stuck there in year 2); both vehicles at site 1 in year 2.
    assert stacked.period_x(out.x, 0)[0] == 0 and stacked.period_x(out.x, 1).tolist() == [0.0, 2.0]


def test_stacked_matches_brute_force_over_monotone_plans():
    rng = np.random.default_rng(7)
    for _ in range(5):
        values = rng.integers(0, 5, (3, 3)).astype(float)  # 3 years x 3 sites
        caps = [1, 2, 3]
        weights = [0.9, 1.0, 1.1]
        stacked = stack_periods([_year(list(values[t]), caps[t]) for t in range(3)], stocks=["v"], weights=weights)
        out = solve_problem(stacked.problem, "highs", None, 0.0)
        best = -1.0
        plans = [v for v in itertools.product(range(4), repeat=3)]
        for a, b, c in itertools.product(plans, repeat=3):
            if sum(a) > 1 or sum(b) > 2 or sum(c) > 3 or not all(x <= y for x, y in zip(a, b, strict=True)) \
                    or not all(x <= y for x, y in zip(b, c, strict=True)):  # fmt: skip
                continue
            years = zip(weights, (a, b, c), strict=True)
            score = sum(w * float(values[t] @ np.array(v)) for t, (w, v) in enumerate(years))
            best = max(best, score)
        assert out.objective == pytest.approx(best)


def _plan(**kw) -> AmbulancePlan:
    # 3 sites x 4 demand points; sites 0, 1 in district A (urban), site 2 in B (county).
    minutes = sp.csr_matrix(np.array([[2.0, 5.0, 0.0, 0.0], [0.0, 3.0, 9.0, 0.0], [0.0, 0.0, 0.0, 4.0]]))
    sites = pd.DataFrame({"site_id": ["s0", "s1", "s2"], "district_code": ["A", "A", "B"],
                          "existing": [False, False, False], "max_vehicles": [3, 3, 3], "location_quality": "test"})
    demand = pd.DataFrame({"demand_id": ["d0", "d1", "d2", "d3"], "district_code": ["A", "A", "A", "B"],
                           "population": [30000, 20000, 40000, 10000], "standard_minutes": [12.0, 12.0, 12.0, 20.0]})
    norms = pd.DataFrame({"code": ["A", "B"], "name_zh": ["甲区", "乙县"], "norm_class": ["urban", "county"],
                          "residents": [90000, 10000], "residents_per_vehicle": [30000.0, 10000.0],
                          "min_vehicles": [3, 1], "min_negative_pressure": [0, 0]})
    return AmbulancePlan(minutes, sites, demand, norms, county_codes=["B"], model="mexclp", **kw)


def test_phased_ambulance_plan_keeps_what_it_opened_and_meets_the_norm_in_the_final_year():
    plan = _plan()
    phases = [PhaseYear(2024, vehicles_added=1, new_stations=1), PhaseYear(2025, vehicles_added=1, new_stations=2)]
    got = phase_plan(plan, phases, base_vehicles=2, solver="highs", gap=0.0, compare_myopic=True)
    years = got.years.set_index("year")
    # Fleet caps: 2 in service + 1 bought in 2024 = 3; + 1 in 2025 = 4, the norm (3 in A + 1 in B).
    # With one station allowed in 2024, 2 vehicles there: a third would have to sit at that station
    # for good, where the 2025 plan (2 at s0, the others at s1 and the county's s2) does not want it.
    assert years.loc[2024, "vehicles"] <= 3 and years.loc[2025, "vehicles"] == 4
    assert years.loc[2025, "vehicles"] - years.loc[2024, "vehicles"] == years.loc[2025, "vehicles_added"]
    # At most 1 new station by 2024 and 3 by 2025.
    assert years.loc[2024, "stations"] <= 1 and years.loc[2025, "stations"] <= 3
    by = got.schedule.pivot_table(index="site_id", columns="year", values="vehicles", fill_value=0)
    assert (by[2025] >= by[2024]).all()  # never taken away
    assert got.final.districts.set_index("code").loc["A", "amb_planned"] >= 3
    assert got.final.districts.set_index("code").loc["B", "amb_planned"] >= 1  # county centre by 2025
    assert got.myopic_objective is not None and got.objective >= got.myopic_objective - 1e-6


def test_a_county_seat_that_must_be_open_gets_its_ambulance_from_the_first_year():
    # The county seat s2 must hold a station in every year (001 §三(一)5), though no year's floor
    # asks for a vehicle in B before 2025: the forward start used to leave it empty in 2024, so
    # the year's fixed-stock solve was infeasible and the phased baseline started from nothing.
    plan = _plan()
    plan.sites["kind"] = ["grid", "grid", "district_seat"]
    phases = [PhaseYear(2024, vehicles_added=1, new_stations=2), PhaseYear(2025, vehicles_added=1, new_stations=1)]
    periods = period_problems(plan, phases, base_vehicles=2, base_negative_pressure=0, base_stations=0)
    assert periods[0].block_arrays("open")[0].tolist() == [0.0, 0.0, 1.0]  # the seat is required in 2024 too
    stacked = stack_periods(periods, stocks=STOCKS)
    start = forward_start(plan, stacked, caps=[_caps(q) for q in periods], solve=lambda q: _solve(q))
    assert start is not None
    first = stacked.period_x(start, 0)
    assert periods[0].value(first, "v")[2] >= 1 and periods[0].value(first, "open")[2] == 1
    got = phase_plan(plan, phases, base_vehicles=2, solver="highs", gap=0.0)
    assert got.schedule.query("year == 2024 and site_id == 's2'")["vehicles"].sum() >= 1


def test_yearly_budgets_that_cannot_reach_the_norm_are_explained():
    phases = [PhaseYear(2024, vehicles_added=0), PhaseYear(2025, vehicles_added=1)]
    with pytest.raises(InfeasiblePlanError, match=r"add 0 \+ 1 = 1 ambulances to the 2 of the base year: 3 by 2025; "
                                                  r"the norm needs 4"):
        phase_plan(_plan(), phases, base_vehicles=2, solver="highs")


def test_the_backward_start_plans_the_final_year_alone_and_each_earlier_year_inside_the_next():
    plan = _plan()
    phases = [PhaseYear(2024, vehicles_added=1, new_stations=1), PhaseYear(2025, vehicles_added=1, new_stations=2)]
    periods = period_problems(plan, phases, base_vehicles=2, base_negative_pressure=0, base_stations=0)
    stacked = stack_periods(periods, stocks=STOCKS)
    start = backward_start(plan, stacked, base_vehicles=2, base_negative_pressure=0, solve_final=_solve,
                           solve=_solve)
    assert start is not None and stacked.problem.is_feasible(start)
    final = stacked.period_x(start, 1)
    alone = solve_problem(periods[1], "highs", gap=0.0)
    assert periods[1].obj @ final == pytest.approx(alone.objective)  # the final year is the single-year optimum
    first = stacked.period_x(start, 0)
    for block in STOCKS:  # nothing is taken away
        assert np.all(periods[0].value(first, block) <= periods[1].value(final, block) + 1e-9)
    assert periods[0].value(first, "v").sum() >= 2  # the base fleet is in service
    got = phase_plan(plan, phases, base_vehicles=2, solver="highs", gap=0.0)
    assert got.objective >= stacked.problem.obj @ start - 1e-6
