"""Tests for healthopt.network: building, speeds, oneway, SCC, cache and errors."""

from __future__ import annotations

import json
from pathlib import Path

import networkx as nx
import numpy as np
import pytest
import shapely

from healthopt import network, settings
from healthopt.errors import InputError

FIXTURES = Path(__file__).parent / "fixtures" / "network"
TINY = FIXTURES / "tiny_lines.geojson"
TAIYUAN = settings.GEODATA_DIR / "roads" / "taiyuan_core_osm_lines.geojson"

# fixture vertices (see tiny_lines.geojson): metres east/north of A at (112.5, 37.8)
PTS = {
    "A": (112.5, 37.8),
    "B": (112.5, 37.808993203),
    "F": (112.5, 37.813489805),
    "C": (112.505690784, 37.808993203),
    "D": (112.505690784, 37.8),
    "E": (112.511381568, 37.808993203),
    "W": (112.496585529, 37.8),
    "S": (112.505690784, 37.798201359),
}


def node_at(G: nx.MultiDiGraph, name: str):
    x, y = PTS[name]
    for n, d in G.nodes(data=True):
        if abs(d["x"] - x) < 1e-7 and abs(d["y"] - y) < 1e-7:
            return n
    return None


def route_time(G, a, b):
    return nx.shortest_path_length(G, node_at(G, a), node_at(G, b), weight="travel_time")


@pytest.fixture(scope="module")
def tiny():
    return network.build_graph(TINY, ambulance_speed_factor=1.0, congestion=1.0)


@pytest.fixture(scope="module")
def taiyuan(tmp_path_factory):
    # shared cache dir across test modules: the graph is built once per session
    cache = tmp_path_factory.getbasetemp() / "graph-cache"
    return network.load_graph(TAIYUAN, cache_dir=cache)


# --------------------------------------------------------------------------- parsing


def test_parse_hstore_handles_escapes_and_null():
    text = r'"oneway"=>"yes","note"=>"say \"hi\", ok","x"=>NULL,"a\\b"=>"c"'
    assert network.parse_hstore(text) == {"oneway": "yes", "note": 'say "hi", ok', "a\\b": "c"}
    assert network.parse_hstore(None) == {}
    assert network.parse_hstore("") == {}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("60", 60.0),
        ("60 km/h", 60.0),
        ("30 mph", 48.28032),
        ("40;60", 50.0),
        (["40", "60 km/h"], 50.0),
        ("CN:urban", None),
        ("none", None),
        (None, None),
        (80, 80.0),
    ],
)
def test_parse_maxspeed(value, expected):
    got = network.parse_maxspeed(value)
    assert got == pytest.approx(expected) if expected is not None else got is None


@pytest.mark.parametrize(
    ("tags", "expected"),
    [
        ({"highway": "primary"}, True),
        ({"highway": "footway"}, False),
        ({"highway": "residential", "access": "private"}, False),
        ({"highway": "residential", "access": "no", "motor_vehicle": "yes"}, True),
        ({"highway": "service", "access": "no", "emergency": "yes"}, True),
        ({"highway": "service", "area": "yes"}, False),
        ({"highway": "service", "service": "parking_aisle"}, False),
        ({"railway": "rail"}, False),
    ],
)
def test_is_drivable(tags, expected):
    assert network.is_drivable(tags, settings.DRIVABLE_HIGHWAYS) is expected


# --------------------------------------------------------------------------- tiny graph


def test_tiny_graph_attributes(tiny):
    assert tiny.graph["crs"] == "EPSG:4326"
    assert nx.is_strongly_connected(tiny)
    for _, _, d in tiny.edges(data=True):
        assert d["travel_time"] > 0 and d["length"] > 0 and d["speed_kph"] > 0
        assert {"osmid", "highway", "oneway"} <= d.keys()
    # footway, private road and railway are not in the graph
    osmids = {d["osmid"] for _, _, d in tiny.edges(data=True)}
    assert osmids == {1, 2, 3, 4, 8, 10, 11}
    # A, B, C, D, F, W, S stay as intersections / dead ends; E is dropped (see SCC test)
    assert {n for n in map(lambda k: node_at(tiny, k), PTS) if n is not None} == set(tiny)
    assert len(tiny) == 7


def test_hand_checked_route_times(tiny):
    # A -> B: 1 km primary at 45 km/h = 80 s
    ab = tiny.get_edge_data(node_at(tiny, "A"), node_at(tiny, "B"))
    assert len(ab) == 1
    (edge,) = ab.values()
    assert edge["length"] == pytest.approx(1000.0, abs=0.01)
    assert edge["travel_time"] == pytest.approx(80.0, abs=1e-3)
    assert route_time(tiny, "A", "B") == pytest.approx(80.0, abs=1e-3)
    # A -> C: via D (0.5 km tertiary tagged 30 mph + 1 km secondary at 35 km/h) beats
    # A -> B -> C (80 s + 0.5 km residential at 20 km/h = 170 s)
    ad = 500.0 / (30 * 1.609344 / 3.6)
    dc = 1000.0 / (35 / 3.6)
    assert route_time(tiny, "A", "C") == pytest.approx(ad + dc, rel=1e-4)


def test_oneway_honoured(tiny):
    b, c, f = (node_at(tiny, k) for k in "BCF")
    assert tiny.has_edge(b, c) and not tiny.has_edge(c, b)  # oneway=yes
    assert tiny.has_edge(c, f) and not tiny.has_edge(f, c)  # oneway=-1 reverses
    assert all(d["oneway"] for d in tiny.get_edge_data(b, c).values())
    # C -> B must go round: C -> F (reverse one-way, 707 m at 25 km/h) -> B (500 m at 45)
    expected = 500 * 2**0.5 / (25 / 3.6) + 500 / (45 / 3.6)
    assert route_time(tiny, "C", "B") == pytest.approx(expected, rel=1e-3)
    assert route_time(tiny, "B", "C") == pytest.approx(500 / (20 / 3.6), rel=1e-3)


def test_scc_drops_dead_end_oneway_and_reports(tiny):
    assert node_at(tiny, "E") is None
    report = network.build_report(tiny)
    assert report.components == 2
    assert report.nodes_dropped == 1
    assert report.edges_dropped == 1
    assert report.km_dropped == pytest.approx(0.5, abs=0.01)
    assert report.ways_read == 11
    assert report.ways_drivable == 8
    assert report.nodes == len(tiny) and report.edges == tiny.number_of_edges()


def test_speed_factors(tmp_path):
    base = network.build_graph(TINY, ambulance_speed_factor=1.0, congestion=1.0)
    slow = network.build_graph(TINY, ambulance_speed_factor=1.2, congestion=1.5)
    custom = network.build_graph(TINY, speeds={"primary": 60}, ambulance_speed_factor=1.0)
    assert route_time(slow, "A", "B") == pytest.approx(80.0 * 1.5 / 1.2, abs=1e-3)
    assert route_time(custom, "A", "B") == pytest.approx(60.0, abs=1e-3)
    assert slow.graph["congestion"] == 1.5 and slow.graph["ambulance_speed_factor"] == 1.2
    assert custom.graph["speeds_kph"]["primary"] == 60
    # tagged maxspeed wins over the class default; speed_kph keeps the base speed
    a, d = node_at(base, "A"), node_at(base, "D")
    (e,) = base.get_edge_data(a, d).values()
    assert e["speed_kph"] == pytest.approx(48.28032)
    assert e["maxspeed"] == "30 mph"


def test_add_speeds_class_default_and_cap():
    G = nx.MultiDiGraph()
    G.add_edge(1, 2, highway="residential", length=1000.0)
    G.add_edge(2, 3, highway="primary", length=1000.0, maxspeed="250")
    G.add_edge(3, 4, highway="unknown_class", length=1000.0)
    network.add_speeds(G, settings.DEFAULT_SPEEDS_KPH, ambulance_speed_factor=2.0, congestion=1.0)
    assert G[1][2][0]["speed_kph"] == 20.0
    assert G[1][2][0]["travel_time"] == pytest.approx(1000 / (20 / 3.6) / 2.0)
    assert G[2][3][0]["speed_kph"] == network.MAXSPEED_CAP_KPH
    assert G[3][4][0]["speed_kph"] == min(settings.DEFAULT_SPEEDS_KPH.values())


def test_bad_speed_parameters():
    with pytest.raises(InputError, match=r"speeds\.primary"):
        network.build_graph(TINY, speeds={"primary": -5})
    with pytest.raises(InputError, match="congestion"):
        network.build_graph(TINY, congestion=0)


def test_boundary_clip(tiny):
    # keep the southern half: W - A - D - S remains, A and D become interstitial vertices
    box = shapely.box(112.49, 37.79, 112.52, 37.805)
    G = network.build_graph(TINY, boundary=box, ambulance_speed_factor=1.0)
    report = network.build_report(G)
    assert report.clipped
    assert set(G) == {node_at(G, "W"), node_at(G, "S")}
    assert report.road_km == pytest.approx(0.3 + 0.5 + 0.2, abs=0.01)
    assert nx.is_strongly_connected(G)
    with pytest.raises(InputError, match="boundary"):
        network.build_graph(TINY, boundary=shapely.box(100, 10, 100.1, 10.1))


# --------------------------------------------------------------------------- other formats


def _tiny_ways():
    fc = json.loads(TINY.read_text(encoding="utf-8"))
    coords, ways = {}, []
    for f in fc["features"]:
        p = f["properties"]
        tags = network.parse_hstore(p["other_tags"])
        tags.update({k: v for k, v in p.items() if k in ("name", "highway") and v})
        refs = []
        for xy in f["geometry"]["coordinates"]:
            refs.append(coords.setdefault(tuple(xy), len(coords) + 1))
        ways.append((int(p["osm_id"]), tags, refs))
    return coords, ways


def _write_osm_xml(path: Path) -> None:
    from xml.sax.saxutils import quoteattr

    coords, ways = _tiny_ways()
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', '<osm version="0.6">']
    for (x, y), i in coords.items():
        lines.append(f'<node id="{i}" version="1" lat="{y}" lon="{x}"/>')
    for wid, tags, refs in ways:
        lines.append(f'<way id="{wid}" version="1">')
        lines += [f'<nd ref="{r}"/>' for r in refs]
        lines += [f"<tag k={quoteattr(k)} v={quoteattr(v)}/>" for k, v in tags.items()]
        lines.append("</way>")
    lines.append("</osm>")
    path.write_text("\n".join(lines), encoding="utf-8")


def _signature(G):
    # PBF stores coordinates to 1e-7 degrees, so times are compared to 0.01 s
    times = sorted(round(t, 2) for _, _, t in G.edges(data="travel_time"))
    return len(G), G.number_of_edges(), times


def test_osm_xml_matches_lines(tmp_path, tiny):
    path = tmp_path / "tiny.osm"
    _write_osm_xml(path)
    G = network.build_graph(path, ambulance_speed_factor=1.0, congestion=1.0)
    assert G.graph["source_format"] == "xml"
    assert _signature(G) == _signature(tiny)
    assert route_time(G, "A", "C") == pytest.approx(route_time(tiny, "A", "C"), rel=1e-6)


def test_osm_pbf_matches_lines(tmp_path, tiny):
    osmium = pytest.importorskip("osmium")
    coords, ways = _tiny_ways()
    path = tmp_path / "tiny.osm.pbf"
    with osmium.SimpleWriter(str(path)) as writer:
        for (x, y), i in sorted(coords.items(), key=lambda kv: kv[1]):
            writer.add_node(osmium.osm.mutable.Node(id=i, location=(x, y), tags={}))
        for wid, tags, refs in ways:
            writer.add_way(osmium.osm.mutable.Way(id=wid, nodes=refs, tags=tags))
    G = network.build_graph(path, ambulance_speed_factor=1.0, congestion=1.0)
    assert G.graph["source_format"] == "pbf"
    assert _signature(G) == _signature(tiny)
    assert route_time(G, "C", "B") == pytest.approx(route_time(tiny, "C", "B"), rel=1e-6)


# --------------------------------------------------------------------------- errors


def test_missing_file(tmp_path):
    missing = tmp_path / "nowhere.geojson"
    with pytest.raises(InputError, match=r"nowhere\.geojson: road network file not found"):
        network.load_graph(missing, cache_dir=tmp_path)


def test_unknown_format(tmp_path):
    path = tmp_path / "roads.csv"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(InputError) as exc:
        network.build_graph(path)
    assert exc.value.field == "format" and "roads.csv" in str(exc.value)


def test_unreadable_lines_file(tmp_path):
    path = tmp_path / "broken.geojson"
    path.write_text("{not json")
    with pytest.raises(InputError, match=r"broken\.geojson: format"):
        network.build_graph(path)


def test_no_drivable_roads(tmp_path):
    fc = json.loads(TINY.read_text(encoding="utf-8"))
    fc["features"] = [f for f in fc["features"] if f["properties"]["highway"] in (None, "footway")]
    path = tmp_path / "paths_only.geojson"
    path.write_text(json.dumps(fc))
    with pytest.raises(InputError) as exc:
        network.build_graph(path)
    assert exc.value.field == "highway"
    assert "paths_only.geojson: highway: no drivable roads" in str(exc.value)


def test_no_highway_column(tmp_path):
    path = tmp_path / "rivers.geojson"
    path.write_text(
        json.dumps(
            {
                "type": "FeatureCollection",
                "features": [
                    {
                        "type": "Feature",
                        "properties": {"waterway": "river"},
                        "geometry": {"type": "LineString", "coordinates": [[112, 37], [113, 38]]},
                    }
                ],
            }
        )
    )
    with pytest.raises(InputError, match=r"rivers\.geojson: highway"):
        network.build_graph(path)


# --------------------------------------------------------------------------- cache


def test_cache_hit_does_not_rebuild(tmp_path, monkeypatch):
    first = network.load_graph(TINY, cache_dir=tmp_path)
    assert first.graph["cache"] == "miss"
    assert len(list(tmp_path.glob("*.npz"))) == 1 and len(list(tmp_path.glob("*.json"))) == 1
    assert not list(tmp_path.glob(".*"))  # atomic writes leave no temporary file
    assert not list(tmp_path.glob("*.pkl"))

    def boom(*args, **kwargs):
        raise AssertionError("rebuilt despite a cache hit")

    monkeypatch.setattr(network, "build_graph", boom)
    second = network.load_graph(TINY, cache_dir=tmp_path)
    assert second.graph["cache"] == "hit"
    assert list(first.edges(keys=True, data="travel_time")) == list(second.edges(keys=True, data="travel_time"))
    assert list(first.nodes(data=True)) == list(second.nodes(data=True))
    # any parameter change misses the cache
    with pytest.raises(AssertionError, match="rebuilt"):
        network.load_graph(TINY, cache_dir=tmp_path, congestion=1.5)
    with pytest.raises(AssertionError, match="rebuilt"):
        network.load_graph(TINY, cache_dir=tmp_path, boundary=shapely.box(112, 37, 113, 38))
    with pytest.raises(AssertionError, match="rebuilt"):
        network.load_graph(TINY, cache_dir=tmp_path, speeds={"residential": 25})


def test_cache_rebuilds_when_file_changes(tmp_path):
    src = tmp_path / "roads.geojson"
    src.write_bytes(TINY.read_bytes())
    network.load_graph(src, cache_dir=tmp_path / "c")
    src.write_bytes(TINY.read_bytes() + b"\n")
    assert network.load_graph(src, cache_dir=tmp_path / "c").graph["cache"] == "miss"
    assert len(list((tmp_path / "c").glob("*.npz"))) == 2


def test_damaged_cache_is_rebuilt(tmp_path):
    network.load_graph(TINY, cache_dir=tmp_path)
    (payload,) = tmp_path.glob("*.npz")
    payload.write_bytes(b"garbage")
    G = network.load_graph(TINY, cache_dir=tmp_path)
    assert G.graph["cache"] == "rebuilt (payload checksum mismatch)"
    assert network.load_graph(TINY, cache_dir=tmp_path).graph["cache"] == "hit"  # the rebuild was saved


def test_no_cache_says_so(tmp_path):
    G = network.load_graph(TINY, cache_dir=tmp_path, use_cache=False)
    assert G.graph["cache"] == "disabled (--no-cache)" and not list(tmp_path.iterdir())


# --------------------------------------------------------------------------- Taiyuan


def test_taiyuan_graph(taiyuan):
    G = taiyuan
    # deterministic build of the shipped extract (see benchmarks/bench_traveltime.py)
    assert (len(G), G.number_of_edges()) == (4083, 8502)
    assert G.graph["crs"] == "EPSG:4326"
    assert nx.is_strongly_connected(G)
    times = np.array([t for _, _, t in G.edges(data="travel_time")])
    assert (times > 0).all() and np.isfinite(times).all()
    report = network.build_report(G)
    assert report.ways_read == 4412
    assert report.ways_drivable == 3103  # 3,128 drivable classes minus access/area closures
    assert report.nodes_dropped == 304 and report.edges_dropped == 385
    assert 1150 < report.road_km < 1250
    assert 180 < report.km_dropped < 230


def test_taiyuan_summary(taiyuan):
    s = network.graph_summary(taiyuan)
    assert s["nodes"] == 4083 and s["strongly_connected"]
    assert s["road_km"] == pytest.approx(sum(s["km_by_class"].values()), abs=0.01)
    assert set(s["km_by_class"]) <= settings.DRIVABLE_HIGHWAYS
    west, south, east, north = s["bbox"]
    assert 112.44 <= west < east <= 112.69 and 37.70 <= south < north <= 37.96
    assert s["source_sha256"] == network.file_sha256(TAIYUAN)
    assert s["scc"]["nodes_dropped"] == 304


def test_gdf_wrappers(tiny):
    nodes, edges = network.nodes_gdf(tiny), network.edges_gdf(tiny)
    assert len(nodes) == len(tiny) and len(edges) == tiny.number_of_edges()
    assert nodes.crs == "EPSG:4326" and edges.geometry.notna().all()


@pytest.mark.parametrize("kind", ["fifo", "device", "folder"])
def test_road_file_must_be_a_regular_file(tmp_path, kind) -> None:
    """A FIFO would hang the reader and /dev/zero would fill memory: both are refused up front."""
    import os

    if kind == "fifo":
        path = tmp_path / "roads.osm"
        os.mkfifo(path)
        expected = "FIFO"
    elif kind == "device":
        path, expected = Path("/dev/zero"), "device"
    else:
        path = tmp_path / "roads.osm.pbf"
        path.mkdir()
        expected = "folder"
    with pytest.raises(InputError, match=expected):
        network.build_graph(path)
