"""Result tables of a solved location model: sites, assignments, coverage and districts.

Plumbing of :meth:`healthopt.models.base.LocationModel.solve`; the model's hooks
(``site_values``, ``coverage_mask``, ``served_share``, ``assignment_table``,
``assignment_mask``) decide what the tables hold.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np
import pandas as pd

from healthopt.milp.problem import MilpProblem
from healthopt.milp.solve import SolverOutput
from healthopt.models.pairs import TravelPairs, pair_time_lookup
from healthopt.models.result import LocationResult
from healthopt.models.spec import CoverageSpec


class TabledModel(Protocol):
    """What the result tables read from a model (:class:`~healthopt.models.base.LocationModel`).

    A protocol rather than the class itself, so that this module does not import
    :mod:`healthopt.models.base`, which imports it (imports go one way only).
    """

    @property
    def label(self) -> str: ...
    @property
    def pairs(self) -> TravelPairs: ...
    @property
    def n_sites(self) -> int: ...
    @property
    def n_demand(self) -> int: ...
    @property
    def site_ids(self) -> np.ndarray: ...
    @property
    def demand_ids(self) -> np.ndarray: ...
    @property
    def weights(self) -> np.ndarray: ...
    @property
    def fixed(self) -> np.ndarray: ...
    @property
    def forbidden(self) -> np.ndarray: ...
    @property
    def capacities(self) -> np.ndarray | None: ...
    @property
    def site_costs(self) -> np.ndarray | None: ...
    @property
    def districts(self) -> np.ndarray | None: ...
    @property
    def build_seconds(self) -> float: ...
    @property
    def spec(self) -> CoverageSpec | None: ...

    def built_problem(self) -> MilpProblem: ...
    def site_values(self, x: np.ndarray) -> np.ndarray: ...
    def coverage_mask(self) -> np.ndarray | None: ...
    def served_share(self, x: np.ndarray) -> np.ndarray | None: ...
    def assignment_table(self, x: np.ndarray, is_open: np.ndarray, cov_mask: np.ndarray | None) -> pd.DataFrame: ...
    def assignment_mask(self) -> np.ndarray | None: ...


def location_result(model: TabledModel, out: SolverOutput, details: dict[str, Any]) -> LocationResult:
    """Build the result tables of ``model`` from a solver output (see :class:`LocationResult`)."""
    sites = pd.DataFrame(
        {
            "site_id": model.site_ids,
            "open": False,
            "fixed": model.fixed,
            "forbidden": model.forbidden,
            "vehicles": 0,
            "assigned_demand": 0.0,
            "assigned_points": 0,
        }
    )
    if model.capacities is not None:
        sites["capacity"] = model.capacities
    if model.site_costs is not None:
        sites["cost"] = model.site_costs
    empty_assign = pd.DataFrame(columns=["demand_id", "site_id", "travel_time", "covered", "share"])
    coverage = pd.DataFrame(
        {
            "demand_id": model.demand_ids,
            "weight": model.weights,
            "covered": False,
            "times_covered": 0,
            "served_share": 0.0,
        }
    )
    if model.districts is not None:
        coverage["district"] = model.districts
    if out.x is None:
        details.setdefault("reasons", [f"{model.label}: {out.status}"])
        return LocationResult(
            None,
            out.status,
            out.status_code,
            None,
            out.seconds,
            model.build_seconds,
            out.solver,
            sites,
            empty_assign,
            coverage,
            None,
            None,
            details,
        )
    x = out.x
    veh = model.site_values(x)
    is_open = veh > 0
    sites["open"] = is_open
    sites["vehicles"] = veh
    pairs = model.pairs
    cov_mask = model.coverage_mask()
    # times covered (vehicles within the standard)
    if cov_mask is not None:
        m = cov_mask & is_open[pairs.site]
        times = np.bincount(pairs.demand[m], weights=veh[pairs.site[m]], minlength=model.n_demand)
    else:
        times = None
    assign = model.assignment_table(x, is_open, cov_mask)
    served = model.served_share(x)
    if times is not None:
        covered = times > 0
        coverage["times_covered"] = times.astype(int)
    else:
        covered = np.zeros(model.n_demand, dtype=bool)
        covered[assign["demand_index"].to_numpy()] = True
        coverage["times_covered"] = covered.astype(int)
    if served is not None:
        coverage["served_share"] = served
    else:
        coverage["served_share"] = covered.astype(float)
    coverage["covered"] = covered
    # site loads
    w_assigned = model.weights[assign["demand_index"].to_numpy()] * assign["share"].to_numpy()
    sidx = assign["site_index"].to_numpy()
    sites["assigned_demand"] = np.bincount(sidx, weights=w_assigned, minlength=model.n_sites)
    sites["assigned_points"] = np.bincount(sidx, minlength=model.n_sites)
    assignments = assign.drop(columns=["demand_index", "site_index"])
    districts = None
    if model.districts is not None:
        served_w = model.weights * coverage["served_share"].to_numpy()
        districts = (
            pd.DataFrame(
                {
                    "district": model.districts,
                    "demand_weight": model.weights,
                    "covered_weight": served_w,
                }
            )
            .groupby("district", sort=True, as_index=False)
            .sum()
        )
        dw = districts["demand_weight"].to_numpy()
        districts["share"] = np.where(dw > 0, districts["covered_weight"] / np.where(dw > 0, dw, 1), 1.0)
    return LocationResult(
        out.objective,
        out.status,
        out.status_code,
        out.gap,
        out.seconds,
        model.build_seconds,
        out.solver,
        sites,
        assignments,
        coverage,
        districts,
        x,
        details,
    )


def assignments(model: TabledModel, x: np.ndarray, is_open: np.ndarray, cov_mask: np.ndarray | None) -> pd.DataFrame:
    """Demand -> site table (z shares if capacitated, else the nearest open site)."""
    pairs = model.pairs
    prob = model.built_problem()
    if model.capacities is not None and model.spec is not None and "z" in prob.blocks:
        z = prob.value(x, "z")
        spec = model.spec
        # expand group shares to demand points: point i in group g gets z_gj for each j
        pg = spec.pair_group
        order = np.argsort(spec.group, kind="stable")
        gstart = np.searchsorted(spec.group[order], np.arange(spec.weight.size))
        gcount = np.bincount(spec.group, minlength=spec.weight.size)
        keep = z > 1e-7
        pg, ps, zz = pg[keep], spec.pair_site[keep], z[keep]
        reps = gcount[pg]
        d_idx = (
            np.concatenate([order[gstart[g] : gstart[g] + gcount[g]] for g in pg])
            if pg.size
            else np.zeros(0, dtype=np.int64)
        )
        s_idx = np.repeat(ps, reps)
        share = np.repeat(zz, reps)
        t_lookup = pair_time_lookup(pairs, d_idx, s_idx)
        covered = np.ones(d_idx.size, dtype=bool)
    else:
        m = is_open[pairs.site]
        if model.assignment_mask() is not None:
            m &= model.assignment_mask()
        d, s, t = pairs.demand[m], pairs.site[m], pairs.time[m]
        # pairs are sorted by (demand, time, site): first per demand = nearest open site
        first = np.ones(d.size, dtype=bool)
        first[1:] = d[1:] != d[:-1]
        d_idx, s_idx, t_lookup = d[first], s[first], t[first]
        share = np.ones(d_idx.size)
        if cov_mask is not None:
            covered = cov_mask[m][first]
        else:
            covered = np.ones(d_idx.size, dtype=bool)
    frame = pd.DataFrame(
        {
            "demand_id": model.demand_ids[d_idx],
            "site_id": model.site_ids[s_idx],
            "travel_time": t_lookup,
            "covered": covered,
            "share": share,
            "demand_index": d_idx,
            "site_index": s_idx,
        }
    )
    return frame


__all__ = ["TabledModel", "assignments", "location_result"]
