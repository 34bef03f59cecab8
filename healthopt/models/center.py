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
from typing import TYPE_CHECKING, Any, Unpack

import numpy as np
import numpy.typing as npt
import pandas as pd
import scipy.sparse as sp

from healthopt.errors import InfeasiblePlanError, InputError
from healthopt.milp.problem import MilpProblem
from healthopt.milp.solve import STATUS_WORDS, SolverOutput, solve_problem
from healthopt.models._geo import geo_inputs
from healthopt.models._groups import (
    capacity_reasons,
    cost_matrix_options,
    coverage_groups,
    coverage_spec,
    travel_time_options,
    unreachable_reasons,
)
from healthopt.models.base import LocationModel, LocationOptions
from healthopt.models.heuristics import pcenter_search
from healthopt.models.pairs import TravelPairs
from healthopt.models.result import LocationResult
from healthopt.models.spec import CoverageSpec

if TYPE_CHECKING:  # pragma: no cover
    from pulp import LpSolver


class PCenter(LocationModel):
    r"""p-center problem: smallest worst-case travel time with at most p sites.

    .. math::

        \min r \quad \text{s.t.} \quad \sum_{j : t_{ij} \le r} y_j \ge 1 \;\; \forall i,
        \quad \sum_j y_j \le p, \quad y_j \in \{0, 1\}

    solved exactly by binary search over the distinct travel times (module docstring).
    ``objective`` is the worst travel time. ``weights`` only enter the KPIs;
    ``service_radius`` defines "covered" for KPIs and district rules.

    Examples
    --------
    >>> import numpy as np
    >>> from healthopt.models import PCenter
    >>> cost = np.abs(np.array([0, 10, 20, 30])[:, None] - np.array([0, 15, 30])[None, :])
    >>> PCenter.from_cost_matrix(cost, p_facilities=1).solve().objective
    15.0
    >>> PCenter.from_cost_matrix(cost, p_facilities=2).solve().objective
    10.0
    """

    sense = "min"
    label = "p-center"

    def __init__(
        self,
        pairs: TravelPairs,
        weights: npt.ArrayLike | None,
        p_facilities: int | None,
        *,
        service_radius: float | None = None,
        **options: Unpack[LocationOptions],
    ) -> None:
        if p_facilities is None and options.get("budget") is None:
            raise InputError(None, "p_facilities", "give the number of sites, or site_costs and a budget")
        super().__init__(pairs, weights, p_facilities=p_facilities, service_radius=service_radius, **options)
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
        predefined_facilities_arr: npt.ArrayLike | None = None,
        *,
        weights: npt.ArrayLike | None = None,
        service_radius: float | None = None,
        reachable: Any = None,
        **options: Unpack[LocationOptions],
    ) -> PCenter:
        """Build from a **demand × sites** matrix (spopt's argument order; ``weights`` for KPIs only)."""
        pairs = TravelPairs.from_cost_matrix(cost_matrix, reachable)
        options = cost_matrix_options(options, name="p-center", fixed=predefined_facilities_arr)
        return cls(pairs, weights, p_facilities, service_radius=service_radius, **options)

    @classmethod
    def from_geodataframe(
        cls,
        demand: Any,
        sites: Any,
        *,
        p_facilities: int | None,
        weights_col: str | None = None,
        predefined_facility_col: str | None = None,
        service_radius: float | None = None,
        demand_id_col: str | None = None,
        site_id_col: str | None = None,
        **options: Unpack[LocationOptions],
    ) -> PCenter:
        """Build from a demand and a site GeoDataFrame (Euclidean metres; the objective is in metres)."""
        g = geo_inputs(
            demand,
            sites,
            weights_col=weights_col,
            demand_id_col=demand_id_col,
            site_id_col=site_id_col,
            fixed_col=predefined_facility_col,
        )
        return cls.from_cost_matrix(
            g.cost, p_facilities, g.fixed, weights=g.weights, service_radius=service_radius, **g.ids(options)
        )

    @classmethod
    def from_travel_times(
        cls,
        tt: Any,
        weights: npt.ArrayLike | None,
        p_facilities: int | None,
        *,
        service_radius: float | None = None,
        demand_districts: npt.ArrayLike | None = None,
        site_table: pd.DataFrame | None = None,
        **options: Unpack[LocationOptions],
    ) -> PCenter:
        """Build from a travel-time object (``.matrix`` sites × demand, minutes)."""
        pairs = TravelPairs.from_travel_times(tt)
        opts = travel_time_options(tt, demand_districts, site_table, options)
        return cls(pairs, weights, p_facilities, service_radius=service_radius, **opts)

    def _cardinality_sense(self) -> str:
        return "le"

    def _check_reasons(self) -> list[str]:
        reasons = [r for r in super()._check_reasons() if "candidate sites are allowed" not in r]
        inc = self.pairs.incidence(self.allowed[self.pairs.site])
        reasons += unreachable_reasons(self, inc, None)
        reasons += capacity_reasons(self, inc)
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
            self._district_spec = coverage_spec(self, grp, C, np.zeros(G), inc_t)
        C0 = sp.csr_matrix((G, prob.n_vars))
        return coverage_spec(self, grp, C0, np.ones(G), inc)

    def _heuristic_radius(
        self, cand: np.ndarray, details: dict[str, Any]
    ) -> tuple[int, tuple[float, SolverOutput, MilpProblem]] | None:
        """Greedy upper bound on the radius: ``(index in cand, incumbent)`` or ``None``."""
        if (
            self.capacities is not None
            or self.budget is not None
            or self.p_facilities is None
            or self.min_district_share is not None
            or self.equity
            or self._extensions
        ):
            return None
        t0 = time.perf_counter()
        found = pcenter_search(
            self.pairs.demand,
            self.pairs.site,
            self.pairs.time,
            self.n_demand,
            self.n_sites,
            self.p_facilities,
            self.fixed.astype(float),
            self.allowed,
            cand,
        )
        if found is None:
            return None
        radius, y = found
        self._radius = radius
        prob = self.build()
        x = self.start_vector(prob, y)
        seconds = time.perf_counter() - t0
        details["heuristic"] = {
            "method": "greedy set cover over radii",
            "objective": radius,
            "greedy_objective": radius,
            "swaps": 0,
            "seconds": seconds,
            "feasible": x is not None,
        }
        if x is None:
            return None
        out = SolverOutput("optimal", STATUS_WORDS["optimal"], x, 0.0, 0.0, 0.0, seconds, "heuristic", "")
        return int(np.searchsorted(cand, radius)), (radius, out, prob)

    def result_radius(self) -> float | None:
        """KPI standard (``service_radius``), not the searched radius."""
        return self.service_radius

    def assignment_mask(self) -> np.ndarray | None:
        """Any pair to an allowed site (the nearest open one is reported)."""
        return self.allowed[self.pairs.site]

    def solve(
        self,
        solver: str | LpSolver | None = None,
        time_limit: float | None = None,
        gap: float | None = None,
        threads: int | None = None,
        log_path: str | Path | None = None,
        *,
        heuristic: bool = True,
    ) -> LocationResult:
        """Binary search over candidate radii; each step is a feasibility MILP.

        ``gap`` is passed to the steps but has no effect on feasibility checks. With a time
        limit, the best plan found so far is returned with status "time limit reached" and
        a gap between the best feasible radius and the largest radius proven infeasible.
        With ``heuristic`` (and no capacities, budget, district rules or extensions), the
        greedy set cover first finds a radius it can meet with p sites
        (:func:`~healthopt.models.heuristics.pcenter_search`): the search starts below it
        with its plan as the incumbent.
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
        details: dict[str, Any] = {"search_steps": steps, "lower_bound": lower}
        plan = self._heuristic_radius(cand, details) if heuristic and cand.size else None
        if plan is not None:
            hi, best = plan
            top: bool | None = True
        else:
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
