"""LP bound + RINS + full MIP (:mod:`healthopt.milp.lp_first`) against brute force on small coverage instances.

Maximal covering (Church & ReVelle): open exactly ``p`` of ``n`` sites, a demand point counts
when an open site covers it. The optimum is enumerated over all C(n, p) site sets; the LP
bound is the relaxation's own optimum, so every reported gap can be recomputed by hand.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import scipy.sparse as sp

from healthopt.milp.lp_first import LpWarm, solve_lp_first
from healthopt.milp.problem import MilpProblem
from healthopt.milp.solve import solve_problem


def mclp(seed: int, n_demand: int = 30, n_sites: int = 9, p: int = 3) -> tuple[MilpProblem, np.ndarray, np.ndarray]:
    """Return the MCLP, its coverage matrix (demand × sites) and weights, seeded."""
    rng = np.random.default_rng(seed)
    cover = (rng.random((n_demand, n_sites)) < 0.25).astype(float)
    weight = rng.integers(1, 50, n_demand).astype(float)
    prob = MilpProblem("mclp", "max")
    prob.add_variables("open", n_sites, ub=1.0, integer=True)
    prob.add_variables("y", n_demand, ub=1.0, obj=weight)
    prob.add_constraints("cover", {"y": sp.identity(n_demand, format="csr"), "open": -sp.csr_matrix(cover)}, ub=0.0)
    prob.add_constraints("count", {"open": np.ones((1, n_sites))}, lb=float(p), ub=float(p))
    return prob, cover, weight


def plan_vector(prob: MilpProblem, cover: np.ndarray, sites: tuple[int, ...]) -> np.ndarray:
    x = np.zeros(prob.n_vars)
    x[prob.blocks["open"].slice][list(sites)] = 1.0
    x[prob.blocks["y"].slice] = (cover[:, list(sites)].sum(axis=1) > 0).astype(float)
    return x


def brute_force(cover: np.ndarray, weight: np.ndarray, p: int) -> float:
    sets = itertools.combinations(range(cover.shape[1]), p)
    return max(float(weight @ (cover[:, list(S)].sum(axis=1) > 0)) for S in sets)


@pytest.mark.parametrize("seed", range(8))
def test_proven_optimum_equals_brute_force_and_is_never_worse_than_the_start(seed: int) -> None:
    prob, cover, weight = mclp(seed)
    start = plan_vector(prob, cover, (0, 1, 2))  # a plan that ignores the weights
    out = solve_lp_first(prob, start=start, fix="open", time_limit=None, gap=None, threads=1, log_path=None)
    best = brute_force(cover, weight, 3)
    assert out.objective == pytest.approx(best)
    assert out.objective >= float(prob.obj @ start) - 1e-9
    assert out.gap is not None and out.gap <= 1e-9 and out.status_code == "optimal"
    assert prob.is_feasible(out.x)


def test_a_start_within_the_gap_of_the_lp_bound_is_returned_with_that_bound() -> None:
    prob, cover, weight = mclp(3)
    lp = solve_problem(prob.relaxation(), "highs")
    best_sites = max(itertools.combinations(range(cover.shape[1]), 3),
                     key=lambda S: float(weight @ (cover[:, list(S)].sum(axis=1) > 0)))
    start = plan_vector(prob, cover, best_sites)
    obj = float(prob.obj @ start)
    gap_by_hand = (lp.objective - obj) / obj
    calls = []
    out = solve_lp_first(prob, start=lambda: calls.append(1) or start, fix="open", time_limit=None,
                         gap=gap_by_hand + 1e-6, threads=1, log_path=None)
    assert calls == [1]  # the start function is called once, while the LP solves
    assert out.message == "LP relaxation bound"
    assert np.array_equal(out.x, start) and out.bound == pytest.approx(lp.objective)
    assert out.gap == pytest.approx(gap_by_hand)
    assert out.status_code == ("optimal" if gap_by_hand <= 1e-9 else "optimal_within_gap")


def test_an_infeasible_start_is_ignored_and_the_optimum_still_found() -> None:
    prob, cover, weight = mclp(5)
    bad = plan_vector(prob, cover, (0, 1, 2, 3))  # four sites: breaks the count row
    out = solve_lp_first(prob, start=bad, fix="open", time_limit=None, gap=None, threads=1, log_path=None)
    assert out.objective == pytest.approx(brute_force(cover, weight, 3))


def test_a_warm_basis_restarts_the_lp_by_primal_simplex_and_keeps_the_optimum(tmp_path) -> None:
    prob, cover, _ = mclp(4, n_demand=60, n_sites=12)
    first = solve_lp_first(prob, start=None, fix="open", time_limit=None, gap=None, threads=1, log_path=None)
    assert first.lp_basis is not None
    # the next round: same rows and columns, new weights (the basis stays primal feasible)
    new_weight = np.random.default_rng(1).integers(1, 50, cover.shape[0]).astype(float)
    prob2 = prob.copy()
    prob2.set_objective({"y": new_weight})
    log = tmp_path / "warm.log"
    out = solve_lp_first(prob2, start=None, fix="open", time_limit=None, gap=None, threads=1, log_path=log,
                         warm=LpWarm(first.lp_basis))
    assert out.objective == pytest.approx(brute_force(cover, new_weight, 3))
    text = log.read_text()
    assert "useful basis" in text and "primal simplex" in text.lower() and "Ph1" not in text
    # a basis of another shape is ignored: the interior point method solves the LP
    other, _, _ = mclp(4, n_demand=50, n_sites=12)
    log2 = tmp_path / "cold.log"
    again = solve_lp_first(prob2, start=None, fix="open", time_limit=None, gap=None, threads=1, log_path=log2,
                           warm=LpWarm(solve_lp_first(other, start=None, fix="open", time_limit=None, gap=None,
                                                      threads=1, log_path=None).lp_basis))
    assert again.objective == pytest.approx(out.objective)
    assert "useful basis" not in log2.read_text() and "IPX" in log2.read_text()
