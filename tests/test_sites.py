"""Tests for healthopt.sites: thinning, seats, user sites, determinism."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from scipy.spatial.distance import pdist

from healthopt import network, settings, sites
from healthopt.errors import InputError

TAIYUAN = settings.GEODATA_DIR / "roads" / "taiyuan_core_osm_lines.geojson"
SEATS = settings.GEODATA_DIR / "places" / "county_seats.csv"
COUNTIES = settings.GEODATA_DIR / "boundaries" / "taiyuan_jinzhong_counties_wgs84.geojson"


@pytest.fixture(scope="module")
def taiyuan(tmp_path_factory):
    cache = tmp_path_factory.getbasetemp() / "graph-cache"
    return network.load_graph(TAIYUAN, cache_dir=cache)


@pytest.fixture(scope="module")
def seats():
    df = pd.read_csv(SEATS)
    return gpd.GeoDataFrame(df, geometry=gpd.points_from_xy(df.lon_wgs84, df.lat_wgs84), crs=4326)


def test_network_candidates_respect_spacing(taiyuan):
    cands = sites.candidate_sites(taiyuan, spacing_m=1000)
    assert cands.crs == "EPSG:4326"
    assert list(cands.columns) == sites.SITE_COLUMNS
    assert (cands.kind == "network_node").all()
    xy = np.column_stack(
        [cands.to_crs(settings.CRS_METRIC).geometry.x, cands.to_crs(settings.CRS_METRIC).geometry.y]
    )
    assert pdist(xy).min() >= 1000
    assert cands.site_id.is_unique
    assert (cands.snap_m < 1e-6).all() and set(cands.node) <= set(taiyuan)
    assert cands.site_id.tolist() == [f"node-{n}" for n in cands.node]
    # thinning covers the city: ~1 candidate per km² of built-up network area
    assert 50 <= len(cands) <= 200
    # denser spacing gives more candidates
    assert len(sites.candidate_sites(taiyuan, spacing_m=500)) > 2 * len(cands)


def test_prefers_major_roads(taiyuan):
    cands = sites.candidate_sites(taiyuan, spacing_m=2000)
    first = cands.node.iloc[0]
    ranks = [
        network.HIGHWAY_RANK.get(network._first_class(h), -1)
        for _, _, h in taiyuan.edges(first, data="highway")
    ]
    assert max(ranks) == max(network.HIGHWAY_RANK.values()) or max(ranks) >= 8


def test_deterministic(taiyuan, seats):
    a = sites.candidate_sites(taiyuan, seats=seats)
    b = sites.candidate_sites(taiyuan, seats=seats)
    pd.testing.assert_frame_equal(a.drop(columns="geometry"), b.drop(columns="geometry"))
    assert a.geometry.equals(b.geometry)


def test_seats_and_user_sites_and_districts(taiyuan, seats):
    user = gpd.GeoDataFrame(
        {"site_id": ["h1"], "name": ["新院区"]},
        geometry=gpd.points_from_xy([112.55], [37.85]),
        crs=4326,
    )
    districts = gpd.read_file(COUNTIES)
    cands = sites.candidate_sites(taiyuan, seats=seats, extra=user, districts=districts)
    kinds = cands.kind.tolist()
    # network nodes first, then seats, then user sites
    assert kinds == sorted(kinds, key=["network_node", "district_seat", "user"].index)
    seat_rows = cands[cands.kind == "district_seat"]
    assert len(seat_rows) == len(seats)
    assert seat_rows.site_id.tolist() == [f"seat-{c}" for c in seats.adcode]
    assert seat_rows.district_code.tolist() == seats.adcode.astype(str).tolist()
    assert (seat_rows.location_quality == "secondary").all()
    # seats outside the extract snap far away; the distance is reported
    assert seat_rows.snap_m.max() > 10_000
    u = cands[cands.kind == "user"].iloc[0]
    assert u.site_id == "user-h1" and u["name"] == "新院区" and u.district_code == "140106"
    assert cands[cands.kind == "network_node"].district_code.notna().all()


def test_boundary_limits_network_candidates(taiyuan):
    box = shapely.box(112.53, 37.83, 112.57, 37.87)
    cands = sites.candidate_sites(taiyuan, spacing_m=800, boundary=box)
    assert len(cands) > 3
    assert cands.geometry.within(box).all()


def test_errors(taiyuan):
    dup = gpd.GeoDataFrame(
        {"site_id": ["x", "x"]},
        geometry=gpd.points_from_xy([112.55, 112.56], [37.85, 37.86]),
        crs=4326,
    )
    with pytest.raises(InputError, match="duplicate"):
        sites.candidate_sites(taiyuan, extra=dup)
    with pytest.raises(InputError, match="spacing_m"):
        sites.candidate_sites(taiyuan, spacing_m=0)
