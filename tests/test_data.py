"""Loader of the embedded dataset: contents, totals and validation errors."""

import shutil
from pathlib import Path

import pytest

from healthopt import settings
from healthopt.data import load_taiyuan
from healthopt.errors import InputError

TAIYUAN = ["140105", "140106", "140107", "140108", "140109", "140110",
           "140121", "140122", "140123", "140181"]


@pytest.fixture(scope="module")
def data():
    return load_taiyuan()


@pytest.fixture()
def copy_root(tmp_path: Path) -> Path:
    root = tmp_path / "taiyuan"
    shutil.copytree(settings.GEODATA_DIR, root, ignore=shutil.ignore_patterns("roads"))
    (root / "roads").mkdir()
    (root / "roads" / "taiyuan_core_osm_lines.geojson").write_text("{}")
    return root


def test_districts_complete_and_typed(data):
    d = data.districts
    assert len(d) == 21
    assert d.crs.to_epsg() == 4326
    assert d["code"].is_unique
    assert set(TAIYUAN) <= set(d["code"])
    assert d.geometry.is_valid.all()
    assert d["population"].dtype.kind == "i"


def test_taiyuan_and_jinzhong_sum_to_official_totals(data):
    by_city = data.districts.groupby("city_code")["population"].sum()
    assert by_city["140100"] == 5_304_061
    assert by_city["140700"] == 3_379_498
    urban = data.districts.query("city_code == '140100' and norm_class == 'urban'")
    assert urban["population"].sum() == 4_529_141  # 452.91万, Taiyuan census bulletin


def test_norm_classes_follow_plan(data):
    d = data.districts.set_index("code")
    assert (d.loc[TAIYUAN[:6], "norm_class"] == "urban").all()
    assert (d.loc[TAIYUAN[6:], "norm_class"] == "county").all()
    assert d.loc["140181", "kind"] == "county-level city"


def test_division_counts_match_source(data):
    d = data.districts.set_index("code")
    assert d.loc["140105", "n_streets"] == 7
    assert d.loc["140109", "n_streets"] == 14
    assert d.loc["140122", ["n_towns", "n_townships"]].tolist() == [5, 5]
    taiyuan = d.loc[TAIYUAN]
    assert taiyuan["n_streets"].sum() == 54  # 60 streets minus 6 in the 140171 zone


def test_seats_one_per_district(data):
    assert sorted(data.seats["code"]) == sorted(data.districts["code"])
    assert data.seats.crs.to_epsg() == 4326
    inside = [data.districts.set_index("code").loc[c].geometry.contains(g)
              for c, g in zip(data.seats["code"], data.seats.geometry, strict=True)]
    assert sum(inside) >= 20


def test_norm_table_values(data):
    assert data.norm("ambulance.residents_per_vehicle.urban") == 30000
    assert data.norm("ambulance.residents_per_vehicle.county") == 10000
    assert data.norm("ambulance.negative_pressure_share_min") == 0.40
    assert data.norm("ambulance.baseline_2022.vehicles") == 150
    assert data.norm("beds.citywide_per_1000_2025") == 9.56
    assert data.norms["seed"].notna().all()
    with pytest.raises(KeyError):
        data.norm("no.such.norm")


def test_study_area_unknown_code(data):
    with pytest.raises(InputError, match=r"area\.districts: unknown district code"):
        data.study_area(["140105", "999999"])


def test_missing_file_is_named(copy_root):
    (copy_root / "population" / "census2020_resident_population.csv").unlink()
    with pytest.raises(InputError, match=r"census2020_resident_population\.csv: embedded data file is missing"):
        load_taiyuan(copy_root)


def test_wrong_crs_is_reported(copy_root):
    path = copy_root / "boundaries" / "taiyuan_jinzhong_counties_wgs84.geojson"
    utm = '"crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::32649"}}, "features"'
    text = path.read_text().replace('"features"', utm, 1)
    path.write_text(text)
    with pytest.raises(InputError, match="crs: expected EPSG:4326"):
        load_taiyuan(copy_root)


def test_bad_code_is_reported(copy_root):
    path = copy_root / "population" / "census2020_resident_population.csv"
    path.write_text(path.read_text().replace("140105,小店区", "14O105,小店区"))
    with pytest.raises(InputError, match="adcode: not a 6-digit adcode: '14O105'"):
        load_taiyuan(copy_root)


def test_totals_mismatch_is_reported(copy_root):
    path = copy_root / "population" / "census2020_resident_population.csv"
    path.write_text(path.read_text().replace("1357242", "1357243"))
    with pytest.raises(InputError, match="sum to 5,304,062, official census total is 5,304,061"):
        load_taiyuan(copy_root)


def test_negative_population_is_reported(copy_root):
    path = copy_root / "population" / "census2020_resident_population.csv"
    path.write_text(path.read_text().replace("594238", "-594238"))
    with pytest.raises(InputError, match="resident_population_2020: missing or non-positive in row 4"):
        load_taiyuan(copy_root)
