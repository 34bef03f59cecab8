"""Runs with the planner's own hospital points (data.hospitals) and district boundaries (data.boundaries).

The fixture layers in ``fixtures/user_layers`` are test stand-ins: hospital points are
district seats plus small offsets and the boundary is the embedded one simplified, both
written in GCJ-02 as an Amap export would be. None of them is a real location or survey.
"""

from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely

from healthopt.data import load_taiyuan
from healthopt.data.crs import gcj02_to_wgs84
from healthopt.data.overlay import match_hospitals, with_boundaries, with_hospitals
from healthopt.errors import InputError
from healthopt.pipeline.run import run_loaded
from healthopt.scenario import Scenario

LAYERS = Path(__file__).resolve().parent / "fixtures" / "user_layers"
HOSPITALS = LAYERS / "hospitals_gcj02.csv"
BOUNDARIES = LAYERS / "boundaries_yingze_gcj02.geojson"
SENDER_IN_TAIYUAN = "太原市人民医院"  # a sender in the road extract, so one route is timed on the network


def _scenario(name: str, districts: list[str], data: dict, plans: dict, outputs: dict) -> Scenario:
    off = {"ambulances": {"enabled": False}, "primary_care": {"enabled": False}}
    raw = {"name": name, "area": {"districts": districts, "urban": districts}, "data": data,
           "plans": {**off, **plans}, "solver": {"time_limit_s": 15.0}, "outputs": outputs}
    return Scenario.from_dict(raw, base_dir=LAYERS)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    channel = {"enabled": True, "senders": ["晋中市第一人民医院", "晋中市传染病医院", SENDER_IN_TAIYUAN]}
    sc = _scenario("user_hospitals", ["140105", "140106", "140702"],
                   {"hospitals": {"path": HOSPITALS.name, "crs": "gcj02"}},
                   {"green_channel": channel}, {"report": False})
    return run_loaded(sc, tmp_path_factory.mktemp("runs") / sc.name, lambda _m: None)


def _wgs84(lon: float, lat: float) -> tuple[float, float]:
    x, y = gcj02_to_wgs84(lon, lat)
    return float(x), float(y)


def test_bed_points_are_the_layer_points(run):
    beds = run.layers["beds"].set_index("name")
    # The layer writes "太原市 第四人民医院": names match after removing whitespace.
    third, fourth = beds.loc["太原市第三人民医院"], beds.loc["太原市第四人民医院"]
    for row, gcj in ((third, (112.562851, 37.858804)), (fourth, (112.561273, 37.821974))):
        x, y = _wgs84(*gcj)
        assert row["location_quality"] == "user"
        assert abs(row.geometry.x - x) < 1e-6 and abs(row.geometry.y - y) < 1e-6
    assert (third["district_code"], fourth["district_code"]) == ("140106", "140105")  # from the point
    assert beds.loc["太原市中心医院", "location_quality"] == "proxy"  # not in the layer: district seat
    assert beds.loc["太原市第二人民医院", "location_quality"] == "unknown"  # no layer point, no district
    assert set(beds["location_quality"]) == {"user", "proxy", "unknown"}  # the values the map legend knows


def test_green_channel_hospitals_are_located_from_the_layer(run):
    gc = run.summary["green_channel"]
    assert "太原市第三人民医院" not in gc["unlocated"] and "太原市第四人民医院" not in gc["unlocated"]
    assert gc["unlocated"] == []
    routes = run.layers["green_channel"].set_index(["sender", "receiver"])
    route = routes.loc[(SENDER_IN_TAIYUAN, "太原市第三人民医院")]
    assert (route["sender_location_quality"], route["receiver_location_quality"]) == ("user", "user")
    assert not route["estimated"]  # both ends in the road extract: a network time
    assert routes.loc[("晋中市第一人民医院", "太原市第三人民医院"), "estimated"]  # Jinzhong has no road data
    notes = " ".join(run.summary["data_quality"])
    assert ("locations of 晋中市传染病医院, 北京大学第一医院太原医院(太原市中心医院), 太原钢铁(集团)有限公司总医院 "
            "are district-seat proxies") in notes  # only those the layer does not give


def test_unmatched_names_are_reported(run):
    notes = run.summary["data_quality"]
    assert "Hospitals layer hospitals_gcj02.csv: 3 of 10 municipal hospitals located there (location 'user')." in notes
    missing = next(n for n in notes if "no feature named" in n)
    assert "太原市中心医院" in missing and "太原市第三人民医院" not in missing
    assert ("Hospitals layer hospitals_gcj02.csv: 1 feature(s) match no hospital of the plans by 'name' and are "
            "not used: 山西省人民医院.") in notes


def test_map_renders(run):
    browser = pytest.importorskip("browser")
    if browser.find_chromium() is None:
        pytest.skip("chromium is not installed (CI installs it in .ci/run)")
    report = browser.check_page(run.folder / "map.html")
    assert report.ok and not report.js_errors and not report.failed_requests, report.problems()


def test_boundaries_layer_replaces_the_study_area_polygon(tmp_path):
    sc = _scenario("user_boundaries", ["140106"], {"boundaries": {"path": BOUNDARIES.name, "crs": "gcj02"}},
                   {}, {"map": False, "report": False})
    out = run_loaded(sc, tmp_path / sc.name, lambda _m: None)
    given = gpd.read_file(BOUNDARIES).geometry.iloc[0]
    expected = shapely.transform(given, lambda xy: np.column_stack(gcj02_to_wgs84(xy[:, 0], xy[:, 1])))
    district = out.layers["districts"].set_index("code").loc["140106"]
    assert district.geometry.equals_exact(expected, 1e-9)
    assert district["name_zh"] == "迎泽区"  # names and residents stay the census ones
    assert district["residents"] == load_taiyuan().districts.set_index("code").loc["140106", "population"]
    demand = out.layers["demand"]
    assert demand.within(expected.buffer(1e-9)).all()
    assert any("boundaries layer boundaries_yingze_gcj02.geojson" in n for n in out.summary["data_quality"])


def test_boundary_of_another_district_is_refused(tmp_path):
    # 迎泽区's polygon under 小店区's code (codes shifted by one row, say) hardly overlaps 小店区.
    wrong = tmp_path / "wrong.geojson"
    wrong.write_text(BOUNDARIES.read_text(encoding="utf-8").replace("140106", "140105"), encoding="utf-8")
    with pytest.raises(InputError, match=r"wrong\.geojson: adcode: the boundary given for 140105 \(小店区\) "
                                         r"shares only \d+% of its area with the embedded 小店区"):
        with_boundaries(load_taiyuan(), wrong, "gcj02", codes=["140105"])


def test_names_match_across_width_space_and_alias(tmp_path):
    layer = tmp_path / "h.csv"
    layer.write_text("id,name,lon,lat\nA,太原市中心医院,112.5543,37.8787\nB,晋中市第一人民医院　,112.7366,37.6949\n",
                     encoding="utf-8")
    found = with_hospitals(load_taiyuan(), layer, "wgs84").hospital_layer
    names = ["北京大学第一医院太原医院（太原市中心医院）", "晋中市 第一人民医院", "太原市第三人民医院"]
    assert match_hospitals(found, names) == [0, 1, None]


def test_hospitals_are_candidate_stations(tmp_path):
    """The hospitals layer's points are candidate ambulance sites of kind "hospital" (cheapest to open)."""
    from healthopt.pipeline.run import prepare_inputs

    sc = _scenario("hospital_sites", ["140105", "140106"], {"hospitals": {"path": HOSPITALS.name, "crs": "gcj02"}},
                   {"beds": {"enabled": False}}, {"report": False, "map": False})
    cand = prepare_inputs(sc).sites
    hosp = cand[cand["kind"] == "hospital"]
    assert len(hosp) >= 1 and set(hosp["district_code"]) <= {"140105", "140106"}
    assert hosp["site_id"].str.startswith("user-hospital-").all()
