"""Demand points: dasymetric population grid, user layers, network snap flags."""

from __future__ import annotations

import time
from pathlib import Path

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from healthopt._demand_cells import largest_remainder
from healthopt.data.layers import read_demand_layer
from healthopt.demand import (
    DEMAND_COLUMNS,
    demand_from_layer,
    population_grid,
    snap_flags,
)
from healthopt.errors import InputError
from healthopt.settings import CRS_METRIC, DRIVABLE_HIGHWAYS, GEODATA_DIR

FIX = Path(__file__).parent / "fixtures" / "layers"
URBAN = {"140105", "140106", "140107", "140108", "140109", "140110"}
XIAODIAN = "140105"


@pytest.fixture(scope="module")
def districts() -> gpd.GeoDataFrame:
    """The 21 units built from the raw files, with the loader's column names."""
    b = gpd.read_file(GEODATA_DIR / "boundaries" / "taiyuan_jinzhong_counties_wgs84.geojson")
    pop = pd.read_csv(
        GEODATA_DIR / "population" / "census2020_resident_population.csv", dtype={"adcode": str}
    )
    pop = pop[pop["level"] == "county"].rename(
        columns={"adcode": "code", "name": "name_zh", "resident_population_2020": "population"}
    )
    out = b.assign(code=b["adcode"].astype(str))[["code", "geometry"]].merge(
        pop[["code", "name_zh", "population"]], on="code"
    )
    out["norm_class"] = np.where(out["code"].isin(URBAN), "urban", "county")
    out["population_quality"] = "secondary"
    assert len(out) == 21
    return out


@pytest.fixture(scope="module")
def seats() -> gpd.GeoDataFrame:
    s = pd.read_csv(GEODATA_DIR / "places" / "county_seats.csv", dtype={"adcode": str})
    return gpd.GeoDataFrame(
        {"code": s["adcode"], "name_zh": s["name"]},
        geometry=gpd.points_from_xy(s["lon_wgs84"], s["lat_wgs84"]),
        crs=4326,
    )


@pytest.fixture(scope="module")
def roads() -> gpd.GeoDataFrame:
    r = gpd.read_file(GEODATA_DIR / "roads" / "taiyuan_core_osm_lines.geojson")
    return r[r["highway"].isin(DRIVABLE_HIGHWAYS)].reset_index(drop=True)


@pytest.fixture(scope="module")
def grid_and_time(districts, seats, roads):
    t0 = time.perf_counter()
    grid = population_grid(districts, roads=roads, seats=seats)
    return grid, time.perf_counter() - t0


@pytest.fixture(scope="module")
def grid(grid_and_time) -> gpd.GeoDataFrame:
    return grid_and_time[0]


@pytest.fixture(scope="module")
def node_xy(roads) -> np.ndarray:
    """Road vertices in EPSG:32649, standing in for graph nodes."""
    return shapely.get_coordinates(roads.to_crs(CRS_METRIC).geometry.to_numpy())


# --- population_grid ----------------------------------------------------------------------


def test_columns_and_types(grid):
    assert list(grid.columns) == DEMAND_COLUMNS
    assert grid.crs.to_epsg() == 4326
    assert grid["population"].dtype == np.int64
    assert (grid["population_quality"] == "estimate").all()
    assert set(grid["weight_method"]) == {"road_length", "seat_decay"}
    assert grid["demand_id"].is_unique
    assert (grid.geom_type == "Point").all()


def test_population_conserved_exactly_per_district(grid, districts):
    got = grid.groupby("district_code")["population"].sum()
    want = districts.set_index("code")["population"]
    assert len(got) == 21
    pd.testing.assert_series_equal(got.sort_index(), want.sort_index(), check_names=False)
    assert (grid["population"] >= 0).all()


def test_every_point_inside_its_district(grid, districts):
    poly = districts.set_index("code").geometry
    inside = shapely.covers(poly.loc[grid["district_code"]].to_numpy(), grid.geometry.to_numpy())
    assert inside.all()


def test_cell_sizes_and_point_in_its_cell(grid):
    urban = grid["district_code"].isin(URBAN)
    assert (grid.loc[urban, "cell_m"] == 500).all()
    assert (grid.loc[~urban, "cell_m"] == 1000).all()
    parts = grid["demand_id"].str.split("-", expand=True).astype(np.int64)
    xy = shapely.get_coordinates(grid.to_crs(CRS_METRIC).geometry.to_numpy())
    size = grid["cell_m"].to_numpy()
    assert np.array_equal(np.floor(xy[:, 1] / size), parts[1].to_numpy())
    assert np.array_equal(np.floor(xy[:, 0] / size), parts[2].to_numpy())


def test_road_cells_in_xiaodian_are_denser(grid):
    xd = grid[grid["district_code"] == XIAODIAN]
    mean = xd.groupby("weight_method")["population"].mean()
    assert mean["road_length"] > 2 * mean["seat_decay"]


def test_counties_have_no_road_cells(grid):
    county = grid[~grid["district_code"].isin(URBAN)]
    assert (county["weight_method"] == "seat_decay").all()
    core = grid[grid["district_code"].isin({"140106", "140107"})]
    assert (core["weight_method"] == "road_length").mean() > 0.2


def test_deterministic_and_sorted(grid, districts, seats, roads):
    again = population_grid(districts.iloc[::-1], roads=roads.iloc[::-1], seats=seats)
    pd.testing.assert_frame_equal(grid.drop(columns="geometry"), again.drop(columns="geometry"))
    assert grid.geometry.geom_equals_exact(again.geometry, tolerance=1e-9).all()
    assert grid["district_code"].is_monotonic_increasing


def test_runtime_all_21_districts(grid_and_time):
    assert grid_and_time[1] < 10.0


def test_without_roads_or_seats_everything_is_decay(districts):
    sub = districts[districts["code"].isin({XIAODIAN, "140121"})]
    g = population_grid(sub)
    assert (g["weight_method"] == "seat_decay").all()
    assert g.groupby("district_code")["population"].sum().to_dict() == dict(
        zip(sub["code"], sub["population"], strict=True)
    )


def test_bad_district_population(districts):
    bad = districts.head(2).copy()
    bad.loc[bad.index[0], "population"] = -1
    with pytest.raises(InputError, match=r"population: district .* non-negative"):
        population_grid(bad)
    with pytest.raises(InputError, match="norm_class"):
        population_grid(districts.drop(columns="norm_class"))


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.floats(min_value=0, max_value=1e4), min_size=1, max_size=40),
    st.integers(min_value=0, max_value=10**6),
)
def test_largest_remainder_property(weights, total):
    w = np.array(weights)
    quota = total * w / w.sum() if w.sum() > 0 else np.full(len(w), total / len(w))
    out = largest_remainder(quota, np.zeros(len(w), dtype=np.int64), np.array([total]))
    assert out.sum() == total
    assert np.all(np.abs(out - quota) < 1.0 + 1e-9)


# --- snap flags -------------------------------------------------------------------------


def test_snap_flags_counties_off_network(grid, node_xy):
    flagged = snap_flags(grid, node_xy, 500.0)
    county = ~flagged["district_code"].isin(URBAN)
    assert not flagged.loc[county, "on_network"].any()
    assert (flagged.loc[county, "snap_m"] > 500).all()
    core = flagged[flagged["district_code"] == "140106"]
    assert core["on_network"].mean() > 0.3
    assert flagged["on_network"].dtype == bool


def test_snap_flags_from_graph_and_via_population_grid(districts, seats):
    g = nx.MultiDiGraph(crs="EPSG:4326")
    for i, (x, y) in enumerate(zip(seats.geometry.x, seats.geometry.y, strict=True)):
        g.add_node(i, x=x, y=y)
    sub = districts[districts["code"] == "140106"]
    out = population_grid(sub, seats=seats, snap=g, snap_tolerance_m=1000.0)
    assert {"on_network", "snap_m"} <= set(out.columns)
    assert out["on_network"].any() and not out["on_network"].all()
    empty = snap_flags(out, np.empty((0, 2)))
    assert not empty["on_network"].any() and np.isinf(empty["snap_m"]).all()


# --- user demand layers -----------------------------------------------------------------


def test_user_points_conserve_total_and_keep_quality(districts):
    layer = read_demand_layer(FIX / "demand_points_wgs84.csv", "wgs84", id_field="id")
    out = demand_from_layer(layer, districts, id_field="id")
    assert list(out.columns) == DEMAND_COLUMNS
    assert out["population"].sum() == 45000
    assert out["population"].dtype == np.int64
    assert set(out["population_quality"]) == {"survey", "estimate"}
    assert (out["weight_method"] == "user_point").all()
    assert dict(zip(out["demand_id"], out["district_code"], strict=True))["P0"] == XIAODIAN
    no_quality = demand_from_layer(layer.drop(columns="population_quality"), districts)
    assert (no_quality["population_quality"] == "user").all()


def test_user_polygons_area_share_conserves_totals(districts):
    layer = read_demand_layer(FIX / "streets_demand_wgs84.geojson", "wgs84")
    out = demand_from_layer(layer, districts)
    assert out["population"].sum() == layer["population"].sum()
    assert (out["weight_method"] == "user_area_share").all()
    assert set(out["population_quality"]) == {"survey", "official"}
    # A 3 km square spreads over ~36 urban cells (500 m) or ~9-16 county cells (1 km).
    assert out.groupby("district_code").size().max() >= 9
    poly = districts.set_index("code").geometry
    assert shapely.covers(poly.loc[out["district_code"]].to_numpy(), out.geometry.to_numpy()).all()
    # The 清徐 square (the only "official" one) keeps its own total, partly across the
    # border of a neighbouring district.
    qingxu = out[out["population_quality"] == "official"]
    assert qingxu["population"].sum() == 30000
    assert (qingxu.loc[qingxu["district_code"] == "140121", "cell_m"] == 1000).all()


def test_user_polygons_as_points(districts):
    layer = read_demand_layer(FIX / "streets_demand_wgs84.geojson", "wgs84")
    out = demand_from_layer(layer, districts, polygons="point")
    assert len(out) == 4 and out["population"].sum() == 165000
    assert out["cell_m"].isna().all()


def test_user_layer_missing_population_column(districts):
    layer = gpd.read_file(FIX / "bad_missing_population.csv")
    layer = gpd.GeoDataFrame(
        layer, geometry=gpd.points_from_xy(layer["lon"].astype(float), layer["lat"].astype(float))
    )
    with pytest.raises(InputError, match=r"streets\.csv: population: .*missing"):
        demand_from_layer(layer, districts, source="streets.csv")


def test_user_layer_negative_population(districts):
    layer = gpd.GeoDataFrame(
        {"population": [10, -3]},
        geometry=[shapely.Point(112.55, 37.86), shapely.Point(112.56, 37.86)],
        crs=4326,
    )
    with pytest.raises(InputError, match=r"mine\.gpkg: population: feature 2: negative"):
        demand_from_layer(layer, districts, source="mine.gpkg")


def test_user_points_outside_every_district(districts):
    layer = read_demand_layer(FIX / "bad_outside_districts.csv", "wgs84")
    with pytest.raises(InputError) as err:
        demand_from_layer(layer, districts)
    assert err.value.line == 3 and err.value.field == "geometry"
    assert "bad_outside_districts.csv:3: geometry: 1 demand feature(s) outside" in str(err.value)


def test_user_polygon_outside_every_district(districts):
    layer = gpd.GeoDataFrame(
        {"population": [100]}, geometry=[shapely.box(111.2, 37.55, 111.25, 37.6)], crs=4326
    )
    with pytest.raises(InputError, match=r"z\.geojson: geometry: feature 1: 1 demand polygon"):
        demand_from_layer(layer, districts, source="z.geojson")
