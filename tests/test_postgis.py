"""PostGIS output of batch jobs: real round trips through a throwaway PostgreSQL + PostGIS server.

The server comes from the ``postgis_url`` fixture (tests/conftest.py, tests/pg.py); without
Debian's postgresql + PostGIS packages these tests skip with a message naming them.
"""

from __future__ import annotations

from datetime import UTC, datetime

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from pyproj import Geod
from shapely.geometry import LineString, MultiPolygon, Point, box

from healthopt import __version__
from healthopt.errors import InputError
from healthopt.outputs import postgis

psycopg = pytest.importorskip("psycopg")

BOX_A = box(112.0, 37.0, 112.1, 37.1)
BOX_B = box(112.2, 37.0, 112.3, 37.2)
CREATED = datetime(2025, 3, 1, 8, 30, tzinfo=UTC)


def _districts(residents: tuple[int, int]) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"code": ["140105", "140106"], "residents": list(residents), "coverage_share": [0.5, np.nan],
         "covered": [True, False], "note": ["东部", None]},
        geometry=[BOX_A, MultiPolygon([BOX_B])], crs=4326,
    )  # fmt: skip


def _stations(points: list[tuple[float, float]], names: list[str | None]) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"site_id": [f"S{i}" for i in range(len(points))], "vehicles": np.arange(1, len(points) + 1, dtype="int16"),
         "minutes": [7.5 + i for i in range(len(points))], "new": [i % 2 == 0 for i in range(len(points))],
         "name": names, "estimated": [True, None, *[False] * (len(points) - 2)]},
        geometry=[Point(x, y) for x, y in points], crs=4326,
    )  # fmt: skip


def _batch(peak_residents: int = 900) -> tuple[pd.DataFrame, dict[str, dict[str, gpd.GeoDataFrame]]]:
    base_stations = _stations([(112.05, 37.05), (112.02, 37.08), (112.25, 37.1)], ["甲站", None, "C"])
    peak_stations = _stations([(112.05, 37.05), (112.28, 37.15)], ["甲站", "D"]).to_crs(32649)  # reprojected back
    green = gpd.GeoDataFrame({"route": ["r1"]}, geometry=[LineString([(112.05, 37.05), (112.25, 37.1)])], crs=4326)
    coverage = gpd.GeoDataFrame({"site_id": ["S0"], "minutes": [12.0]}, geometry=[BOX_A.buffer(-0.01)], crs=4326)
    layers = {
        "base": {"districts": _districts((1000, 2000)), "stations": base_stations, "coverage_areas": coverage,
                 "green_channel": green.iloc[:0], "beds": None},
        "peak": {"districts": _districts((peak_residents, 2100)), "stations": peak_stations, "green_channel": green},
    }  # fmt: skip
    summary = pd.DataFrame({"scenario": ["base", "peak"], "stations": [3, 2], "coverage": [0.91, 0.87],
                            "feasible": [True, False], "message": [None, "budget exceeded"]})  # fmt: skip
    return summary, layers


def _write(url: str, schema: str, **kw) -> dict[str, int]:
    summary, layers = _batch(**kw)
    return postgis.write_batch(url, schema, summary, layers, batch_name="Taiyuan test", created=CREATED)


def _query(url: str, sql: str, params: tuple | None = None) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(sql, params).fetchall()


def _dump(url: str, schema: str) -> dict[str, list[tuple]]:
    tables = [r[0] for r in _query(url, "SELECT tablename FROM pg_tables WHERE schemaname = %s ORDER BY 1", (schema,))]
    return {t: _query(url, f'SELECT * FROM "{schema}"."{t}" ORDER BY fid') for t in tables}


# --- round trip -------------------------------------------------------------------------------


def test_write_batch_round_trip(postgis_url):
    counts = _write(postgis_url, "rt")
    assert counts == {"batch_summary": 2, "districts": 4, "stations": 5, "green_channel": 1, "coverage_areas": 1,
                      "runs": 1}  # fmt: skip
    per_scenario = _query(postgis_url, "SELECT scenario, count(*) FROM rt.stations GROUP BY 1 ORDER BY 1")
    assert per_scenario == [("base", 3), ("peak", 2)]
    assert _query(postgis_url, "SELECT scenario, count(*) FROM rt.green_channel GROUP BY 1") == [("peak", 1)]
    assert _query(postgis_url, "SELECT to_regclass('rt.beds')") == [(None,)]  # empty/None layers are skipped


def test_column_types_and_values(postgis_url):
    _write(postgis_url, "types")
    rows = _query(
        postgis_url,
        "SELECT table_name, column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = 'types' AND table_name IN ('districts', 'stations', 'batch_summary')",
    )
    types = {(t, c): d for t, c, d in rows}
    assert types[("districts", "fid")] == "bigint"
    assert types[("districts", "scenario")] == "text"
    assert types[("districts", "residents")] == "bigint"
    assert types[("districts", "coverage_share")] == "double precision"
    assert types[("districts", "covered")] == "boolean"
    assert types[("districts", "geom")] == "USER-DEFINED"
    assert types[("stations", "vehicles")] == "smallint"
    assert types[("stations", "estimated")] == "boolean"  # bools with a None: nullable boolean, not text
    assert types[("batch_summary", "feasible")] == "boolean"
    assert types[("batch_summary", "message")] == "text"
    stations = _query(postgis_url, "SELECT fid, scenario, site_id, vehicles, minutes, new, name, estimated "
                      "FROM types.stations ORDER BY fid")  # fmt: skip
    assert stations[:3] == [
        (1, "base", "S0", 1, 7.5, True, "甲站", True),
        (2, "base", "S1", 2, 8.5, False, None, None),
        (3, "base", "S2", 3, 9.5, True, "C", False),
    ]
    notes = _query(postgis_url, "SELECT note, coverage_share FROM types.districts WHERE scenario = 'base' ORDER BY fid")
    assert notes == [("东部", 0.5), (None, None)]
    summary = _query(postgis_url, "SELECT scenario, stations, coverage, feasible, message FROM types.batch_summary")
    assert summary == [("base", 3, 0.91, True, None), ("peak", 2, 0.87, False, "budget exceeded")]


def test_geometry_srid_type_validity_and_indexes(postgis_url):
    _write(postgis_url, "geo")
    cols = _query(postgis_url, "SELECT f_table_name, srid, type FROM geometry_columns WHERE f_table_schema = 'geo' "
                  "ORDER BY 1")  # fmt: skip
    assert cols == [("coverage_areas", 4326, "POLYGON"), ("districts", 4326, "MULTIPOLYGON"),
                    ("green_channel", 4326, "LINESTRING"), ("stations", 4326, "POINT")]  # fmt: skip
    for table in ("districts", "stations", "coverage_areas", "green_channel"):
        srids, valid = _query(postgis_url, f"SELECT array_agg(DISTINCT ST_SRID(geom)), bool_and(ST_IsValid(geom)) "
                              f"FROM geo.{table}")[0]  # fmt: skip
        assert (srids, valid) == ([4326], True), table
    gist = _query(postgis_url, "SELECT tablename FROM pg_indexes WHERE schemaname = 'geo' AND indexdef ILIKE "
                  "'%USING gist (geom)%' ORDER BY 1")  # fmt: skip
    assert [r[0] for r in gist] == ["coverage_areas", "districts", "green_channel", "stations"]
    pks = _query(postgis_url, "SELECT tc.table_name, kcu.column_name FROM information_schema.table_constraints tc "
                 "JOIN information_schema.key_column_usage kcu USING (constraint_schema, constraint_name) "
                 "WHERE tc.table_schema = 'geo' AND tc.constraint_type = 'PRIMARY KEY' ORDER BY 1")  # fmt: skip
    assert pks == [(t, "fid") for t in ("batch_summary", "coverage_areas", "districts", "green_channel", "runs",
                                        "stations")]  # fmt: skip
    peak = _query(postgis_url, "SELECT ST_X(geom), ST_Y(geom) FROM geo.stations WHERE scenario = 'peak' ORDER BY fid")
    assert np.allclose(peak, [(112.05, 37.05), (112.28, 37.15)], atol=1e-9)  # UTM input came back in EPSG:4326


def test_spatial_queries_answer_as_by_hand(postgis_url):
    _write(postgis_url, "spatial")
    area = _query(postgis_url, "SELECT ST_Area(geom::geography) FROM spatial.districts "
                  "WHERE scenario = 'base' AND code = '140105'")[0][0]  # fmt: skip
    expected = abs(Geod(ellps="WGS84").geometry_area_perimeter(BOX_A)[0])
    assert area == pytest.approx(expected, rel=1e-6)
    assert area == pytest.approx(98.6e6, rel=0.01)  # 0.1° x 0.1° at 37°N, about 98.6 km²
    within = _query(postgis_url, "SELECT s.scenario, d.code, count(*) FROM spatial.stations s "
                    "JOIN spatial.districts d ON d.scenario = s.scenario AND ST_Within(s.geom, d.geom) "
                    "GROUP BY 1, 2 ORDER BY 1, 2")  # fmt: skip
    assert within == [("base", "140105", 2), ("base", "140106", 1), ("peak", "140105", 1), ("peak", "140106", 1)]
    inside = _query(postgis_url, "SELECT bool_and(ST_Within(c.geom, d.geom)) FROM spatial.coverage_areas c "
                    "JOIN spatial.districts d ON d.scenario = c.scenario AND d.code = '140105'")  # fmt: skip
    assert inside == [(True,)]


def test_runs_metadata(postgis_url):
    _write(postgis_url, "meta")
    rows = _query(postgis_url, "SELECT batch_name, created, healthopt_version, scenarios, tables FROM meta.runs")
    tables = ["batch_summary", "districts", "stations", "green_channel", "coverage_areas", "runs"]
    assert rows == [("Taiyuan test", CREATED, __version__, ["base", "peak"], tables)]


# --- replacing --------------------------------------------------------------------------------


def test_rewrite_replaces_tables(postgis_url):
    _write(postgis_url, "again")
    summary, layers = _batch(peak_residents=777)
    del layers["base"]["coverage_areas"]
    postgis.write_batch(postgis_url, "again", summary, layers, created=CREATED)
    assert _query(postgis_url, "SELECT scenario, count(*) FROM again.stations GROUP BY 1 ORDER BY 1") == [
        ("base", 3), ("peak", 2)]  # fmt: skip
    assert _query(postgis_url, "SELECT residents FROM again.districts WHERE scenario = 'peak' ORDER BY fid") == [
        (777,), (2100,)]  # fmt: skip
    assert _query(postgis_url, "SELECT to_regclass('again.coverage_areas')") == [(None,)]  # gone from the batch
    assert _query(postgis_url, "SELECT count(*), min(batch_name) FROM again.runs") == [(1, "again")]


def test_failed_write_keeps_previous_contents(postgis_url):
    _write(postgis_url, "keep")
    before = _dump(postgis_url, "keep")
    summary, layers = _batch(peak_residents=1)
    layers["peak"]["green_channel"] = layers["peak"]["green_channel"].assign(route=["bad\x00text"])
    with pytest.raises(InputError) as err:  # fails in the database, after earlier tables were replaced
        postgis.write_batch(postgis_url, "keep", summary, layers, created=CREATED)
    assert err.value.field == "database"
    assert "previous contents kept" in err.value.message
    assert _dump(postgis_url, "keep") == before


def test_unsupported_column_is_refused_before_writing(postgis_url):
    _write(postgis_url, "refuse")
    before = _dump(postgis_url, "refuse")
    summary, layers = _batch()
    layers["peak"]["stations"] = layers["peak"]["stations"].assign(z=np.array([1 + 2j, 3j]))
    with pytest.raises(InputError, match="complex128 cannot be written") as err:
        postgis.write_batch(postgis_url, "refuse", summary, layers)
    assert (err.value.source, err.value.field) == ("refuse.stations", "z")
    assert _dump(postgis_url, "refuse") == before


@pytest.mark.parametrize(("column", "message"), [("scenario", "reserved"), ("geom", "reserved"), ("x" * 64, "63")])
def test_bad_column_names(postgis_url, column, message):
    summary, layers = _batch()
    layers["base"]["stations"] = layers["base"]["stations"].assign(**{column: 1})
    with pytest.raises(InputError, match=message):
        postgis.write_batch(postgis_url, "badcols", summary, layers)


@pytest.mark.parametrize("schema", ["Taiyuan", "pg_temp", "a-b", "1abc", 'x"; DROP TABLE y; --', "a" * 64])
def test_unsafe_schema_refused(postgis_url, schema):
    summary, layers = _batch()
    with pytest.raises(InputError, match="not a safe PostgreSQL name"):
        postgis.write_batch(postgis_url, schema, summary, layers)


# --- connection problems ------------------------------------------------------------------------


def test_check_database_ok(postgis_url):
    assert postgis.check_database(postgis_url).startswith("3.")


def test_check_database_enables_postgis(postgis_server):
    with psycopg.connect(postgis_server.url, autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS plain_db")
        conn.execute("CREATE DATABASE plain_db")
    url = postgis_server.url_for("plain_db")
    assert _query(url, "SELECT count(*) FROM pg_extension WHERE extname = 'postgis'") == [(0,)]
    postgis.check_database(url)
    assert _query(url, "SELECT count(*) FROM pg_extension WHERE extname = 'postgis'") == [(1,)]


def test_user_who_may_not_enable_postgis(postgis_server):
    with psycopg.connect(postgis_server.url, autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS no_gis_db")
        conn.execute("DROP ROLE IF EXISTS analyst")
        conn.execute("CREATE ROLE analyst LOGIN PASSWORD 'an4lyst-Secret'")
        conn.execute("CREATE DATABASE no_gis_db")
    url = postgis_server.url_for("no_gis_db", user="analyst", password="an4lyst-Secret")
    with pytest.raises(InputError, match="may not enable it") as err:
        postgis.check_database(url)
    assert "an4lyst-Secret" not in str(err.value)
    assert err.value.source == f"postgresql://analyst@127.0.0.1:{postgis_server.port}/no_gis_db"


def test_wrong_port_names_url_without_password(postgis_server):
    from pg import free_port

    url = postgis_server.url_for("healthopt_test", password="s3cret-Pw")
    url = url.replace(f":{postgis_server.port}/", f":{free_port()}/")
    with pytest.raises(InputError, match="cannot connect") as err:
        postgis.check_database(url, timeout=3)
    assert (err.value.field, "s3cret-Pw" in str(err.value)) == ("database", False)
    assert err.value.source.startswith("postgresql://postgres@127.0.0.1:")


def test_wrong_password(postgis_server):
    url = postgis_server.url_for("healthopt_test", password="Wr0ng-Pw")
    with pytest.raises(InputError, match="password authentication failed") as err:
        summary, layers = _batch()
        postgis.write_batch(url, "never", summary, layers)
    assert "Wr0ng-Pw" not in str(err.value) and postgis_server.password not in str(err.value)
    assert _query(postgis_server.url, "SELECT to_regnamespace('never')") == [(None,)]


@pytest.mark.parametrize(
    ("url", "message"),
    [("mysql://u:topsecret@localhost/db", "must start with postgresql://"),
     ("localhost:5432", "must start with postgresql://"),
     ("postgresql://u:top/secret@localhost/db", "cannot be read"),
     ("postgresql://u:topsecret@localhost:notaport/db", "cannot be read")],
)  # fmt: skip
def test_bad_urls(url, message):
    with pytest.raises(InputError, match=message) as err:
        postgis.check_database(url)
    assert "secret" not in str(err.value)


# --- names (no server) --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [("Taiyuan 2025 / peak-traffic", "taiyuan_2025_peak_traffic"), ("2025 plans", "b_2025_plans"),
     ("pg_things", "hb_pg_things"), ("  Mixed__Case  ", "mixed_case"), ("x" * 80, "x" * 63)],
)  # fmt: skip
def test_schema_name(name, expected):
    assert postgis.schema_name(name) == expected


def test_schema_name_of_chinese_batch_is_stable_and_distinct():
    a, b = postgis.schema_name("太原高峰"), postgis.schema_name("太原基线")
    assert a.startswith("batch_") and a != b and a == postgis.schema_name("太原高峰")


@pytest.mark.parametrize(
    ("url", "expected"),
    [("postgresql://gis:pa%40ss@db.example:5433/health?sslmode=require&password=x",
      "postgresql://gis@db.example:5433/health?sslmode=require"),
     ("postgresql+psycopg://gis:pw@localhost/h", "postgresql://gis@localhost/h"),
     ("postgres://localhost/h", "postgres://localhost/h")],
)  # fmt: skip
def test_redact_url(url, expected):
    assert postgis.redact_url(url) == expected
