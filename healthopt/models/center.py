"""p-center: smallest worst-case travel time with at most p sites (exact).

Method: search over the sorted distinct travel times of the allowed pairs. For a radius
``r`` the question "can ≤ p sites reach every demand point within r?" is a set-cover
feasibility MILP built from the sparse pairs within ``r`` (plus every base option: fixed
and forbidden sites, budget, capacities with assignment only within ``r``, district rules
at ``service_radius``, plan extensions). The optimum is the smallest feasible candidate,
found by binary search between a lower bound (the largest nearest-allowed-site time over
demand points — no plan beats it) and the largest candidate. Each step is exact, so the
answer is exact; ``log2(#distinct times)`` feasibility solves are needed.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from healthopt.errors import InfeasiblePlanError, InputError
from healthopt.milp.solve import STATUS_WORDS, SolverOutput, solve_problem
from healthopt.models.base import (
    CoverageSpec,
    LocationResult,
    MilpProblem,
    TravelPairs,
)
from healthopt.models.coverage import (
    _capacity_reasons,
    _CoverageBase,
    _spec,
    _unreachable_reason,
    coverage_groups,
)


class PCenter(_CoverageBase):
    """p-center problem (see module docstring). ``objective`` is the worst travel time."""

    sense = "min"
    label = "p-center"

    def __init__(self, pairs: TravelPairs, weights: Any, p_facilities: int | None, **options: Any):
        if p_facilities is None and options.get("budget") is None:
            raise InputError(None, "p_facilities", "give the number of sites, or site_costs and a budget")
        super().__init__(pairs, weights, p_facilities=p_facilities, **options)
        if (
            self.districts is not None
            and self.service_radius is None
            and (self.min_district_share is not None or self.equity)
        ):
            raise InputError(
                None,
                "service_radius",
                "district coverage rules for the p-center need a service_radius",
            )
        self._radius = np.inf

    @classmethod
    def from_cost_matrix(
        cls,
        cost_matrix: Any,
        p_facilities: int | None,
        predefined_facilities_arr: Any = None,
        name: str = "p-center",
        **options: Any,
    ) -> PCenter:
        """Build from a **demand × facilities** matrix (spopt's argument order).

        ``weights`` (KPIs only) may be passed as a keyword.
        """
        reachable = options.pop("reachable", None)
        weights = options.pop("weights", None)
        pairs = TravelPairs.from_cost_matrix(cost_matrix, reachable)
        if predefined_facilities_arr is not None:
            options.setdefault("fixed_sites", np.asarray(predefined_facilities_arr).astype(bool))
        return cls(pairs, weights, p_facilities, name=name, **options)

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
    ) -> PCenter:
        """Build from a travel-time object (``.matrix`` sites × demand, minutes)."""
        pairs = TravelPairs.from_travel_times(tt)
        opts = cls._tt_kwargs(tt, demand_districts, site_table, options)
        return cls(pairs, weights, p_facilities, **opts)

    def _cardinality_sense(self) -> str:
        return "le"

    def _check_reasons(self) -> list[str]:
        reasons = [r for r in super()._check_reasons() if "candidate sites are allowed" not in r]
        inc = self.pairs.incidence(self.allowed[self.pairs.site])
        reasons += _unreachable_reason(self, inc, None)
        reasons += _capacity_reasons(self, inc)
        return reasons

    def _build_core(self, prob: MilpProblem) -> CoverageSpec:
        r = self._radius
        within = self.pairs.time <= r
        masks = [within]
        if self.service_radius is not None and self.districts is not None:
            masks.append(self.pairs.within(self.service_radius))
        grp = coverage_groups(self, masks)
        inc = grp["inc"][0]
        G = inc.shape[0]
        prob.set_objective({}, sense="min")
        prob.add_constraints(
            "cover_all",
            {"y": inc},
            1.0,
            np.inf,
            description=f"reaching every demand point within {r:g} minutes",
        )
        if len(masks) == 2:
            inc_t = grp["inc"][1]
            reach = np.diff(inc_t.indptr) > 0
            x = prob.add_variables("x", G, ub=np.where(reach, 1.0, 0.0))
            rows = np.flatnonzero(reach)
            link = sp.csr_matrix((-np.ones(rows.size), (np.arange(rows.size), rows)), shape=(rows.size, G))
            prob.add_constraints(
                "coverage_link",
                {"y": inc_t[rows], "x": link},
                0.0,
                np.inf,
                relaxable=False,
                description="coverage needs an open site within the standard",
            )
            C = sp.csr_matrix((np.ones(G), (np.arange(G), x.indices)), shape=(G, prob.n_vars))
            self._district_spec = _spec(self, grp, C, np.zeros(G), inc_t)
        C0 = sp.csr_matrix((G, prob.n_vars))
        return _spec(self, grp, C0, np.ones(G), inc)

    def _result_radius(self) -> float | None:
        return self.service_radius

    def _assignment_mask(self) -> np.ndarray | None:
        return self.allowed[self.pairs.site]

    def solve(
        self,
        solver: str | None = None,
        time_limit: float | None = None,
        gap: float | None = None,
        threads: int | None = None,
        log_path: str | Path | None = None,
    ) -> LocationResult:
        """Binary search over candidate radii; each step is a feasibility MILP.

        ``gap`` is passed to the steps but has no effect on feasibility checks. With a time
        limit, the best plan found so far is returned with status "time limit reached" and
        a gap between the best feasible radius and the largest radius proven infeasible.
        """
        self.check()
        t0 = time.perf_counter()
        allowed_pair = self.allowed[self.pairs.site]
        times = self.pairs.time[allowed_pair]
        dem = self.pairs.demand[allowed_pair]
        nearest = np.full(self.n_demand, np.inf)
        np.minimum.at(nearest, dem, times)
        lower = float(nearest.max()) if self.n_demand else 0.0
        cand = np.unique(times[times >= lower])
        steps: list[tuple[float, str]] = []
        deadline = None if time_limit is None else t0 + time_limit
        best: tuple[float, SolverOutput, MilpProblem] | None = None

        def feasible(k: int) -> bool | None:
            self._radius = float(cand[k])
            prob = self.build()
            remaining = None if deadline is None else max(0.5, deadline - time.perf_counter())
            out = solve_problem(prob, solver, remaining, gap, threads, log_path)
            steps.append((self._radius, out.status_code))
            nonlocal best
            if out.has_solution:
                if best is None or self._radius <= best[0]:
                    best = (self._radius, out, prob)
                return True
            if out.status_code == "infeasible":
                return False
            return None  # undecided (time limit)

        lo, hi = 0, cand.size - 1
        top = feasible(hi) if cand.size else False
        if top is False:
            raise InfeasiblePlanError(
                [
                    f"no choice of {self.p_facilities} sites (with the fixed, forbidden, budget "
                    "and capacity rules) reaches every demand point, whatever the travel time"
                ]
            )
        timed_out = top is None
        while not timed_out and lo < hi:
            mid = (lo + hi) // 2
            ok = feasible(mid)
            if ok is None:
                timed_out = True
            elif ok:
                hi = mid
            else:
                lo = mid + 1
        details: dict[str, Any] = {"search_steps": steps, "lower_bound": lower}
        if best is None:
            out = SolverOutput(
                "time_limit_no_solution",
                STATUS_WORDS["time_limit_no_solution"],
                None,
                None,
                None,
                None,
                time.perf_counter() - t0,
                steps[-1][1],
                "",
            )
            self.result = self._make_result(out, details)
            return self.result
        radius, out, prob = best
        self._radius = radius
        self.problem = prob
        self.spec = None
        self.build()  # restore spec for this radius (same structure as prob)
        self.problem = prob
        proven_lb = float(cand[lo]) if not timed_out else lower
        if timed_out:
            out.status_code = "time_limit_feasible"
            out.status = STATUS_WORDS["time_limit_feasible"]
            out.gap = (radius - proven_lb) / max(radius, 1e-9)
        else:
            out.status_code, out.status, out.gap = "optimal", STATUS_WORDS["optimal"], 0.0
        out.objective = radius
        out.seconds = time.perf_counter() - t0
        self.result = self._make_result(out, details)
        return self.result


__all__ = ["PCenter"]
