"""Phasing the ambulance plan over the plan years: which stations and vehicles come in which year.

The single-year model of :class:`healthopt.plans.ambulances.AmbulancePlan` is repeated once
per plan year and linked by :func:`healthopt.milp.periods.stack_periods`: a station opened in
2024 stays open, vehicles are only added. Each year has its own budget on what it adds
(vehicles, new stations); the fleet in year *t* is the 2022 fleet plus every vehicle added up
to *t*. The norms (fleet per district, negative-pressure share, county centres) must hold in
the final year; earlier years meet an optional milestone, a share of the final fleet norm
per district. The objective adds each year's objective, weighted by that year's residents
relative to the plan year (``population.growth_per_year``): a vehicle placed earlier serves
more years.

The myopic plan (the years solved one after the other, each on top of the last) is feasible
for the phased problem and is its MIP start, so the phased plan is never worse.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from healthopt.errors import InfeasiblePlanError
from healthopt.milp.periods import StackedProblem, sequential_start, stack_periods
from healthopt.milp.problem import MilpProblem
from healthopt.milp.solve import solve_problem
from healthopt.plans.ambulance_results import AmbulancePlanResult

__all__ = ["PhaseYear", "PhasedPlan", "phase_plan"]

#: The blocks that only grow: stations open, vehicles and negative-pressure vehicles per site.
STOCKS = ("open", "v", "n")

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


def _period_problem(plan: Any, phase: PhaseYear, *, final: bool, base_vehicles: int,
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
    if any(ph.vehicles_added is None for ph in phases):
        return
    reach = base_vehicles + sum(int(ph.vehicles_added or 0) for ph in phases)
    need = plan.fleet_norm
    if reach < need:
        added = " + ".join(str(ph.vehicles_added) for ph in phases)
        raise InfeasiblePlanError([
            f"the yearly ambulance budgets add {added} = {reach - base_vehicles} ambulances to the "
            f"{base_vehicles} of the base year: {reach} by {phases[-1].year}; the norm needs {need}"])


def phase_plan(plan: Any, phases: Sequence[PhaseYear], *, base_vehicles: int, base_negative_pressure: int = 0,
               growth_per_year: float = 0.0,
               solver: str | None = None, time_limit: float | None = None, gap: float | None = None,
               threads: int | None = None) -> PhasedPlan:  # fmt: skip
    """Solve the phased ambulance plan (module docstring).

    Parameters
    ----------
    plan : AmbulancePlan
        The single-year plan (norms and budgets of the final year).
    phases : sequence of PhaseYear
        The plan years in order; the last is the plan year of ``plan``.
    base_vehicles, base_negative_pressure : int
        Ambulances (and negative-pressure ones) in service before the first year (2022: 150 and
        52, 001 §一(一)1); with no station layer they are placed by the model in the first year.
    growth_per_year : float
        Compound population growth; year *t*'s objective is weighted by ``(1 + g)^(t - T)``.
    solver, time_limit, gap, threads
        As :func:`healthopt.milp.solve.solve_problem`; ``time_limit`` is for the phased solve
        (the myopic start gets a fifth of it in all).

    Returns
    -------
    PhasedPlan
    """
    phases = list(phases)
    if any(b.year <= a.year for a, b in itertools.pairwise(phases)):
        raise ValueError("phase years must increase")
    plan.check()
    _check_budgets(plan, phases, base_vehicles)
    added: int | None = 0
    stations: int | None = 0
    periods = []
    for k, ph in enumerate(phases):
        added = None if ph.vehicles_added is None or added is None else added + int(ph.vehicles_added)
        stations = None if ph.new_stations is None or stations is None else stations + int(ph.new_stations)
        periods.append(_period_problem(plan, ph, final=k == len(phases) - 1, base_vehicles=base_vehicles,
                                       added_so_far=added, stations_so_far=stations))  # fmt: skip
    last = phases[-1].year
    weights = [(1.0 + growth_per_year) ** (ph.year - last) for ph in phases]
    stacked = stack_periods(periods, stocks=STOCKS, weights=weights, name="ambulances phased")
    each = None if time_limit is None else max(time_limit / (5 * len(phases)), 1.0)

    def one(q: MilpProblem) -> np.ndarray | None:
        return solve_problem(q, solver, each, gap, threads).x

    start = sequential_start(stacked, stocks=STOCKS, solve=one)
    myopic = None if start is None else float(stacked.problem.obj @ start + stacked.problem.offset)
    out = solve_problem(stacked.problem, solver, time_limit, gap, threads, start=start)
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
