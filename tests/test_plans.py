"""Ambulance and bed plans on hand-checkable instances."""

import bruteforce as bf
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from healthopt.errors import InfeasiblePlanError
from healthopt.plans.ambulances import AmbulancePlan
from healthopt.plans.beds import BedPlan


def _instance(model="mexclp", **kw):
    # 3 sites x 4 demand points; sites 0,1 in district A (urban), site 2 in B (county)
    minutes = sp.csr_matrix(np.array([
        [2.0, 5.0, 0.0, 0.0],
        [0.0, 3.0, 9.0, 0.0],
        [0.0, 0.0, 0.0, 4.0],
    ]))
    minutes = sp.csr_matrix((minutes.data, minutes.indices, minutes.indptr), shape=(3, 4))
    sites = pd.DataFrame({"site_id": ["s0", "s1", "s2"], "district_code": ["A", "A", "B"],
                          "existing": [False, False, False], "max_vehicles": [3, 3, 3],
                          "location_quality": "test"})
    demand = pd.DataFrame({"demand_id": ["d0", "d1", "d2", "d3"], "district_code": ["A", "A", "A", "B"],
                           "population": [30000, 20000, 40000, 10000],
                           "standard_minutes": [12.0, 12.0, 12.0, 20.0]})
    norms = pd.DataFrame({"code": ["A", "B"], "name_zh": ["甲区", "乙县"], "norm_class": ["urban", "county"],
                          "residents": [90000, 10000], "residents_per_vehicle": [30000.0, 10000.0],
                          "min_vehicles": [3, 1], "min_negative_pressure": [0, 0]})
    return AmbulancePlan(minutes, sites, demand, norms, county_codes=["B"], model=model, **kw)


@pytest.mark.parametrize("model", ["mexclp", "capacitated"])
def test_norms_share_and_coverage(model):
    r = _instance(model).solve(solver="highs")
    assert r.optimal
    by = r.districts.set_index("code")
    assert by.loc["A", "amb_planned"] == 3 and by.loc["B", "amb_planned"] == 1
    assert r.totals["np_planned"] == 2  # ceil(0.4 * 4)
    # d2 is only reachable from s1: s1 must be open; with capacity 30,000/vehicle the
    # 90,000 residents of A are all served, B's 10,000 by its county centre.
    assert r.totals["pop_covered"] == 100000
    assert r.totals["pop_outside"] == 0
    assert set(r.stations["site_id"]) >= {"s1", "s2"}
    assert (r.stations["physicians"] == r.stations["vehicles"] * 3).all()


def test_capacity_breakdown_three_ways():
    plan = _instance("capacitated", max_vehicles=4)
    plan.demand.loc[2, "population"] = 70000  # A now needs more than 3 vehicles' capacity
    r = plan.solve(solver="highs")
    t = r.totals
    assert t["pop_covered"] + t["pop_beyond_capacity"] + t["pop_outside"] == t["pop_total"] == 130000
    assert t["pop_covered"] == 100000  # 3 x 30,000 + 1 x 10,000
    assert t["pop_beyond_capacity"] == 30000


def test_budget_below_norm_is_explained_in_planning_terms():
    with pytest.raises(InfeasiblePlanError, match=r"fleet norm needs 4 ambulances.*budget allows 3"):
        _instance(max_vehicles=3).solve()


def test_district_without_enough_sites_is_explained():
    plan = _instance()
    plan.sites.loc[:, "max_vehicles"] = 1
    expected = "甲区 needs 3 ambulances by norm; its candidate stations can hold at most 2"
    with pytest.raises(InfeasiblePlanError, match=expected):
        plan.solve()


def _beds(**kw):
    targets = pd.DataFrame({"code": ["A", "B"], "name_zh": ["甲区", "乙县"], "residents": [100000, 50000],
                            "beds_2022_estimate": [500, 100], "beds_2025_target": [700, 400],
                            "strategy": ["strengthen", "priority"]})
    # occupancy 80 % and 8 days pass the efficiency rule (>= 75 %, <= 9 days; 001 §四(一)2)
    hospitals = pd.DataFrame({"name_zh": ["H1"], "beds_2022": [200], "beds_2025": [300],
                              "level": ["tertiary"], "district_code": ["A"],
                              "occupancy_2022": [0.80], "avg_stay_days_2022": [8.0]})
    return BedPlan(targets, hospitals, citywide_per_1000=0.0, infectious_min={"B": 20}, **kw)


def test_beds_reach_targets_without_budget():
    r = _beds().solve()
    d = r.districts.set_index("code")
    assert d.loc["A", "municipal_added"] == 100  # committed annex-2 growth
    assert d.loc["A", "beds_planned"] == 700 and d.loc["B", "beds_planned"] == 400
    assert r.unmet == []
    h = r.hospitals.iloc[0]
    assert (h["icu_min"], h["icu_max"]) == (15, 24)  # 5-8 % of 300


def test_beds_budget_serves_priority_first():
    r = _beds(max_new_beds=350).solve()  # 100 committed + 250 other; shortfall 200+300-250
    d = r.districts.set_index("code")
    assert d.loc["B", "shortfall"] == 50  # priority district gets 250 of its 300
    assert d.loc["A", "shortfall"] == 100
    assert len(r.unmet) == 2


def test_greedy_start_is_feasible_and_not_better_than_optimum():
    plan = _instance("mexclp", max_vehicles=6)
    p = plan.build()
    start = plan.greedy_start(p)
    assert start is not None
    A, lo, hi = p.assemble()
    row = A @ start
    assert (row >= lo - 1e-9).all() and (row <= hi + 1e-9).all()
    v = start[p.blocks["v"].slice]
    assert v.sum() == 6 and v[2] >= 1  # fleet cap used; the county keeps its centre
    r = plan.solve(solver="highs")
    assert r.objective >= float(p.obj @ start) - 1e-6


def test_health_centres_sited_by_p_median():
    from healthopt.plans.primary_care import site_health_centres

    # district U: 3 candidate sites on a line, 4 demand points; county C: 2 sites, 2 points
    m_u = sp.csr_matrix(np.array([[1.0, 4.0, 9.0, 12.0],
                                  [6.0, 2.0, 3.0, 7.0],
                                  [12.0, 9.0, 4.0, 1.0]]))
    m_c = sp.csr_matrix(np.array([[1.0, 30.0], [30.0, 2.0]]))
    sites = pd.DataFrame({"site_id": ["u0", "u1", "u2", "c0", "c1"], "district_code": ["U"] * 3 + ["C"] * 2,
                          "location_quality": "test"})
    demand = pd.DataFrame({"demand_id": list("abcdef"), "district_code": ["U"] * 4 + ["C"] * 2,
                           "population": [100, 10, 10, 100, 50, 60]})
    required = pd.DataFrame({"code": ["U", "C"], "required_chc": [2, 0], "required_thc": [0, 2]})
    xy = np.zeros((6, 2))
    r = site_health_centres({"U": m_u, "C": m_c}, sites, demand, required, max_minutes=5,
                            counties=["C"], seat_distance_km=np.array([0, 0, 0, 1.0, 20.0]), demand_xy=xy,
                            subcentres=(1, 1), solver="highs")
    got = r.centres.set_index("site_id")
    # U: opening u0 and u2 costs 100*1 + 10*4 + 10*4 + 100*1 = 280, the least of the 3 pairs
    assert set(got.index) == {"u0", "u2", "c0", "c1"}
    assert (got.loc[["u0", "u2"], "kind"] == "chc").all()
    assert got.loc["c1", "kind"] == "subcentre"  # farthest from the seat, catchment >= median
    assert got.loc["c0", "kind"] == "thc"
    d = r.districts.set_index("code")
    assert d.loc["U", "pop_within_standard"] == 220 and d.loc["C", "pop_within_standard"] == 110


def test_dsm_maximises_double_coverage_within_r1():
    # Within r1 = 3 min: d0 <- s0 (2.0), d1 <- s1 (3.0); nothing else. District A has exactly
    # 3 vehicles (its norm, fleet cap 4) and s1 must hold one (d2 is reachable only from s1).
    # Covering d0 twice (30,000) takes s0 = 2, s1 = 1; d1 twice (20,000) would take s1 = 2 and
    # leave d0 uncovered within r1, breaking alpha (50 % of 100,000 needs d0 + d1 once).
    plan = _instance("dsm", r1_minutes=3.0, alpha=0.5, max_vehicles=4)
    r = plan.solve(solver="highs")
    assert r.optimal
    assert r.objective == pytest.approx(30_000, abs=5)  # tie-break terms are below 5 persons
    v = r.stations.set_index("site_id")["vehicles"]
    assert (v["s0"], v["s1"], v["s2"]) == (2, 1, 1)


def test_dsm_reports_residents_out_of_reach():
    plan = _instance("dsm")
    plan.minutes = plan.minutes.tolil()
    plan.minutes[2, 3] = 0  # nobody reaches d3 (the county) any more
    plan.minutes = plan.minutes.tocsr()
    plan.minutes.eliminate_zeros()
    plan.__post_init__()
    with pytest.raises(InfeasiblePlanError, match=r"10,000 residents \(most in 乙县\)"):
        plan.solve()


def test_relaxed_norms_give_the_best_plan_the_budget_allows():
    # Budget 3 < norm 4. B must keep its county centre (1 vehicle), so the least shortfall
    # is one ambulance in A; A's 2 vehicles then serve 60,000 of its 90,000 residents.
    r = _instance("capacitated", max_vehicles=3).solve(solver="highs", relax_norms=True)
    by = r.districts.set_index("code")
    assert (by.loc["A", "amb_planned"], by.loc["B", "amb_planned"]) == (2, 1)
    assert r.relaxed == ["甲区 (A): 2 ambulances against the fleet norm of 3 (short 1)"]
    assert any("budget allows 3" in reason for reason in r.infeasible_reasons)
    assert r.totals["pop_covered"] == 70000 and r.totals["np_planned"] >= 2


def test_feasible_plan_is_not_relaxed():
    r = _instance("capacitated").solve(solver="highs", relax_norms=True)
    assert r.relaxed == [] and r.infeasible_reasons == [] and r.optimal


def test_relaxed_shortfall_is_shared_in_proportion_to_the_norms():
    # A has 90,000 residents, B 30,000, both norms 3, budget 4. Coverage alone would give
    # A 3 and B 1 (B short 2); shared in proportion each district is short by 1.
    minutes = sp.csr_matrix(np.array([[2.0, 2.0, 2.0, 0.0], [3.0, 3.0, 3.0, 0.0],
                                      [0.0, 0.0, 0.0, 2.0], [0.0, 0.0, 0.0, 3.0]]))
    sites = pd.DataFrame({"site_id": ["a0", "a1", "b0", "b1"], "district_code": ["A", "A", "B", "B"],
                          "existing": False, "max_vehicles": 3})
    demand = pd.DataFrame({"demand_id": ["d0", "d1", "d2", "d3"], "district_code": ["A", "A", "A", "B"],
                           "population": [30000, 30000, 30000, 30000], "standard_minutes": 12.0})
    norms = pd.DataFrame({"code": ["A", "B"], "name_zh": ["甲区", "乙区"], "norm_class": "urban",
                          "residents": [90000, 30000], "residents_per_vehicle": 30000.0,
                          "min_vehicles": [3, 3], "min_negative_pressure": [0, 0]})
    plan = AmbulancePlan(minutes, sites, demand, norms, model="capacitated", max_vehicles=4)
    r = plan.solve(solver="highs", relax_norms=True)
    by = r.districts.set_index("code")["amb_planned"]
    assert (by["A"], by["B"]) == (2, 2)
    assert r.relaxed == ["甲区 (A): 2 ambulances against the fleet norm of 3 (short 1)",
                         "乙区 (B): 2 ambulances against the fleet norm of 3 (short 1)"]
    assert r.totals["pop_covered"] == 90000


def _station_trap():
    # A (norm 3): a0 reaches d5, a1 reaches d0, d1, d3. B (norm 2): b0 reaches d4, d5; b1 reaches
    # d1, d2, d4. At most 3 stations of up to 3 ambulances. The greedy covers d5 from b0 and so has
    # no station left for a0; the best plan reaches d5 from a0 and serves d4 from b1 alone.
    pairs = {("a0", 5), ("b0", 4), ("b0", 5), ("a1", 0), ("a1", 1), ("a1", 3), ("b1", 1), ("b1", 2), ("b1", 4)}
    ids = ["a0", "b0", "a1", "b1"]
    minutes = sp.csr_matrix(np.array([[1.0 if (s, d) in pairs else 0.0 for d in range(6)] for s in ids]))
    sites = pd.DataFrame({"site_id": ids, "district_code": ["A", "B", "A", "B"], "existing": False,
                          "max_vehicles": 3})
    demand = pd.DataFrame({"demand_id": [f"d{i}" for i in range(6)], "district_code": list("ABBABB"),
                           "population": [7000, 7000, 6000, 7000, 4000, 5000], "standard_minutes": 12.0})
    norms = pd.DataFrame({"code": ["A", "B"], "name_zh": ["甲区", "乙区"], "norm_class": "urban",
                          "residents": [90000, 60000], "residents_per_vehicle": 30000.0,
                          "min_vehicles": [3, 2], "min_negative_pressure": [0, 0]})
    return AmbulancePlan(minutes, sites, demand, norms, max_new_stations=3)


def test_start_moves_a_station_the_greedy_misplaced():
    from healthopt.plans.ambulance_search import VehicleSearch, greedy_vehicles

    plan = _station_trap()
    p = plan.build()
    cover, weight = plan.mexclp_groups
    assert list(greedy_vehicles(plan, cover, weight)) == [0, 1, 3, 1]
    v = p.value(plan.greedy_start(p), "v")
    assert list(v) == [1, 0, 2, 2]  # b0 closed (its ambulance to b1), a0 opened with one from a1
    search = VehicleSearch(plan, cover, weight)
    D = np.where(plan.minutes.toarray() > 0, 1.0, np.inf).T
    best = bf.ambulance_mexclp(D, plan.demand["population"].to_numpy(float), 12.0, 0.3, np.full(4, 3),
                               plan.sites["district_code"].to_numpy(), {"A": 3, "B": 2}, max_new=3)
    assert search.score(v) == pytest.approx(best) == pytest.approx(32281.8)
    r = plan.solve(solver="highs", gap=None)
    assert r.optimal and list(r.stations["site_id"]) == ["a0", "a1", "b1"]


@st.composite
def _plans(draw):
    """Small random MEXCLP plans: 2 districts, 4-7 sites (some existing), norms, station budgets."""
    rng = np.random.default_rng(draw(st.integers(0, 2**31 - 1)))
    ns, nd = draw(st.integers(4, 7)), draw(st.integers(3, 8))
    minutes = np.where(rng.random((ns, nd)) < 0.45, rng.integers(1, 20, (ns, nd)), 0).astype(float)
    district = np.array(["A", "B"])[np.arange(ns) % 2]
    caps = rng.integers(1, 4, ns)
    existing = rng.random(ns) < 0.2
    norms = {d: int(rng.integers(int(existing[district == d].sum()), caps[district == d].sum() + 1))
             for d in ("A", "B")}
    sites = pd.DataFrame({"site_id": [f"s{j}" for j in range(ns)], "district_code": district,
                          "existing": existing, "max_vehicles": caps})
    demand = pd.DataFrame({"demand_id": [f"d{i}" for i in range(nd)], "district_code": "A",
                           "population": rng.integers(0, 10, nd) * 1000, "standard_minutes": 12.0})
    table = pd.DataFrame({"code": ["A", "B"], "name_zh": ["甲区", "乙区"], "norm_class": "urban",
                          "residents": [1, 1], "residents_per_vehicle": 30000.0,
                          "min_vehicles": [norms["A"], norms["B"]], "min_negative_pressure": [0, 0]})
    budget = draw(st.sampled_from([None, 2, 3, 4]))
    plan = AmbulancePlan(sp.csr_matrix(minutes), sites, demand, table, max_new_stations=budget)
    return plan, norms


@settings(max_examples=40, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(_plans())
def test_start_is_feasible_never_below_greedy_and_solve_matches_brute_force(case):
    from healthopt.plans.ambulance_search import VehicleSearch, greedy_vehicles

    plan, norms = case
    try:
        plan.check()
    except InfeasiblePlanError:
        return
    p = plan.build()
    cover, weight = plan.mexclp_groups
    existing = plan.sites["existing"].to_numpy(bool)
    D = np.where(plan.minutes.toarray() > 0, plan.minutes.toarray(), np.inf).T
    best = bf.ambulance_mexclp(D, plan.demand["population"].to_numpy(float), 12.0, 0.3,
                               plan.sites["max_vehicles"].to_numpy(int), plan.sites["district_code"].to_numpy(),
                               norms, plan.max_new_stations, existing)
    start = plan.greedy_start(p)
    if best is None:
        assert start is None
        with pytest.raises(InfeasiblePlanError):
            plan.solve(solver="highs")
        return
    search = VehicleSearch(plan, cover, weight)
    if start is not None:
        A, lo, hi = p.assemble()
        assert (A @ start >= lo - 1e-9).all() and (A @ start <= hi + 1e-9).all()
        greedy = greedy_vehicles(plan, cover, weight)
        assert search.score(p.value(start, "v")) >= search.score(greedy) - 1e-9
        assert search.score(p.value(start, "v")) <= best + 1e-6
    r = plan.solve(solver="highs", gap=None)
    v = r.stations.set_index("site_id")["vehicles"].reindex(plan.sites["site_id"]).fillna(0).to_numpy(int)
    assert r.optimal and search.score(v) == pytest.approx(best, abs=0.1)  # the NP tie-break is below 0.1


def test_coverage_areas_use_each_stations_own_district_standard():
    """Issue 10: a county station's area is drawn at the county standard, not the urban one.

    Issue 12: each less the mean dispatch delay (the travel time the model counts as covered).
    """
    from pathlib import Path
    from types import SimpleNamespace

    import geopandas as gpd
    from shapely import Point

    from healthopt import network
    from healthopt.plans.ambulances import Ambulances

    tiny = Path(__file__).parent / "fixtures" / "network" / "tiny_lines.geojson"
    G = network.build_graph(tiny, ambulance_speed_factor=1.0, congestion=1.0)
    # all three stations at vertex A; A -> B takes 80 s, so B is inside a 2-minute area only
    scenario = SimpleNamespace(response_minutes=SimpleNamespace(urban=1.0, county=2.0),
                               is_urban=lambda code: code == "U")
    stations = gpd.GeoDataFrame({"site_id": ["c1", "u1", "c2"], "district_code": ["C", "U", "C"],
                                 "estimated": [False, False, False]},
                                geometry=[Point(112.5, 37.8)] * 3, crs=4326)
    # the areas leave the mean dispatch delay (0.25 min here) out of each standard: 1.75 / 0.75 min
    plan = SimpleNamespace(dispatch_delay_minutes=0.25)
    amb = Ambulances(scenario, SimpleNamespace(graph=G), None, plan)  # type: ignore[arg-type]
    areas = amb._coverage_layer(stations)
    assert areas["site_id"].tolist() == ["c1", "u1", "c2"]
    assert areas["minutes"].tolist() == [1.75, 0.75, 1.75]
    county, urban, _ = areas.geometry.tolist()
    b = Point(112.5, 37.808993203)
    assert county.contains(b) and not urban.contains(b)
    assert areas.crs == "EPSG:4326" and list(areas.index) == [0, 1, 2]
