"""Objectives of every model against brute-force enumeration over site subsets."""

from __future__ import annotations

import bruteforce as bf
from bruteforce import instances
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from healthopt.errors import InfeasiblePlanError
from healthopt.models import LSCP, MCLP, MEXCLP, PCenter, PMedian

SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(instances())
def test_lscp_matches_brute_force(inst):
    D, _, _, T = inst
    best = bf.lscp(D, T)
    model = LSCP.from_cost_matrix(D, T)
    if best is None:
        try:
            model.solve()
        except InfeasiblePlanError as exc:
            assert "cannot be reached" in str(exc)
            return
        raise AssertionError("expected an infeasibility report")
    assert model.solve().objective == best


@SETTINGS
@given(instances())
def test_mclp_matches_brute_force(inst):
    D, w, p, T = inst
    best = bf.mclp(D, w, T, p)
    res = MCLP.from_cost_matrix(D, w, T, p).solve()
    assert abs(res.objective - best) < 1e-6
    # result tables agree with the objective
    assert abs(res.coverage.loc[res.coverage.covered, "weight"].sum() - best) < 1e-6
    assert res.sites.open.sum() == p


@SETTINGS
@given(instances())
def test_pmedian_matches_brute_force(inst):
    D, w, p, _ = inst
    best = bf.pmedian(D, w, p)
    res = PMedian.from_cost_matrix(D, w, p).solve()
    assert abs(res.objective - best) < 1e-6
    # uncapacitated: every demand point goes to its nearest open site
    assert abs((res.assignments.travel_time * w[res.assignments.demand_id]).sum() - best) < 1e-6


@SETTINGS
@given(instances())
def test_pcenter_matches_brute_force(inst):
    D, _, p, _ = inst
    best = bf.pcenter(D, p)
    res = PCenter.from_cost_matrix(D, p).solve()
    assert res.objective == best
    assert res.assignments.travel_time.max() == best
    assert res.sites.open.sum() <= p


@SETTINGS
@given(instances(max_sites=5, max_demand=8), st.sampled_from([0.0, 0.3, 0.6]), st.integers(1, 2))
def test_mexclp_matches_brute_force(inst, q, kmax):
    D, w, p, T = inst
    p = min(p, 3)
    best = bf.mexclp(D, w, T, p, q, max_vehicles=kmax)
    model = MEXCLP.from_cost_matrix(D, w, T, p, q, max_vehicles=kmax)
    if best is None:  # sites cannot hold p vehicles
        try:
            model.solve()
        except InfeasiblePlanError as exc:
            assert "vehicles" in str(exc)
            return
        raise AssertionError("expected an infeasibility report")
    res = model.solve()
    assert abs(res.objective - best) < 1e-6
    assert res.sites.vehicles.sum() == p
    assert abs(model.expected_coverage(res.sites.vehicles.to_numpy()) - best) < 1e-6


@settings(max_examples=20, deadline=None)
@given(instances())
def test_mclp_coverage_never_falls_as_p_grows(inst):
    D, w, _, T = inst
    prev = -1.0
    for p in range(1, D.shape[1] + 1):
        obj = MCLP.from_cost_matrix(D, w, T, p).solve().objective
        assert obj >= prev - 1e-9
        prev = obj
