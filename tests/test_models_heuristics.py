"""Primal side and reductions (issue 16): heuristic starts, dominance, OR-Library optima."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.sparse.csgraph import shortest_path

from healthopt.errors import InputError
from healthopt.milp.problem import MilpProblem
from healthopt.milp.solve import STATUS_WORDS, SolverOutput, keep_better_start, tighten_bound
from healthopt.models import DSM, LSCP, MCLP, MEXCLP, PCenter, PMedian
from healthopt.models.heuristics import (
    coverage_value,
    greedy_coverage,
    greedy_set_cover,
    mclp_lagrangian_bound,
    mclp_marginal,
    mexclp_marginal,
    pmedian_cost,
    pmedian_greedy,
    pmedian_swap,
    swap_coverage,
)
from healthopt.models.reduce import dominated_sites, implied_rows

ORLIB = Path(__file__).parent / "data" / "orlib"


def geo(n_demand: int, n_sites: int, seed: int, side: float = 20.0) -> tuple[np.ndarray, np.ndarray]:
    """Euclidean demand × sites distances of uniform points (seeded) and integer weights."""
    rng = np.random.default_rng(seed)
    a = rng.uniform(0, side, (n_demand, 2))
    b = rng.uniform(0, side, (n_sites, 2))
    return np.sqrt(((a[:, None] - b[None]) ** 2).sum(-1)), rng.integers(1, 100, n_demand).astype(float)


def orlib(name: str) -> tuple[np.ndarray, int]:
    """Shortest-path matrix and p of an OR-Library pmed file (the last cost of a repeated edge counts)."""
    lines = (ORLIB / name).read_text().split("\n")
    n, m, p = (int(v) for v in lines[0].split())
    W = np.zeros((n, n))
    for row in lines[1 : 1 + m]:
        i, j, c = (int(v) for v in row.split())
        W[i - 1, j - 1] = W[j - 1, i - 1] = c
    return shortest_path(W, directed=False), p


# ----------------------------------------------------------------------------- kernels


@pytest.mark.parametrize("seed", range(4))
def test_first_swap_is_the_best_single_swap(seed):
    """The vectorised swap delta picks the best (r, k) that brute force over all swaps finds."""
    D, w = geo(300, 30, seed)
    inc = sp.csr_matrix((D <= 3).astype(float))
    lo, hi = np.zeros(30), np.ones(30)
    for marginal, top, cap in ((mclp_marginal, 1, hi), (mexclp_marginal(0.4), 6, np.full(30, 3.0))):
        y0 = greedy_coverage(inc, w, marginal, 6, lo, cap)
        assert y0.sum() == 6
        best = coverage_value(inc, w, marginal, y0, top)
        for r in np.flatnonzero(y0):
            for k in np.flatnonzero(y0 < cap):
                if k != r:
                    y = y0.copy()
                    y[r] -= 1
                    y[k] += 1
                    best = max(best, coverage_value(inc, w, marginal, y, top))
        y1, _ = swap_coverage(inc, w, marginal, y0, lo, cap, max_swaps=1)
        assert coverage_value(inc, w, marginal, y1, top) == pytest.approx(best)


@pytest.mark.parametrize("seed", range(4))
def test_pmedian_fast_swap_matches_brute_force_swap(seed):
    D, w = geo(200, 25, seed)
    d, s = np.divmod(np.arange(D.size), 25)
    t = D.ravel()
    order = np.lexsort((s, t, d))
    d, s, t = d[order], s[order], t[order]
    lo, ok, big = np.zeros(25), np.ones(25, bool), 1e9
    y0 = pmedian_greedy(d, s, t, w, 25, 5, lo, ok, big)
    best = pmedian_cost(d, s, t, w, y0, big)
    for r in np.flatnonzero(y0):
        for k in np.flatnonzero(y0 == 0):
            y = y0.copy()
            y[r], y[k] = 0, 1
            best = min(best, pmedian_cost(d, s, t, w, y, big))
    y1, _ = pmedian_swap(d, s, t, w, y0, lo, ok, big, max_swaps=1)
    assert pmedian_cost(d, s, t, w, y1, big) == pytest.approx(best)


def test_greedy_set_cover_covers_and_drops_redundant_sites():
    # rows: {0,1} {1,2} {2}; greedy takes site 1 (two rows) then site 2; site 1 stays (row 0 needs it)
    inc = sp.csr_matrix(np.array([[1, 1, 0], [0, 1, 1], [0, 0, 1]], dtype=float))
    y = greedy_set_cover(inc, np.ones(3), np.zeros(3), np.ones(3, bool))
    assert y.tolist() == [0.0, 1.0, 1.0]
    # a fixed site 0 makes site 1 redundant: {0,2} covers everything
    y = greedy_set_cover(inc, np.ones(3), np.array([1.0, 0, 0]), np.ones(3, bool))
    assert y.tolist() == [1.0, 0.0, 1.0]
    assert greedy_set_cover(inc, np.ones(3), np.zeros(3), np.array([True, True, False])) is None


@pytest.mark.parametrize("seed", range(30))
def test_dominance_and_implied_rows_match_their_definitions(seed):
    rng = np.random.default_rng(seed)
    A = np.unique((rng.random((9, 7)) < 0.4).astype(float), axis=0)
    inc = sp.csr_matrix(A)
    costs = rng.integers(1, 3, 7).astype(float)
    dom = dominated_sites(inc, costs, np.zeros(7, bool))
    for j in np.flatnonzero(dom):  # every closed site has an open one at least as good
        assert any((A[:, j] <= A[:, k]).all() and costs[k] <= costs[j] and not dom[k] for k in range(7) if k != j)
    for j in np.flatnonzero(~dom):  # and no open site is strictly worse than another open one
        for k in np.flatnonzero(~dom):
            inside = k != j and (A[:, j] <= A[:, k]).all() and costs[k] <= costs[j]
            assert not (inside and (A[:, j].sum() < A[:, k].sum() or costs[k] < costs[j]))
    imp = implied_rows(inc)
    expected = [any((A[b] <= A[a]).all() and 0 < A[b].sum() < A[a].sum() for b in range(len(A))) for a in range(len(A))]
    assert imp.tolist() == expected


# ----------------------------------------------------------------------------- models


@pytest.mark.parametrize("seed", range(3))
def test_models_never_worse_than_their_heuristic_even_with_a_short_limit(seed):
    D, w = geo(400, 40, seed)
    cases = [
        (MCLP.from_cost_matrix(D, w, 2.5, 6), "max"),
        (MEXCLP.from_cost_matrix(D, w, 3.0, 6, 0.3, max_vehicles=2), "max"),
        (LSCP.from_cost_matrix(D, 9.0), "min"),
        (PMedian.from_cost_matrix(D, w, 6), "min"),
    ]
    for model, sense in cases:
        res = model.solve(time_limit=1)
        heur = res.details["heuristic"]
        assert heur["feasible"], model
        assert res.has_solution
        if sense == "max":
            assert res.objective >= heur["objective"] - 1e-6
            assert heur["objective"] >= heur["greedy_objective"] - 1e-6  # local search never hurts
        else:
            assert res.objective <= heur["objective"] + 1e-6
            assert heur["objective"] <= heur["greedy_objective"] + 1e-6
    dsm = DSM.from_cost_matrix(D, w, 2.5, 12.0, 10, alpha=0.3).solve(time_limit=1)
    assert dsm.details["heuristic"]["feasible"]
    assert dsm.objective >= dsm.details["heuristic"]["objective"] - 1e-6
    assert dsm.coverage["covered_r2"].all()
    pc = PCenter.from_cost_matrix(D, 6).solve(time_limit=1)
    assert pc.objective <= pc.details["heuristic"]["objective"]


def test_heuristic_start_plan_is_a_feasible_plan_of_the_model():
    D, w = geo(300, 30, 5)
    model = MCLP.from_cost_matrix(D, w, 2.5, 5, fixed_sites=[3], forbidden_sites=[4, 7])
    model.build()
    plan = model.heuristic_plan()
    assert plan is not None and plan.sites.sum() == 5
    assert plan.sites[3] == 1 and plan.sites[[4, 7]].sum() == 0
    x = model.start_vector(model.problem, plan.sites)
    assert x is not None and model.problem.is_feasible(x)
    # its MILP objective is the covered weight recomputed from the open sites
    covered = (D[:, plan.sites > 0] <= 2.5).any(axis=1)
    assert float(model.problem.obj @ x) == pytest.approx(w[covered].sum())


@pytest.mark.parametrize("seed", range(6))
def test_reduced_and_unreduced_models_have_the_same_optimum(seed):
    rng = np.random.default_rng(seed)
    D, w = geo(150, 25, seed, side=10.0)
    D = np.round(D)  # integer distances: many identical and nested coverage sets
    fixed = np.zeros(25, bool)
    fixed[rng.integers(25)] = True
    forbidden = np.zeros(25, bool)
    forbidden[rng.choice(np.flatnonzero(~fixed), 3, replace=False)] = True
    opts = {"fixed_sites": fixed, "forbidden_sites": forbidden}
    for radius, p in ((2.0, 4), (3.0, 3)):
        red = MCLP.from_cost_matrix(D, w, radius, p, **opts)
        full = MCLP.from_cost_matrix(D, w, radius, p, reduce=False, **opts)
        r1, r2 = red.solve(heuristic=False), full.solve(heuristic=False)
        assert r1.objective == pytest.approx(r2.objective)
        assert r1.coverage.loc[r1.coverage.covered, "weight"].sum() == pytest.approx(r1.objective)
        assert r1.sites.loc[fixed, "open"].all() and not r1.sites.loc[forbidden, "open"].any()
    costs = rng.integers(1, 4, 25).astype(float)
    for radius in (3.0, 4.0):
        red = LSCP.from_cost_matrix(D, radius, site_costs=costs, **opts)
        if red._check_reasons():
            continue
        full = LSCP.from_cost_matrix(D, radius, site_costs=costs, reduce=False, **opts)
        r1, r2 = red.solve(heuristic=False), full.solve(heuristic=False)
        assert r1.objective == pytest.approx(r2.objective)
        assert r1.coverage["covered"].all()
        assert red.reduction["sites_after"] <= red.reduction["sites"]


def test_reductions_remove_dominated_sites_and_implied_rows():
    # points and sites on a line at 0, 1, 2 (radius 1): site 1 reaches all three points, sites 0 and 2 two
    D = np.abs(np.array([0.0, 1.0, 2.0])[:, None] - np.array([0.0, 1.0, 2.0])[None, :])
    model = LSCP.from_cost_matrix(D, 1.0)
    res = model.solve()
    red = res.details["reduction"]
    # site 1's set of points contains the sets of sites 0 and 2: both are closed
    assert red["dominated_sites"] == 2 and red["sites_after"] == 1
    assert res.objective == 1.0 and res.open_sites == [1]
    assert "3 candidate sites -> 1 columns" in res.summary()
    # with sites 0 and 2 fixed nothing is closed, but point 1's set {0,1,2} contains point
    # 0's {0,1} (and point 2's {1,2}): its row is implied, two rows are left to cover
    res2 = LSCP.from_cost_matrix(D, 1.0, fixed_sites=[0, 2]).solve()
    red2 = res2.details["reduction"]
    assert (red2["dominated_sites"], red2["implied_rows"], red2["rows"]) == (0, 1, 2)
    assert res2.objective == 2.0 and res2.open_sites == [0, 2]
    assert "3 demand points -> 3 rows (2 to cover)" in res2.summary()


def test_rows_added_after_build_undo_the_reductions():
    D = np.abs(np.array([0.0, 1.0, 2.0])[:, None] - np.array([0.0, 1.0, 2.0])[None, :])
    w = np.array([1.0, 5.0, 1.0])
    model = MCLP.from_cost_matrix(D, w, 1.0, 1)
    prob = model.build()
    assert prob.ub[:3].tolist() == [0.0, 1.0, 0.0]  # sites 0 and 2 are dominated by site 1
    prob.add_constraints("site_zero", {"y": np.array([[1.0, 0.0, 0.0]])}, lb=1)  # a plan forces site 0
    res = model.solve()
    assert res.open_sites == [0] and res.objective == pytest.approx(6.0)
    assert "reduction" not in res.details
    # rows on the model's own coverage variables cannot be replayed on the unreduced problem
    model = MCLP.from_cost_matrix(D, w, 1.0, 1)
    prob = model.build()
    prob.add_constraints("x_rule", {"x": np.ones((1, prob.blocks["x"].size))}, ub=1)
    with pytest.raises(InputError, match="reduce=False"):
        model.solve()


def test_start_is_kept_when_the_solver_returns_nothing_better():
    prob = MilpProblem("t", "max")
    prob.add_variables("y", 2, ub=1, integer=True, obj=[1.0, 2.0])
    x0 = np.array([0.0, 1.0])
    nothing = SolverOutput(
        "time_limit_no_solution",
        "time limit reached (1 s) — " + STATUS_WORDS["time_limit_no_solution"].split("— ")[1],
        None,
        None,
        3.0,
        None,
        1.0,
        "highs",
    )
    details: dict = {}
    out = keep_better_start(prob, nothing, x0, 2.0, details)
    assert out.status_code == "time_limit_feasible" and out.objective == 2.0
    assert out.gap == pytest.approx(0.5)  # bound 3 vs plan 2
    assert "time limit reached (1 s)" in out.status and details["heuristic"]["kept"]
    worse = SolverOutput("time_limit_feasible", "x", np.array([1.0, 0.0]), 1.0, 3.0, 2.0, 1.0, "highs")
    assert keep_better_start(prob, worse, x0, 2.0, {}).objective == 2.0
    better = SolverOutput("optimal", "optimal", np.array([1.0, 1.0]), 3.0, 3.0, 0.0, 1.0, "highs")
    assert keep_better_start(prob, better, x0, 2.0, {}) is better


@pytest.mark.parametrize(("name", "median", "center"), [("pmed1.txt", 5819.0, 127.0), ("pmed5.txt", 1355.0, 48.0)])
def test_orlib_instances_reach_their_published_optima(name, median, center):
    D, p = orlib(name)
    n = D.shape[0]
    res = PMedian.from_cost_matrix(D, np.ones(n), p).solve(time_limit=120)
    assert res.is_optimal and res.objective == pytest.approx(median)
    assert PCenter.from_cost_matrix(D, p).solve(time_limit=120).objective == pytest.approx(center)


@pytest.mark.parametrize("seed", range(4))
def test_pmedian_nearest_pairs_reduction_keeps_the_optimum(seed):
    D, w = geo(120, 16, seed)
    D = np.round(D)  # ties at the K-th nearest site are kept
    fixed, forbidden = np.zeros(16, bool), np.zeros(16, bool)
    fixed[seed], forbidden[seed + 5] = True, True
    for p in (3, 9, 14):
        opts = {"fixed_sites": fixed, "forbidden_sites": forbidden}
        red = PMedian.from_cost_matrix(D, w, p, **opts).solve(heuristic=False)
        full = PMedian.from_cost_matrix(D, w, p, reduce=False, **opts).solve(heuristic=False)
        assert red.objective == pytest.approx(full.objective)
        k = 15 - p + 1  # 15 allowed sites
        assert red.details["reduction"]["nearest_k"] == k
        assert red.details["reduction"]["pairs_after"] < 120 * 15 or k == 15
        # the reported assignment is each point's nearest open site at its true time
        open_cols = red.sites["open"].to_numpy()
        assert red.assignments["travel_time"].to_numpy() == pytest.approx(D[:, open_cols].min(axis=1))


@pytest.mark.parametrize("seed", range(5))
def test_mclp_lagrangian_bound_is_a_bound_and_close_to_the_optimum(seed):
    D, w = geo(300, 30, seed)
    fixed = np.zeros(30, bool)
    fixed[seed] = True
    res = MCLP.from_cost_matrix(D, w, 2.5, 5, fixed_sites=fixed).solve()
    assert res.is_optimal
    bound = res.details["lagrangian_bound"]
    assert res.objective - 1e-6 <= bound <= w.sum()
    assert bound <= 1.1 * res.objective  # about the LP bound, far below the total weight
    # called directly with the raw incidence (no merged rows) it bounds the same optimum
    inc = sp.csr_matrix((D <= 2.5).astype(float))
    lo = fixed.astype(float)
    assert mclp_lagrangian_bound(inc, w, 5, lo, np.ones(30), res.objective) >= res.objective - 1e-6


def test_tighten_bound_only_improves_the_reported_gap():
    prob = MilpProblem("t", "max")
    prob.add_variables("y", 1, ub=1, integer=True, obj=[1.0])
    out = SolverOutput("time_limit_feasible", "t", np.array([1.0]), 8.0, 10.0, 0.25, 1.0, "highs")
    assert tighten_bound(prob, out, 9.0).gap == pytest.approx(0.125)
    out = SolverOutput("time_limit_feasible", "t", np.array([1.0]), 8.0, 8.5, 0.0625, 1.0, "highs")
    assert tighten_bound(prob, out, 9.0).bound == 8.5  # the solver's bound was better


@pytest.mark.parametrize("name", ["pmed1.txt", "pmed5.txt"])
def test_pmedian_lagrangian_bound_is_below_the_published_optimum_and_close(name):
    D, p = orlib(name)
    res = PMedian.from_cost_matrix(D, np.ones(D.shape[0]), p).solve()
    bound = res.details["lagrangian_bound"]
    assert bound <= res.objective * (1 + 1e-9)
    assert bound >= 0.99 * res.objective  # pmed1: 5812.3 of 5819; pmed5: 1355.0 of 1355
