"""Circuity of off-network legs by terrain class (tables/terrain.csv, settings.DEFAULT_TERRAIN_CIRCUITY)."""

from __future__ import annotations

import geopandas as gpd
import pytest
from shapely.geometry import Point

from healthopt import settings
from healthopt._terrain import class_circuity, point_circuity
from healthopt.data import load_taiyuan
from healthopt.scenario.schema import Network, TerrainCircuity


@pytest.fixture(scope="module")
def data():
    return load_taiyuan()


def test_every_district_has_a_terrain_class_flagged_estimate(data):
    d = data.districts.set_index("name_zh")
    assert set(d["terrain"]) <= set(settings.TERRAIN_CLASSES) and d["terrain"].notna().all()
    assert (d["terrain_quality"] == "estimate").all()
    assert d.loc["娄烦县", "terrain"] == "mountain" and d.loc["小店区", "terrain"] == "plain"


def test_points_take_their_districts_factor(data):
    seats = data.seats.set_index("name_zh")
    pts = gpd.GeoDataFrame(geometry=[seats.loc["娄烦县"].geometry, seats.loc["小店区"].geometry,
                                     seats.loc["寿阳县"].geometry, Point(100.0, 30.0)], crs=4326)  # fmt: skip
    got = point_circuity(pts, districts=data.districts, network=Network(terrain_circuity=TerrainCircuity()))
    # mountain 1.54, plain 1.31, hilly 1.43; a point in no district keeps network.circuity (1.35).
    assert got.tolist() == [1.54, 1.31, 1.43, 1.35]
    custom = Network(circuity=1.2, terrain_circuity=TerrainCircuity(plain=1.1, hilly=1.6, mountain=2.0))
    assert point_circuity(pts, districts=data.districts, network=custom).tolist() == [2.0, 1.1, 1.6, 1.2]
    off = Network(circuity=1.4, terrain_circuity=None)
    assert point_circuity(pts, districts=data.districts, network=off).tolist() == [1.4] * 4
    by_terrain = Network(terrain_circuity=TerrainCircuity())
    assert class_circuity("mountain", network=by_terrain) == 1.54 and class_circuity(None, network=by_terrain) == 1.35
    assert class_circuity("mountain", network=Network()) == 1.54  # default: by terrain
