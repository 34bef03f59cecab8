"""MEXCLP — maximum expected covering location problem (Daskin 1983).

Each vehicle is busy with probability ``q``. A demand point covered by ``n`` vehicles
within the standard is served with probability ``1 - q^n``. With ``u_ik`` = "demand group
i is covered by at least k vehicles":

``max Σ_i w_i Σ_k (1-q) q^(k-1) u_ik  s.t.  Σ_k u_ik <= Σ_{j ∈ N_i} y_j,  Σ_j y_j = p,
0 <= u_ik <= 1,  y_j ∈ {0..k_max_j}``.

``u`` may be continuous: the coefficients fall with ``k``, so an optimum fills levels in
order. Levels per group stop at ``min(p, vehicles the group's sites can hold)``. Demand
points with identical coverage sets are merged (see :mod:`healthopt.models.coverage`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from healthopt.errors import InputError
from healthopt.models.base import (
    CoverageSpec,
    MilpProblem,
    TravelPairs,
    _check_count,
    _check_radius,
)
from healthopt.models.coverage import _CoverageBase, _spec, coverage_groups


class MEXCLP(_CoverageBase):
    """Maximum expected covering location problem (see module docstring).

    Parameters
    ----------
    busy_fraction : float
        Probability ``q`` in [0, 1) that a vehicle is unavailable.
    max_vehicles : int or array, optional
        Vehicles a site can hold (default: ``p_facilities``).

    Capacities, if given, are per vehicle and apply to demand covered at least once.
    """

    sense = "max"
    label = "MEXCLP"
    integer_sites = True

    def __init__(
        self,
        pairs: TravelPairs,
        weights: Any,
        service_radius: float,
        p_facilities: int,
        busy_fraction: float,
        max_vehicles: Any = None,
        **options: Any,
    ):
        q = float(busy_fraction)
        if not 0.0 <= q < 1.0:
            raise InputError(None, "busy_fraction", f"must be in [0, 1), got {busy_fraction}")
        self.busy_fraction = q
        _check_count(p_facilities, "p_facilities")
        super().__init__(
            pairs,
            weights,
            service_radius=_check_radius(service_radius, "service_radius"),
            p_facilities=p_facilities,
            max_vehicles=max_vehicles,
            **options,
        )

    @classmethod
    def from_cost_matrix(
        cls,
        cost_matrix: Any,
        weights: Any,
        service_radius: float,
        p_facilities: int,
        busy_fraction: float,
        max_vehicles: Any = None,
        name: str = "mexclp",
        **options: Any,
    ) -> MEXCLP:
        """Build from a **demand × facilities** matrix."""
        reachable = options.pop("reachable", None)
        pairs = TravelPairs.from_cost_matrix(cost_matrix, reachable, float(service_radius)).add_covered_pairs(
            float(service_radius)
        )
        return cls(
            pairs,
            weights,
            service_radius,
            p_facilities,
            busy_fraction,
            max_vehicles,
            name=name,
            **options,
        )

    @classmethod
    def from_travel_times(
        cls,
        tt: Any,
        weights: Any,
        service_radius: float,
        p_facilities: int,
        busy_fraction: float,
        max_vehicles: Any = None,
        *,
        demand_districts: Any = None,
        site_table: Any = None,
        **options: Any,
    ) -> MEXCLP:
        """Build from a travel-time object (``.matrix`` sites × demand, minutes)."""
        pairs = TravelPairs.from_travel_times(tt, float(service_radius)).add_covered_pairs(float(service_radius))
        opts = cls._tt_kwargs(tt, demand_districts, site_table, options)
        if "max_vehicles" in opts:
            max_vehicles = opts.pop("max_vehicles")
        return cls(pairs, weights, service_radius, p_facilities, busy_fraction, max_vehicles, **opts)

    def _check_reasons(self) -> list[str]:
        reasons = super()._check_reasons()
        if int(self.fixed.sum()) > self.p_facilities:
            reasons.append(
                f"{int(self.fixed.sum())} existing stations must keep a vehicle but only "
                f"{self.p_facilities} vehicles are available"
            )
        mv = self.max_vehicles if self.max_vehicles is not None else np.full(self.n_sites, np.inf)
        room = float(np.where(self.allowed, mv, 0).sum())
        if room < self.p_facilities:
            reasons.append(f"{self.p_facilities} vehicles must be placed but the allowed sites hold only {room:g}")
        return reasons

    def _build_core(self, prob: MilpProblem) -> CoverageSpec:
        grp = coverage_groups(self, [self.pairs.within(self.service_radius)])
        inc = grp["inc"][0]
        G = inc.shape[0]
        p = int(self.p_facilities)
        mv = self.max_vehicles if self.max_vehicles is not None else np.full(self.n_sites, float(p))
        hold = inc @ np.minimum(np.where(self.allowed, mv, 0.0), p)
        levels = np.minimum(hold, p).astype(np.int64)
        total = int(levels.sum())
        g_of = np.repeat(np.arange(G), levels)
        starts = np.concatenate([[0], np.cumsum(levels)[:-1]])
        k_of = np.arange(total) - np.repeat(starts, levels)  # 0-based level
        q = self.busy_fraction
        coef = grp["weight"][g_of] * (1.0 - q) * q**k_of
        u = prob.add_variables("u", total, lb=0.0, ub=1.0)
        prob.set_objective({"u": coef}, sense="max")
        rows = np.flatnonzero(levels > 0)
        row_of = np.full(G, -1)
        row_of[rows] = np.arange(rows.size)
        U = sp.csr_matrix((np.ones(total), (row_of[g_of], np.arange(total))), shape=(rows.size, total))
        prob.add_constraints(
            "expected_link",
            {"u": U, "y": -inc[rows]},
            -np.inf,
            0.0,
            relaxable=False,
            description="coverage levels need vehicles within the standard",
        )
        first = np.flatnonzero(k_of == 0)
        C = sp.csr_matrix((np.ones(first.size), (g_of[first], u.start + first)), shape=(G, prob.n_vars))
        return _spec(self, grp, C, np.zeros(G), inc)

    def expected_coverage(self, vehicles: Any) -> float:
        """Return the expected covered weight ``Σ_i w_i (1 - q^{n_i})`` of a vehicle vector."""
        v = np.asarray(vehicles, dtype=float)
        m = self.pairs.within(self.service_radius)
        n = np.bincount(self.pairs.demand[m], weights=v[self.pairs.site[m]], minlength=self.n_demand)
        return float((self.weights * (1.0 - self.busy_fraction**n)).sum())


__all__ = ["MEXCLP"]
