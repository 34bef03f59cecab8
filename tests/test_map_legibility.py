"""The map explains only what it draws: legends <-> layers, scenario parameters, names, basemap.

Built from the synthetic run fixture (fast, no solver); the browser check of legend folding
is in ``test_legends_fold_and_leave_the_area_free`` (skips without Chromium).
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import folium
import geopandas as gpd
import networkx as nx
import pandas as pd
import pytest
from shapely.geometry import LineString, Point

from healthopt._naming import station_names
from healthopt.outputs import maps as mp
from healthopt.outputs.legend import Legend, LegendEntry, LegendSpec
from healthopt.outputs.maps.build import MapLayer, result_layers
from healthopt.outputs.vector_basemap import basemap_features, embedded_seats

sys.path.insert(0, str(Path(__file__).parent))
from fixtures.run_fixture import make_run

HEX = re.compile(r"#[0-9a-fA-F]{6}\b")


def _green(estimated: list[bool]) -> gpd.GeoDataFrame:
    rows = [{"sender": f"晋中 H{i}", "receiver": "太原市中心医院", "minutes": 40.0 + i, "estimated": e,
             "sender_location_quality": "proxy", "receiver_location_quality": "user",
             "geometry": LineString([(112.75 + 0.05 * i, 37.69), (112.55, 37.87)])}
            for i, e in enumerate(estimated)]
    return gpd.GeoDataFrame(rows, crs=4326)


@pytest.fixture(scope="module")
def run() -> tuple[dict[str, gpd.GeoDataFrame], dict[str, Any]]:
    results, summary = make_run("a")
    results = dict(results)
    results["green_channel"] = _green([True, True])
    return results, summary


def _drawn(element: Any) -> str:
    """Everything a layer draws, as text: marker HTML, path options, GeoJSON with its styles."""
    parts: list[str] = [type(element).__name__]
    options = getattr(element, "options", None)
    if options:
        parts.append(json.dumps(options, default=str, ensure_ascii=False))
    data = getattr(element, "data", None)
    if isinstance(data, dict) and "features" in data:
        style = getattr(element, "style_function", None)
        for feature in data["features"]:
            parts.append(feature["geometry"]["type"])
            if style is not None:
                parts.append(json.dumps(style(feature), default=str))
    for child in getattr(element, "_children", {}).values():
        parts.append(_drawn(child))
    return "\n".join(parts)


def _shape_drawn(shape: str, text: str) -> bool:
    low = text.lower()
    return {
        "circle": "<circle" in low or "circlemarker" in low or '"radius"' in low,
        "square": "<rect" in low or "hopt-bed" in low or "polygon" in low,
        "line": "polyline" in low or "linestring" in low,
        "dashed": re.search(r'(dash_?array|stroke-dasharray)\\?"?\s*[:=]\s*\\?"\d', low) is not None
        or "dashed #" in low,
        "outline": "polygon" in low,
        "marker": "marker" in low,
    }[shape]


def _entry_drawn(entry: LegendEntry, text: str) -> bool:
    if entry.size_key:  # a size row: some drawn symbol has this size (SVG box or circle diameter)
        s = entry.size
        return (f'width=\\"{s}\\"' in text or f'width="{s}"' in text
                or re.search(r'"radius": (\d+(\.\d+)?)', text) is not None)
    colors = HEX.findall(entry.color) or [entry.color]
    if entry.border:  # a pale fill with a coloured outline stands for the drawn outline colour
        colors.append(entry.border)
    return any(c.lower() in text.lower() for c in colors) and _shape_drawn(entry.shape, text)


def _legend_problems(layers: list[MapLayer]) -> list[str]:
    problems = []
    for item in layers:
        if item.legend is None:
            continue
        text = _drawn(item.layer)
        spec = item.legend
        if spec.scale:  # every drawn fill is a class of the scale, and some class is drawn
            fills = set(re.findall(r'"fillcolor": "(#[0-9a-f]{6})"', text.lower()))
            classes = {e.color.lower() for e in spec.entries} | {mp.names.NO_DATA}
            if not fills or not fills <= classes:
                problems.append(f"{spec.title}: drawn fills {sorted(fills)} not all in the scale")
            continue
        problems += [f"{spec.title}: '{e.label}' not drawn" for e in spec.entries
                     if not _entry_drawn(e, text)]
    return problems


def test_every_legend_entry_is_a_drawn_symbol(run):
    results, summary = run
    layers = result_layers(results, summary)
    assert [x for x in layers if x.legend is not None], "no legend at all"
    assert _legend_problems(layers) == []


def test_the_legend_test_fails_on_a_legend_for_something_not_drawn(run):
    results, summary = run
    layers = result_layers(results, summary)
    stations = next(x for x in layers if x.legend and x.legend.title.startswith("急救站"))
    bogus = LegendSpec(stations.legend.title, [*stations.legend.entries,
                                               LegendEntry("phantom", "#123456", "circle")])
    problems = _legend_problems([MapLayer(stations.layer, bogus)])
    assert problems == ["急救站 Ambulance stations: 'phantom' not drawn"]


def test_every_legend_on_the_page_belongs_to_a_layer_on_the_map(run):
    results, summary = run
    m = mp.build_map(results, summary, offline=True)
    legends = [c for c in m._children.values() if isinstance(c, Legend)]
    layer_names = {c.get_name() for c in m._children.values()}
    toggle = next(c for c in m._children.values() if type(c).__name__ == "LegendToggle")
    paired = dict(toggle.pairs)
    assert {lg.title for lg in legends} == set(paired.values())
    assert set(paired) <= layer_names  # each legend's layer is on the map


def test_legends_follow_the_scenario_parameters(run):
    results, summary = run
    surge = json.loads(json.dumps(summary))
    surge["kpis"]["np_required_share"] = 0.6
    surge["kpis"]["np_share"] = 0.61
    surge["response_minutes"] = {"urban": 10.0, "county": 15.0}
    html = mp.render_map(mp.build_map(results, surge, offline=True))
    assert "norm: ≥ 60 % of the fleet negative-pressure; plan: 61 % (met 达标)" in html
    assert "&lt; 60 % at this station" in html and "NP share 60 %–99 %" in html
    assert "&lt; 40 %" not in html and "≥ 40 %" not in html  # nothing left of the default share
    assert "10 min urban districts / 15 min counties" in html


def test_station_sizes_in_the_legend_are_the_drawn_sizes(run):
    results, _ = run
    stations = results["stations"]
    spec = mp.station_legend(stations, np_required=0.4)
    sizes = [e.size for e in spec.entries if e.size_key]
    lo, hi = int(stations["vehicles"].min()), int(stations["vehicles"].max())
    assert sizes == [mp.station_size(lo), mp.station_size(hi)]
    assert mp.station_size(hi) > mp.station_size(lo) + 10  # visibly different: 10 vs 35 vehicles
    html = mp.render_map(mp.build_map(results, {"kpis": {}}, offline=True))
    for s in sizes:
        assert f'width=\\"{s}\\" height=\\"{s}\\"' in html


def test_county_station_without_np_is_not_called_below_norm():
    one = gpd.GeoDataFrame({"site_id": ["a"], "status": ["new"], "vehicles": [1], "np_share": [0.0]},
                           geometry=[Point(112.5, 37.9)], crs=4326)
    spec = mp.station_legend(one, np_required=0.4, np_fleet=0.41)
    labels = " ".join(e.label for e in spec.entries)
    assert "below norm" not in labels and "at this station" in labels
    assert "plan: 41 % (met" in spec.note


def test_green_channel_legend_names_the_kind_of_time_drawn():
    est = mp.green_channel_legend(_green([True]))
    road = mp.green_channel_legend(_green([False]))
    assert "straight-line estimate" in est.entries[0].label and est.entries[0].shape == "dashed"
    assert all("road network" not in e.label for e in est.entries)
    assert "road network time" in road.entries[0].label and road.entries[0].shape == "line"
    layer = mp.green_channel_layer(_green([True]))
    assert "InPane" in _drawn(layer)  # drawn in its own pane above the station markers


def test_beds_sharing_a_point_share_one_badge_and_unmapped_are_listed():
    beds = gpd.GeoDataFrame(
        {"name": ["A院", "B院", "C院"], "beds_change": [100, -40, 7], "location_quality": ["proxy"] * 3},
        geometry=[Point(112.55, 37.87), Point(112.55, 37.87), None], crs=4326)
    layer = mp.bed_layer(beds)
    badges = [c for c in layer._children.values() if isinstance(c, folium.Marker)]
    assert len(badges) == 1 and "+60 ×2" in _drawn(layer)
    spec = mp.bed_legend(list(beds[beds.geometry.isna()].itertuples()), beds)
    assert "C院 +7" in spec.note


def test_station_names_from_streets_seats_and_given_names():
    G = nx.MultiDiGraph()
    G.add_edge(1, 2, name="迎泽大街")
    G.add_edge(2, 1, name="迎泽大街")
    G.add_edge(2, 3, name="府西街")
    G.add_edge(3, 4)
    G.add_edge(4, 5)
    G.add_edge(5, 6, name=["桥头街", "桥头街"])
    seats = gpd.GeoDataFrame({"code": ["140123"], "name_zh": ["娄烦县"]},
                             geometry=[Point(111.79, 38.07)], crs=4326)
    sites = gpd.GeoDataFrame({
        "site_id": ["node-2", "node-1", "node-4", "seat-140123", "user-cell-140123-1", "user-stations-9",
                    "node-99"],
        "name": [None, None, None, None, None, "市急救中心", None],
        "node": [2, 1, 4, None, None, None, 99],
        "snap_m": [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
        "district_code": ["140106", "140106", "140106", "140123", "140123", "140106", "140123"],
    }, geometry=[Point(112.55, 37.86)] * 3 + [Point(111.79, 38.07), Point(111.69, 38.14),
                                              Point(112.56, 37.87), Point(111.79, 38.0759)], crs=4326)
    names = station_names(sites, graph=G, seats=seats)
    # node-99 is off the graph: named from the seat (0.6 km away), equal to the seat's own name,
    # so the later site id (seat-...) is numbered
    assert names.tolist() == ["府西街 / 迎泽大街", "迎泽大街", "桥头街 附近", "娄烦县驻地 (2)",
                              "娄烦县驻地西北 12 km", "市急救中心", "娄烦县驻地"]
    assert names.is_unique and not any("node-" in n or "user" in n for n in names)


def test_offline_basemap_draws_roads_rivers_railways_and_seats_small():
    feats = basemap_features(bounds=(112.3, 37.6, 112.8, 38.1),
                             seats=embedded_seats(["140105", "140106"]))
    kinds = [x["kind"] for x in feats.lines]
    assert {"river", "railway", "trunk", "primary", "secondary"} <= set(kinds)
    assert any(s["name"] == "迎泽大街" for s in feats.streets)
    assert sorted(s["name"] for s in feats.seats) == ["小店区", "迎泽区"]
    assert len(feats.as_json().encode()) < 400_000  # a light base map, not the 2.3 MB extract
    assert feats.as_json() == basemap_features(bounds=(112.3, 37.6, 112.8, 38.1),
                                               seats=embedded_seats(["140105", "140106"])).as_json()
    outside = basemap_features(bounds=(100.0, 30.0, 100.1, 30.1))
    assert outside.lines == [] and outside.streets == []


def test_basemap_choice_and_tianditu_needs_a_key(run, monkeypatch):
    results, summary = run
    html = mp.render_map(mp.build_map(results, summary, offline=True))
    assert "hopt-base" in html and json.dumps("迎泽大街")[1:-1] in html and "tile.openstreetmap" not in html
    none = mp.render_map(mp.build_map(results, summary, offline=True, basemap_kind="none"))
    assert "hopt-base-labels" not in none
    monkeypatch.delenv("TIANDITU_TK", raising=False)
    with pytest.raises(ValueError, match="TIANDITU_TK"):
        mp.build_map(results, summary, offline=False, basemap_kind="tianditu")
    monkeypatch.setenv("TIANDITU_TK", "k123")
    tdt = mp.render_map(mp.build_map(results, summary, offline=False, basemap_kind="tianditu"))
    assert "tianditu.gov.cn/vec_w/" in tdt and "tk=k123" in tdt and "amap" not in tdt.lower()
    with pytest.raises(ValueError, match=r"outputs\.basemap"):
        mp.build_map(results, summary, offline=True, basemap_kind="amap")


def test_scenario_basemap_field_is_validated():
    from healthopt.scenario import Scenario

    assert Scenario.from_dict({"name": "x"}).outputs.basemap == "offline"
    with pytest.raises(Exception, match="basemap"):
        Scenario.from_dict({"name": "x", "outputs": {"basemap": "amap"}})


def test_station_table_has_name_column_from_naming():
    frame = pd.DataFrame({"site_id": ["node-1"], "node": [1], "snap_m": [0.0], "district_code": ["1"],
                          "geometry": [Point(0, 0)]})
    G = nx.MultiDiGraph()
    G.add_edge(1, 2, name="五一路")
    assert station_names(frame, graph=G).tolist() == ["五一路"]


def test_tianditu_without_a_key_is_refused_before_any_slow_step(tmp_path, monkeypatch):
    from healthopt.errors import InputError
    from healthopt.pipeline import run as pipeline
    from healthopt.scenario import Scenario

    sc = Scenario.from_dict({"name": "x", "outputs": {"basemap": "tianditu"}})
    monkeypatch.delenv("TIANDITU_TK", raising=False)
    slow = []
    monkeypatch.setattr(pipeline, "prepare_inputs", lambda *a, **k: slow.append(1))
    with pytest.raises(InputError, match="TIANDITU_TK") as err:
        pipeline.run_loaded(sc, tmp_path / "run", lambda *a, **k: None)
    assert "outputs.basemap" in str(err.value) and "\n" not in str(err.value)
    assert slow == [] and not (tmp_path / "run").exists()
    monkeypatch.setenv("TIANDITU_TK", "k")
    pipeline._check_basemap(sc)  # a key given: accepted


def test_name_sites_names_a_plans_sites_from_the_run_inputs():
    from types import SimpleNamespace

    G = nx.MultiDiGraph()
    G.add_edge(7, 8, name="五一路")
    sites = gpd.GeoDataFrame({"site_id": ["node-7", "user-stations-S1"], "name": [None, "迎泽区急救站"],
                              "node": [7, 8], "snap_m": [0.0, 5.0], "district_code": ["140106"] * 2},
                             geometry=[Point(112.56, 37.86), Point(112.55, 37.85)], crs=4326)
    inputs = SimpleNamespace(sites=sites, graph=G, data=SimpleNamespace(seats=None))
    ids = pd.Series(["user-stations-S1", "node-7"], index=[10, 11])
    assert mp_names(ids, inputs) == {10: "迎泽区急救站", 11: "五一路"}


def mp_names(ids: pd.Series, inputs: Any) -> dict[Any, str]:
    from healthopt._naming import name_sites

    return name_sites(ids, inputs=inputs).to_dict()
