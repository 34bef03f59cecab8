"""p-median: least weighted travel time with p sites (optionally capacitated, time-capped).

Assignment variables exist only for the sparse pairs that are allowed: reachable pairs
(stored entries of sparse input, finite entries of dense input) to allowed sites, and,
with ``max_time``, only pairs within it.

``min Σ_i Σ_j w_i t_ij z_ij  s.t.  Σ_j z_ij = 1,  z_ij <= y_j,  Σ_j y_j = p``
(+ ``Σ_i w_i z_ij <= cap_j y_j`` with capacities). ``z`` is continuous: without capacities
an optimal ``z`` is integral (nearest open site); with capacities demand may be split.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from healthopt.errors import InputError
from healthopt.models.base import (
    CoverageSpec,
    MilpProblem,
    TravelPairs,
    _check_radius,
)
from healthopt.models.coverage import _CoverageBase, _unreachable_reason


class PMedian(_CoverageBase):
    """p-median problem over sparse pairs (see module docstring).

    Options beyond the base ones: ``max_time`` (no assignment beyond it),
    ``service_radius`` (defines "covered" for KPIs and district rules),
    ``fulfill_predefined_fac`` (spopt: fixed sites must be used up to their capacity).
    """

    sense = "min"
    label = "p-median"
    own_capacity = True

    def __init__(
        self,
        pairs: TravelPairs,
        weights: Any,
        p_facilities: int | None,
        *,
        max_time: float | None = None,
        fulfill_predefined_fac: bool = False,
        **options: Any,
    ):
        if p_facilities is None and options.get("budget") is None:
            raise InputError(None, "p_facilities", "give the number of sites, or site_costs and a budget")
        self.max_time = None if max_time is None else _check_radius(max_time, "max_time")
        self.fulfill_predefined_fac = bool(fulfill_predefined_fac)
        super().__init__(pairs, weights, p_facilities=p_facilities, **options)
        if (
            self.districts is not None
            and self.service_radius is None
            and (self.min_district_share is not None or self.equity)
        ):
            raise InputError(
                None,
                "service_radius",
                "district coverage rules for the p-median need a service_radius",
            )

    @classmethod
    def from_cost_matrix(
        cls,
        cost_matrix: Any,
        weights: Any,
        p_facilities: int | None,
        predefined_facilities_arr: Any = None,
        facility_capacities: Any = None,
        fulfill_predefined_fac: bool = False,
        name: str = "p-median",
        **options: Any,
    ) -> PMedian:
        """Build from a **demand × facilities** matrix (spopt's argument order)."""
        reachable = options.pop("reachable", None)
        pairs = TravelPairs.from_cost_matrix(cost_matrix, reachable)
        if predefined_facilities_arr is not None:
            options.setdefault("fixed_sites", np.asarray(predefined_facilities_arr).astype(bool))
        if facility_capacities is not None:
            options.setdefault("capacities", facility_capacities)
        return cls(
            pairs,
            weights,
            p_facilities,
            fulfill_predefined_fac=fulfill_predefined_fac,
            name=name,
            **options,
        )

    @classmethod
    def from_travel_times(
        cls,
        tt: Any,
        weights: Any,
        p_facilities: int | None,
        *,
        demand_districts: Any = None,
        site_table: Any = None,
        **options: Any,
    ) -> PMedian:
        """Build from a travel-time object (``.matrix`` sites × demand, minutes)."""
        pairs = TravelPairs.from_travel_times(tt)
        opts = cls._tt_kwargs(tt, demand_districts, site_table, options)
        return cls(pairs, weights, p_facilities, **opts)

    def _pair_mask(self) -> np.ndarray:
        m = self.allowed[self.pairs.site]
        if self.max_time is not None:
            m &= self.pairs.within(self.max_time)
        return m

    def _assignment_mask(self) -> np.ndarray:
        return self._pair_mask()

    def _check_reasons(self) -> list[str]:
        reasons = super()._check_reasons()
        inc = self.pairs.incidence(self._pair_mask())
        reasons += _unreachable_reason(self, inc, self.max_time)
        if self.capacities is not None:
            cap = np.where(self.allowed, self.capacities, 0.0)
            if self.weights.sum() > cap.sum() + 1e-9:
                reasons.append(
                    f"total demand {self.weights.sum():g} exceeds the total capacity {cap.sum():g} of all allowed sites"
                )
        return reasons

    def _build_core(self, prob: MilpProblem) -> CoverageSpec | None:
        m = self._pair_mask()
        d, s, t = self.pairs.demand[m], self.pairs.site[m], self.pairs.time[m]
        self._z_pairs = (d, s, t)
        n = d.size
        prob.add_variables("z", n, lb=0.0, ub=1.0)
        prob.set_objective({"z": self.weights[d] * t}, sense="min")
        S = sp.csr_matrix((np.ones(n), (d, np.arange(n))), shape=(self.n_demand, n))
        has = np.diff(S.indptr) > 0
        prob.add_constraints(
            "assign_all",
            {"z": S[has]},
            1.0,
            1.0,
            relaxable=False,
            description="assigning every demand point to a site",
        )
        eye_rows = sp.identity(n, format="csr")
        Y = sp.csr_matrix((-np.ones(n), (np.arange(n), s)), shape=(n, self.n_sites))
        prob.add_constraints(
            "open_link",
            {"z": eye_rows, "y": Y},
            -np.inf,
            0.0,
            relaxable=False,
            description="assignment only to open sites",
        )
        if self.capacities is not None:
            W = sp.csr_matrix((self.weights[d], (s, np.arange(n))), shape=(self.n_sites, n))
            prob.add_constraints(
                "capacity",
                {"z": W, "y": sp.diags(-self.capacities)},
                -np.inf,
                0.0,
                description="site capacities",
            )
            if self.fulfill_predefined_fac and self.fixed.any():
                f = np.flatnonzero(self.fixed)
                prob.add_constraints(
                    "fulfill_fixed",
                    {"z": W[f]},
                    self.capacities[f],
                    np.inf,
                    description="using existing sites up to their capacity",
                )
        if self.service_radius is None:
            return None
        within = (
            t <= self.service_radius if self.pairs.coverage_fn is None else self.pairs.within(self.service_radius)[m]
        )
        k = np.flatnonzero(within)
        C = sp.csr_matrix(
            (np.ones(k.size), (d[k], prob.blocks["z"].start + k)),
            shape=(self.n_demand, prob.n_vars),
        )
        return CoverageSpec(
            C,
            np.zeros(self.n_demand),
            np.arange(self.n_demand),
            self.weights.copy(),
            np.zeros(0, np.int64),
            np.zeros(0, np.int64),
        )

    def _served_share(self, x: np.ndarray) -> np.ndarray | None:
        if self.capacities is None or self.spec is None:
            return None
        return np.clip(self.spec.C @ x[: self.spec.C.shape[1]], 0.0, 1.0)

    def _assignments(self, x: np.ndarray, is_open: np.ndarray, cov_mask: np.ndarray | None) -> pd.DataFrame:
        if self.capacities is None:
            return super()._assignments(x, is_open, cov_mask)
        d, s, t = self._z_pairs
        z = self.problem.value(x, "z")
        k = np.flatnonzero(z > 1e-7)
        covered = np.ones(k.size, dtype=bool) if self.service_radius is None else t[k] <= self.service_radius
        return pd.DataFrame(
            {
                "demand_id": self.demand_ids[d[k]],
                "site_id": self.site_ids[s[k]],
                "travel_time": t[k],
                "covered": covered,
                "share": z[k],
                "demand_index": d[k],
                "site_index": s[k],
            }
        )


__all__ = ["PMedian"]
