"""The ambulance plan's result: stations, districts and demand tables and the fleet KPIs.

:class:`AmbulancePlanResult` is what :meth:`healthopt.plans.ambulances.AmbulancePlan.solve`
returns; the table functions turn the chosen fleet (vehicles and negative-pressure
vehicles per site, residents served) into its tables, and :func:`assignment_lp` computes
the residents served for a fleet chosen by a model without capacities (MEXCLP, DSM).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from healthopt.milp.problem import MilpProblem
from healthopt.milp.solve import solve_problem
from healthopt.plans.ambulance_rules import AmbulanceRules

INF = math.inf


@dataclass
class AmbulancePlanResult:
    """Outcome of :class:`healthopt.plans.ambulances.AmbulancePlan`.

    Attributes
    ----------
    stations : DataFrame
        One row per open station: site_id, district_code, status (existing / new),
        vehicles, negative_pressure, staff by role, pop_covered.
    districts : DataFrame
        Per district: norm, planned vehicles and NP vehicles, gap to norm, population
        covered / beyond capacity / outside, coverage share, staff.
    demand : DataFrame
        Per demand point: status (covered / beyond_capacity / outside), served residents.
    totals : dict
        Fleet, NP share, coverage and staff totals.
    status, gap, objective, solve_seconds
        Solver outcome in plain words.
    notes : list of str
        Modelling notes for the report (e.g. nearest-k restriction, no existing stations).
    relaxed : list of str
        Norms the plan misses, in planning terms (only when solved with relaxed norms).
    infeasible_reasons : list of str
        Why the plan with the full norms is impossible (only when norms were relaxed).
    """

    stations: pd.DataFrame
    districts: pd.DataFrame
    demand: pd.DataFrame
    totals: dict[str, Any]
    status: str
    status_code: str
    gap: float | None
    objective: float | None
    solve_seconds: float
    notes: list[str] = field(default_factory=list)
    relaxed: list[str] = field(default_factory=list)
    infeasible_reasons: list[str] = field(default_factory=list)
    #: The year-by-year plan when the scenario phases it (:mod:`healthopt.plans.ambulance_phasing`).
    phasing: Any = None

    @property
    def optimal(self) -> bool:
        """Whether the plan is proven optimal (within the requested gap)."""
        return self.status_code in ("optimal", "optimal_within_gap")


def station_table(rules: AmbulanceRules, v: np.ndarray, n: np.ndarray, served_by_site: np.ndarray) -> pd.DataFrame:
    """One row per open station: its vehicles, negative-pressure vehicles, residents served, staff."""
    s = rules.sites.copy()
    s["vehicles"], s["negative_pressure"] = v, n
    s["pop_covered"] = np.round(served_by_site).astype(int)
    s = s[s["vehicles"] > 0].copy()
    s["status"] = np.where(s["existing"], "existing", "new")
    s["np_share"] = s["negative_pressure"] / s["vehicles"]
    for role, k in rules.staff_per_vehicle.items():
        s[f"{role}s"] = s["vehicles"] * int(k) * int(rules.shifts)
    return s.reset_index(drop=True)

def demand_table(rules: AmbulanceRules, v: np.ndarray, served: np.ndarray) -> pd.DataFrame:
    """Per demand point: residents served and status (covered / beyond_capacity / outside)."""
    d = rules.demand[["demand_id", "district_code", "population"]].copy()
    site, dem = rules.pairs
    in_catchment = np.zeros(len(d), dtype=bool)
    in_catchment[dem[v[site] > 0]] = True
    pop = d["population"].to_numpy(float)
    d["served"] = served
    full = served >= pop - 0.5
    d["status"] = np.where(full & (pop > 0), "covered", np.where(in_catchment, "beyond_capacity", "outside"))
    d.loc[(pop == 0) & in_catchment, "status"] = "covered"
    return d

def district_table(rules: AmbulanceRules, stations: pd.DataFrame, demand: pd.DataFrame) -> pd.DataFrame:
    """Per district: fleet norm, planned (NP) vehicles, gap, stations, staff, population three ways."""
    t = rules.norms[["code", "name_zh", "norm_class", "residents", "min_vehicles", "min_negative_pressure"]].rename(
        columns={"min_vehicles": "amb_norm"}
    )
    g = stations.groupby("district_code")
    t["amb_planned"] = t["code"].map(g["vehicles"].sum()).fillna(0).astype(int)
    t["amb_np_planned"] = t["code"].map(g["negative_pressure"].sum()).fillna(0).astype(int)
    t["stations"] = t["code"].map(g.size()).fillna(0).astype(int)
    t["amb_gap"] = t["amb_planned"] - t["amb_norm"]
    for role in rules.staff_per_vehicle:
        t[f"{role}s"] = t["code"].map(g[f"{role}s"].sum()).fillna(0).astype(int)
    pop = demand.assign(covered=np.minimum(demand["served"], demand["population"]))
    in_c = pop["status"] != "outside"
    by = pop.groupby("district_code")
    covered = by["covered"].sum()
    catch = pop[in_c].groupby("district_code")["population"].sum()
    t["pop_covered"] = t["code"].map(covered).fillna(0).round().astype(int)
    t["pop_beyond_capacity"] = (t["code"].map(catch).fillna(0).round().astype(int) - t["pop_covered"]).clip(lower=0)
    total = t["code"].map(by["population"].sum()).fillna(0).astype(int)
    t["pop_outside"] = total - t["pop_covered"] - t["pop_beyond_capacity"]
    t["coverage_share"] = np.where(total > 0, t["pop_covered"] / total.where(total > 0, 1), 0.0)
    return t

def fleet_totals(rules: AmbulanceRules, stations: pd.DataFrame, demand: pd.DataFrame) -> dict[str, Any]:
    """Fleet, negative-pressure share, station, population and staff totals (the plan's KPIs)."""
    fleet = int(stations["vehicles"].sum())
    npv = int(stations["negative_pressure"].sum())
    pop = float(demand["population"].sum())
    covered = float(np.minimum(demand["served"], demand["population"]).sum())
    in_catch = float(demand.loc[demand["status"] != "outside", "population"].sum())
    return {
        "fleet_norm": rules.fleet_norm, "fleet_planned": fleet, "np_planned": npv,
        "np_share": npv / fleet if fleet else 0.0, "np_required_share": rules.negative_pressure_share,
        "stations_planned": len(stations), "stations_new": int((stations["status"] == "new").sum()),
        "pop_total": round(pop), "pop_covered": round(covered),
        "pop_beyond_capacity": round(in_catch - covered),
        "pop_outside": round(pop - in_catch),
        "staff": {role: int(stations[f"{role}s"].sum()) for role in rules.staff_per_vehicle},
    }  # fmt: skip


def assignment_lp(site: np.ndarray, dem: np.ndarray, pop: np.ndarray, capacity: np.ndarray,
                  solver: str | None) -> np.ndarray:
    """Transportation LP: most residents served within the standard for a fixed fleet."""
    p = MilpProblem("ambulance_capacity", "max")
    npairs = site.size
    usable = capacity[site] > 0
    p.add_variables("x", npairs, ub=np.where(usable, INF, 0.0), obj=1.0)
    p.add_constraints(
        "demand", {"x": sp.csr_matrix((np.ones(npairs), (dem, np.arange(npairs))), shape=(len(pop), npairs))}, ub=pop
    )
    p.add_constraints(
        "capacity",
        {"x": sp.csr_matrix((np.ones(npairs), (site, np.arange(npairs))), shape=(len(capacity), npairs))},
        ub=capacity,
    )
    out = solve_problem(p, solver)
    return out.x if out.x is not None else np.zeros(npairs)
