r"""MEXCLP — maximum expected covering location problem (Daskin 1983).

Each vehicle is busy with probability ``q``. A demand point covered by ``n`` vehicles
within the standard is served with probability :math:`1 - q^n`. With :math:`u_{ik}` =
"demand group i is covered by at least k vehicles":

.. math::

    \max \sum_i w_i \sum_k (1-q) q^{k-1} u_{ik} \quad \text{s.t.} \quad
    \sum_k u_{ik} \le \sum_{j \in N_i} y_j, \quad \sum_j y_j = p, \quad
    0 \le u_{ik} \le 1, \quad y_j \in \{0, \dots, k^{\max}_j\}

``u`` may be continuous: the coefficients fall with ``k``, so an optimum fills levels in
order. Demand points with identical coverage sets are merged (see
:mod:`healthopt.models.coverage`).

:func:`add_expected_coverage` is the kernel: it adds the levels, their objective and the
link rows to any :class:`~healthopt.milp.problem.MilpProblem` whose vehicle block is
given, so the ambulance plan (:mod:`healthopt.plans.ambulances`) and :class:`MEXCLP` share
one formulation.
"""

from __future__ import annotations

from typing import Any, Unpack

import numpy as np
import numpy.typing as npt
import pandas as pd
import scipy.sparse as sp

from healthopt.errors import InputError
from healthopt.milp.problem import MilpProblem, VarBlock
from healthopt.models._geo import geo_inputs
from healthopt.models._groups import cost_matrix_options, coverage_groups, coverage_spec, travel_time_options
from healthopt.models._validate import check_count, check_radius
from healthopt.models.base import LocationModel, LocationOptions
from healthopt.models.heuristics import HeuristicPlan, coverage_plan, mexclp_marginal
from healthopt.models.pairs import TravelPairs
from healthopt.models.spec import CoverageSpec


def expected_coverage_gain(busy_fraction: float, levels: int) -> np.ndarray:
    r"""Return :math:`(1-q) q^{k}` for ``k = 0 .. levels-1``: the gain of the (k+1)-th vehicle."""
    q = float(busy_fraction)
    return np.array([(1 - q) * q**k for k in range(int(levels))])


def level_layout(levels: npt.ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Return where each group's levels start in a level block, and each position's 0-based level.

    The level block holds the groups one after the other, ``levels[g]`` positions each.

    Examples
    --------
    >>> starts, k = level_layout([2, 0, 3])
    >>> starts.tolist(), k.tolist()
    ([0, 2, 2], [0, 1, 0, 1, 2])
    """
    levels = np.asarray(levels, dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(levels)[:-1]]).astype(np.int64) if levels.size else np.zeros(0, np.int64)
    return starts, np.arange(int(levels.sum())) - np.repeat(starts, levels)


def levels_needed(busy_fraction: float | np.ndarray, *, tail: float = 1e-6) -> np.ndarray:
    r"""Return the fewest levels :math:`L` whose uncounted tail :math:`q^L` is at most ``tail``.

    Levels beyond :math:`L` together add at most :math:`\sum_{k \ge L}(1-q)q^k = q^L` of a
    group's weight, so cutting there loses less than ``tail`` of it (at least one level).

    Examples
    --------
    >>> levels_needed(0.3).tolist(), levels_needed(0.05).tolist()
    (12, 5)
    """
    q = np.clip(np.asarray(busy_fraction, dtype=float), 1e-12, 1.0 - 1e-12)
    return np.maximum(np.ceil(np.log(tail) / np.log(q) - 1e-12), 1).astype(np.int64)


def add_expected_coverage(
    problem: MilpProblem,
    cover: sp.csr_matrix,
    weight: np.ndarray,
    levels: np.ndarray,
    busy_fraction: float | np.ndarray,
    *,
    correction: np.ndarray | None = None,
    vehicles: str = "y",
    block: str = "u",
    group: str = "expected_link",
    description: str = "coverage levels need vehicles within the standard",
) -> VarBlock:
    r"""Add MEXCLP levels :math:`u_{gk}`, their objective and :math:`\sum_k u_{gk} \le \sum_{j \in N_g} v_j`.

    Parameters
    ----------
    problem : MilpProblem
        Problem holding the vehicle block ``vehicles`` (one variable per site).
    cover : scipy.sparse.csr_matrix
        Group × sites incidence of the sites within the standard.
    weight : numpy.ndarray
        Weight of each group.
    levels : numpy.ndarray of int
        Number of levels ``k`` of each group (0 leaves the group out).
    busy_fraction : float or numpy.ndarray
        Probability ``q`` that a vehicle is busy: one for all groups, or one per group
        (``q_g``, e.g. the busy probabilities of the stations that reach the group, as in the
        adjusted MEXCLP of Batta, Dolan & Krishnamurthy 1989).
    correction : numpy.ndarray, optional
        ``(G, max(levels))`` factors multiplying each level's gain (Larson's correction
        :math:`Q(N, \rho, k)` of the adjusted MEXCLP); default 1.
    vehicles, block, group, description : str
        Names of the vehicle block, the new level block and the new row group.

    Returns
    -------
    VarBlock
        The level block, ordered group by group, level by level.
    """
    levels = np.asarray(levels, dtype=np.int64)
    G = cover.shape[0]
    total = int(levels.sum())
    g_of = np.repeat(np.arange(G), levels)
    _, k_of = level_layout(levels)  # 0-based level
    kmax = int(levels.max()) if G else 0
    q = np.asarray(busy_fraction, dtype=float)
    if q.ndim == 0:
        gain = np.broadcast_to(expected_coverage_gain(float(q), kmax), (G, kmax))
    else:  # per group: (1 - q_g) q_g^k
        gain = (1.0 - q)[:, None] * q[:, None] ** np.arange(kmax)[None, :]
    if correction is not None:
        gain = gain * np.asarray(correction, dtype=float)[:, :kmax]
    coef = weight[g_of] * gain[g_of, k_of]
    u = problem.add_variables(block, total, lb=0.0, ub=1.0, obj=coef)
    rows = np.flatnonzero(levels > 0)
    row_of = np.full(G, -1)
    row_of[rows] = np.arange(rows.size)
    U = sp.csr_matrix((np.ones(total), (row_of[g_of], np.arange(total))), shape=(rows.size, total))
    problem.add_constraints(
        group,
        {block: U, vehicles: -cover[rows]},
        -np.inf,
        0.0,
        relaxable=False,
        description=description,
    )
    return u


class MEXCLP(LocationModel):
    r"""Maximum expected covering location problem (Daskin 1983).

    .. math::

        \max \sum_i w_i \sum_{k=1}^{K_i} (1-q) q^{k-1} u_{ik} \quad \text{s.t.} \quad
        \sum_k u_{ik} \le \sum_{j \in N_i} y_j, \quad \sum_j y_j = p, \quad
        0 \le u_{ik} \le 1, \quad y_j \in \{0, \dots, k^{\max}_j\}

    :math:`u_{ik}`: demand group ``i`` is covered by at least ``k`` vehicles within the
    standard; levels :math:`K_i` stop at what the group's sites can hold (and at ``p``).

    Parameters
    ----------
    pairs : TravelPairs
        Reachable site–demand pairs.
    weights : array-like
        Demand weight of each demand point.
    service_radius : float
        Coverage standard ``T``.
    p_facilities : int
        Vehicles to place.
    busy_fraction : float
        Probability ``q`` in [0, 1) that a vehicle is unavailable.
    max_vehicles : int or array, optional
        Vehicles a site can hold (default: ``p_facilities``).
    **options
        :class:`~healthopt.models.base.LocationOptions`. Capacities, if given, are per
        vehicle and apply to demand covered at least once.

    Examples
    --------
    Demand 0 (weight 10) is near site 0, demand 1 (weight 1) near site 1; with ``q = 0.5``
    two vehicles at site 0 give ``10 × (1 - 0.5²) = 7.5``, more than one at each (5.5):

    >>> import numpy as np
    >>> from healthopt.models import MEXCLP
    >>> cost = np.array([[1.0, 9.0], [9.0, 1.0]])
    >>> model = MEXCLP.from_cost_matrix(cost, [10, 1], 5, 2, busy_fraction=0.5, max_vehicles=2)
    >>> result = model.solve()
    >>> result.objective, result.sites["vehicles"].tolist()
    (7.5, [2, 0])
    """

    sense = "max"
    label = "MEXCLP"
    integer_sites = True

    def __init__(
        self,
        pairs: TravelPairs,
        weights: npt.ArrayLike | None,
        service_radius: float,
        p_facilities: int,
        busy_fraction: float,
        max_vehicles: npt.ArrayLike | None = None,
        **options: Unpack[LocationOptions],
    ) -> None:
        q = float(busy_fraction)
        if not 0.0 <= q < 1.0:
            raise InputError(None, "busy_fraction", f"must be in [0, 1), got {busy_fraction}")
        self.busy_fraction = q
        self.vehicles = int(check_count(p_facilities, "p_facilities") or 0)
        super().__init__(
            pairs,
            weights,
            service_radius=check_radius(service_radius, "service_radius"),
            p_facilities=p_facilities,
            max_vehicles=max_vehicles,
            **options,
        )
        self.radius = float(service_radius)

    @classmethod
    def from_cost_matrix(
        cls,
        cost_matrix: Any,
        weights: npt.ArrayLike | None,
        service_radius: float,
        p_facilities: int,
        busy_fraction: float,
        max_vehicles: npt.ArrayLike | None = None,
        *,
        reachable: Any = None,
        **options: Unpack[LocationOptions],
    ) -> MEXCLP:
        """Build from a **demand × sites** matrix."""
        radius = float(service_radius)
        pairs = TravelPairs.from_cost_matrix(cost_matrix, reachable, radius).add_covered_pairs(radius)
        options = cost_matrix_options(options, name="mexclp")
        return cls(pairs, weights, service_radius, p_facilities, busy_fraction, max_vehicles, **options)

    @classmethod
    def from_geodataframe(
        cls,
        demand: Any,
        sites: Any,
        *,
        service_radius: float,
        p_facilities: int,
        busy_fraction: float,
        max_vehicles: npt.ArrayLike | None = None,
        weights_col: str | None = None,
        demand_id_col: str | None = None,
        site_id_col: str | None = None,
        **options: Unpack[LocationOptions],
    ) -> MEXCLP:
        """Build from a demand and a site GeoDataFrame (Euclidean metres; ``service_radius`` in metres)."""
        g = geo_inputs(demand, sites, weights_col=weights_col, demand_id_col=demand_id_col, site_id_col=site_id_col)
        return cls.from_cost_matrix(
            g.cost, g.weights, service_radius, p_facilities, busy_fraction, max_vehicles, **g.ids(options)
        )

    @classmethod
    def from_travel_times(
        cls,
        tt: Any,
        weights: npt.ArrayLike | None,
        service_radius: float,
        p_facilities: int,
        busy_fraction: float,
        max_vehicles: npt.ArrayLike | None = None,
        *,
        demand_districts: npt.ArrayLike | None = None,
        site_table: pd.DataFrame | None = None,
        **options: Unpack[LocationOptions],
    ) -> MEXCLP:
        """Build from a travel-time object (``.matrix`` sites × demand, minutes)."""
        pairs = TravelPairs.from_travel_times(tt, float(service_radius)).add_covered_pairs(float(service_radius))
        opts = travel_time_options(tt, demand_districts, site_table, options)
        if "max_vehicles" in opts:
            max_vehicles = opts.pop("max_vehicles")
        return cls(pairs, weights, service_radius, p_facilities, busy_fraction, max_vehicles, **opts)

    def _check_reasons(self) -> list[str]:
        reasons = super()._check_reasons()
        p = self.vehicles
        if int(self.fixed.sum()) > p:
            reasons.append(
                f"{int(self.fixed.sum())} existing stations must keep a vehicle but only {p} vehicles are available"
            )
        mv = self.max_vehicles if self.max_vehicles is not None else np.full(self.n_sites, np.inf)
        room = float(np.where(self.allowed, mv, 0).sum())
        if room < p:
            reasons.append(f"{p} vehicles must be placed but the allowed sites hold only {room:g}")
        return reasons

    def _build_core(self, prob: MilpProblem) -> CoverageSpec:
        grp = coverage_groups(self, [self.pairs.within(self.radius)])
        inc = grp["inc"][0]
        G = inc.shape[0]
        p = self.vehicles
        mv = self.max_vehicles if self.max_vehicles is not None else np.full(self.n_sites, float(p))
        # levels per group stop at what its sites can hold (and at p)
        hold = inc @ np.minimum(np.where(self.allowed, mv, 0.0), p)
        levels = np.minimum(hold, p).astype(np.int64)
        u = add_expected_coverage(prob, inc, grp["weight"], levels, self.busy_fraction)
        prob.set_objective({"u": prob.obj[u.slice]}, sense="max")
        g_of = np.repeat(np.arange(G), levels)
        first = level_layout(levels)[0][levels > 0]
        C = sp.csr_matrix((np.ones(first.size), (g_of[first], u.start + first)), shape=(G, prob.n_vars))
        self._inc, self._weight, self._levels = inc, grp["weight"], levels
        return coverage_spec(self, grp, C, np.zeros(G), inc)

    def heuristic_plan(self) -> HeuristicPlan | None:
        """Greedy (vehicle of largest marginal expected coverage) then best-improvement 1-swap."""
        if self.capacities is not None or self.budget is not None or self.min_district_share is not None:
            return None
        prob = self.built_problem()
        return coverage_plan(
            self._inc,
            self._weight,
            mexclp_marginal(self.busy_fraction),
            self.vehicles,
            prob.value(prob.lb, "y"),
            prob.value(prob.ub, "y"),
            max_n=self.vehicles,
            max_seconds=self.heuristic_seconds,
        )

    def _fill_start(self, x: np.ndarray) -> np.ndarray | None:
        """Fill levels ``u_gk = 1`` for ``k`` below the vehicles within the standard of group g."""
        if self.capacities is not None:
            return None
        prob = self.built_problem()
        n = np.asarray(self._inc @ prob.value(x, "y"), dtype=float)
        levels = self._levels
        g_of = np.repeat(np.arange(levels.size), levels)
        _, k_of = level_layout(levels)
        x[prob.blocks["u"].slice] = (k_of < n[g_of]).astype(float)
        return x

    def expected_coverage(self, vehicles: npt.ArrayLike) -> float:
        r"""Return the expected covered weight :math:`\sum_i w_i (1 - q^{n_i})` of a vehicle vector."""
        v = np.asarray(vehicles, dtype=float)
        m = self.pairs.within(self.radius)
        n = np.bincount(self.pairs.demand[m], weights=v[self.pairs.site[m]], minlength=self.n_demand)
        return float((self.weights * (1.0 - self.busy_fraction**n)).sum())


__all__ = ["MEXCLP", "add_expected_coverage", "expected_coverage_gain", "level_layout", "levels_needed"]
