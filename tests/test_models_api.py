"""The spopt-style model API: GeoDataFrame input, orientation, typed options, result summaries."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
from shapely.geometry import Point, Polygon

from healthopt.errors import InputError
from healthopt.models import DSM, LSCP, MCLP, MEXCLP, PCenter, PMedian

# demand at x = 0, 1000, 2000, 3000 m; sites at 0, 1500, 3000 m (UTM 49N, around Taiyuan)
X0, Y0 = 500_000.0, 4_190_000.0
DEM_X = [0.0, 1000.0, 2000.0, 3000.0]
SITE_X = [0.0, 1500.0, 3000.0]
W = [10.0, 20.0, 30.0, 40.0]


def layers(crs="EPSG:32649"):
    demand = gpd.GeoDataFrame(
        {"people": W, "code": ["a", "b", "c", "d"]},
        geometry=[Point(X0 + x, Y0) for x in DEM_X],
        crs="EPSG:32649",
    )
    sites = gpd.GeoDataFrame(
        {"name": ["west", "middle", "east"], "existing": [False, False, True], "beds": [50.0, 60.0, 50.0]},
        geometry=[Point(X0 + x, Y0) for x in SITE_X],
        crs="EPSG:32649",
    )
    return demand.to_crs(crs), sites.to_crs(crs)


def test_from_geodataframe_measures_metres_and_uses_columns():
    demand, sites = layers()
    model = MCLP.from_geodataframe(
        demand, sites, service_radius=500, p_facilities=1, weights_col="people", site_id_col="name",
        demand_id_col="code",
    )  # fmt: skip
    res = model.solve()
    # middle site (1500 m) reaches b and c within 500 m: 20 + 30 = 50 beats east (40)
    assert res.open_sites == ["middle"] and res.objective == 50
    assert set(res.coverage.loc[res.coverage.covered, "demand_id"]) == {"b", "c"}
    # p-median objective in weighted metres: 10·1500 + 20·500 + 30·500 + 40·0 with sites middle + east
    pm = PMedian.from_geodataframe(demand, sites, p_facilities=2, weights_col="people").solve()
    assert pm.objective == pytest.approx(40_000)
    assert PCenter.from_geodataframe(demand, sites, p_facilities=1).solve().objective == pytest.approx(1500)


def test_from_geodataframe_reprojects_geographic_input():
    projected = MCLP.from_geodataframe(*layers(), service_radius=600, p_facilities=1, weights_col="people")
    wgs84 = MCLP.from_geodataframe(*layers("EPSG:4326"), service_radius=600, p_facilities=1, weights_col="people")
    assert wgs84.solve().open_sites == projected.solve().open_sites == [1]
    # distances survive the round trip through degrees to within a metre
    a = np.sort(projected.pairs.time)
    b = np.sort(wgs84.pairs.time)
    assert a.shape == b.shape and np.allclose(a, b, atol=1.0)


def test_from_geodataframe_predefined_and_capacity_columns():
    demand, sites = layers()
    res = LSCP.from_geodataframe(
        demand, sites, service_radius=1500, demand_quantity_col="people", predefined_facility_col="existing",
        facility_capacity_col="beds", site_id_col="name",
    ).solve()  # fmt: skip
    # east is fixed; 100 people need a second site of capacity >= 50 within 1500 m of a, b
    assert "east" in res.open_sites and res.objective == 2
    loads = res.sites.set_index("site_id")["assigned_demand"]
    assert (loads <= res.sites.set_index("site_id")["capacity"] + 1e-6).all()


def test_from_geodataframe_polygons_use_centroids():
    demand, sites = layers()
    squares = demand.copy()
    squares["geometry"] = [Polygon([(x - 50, y - 50), (x + 50, y - 50), (x + 50, y + 50), (x - 50, y + 50)])
                           for x, y in zip(demand.geometry.x, demand.geometry.y, strict=True)]  # fmt: skip
    a = MEXCLP.from_geodataframe(squares, sites, service_radius=500, p_facilities=2, busy_fraction=0.3)
    b = MEXCLP.from_geodataframe(demand, sites, service_radius=500, p_facilities=2, busy_fraction=0.3)
    assert np.allclose(np.sort(a.pairs.time), np.sort(b.pairs.time))


def test_from_geodataframe_refuses_missing_crs_and_unknown_columns():
    demand, sites = layers()
    with pytest.raises(InputError, match=r"demand\.crs.*missing"):
        MCLP.from_geodataframe(demand.set_crs(None, allow_override=True), sites, service_radius=1, p_facilities=1)
    with pytest.raises(InputError, match=r"sites\.crs.*missing"):
        DSM.from_geodataframe(demand, sites.set_crs(None, allow_override=True), r1=1, r2=2, p_facilities=1)
    with pytest.raises(InputError, match=r"weights_col.*'pop'"):
        MCLP.from_geodataframe(demand, sites, service_radius=1, p_facilities=1, weights_col="pop")


def test_orientation_is_demand_rows_by_site_columns():
    # 3 demand points × 2 sites: only site 1 is within 5 of demand 0 and 1
    cost = np.array([[9.0, 1.0], [9.0, 2.0], [1.0, 9.0]])
    res = MCLP.from_cost_matrix(cost, [1, 1, 1], 5, 1).solve()
    assert res.open_sites == [1] and res.objective == 2
    assert len(res.sites) == 2 and len(res.coverage) == 3


def test_options_are_keyword_only_and_checked():
    with pytest.raises(TypeError):
        MCLP.from_cost_matrix(np.ones((2, 2)), [1, 1], 5, 1, None, None, [0])  # type: ignore[misc]
    with pytest.raises(TypeError):
        MCLP.from_cost_matrix(np.ones((2, 2)), [1, 1], 5, 1, fixd_sites=[0])  # type: ignore[call-arg]


def test_result_repr_and_summary_are_short_and_true():
    cost = np.abs(np.array(DEM_X)[:, None] - np.array(SITE_X)[None, :]) / 100  # minutes
    model = MCLP.from_cost_matrix(cost, W, 5, 1, site_ids=["west", "middle", "east"])
    assert repr(model) == "MCLP(n_demand=4, n_sites=3, p_facilities=1, service_radius=5)"
    res = model.solve()
    assert repr(res) == "LocationResult(status='optimal', objective=50, open_sites=1)"
    assert res.summary().splitlines() == [
        "status: optimal",
        "objective: 50",
        "gap: 0",
        "open sites: 1 of 3 (middle)",
        # the points at 1 and 2 km both have only "middle" within 500 m: one row
        "reduced: 4 demand points -> 3 rows, 3 candidate sites -> 3 columns",
        # greedy takes "middle" (weight 50 > 40 > 10), which is optimal
        "start: greedy + 1-swap, objective 50",
        "covered demand: 2 of 4 points, weight 50 of 100 (50.0%)",
    ]


def test_ambulance_plan_composes_the_models_mexclp_kernel(monkeypatch):
    """The plan's expected-coverage rows come from healthopt.models.expected: a change there changes the plan."""
    import pandas as pd
    import scipy.sparse as sp

    import healthopt.models.expected as expected
    from healthopt.plans.ambulances import AmbulancePlan

    minutes = sp.csr_matrix(np.array([[2.0, 5.0, 0.0], [0.0, 3.0, 4.0]]))
    sites = pd.DataFrame({"site_id": ["s0", "s1"], "district_code": ["A", "A"], "existing": [False, False],
                          "max_vehicles": [2, 2]})  # fmt: skip
    demand = pd.DataFrame({"demand_id": ["d0", "d1", "d2"], "district_code": ["A"] * 3,
                           "population": [100.0, 200.0, 300.0], "standard_minutes": [12.0] * 3})  # fmt: skip
    norms = pd.DataFrame({"code": ["A"], "name_zh": ["甲区"], "norm_class": ["urban"], "residents": [600],
                          "residents_per_vehicle": [30000.0], "min_vehicles": [2],
                          "min_negative_pressure": [0]})  # fmt: skip
    plan = AmbulancePlan(minutes, sites, demand, norms, model="mexclp", busy_fraction=0.5, max_levels=2)
    p = plan.build()
    # groups: d0 (site 0 only, 100), d1 (both sites, 200), d2 (site 1 only, 300); levels (1-q)q^k = 0.5, 0.25
    assert sorted(p.obj[p.blocks["y"].slice].tolist()) == [25.0, 50.0, 50.0, 75.0, 100.0, 150.0]
    monkeypatch.setattr(expected, "expected_coverage_gain", lambda q, levels: np.ones(levels))
    p = plan.build()
    assert sorted(p.obj[p.blocks["y"].slice].tolist()) == [100.0, 100.0, 200.0, 200.0, 300.0, 300.0]


def test_ambulance_dsm_composes_the_models_kernel_and_counts_no_fractional_double_cover():
    """The plan's DSM is models.double_standard.add_double_standard: binary coverage levels.

    One vehicle at each station covers d0 and d1 once within r1 and nobody twice. The plan's
    former continuous levels credited half of each as "covered twice" (objective 148.9).
    """
    import pandas as pd
    import scipy.sparse as sp

    from healthopt.plans.ambulances import AmbulancePlan

    minutes = sp.csr_matrix(np.array([[2.0, 5.0, 0.0], [0.0, 3.0, 4.0]]))
    sites = pd.DataFrame({"site_id": ["s0", "s1"], "district_code": ["A", "A"], "existing": [False, False],
                          "max_vehicles": [2, 1]})  # fmt: skip
    demand = pd.DataFrame({"demand_id": ["d0", "d1", "d2"], "district_code": ["A"] * 3,
                           "population": [100.0, 200.0, 300.0], "standard_minutes": [12.0] * 3})  # fmt: skip
    norms = pd.DataFrame({"code": ["A"], "name_zh": ["甲区"], "norm_class": ["urban"], "residents": [600],
                          "residents_per_vehicle": [30000.0], "min_vehicles": [2],
                          "min_negative_pressure": [0]})  # fmt: skip
    plan = AmbulancePlan(minutes, sites, demand, norms, model="dsm", r1_minutes=3.0, alpha=0.25, max_vehicles=2)
    p = plan.build()
    assert {"x1", "x2"} <= set(p.blocks) and p.integer[p.blocks["x2"].slice].all()
    r = plan.solve(solver="highs")
    assert r.stations["vehicles"].tolist() == [1, 1]
    assert r.objective == pytest.approx(0.0, abs=5)  # only the sub-person tie-break terms remain


def test_ambulance_capacitated_plan_uses_the_models_capacity_rule(monkeypatch):
    import pandas as pd
    import scipy.sparse as sp

    import healthopt.plans.ambulances as amb

    calls = []
    real = amb.add_capacity
    monkeypatch.setattr(amb, "add_capacity", lambda *a, **k: calls.append(k) or real(*a, **k))
    minutes = sp.csr_matrix(np.array([[2.0, 5.0, 0.0], [0.0, 3.0, 4.0]]))
    sites = pd.DataFrame({"site_id": ["s0", "s1"], "district_code": ["A", "A"], "existing": [False, False],
                          "max_vehicles": [1, 1]})  # fmt: skip
    demand = pd.DataFrame({"demand_id": ["d0", "d1", "d2"], "district_code": ["A"] * 3,
                           "population": [100.0, 200.0, 300.0], "standard_minutes": [12.0] * 3})  # fmt: skip
    norms = pd.DataFrame({"code": ["A"], "name_zh": ["甲区"], "norm_class": ["urban"], "residents": [600],
                          "residents_per_vehicle": [250.0], "min_vehicles": [2],
                          "min_negative_pressure": [0]})  # fmt: skip
    plan = amb.AmbulancePlan(minutes, sites, demand, norms, model="capacitated", max_vehicles=2)
    r = plan.solve(solver="highs", gap=None)
    assert calls and calls[0]["sites"] == "v"
    # two ambulances of 250 residents each serve 500 of the 600 residents
    assert r.totals["pop_covered"] == 500 and r.totals["pop_beyond_capacity"] == 100
    assert r.stations["pop_covered"].tolist() == [250, 250]
