"""Lagrangian site fixing keeps the optimum (issue 16): brute force on small random instances.

:meth:`healthopt.models.base.LocationModel.fix_by_bound` opens or closes the sites whose
forced opposite makes the Lagrangian bound worse than the start; every optimal plan found
by enumerating all site subsets must agree with those fixings, and the model's answer must
equal the enumerated optimum.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import scipy.sparse as sp

from healthopt.models import LSCP, MCLP, PMedian
from healthopt.models.heuristics import lagrangian_fixing, mclp_lagrangian, pmedian_lagrangian


def points(n_demand: int, n_sites: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    a, b = rng.uniform(0, 20, (n_demand, 2)), rng.uniform(0, 20, (n_sites, 2))
    return np.sqrt(((a[:, None] - b[None]) ** 2).sum(-1)), rng.integers(1, 100, n_demand).astype(float)


def all_plans(n_sites: int, p: int, cost) -> tuple[float, list[tuple[int, ...]]]:
    """The optimum (least cost) over every p-subset and every subset that reaches it."""
    values = {S: cost(list(S)) for S in itertools.combinations(range(n_sites), p)}
    best = min(values.values())
    return best, [S for S, v in values.items() if v <= best + 1e-9 * max(1.0, abs(best))]


@pytest.mark.parametrize("seed", range(6))
def test_pmedian_fixing_agrees_with_every_optimal_plan(seed):
    D, w = points(40, 12, seed)
    p = 3 + seed % 3
    best, optima = all_plans(12, p, lambda S: float(w @ D[:, S].min(axis=1)))
    # the pairs as the heuristics take them, sorted by (demand, time)
    d, s = np.divmod(np.arange(D.size), 12)
    t = D.ravel()
    order = np.lexsort((s, t, d))
    d, s, t = d[order], s[order], t[order]
    lag = pmedian_lagrangian(d, s, t, w, 12, p, np.zeros(12), np.ones(12, bool), best, w * D.min(axis=1),
                             iterations=2000)
    assert lag.bound <= best * (1 + 1e-9)
    must_close, must_open = lagrangian_fixing(lag, best)
    for S in optima:
        assert not must_close[list(S)].any()
        assert must_open[list(set(range(12)) - set(S))].sum() == 0
    res = PMedian.from_cost_matrix(D, w, p).solve()
    assert res.objective == pytest.approx(best, rel=1e-9)
    assert res.details["heuristic"]["objective"] >= res.objective - 1e-6


def test_pmedian_fixing_fixes_sites_on_an_easy_instance():
    """The fixing does something (so the tests above can fail): most far sites are closed."""
    D, w = points(120, 25, 3)
    res = PMedian.from_cost_matrix(D, w, 4).solve()
    info = res.details["bound_fixing"]
    assert info["closed"] + info["opened"] > 0
    assert info["pairs_after"] < info["pairs"]
    best, _ = all_plans(25, 4, lambda S: float(w @ D[:, S].min(axis=1)))
    assert res.objective == pytest.approx(best, rel=1e-9)


@pytest.mark.parametrize("seed", range(6))
def test_mclp_fixing_agrees_with_every_optimal_plan(seed):
    dist, w = points(60, 12, seed)
    radius, p = 4.0, 3
    cover = dist <= radius
    best, optima = all_plans(12, p, lambda S: -float(w @ cover[:, S].any(axis=1)))
    inc = sp.csr_matrix(cover.astype(float))
    lag = mclp_lagrangian(inc, w, p, np.zeros(12), np.ones(12), -best, iterations=2000)
    assert lag.bound >= -best - 1e-6
    must_close, must_open = lagrangian_fixing(lag, -best)
    for S in optima:
        assert not must_close[list(S)].any()
        assert must_open[list(set(range(12)) - set(S))].sum() == 0
    res = MCLP.from_cost_matrix(dist, w, radius, p).solve()
    assert res.objective == pytest.approx(-best, rel=1e-9)


def test_fixing_with_a_worse_incumbent_is_still_exact():
    """A start far from the optimum fixes less, never wrongly: every optimum survives."""
    D, w = points(40, 12, 11)
    best, optima = all_plans(12, 4, lambda S: float(w @ D[:, S].min(axis=1)))
    d, s = np.divmod(np.arange(D.size), 12)
    t = D.ravel()
    order = np.lexsort((s, t, d))
    d, s, t = d[order], s[order], t[order]
    for factor in (1.0, 1.01, 1.1):
        lag = pmedian_lagrangian(d, s, t, w, 12, 4, np.zeros(12), np.ones(12, bool), best * factor,
                                 w * D.min(axis=1))
        must_close, must_open = lagrangian_fixing(lag, best * factor)
        for S in optima:
            assert not must_close[list(S)].any() and not must_open[list(set(range(12)) - set(S))].any()


@pytest.mark.parametrize("seed", range(8))
def test_lscp_dominance_reductions_keep_the_brute_force_optimum(seed):
    """Dominated sites and implied rows removed (integer times: many nested sets), optimum unchanged."""
    from bruteforce import lscp as brute_lscp

    rng = np.random.default_rng(seed)
    dist = np.round(points(60, 11, seed)[0] / 2)
    radius = 3.0
    if not (dist <= radius).any(axis=1).all():
        dist[:, 0] = np.minimum(dist[:, 0], radius)  # every point reachable (else the LSCP is infeasible)
    costs = rng.integers(1, 3, 11).astype(float) if seed % 2 else None
    model = LSCP.from_cost_matrix(dist, radius, site_costs=costs)
    res = model.solve()
    assert res.objective == pytest.approx(brute_lscp(dist, radius, costs))
    assert res.coverage["covered"].all()
    red = model.reduction
    assert red["dominated_sites"] + red["implied_rows"] > 0  # the reductions did something here


def test_no_fixing_when_a_plan_added_rows_after_build():
    """Rows added after build may change what is optimal: the model then solves without fixing."""
    D, w = points(120, 25, 3)
    model = PMedian.from_cost_matrix(D, w, 4)
    prob = model.build()
    first = PMedian.from_cost_matrix(D, w, 4).solve()
    best = np.flatnonzero(first.sites["open"].to_numpy())
    # forbid the unconstrained optimum's first site through an added row
    row = np.zeros((1, 25))
    row[0, best[0]] = 1.0
    prob.add_constraints("no_site", {"y": row}, -np.inf, 0.0, description="a plan's own rule")
    res = model.solve()
    assert "bound_fixing" not in res.details
    assert not res.sites["open"].to_numpy()[best[0]]
    assert res.objective >= first.objective - 1e-6
