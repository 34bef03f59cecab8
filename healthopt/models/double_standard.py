"""The double standard model (DSM, backup coverage): :class:`BackupCoverage` and its kernel.

:func:`add_double_standard` adds the formulation of Gendreau, Laporte & Semet (1997) to any
:class:`~healthopt.milp.problem.MilpProblem` (the ambulance plan uses it as well);
:class:`BackupCoverage` (alias :data:`DSM`) is the location model built on it. Inputs,
the demand-group reduction (here the coverage sets at both radii must be identical) and
the result tables are those of the other coverage models, see
:mod:`healthopt.models.coverage`.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any, Unpack

import numpy as np
import numpy.typing as npt
import pandas as pd
import scipy.sparse as sp

from healthopt.errors import InputError
from healthopt.milp.problem import MilpProblem, VarBlock
from healthopt.milp.solve import SolverOutput
from healthopt.models._geo import geo_inputs
from healthopt.models._groups import (
    cost_matrix_options,
    coverage_groups,
    coverage_spec,
    travel_time_options,
    unreachable_reasons,
)
from healthopt.models._validate import check_count, check_radius
from healthopt.models.base import LocationModel, LocationOptions
from healthopt.models.heuristics import (
    HeuristicPlan,
    greedy_coverage,
    greedy_set_cover,
    swap_coverage,
)
from healthopt.models.pairs import TravelPairs
from healthopt.models.result import LocationResult
from healthopt.models.spec import CoverageSpec


def add_double_standard(
    problem: MilpProblem,
    inc1: sp.csr_matrix,
    inc2: sp.csr_matrix,
    weight: np.ndarray,
    *,
    alpha: float,
    r1: float,
    r2: float | None = None,
    vehicles: str = "y",
    cover_rows: np.ndarray | None = None,
    descriptions: Mapping[str, str] | None = None,
) -> tuple[VarBlock, VarBlock]:
    r"""Add the double standard model's variables, rows and objective terms (see :class:`BackupCoverage`).

    Parameters
    ----------
    problem : MilpProblem
        A maximisation problem holding the vehicle block ``vehicles`` (one variable per
        site); the ``x2`` weights are added to its objective, other terms are kept.
    inc1, inc2 : scipy.sparse.csr_matrix
        Demand (group) × sites incidence of the sites within ``r1`` / within ``r2``.
    weight : numpy.ndarray
        Weight of each demand point (group).
    alpha : float
        Share of the weight that must be covered within ``r1``.
    r1, r2 : float
        Standards, used in the default descriptions.
    cover_rows : numpy.ndarray, optional
        Demand rows that must have a vehicle within ``r2`` (default: every row with a site
        in reach; rows without one are reported before solving).
    descriptions : mapping, optional
        Planning-terms descriptions by group name (``cover_all_r2``, ``alpha_share``,
        ``double_link``, ``x2_le_x1``), for infeasibility reports.

    Returns
    -------
    tuple of VarBlock
        ``x1`` (covered at least once within r1) and ``x2`` (at least twice), both binary.
    """
    words = {
        "cover_all_r2": f"reaching every demand point within {r2:g} minutes"
        if r2 is not None
        else "reaching every demand point",
        "alpha_share": f"covering {100 * alpha:g}% of demand within {r1:g} minutes",
        "double_link": "single and double coverage need vehicles within r1",
        "x2_le_x1": "double coverage implies single coverage",
        **(descriptions or {}),
    }
    G = inc1.shape[0]
    r1ok = np.diff(inc1.indptr) > 0
    x1 = problem.add_variables("x1", G, ub=np.where(r1ok, 1.0, 0.0), integer=True)
    x2 = problem.add_variables("x2", G, ub=np.where(r1ok, 1.0, 0.0), integer=True, obj=weight)
    rows2 = np.flatnonzero(np.diff(inc2.indptr) > 0) if cover_rows is None else np.asarray(cover_rows)
    problem.add_constraints("cover_all_r2", {vehicles: inc2[rows2]}, 1.0, np.inf, description=words["cover_all_r2"])
    problem.add_constraints(
        "alpha_share", {"x1": weight[None, :]}, alpha * float(weight.sum()), np.inf, description=words["alpha_share"]
    )
    eye = sp.identity(G, format="csr")
    rows = np.flatnonzero(r1ok)
    problem.add_constraints(
        "double_link",
        {vehicles: inc1[rows], "x1": -eye[rows], "x2": -eye[rows]},
        0.0,
        np.inf,
        relaxable=False,
        description=words["double_link"],
    )
    problem.add_constraints(
        "x2_le_x1", {"x1": -eye, "x2": eye}, -np.inf, 0.0, relaxable=False, description=words["x2_le_x1"]
    )
    return x1, x2


class BackupCoverage(LocationModel):
    r"""Double standard model (Gendreau, Laporte & Semet 1997) with integer vehicles per site.

    .. math::

        \max \sum_i w_i x^2_i \quad \text{s.t.} \quad
        \sum_{j \in N^2_i} y_j \ge 1, \quad
        \sum_i w_i x^1_i \ge \alpha \sum_i w_i, \quad
        \sum_{j \in N^1_i} y_j \ge x^1_i + x^2_i, \quad
        x^2_i \le x^1_i, \quad \sum_j y_j = p, \quad
        y_j \in \{0, \dots, p_j\}, \; x^1_i, x^2_i \in \{0, 1\}

    :math:`N^1_i`, :math:`N^2_i` are the sites within ``r1`` / ``r2`` of demand point
    ``i``; :math:`p_j` is ``max_vehicles`` (default 2, as in the paper). Capacities are per
    vehicle (site capacity :math:`\mathit{cap}_j y_j`) and apply to demand covered within
    ``r1``.

    Examples
    --------
    Two sites, three demand points; both sites are within ``r1 = 3`` of the first two, only
    site 1 of the third. Two vehicles at site 1 cover everyone twice:

    >>> import numpy as np
    >>> from healthopt.models import DSM
    >>> cost = np.array([[1.0, 2.0], [1.0, 2.0], [8.0, 1.0]])
    >>> result = DSM.from_cost_matrix(cost, [5, 5, 3], r1=3, r2=10, p_facilities=2, alpha=0.5).solve()
    >>> result.objective, result.sites["vehicles"].tolist()
    (13.0, [0, 2])
    """

    sense = "max"
    label = "double standard model"
    integer_sites = True

    def __init__(
        self,
        pairs: TravelPairs,
        weights: npt.ArrayLike | None,
        r1: float,
        r2: float,
        p_facilities: int,
        alpha: float = 0.0,
        max_vehicles: npt.ArrayLike | None = 2,
        **options: Unpack[LocationOptions],
    ) -> None:
        r1 = check_radius(r1, "r1")
        r2 = check_radius(r2, "r2")
        if r2 < r1:
            raise InputError(None, "r2", f"the outer standard ({r2:g}) must not be below r1 ({r1:g})")
        if not 0.0 <= float(alpha) <= 1.0:
            raise InputError(None, "alpha", f"must be between 0 and 1, got {alpha}")
        check_count(p_facilities, "p_facilities")
        self.r2 = r2
        self.alpha = float(alpha)
        super().__init__(
            pairs,
            weights,
            service_radius=r1,
            p_facilities=p_facilities,
            max_vehicles=max_vehicles,
            **options,
        )

    @classmethod
    def from_cost_matrix(
        cls,
        cost_matrix: Any,
        weights: npt.ArrayLike | None,
        r1: float,
        r2: float,
        p_facilities: int,
        alpha: float = 0.0,
        max_vehicles: npt.ArrayLike | None = 2,
        *,
        reachable: Any = None,
        **options: Unpack[LocationOptions],
    ) -> BackupCoverage:
        """Build from a **demand × sites** matrix."""
        pairs = TravelPairs.from_cost_matrix(cost_matrix, reachable, float(r2))
        pairs = pairs.add_covered_pairs(float(r2)).add_covered_pairs(float(r1))
        options = cost_matrix_options(options, name="dsm")
        return cls(pairs, weights, r1, r2, p_facilities, alpha, max_vehicles, **options)

    @classmethod
    def from_geodataframe(
        cls,
        demand: Any,
        sites: Any,
        *,
        r1: float,
        r2: float,
        p_facilities: int,
        alpha: float = 0.0,
        max_vehicles: npt.ArrayLike | None = 2,
        weights_col: str | None = None,
        demand_id_col: str | None = None,
        site_id_col: str | None = None,
        **options: Unpack[LocationOptions],
    ) -> BackupCoverage:
        """Build from a demand and a site GeoDataFrame (Euclidean metres; ``r1``, ``r2`` in metres)."""
        g = geo_inputs(demand, sites, weights_col=weights_col, demand_id_col=demand_id_col, site_id_col=site_id_col)
        return cls.from_cost_matrix(g.cost, g.weights, r1, r2, p_facilities, alpha, max_vehicles, **g.ids(options))

    @classmethod
    def from_travel_times(
        cls,
        tt: Any,
        weights: npt.ArrayLike | None,
        r1: float,
        r2: float,
        p_facilities: int,
        alpha: float = 0.0,
        max_vehicles: npt.ArrayLike | None = 2,
        *,
        demand_districts: npt.ArrayLike | None = None,
        site_table: pd.DataFrame | None = None,
        **options: Unpack[LocationOptions],
    ) -> BackupCoverage:
        """Build from a travel-time object (``.matrix`` sites × demand, minutes)."""
        pairs = TravelPairs.from_travel_times(tt, float(r2)).add_covered_pairs(float(r2)).add_covered_pairs(float(r1))
        opts = travel_time_options(tt, demand_districts, site_table, options)
        if "max_vehicles" in opts:
            max_vehicles = opts.pop("max_vehicles")
        return cls(pairs, weights, r1, r2, p_facilities, alpha, max_vehicles, **opts)

    def _r1(self) -> float:
        assert self.service_radius is not None  # r1, set by __init__
        return self.service_radius

    def _check_reasons(self) -> list[str]:
        reasons = super()._check_reasons()
        inc2 = self.pairs.incidence(self.pairs.within(self.r2) & self.allowed[self.pairs.site])
        reasons += unreachable_reasons(self, inc2, self.r2)
        mv = self.max_vehicles if self.max_vehicles is not None else np.full(self.n_sites, np.inf)
        room = float(np.where(self.allowed, mv, 0).sum())
        if self.p_facilities is not None and room < self.p_facilities:
            reasons.append(f"{self.p_facilities} vehicles must be placed but the allowed sites hold only {room:g}")
        if self.p_facilities is not None and int(self.fixed.sum()) > self.p_facilities:
            reasons.append(
                f"{int(self.fixed.sum())} existing stations must keep a vehicle but only "
                f"{self.p_facilities} vehicles are available"
            )
        return reasons

    def _build_core(self, prob: MilpProblem) -> CoverageSpec:
        grp = coverage_groups(self, [self.pairs.within(self._r1()), self.pairs.within(self.r2)])
        inc1, inc2 = grp["inc"]
        G = inc1.shape[0]
        prob.set_objective({}, sense="max")
        x1, _x2 = add_double_standard(prob, inc1, inc2, grp["weight"], alpha=self.alpha, r1=self._r1(), r2=self.r2)
        C = sp.csr_matrix((np.ones(G), (np.arange(G), x1.indices)), shape=(G, prob.n_vars))
        self._inc, self._inc2, self._weight = inc1, inc2, grp["weight"]
        return coverage_spec(self, grp, C, np.zeros(G), inc1)

    def heuristic_plan(self) -> HeuristicPlan | None:
        """Cover every group within r2, then add vehicles where coverage within r1 gains most.

        The gain counts a first vehicle within r1 at ``λ`` and a second at 1.

        ``λ`` (the value of a first vehicle within r1 relative to a second) is tried from 0.1
        to 64, each greedy followed by a 1-swap that keeps the r2 cover open; the best plan
        that meets the share ``alpha`` within r1 is the start. ``None`` when the cover
        already needs more than p vehicles or no λ meets ``alpha``.
        """
        if self.capacities is not None or self.budget is not None or self.min_district_share is not None:
            return None
        assert self.p_facilities is not None  # required by __init__
        t0 = time.perf_counter()
        prob = self.built_problem()
        lb, ub = prob.value(prob.lb, "y"), prob.value(prob.ub, "y")
        cover = greedy_set_cover(self._inc2, np.ones(self.n_sites), lb, ub > 0)
        if cover is None or cover.sum() > self.p_facilities:
            return None
        lower = np.maximum(lb, cover)
        need = self.alpha * float(self._weight.sum())
        best: tuple[np.ndarray, np.ndarray, int] | None = None
        best_obj = -np.inf
        for lam in (0.1, 0.5, 1.0, 4.0, 16.0, 64.0):

            def marginal(n: np.ndarray, lam: float = lam) -> np.ndarray:
                return np.where(n <= 0, lam, np.where(n <= 1, 1.0, 0.0))

            y0 = greedy_coverage(self._inc, self._weight, marginal, self.p_facilities, lower, ub)
            y1, swaps = swap_coverage(
                self._inc, self._weight, marginal, y0, lower, ub, max_seconds=self.heuristic_seconds / 4
            )
            for y, k in ((y0, 0), (y1, swaps)):  # the swap serves the λ-weighted value: keep the better
                n1 = np.asarray(self._inc @ y)
                obj1 = float(self._weight[n1 >= 2].sum())
                if float(self._weight[n1 >= 1].sum()) >= need - 1e-9 and obj1 > best_obj:
                    best, best_obj = (y0, y, k), obj1
        if best is None:
            return None
        y0, y1, swaps = best
        g0 = float(self._weight[np.asarray(self._inc @ y0) >= 2].sum())
        obj = float(self._weight[np.asarray(self._inc @ y1) >= 2].sum())
        return HeuristicPlan(y1, obj, "r2 cover + greedy + 1-swap", time.perf_counter() - t0, g0, swaps)

    def _polish_x(self, x: np.ndarray) -> np.ndarray | None:
        if self.capacities is not None:
            return None
        prob = self.built_problem()
        count = self._inc @ prob.value(x, "y")
        s1, s2 = prob.blocks["x1"].slice, prob.blocks["x2"].slice
        x[s1] = np.where(prob.ub[s1] > 0, (count >= 1).astype(float), 0.0)
        x[s2] = np.where(prob.ub[s2] > 0, (count >= 2).astype(float), 0.0)
        return x

    def _make_result(self, out: SolverOutput, details: dict[str, Any]) -> LocationResult:
        res = super()._make_result(out, details)
        if res.x is not None:
            twice = res.coverage["times_covered"].to_numpy() >= 2
            res.details["double_covered_weight"] = float(self.weights[twice].sum())
            m2 = self.pairs.within(self.r2) & (res.sites["vehicles"].to_numpy() > 0)[self.pairs.site]
            reach2 = np.zeros(self.n_demand, dtype=bool)
            reach2[self.pairs.demand[m2]] = True
            res.coverage["covered_r2"] = reach2
        return res


DSM = BackupCoverage

__all__ = ["DSM", "BackupCoverage", "add_double_standard"]
