"""Coverage models: LSCP and MCLP (the double standard model is in :mod:`~healthopt.models.double_standard`).

Both are built from the sparse pairs within the standard, in matrix form. Inputs are
**demand × sites** cost matrices (:meth:`from_cost_matrix`), travel-time objects
(:meth:`from_travel_times`, ``.matrix`` sites × demand) or a demand and a site
GeoDataFrame (:meth:`from_geodataframe`, Euclidean metres).

Problem reduction (exact): demand points with identical coverage sets (same allowed sites
within the standard; for the DSM, the same sets at both radii) and the same district are
merged into one *demand group* whose weight is the sum of its members' weights. Identical
rows give identical constraints and, in the MCLP/DSM, interchangeable coverage variables,
so the optimum is unchanged; with capacities, assignment variables are fractions of a
group's demand, so the split among the merged points is free anyway. Forbidden sites are
removed from the coverage sets first. Result tables are always per original demand point.

Kernels (:func:`add_cover_all`, :func:`add_max_coverage`, and
:func:`~healthopt.models.double_standard.add_double_standard`) add one formulation to any
:class:`~healthopt.milp.problem.MilpProblem`; the model classes and the ambulance plan both
use them. Exact reductions beyond identical rows (dominated sites, implied LSCP rows:
:func:`reduce_cover`, :mod:`healthopt.models.reduce`) and each model's start heuristic
(:mod:`healthopt.models.heuristics`) are wired in here. The double standard model (``DSM``,
``BackupCoverage``, ``add_double_standard``) lives in :mod:`healthopt.models.double_standard`.
"""

from __future__ import annotations

import time
from typing import Any, Unpack

import numpy as np
import numpy.typing as npt
import pandas as pd
import scipy.sparse as sp

from healthopt.errors import InputError
from healthopt.milp.problem import MilpProblem
from healthopt.models._geo import geo_inputs
from healthopt.models._groups import (
    capacity_reasons,
    cost_matrix_options,
    coverage_groups,
    coverage_spec,
    travel_time_options,
    unreachable_reasons,
)
from healthopt.models._validate import check_radius
from healthopt.models.base import LocationModel, LocationOptions
from healthopt.models.heuristics import (
    HeuristicPlan,
    LagrangianBound,
    coverage_plan,
    greedy_set_cover,
    mclp_lagrangian,
    mclp_marginal,
)
from healthopt.models.pairs import TravelPairs
from healthopt.models.reduce import dominated_sites, implied_rows
from healthopt.models.spec import CoverageSpec

# =========================================================================== kernels


def add_cover_all(problem: MilpProblem, inc: sp.csr_matrix, *, radius: float, block: str = "y") -> None:
    r"""Add :math:`\sum_{j \in N_g} y_j \ge 1` for every group with a site in reach.

    ``inc`` is the group × sites incidence of the allowed sites within the standard;
    groups without any are left out (the pre-solve check reports them).
    """
    nonempty = np.diff(inc.indptr) > 0
    problem.add_constraints(
        "cover_all",
        {block: inc[nonempty]},
        1.0,
        np.inf,
        description=f"covering every demand point within {radius:g} minutes",
    )


def add_max_coverage(problem: MilpProblem, inc: sp.csr_matrix, weight: np.ndarray, *, block: str = "y") -> Any:
    r"""Add the MCLP objective and link: :math:`\max \sum_g w_g x_g`, :math:`x_g \le \sum_{j \in N_g} y_j`.

    Returns the new ``x`` block (continuous in [0, 1]; at an optimum ``x_g = min(1, Σ y)``).
    """
    G = inc.shape[0]
    reach = np.diff(inc.indptr) > 0
    x = problem.add_variables("x", G, lb=0.0, ub=np.where(reach, 1.0, 0.0), obj=weight)
    problem.set_objective({"x": weight}, sense="max")
    rows = np.flatnonzero(reach)
    link_x = sp.csr_matrix((-np.ones(rows.size), (np.arange(rows.size), rows)), shape=(rows.size, G))
    problem.add_constraints(
        "coverage_link",
        {block: inc[rows], "x": link_x},
        0.0,
        np.inf,
        relaxable=False,
        description="coverage needs an open site within the standard",
    )
    return x


def reduce_cover(
    model: LocationModel,
    prob: MilpProblem,
    grp: dict[str, Any],
    within: np.ndarray,
    costs: np.ndarray,
    *,
    p: int | None,
    implied: bool,
) -> tuple[dict[str, Any], sp.csr_matrix, np.ndarray]:
    """Close dominated sites (and, for covering, find implied rows); regroup demand.

    Returns the new demand groups, their incidence and the mask of rows that need a
    covering constraint (all rows unless ``implied``). Records the counts in
    ``model.reduction``. Nothing is closed when fewer than ``p`` sites would remain.
    """
    inc = grp["inc"][0]
    n_allowed = int(model.allowed.sum())
    groups_before = inc.shape[0]
    rows = np.ones(groups_before, dtype=bool)
    keep = model.fixed | ~model.allowed
    closed = np.zeros(model.n_sites, dtype=bool)
    n_implied = 0
    for _ in range(2):  # rows and columns reduce each other; two rounds catch most of it
        dom = dominated_sites(inc[rows], costs, keep | closed) & ~closed
        if p is not None and n_allowed - int((closed | dom).sum()) < p:
            dom[:] = False
        if dom.any():
            closed |= dom
            grp = coverage_groups(model, [within], sites=~closed)
            inc = grp["inc"][0]
            rows = np.ones(inc.shape[0], dtype=bool)
        if not implied:
            break
        imp = implied_rows(inc)
        if not imp.any():
            if not dom.any():
                break
            continue
        rows = ~imp
        n_implied = int(imp.sum())
    if closed.any():
        prob.set_bounds("y", ub=0.0, index=closed)
    model.reduction = {
        "demand_points": model.n_demand,
        "demand_groups": groups_before,
        "demand_groups_after": int(inc.shape[0]),
        "rows": int(rows.sum()),
        "implied_rows": n_implied,
        "sites": n_allowed,
        "sites_after": n_allowed - int(closed.sum()),
        "dominated_sites": int(closed.sum()),
    }
    model.mark_reduced(bool(closed.any() or n_implied))
    return grp, inc, rows


# =========================================================================== LSCP


class LSCP(LocationModel):
    r"""Location set covering problem: fewest (or cheapest) sites covering all demand within T.

    .. math::

        \min \sum_j c_j y_j \quad \text{s.t.} \quad
        \sum_{j \in N_i} y_j \ge 1 \;\; \forall i, \qquad y_j \in \{0, 1\}

    with :math:`N_i = \{j : t_{ij} \le T\}` and :math:`c_j = 1` unless ``site_costs`` are
    given. Options (:class:`~healthopt.models.base.LocationOptions`): fixed / forbidden
    sites, capacities (demand assigned only to open sites within T, up to capacity; the
    weights are then the demand quantities), budget, districts (KPIs; every district is
    fully covered by definition). Demand that no allowed site reaches within T is reported
    before solving.

    Examples
    --------
    Four demand points on a line at 0, 10, 20 and 30 minutes; sites at 0, 15 and 30
    (the cost matrix is demand rows × site columns):

    >>> import numpy as np
    >>> from healthopt.models import LSCP
    >>> cost = np.abs(np.array([0, 10, 20, 30])[:, None] - np.array([0, 15, 30])[None, :])
    >>> result = LSCP.from_cost_matrix(cost, service_radius=15).solve()
    >>> result.objective, result.open_sites
    (1.0, [1])
    """

    sense = "min"
    label = "LSCP"

    def __init__(
        self,
        pairs: TravelPairs,
        service_radius: float,
        weights: npt.ArrayLike | None = None,
        **options: Unpack[LocationOptions],
    ) -> None:
        super().__init__(pairs, weights, service_radius=check_radius(service_radius, "service_radius"), **options)

    @classmethod
    def from_cost_matrix(
        cls,
        cost_matrix: Any,
        service_radius: float,
        predefined_facilities_arr: npt.ArrayLike | None = None,
        demand_quantity_arr: npt.ArrayLike | None = None,
        facility_capacity_arr: npt.ArrayLike | None = None,
        *,
        reachable: Any = None,
        **options: Unpack[LocationOptions],
    ) -> LSCP:
        """Build from a **demand × sites** matrix (spopt's argument order).

        ``reachable`` (boolean, same shape) names the pairs that exist when a sparse
        matrix lost its explicit zeros.
        """
        radius = float(service_radius)
        pairs = TravelPairs.from_cost_matrix(cost_matrix, reachable, radius).add_covered_pairs(radius)
        options = cost_matrix_options(
            options, name="lscp", fixed=predefined_facilities_arr, capacities=facility_capacity_arr
        )
        return cls(pairs, service_radius, demand_quantity_arr, **options)

    @classmethod
    def from_geodataframe(
        cls,
        demand: Any,
        sites: Any,
        *,
        service_radius: float,
        demand_quantity_col: str | None = None,
        predefined_facility_col: str | None = None,
        facility_capacity_col: str | None = None,
        demand_id_col: str | None = None,
        site_id_col: str | None = None,
        **options: Unpack[LocationOptions],
    ) -> LSCP:
        """Build from a demand and a site GeoDataFrame (Euclidean metres; ``service_radius`` in metres)."""
        g = geo_inputs(
            demand,
            sites,
            weights_col=demand_quantity_col,
            demand_id_col=demand_id_col,
            site_id_col=site_id_col,
            fixed_col=predefined_facility_col,
            capacity_col=facility_capacity_col,
        )
        return cls.from_cost_matrix(g.cost, service_radius, g.fixed, g.weights, g.capacities, **g.ids(options))

    @classmethod
    def from_travel_times(
        cls,
        tt: Any,
        weights: npt.ArrayLike | None,
        service_radius: float,
        *,
        demand_districts: npt.ArrayLike | None = None,
        site_table: pd.DataFrame | None = None,
        **options: Unpack[LocationOptions],
    ) -> LSCP:
        """Build from a travel-time object (``.matrix`` sites × demand, minutes)."""
        radius = float(service_radius)
        pairs = TravelPairs.from_travel_times(tt, radius).add_covered_pairs(radius)
        return cls(pairs, service_radius, weights, **travel_time_options(tt, demand_districts, site_table, options))

    def _radius(self) -> float:
        assert self.service_radius is not None  # set by __init__
        return self.service_radius

    def _check_reasons(self) -> list[str]:
        reasons = super()._check_reasons()
        inc = self.pairs.incidence(self.pairs.within(self._radius()) & self.allowed[self.pairs.site])
        reasons += unreachable_reasons(self, inc, self.service_radius)
        reasons += capacity_reasons(self, inc)
        return reasons

    def _costs(self) -> np.ndarray:
        return self.site_costs if self.site_costs is not None else np.ones(self.n_sites)

    def _build_core(self, prob: MilpProblem) -> CoverageSpec:
        within = self.pairs.within(self._radius())
        grp = coverage_groups(self, [within])
        inc = grp["inc"][0]
        costs = self._costs()
        prob.set_objective({"y": costs}, sense="min")
        rows = np.ones(inc.shape[0], dtype=bool)
        if self.reductions_allowed() and self.budget is None and bool((costs >= 0).all()):
            grp, inc, rows = reduce_cover(self, prob, grp, within, costs, p=None, implied=True)
        add_cover_all(prob, inc[rows], radius=self._radius())
        self._inc, self._rows = inc, rows
        G = inc.shape[0]
        return coverage_spec(self, grp, sp.csr_matrix((G, prob.n_vars)), np.ones(G), inc)

    def heuristic_plan(self) -> HeuristicPlan | None:
        """Greedy set cover (most newly covered groups per unit cost), redundant sites dropped."""
        if self.capacities is not None or self.budget is not None:
            return None
        t0 = time.perf_counter()
        prob = self.built_problem()
        lb, ub = prob.value(prob.lb, "y"), prob.value(prob.ub, "y")
        costs = self._costs()
        y = greedy_set_cover(self._inc[self._rows], costs, lb, ub > 0)
        if y is None:
            return None
        obj = float(costs @ y)
        return HeuristicPlan(y, obj, "greedy set cover", time.perf_counter() - t0, obj)


# =========================================================================== MCLP


class MCLP(LocationModel):
    r"""Maximal covering location problem: most demand weight covered within T by p sites.

    .. math::

        \max \sum_g w_g x_g \quad \text{s.t.} \quad
        x_g \le \sum_{j \in N_g} y_j, \quad \sum_j y_j = p, \quad
        0 \le x_g \le 1, \quad y_j \in \{0, 1\}

    (``x`` may be continuous: at an optimum it equals :math:`\min(1, \sum y)`). With
    ``site_costs`` and ``budget``, :math:`\sum_j c_j y_j \le B` is added
    (``p_facilities=None`` drops the site count: most coverage for the budget). Capacities
    add assignment variables (covered demand is served only by open sites within T, up to
    capacity; ``x_g`` then is the served fraction). ``min_district_share`` / ``equity`` act
    on district covered shares.

    Examples
    --------
    >>> import numpy as np
    >>> from healthopt.models import MCLP
    >>> cost = np.abs(np.array([0, 10, 20, 30])[:, None] - np.array([0, 15, 30])[None, :])
    >>> weights = np.array([10, 20, 30, 40])
    >>> result = MCLP.from_cost_matrix(cost, weights, service_radius=5, p_facilities=1).solve()
    >>> result.objective, result.open_sites
    (50.0, [1])
    >>> result
    LocationResult(status='optimal', objective=50, open_sites=1)
    """

    sense = "max"
    label = "MCLP"

    def __init__(
        self,
        pairs: TravelPairs,
        weights: npt.ArrayLike | None,
        service_radius: float,
        p_facilities: int | None,
        **options: Unpack[LocationOptions],
    ) -> None:
        if p_facilities is None and options.get("budget") is None:
            raise InputError(None, "p_facilities", "give the number of sites, or site_costs and a budget")
        super().__init__(
            pairs,
            weights,
            service_radius=check_radius(service_radius, "service_radius"),
            p_facilities=p_facilities,
            **options,
        )

    @classmethod
    def from_cost_matrix(
        cls,
        cost_matrix: Any,
        weights: npt.ArrayLike | None,
        service_radius: float,
        p_facilities: int | None,
        predefined_facilities_arr: npt.ArrayLike | None = None,
        facility_capacity_arr: npt.ArrayLike | None = None,
        *,
        reachable: Any = None,
        **options: Unpack[LocationOptions],
    ) -> MCLP:
        """Build from a **demand × sites** matrix (spopt's argument order)."""
        radius = float(service_radius)
        pairs = TravelPairs.from_cost_matrix(cost_matrix, reachable, radius).add_covered_pairs(radius)
        options = cost_matrix_options(
            options, name="mclp", fixed=predefined_facilities_arr, capacities=facility_capacity_arr
        )
        return cls(pairs, weights, service_radius, p_facilities, **options)

    @classmethod
    def from_geodataframe(
        cls,
        demand: Any,
        sites: Any,
        *,
        service_radius: float,
        p_facilities: int | None,
        weights_col: str | None = None,
        predefined_facility_col: str | None = None,
        facility_capacity_col: str | None = None,
        demand_id_col: str | None = None,
        site_id_col: str | None = None,
        **options: Unpack[LocationOptions],
    ) -> MCLP:
        """Build from a demand and a site GeoDataFrame (Euclidean metres; ``service_radius`` in metres).

        Examples
        --------
        >>> import geopandas as gpd
        >>> from shapely.geometry import Point
        >>> demand = gpd.GeoDataFrame(
        ...     {"people": [10, 20, 30, 40]},
        ...     geometry=[Point(x, 0) for x in (0, 1000, 2000, 3000)],
        ...     crs="EPSG:32649",
        ... )
        >>> sites = gpd.GeoDataFrame(
        ...     {"name": ["west", "middle", "east"]},
        ...     geometry=[Point(x, 0) for x in (0, 1500, 3000)],
        ...     crs="EPSG:32649",
        ... )
        >>> model = MCLP.from_geodataframe(
        ...     demand, sites, service_radius=500, p_facilities=1, weights_col="people", site_id_col="name"
        ... )
        >>> model.solve().open_sites
        ['middle']
        """
        g = geo_inputs(
            demand,
            sites,
            weights_col=weights_col,
            demand_id_col=demand_id_col,
            site_id_col=site_id_col,
            fixed_col=predefined_facility_col,
            capacity_col=facility_capacity_col,
        )
        return cls.from_cost_matrix(
            g.cost, g.weights, service_radius, p_facilities, g.fixed, g.capacities, **g.ids(options)
        )

    @classmethod
    def from_travel_times(
        cls,
        tt: Any,
        weights: npt.ArrayLike | None,
        service_radius: float,
        p_facilities: int | None = None,
        *,
        demand_districts: npt.ArrayLike | None = None,
        site_table: pd.DataFrame | None = None,
        **options: Unpack[LocationOptions],
    ) -> MCLP:
        """Build from a travel-time object (``.matrix`` sites × demand, minutes)."""
        radius = float(service_radius)
        pairs = TravelPairs.from_travel_times(tt, radius).add_covered_pairs(radius)
        opts = travel_time_options(tt, demand_districts, site_table, options)
        return cls(pairs, weights, service_radius, p_facilities, **opts)

    def _build_core(self, prob: MilpProblem) -> CoverageSpec:
        assert self.service_radius is not None  # set by __init__
        within = self.pairs.within(self.service_radius)
        grp = coverage_groups(self, [within])
        inc = grp["inc"][0]
        costs = self.site_costs if self.site_costs is not None else np.ones(self.n_sites)
        if (
            self.reductions_allowed()
            and (self.budget is None or self.p_facilities is None)
            and bool((costs >= 0).all())
        ):
            grp, inc, _ = reduce_cover(self, prob, grp, within, costs, p=self.p_facilities, implied=False)
        G = inc.shape[0]
        x = add_max_coverage(prob, inc, grp["weight"])
        C = sp.csr_matrix((np.ones(G), (np.arange(G), x.indices)), shape=(G, prob.n_vars))
        self._inc, self._weight = inc, grp["weight"]
        return coverage_spec(self, grp, C, np.zeros(G), inc)

    def heuristic_plan(self) -> HeuristicPlan | None:
        """Greedy (largest marginal covered weight) then best-improvement 1-swap."""
        if (
            self.capacities is not None
            or self.budget is not None
            or self.p_facilities is None
            or self.min_district_share is not None
        ):
            return None
        prob = self.built_problem()
        lb, ub = prob.value(prob.lb, "y"), prob.value(prob.ub, "y")
        return coverage_plan(
            self._inc, self._weight, mclp_marginal, self.p_facilities, lb, ub, max_n=1,
            max_seconds=self.heuristic_seconds,
        )

    def dual_bound(self, incumbent: float) -> float | None:
        """Lagrangian bound on the coverage links (:func:`~healthopt.models.heuristics.mclp_lagrangian_bound`)."""
        lag = self._relax(self.built_problem(), incumbent)
        self._lagrangian = lag
        return None if lag is None else lag.bound

    def _relax(self, prob: MilpProblem, incumbent: float) -> LagrangianBound | None:
        """Return the Lagrangian relaxation of ``prob`` with its site bounds."""
        if self.p_facilities is None:
            return None
        lb, ub = prob.value(prob.lb, "y"), prob.value(prob.ub, "y")
        return mclp_lagrangian(
            self._inc, self._weight, self.p_facilities, lb, ub, incumbent, max_seconds=self.heuristic_seconds
        )

    def _polish_x(self, x: np.ndarray) -> np.ndarray | None:
        if self.capacities is not None:
            return None
        prob = self.built_problem()
        count = self._inc @ prob.value(x, "y")
        xs = prob.blocks["x"].slice
        x[xs] = np.maximum(x[xs], np.minimum(1.0, count) * (prob.ub[xs] > 0))
        return x


__all__ = ["LSCP", "MCLP", "add_cover_all", "add_max_coverage"]
