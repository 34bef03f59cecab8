"""Hand-checked instances and invariants guarding classic location-model bugs."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import scipy.sparse as sp

from healthopt.errors import InfeasiblePlanError, InputError
from healthopt.milp.problem import MilpProblem
from healthopt.models import DSM, LSCP, MCLP, MEXCLP, PCenter, PMedian

# 4 demand points on a line at 0, 10, 20, 30; 3 sites at 0, 15, 30 (minutes = distance)
DEM = np.array([0.0, 10.0, 20.0, 30.0])
SITES = np.array([0.0, 15.0, 30.0])
LINE = np.abs(DEM[:, None] - SITES[None, :])  # demand × sites
W = np.array([10.0, 20.0, 30.0, 40.0])


def test_hand_instance_all_models():
    # LSCP within 5: site 1 covers demand 1 and 2 (5 min); sites 0, 2 cover 0 and 3 -> 3 sites
    assert LSCP.from_cost_matrix(LINE, 5).solve().objective == 3
    # within 15 a single site (middle) covers everything
    assert LSCP.from_cost_matrix(LINE, 15).solve().objective == 1
    # MCLP p=1, T=5: middle site covers 20 + 30 = 50 > 40 (site 2) > 10
    r = MCLP.from_cost_matrix(LINE, W, 5, 1).solve()
    assert r.objective == 50 and r.open_sites == [1]
    # p-median p=1: site 1 costs 10*15+20*5+30*5+40*15 = 1000; site 2: 10*30+20*20+30*10 = 1000
    assert PMedian.from_cost_matrix(LINE, W, 1).solve().objective == 1000
    # p-center p=1: middle site, worst 15
    assert PCenter.from_cost_matrix(LINE, 1).solve().objective == 15
    # p-center p=2: sites 0 and 2 -> worst 10
    assert PCenter.from_cost_matrix(LINE, 2).solve().objective == 10


def test_spopt_argument_order_and_status_words():
    r = MCLP.from_cost_matrix(LINE, W, 5, 1, np.array([0, 0, 1]))  # predefined site 2
    res = r.solve()
    assert res.open_sites == [2] and res.status == "optimal" and res.gap == 0
    assert res.build_seconds >= 0 and res.solve_seconds >= 0


def test_fixed_and_forbidden_sites():
    res = MCLP.from_cost_matrix(LINE, W, 5, 2, fixed_sites=[0], forbidden_sites=[1]).solve()
    opened = set(res.open_sites)
    assert 0 in opened and 1 not in opened
    assert res.sites.set_index("site_id").loc[0, "fixed"]
    res = PMedian.from_cost_matrix(LINE, W, 2, forbidden_sites=[1]).solve()
    assert set(res.open_sites) == {0, 2}


def test_fixed_sites_with_ids():
    ids = ["a", "b", "c"]
    res = LSCP.from_cost_matrix(LINE, 15, site_ids=ids, fixed_sites=["c"]).solve()
    assert "c" in res.open_sites and res.objective == 2


def test_unreachable_demand_reported_before_solving():
    with pytest.raises(InfeasiblePlanError, match="cannot be reached within 4 minutes"):
        LSCP.from_cost_matrix(LINE, 4).solve()
    # forbidding the only site near demand 0 makes it unreachable
    with pytest.raises(InfeasiblePlanError, match="demand 0"):
        LSCP.from_cost_matrix(LINE, 5, forbidden_sites=[0]).solve()


def test_demand_above_total_capacity_reported_before_solving():
    model = LSCP.from_cost_matrix(LINE, 15, demand_quantity_arr=W, facility_capacity_arr=np.array([20.0, 30.0, 40.0]))
    with pytest.raises(InfeasiblePlanError, match="total demand 100 exceeds the total capacity 90"):
        model.solve()


def test_capacitated_lscp_honours_radius_and_open_sites():
    cap = np.array([40.0, 60.0, 40.0])
    res = LSCP.from_cost_matrix(LINE, 15, demand_quantity_arr=W, facility_capacity_arr=cap).solve()
    # one site (cap 60) cannot hold 100 -> at least 2
    assert res.objective == 2
    a = res.assignments
    assert (a.travel_time <= 15).all()
    assert set(a.site_id) <= set(res.open_sites)
    load = res.sites.set_index("site_id").assigned_demand
    assert (load <= pd_series(cap) + 1e-6).all()
    assert abs(load.sum() - W.sum()) < 1e-6


def pd_series(values):
    import pandas as pd

    return pd.Series(values, index=range(len(values)))


def test_capacitated_mclp_no_assignment_beyond_radius():
    rng = np.random.default_rng(3)
    D = rng.uniform(0, 30, (40, 8))
    w = rng.integers(1, 20, 40).astype(float)
    w[:3] = 0.0  # zero-weight demand must not be assigned to closed sites either
    cap = np.full(8, 60.0)
    res = MCLP.from_cost_matrix(D, w, 10, 3, capacities=cap).solve()
    a = res.assignments
    assert (a.travel_time <= 10 + 1e-9).all()
    assert set(a.site_id) <= set(res.open_sites)
    assert (res.sites.assigned_demand <= 60 + 1e-6).all()
    unc = MCLP.from_cost_matrix(D, w, 10, 3).solve()
    assert res.objective <= unc.objective + 1e-6
    assert abs(res.objective - (w * res.coverage.served_share).sum()) < 1e-6


def test_budget_variant():
    costs = np.array([5.0, 20.0, 5.0])
    res = MCLP.from_cost_matrix(LINE, W, 5, None, site_costs=costs, budget=10).solve()
    assert set(res.open_sites) == {0, 2} and res.objective == 50
    res = LSCP.from_cost_matrix(LINE, 15, site_costs=costs).solve()
    assert res.objective == 10  # sites 0 + 2 (cost 10) beat the middle one (cost 20)


def test_equity_raises_worst_district_share():
    # district A = demand 0 (weight 10), district B = demand 1..3; p=1, T=5
    districts = ["A", "B", "B", "B"]
    plain = MCLP.from_cost_matrix(LINE, W, 5, 1, districts=districts).solve()
    worst_plain = plain.districts.share.min()
    fair = MCLP.from_cost_matrix(LINE, W, 5, 2, districts=districts, equity=True).solve()
    fair_plain = MCLP.from_cost_matrix(LINE, W, 5, 2, districts=districts).solve()
    assert fair.districts.share.min() >= fair_plain.districts.share.min() - 1e-9
    assert worst_plain == 0.0
    # with p=2 the fair plan must serve district A
    assert fair.districts.set_index("district").loc["A", "share"] == 1.0
    assert fair.details["equity_level"] == pytest.approx(fair.districts.share.min())


def test_min_district_share_constraint():
    districts = ["A", "B", "B", "B"]
    res = MCLP.from_cost_matrix(LINE, W, 5, 1, districts=districts, min_district_share={"A": 1.0}).solve()
    assert res.open_sites == [0]
    assert res.districts.set_index("district").loc["A", "share"] == 1.0


def test_zero_minute_pairs_from_sparse_input_count_as_covered():
    # demand 0 sits on site 0 (explicit 0), demand 1 is 3 min from site 1
    M = sp.csr_matrix((np.array([0.0, 3.0]), (np.array([0, 1]), np.array([0, 1]))), shape=(2, 2))
    assert M.nnz == 2
    res = LSCP.from_cost_matrix(M, 5).solve()
    assert res.objective == 2 and res.coverage.covered.all()
    res = MCLP.from_cost_matrix(M, [1.0, 1.0], 0, 1).solve()
    assert res.objective == 1 and res.open_sites == [0]
    # travel-time object: sites × demand, explicit zero, plus .coverage()
    tt = SimpleNamespace(matrix=M.T.tocsr(), site_ids=np.array(["s0", "s1"]), demand_ids=np.array(["d0", "d1"]))
    res = MCLP.from_travel_times(tt, [5.0, 1.0], 0, 1).solve()
    assert res.objective == 5 and res.open_sites == ["s0"]


def test_eliminated_zero_recovered_through_coverage_or_mask():
    M = sp.csr_matrix((np.array([0.0, 3.0]), (np.array([0, 1]), np.array([0, 1]))), shape=(2, 2))
    lost = M.copy()
    lost.eliminate_zeros()
    assert lost.nnz == 1
    mask = np.array([[True, False], [False, True]])
    assert LSCP.from_cost_matrix(lost, 5, reachable=mask).solve().objective == 2
    cov = sp.csr_matrix(mask.T)
    tt = SimpleNamespace(matrix=lost.T.tocsr(), coverage=lambda minutes: cov)
    assert LSCP.from_travel_times(tt, None, 5).solve().objective == 2


def test_travel_times_orientation_and_site_table():
    import pandas as pd

    tt = SimpleNamespace(minutes=sp.csr_matrix(LINE.T), site_ids=np.array([100, 200, 300]), demand_ids=np.arange(4))
    table = pd.DataFrame({"site_id": [300, 100, 200], "forbidden": [False, False, True]})
    res = MCLP.from_travel_times(tt, W, 5, 1, site_table=table).solve()
    assert res.open_sites == [300]
    with pytest.raises(InputError):
        MCLP.from_travel_times(SimpleNamespace(matrix=sp.csr_matrix(LINE.T), site_ids=np.arange(4)), W, 5, 1)


def test_dsm_hand_instance():
    # 2 sites, both within r1 of all 3 demand points; p=2 vehicles
    D = np.array([[1.0, 2.0], [1.0, 2.0], [8.0, 1.0]])
    w = np.array([5.0, 5.0, 3.0])
    res = DSM.from_cost_matrix(D, w, 3, 10, 2, alpha=0.5, max_vehicles=2).solve()
    # one vehicle at each site double-covers demand 0 and 1 (10); demand 2 single -> 10
    # both at site 0: double covers 0,1 (10) too; both at site 1: all three doubly -> 13
    assert res.objective == 13
    assert res.sites.set_index("site_id").loc[1, "vehicles"] == 2
    assert res.details["double_covered_weight"] == 13
    # alpha = 1 with only site 1 allowed: fine; r2 rule reported before solving
    with pytest.raises(InfeasiblePlanError, match=r"within 1\.5 minutes"):
        DSM.from_cost_matrix(D, w, 1, 1.5, 2, forbidden_sites=[1]).solve()


def test_mexclp_hand_instance():
    D = np.array([[1.0, 9.0], [9.0, 1.0]])
    w = np.array([10.0, 1.0])
    res = MEXCLP.from_cost_matrix(D, w, 5, 2, 0.5, max_vehicles=2).solve()
    # 2 at site 0: 10*(1-.25) = 7.5; 1+1: 10*.5 + 1*.5 = 5.5
    assert res.objective == pytest.approx(7.5)
    assert res.sites.vehicles.tolist() == [2, 0]


def test_pmedian_max_time_and_capacity():
    res = PMedian.from_cost_matrix(LINE, W, 2, max_time=10).solve()
    assert (res.assignments.travel_time <= 10).all()
    with pytest.raises(InfeasiblePlanError, match="cannot be reached within 4 minutes"):
        PMedian.from_cost_matrix(LINE, W, 2, max_time=4).solve()
    cap = np.array([35.0, 100.0, 35.0])
    res = PMedian.from_cost_matrix(LINE, W, 2, facility_capacities=cap).solve()
    loads = res.sites.set_index("site_id").assigned_demand
    assert (loads <= cap + 1e-6).all()
    assert set(res.assignments.site_id) <= set(res.open_sites)


def test_pcenter_with_fixed_and_unreachable():
    res = PCenter.from_cost_matrix(LINE, 2, np.array([False, True, False])).solve()
    assert 1 in res.open_sites and res.objective == 15
    M = sp.csr_matrix(np.array([[1.0, 0.0], [0.0, 2.0]]))
    M.eliminate_zeros()
    with pytest.raises(InfeasiblePlanError, match="whatever the travel time"):
        PCenter.from_cost_matrix(M, 1).solve()


def test_bad_arguments_raise_input_error():
    with pytest.raises(InputError):
        MCLP.from_cost_matrix(LINE, W[:2], 5, 1)
    with pytest.raises(InputError):
        MCLP.from_cost_matrix(LINE, W, -1, 1)
    with pytest.raises(InputError):
        MCLP.from_cost_matrix(LINE, W, 5, 1.5)
    with pytest.raises(InputError):
        MCLP.from_cost_matrix(LINE, W, 5, 1, fixed_sites=[0], forbidden_sites=[0])
    with pytest.raises(InputError):
        MCLP.from_cost_matrix(LINE, W, 5, 1).solve(solver="gurobi")
    with pytest.raises(InputError):
        MCLP.from_cost_matrix(LINE, W, 5, 1, equity=True)


def test_plan_can_add_constraints_and_diagnose():
    model = MCLP.from_cost_matrix(LINE, W, 5, 2, site_costs=[1.0, 1.0, 1.0], budget=1)
    with pytest.raises(InfeasiblePlanError):  # fixed cost check is fine, solver says infeasible
        model.solve().raise_if_no_plan()
    assert model.result.status == "infeasible"
    culprits = model.diagnose_infeasibility()
    assert set(culprits) == {"site_count", "budget"}
    # a plan adds its own rule: site 1 and site 2 not both open
    model = MCLP.from_cost_matrix(LINE, W, 5, 2)
    prob = model.build()
    prob.add_constraints("exclusive", {"y": np.array([[0.0, 1.0, 1.0]])}, ub=1)
    res = model.solve()
    assert not {1, 2} <= set(res.open_sites)
    # extend(): applied at every build
    model = MCLP.from_cost_matrix(LINE, W, 5, 1)
    model.extend(lambda m, p: p.add_constraints("no_mid", {"y": np.array([0.0, 1.0, 0.0])}, ub=0))
    assert model.solve().open_sites == [2]


def test_milp_problem_blocks():
    p = MilpProblem("t", "max")
    p.add_variables("y", 3, ub=1, integer=True, obj=[1, 2, 3])
    p.add_constraints("count", {"y": np.ones((1, 3))}, ub=2)
    A, _lb, ub = p.assemble()
    assert A.shape == (1, 3) and ub[0] == 2
    p.add_variables("t", 1, ub=5, obj=1)
    A, _, _ = p.assemble()
    assert A.shape == (1, 4)
    assert p.var_names()[-1] == "t[0]" and p.row_names() == ["count[0]"]
