"""Coverage models: LSCP, MCLP and the double standard (backup coverage) model.

All three are built from the sparse pairs within the standard, in matrix form.

Problem reduction (exact): demand points with identical coverage sets (same allowed sites
within the standard; for the DSM, the same sets at both radii) and the same district are
merged into one *demand group* whose weight is the sum of its members' weights. Identical
rows give identical constraints and, in the MCLP/DSM, interchangeable coverage variables,
so the optimum is unchanged; with capacities, assignment variables are fractions of a
group's demand, so the split among the merged points is free anyway. Forbidden sites are
removed from the coverage sets first. Result tables are always per original demand point.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from healthopt.errors import InputError
from healthopt.models.base import (
    CoverageSpec,
    LocationModel,
    MilpProblem,
    TravelPairs,
    _check_count,
    _check_radius,
    group_identical_rows,
    site_table_options,
)


def _district_codes(model: LocationModel) -> np.ndarray | None:
    if model.districts is None:
        return None
    return np.unique(model.districts.astype(str), return_inverse=True)[1]


def coverage_groups(model: LocationModel, masks: list[np.ndarray]) -> dict[str, Any]:
    """Merge demand points with identical coverage sets (one set per mask) and district.

    Returns ``group`` (demand -> group), ``reps``, ``weight`` per group and, for each mask,
    the group × sites incidence of allowed sites.
    """
    allowed_pair = model.allowed[model.pairs.site]
    incs = [model.pairs.incidence(m & allowed_pair) for m in masks]
    key_matrix = incs[0] if len(incs) == 1 else sp.hstack(incs, format="csr")
    group, reps = group_identical_rows(key_matrix, _district_codes(model))
    weight = np.bincount(group, weights=model.weights, minlength=reps.size)
    return {"group": group, "reps": reps, "weight": weight, "inc": [inc[reps] for inc in incs]}


def _unreachable_reason(model: LocationModel, inc_points: sp.csr_matrix, radius: float | None) -> list[str]:
    counts = np.diff(inc_points.indptr)
    bad = np.flatnonzero(counts == 0)
    if bad.size == 0:
        return []
    w = float(model.weights[bad].sum())
    ids = ", ".join(str(v) for v in model.demand_ids[bad[:5]].tolist())
    more = f" and {bad.size - 5} more" if bad.size > 5 else ""
    within = "" if radius is None else f" within {radius:g} minutes"
    return [
        f"{bad.size} demand points (weight {w:g}) cannot be reached{within} from any allowed "
        f"site (e.g. demand {ids}{more}); add candidate sites near them, allow forbidden "
        "sites, or relax the standard"
    ]


def _capacity_reasons(model: LocationModel, inc_points: sp.csr_matrix) -> list[str]:
    if model.capacities is None:
        return []
    cap = np.where(model.allowed, model.capacities, 0.0)
    reasons = []
    total_w, total_c = float(model.weights.sum()), float(cap.sum())
    if total_w > total_c + 1e-9:
        reasons.append(
            f"total demand {total_w:g} exceeds the total capacity {total_c:g} of all "
            "allowed sites; add capacity or candidate sites"
        )
    reach = inc_points @ cap
    bad = np.flatnonzero(model.weights > reach + 1e-9)
    if bad.size:
        ids = ", ".join(str(v) for v in model.demand_ids[bad[:5]].tolist())
        reasons.append(
            f"{bad.size} demand points need more than the combined capacity of the "
            f"sites within the standard (e.g. demand {ids})"
        )
    return reasons


def _spec(
    model: LocationModel, grp: dict[str, Any], C: sp.csr_matrix, c0: np.ndarray, inc: sp.csr_matrix
) -> CoverageSpec:
    coo = inc.tocoo()
    return CoverageSpec(
        sp.csr_matrix(C),
        c0,
        grp["group"],
        grp["weight"],
        coo.row.astype(np.int64),
        coo.col.astype(np.int64),
    )


class _CoverageBase(LocationModel):
    """Shared constructors for the coverage models."""

    @classmethod
    def _pairs_from_cost_matrix(cls, cost_matrix: Any, reachable: Any) -> TravelPairs:
        return TravelPairs.from_cost_matrix(cost_matrix, reachable)

    @staticmethod
    def _tt_kwargs(tt: Any, demand_districts: Any, site_table: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
        out = dict(site_table_options(site_table, getattr(tt, "site_ids", None)))
        out.update(kwargs)
        if getattr(tt, "site_ids", None) is not None:
            out.setdefault("site_ids", tt.site_ids)
        if getattr(tt, "demand_ids", None) is not None:
            out.setdefault("demand_ids", tt.demand_ids)
        if demand_districts is not None:
            out["districts"] = demand_districts
        return out


# =========================================================================== LSCP


class LSCP(_CoverageBase):
    """Location set covering problem: fewest (or cheapest) sites covering all demand within T.

    ``min Σ_j c_j y_j  s.t.  Σ_{j ∈ N_i} y_j >= 1  ∀ demand group i`` with ``c_j = 1`` unless
    ``site_costs`` are given. Options: fixed / forbidden sites, capacities (demand
    assigned only to open sites within T, up to capacity; weights are the demand
    quantities), budget, districts (KPIs; every district is fully covered by definition).
    Demand that no allowed site reaches within T is reported before solving.
    """

    sense = "min"
    label = "LSCP"

    def __init__(self, pairs: TravelPairs, service_radius: float, weights: Any = None, **options: Any):
        super().__init__(
            pairs,
            weights,
            service_radius=_check_radius(service_radius, "service_radius"),
            **options,
        )

    @classmethod
    def from_cost_matrix(
        cls,
        cost_matrix: Any,
        service_radius: float,
        predefined_facilities_arr: Any = None,
        demand_quantity_arr: Any = None,
        facility_capacity_arr: Any = None,
        name: str = "lscp",
        **options: Any,
    ) -> LSCP:
        """Build from a **demand × facilities** matrix (spopt's argument order).

        ``options``: ``reachable``, ``site_ids``, ``demand_ids``, ``fixed_sites``,
        ``forbidden_sites``, ``site_costs``, ``budget``, ``districts``,
        ``min_district_share``, ``equity``.
        """
        reachable = options.pop("reachable", None)
        pairs = TravelPairs.from_cost_matrix(cost_matrix, reachable, float(service_radius))
        if predefined_facilities_arr is not None:
            options.setdefault("fixed_sites", np.asarray(predefined_facilities_arr).astype(bool))
        if facility_capacity_arr is not None:
            options.setdefault("capacities", facility_capacity_arr)
        pairs = pairs.add_covered_pairs(float(service_radius))
        return cls(pairs, service_radius, demand_quantity_arr, name=name, **options)

    @classmethod
    def from_travel_times(
        cls,
        tt: Any,
        weights: Any,
        service_radius: float,
        *,
        demand_districts: Any = None,
        site_table: Any = None,
        **options: Any,
    ) -> LSCP:
        """Build from a travel-time object (``.matrix`` sites × demand, minutes)."""
        pairs = TravelPairs.from_travel_times(tt, float(service_radius))
        pairs = pairs.add_covered_pairs(float(service_radius))
        opts = cls._tt_kwargs(tt, demand_districts, site_table, options)
        return cls(pairs, service_radius, weights, **opts)

    def _within(self) -> np.ndarray:
        return self.pairs.within(self.service_radius)

    def _check_reasons(self) -> list[str]:
        reasons = super()._check_reasons()
        inc = self.pairs.incidence(self._within() & self.allowed[self.pairs.site])
        reasons += _unreachable_reason(self, inc, self.service_radius)
        reasons += _capacity_reasons(self, inc)
        return reasons

    def _build_core(self, prob: MilpProblem) -> CoverageSpec:
        grp = coverage_groups(self, [self._within()])
        inc = grp["inc"][0]
        costs = self.site_costs if self.site_costs is not None else np.ones(self.n_sites)
        prob.set_objective({"y": costs}, sense="min")
        nonempty = np.diff(inc.indptr) > 0
        prob.add_constraints(
            "cover_all",
            {"y": inc[nonempty]},
            1.0,
            np.inf,
            description=f"covering every demand point within {self.service_radius:g} minutes",
        )
        G = inc.shape[0]
        C = sp.csr_matrix((G, prob.n_vars))
        return _spec(self, grp, C, np.ones(G), inc)


# =========================================================================== MCLP


class MCLP(_CoverageBase):
    """Maximal covering location problem: most demand weight covered within T by p sites.

    ``max Σ_g w_g x_g  s.t.  x_g <= Σ_{j ∈ N_g} y_j,  Σ_j y_j = p,  0 <= x_g <= 1``
    (``x`` may be continuous: at an optimum it equals ``min(1, Σ y)``). With ``site_costs``
    and ``budget``, ``Σ c_j y_j <= budget`` is added (``p_facilities=None`` drops the site
    count: most coverage for the budget). Capacities add assignment variables (covered
    demand is served only by open sites within T, up to capacity; ``x_g`` then is the
    served fraction). ``min_district_share`` / ``equity`` act on district covered shares.
    """

    sense = "max"
    label = "MCLP"

    def __init__(
        self,
        pairs: TravelPairs,
        weights: Any,
        service_radius: float,
        p_facilities: int | None,
        **options: Any,
    ):
        if p_facilities is None and options.get("budget") is None:
            raise InputError(None, "p_facilities", "give the number of sites, or site_costs and a budget")
        super().__init__(
            pairs,
            weights,
            service_radius=_check_radius(service_radius, "service_radius"),
            p_facilities=p_facilities,
            **options,
        )

    @classmethod
    def from_cost_matrix(
        cls,
        cost_matrix: Any,
        weights: Any,
        service_radius: float,
        p_facilities: int | None,
        predefined_facilities_arr: Any = None,
        name: str = "mclp",
        **options: Any,
    ) -> MCLP:
        """Build from a **demand × facilities** matrix (spopt's argument order).

        ``options``: ``reachable``, ``site_ids``, ``demand_ids``, ``fixed_sites``,
        ``forbidden_sites``, ``capacities`` (alias ``facility_capacity_arr``),
        ``site_costs``, ``budget``, ``districts``, ``min_district_share``, ``equity``.
        """
        reachable = options.pop("reachable", None)
        if "facility_capacity_arr" in options:
            options.setdefault("capacities", options.pop("facility_capacity_arr"))
        pairs = TravelPairs.from_cost_matrix(cost_matrix, reachable, float(service_radius))
        pairs = pairs.add_covered_pairs(float(service_radius))
        if predefined_facilities_arr is not None:
            options.setdefault("fixed_sites", np.asarray(predefined_facilities_arr).astype(bool))
        return cls(pairs, weights, service_radius, p_facilities, name=name, **options)

    @classmethod
    def from_travel_times(
        cls,
        tt: Any,
        weights: Any,
        service_radius: float,
        p_facilities: int | None = None,
        *,
        demand_districts: Any = None,
        site_table: Any = None,
        **options: Any,
    ) -> MCLP:
        """Build from a travel-time object (``.matrix`` sites × demand, minutes)."""
        pairs = TravelPairs.from_travel_times(tt, float(service_radius))
        pairs = pairs.add_covered_pairs(float(service_radius))
        opts = cls._tt_kwargs(tt, demand_districts, site_table, options)
        return cls(pairs, weights, service_radius, p_facilities, **opts)

    def _build_core(self, prob: MilpProblem) -> CoverageSpec:
        grp = coverage_groups(self, [self.pairs.within(self.service_radius)])
        inc = grp["inc"][0]
        G = inc.shape[0]
        reach = np.diff(inc.indptr) > 0
        x = prob.add_variables("x", G, lb=0.0, ub=np.where(reach, 1.0, 0.0), obj=grp["weight"])
        prob.set_objective({"x": grp["weight"]}, sense="max")
        rows = np.flatnonzero(reach)
        link_x = sp.csr_matrix((-np.ones(rows.size), (np.arange(rows.size), rows)), shape=(rows.size, G))
        prob.add_constraints(
            "coverage_link",
            {"y": inc[rows], "x": link_x},
            0.0,
            np.inf,
            relaxable=False,
            description="coverage needs an open site within the standard",
        )
        C = sp.csr_matrix((np.ones(G), (np.arange(G), x.indices)), shape=(G, prob.n_vars))
        self._inc = inc
        return _spec(self, grp, C, np.zeros(G), inc)

    def _polish_x(self, x: np.ndarray) -> np.ndarray | None:
        if self.capacities is not None:
            return None
        prob = self.problem
        count = self._inc @ prob.value(x, "y")
        xs = prob.blocks["x"].slice
        x[xs] = np.maximum(x[xs], np.minimum(1.0, count) * (prob.ub[xs] > 0))
        return x


# =========================================================================== DSM


class BackupCoverage(_CoverageBase):
    """Double standard model (Gendreau, Laporte & Semet 1997) with integer vehicles per site.

    ``max Σ_i w_i x2_i`` subject to: every demand point within ``r2`` of a vehicle
    (``Σ_{N2_i} y_j >= 1``); covered share within ``r1`` at least ``alpha``
    (``Σ w_i x1_i >= alpha Σ w_i``); ``Σ_{N1_i} y_j >= x1_i + x2_i``; ``x2_i <= x1_i``;
    ``Σ_j y_j = p``; ``0 <= y_j <= p_j`` integer (``max_vehicles``; default 2 as in the
    paper); ``x1, x2`` binary. Capacities are per vehicle (site capacity ``cap_j·y_j``)
    and apply to demand covered within ``r1``.
    """

    sense = "max"
    label = "double standard model"
    integer_sites = True

    def __init__(
        self,
        pairs: TravelPairs,
        weights: Any,
        r1: float,
        r2: float,
        p_facilities: int,
        alpha: float = 0.0,
        max_vehicles: Any = 2,
        **options: Any,
    ):
        r1 = _check_radius(r1, "r1")
        r2 = _check_radius(r2, "r2")
        if r2 < r1:
            raise InputError(None, "r2", f"the outer standard ({r2:g}) must not be below r1 ({r1:g})")
        if not 0.0 <= float(alpha) <= 1.0:
            raise InputError(None, "alpha", f"must be between 0 and 1, got {alpha}")
        _check_count(p_facilities, "p_facilities")
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
        weights: Any,
        r1: float,
        r2: float,
        p_facilities: int,
        alpha: float = 0.0,
        max_vehicles: Any = 2,
        name: str = "dsm",
        **options: Any,
    ) -> BackupCoverage:
        """Build from a **demand × facilities** matrix."""
        reachable = options.pop("reachable", None)
        pairs = TravelPairs.from_cost_matrix(cost_matrix, reachable, float(r2))
        pairs = pairs.add_covered_pairs(float(r2)).add_covered_pairs(float(r1))
        return cls(pairs, weights, r1, r2, p_facilities, alpha, max_vehicles, name=name, **options)

    @classmethod
    def from_travel_times(
        cls,
        tt: Any,
        weights: Any,
        r1: float,
        r2: float,
        p_facilities: int,
        alpha: float = 0.0,
        max_vehicles: Any = 2,
        *,
        demand_districts: Any = None,
        site_table: Any = None,
        **options: Any,
    ) -> BackupCoverage:
        """Build from a travel-time object (``.matrix`` sites × demand, minutes)."""
        pairs = TravelPairs.from_travel_times(tt, float(r2)).add_covered_pairs(float(r2)).add_covered_pairs(float(r1))
        opts = cls._tt_kwargs(tt, demand_districts, site_table, options)
        if "max_vehicles" in opts:
            max_vehicles = opts.pop("max_vehicles")
        return cls(pairs, weights, r1, r2, p_facilities, alpha, max_vehicles, **opts)

    def _check_reasons(self) -> list[str]:
        reasons = super()._check_reasons()
        inc2 = self.pairs.incidence(self.pairs.within(self.r2) & self.allowed[self.pairs.site])
        reasons += _unreachable_reason(self, inc2, self.r2)
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
        m1 = self.pairs.within(self.service_radius)
        m2 = self.pairs.within(self.r2)
        grp = coverage_groups(self, [m1, m2])
        inc1, inc2 = grp["inc"]
        G = inc1.shape[0]
        w = grp["weight"]
        r1ok = np.diff(inc1.indptr) > 0
        x1 = prob.add_variables("x1", G, ub=np.where(r1ok, 1.0, 0.0), integer=True)
        x2 = prob.add_variables("x2", G, ub=np.where(r1ok, 1.0, 0.0), integer=True)
        prob.set_objective({"x2": w}, sense="max")
        ok2 = np.diff(inc2.indptr) > 0
        prob.add_constraints(
            "cover_all_r2",
            {"y": inc2[ok2]},
            1.0,
            np.inf,
            description=f"reaching every demand point within {self.r2:g} minutes",
        )
        prob.add_constraints(
            "alpha_share",
            {"x1": w[None, :]},
            self.alpha * float(w.sum()),
            np.inf,
            description=f"covering {100 * self.alpha:g}% of demand within {self.service_radius:g} minutes",
        )
        eye = sp.identity(G, format="csr")
        rows = np.flatnonzero(r1ok)
        prob.add_constraints(
            "double_link",
            {"y": inc1[rows], "x1": -eye[rows], "x2": -eye[rows]},
            0.0,
            np.inf,
            relaxable=False,
            description="single and double coverage need vehicles within r1",
        )
        prob.add_constraints(
            "x2_le_x1",
            {"x1": -eye, "x2": eye},
            -np.inf,
            0.0,
            relaxable=False,
            description="double coverage implies single coverage",
        )
        C = sp.csr_matrix((np.ones(G), (np.arange(G), x1.indices)), shape=(G, prob.n_vars))
        del x2
        self._inc = inc1
        return _spec(self, grp, C, np.zeros(G), inc1)

    def _polish_x(self, x: np.ndarray) -> np.ndarray | None:
        if self.capacities is not None:
            return None
        prob = self.problem
        count = self._inc @ prob.value(x, "y")
        s1, s2 = prob.blocks["x1"].slice, prob.blocks["x2"].slice
        x[s1] = np.where(prob.ub[s1] > 0, (count >= 1).astype(float), 0.0)
        x[s2] = np.where(prob.ub[s2] > 0, (count >= 2).astype(float), 0.0)
        return x

    def _make_result(self, out, details):
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

__all__ = ["DSM", "LSCP", "MCLP", "BackupCoverage", "coverage_groups"]
