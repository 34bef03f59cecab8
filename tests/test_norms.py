"""Norm arithmetic on the embedded Taiyuan data, checked by hand."""

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from healthopt import norms
from healthopt.data import load_taiyuan

TAIYUAN = ["140105", "140106", "140107", "140108", "140109", "140110",
           "140121", "140122", "140123", "140181"]
PER = {"urban": 30000, "county": 10000}


@pytest.fixture(scope="module")
def data():
    return load_taiyuan()


@pytest.fixture(scope="module")
def taiyuan(data):
    return data.study_area(TAIYUAN)


def test_fleet_norm_per_district(taiyuan):
    table = norms.ambulance_norms(taiyuan, PER, 0.4).set_index("code")
    # 1,357,242 / 30,000 = 45.24 -> 46 (小店区); 344,472 / 10,000 = 34.4 -> 35 (清徐县)
    assert table.loc["140105", "min_vehicles"] == 46
    assert table.loc["140121", "min_vehicles"] == 35
    assert table.loc["140123", "min_vehicles"] == 10  # 91,208 -> 9.12 -> 10
    assert table["min_vehicles"].sum() == 233


def test_fleet_gap_against_2022_baseline(taiyuan):
    table = norms.ambulance_norms(taiyuan, PER, 0.4)
    gap = norms.ambulance_gap(table, 150, 52, 0.4)
    assert gap["norm_vehicles"] == 233
    assert gap["norm_negative_pressure"] == 94  # ceil(0.4 * 233) = ceil(93.2)
    assert gap["gap_vehicles"] == 83
    assert gap["gap_negative_pressure"] == 42


def test_per_district_negative_pressure(taiyuan):
    table = norms.ambulance_norms(taiyuan, PER, 0.4, per_district_negative_pressure=True)
    row = table.set_index("code").loc["140105"]
    assert row["min_negative_pressure"] == 19  # ceil(0.4 * 46) = ceil(18.4)
    assert (table["min_negative_pressure"] >= 0.4 * table["min_vehicles"]).all()


@given(st.integers(1, 500), st.floats(0.0, 1.0))
def test_negative_pressure_minimum_is_smallest_sufficient(vehicles, share):
    k = norms.fleet_negative_pressure_minimum(vehicles, share)
    assert k >= vehicles * share - 1e-9
    assert k == 0 or (k - 1) < vehicles * share - 1e-9


def test_health_centre_counts(data, taiyuan):
    table = norms.health_centre_norms(taiyuan, data.divisions).set_index("code")
    assert table.loc["140109", "n_streets"] == 14
    assert table.loc["140122", "required_thc"] == 10  # 5 towns + 5 townships
    assert table.loc["140122", "required_chc"] == 0
    assert table["required_thc"].sum() == 47
    assert (table["required_chc"] >= table["n_streets"]).all()
    lenient = norms.health_centre_norms(taiyuan, data.divisions, extra_threshold=10**9)
    assert (lenient["required_chc"] == lenient["n_streets"]).all()


def test_street_population_conserves_district_totals(data, taiyuan):
    streets = norms.street_population(taiyuan, data.divisions)
    sums = streets.groupby("county_code")["residents_estimate"].sum()
    pop = taiyuan.set_index("code")["population"]
    for code in TAIYUAN:
        assert abs(sums[code] - pop[code]) <= len(streets[streets.county_code == code])


def test_bed_targets(data, taiyuan):
    table = norms.bed_targets(taiyuan, data.beds_district).set_index("code")
    # 小店区: 7.80 per 1,000 x 1,357,242 = 10,586.5 -> 10,587
    assert table.loc["140105", "beds_2025_target"] == math.ceil(7.80 * 1357242 / 1000)
    assert table.loc["140106", "strategy"] == "shed"


def test_population_growth():
    import pandas as pd
    pop = pd.Series([100_000, 1_000])
    grown = norms.grow_population(pop, 2020, 2025, 0.01)
    assert grown.tolist() == [round(100_000 * 1.01**5), round(1000 * 1.01**5)]
