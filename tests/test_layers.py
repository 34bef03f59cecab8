"""User layers: formats, declared CRS, validation errors naming file, field and line."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from pyproj import Geod

from healthopt.data.layers import read_demand_layer, read_facilities, read_layer
from healthopt.errors import InputError
from healthopt.settings import GEODATA_DIR

FIX = Path(__file__).parent / "fixtures" / "layers"
GEOD = Geod(ellps="WGS84")


@pytest.fixture(scope="module")
def seats() -> pd.DataFrame:
    return pd.read_csv(GEODATA_DIR / "places" / "county_seats.csv", dtype={"adcode": str})


def _hospitals() -> gpd.GeoDataFrame:
    return gpd.read_file(FIX / "hospitals_wgs84.geojson")


def _write_csv(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# --- formats and coordinate systems ---------------------------------------------------


def test_csv_gcj02_facilities_are_converted(seats):
    st = read_facilities(FIX / "stations_gcj02.csv", "gcj02")
    assert st.crs.to_epsg() == 4326
    assert list(st["id"]) == ["S1", "S2", "S3", "S4", "S5"]
    assert {"name", "vehicles"} <= set(st.columns)
    assert "Lng" not in st.columns and "Lat" not in st.columns
    ref = seats.set_index("adcode").loc[["140105", "140106", "140107", "140108", "140109"]]
    d = GEOD.inv(st.geometry.x, st.geometry.y, ref.lon_wgs84, ref.lat_wgs84)[2]
    assert np.max(d) < 1.0
    assert st.attrs["source"].endswith("stations_gcj02.csv")


def test_same_csv_declared_wgs84_stays_put():
    st = read_facilities(FIX / "stations_gcj02.csv", "wgs84")
    raw = pd.read_csv(FIX / "stations_gcj02.csv")
    assert np.allclose(st.geometry.x, raw.Lng) and np.allclose(st.geometry.y, raw.Lat)


@pytest.mark.parametrize("lon,lat", [("lon", "lat"), ("LNG", "Latitude"), ("x", "Y")])
def test_csv_coordinate_column_names(tmp_path, lon, lat):
    path = _write_csv(tmp_path, "s.csv", f"id,{lon},{lat}\nA,112.55,37.86\n")
    gdf = _read_points(path, "wgs84")
    assert gdf.geometry.iloc[0].equals(shapely.Point(112.55, 37.86))


def test_geojson_with_crs84_member():
    gdf = read_facilities(FIX / "hospitals_wgs84.geojson", "wgs84")
    assert list(gdf["beds"]) == [500, 800, 300]
    with pytest.raises(InputError, match=r"hospitals_wgs84\.geojson: crs: .*disagrees"):
        read_facilities(FIX / "hospitals_wgs84.geojson", "EPSG:32649")


def test_geopackage_projected(tmp_path):
    path = tmp_path / "hospitals.gpkg"
    _hospitals().to_crs(32649).to_file(path, layer="hosp", driver="GPKG")
    gdf = read_facilities(path, "EPSG:32649", layer="hosp")
    assert np.allclose(gdf.geometry.x, _hospitals().geometry.x, atol=1e-7)
    with pytest.raises(InputError, match=r"hospitals\.gpkg: crs:"):
        read_facilities(path, "wgs84", layer="hosp")
    with pytest.raises(InputError, match=r"hospitals\.gpkg: crs:"):
        read_facilities(path, "gcj02", layer="hosp")


def test_shapefile_without_prj_uses_declaration(tmp_path):
    path = tmp_path / "hospitals.shp"
    _hospitals().to_crs(32649).to_file(path)
    path.with_suffix(".prj").unlink()
    gdf = read_facilities(path, 32649)
    assert np.allclose(gdf.geometry.y, _hospitals().geometry.y, atol=1e-7)


def test_crs_must_be_declared():
    with pytest.raises(InputError, match=r"stations_gcj02\.csv: crs: "):
        read_layer(FIX / "stations_gcj02.csv", crs=None, kind="facilities")


# --- validation errors ----------------------------------------------------------------


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match=r"nope\.gpkg: path: file not found"):
        read_layer(tmp_path / "nope.gpkg", crs="wgs84", kind="sites")


def test_unreadable_and_empty_files(tmp_path):
    bad = tmp_path / "broken.geojson"
    bad.write_text("{ this is not json", encoding="utf-8")
    with pytest.raises(InputError, match=r"broken\.geojson: format: cannot read"):
        read_layer(bad, crs="wgs84", kind="sites")
    with pytest.raises(InputError, match=r"empty\.csv: format: file is empty"):
        read_layer(_write_csv(tmp_path, "empty.csv", ""), crs="wgs84", kind="sites")
    with pytest.raises(InputError, match=r"header\.csv: features: layer has no features"):
        read_layer(_write_csv(tmp_path, "header.csv", "id,lon,lat\n"), crs="wgs84", kind="sites")


def test_missing_population_column():
    with pytest.raises(InputError, match=r"bad_missing_population\.csv: population: required"):
        read_demand_layer(FIX / "bad_missing_population.csv", "wgs84")


def test_negative_population_names_line():
    with pytest.raises(InputError) as err:
        read_demand_layer(FIX / "bad_negative_population.csv", "wgs84")
    e = err.value
    assert (e.field, e.line) == ("population", 3)
    assert str(e).startswith(str(FIX / "bad_negative_population.csv") + ":3: population:")


def test_non_numeric_count_and_coordinate(tmp_path):
    text = "id,name,vehicles,lon,lat\nA,a,2,112.5,37.8\nB,b,two,112.6,37.8\n"
    path = _write_csv(tmp_path, "f.csv", text)
    with pytest.raises(InputError, match=r"f\.csv:3: vehicles: not a number: 'two'"):
        read_facilities(path, "wgs84")
    path = _write_csv(tmp_path, "g.csv", "id,name,lon,lat\nA,a,112.5,37.8\nB,b,,37.8\n")
    with pytest.raises(InputError, match=r"g\.csv:3: lon: not a number"):
        read_facilities(path, "wgs84")
    path = _write_csv(tmp_path, "h.csv", "id,name,lat\nA,a,37.8\n")
    with pytest.raises(InputError, match=r"h\.csv: longitude: no longitude column"):
        read_facilities(path, "wgs84")


def test_duplicate_ids(tmp_path):
    text = "id,name,lon,lat\nA,a,112.5,37.8\nB,b,112.6,37.8\nA,c,112.7,37.8\n"
    path = _write_csv(tmp_path, "d.csv", text)
    with pytest.raises(InputError, match=r"d\.csv:4: id: duplicate id 'A'"):
        read_facilities(path, "wgs84")


def test_swapped_lon_lat_hint():
    with pytest.raises(InputError, match=r"bad_swapped_lonlat\.csv:2: geometry: .*swapped"):
        read_demand_layer(FIX / "bad_swapped_lonlat.csv", "wgs84")


def test_projected_coordinates_declared_as_degrees(tmp_path):
    path = _write_csv(tmp_path, "m.csv", "id,x,y\nA,640000,4190000\n")
    with pytest.raises(InputError, match=r"m\.csv:2: geometry: .*projected"):
        _read_points(path, "wgs84")
    assert _read_points(path, "EPSG:32649").geometry.x[0] == pytest.approx(112.6, abs=0.1)


def test_outside_study_area(tmp_path):
    path = _write_csv(tmp_path, "bj.csv", "id,lon,lat\nA,116.40,39.91\n")
    with pytest.raises(InputError, match=r"bj\.csv:2: geometry: .*outside the Taiyuan"):
        _read_points(path, "wgs84")


def test_geometry_type_by_kind(tmp_path):
    path = tmp_path / "zones.geojson"
    zones = gpd.GeoDataFrame(
        {"id": ["z"], "name": ["z"], "population": [10]},
        geometry=[shapely.box(112.5, 37.8, 112.51, 37.81)],
        crs=4326,
    )
    zones.to_file(path, driver="GeoJSON")
    with pytest.raises(InputError, match=r"zones\.geojson: geometry: feature 1: facilities must"):
        read_facilities(path, "wgs84")
    assert read_demand_layer(path, "wgs84").geom_type.iloc[0] == "Polygon"
    lines = tmp_path / "lines.geojson"
    zones.set_geometry([shapely.LineString([(112.5, 37.8), (112.6, 37.9)])]).to_file(lines)
    with pytest.raises(InputError, match=r"lines\.geojson: geometry: .*LineString"):
        read_demand_layer(lines, "wgs84")


def test_invalid_polygon_is_repaired_and_empty_is_refused(tmp_path):
    bowtie = shapely.Polygon([(112.5, 37.8), (112.52, 37.82), (112.52, 37.8), (112.5, 37.82)])
    assert not bowtie.is_valid
    path = tmp_path / "bow.geojson"
    gpd.GeoDataFrame({"population": [10]}, geometry=[bowtie], crs=4326).to_file(path)
    gdf = read_demand_layer(path, "wgs84")
    assert gdf.is_valid.all() and shapely.area(gdf.geometry.iloc[0]) > 0
    empty = tmp_path / "empty_geom.geojson"
    gpd.GeoDataFrame({"population": [10]}, geometry=[shapely.Polygon()], crs=4326).to_file(empty)
    with pytest.raises(InputError, match=r"empty_geom\.geojson: geometry: feature 1: empty"):
        read_demand_layer(empty, "wgs84")


def test_single_part_multipoints_become_points(tmp_path):
    path = tmp_path / "mp.gpkg"
    gpd.GeoDataFrame(
        {"id": ["a"]}, geometry=[shapely.MultiPoint([(112.55, 37.86)])], crs=4326
    ).to_file(path)
    assert _read_points(path, "wgs84").geom_type.iloc[0] == "Point"


def test_demand_layer_reads_points_with_float_population():
    gdf = read_demand_layer(FIX / "demand_points_wgs84.csv", "wgs84", id_field="id")
    assert gdf["population"].dtype.kind == "f"
    assert gdf["population"].sum() == pytest.approx(45000)
    assert gdf.attrs["format"] == "csv"


def test_facility_capacity_field(tmp_path):
    st = read_facilities(FIX / "stations_gcj02.csv", "gcj02", capacity_field="vehicles")
    assert list(st["capacity"]) == [3, 2, 4, 2, 3]
    with pytest.raises(InputError, match=r"stations_gcj02\.csv: beds: required column missing"):
        read_facilities(FIX / "stations_gcj02.csv", "gcj02", capacity_field="beds")
    text = "id,name,fleet,lon,lat\nA,a,-1,112.5,37.8\n"
    with pytest.raises(InputError, match=r"c\.csv:2: fleet: negative count"):
        read_facilities(_write_csv(tmp_path, "c.csv", text), "wgs84", capacity_field="fleet")


def _read_points(path, crs):
    """Read a point layer with an ``id`` column, as the facility readers do."""
    return read_layer(path, crs=crs, kind="sites", required=["id"], id_field="id")
