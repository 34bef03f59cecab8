"""Property-based tests of the location models against brute force (issue 6, item 5).

Random small instances -- 3-7 candidate sites x 4-10 demand points, integer minutes
(ties and 0-minute pairs are common), no pair, one in 16 or one in 5 missing, copies of
demand points (which the models merge), random populations (zeros included), random
fixed and forbidden sites -- are handed to each model in one of three forms: a dense
matrix with ``inf`` for missing pairs, a sparse matrix whose stored entries (explicit
zeros included) are the pairs, or a dense matrix of junk values plus a ``reachable``
mask. The solver's objective must equal the optimum
found by enumerating every site subset (or vehicle allocation) in :mod:`bruteforce`, and
the result tables must agree with the plan: at most / exactly p sites, fixed sites open,
forbidden ones closed, demand assigned only to open sites at their true travel time, and
the coverage recomputed from the open sites equal to the objective.

When no plan exists the model must say so in the documented way: an
:class:`~healthopt.errors.InfeasiblePlanError` from the pre-solve checks (unreachable
demand, too few sites or vehicles, fixed sites over the limit, fixed costs over the
budget), or a result with status ``infeasible`` whose ``raise_if_no_plan()`` raises it.
Every test is derandomized so CI runs the same examples each time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import bruteforce as bf
import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from healthopt.errors import InfeasiblePlanError
from healthopt.models import DSM, LSCP, MCLP, MEXCLP, LocationResult, PCenter, PMedian

PROPS = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TOL = {"rel": 1e-7, "abs": 1e-6}


# --------------------------------------------------------------------------------------
# Instances
# --------------------------------------------------------------------------------------


@dataclass
class Instance:
    """A small problem: demand × sites minutes (``inf`` = no pair), weights, site rules."""

    D: np.ndarray
    w: np.ndarray
    fixed: np.ndarray
    forbidden: np.ndarray
    form: str

    @property
    def n_sites(self) -> int:
        """Number of candidate sites."""
        return self.D.shape[1]

    @property
    def allowed(self) -> np.ndarray:
        """Sites that may open."""
        return ~self.forbidden

    def matrix(self) -> tuple[Any, dict[str, Any]]:
        """The cost matrix in this instance's form, and the options that go with it."""
        finite = np.isfinite(self.D)
        rules: dict[str, Any] = {}
        if self.fixed.any():
            rules["fixed_sites"] = self.fixed
        if self.forbidden.any():
            rules["forbidden_sites"] = self.forbidden
        if self.form == "sparse":
            rows, cols = np.nonzero(finite)
            M = sp.csr_matrix((self.D[rows, cols], (rows, cols)), shape=self.D.shape)
            assert M.nnz == finite.sum()  # explicit zeros are kept: 0-minute pairs are real
            return M, rules
        if self.form == "reachable":
            # junk where there is no pair: a 0 would be a perfect pair if it were read
            return np.where(finite, self.D, 0.0), {**rules, "reachable": finite}
        return self.D.copy(), rules

    def restricted(self, keep: np.ndarray) -> Instance:
        """The same instance with only the demand points in ``keep``."""
        return Instance(self.D[keep], self.w[keep], self.fixed, self.forbidden, self.form)


@st.composite
def instances(draw: st.DrawFn, rules: bool = True) -> Instance:
    """3-7 sites × 4-10 demand points (+ up to 3 copies), none, 1/16 or 1/5 of the pairs missing.

    Half the instances have fixed and forbidden sites.
    """
    n_s, n_d = draw(st.integers(3, 7)), draw(st.integers(4, 10))
    lowest = draw(st.sampled_from([-4, -1, 0]), label="missing pairs")  # cells below 0 are missing
    cells = draw(st.lists(st.sampled_from(range(lowest, 15)), min_size=n_s * n_d, max_size=n_s * n_d))
    D = np.asarray(cells, dtype=float).reshape(n_d, n_s)
    D[D < 0] = np.inf
    # copies of some points (other weights): the models merge points with equal coverage sets
    copies = draw(st.lists(st.integers(0, n_d - 1), max_size=3), label="copied points")
    D = np.vstack([D, D[copies]])
    w = np.asarray(draw(st.lists(st.integers(0, 9), min_size=len(D), max_size=len(D))), dtype=float)
    roles = "." * n_s
    if rules and draw(st.booleans()):
        roles = "".join(draw(st.lists(st.sampled_from("....+x"), min_size=n_s, max_size=n_s)))
    fixed = np.array([r == "+" for r in roles])
    forbidden = np.array([r == "x" for r in roles])
    form = draw(st.sampled_from(["dense", "sparse", "reachable"]))
    return Instance(D, w, fixed, forbidden, form)


radii = st.one_of(st.integers(0, 14).map(float), st.sampled_from([0.5, 7.5, 13.99]))
INF = np.inf


def site_values(n: int, low: int, high: int) -> st.SearchStrategy[np.ndarray]:
    """One whole number in ``[low, high]`` per site, as floats."""
    return st.lists(st.integers(low, high), min_size=n, max_size=n).map(lambda v: np.asarray(v, dtype=float))


@st.composite
def with_p(draw: st.DrawFn) -> tuple[Instance, int]:
    """An instance and a site count ``p`` from 0 to one more than there are sites."""
    inst = draw(instances())
    return inst, draw(st.sampled_from(range(inst.n_sites + 2)), label="p")


def case(rows: list[list[float]], w: list[float] | None = None, roles: str = "", form: str = "dense") -> Instance:
    """A hand-written instance for explicit examples (``roles``: ``+`` fixed, ``x`` forbidden)."""
    D = np.asarray(rows, dtype=float)
    roles = roles or "." * D.shape[1]
    weights = np.ones(D.shape[0]) if w is None else np.asarray(w, dtype=float)
    return Instance(D, weights, np.array([r == "+" for r in roles]), np.array([r == "x" for r in roles]), form)


#: No single site reaches both demand points (sparse: the 0-minute pairs are stored).
APART = [[0.0, INF, 3.0], [INF, 0.0, INF]]


# --------------------------------------------------------------------------------------
# Outcome and result checks
# --------------------------------------------------------------------------------------


def outcome(model: Any) -> tuple[LocationResult | None, str]:
    """Solve; return the result, or ``None`` and why there is no plan.

    No plan must come as an :class:`InfeasiblePlanError` with planning reasons, or as a
    result with status ``infeasible`` that ``raise_if_no_plan`` turns into one.
    """
    try:
        res = model.solve()
    except InfeasiblePlanError as exc:
        assert exc.reasons and all(reason.strip() for reason in exc.reasons)
        event("no plan: pre-solve check")
        return None, str(exc)
    if not res.has_solution:
        assert res.status_code == "infeasible", res.status
        with pytest.raises(InfeasiblePlanError):
            res.raise_if_no_plan()
        event("no plan: solver")
        return None, "solver: infeasible"
    event("plan")
    assert res.status_code == "optimal" and res.gap is not None and res.gap <= 1e-9, (res.status, res.gap)
    return res, ""


def open_sites(res: LocationResult, inst: Instance) -> list[int]:
    """Positions of the open sites, after checking fixed/forbidden sites and vehicles."""
    is_open = res.sites["open"].to_numpy()
    vehicles = res.sites["vehicles"].to_numpy()
    assert (is_open == (vehicles > 0)).all()
    assert is_open[inst.fixed].all(), "a fixed site is closed"
    assert not is_open[inst.forbidden].any(), "a forbidden site is open"
    return np.flatnonzero(is_open).tolist()


def check_assignments(res: LocationResult, inst: Instance, S: list[int], within: float | None = None) -> None:
    """Each demand point goes to its nearest open site (within ``within``), at the true time."""
    a = res.assignments
    assert a["demand_id"].is_unique
    assert set(a["site_id"]) <= set(S), "assignment to a closed site"
    d, s = a["demand_id"].to_numpy(dtype=int), a["site_id"].to_numpy(dtype=int)
    assert (a["travel_time"].to_numpy() == inst.D[d, s]).all()
    t = bf.nearest(inst.D, S)
    reached = np.isfinite(t) if within is None else t <= within
    assert set(d) == set(np.flatnonzero(reached)), "a reachable demand point is not assigned"
    assert (inst.D[d, s] == t[d]).all(), "not assigned to the nearest open site"


def why_infeasible(inst: Instance, reach: np.ndarray, radius: float | None, p: int | None) -> str | None:
    """The pre-solve reason expected first (``None``: the solver has to find out)."""
    if not reach.all():
        within = "" if radius is None else f" within {radius:g} minutes"
        return f"{int((~reach).sum())} demand points (weight {inst.w[~reach].sum():g}) cannot be reached{within}"
    if p is not None and inst.fixed.sum() > p:
        return "must stay open"
    return None


# --------------------------------------------------------------------------------------
# LSCP
# --------------------------------------------------------------------------------------


@st.composite
def lscp_cases(draw: st.DrawFn) -> tuple[Instance, float, np.ndarray | None]:
    """An instance, a standard ``T`` and site costs (``None``: count the sites)."""
    inst = draw(instances())
    return inst, draw(radii), draw(st.none() | site_values(inst.n_sites, 1, 5))


@PROPS
@given(lscp_cases())
@example((case(APART, form="sparse"), 0.0, None))  # both points need their own site
@example((case([[1, 9], [9, 1], [INF, 20]], [5, 5, 7]), 5.0, None))  # point 2 is out of reach
@example((case([[1, 9], [9, 1]], roles="x."), 5.0, np.array([1.0, 2.0])))  # nothing reaches point 0
def test_lscp(args: tuple[Instance, float, np.ndarray | None]) -> None:
    inst, T, costs = args
    reach = ((inst.D <= T) & inst.allowed).any(axis=1)
    M, opts = inst.matrix()
    res, why = outcome(LSCP.from_cost_matrix(M, T, demand_quantity_arr=inst.w, site_costs=costs, **opts))
    if not reach.all():
        # demand no allowed site reaches within T: reported before solving...
        assert res is None and bf.lscp(inst.D, T, costs, inst.forbidden, inst.fixed) is None
        assert why_infeasible(inst, reach, T, None) in why
        if not reach.any():
            return
        # ...and the demand that can be reached is covered by the fewest sites
        inst = inst.restricted(reach)
        M, opts = inst.matrix()
        res, why = outcome(LSCP.from_cost_matrix(M, T, demand_quantity_arr=inst.w, site_costs=costs, **opts))
    best = bf.lscp(inst.D, T, costs, inst.forbidden, inst.fixed)
    assert best is not None and res is not None, why  # opening every allowed site covers all
    assert res.objective == pytest.approx(best, **TOL)
    S = open_sites(res, inst)
    cost = np.ones(inst.n_sites) if costs is None else costs
    assert cost[S].sum() == pytest.approx(res.objective, **TOL)
    assert (bf.nearest(inst.D, S) <= T).all() and res.coverage["covered"].all()
    check_assignments(res, inst, S, within=T)


# --------------------------------------------------------------------------------------
# MCLP
# --------------------------------------------------------------------------------------


@st.composite
def mclp_cases(draw: st.DrawFn) -> tuple[Instance, float, int | None, np.ndarray | None, float | None]:
    """An instance, ``T`` and either ``p`` sites or (half the time) site costs and a budget."""
    inst, p = draw(with_p())
    if not draw(st.booleans(), label="budgeted"):
        return inst, draw(radii), p, None, None
    # most coverage for a budget, any number of sites
    return inst, draw(radii), None, draw(site_values(inst.n_sites, 1, 5)), float(draw(st.integers(0, 12)))


@PROPS
@given(mclp_cases())
@example((case(APART), 5.0, 4, None, None))  # more sites asked for than there are
@example((case(APART, roles="++."), 5.0, 1, None, None))  # two fixed sites, p = 1
@example((case(APART, roles="+..", form="reachable"), 5.0, None, np.array([5.0, 1.0, 1.0]), 4.0))  # fixed > budget
@example((case(APART, [3, 4], form="sparse"), 0.0, None, np.array([2.0, 3.0, 1.0]), 4.0))  # 0-minute pairs
def test_mclp(args: tuple[Instance, float, int | None, np.ndarray | None, float | None]) -> None:
    inst, T, p, costs, budget = args
    best = bf.mclp(inst.D, inst.w, T, p, inst.forbidden, inst.fixed, costs, budget)
    M, opts = inst.matrix()
    res, why = outcome(MCLP.from_cost_matrix(M, inst.w, T, p, site_costs=costs, budget=budget, **opts))
    assert (res is None) == (best is None), why
    if res is None:
        if p is None:
            assert "already cost" in why and "above the budget" in why
        elif inst.fixed.sum() > p:
            assert "must stay open" in why
        else:
            assert f"the plan asks for {p} sites but only {int(inst.allowed.sum())}" in why
        return
    assert res.objective == pytest.approx(best, **TOL)
    S = open_sites(res, inst)
    if p is not None:
        assert len(S) == p
    else:
        assert costs[S].sum() <= budget + 1e-9
    covered = bf.nearest(inst.D, S) <= T
    assert inst.w[covered].sum() == pytest.approx(res.objective, **TOL)
    assert (res.coverage["covered"].to_numpy() == covered).all()
    assert res.coverage.loc[res.coverage["covered"], "weight"].sum() == pytest.approx(res.objective, **TOL)
    check_assignments(res, inst, S, within=T)


# --------------------------------------------------------------------------------------
# p-median and p-center
# --------------------------------------------------------------------------------------


@PROPS
@given(with_p())
@example((case(APART), 1))  # every point reachable, but by no single site: the solver says so
@example((case(APART, roles=".x."), 2))  # point 1 unreachable once site 1 is forbidden
@example((case(APART, roles="+.+"), 1))  # two fixed sites, p = 1
@example((case(APART, [2, 0], form="sparse"), 2))  # 0-minute pairs: objective 0
def test_pmedian(args: tuple[Instance, int]) -> None:
    inst, p = args
    best = bf.pmedian(inst.D, inst.w, p, inst.forbidden, inst.fixed)
    M, opts = inst.matrix()
    res, why = outcome(PMedian.from_cost_matrix(M, inst.w, p, **opts))
    assert (res is None) == (best is None), why
    if res is None:
        reach = (np.isfinite(inst.D) & inst.allowed).any(axis=1)
        expected = why_infeasible(inst, reach, None, p)
        if expected is None and p > inst.allowed.sum():
            expected = f"the plan asks for {p} sites"
        # else: every point is reachable, but no p sites reach them all
        assert (expected or "solver: infeasible") in why
        return
    assert res.objective == pytest.approx(best, **TOL)
    S = open_sites(res, inst)
    assert len(S) == p
    t = bf.nearest(inst.D, S)
    assert np.isfinite(t).all(), "a demand point is left without a site"
    assert (inst.w * t).sum() == pytest.approx(res.objective, **TOL)
    check_assignments(res, inst, S)


@PROPS
@given(with_p())
@example((case(APART), 1))  # no single site reaches both points, whatever the time
@example((case(APART, form="sparse"), 0))  # no site at all
@example((case(APART, roles="x.."), 3))  # point 0 can still be reached from site 2
@example((case(APART, roles="+.+"), 1))  # two fixed sites, p = 1
def test_pcenter(args: tuple[Instance, int]) -> None:
    inst, p = args
    best = bf.pcenter(inst.D, p, inst.forbidden, inst.fixed)
    M, opts = inst.matrix()
    res, why = outcome(PCenter.from_cost_matrix(M, p, weights=inst.w, **opts))
    assert (res is None) == (best is None), why
    if res is None:
        reach = (np.isfinite(inst.D) & inst.allowed).any(axis=1)
        assert (why_infeasible(inst, reach, None, p) or "whatever the travel time") in why
        return
    assert res.objective == best
    S = open_sites(res, inst)
    assert len(S) <= p
    assert bf.nearest(inst.D, S).max() == res.objective
    assert res.assignments["travel_time"].max() == res.objective
    check_assignments(res, inst, S)


# --------------------------------------------------------------------------------------
# Vehicle models: MEXCLP and the double standard model
# --------------------------------------------------------------------------------------

vehicle_caps = st.one_of(st.none(), st.integers(0, 3), st.lists(st.integers(0, 3), min_size=7, max_size=7))


def _caps(value: Any, n: int) -> Any:
    """``max_vehicles`` for ``n`` sites: None, a number, or one number per site."""
    return np.asarray(value[:n], dtype=float) if isinstance(value, list) else value


def vehicles_of(res: LocationResult, inst: Instance, p: int, caps: Any) -> np.ndarray:
    """The vehicles per site, after checking the totals and the per-site limits."""
    open_sites(res, inst)
    y = res.sites["vehicles"].to_numpy()
    assert y.sum() == p and (y >= 0).all()
    if caps is not None:
        assert (y <= np.broadcast_to(caps, y.shape)).all()
    return y


def why_short_of_vehicles(inst: Instance, p: int, caps: Any) -> str | None:
    """The pre-solve reason expected when ``p`` vehicles cannot be placed, if any."""
    if inst.fixed.sum() > p:
        return "existing stations must keep a vehicle"
    room = np.where(inst.allowed, np.broadcast_to(np.inf if caps is None else caps, inst.fixed.shape), 0).sum()
    if room < p:
        return f"{p} vehicles must be placed but the allowed sites hold only"
    return None


@PROPS
@given(instances(), radii, st.integers(0, 4), st.sampled_from([0.0, 0.2, 0.5, 0.9]), vehicle_caps)
@example(case(APART), 5.0, 4, 0.5, 1)  # 3 sites hold only 3 vehicles
@example(case(APART, roles="++."), 5.0, 1, 0.5, None)  # two fixed stations, one vehicle
@example(case(APART, roles="+.."), 5.0, 2, 0.5, [0, 2, 2])  # fixed site 0 may hold no vehicle
@example(case(APART, [4, 1], form="sparse"), 0.0, 3, 0.2, [2, 1, 0])  # 0-minute pairs, levels
def test_mexclp(inst: Instance, T: float, p: int, q: float, kmax: Any) -> None:
    caps = _caps(kmax, inst.n_sites)
    best = bf.mexclp(inst.D, inst.w, T, p, q, caps, inst.forbidden, inst.fixed)
    M, opts = inst.matrix()
    res, why = outcome(MEXCLP.from_cost_matrix(M, inst.w, T, p, q, max_vehicles=caps, **opts))
    assert (res is None) == (best is None), why
    if res is None:
        # or a fixed site that may hold no vehicle (max_vehicles 0): the solver finds out
        assert (why_short_of_vehicles(inst, p, caps) or "solver: infeasible") in why
        return
    assert res.objective == pytest.approx(best, **TOL)
    y = vehicles_of(res, inst, p, caps)
    n = np.less_equal(inst.D, T).astype(float) @ y
    assert (inst.w * (1.0 - q**n)).sum() == pytest.approx(res.objective, **TOL)
    assert (res.coverage["times_covered"].to_numpy() == n).all()
    check_assignments(res, inst, np.flatnonzero(y).tolist(), within=T)


@PROPS
@given(
    instances(),
    st.integers(0, 12),
    st.integers(0, 10),
    st.integers(0, 4),
    st.sampled_from([0.0, 0.5, 0.75, 1.0]),
    st.one_of(st.just(2), vehicle_caps),
)
@example(case([[0, 5], [5, 5]]), 1, 4, 1, 1.0, 2)  # alpha = 1, but point 1 has no site within r1: solver
@example(case([[0, 5], [5, 0]]), 1, 4, 2, 1.0, 2)  # alpha = 1 forces one vehicle per site: nothing doubled
@example(case(APART, [3, 1], form="sparse"), 0, 3, 4, 0.5, 2)  # 0-minute pairs: both points doubled
@example(case(APART, roles="x.."), 0, 2, 1, 0.0, 2)  # point 0 only reached by site 2, 3 > r2 minutes
@example(case(APART), 0, 3, 5, 0.0, [1, 1, 1])  # 5 vehicles, room for 3
@example(case(APART, roles="+++"), 0, 3, 2, 0.0, 2)  # three fixed stations, two vehicles
def test_double_standard(inst: Instance, r1: int, extra: int, p: int, alpha: float, kmax: Any) -> None:
    r2 = float(r1 + extra)
    caps = _caps(kmax, inst.n_sites)
    best = bf.dsm(inst.D, inst.w, r1, r2, p, alpha, caps, inst.forbidden, inst.fixed)
    M, opts = inst.matrix()
    res, why = outcome(DSM.from_cost_matrix(M, inst.w, r1, r2, p, alpha, caps, **opts))
    assert (res is None) == (best is None), why
    if res is None:
        allowed = inst.allowed & (np.broadcast_to(np.inf if caps is None else caps, inst.fixed.shape) > 0)
        reach = (np.less_equal(inst.D, r2) & allowed).any(axis=1)
        expected = why_infeasible(inst, reach, r2, None) or why_short_of_vehicles(inst, p, caps)
        # else: no placement reaches everyone within r2 with alpha covered within r1
        assert (expected or "solver: infeasible") in why
        return
    assert res.objective == pytest.approx(best, **TOL)
    y = vehicles_of(res, inst, p, caps)
    n1 = np.less_equal(inst.D, r1).astype(float) @ y
    n2 = np.less_equal(inst.D, r2).astype(float) @ y
    assert (n2 >= 1).all() and res.coverage["covered_r2"].all()
    assert inst.w[n1 >= 1].sum() >= alpha * inst.w.sum() - 1e-9
    assert inst.w[n1 >= 2].sum() == pytest.approx(res.objective, **TOL)
    assert res.details["double_covered_weight"] == pytest.approx(res.objective, **TOL)
    assert (res.coverage["times_covered"].to_numpy() == n1).all()
    check_assignments(res, inst, np.flatnonzero(y).tolist(), within=r2)
