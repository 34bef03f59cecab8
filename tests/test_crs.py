"""Coordinate conversions WGS84 / GCJ-02 / BD-09 and declared-CRS handling."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from pyproj import Geod

from healthopt.data import crs
from healthopt.errors import InputError
from healthopt.settings import GEODATA_DIR

GEOD = Geod(ellps="WGS84")


def metres(lon1, lat1, lon2, lat2) -> np.ndarray:
    return np.asarray(GEOD.inv(lon1, lat1, lon2, lat2)[2])


@pytest.fixture(scope="module")
def seats() -> pd.DataFrame:
    df = pd.read_csv(GEODATA_DIR / "places" / "county_seats.csv", dtype={"adcode": str})
    assert len(df) == 21
    return df


def test_forward_matches_published_seat_pairs(seats):
    lon, lat = crs.wgs84_to_gcj02(seats.lon_wgs84, seats.lat_wgs84)
    assert metres(lon, lat, seats.lon_gcj02, seats.lat_gcj02).max() < 1.0


def test_inverse_matches_published_seat_pairs(seats):
    lon, lat = crs.gcj02_to_wgs84(seats.lon_gcj02, seats.lat_gcj02)
    assert metres(lon, lat, seats.lon_wgs84, seats.lat_wgs84).max() < 1.0


def test_round_trips_are_sub_half_metre(seats):
    lon, lat = crs.gcj02_to_wgs84(*crs.wgs84_to_gcj02(seats.lon_wgs84, seats.lat_wgs84))
    assert metres(lon, lat, seats.lon_wgs84, seats.lat_wgs84).max() < 0.5
    lon, lat = crs.wgs84_to_gcj02(*crs.gcj02_to_wgs84(seats.lon_gcj02, seats.lat_gcj02))
    assert metres(lon, lat, seats.lon_gcj02, seats.lat_gcj02).max() < 0.5
    lon, lat = crs.bd09_to_wgs84(*crs.wgs84_to_bd09(seats.lon_wgs84, seats.lat_wgs84))
    assert metres(lon, lat, seats.lon_wgs84, seats.lat_wgs84).max() < 0.5


def test_gcj_shift_in_taiyuan_is_about_560_m(seats):
    shift = metres(seats.lon_wgs84, seats.lat_wgs84, seats.lon_gcj02, seats.lat_gcj02)
    assert shift.min() > 450 and shift.max() < 700


def test_iterative_inverse_beats_one_step_approximation(seats):
    g_lon, g_lat = seats.lon_gcj02.to_numpy(), seats.lat_gcj02.to_numpy()
    f_lon, f_lat = crs.wgs84_to_gcj02(g_lon, g_lat)
    one_lon, one_lat = 2 * g_lon - f_lon, 2 * g_lat - f_lat
    it_lon, it_lat = crs.gcj02_to_wgs84(g_lon, g_lat)
    back_lon, back_lat = crs.wgs84_to_gcj02(it_lon, it_lat)
    assert np.abs(back_lon - g_lon).max() < 1e-7 and np.abs(back_lat - g_lat).max() < 1e-7
    assert metres(one_lon, one_lat, it_lon, it_lat).max() > 0.01


def test_wandergis_reference_values():
    # Published in the README/tests of wandergis/coordtransform (and ports such as hutool).
    lon, lat = crs.gcj02_to_bd09(116.404, 39.915)
    assert lon == pytest.approx(116.41036949371029, abs=1e-12)
    assert lat == pytest.approx(39.92133699351021, abs=1e-12)
    lon, lat = crs.wgs84_to_gcj02(116.404, 39.915)
    assert lon == pytest.approx(116.41024449916938, abs=1e-12)
    assert lat == pytest.approx(39.91640428150164, abs=1e-12)


def test_baidu_published_pair_beijing_railway_station():
    # Beijing railway station as read on Amap, GCJ-02 (116.42703, 39.90245), and on Baidu
    # maps, BD-09 (116.43351, 39.90851): the worked example of the ``bd2gcj`` help page of
    # an R coordinate-conversion package. Values have 5 decimals, so agree to ~1 m.
    lon, lat = crs.gcj02_to_bd09(116.42703, 39.90245)
    assert metres(lon, lat, 116.43351, 39.90851) < 1.5
    lon, lat = crs.bd09_to_gcj02(116.43351, 39.90851)
    assert metres(lon, lat, 116.42703, 39.90245) < 1.5


def test_bd09_offset_is_about_0065_0006(seats):
    b_lon, b_lat = crs.gcj02_to_bd09(seats.lon_gcj02, seats.lat_gcj02)
    assert np.allclose(b_lon - seats.lon_gcj02, 0.0065, atol=0.0005)
    assert np.allclose(b_lat - seats.lat_gcj02, 0.006, atol=0.0005)
    g_lon, g_lat = crs.bd09_to_gcj02(b_lon, b_lat)
    assert np.abs(g_lon - seats.lon_gcj02).max() < 1e-9
    assert np.abs(g_lat - seats.lat_gcj02).max() < 1e-9


def test_out_of_china_unchanged():
    lon, lat = np.array([2.35, -74.0]), np.array([48.85, 40.7])
    for func in (crs.wgs84_to_gcj02, crs.gcj02_to_wgs84):
        out_lon, out_lat = func(lon, lat)
        assert np.array_equal(out_lon, lon) and np.array_equal(out_lat, lat)
    assert crs.out_of_china(lon, lat).all()
    assert not crs.out_of_china(112.55, 37.86)


@settings(max_examples=200, deadline=None)
@given(st.floats(min_value=73.0, max_value=135.0), st.floats(min_value=18.0, max_value=53.0))
def test_round_trip_property(lon, lat):
    back = crs.gcj02_to_wgs84(*crs.wgs84_to_gcj02(lon, lat))
    assert abs(back[0] - lon) < 1e-8 and abs(back[1] - lat) < 1e-8
    back = crs.bd09_to_gcj02(*crs.gcj02_to_bd09(lon, lat))
    assert abs(back[0] - lon) < 1e-8 and abs(back[1] - lat) < 1e-8


def _mixed_gdf(lon0: float, lat0: float, crs_=None) -> gpd.GeoDataFrame:
    geoms = [
        shapely.Point(lon0, lat0),
        shapely.LineString([(lon0, lat0), (lon0 + 0.01, lat0 + 0.01)]),
        shapely.box(lon0, lat0, lon0 + 0.01, lat0 + 0.01),
    ]
    return gpd.GeoDataFrame({"k": [1, 2, 3]}, geometry=geoms, crs=crs_)


def test_to_wgs84_all_geometry_types_from_gcj02(seats):
    row = seats.iloc[0]
    out = crs.to_wgs84(_mixed_gdf(row.lon_gcj02, row.lat_gcj02), "gcj02")
    assert out.crs.to_epsg() == 4326
    assert list(out.geom_type) == ["Point", "LineString", "Polygon"]
    first = shapely.get_coordinates(out.geometry.to_numpy())
    assert metres(first[0, 0], first[0, 1], row.lon_wgs84, row.lat_wgs84) < 1.0
    # Every vertex moved by the same ~560 m (the shift is smooth at this scale).
    src = shapely.get_coordinates(_mixed_gdf(row.lon_gcj02, row.lat_gcj02).geometry.to_numpy())
    assert np.all(metres(src[:, 0], src[:, 1], first[:, 0], first[:, 1]) > 450)


def test_to_wgs84_bd09_and_aliases(seats):
    row = seats.iloc[1]
    b_lon, b_lat = crs.wgs84_to_bd09(row.lon_wgs84, row.lat_wgs84)
    for name in ("bd09", "BD-09", "baidu"):
        out = crs.to_wgs84(_mixed_gdf(float(b_lon), float(b_lat)), name)
        x, y = out.geometry.iloc[0].x, out.geometry.iloc[0].y
        assert metres(x, y, row.lon_wgs84, row.lat_wgs84) < 0.5


def test_to_wgs84_epsg_codes(seats):
    row = seats.iloc[2]
    wgs = gpd.GeoDataFrame(geometry=[shapely.Point(row.lon_wgs84, row.lat_wgs84)], crs=4326)
    utm = wgs.to_crs(32649).set_crs(None, allow_override=True)
    for declared in ("EPSG:32649", 32649):
        out = crs.to_wgs84(utm, declared)
        assert metres(out.geometry.x[0], out.geometry.y[0], row.lon_wgs84, row.lat_wgs84) < 1e-3
    cgcs = crs.to_wgs84(wgs.set_crs(None, allow_override=True), 4490)
    assert metres(cgcs.geometry.x[0], cgcs.geometry.y[0], row.lon_wgs84, row.lat_wgs84) < 1.0
    same = crs.to_wgs84(wgs, "wgs84")
    assert same.geometry.iloc[0].equals(wgs.geometry.iloc[0])


def test_declared_crs_must_agree_with_file_metadata():
    gdf = gpd.GeoDataFrame(geometry=[shapely.Point(640000, 4190000)], crs=32649)
    with pytest.raises(InputError, match=r"stations\.gpkg: crs: .*disagrees"):
        crs.to_wgs84(gdf, "wgs84", source="stations.gpkg")
    with pytest.raises(InputError, match="disagrees"):
        crs.to_wgs84(gdf, "gcj02", source="stations.gpkg")
    # A GCJ-02 export labelled WGS84 is normal and accepted.
    lonlat = gpd.GeoDataFrame(geometry=[shapely.Point(112.56, 37.86)], crs=4326)
    assert crs.to_wgs84(lonlat, "gcj02").geometry.x[0] < 112.56


@pytest.mark.parametrize("bad", ["", "mercator-ish", "bd09mc", None])
def test_unknown_or_missing_declaration(bad):
    with pytest.raises(InputError, match=r"a\.csv: crs: "):
        crs.normalize_crs(bad, source="a.csv")
