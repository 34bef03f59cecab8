"""Phasing the ambulance plan over the plan years: which stations and vehicles come in which year.

The single-year model of :class:`healthopt.plans.ambulances.AmbulancePlan` is repeated once
per plan year and linked by :func:`healthopt.milp.periods.stack_periods`: a station opened in
2024 stays open, vehicles are only added. Each year has a budget on what it adds (vehicles,
new stations), and what a year leaves unspent carries over: the fleet in year *t* is at most
the 2022 fleet plus the budgets up to *t*. The norms (fleet per district, negative-pressure
share, county centres) must hold in the final year; earlier years meet an optional milestone,
a share of the final fleet norm per district. The objective adds each year's objective,
weighted by that year's residents relative to the plan year (``population.growth_per_year``):
a vehicle placed earlier serves more years.

The MIP starts from the better of two heuristic plans, so the phased plan is never worse
than either: a forward greedy (each year on top of the last) and a backward one (the final
year alone, then each earlier year inside the next). With ``compare_myopic`` the myopic plan
(the years solved one after the other) is a third candidate.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from healthopt.errors import InfeasiblePlanError
from healthopt.milp.lp_first import solve_lp_first
from healthopt.milp.periods import StackedProblem, sequential_start, stack_periods
from healthopt.milp.problem import MilpProblem
from healthopt.milp.solve import is_native_highs, named_limit, solve_problem
from healthopt.plans.ambulance_results import AmbulancePlanResult

__all__ = ["PhaseYear", "PhasedPlan", "period_problems", "phase_plan"]

#: The blocks that only grow: stations open, vehicles and negative-pressure vehicles per site.
STOCKS = ("open", "v", "n")

#: Seconds of a phased plan's time limit kept for what follows the solve (result and tables).
RESULT_RESERVE_S = 1.0

#: Norm rows that bind in the final year only (milestones apply a share of ``fleet_norm``).
FINAL_YEAR_NORMS = ("fleet_norm", "np_share", "np_share_district", "county_centre")


@dataclass(frozen=True)
class PhaseYear:
    """One plan year: what it may add and the milestone it must reach.

    Attributes
    ----------
    year : int
        Calendar year.
    vehicles_added : int or None
        Largest number of ambulances bought that year (``None``: no yearly limit).
    new_stations : int or None
        Largest number of stations opened that year (``None``: no yearly limit).
    fleet_norm_share : float or None
        Milestone: each district has at least this share of its final fleet norm (rounded up).
    """

    year: int
    vehicles_added: int | None = None
    new_stations: int | None = None
    fleet_norm_share: float | None = None


@dataclass
class PhasedPlan:
    """A phased ambulance plan.

    Attributes
    ----------
    final : AmbulancePlanResult
        The plan in the final year (what the single-year outputs show).
    schedule : DataFrame
        One row per year and open station: ``year, site_id, district_code, status,
        vehicles, negative_pressure, opened`` (the year the station first has vehicles).
    years : DataFrame
        One row per year: stations open and opened, vehicles and NP vehicles in total and
        added, the year's budget.
    objective, myopic_objective : float
        The phased objective and that of the myopic plan (years solved one by one).
    status, gap
        The phased solve's outcome.
    """

    final: AmbulancePlanResult
    schedule: pd.DataFrame
    years: pd.DataFrame
    objective: float
    myopic_objective: float | None
    status: str
    gap: float | None
    notes: list[str] = field(default_factory=list)


def _period_problem(plan: Any, phase: PhaseYear, *, first: bool, final: bool, base_vehicles: int, base_np: int,
                    added_so_far: int | None, stations_so_far: int | None) -> MilpProblem:  # fmt: skip
    """Return the year problem of ``phase``: its cumulative budgets and, before the end, no final norms."""
    p: MilpProblem = plan.build()
    if not final:
        for g in FINAL_YEAR_NORMS:
            if g in p.groups:
                p.remove_group(g)
        if phase.fleet_norm_share:
            D, _ = plan._district_matrix()
            floor = np.ceil(phase.fleet_norm_share * plan.norms["min_vehicles"].to_numpy(float) - 1e-9)
            p.add_constraints("fleet_milestone", {"v": D}, lb=floor,
                              description=f"the {phase.year} milestone of {phase.fleet_norm_share:.0%} of each "
                                          "district's fleet norm")  # fmt: skip
    if first:
        # The base year's fleet is in service from the first year on (vehicles are never taken away).
        _add_in_service(p, base_vehicles, base_np)
    if added_so_far is not None:
        cap = base_vehicles + added_so_far
        group = p.groups["fleet_budget"].blocks[0]
        group.ub[:] = np.minimum(group.ub, cap)
        p.groups["fleet_budget"].description = f"the fleet of {cap} ambulances by {phase.year}"
    if stations_so_far is not None:
        existing = plan.sites["existing"].to_numpy(bool)
        p.add_constraints("new_stations_by_year", {"open": (~existing).astype(float)[None, :]},
                          ub=float(stations_so_far), description=f"{stations_so_far} new stations by {phase.year}")
    return p


def _check_budgets(plan: Any, phases: Sequence[PhaseYear], base_vehicles: int) -> None:
    """Explain, before solving, yearly budgets that cannot reach the final norm."""
    if base_vehicles > plan.fleet_cap:
        raise InfeasiblePlanError([
            f"the {base_vehicles} ambulances already in service exceed the {plan.fleet_cap} this plan may deploy: "
            "set plans.ambulances.baseline to the study area's own fleet"])
    if any(ph.vehicles_added is None for ph in phases):
        return
    reach = base_vehicles + sum(int(ph.vehicles_added or 0) for ph in phases)
    need = plan.fleet_norm
    if reach < need:
        added = " + ".join(str(ph.vehicles_added) for ph in phases)
        raise InfeasiblePlanError([
            f"the yearly ambulance budgets add {added} = {reach - base_vehicles} ambulances to the "
            f"{base_vehicles} of the base year: {reach} by {phases[-1].year}; the norm needs {need}"])


def period_problems(plan: Any, phases: Sequence[PhaseYear], *, base_vehicles: int, base_negative_pressure: int,
                    base_stations: int) -> list[MilpProblem]:
    """Return one year problem per phase, with the budgets added up to that year.

    Stations in service before the first year that no layer locates are placed by the model in
    the first year: they count with the new stations of that year.
    """
    added: int | None = 0
    stations: int | None = max(base_stations - int(plan.sites["existing"].sum()), 0)
    periods = []
    for k, ph in enumerate(phases):
        added = None if ph.vehicles_added is None or added is None else added + int(ph.vehicles_added)
        stations = None if ph.new_stations is None or stations is None else stations + int(ph.new_stations)
        periods.append(_period_problem(plan, ph, first=k == 0, final=k == len(phases) - 1,
                                       base_vehicles=base_vehicles, base_np=base_negative_pressure,
                                       added_so_far=added, stations_so_far=stations))  # fmt: skip
    return periods


def phase_plan(plan: Any, phases: Sequence[PhaseYear], *, base_vehicles: int, base_negative_pressure: int = 0,
               base_stations: int = 0,
               growth_per_year: float = 0.0,
               solver: str | None = None, time_limit: float | None = None, gap: float | None = None,
               threads: int | None = None, compare_myopic: bool = False) -> PhasedPlan:  # fmt: skip
    """Solve the phased ambulance plan (module docstring).

    Parameters
    ----------
    plan : AmbulancePlan
        The single-year plan (norms and budgets of the final year).
    phases : sequence of PhaseYear
        The plan years in order; the last is the plan year of ``plan``.
    base_vehicles, base_negative_pressure : int
        Ambulances (and negative-pressure ones) in service before the first year (2022: 150 and
        52, 001 §一(一)1); they are in service from the first year on.
    base_stations : int
        Stations in service before the first year (2022: 18). Those no stations layer locates
        are placed by the model in the first year, on top of that year's new stations.
    growth_per_year : float
        Compound population growth; year *t*'s objective is weighted by ``(1 + g)^(t - T)``.
    solver, time_limit, gap, threads
        As :func:`healthopt.milp.solve.solve_problem`; ``time_limit`` covers the whole phased
        solve, its starts included (each year of the forward start, and of the myopic comparison,
        gets at most a third of it over the number of years; the backward start's final year a
        quarter of it).
    compare_myopic : bool
        Also solve the years one by one (the myopic plan), report its objective and start
        from it when it is the better start.

    Returns
    -------
    PhasedPlan
    """
    deadline = None if time_limit is None else time.monotonic() + time_limit  # building the years counts too
    phases = list(phases)
    if any(b.year <= a.year for a, b in itertools.pairwise(phases)):
        raise ValueError("phase years must increase")
    plan.check()
    _check_budgets(plan, phases, base_vehicles)
    periods = period_problems(plan, phases, base_vehicles=base_vehicles, base_negative_pressure=base_negative_pressure,
                              base_stations=base_stations)
    last = phases[-1].year
    weights = [(1.0 + growth_per_year) ** (ph.year - last) for ph in phases]
    stacked = stack_periods(periods, stocks=STOCKS, weights=weights, name="ambulances phased")
    each = None if time_limit is None else max(time_limit / (3 * len(phases)), 2.0)

    def one(q: MilpProblem, start: np.ndarray | None = None) -> np.ndarray | None:
        return solve_problem(q, solver, each, gap, threads, start=start).x

    start = forward_start(plan, stacked, caps=[_caps(p) for p in periods], solve=one)
    # the final year first, then each earlier year within the next (measured on the baseline:
    # 292,768 against the forward start's 290,137; benchmarks/bench_phasing.py)
    final_limit = None if time_limit is None else time_limit / 4
    back = backward_start(plan, stacked, base_vehicles=base_vehicles, base_negative_pressure=base_negative_pressure,
                          solve_final=lambda q: _solve_year(plan, q, solver, final_limit, gap, threads), solve=one)
    if back is not None and (start is None or stacked.problem.obj @ back > stacked.problem.obj @ start):
        start = back
    myopic_x = sequential_start(stacked, stocks=STOCKS, solve=one) if compare_myopic else None
    value = stacked.problem.obj
    myopic = None if myopic_x is None else float(value @ myopic_x + stacked.problem.offset)
    if myopic_x is not None and (start is None or value @ myopic_x > value @ start):
        start = myopic_x
    # what the start left, less the final year's result and the schedule tables (0.5-0.7 s on the baseline)
    left = None if deadline is None else max(deadline - time.monotonic() - RESULT_RESERVE_S, 1.0)
    if is_native_highs(solver):
        # LP bound first, then RINS around the start (measured: 0.018 % proven in 29.7 s; the plain MIP
        # from the forward start, with one circuity everywhere, stopped 2.54 % short; healthopt.milp.lp_first)
        out = solve_lp_first(stacked.problem, start=start, fix=[f"open@{t}" for t in range(len(phases))],
                             time_limit=left, gap=gap, threads=threads, log_path=None)
    else:
        out = solve_problem(stacked.problem, solver, left, gap, threads, start=start)
    out = named_limit(out, time_limit)  # the scenario's limit, which the start shared
    if out.x is None:
        raise InfeasiblePlanError([f"no phased plan meets the yearly budgets and the {last} norms "
                                   f"({out.status})"])  # fmt: skip
    x = out.x
    final_x = stacked.period_x(x, len(phases) - 1)
    final = plan._result(periods[-1], replace(out, x=final_x), solver)
    schedule, years = _tables(plan, stacked, x, phases, base_vehicles, base_negative_pressure)
    notes = [f"Phased over {', '.join(str(p.year) for p in phases)}: stations and vehicles are only added; the "
             f"norms bind in {last}. The myopic plan (years one by one) scores "
             f"{myopic:,.0f}, the phased plan {out.objective:,.0f}." if myopic is not None and out.objective is not None
             else f"Phased over {', '.join(str(p.year) for p in phases)}."]  # fmt: skip
    return PhasedPlan(final, schedule, years, float(out.objective or math.nan), myopic, out.status, out.gap, notes)


def backward_start(plan: Any, stacked: StackedProblem, *, base_vehicles: int, base_negative_pressure: int,
                   solve_final: Any, solve: Any) -> np.ndarray | None:
    """Return a phased start built backwards: the final year alone, then each earlier year inside the next.

    The final year is the single-year plan (its norms and budgets, ``solve_final``); year ``t``
    is then solved with every station, vehicle and negative-pressure vehicle bounded by year
    ``t + 1``'s (so they never decrease) and the base fleet in service. ``None`` when a year
    finds no plan within those bounds (the forward start is used).
    """
    periods = stacked.periods
    parts: list[np.ndarray | None] = [None] * len(periods)
    parts[-1] = solve_final(periods[-1])
    for t in range(len(periods) - 2, -1, -1):
        later = parts[t + 1]
        if later is None:
            return None
        q = periods[t].copy()
        for block in STOCKS:
            q.set_bounds(block, ub=np.minimum(q.block_arrays(block)[1], np.round(periods[t + 1].value(later, block))))
        if t > 0:  # the first year's problem has these rows already
            _add_in_service(q, base_vehicles, base_negative_pressure)
        parts[t] = solve(q)  # the same columns as the year's problem (rows only were added)
    if any(p is None for p in parts):
        return None
    x = stacked.stacked_x([p for p in parts if p is not None])
    return x if stacked.problem.is_feasible(x) else None


def _add_in_service(p: MilpProblem, base_vehicles: int, base_np: int) -> None:
    """Add the rows keeping the base year's ambulances (and negative-pressure ones) in service in ``p``."""
    ones = np.ones((1, p.blocks["v"].size))
    p.add_constraints("fleet_in_service", {"v": ones}, lb=float(base_vehicles), relaxable=False,
                      description=f"the {base_vehicles} ambulances already in service")
    p.add_constraints("np_in_service", {"n": ones}, lb=float(base_np), relaxable=False,
                      description=f"the {base_np} negative-pressure ambulances already in service")


def _solve_year(plan: Any, q: MilpProblem, solver: str | None, time_limit: float | None, gap: float | None,
                threads: int | None) -> np.ndarray | None:
    """Solve one year's problem as a single-year plan is solved: LP first from the greedy start (HiGHS)."""
    if is_native_highs(solver):
        return solve_lp_first(q, start=lambda: plan.greedy_start(q), fix="open", time_limit=time_limit, gap=gap,
                              threads=threads, log_path=None).x
    return solve_problem(q, solver, time_limit, gap, threads, start=plan.greedy_start(q)).x


def _caps(p: MilpProblem) -> tuple[float, float]:
    """(fleet cap, new-station cap) of a year's problem: the tightest of its budget rows."""
    def ub(name: str) -> float:
        g = p.groups.get(name)
        return float(min(b.ub.min() for b in g.blocks)) if g is not None else math.inf

    return ub("fleet_budget"), min(ub("new_stations"), ub("new_stations_by_year"))


def forward_start(plan: Any, stacked: StackedProblem, *, caps: Sequence[tuple[float, float]],
                  solve: Any) -> np.ndarray | None:  # fmt: skip
    """Return a phased start built forwards by Daskin's greedy, year after year, on top of the last.

    Each year starts from the previous year's vehicles; it first brings every district to its
    floor that year (the milestone, or the norm in the final year), then adds the vehicles its
    fleet cap allows, each where it adds most expected coverage (MEXCLP, as
    :class:`healthopt.plans.ambulance_search.VehicleSearch` scores it), within the station
    capacities and the year's new-station cap. Negative-pressure vehicles are those of the final
    year's greedy rule, kept from the year their vehicle arrives. The coverage variables of each
    year are completed by a solve with the stocks fixed. ``None`` for models other than MEXCLP,
    or when a year cannot meet its floors.
    """
    groups = getattr(plan, "mexclp_groups", None)
    if plan.model != "mexclp" or groups is None:
        return None
    from healthopt.plans.ambulance_search import VehicleSearch, greedy_negative_pressure

    search = VehicleSearch(plan, *groups)
    D, _ = plan._district_matrix()
    district = np.asarray(D.argmax(axis=0)).ravel()
    in_district = np.asarray(D.sum(axis=0)).ravel() > 0
    cap_site = plan.sites["max_vehicles"].to_numpy(int)
    new = ~plan.sites["existing"].to_numpy(bool)
    v = np.zeros(len(cap_site), dtype=int)
    plans_v = []
    # Vehicles are never taken away, so no district may ever hold more than the final fleet less
    # the other districts' final norms: a year that did would leave no plan for the last one.
    final_floor = _district_floor(stacked.periods[-1], D)
    final_cap = min(caps[-1][0], float(plan.fleet_cap))
    district_cap = final_cap - (final_floor.sum() - final_floor)
    # ... and no year may open so many stations that the last year's station cap leaves a district
    # without the stations its norm needs (the fewest that hold it, largest capacities first).
    final_stations = _caps(stacked.periods[-1])[1]
    need_stations = np.zeros(D.shape[0], dtype=int)
    for d in range(D.shape[0]):
        room = np.sort(cap_site[in_district & (district == d)])[::-1]
        need_stations[d] = int(np.searchsorted(np.cumsum(room), final_floor[d] - 1e-9) + 1) if final_floor[d] > 0 else 0
    for t, p in enumerate(stacked.periods):
        v = np.maximum(v, np.ceil(p.block_arrays("v")[0] - 1e-9).astype(int))
        # a station that must be open (a county seat, a kept station) holds an ambulance every year
        v = np.maximum(v, np.minimum(np.ceil(p.block_arrays("open")[0] - 1e-9).astype(int), cap_site))
        fleet_cap, station_cap = caps[t]
        fleet_cap = min(fleet_cap, float(plan.fleet_cap))
        floor = _district_floor(p, D)
        in_service = _fleet_floor(p)
        while True:
            by_district = np.asarray(D @ v).ravel()
            short = np.flatnonzero(by_district < floor - 1e-9)
            if not short.size and v.sum() >= fleet_cap:
                break
            ok = (v < cap_site) & (~in_district | (by_district[district] < district_cap[district]))
            opened = int(((v > 0) & new).sum())
            if opened >= station_cap:
                ok &= (v > 0) | ~new  # no new station beyond the year's cap
            else:
                open_by_district = np.bincount(district[(v > 0) & in_district], minlength=D.shape[0])
                deficit = np.maximum(need_stations - open_by_district, 0)
                # Opening a station in district e leaves the others' deficits to the last year's cap.
                spare = final_stations - opened - 1 - (deficit.sum() - (deficit[district] > 0))
                ok &= (v > 0) | ~new | (spare >= 0)
            if short.size:
                ok &= in_district & np.isin(district, short)
            elif v.sum() >= fleet_cap:
                break
            if not ok.any():
                if short.size:
                    return None  # a district cannot reach its floor within the year's caps
                break  # every allowed station is full: the year buys fewer than its cap
            _, gain = search._gain(np.asarray(search.cover @ v).ravel(), 1)
            gain = gain - 0.5 * ((v == 0) & new)  # the MIP's tie-break per new station
            j = int(np.flatnonzero(ok)[np.argmax(gain[ok])])
            v[j] += 1
            if v.sum() > fleet_cap and not short.size:
                v[j] -= 1
                break
        if v.sum() < in_service:
            return None
        plans_v.append(v.copy())
    n_final = np.asarray(greedy_negative_pressure(plan, plans_v[-1]), dtype=int)
    np_floor = _np_floor(stacked.periods[0])
    if np.minimum(n_final, plans_v[0]).sum() < np_floor:
        return None  # the greedy NP placement misses the NP vehicles already in service
    parts = []
    for t, p in enumerate(stacked.periods):
        vt = plans_v[t]
        q = p.copy()
        for name, value in (("v", vt), ("n", np.minimum(n_final, vt)), ("open", (vt > 0).astype(float))):
            lb, ub, _, _ = q.block_arrays(name)
            q.set_bounds(name, lb=np.maximum(lb, value), ub=np.minimum(ub, np.maximum(value, lb)))
        x = solve(q)
        if x is None:
            return None
        parts.append(x)
    return stacked.stacked_x(parts)


def _np_floor(p: MilpProblem) -> float:
    """Negative-pressure ambulances that must be in service in a year (``np_in_service``, else 0)."""
    g = p.groups.get("np_in_service")
    return float(g.blocks[0].lb[0]) if g is not None else 0.0


def _fleet_floor(p: MilpProblem) -> float:
    """Ambulances that must be in service in a year (``fleet_in_service``, else 0)."""
    g = p.groups.get("fleet_in_service")
    return float(g.blocks[0].lb[0]) if g is not None else 0.0


def _district_floor(p: MilpProblem, D: Any) -> np.ndarray:
    """Vehicles each district must have in a year: the norm rows, else the milestone rows, else 0."""
    floor = np.zeros(D.shape[0])
    for name in ("fleet_norm", "fleet_milestone"):
        g = p.groups.get(name)
        if g is not None:
            floor = np.maximum(floor, g.blocks[0].lb)
    return floor


def _tables(plan: Any, stacked: StackedProblem, x: np.ndarray, phases: Sequence[PhaseYear],
            base_vehicles: int, base_np: int) -> tuple[pd.DataFrame, pd.DataFrame]:  # fmt: skip
    sites = plan.sites.reset_index(drop=True)
    rows, per_year = [], []
    opened = np.full(len(sites), -1)
    prev_v = np.zeros(len(sites), dtype=int)
    prev_n = np.zeros(len(sites), dtype=int)
    for t, ph in enumerate(phases):
        p, xt = stacked.periods[t], stacked.period_x(x, t)
        v = np.round(p.value(xt, "v")).astype(int)
        n = np.round(p.value(xt, "n")).astype(int)
        new_now = (v > 0) & (opened < 0)
        opened[new_now] = ph.year
        for j in np.flatnonzero(v > 0):
            rows.append({"year": ph.year, "site_id": sites.at[j, "site_id"],
                         "district_code": sites.at[j, "district_code"],
                         "status": "existing" if bool(sites.at[j, "existing"]) else "new",
                         "vehicles": int(v[j]), "negative_pressure": int(n[j]), "opened": int(opened[j])})  # fmt: skip
        per_year.append({
            "year": ph.year, "stations": int((v > 0).sum()), "stations_opened": int(new_now.sum()),
            "vehicles": int(v.sum()), "vehicles_added": int(v.sum() - (prev_v.sum() if t else base_vehicles)),
            "negative_pressure": int(n.sum()), "np_added": int(n.sum() - (prev_n.sum() if t else base_np)),
            "vehicles_budget": ph.vehicles_added, "new_stations_budget": ph.new_stations,
            "milestone": ph.fleet_norm_share,
        })  # fmt: skip
        prev_v, prev_n = v, n
    return pd.DataFrame(rows), pd.DataFrame(per_year)
