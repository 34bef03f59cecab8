"""Issue 13, items 1-2: the existing network as input, and the plan modes evaluate / expand / greenfield.

The hand instance: 4 sites x 4 demand points, each point reached by one site only.
Sites s0, s1 are existing stations of district A (3 ambulances, 1 of them negative-pressure,
and 1 ambulance); s2 is a candidate in A that alone reaches 60,000 residents; s3 a
candidate in county B. Norms: A 3 ambulances, B 2 (5 in all), 40 % negative-pressure.

The run tests plan 小店区 and 迎泽区 with the four test stations of
``fixtures/user_layers/stations_network_gcj02.csv`` (GCJ-02, names and fleets invented).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyogrio
import pytest
import scipy.sparse as sp

from healthopt.data.stations import LAYOUT_COLUMNS, TEMPLATE, TEMPLATE_COLUMNS, read_stations
from healthopt.errors import InfeasiblePlanError, InputError
from healthopt.outputs.compare import district_changes
from healthopt.outputs.maps.stations import station_popup
from healthopt.pipeline.run import run_loaded
from healthopt.plans.ambulances import AmbulancePlan
from healthopt.scenario import Scenario

LAYERS = Path(__file__).resolve().parent / "fixtures" / "user_layers"
NETWORK = LAYERS / "stations_network_gcj02.csv"
CENTRES = LAYERS / "centres_gcj02.csv"
#: The fixture layer: id -> (name, vehicles, negative-pressure vehicles)
GIVEN = {"E1": ("迎泽区急救中心 (test)", 6, 2), "E2": ("小店区急救站 (test)", 6, 3),
         "E3": ("双塔急救点 (test)", 6, 2), "E4": ("坞城急救点 (test)", 4, 1)}


def _instance(**kw) -> AmbulancePlan:
    minutes = sp.csr_matrix(np.diag([2.0, 3.0, 4.0, 5.0]))
    sites = pd.DataFrame({"site_id": ["s0", "s1", "s2", "s3"], "name": ["甲站", "乙站", None, None],
                          "district_code": ["A", "A", "A", "B"], "existing": [True, True, False, False],
                          "max_vehicles": [4, 4, 4, 4], "vehicles_existing": [3, 1, 0, 0],
                          "np_existing": [1, 0, 0, 0], "location_quality": "test"})
    demand = pd.DataFrame({"demand_id": ["d0", "d1", "d2", "d3"], "district_code": ["A", "A", "A", "B"],
                           "population": [10000, 5000, 60000, 20000], "standard_minutes": [12.0, 12.0, 12.0, 20.0]})
    norms = pd.DataFrame({"code": ["A", "B"], "name_zh": ["甲区", "乙县"], "norm_class": ["urban", "county"],
                          "residents": [75000, 20000], "residents_per_vehicle": [30000.0, 10000.0],
                          "min_vehicles": [3, 2], "min_negative_pressure": [0, 0]})
    return AmbulancePlan(minutes, sites, demand, norms, **kw)


def _fleet(result) -> dict[str, tuple[int, int]]:
    s = result.stations
    return {k: (int(v), int(n)) for k, v, n in zip(s["site_id"], s["vehicles"], s["negative_pressure"], strict=True)}


# --------------------------------------------------------------------------- modes on the hand instance


def test_evaluate_is_exactly_the_existing_layout_even_below_the_norms():
    r = _instance(mode="evaluate").solve(solver="highs")
    assert _fleet(r) == {"s0": (3, 1), "s1": (1, 0)}  # nothing opened, nothing moved
    by = r.districts.set_index("code")
    assert (by.loc["A", "amb_gap"], by.loc["B", "amb_gap"]) == (1, -2)  # reported, not imposed
    # s0 reaches d0 (10,000), s1 d1 (5,000): nobody else is within reach of an open station
    assert r.totals["pop_covered"] == 15000 and r.totals["pop_outside"] == 80000
    assert (r.totals["fleet_existing"], r.totals["fleet_added"], r.totals["np_added"]) == (4, 0, 0)
    assert "not optimised" in r.status and any("Mode evaluate" in n for n in r.notes)


def test_expand_keeps_every_station_and_reports_what_it_adds():
    r = _instance(mode="expand", max_vehicles=6).solve(solver="highs")
    s = r.stations.set_index("site_id")
    assert s.loc["s0", "vehicles"] >= 3 and s.loc["s0", "negative_pressure"] >= 1 and s.loc["s1", "vehicles"] >= 1
    # 4 kept in A (norm 3) + B's norm of 2 = the budget of 6: the additions go to B
    assert _fleet(r)["s3"][0] == 2 and "s2" not in s.index
    assert (s["vehicles_added"] == s["vehicles"] - s["vehicles_existing"]).all()
    assert s.loc["s3", "vehicles_added"] == 2 and s.loc["s0", "vehicles_added"] == 0
    assert r.totals["fleet_existing"] == 4 and r.totals["fleet_added"] == r.totals["fleet_planned"] - 4 == 2
    assert r.totals["np_added"] == r.totals["np_planned"] - 1
    # the greedy start places the existing fleet first, so a time-limited solve has a plan from the start
    plan = _instance(mode="expand", max_vehicles=6)
    p = plan.build()
    start = plan.greedy_start(p)
    assert start is not None and p.is_feasible(start)


def test_greenfield_replans_the_existing_fleet():
    r = _instance().solve(solver="highs")  # default mode: today's behaviour
    s = r.stations.set_index("site_id")
    assert set(s.index) >= {"s0", "s1"}  # the stations stay open ...
    assert s.loc["s0", "vehicles"] < 3  # ... but s0's fleet moves to where people are (s2)


def test_within_district_keeps_the_district_total_not_the_station():
    r = _instance(mode="expand", relocate="within_district", max_vehicles=6).solve(solver="highs")
    fleet = _fleet(r)
    in_a = sum(v for k, (v, _) in fleet.items() if k in ("s0", "s1", "s2"))
    assert in_a >= 4 and sum(n for k, (_, n) in fleet.items() if k in ("s0", "s1", "s2")) >= 1
    assert fleet["s0"][0] < 3 and fleet["s2"][0] >= 1  # moved within A to the 60,000 residents of d2
    assert r.totals["pop_covered"] > _instance(mode="expand", max_vehicles=6).solve(solver="highs").totals[
        "pop_covered"]


def test_free_keeps_only_the_city_total():
    # with the budget at the norm (5), A cannot keep its 4 (B needs 2): only "free" fits
    for rule in (False, "within_district"):
        with pytest.raises(InfeasiblePlanError, match=r"keeps the existing ambulances in their districts.*"
                                                      r"甲区 keeps 4 against a norm of 3.*that is 6 ambulances"):
            _instance(mode="expand", relocate="none" if rule is False else rule).solve(solver="highs")
    r = _instance(mode="expand", relocate="free").solve(solver="highs")
    fleet = _fleet(r)
    assert sum(v for v, _ in fleet.values()) == 5 >= 4 and fleet["s3"][0] == 2
    assert sum(v for k, (v, _) in fleet.items() if k != "s3") == 3  # one of A's existing four moved away


def test_closing_moves_a_closed_stations_fleet_within_its_district():
    r = _instance(mode="expand", allow_closing=True, max_vehicles=6).solve(solver="highs")
    fleet = _fleet(r)
    # s0's 3 ambulances reach 10,000 residents: it closes and they serve d2's 60,000 instead
    assert "s0" not in fleet and fleet["s1"][0] >= 1
    assert sum(v for k, (v, _) in fleet.items() if k in ("s1", "s2")) >= 4
    assert r.totals["stations_closed"] == 1 and any("closed" in n and "甲站" in n for n in r.notes)
    kept = _instance(mode="expand", max_vehicles=6).solve(solver="highs")
    assert kept.totals["stations_closed"] == 0 and set(_fleet(kept)) >= {"s0", "s1"}


def test_fleet_budget_below_the_existing_fleet_is_explained():
    with pytest.raises(InfeasiblePlanError, match="the existing stations hold 4 ambulances, which mode expand keeps"):
        _instance(mode="expand", max_vehicles=3, relocate="free").solve(solver="highs")


# --------------------------------------------------------------------------- the layer and the template


def test_layer_fields_are_read_and_checked(tmp_path):
    s = read_stations(NETWORK, "gcj02").set_index("id")
    assert {k: (s.loc[k, "name"], s.loc[k, "vehicles"], s.loc[k, "negative_pressure"]) for k in GIVEN} == GIVEN
    assert s.loc["E1", "opened"] == 2015 and s.loc["E1", "crew"] == 36 and pd.isna(s.loc["E4", "opened"])
    bad = tmp_path / "bad.csv"
    bad.write_text("id,name,lon,lat,vehicles,crew\nS1,甲,112.55,37.85,2,-3\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"bad\.csv:2: crew: negative count"):
        read_stations(bad, "wgs84")
    bad.write_text("id,name,lon,lat,vehicles,opened\nS1,甲,112.55,37.85,2,15\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"bad\.csv:2: opened: not a year between 1900 and 2100: 15"):
        read_stations(bad, "wgs84")


def test_template_is_a_valid_layer_in_the_documented_columns():
    text = TEMPLATE.read_text(encoding="utf-8-sig")
    header = next(line for line in text.splitlines() if not line.startswith("#"))
    assert tuple(header.split(",")) == TEMPLATE_COLUMNS
    s = read_stations(TEMPLATE, "gcj02", capacity_field="capacity")
    assert len(s) >= 1 and (s["vehicles"] >= s["negative_pressure"]).all() and (s["capacity"] >= s["vehicles"]).all()


# --------------------------------------------------------------------------- runs


def _scenario(name: str, mode: str, path: Path, crs: str, centres: bool = False, **amb) -> Scenario:
    data = {"stations": {"path": str(path), "crs": crs}}
    if centres:
        data["health_centres"] = {"path": str(CENTRES), "crs": "gcj02"}
    raw = {"name": name, "area": {"districts": ["140105", "140106"], "urban": ["140105", "140106"]}, "data": data,
           "plans": {"ambulances": {"mode": mode, **amb}, "primary_care": {"enabled": centres},
                     "beds": {"enabled": False}},
           "solver": {"time_limit_s": 10.0}, "outputs": {"report": False, "map": False}}
    return Scenario.from_dict(raw, base_dir=LAYERS)


@pytest.fixture(scope="module")
def expand_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("runs") / "expand"
    return run_loaded(_scenario("existing_expand", "expand", NETWORK, "gcj02"), folder, lambda _m: None)


@pytest.fixture(scope="module")
def evaluate_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("runs") / "evaluate"
    return run_loaded(_scenario("existing_evaluate", "evaluate", NETWORK, "gcj02", centres=True), folder,
                      lambda _m: None)


@pytest.mark.slow
def test_evaluate_run_holds_exactly_the_layer_vehicles(evaluate_run):
    s = evaluate_run.layers["stations"].set_index("station_id")
    assert len(s) == len(GIVEN) and (s["status"] == "existing").all()
    assert {k: (s.loc[k, "name"], s.loc[k, "vehicles"], s.loc[k, "negative_pressure"]) for k in GIVEN} == GIVEN
    d = evaluate_run.layers["districts"].set_index("code")
    assert (d.loc["140106", "amb_planned"], d.loc["140105", "amb_planned"]) == (12, 10)  # E1+E3, E2+E4
    assert (d["amb_added"] == 0).all() and (d["amb_gap"] < 0).all()  # short of the norms, and reported
    # the health centres layer's names reach the map and the GeoPackage as the stations' do
    centres = evaluate_run.layers["health_centres"].set_index("site_id")
    assert centres.loc["user-health_centres-C1", "name"] == "迎泽街道社区卫生服务中心 (test)"
    assert centres.loc["user-health_centres-C1", "status"] == "existing"


@pytest.mark.slow
def test_compare_shows_before_and_after_of_an_expansion(evaluate_run, expand_run):
    changes = district_changes(evaluate_run.layers["districts"], expand_run.layers["districts"]).set_index("code")
    stations = expand_run.layers["stations"]
    added = stations.groupby("district_code")["vehicles_added"].sum()
    for code in ("140105", "140106"):
        assert changes.loc[code, "amb_planned_change"] == added[code] > 0
        assert changes.loc[code, "amb_planned_a"] == expand_run.layers["districts"].set_index("code").loc[
            code, "amb_existing"]


@pytest.mark.slow
def test_expand_run_shows_every_station_by_name_with_at_least_its_vehicles(expand_run):
    s = expand_run.layers["stations"]
    layer = s[s["status"] == "existing"].set_index("station_id")
    assert set(layer.index) == set(GIVEN)
    for sid, (name, vehicles, np_vehicles) in GIVEN.items():
        row = layer.loc[sid]
        assert row["name"] == name and row["site_id"] == f"user-stations-{sid}"
        assert row["vehicles"] >= vehicles and row["negative_pressure"] >= np_vehicles
        assert (row["vehicles_existing"], row["np_existing"]) == (vehicles, np_vehicles)
        assert row["vehicles_added"] == row["vehicles"] - vehicles
    kpis = expand_run.summary["kpis"]
    assert kpis["fleet_existing"] == 22 and kpis["fleet_added"] == kpis["fleet_planned"] - 22 > 0
    # the map's popup: the layer's name and what the plan added to its fleet
    e2 = next(s[s["station_id"] == "E2"].itertuples())
    popup = station_popup(e2)
    assert GIVEN["E2"][0] in popup and f"6 + {e2.vehicles_added}" in popup
    # the GeoPackage and the map read the same station table, names included
    gpkg = pyogrio.read_dataframe(expand_run.folder / "results.gpkg", layer="stations")
    by = gpkg.set_index("site_id")
    assert by.loc["user-stations-E2", "name"] == GIVEN["E2"][0]
    assert by.loc["user-stations-E2", "vehicles_existing"] == 6


@pytest.mark.slow
def test_layout_round_trip_evaluates_the_same_vehicles_names_and_coverage(expand_run, tmp_path):
    """Any run's layout fed back with mode evaluate: exactly its vehicles per station, names and coverage."""
    layout = expand_run.folder / "stations_layer.csv"
    written = pd.read_csv(layout, encoding="utf-8-sig", dtype={"id": str})
    assert tuple(written.columns) == LAYOUT_COLUMNS
    out = run_loaded(_scenario("existing_roundtrip", "evaluate", layout, "wgs84"), tmp_path / "rt", lambda _m: None)
    before = expand_run.layers["stations"]
    after = out.layers["stations"].set_index("station_id")
    # a layer station keeps its own id, a new one is named by its site id
    ids = [sid if isinstance(sid, str) else site for sid, site in zip(before["station_id"], before["site_id"],
                                                                       strict=True)]
    assert sorted(ids) == sorted(after.index)
    for key, row in zip(ids, before.itertuples(), strict=True):
        fleet = (after.loc[key, "vehicles"], after.loc[key, "negative_pressure"])
        assert fleet == (row.vehicles, row.negative_pressure)
        assert after.loc[key, "name"] == row.name
    k_before, k_after = expand_run.summary["kpis"], out.summary["kpis"]
    assert k_after["fleet_planned"] == k_before["fleet_planned"]
    assert k_after["pop_covered"] == k_before["pop_covered"]  # same layout, same travel times, same figure

