"""Tests for healthopt.traveltime: snapping, sparse engine, estimates, TravelTimes."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import networkx as nx
import numpy as np
import pytest
from pyproj import Transformer

from healthopt import _routing, network, settings, traveltime
from healthopt.errors import InputError

FIXTURES = Path(__file__).parent / "fixtures" / "network"
TINY = FIXTURES / "tiny_lines.geojson"
TAIYUAN = settings.GEODATA_DIR / "roads" / "taiyuan_core_osm_lines.geojson"
TO_UTM = Transformer.from_crs(4326, settings.CRS_METRIC, always_xy=True)
PTS = {
    "A": (112.5, 37.8),
    "B": (112.5, 37.808993203),
    "C": (112.505690784, 37.808993203),
    "D": (112.505690784, 37.8),
}
SEC_PER_M = settings.DEFAULT_CIRCUITY / (settings.DEFAULT_FALLBACK_SPEED_KPH / 3.6)


@pytest.fixture(scope="module")
def tiny():
    return network.build_graph(TINY, ambulance_speed_factor=1.0, congestion=1.0)


@pytest.fixture(scope="module")
def taiyuan(tmp_path_factory):
    cache = tmp_path_factory.getbasetemp() / "graph-cache"
    return network.load_graph(TAIYUAN, cache_dir=cache)


def node_at(G, name):
    x, y = PTS[name]
    return next(n for n, d in G.nodes(data=True) if abs(d["x"] - x) + abs(d["y"] - y) < 1e-7)


def points(spec, id_col="site_id"):
    """GeoDataFrame in UTM 49N from (id, named vertex, metres east, metres north)."""
    ids, xs, ys = [], [], []
    for pid, name, dx, dy in spec:
        x, y = TO_UTM.transform(*PTS[name])
        ids.append(pid)
        xs.append(x + dx)
        ys.append(y + dy)
    return gpd.GeoDataFrame({id_col: ids}, geometry=gpd.points_from_xy(xs, ys), crs=32649)


def nx_time(G, a, b):
    return nx.shortest_path_length(G, node_at(G, a), node_at(G, b), weight="travel_time")


# --------------------------------------------------------------------------- snapping


def test_nearest_nodes(tiny):
    pts = points([("on", "B", 0, 0), ("near", "B", 0, 120)])
    nodes, dist = traveltime.nearest_nodes(tiny, pts)
    assert list(nodes) == [node_at(tiny, "B"), node_at(tiny, "B")]
    assert dist[0] == pytest.approx(0, abs=0.01)
    assert dist[1] == pytest.approx(120, abs=0.01)
    # same answer from WGS84 input
    nodes84, _ = traveltime.nearest_nodes(tiny, pts.to_crs(4326))
    assert list(nodes84) == list(nodes)


# --------------------------------------------------------------------------- matrices


def test_network_pair_and_access_legs(tiny):
    sites = points([("sA", "A", 0, 0), ("sB", "B", 0, 0)])
    demand = points([("dC", "C", 0, 0), ("dC+100", "C", 100, 0)], "demand_id")
    tt = traveltime.travel_time_matrix(tiny, sites, demand, cutoff_minutes=10)
    M = tt.minutes.toarray()
    assert M[0, 0] == pytest.approx(nx_time(tiny, "A", "C") / 60, rel=1e-9)
    assert M[1, 0] == pytest.approx(nx_time(tiny, "B", "C") / 60, rel=1e-9)
    # 100 m off the network: access leg at fallback speed x circuity on top
    assert M[0, 1] == pytest.approx((nx_time(tiny, "A", "C") + 100 * SEC_PER_M) / 60, rel=1e-6)
    assert not tt.estimated.any() and not tt.pair_estimated.any()
    assert list(tt.site_ids) == ["sA", "sB"] and list(tt.demand_ids) == ["dC", "dC+100"]


def test_zero_time_pair_is_kept(tiny):
    sites = points([("s", "B", 0, 0)])
    demand = points([("same", "B", 0, 0), ("other", "A", 0, 0)], "demand_id")
    tt = traveltime.travel_time_matrix(tiny, sites, demand, cutoff_minutes=5)
    assert tt.minutes.nnz == 2
    assert 0 < tt.minutes[0, 0] <= traveltime.MIN_MINUTES
    # survives operations that drop zeros
    assert tt.minutes.multiply(tt.minutes > 0).nnz == 2
    assert tt.coverage(0.5)[0, 0]
    assert tt.coverage(0.5).nnz == 1
    frame = tt.to_frame()
    assert frame.loc[frame.demand_id == "same", "minutes"].item() == pytest.approx(0, abs=1e-5)
    assert tt.min_time_per_demand()[0] == pytest.approx(0, abs=1e-5)


def test_cutoff_excludes_slow_pairs(tiny):
    sites = points([("s", "A", 0, 0)])
    demand = points([("B", "B", 0, 0), ("C", "C", 0, 0)], "demand_id")
    ab, ac = nx_time(tiny, "A", "B") / 60, nx_time(tiny, "A", "C") / 60
    assert ab < 2.0 < ac
    tt = traveltime.travel_time_matrix(tiny, sites, demand, cutoff_minutes=2.0)
    assert tt.minutes.nnz == 1 and tt.minutes[0, 0] == pytest.approx(ab)
    near = tt.nearest()
    assert near.site_id.tolist() == ["s", None]
    assert near.minutes.iloc[1] == np.inf and near.site_index.iloc[1] == -1
    with pytest.raises(InputError, match="exceeds the matrix cutoff"):
        tt.coverage(3.0)


def test_off_network_demand_is_estimated(tiny):
    sites = points([("sA", "A", 0, 0), ("sC", "C", 0, 0)])
    # 3 km west of A: far beyond the 500 m snap tolerance
    demand = points([("far", "A", -3000, 0), ("on", "D", 0, 0)], "demand_id")
    tt = traveltime.travel_time_matrix(tiny, sites, demand, cutoff_minutes=7)
    assert tt.estimated.tolist() == [True, False]
    sxy = np.array([TO_UTM.transform(*PTS[k]) for k in "AC"])
    fxy = np.array(TO_UTM.transform(*PTS["A"])) + np.array([-3000.0, 0.0])
    straight = np.hypot(*(sxy - fxy).T)
    expected = straight * settings.DEFAULT_CIRCUITY / (settings.DEFAULT_FALLBACK_SPEED_KPH / 3.6)
    assert expected[0] / 60 < 7 < expected[1] / 60  # only sA is within range
    assert tt.minutes[0, 0] == pytest.approx(expected[0] / 60, rel=1e-9)
    assert tt.minutes[1, 0] == 0  # beyond the cutoff: no entry
    frame = tt.to_frame()
    assert frame.set_index(["site_id", "demand_id"]).loc[("sA", "far"), "estimated"]
    assert not frame.set_index(["site_id", "demand_id"]).loc[("sA", "on"), "estimated"]
    assert tt.estimated_pairs().nnz == 1
    assert tt.nearest().estimated.tolist() == [True, False]


def test_off_network_site_is_estimated(tiny):
    sites = points([("remote", "A", 0, -2000), ("sB", "B", 0, 0)])
    demand = points([("A", "A", 0, 0)], "demand_id")
    tt = traveltime.travel_time_matrix(tiny, sites, demand, cutoff_minutes=10)
    assert tt.site_estimated.tolist() == [True, False]
    assert tt.minutes[0, 0] == pytest.approx(2000 * SEC_PER_M / 60, rel=1e-9)
    assert tt.pair_estimated.tolist() == [True, False]


def test_direction_to_sites(tiny):
    sites = points([("sC", "C", 0, 0)])
    demand = points([("dB", "B", 0, 0)], "demand_id")
    dispatch = traveltime.travel_time_matrix(tiny, sites, demand, 10)
    visit = traveltime.travel_time_matrix(tiny, sites, demand, 10, direction="to_sites")
    assert dispatch.minutes[0, 0] == pytest.approx(nx_time(tiny, "C", "B") / 60)
    assert visit.minutes[0, 0] == pytest.approx(nx_time(tiny, "B", "C") / 60)
    assert dispatch.minutes[0, 0] != pytest.approx(visit.minutes[0, 0])


def test_nearest_with_open_sites(tiny):
    sites = points([("sA", "A", 0, 0), ("sB", "B", 0, 0)])
    demand = points([("dB", "B", 0, 0)], "demand_id")
    tt = traveltime.travel_time_matrix(tiny, sites, demand, 10)
    assert tt.nearest().site_id.tolist() == ["sB"]
    assert tt.nearest(open_sites=[0]).site_id.tolist() == ["sA"]
    assert tt.nearest(open_sites=np.array([True, False])).site_id.tolist() == ["sA"]
    assert tt.min_time_per_demand([0])[0] == pytest.approx(nx_time(tiny, "A", "B") / 60)


def test_bad_arguments(tiny):
    sites = points([("sA", "A", 0, 0)])
    with pytest.raises(InputError, match="cutoff_minutes"):
        traveltime.travel_time_matrix(tiny, sites, sites, 0)
    with pytest.raises(InputError, match="direction"):
        traveltime.travel_time_matrix(tiny, sites, sites, 5, direction="sideways")
    with pytest.raises(InputError, match="no CRS"):
        traveltime.travel_time_matrix(tiny, sites.set_crs(None, allow_override=True), sites, 5)


# --------------------------------------------------------------------------- engine vs networkx


def test_engine_matches_networkx_on_taiyuan(taiyuan, monkeypatch):
    G = taiyuan
    nodes = sorted(G.nodes)
    rng = np.random.default_rng(7)
    sources = [nodes[i] for i in rng.choice(len(nodes), 25, replace=False)]
    sources.append(sources[0])  # duplicate sources must work too
    # tiny chunks force the chunked path
    monkeypatch.setattr(_routing, "_CHUNK_BYTES", 8 * len(G) * 4)
    times = traveltime.network_times(G, sources, 600.0)
    order = traveltime.node_order(G)
    for i, s in enumerate(sources):
        ref = nx.single_source_dijkstra_path_length(G, s, cutoff=600.0, weight="travel_time")
        row = times.getrow(i)
        got = dict(zip(order[row.indices].tolist(), row.data.tolist(), strict=True))
        assert got.keys() == ref.keys()
        for k, v in ref.items():
            # a source itself is stored as a tiny positive value (MIN_MINUTES)
            assert got[k] == pytest.approx(v, abs=1e-4 if v == 0 else 1e-6)


def test_reverse_engine_matches_networkx(taiyuan):
    G = taiyuan
    target = sorted(G.nodes)[100]
    times = traveltime.network_times(G, [target], 400.0, reverse=True)
    ref = nx.single_source_dijkstra_path_length(
        G.reverse(copy=False), target, cutoff=400.0, weight="travel_time"
    )
    assert times.nnz == len(ref)


def test_taiyuan_matrix_against_networkx(taiyuan):
    G = taiyuan
    rng = np.random.default_rng(3)
    lon = rng.uniform(112.50, 112.60, 40)
    lat = rng.uniform(37.78, 37.90, 40)
    pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy(lon, lat), crs=4326)
    sites, demand = pts.iloc[:8].reset_index(drop=True), pts.iloc[8:].reset_index(drop=True)
    tt = traveltime.travel_time_matrix(G, sites, demand, cutoff_minutes=20)
    frame = tt.to_frame()
    net = frame[~frame.estimated]
    assert len(net) > 0
    for _, r in net.sample(10, random_state=0).iterrows():
        s, d = int(r.site_id), int(r.demand_id)
        expected = (
            nx.shortest_path_length(G, tt.site_nodes[s], tt.demand_nodes[d], weight="travel_time")
            + (tt.site_snap_m[s] + tt.demand_snap_m[d]) * SEC_PER_M
        ) / 60
        assert r.minutes == pytest.approx(expected, rel=1e-9)
    assert (frame.minutes <= 20).all()


# --------------------------------------------------------------------------- service areas


def test_service_areas(tiny):
    a = node_at(tiny, "A")
    areas = traveltime.service_areas(tiny, [a], [1.0, 2.0])
    assert areas.crs == "EPSG:4326"
    assert areas.minutes.tolist() == [1.0, 2.0]
    small, big = areas.geometry.tolist()
    from shapely import Point

    # A -> B takes 80 s: B is inside the 2-minute area only
    assert small.contains(Point(PTS["A"]))
    assert big.contains(Point(PTS["B"])) and not small.contains(Point(PTS["B"]))
    assert big.area > small.area


def test_within_equals_a_matrix_built_with_the_smaller_cutoff(taiyuan):
    # Batch runs cut one wide matrix per scenario: it must equal the narrow build exactly.
    rng = np.random.default_rng(5)
    pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy(rng.uniform(112.45, 112.65, 300),
                                                       rng.uniform(37.75, 37.95, 300)), crs=4326)
    sites, demand = pts.iloc[:30].reset_index(drop=True), pts.iloc[30:].reset_index(drop=True)
    wide = traveltime.travel_time_matrix(taiyuan, sites, demand, cutoff_minutes=20)
    narrow = traveltime.travel_time_matrix(taiyuan, sites, demand, cutoff_minutes=9)
    cut = wide.within(9)
    assert cut.cutoff_minutes == 9 and narrow.minutes.nnz < wide.minutes.nnz
    assert (cut.minutes != narrow.minutes).nnz == 0
    assert np.array_equal(cut.minutes.indptr, narrow.minutes.indptr)
    assert np.array_equal(cut.pair_estimated, narrow.pair_estimated) and cut.pair_estimated.any()
    assert wide.within(20) is wide
    with pytest.raises(InputError, match="cannot extend"):
        wide.within(25)


def test_per_point_circuity_on_estimated_pairs_and_access_legs(tiny):
    sites = points([("sA", "A", 0, 0), ("remote", "A", 0, -2000)])
    demand = points([("far", "A", -3000, 0), ("on+100", "C", 100, 0)], "demand_id")
    per_m = 1.0 / (settings.DEFAULT_FALLBACK_SPEED_KPH / 3.6)
    tt = traveltime.travel_time_matrix(tiny, sites, demand, cutoff_minutes=30,
                                       site_circuity=np.array([1.0, 2.0]), demand_circuity=np.array([1.5, 1.2]))
    M = tt.minutes.toarray()
    a = np.array(TO_UTM.transform(*PTS["A"]))
    # sA -> far: the demand point is off the network, so its own factor (1.5) applies to the whole leg.
    assert M[0, 0] == pytest.approx(3000 * 1.5 * per_m / 60, rel=1e-6)
    # remote -> far: both ends off the network: the demand point's factor.
    assert M[1, 0] == pytest.approx(np.hypot(3000, 2000) * 1.5 * per_m / 60, rel=1e-6)
    # remote -> on+100: only the site is off: the site's factor (2.0) on the straight line.
    c = np.array(TO_UTM.transform(*PTS["C"])) + np.array([100.0, 0.0])
    assert M[1, 1] == pytest.approx(np.hypot(*(c - a - np.array([0.0, -2000.0]))) * 2.0 * per_m / 60, rel=1e-6)
    # sA -> on+100: network time plus a 100 m access leg at the demand point's factor (1.2).
    assert M[0, 1] == pytest.approx((nx_time(tiny, "A", "C") + 100 * 1.2 * per_m) / 60, rel=1e-6)
    with pytest.raises(InputError, match="one value per point"):
        traveltime.travel_time_matrix(tiny, sites, demand, cutoff_minutes=30, site_circuity=np.array([1.0]))
