"""One source for every planning default: the embedded norms table (issue 10).

Every figure a scenario or a plan takes by default is a row of
``healthopt/geodata/taiyuan/tables/norms.csv`` (or of the district tables beside it). The
tests walk every default of a scenario: each one is either mapped to its table row here,
or listed as a technical setting, a district table or a choice; a new literal default
fails :func:`test_every_scenario_default_is_accounted_for`.
"""

from __future__ import annotations

import csv
import dataclasses
import inspect
from pathlib import Path
from typing import Any

import pytest
import yaml

from healthopt import norms, settings
from healthopt.data import load_taiyuan
from healthopt.plans.ambulances import AmbulancePlan
from healthopt.plans.beds import BedPlan
from healthopt.plans.primary_care import site_health_centres
from healthopt.scenario import Scenario
from healthopt.scenario import defaults as table

ROOT = Path(__file__).resolve().parent.parent
BASELINE = ROOT / "scenarios" / "taiyuan_2025_baseline.yaml"
NORMS_CSV = settings.GEODATA_DIR / "tables" / "norms.csv"

#: Scenario field (dotted; list items as .0/.1) -> key of its row in norms.csv.
SCENARIO_NORMS = {
    "response_minutes.urban": "ambulance.response_minutes.urban",
    "response_minutes.county": "ambulance.response_minutes.county",
    "plans.ambulances.per_residents.urban": "ambulance.residents_per_vehicle.urban",
    "plans.ambulances.per_residents.county": "ambulance.residents_per_vehicle.county",
    "plans.ambulances.negative_pressure_share": "ambulance.negative_pressure_share_min",
    "plans.ambulances.baseline.vehicles": "ambulance.baseline_2022.vehicles",
    "plans.ambulances.baseline.negative_pressure": "ambulance.baseline_2022.negative_pressure",
    "plans.ambulances.baseline.stations": "ambulance.baseline_2022.stations",
    "plans.ambulances.backup.r1_minutes": "ambulance.dsm.r1_minutes",
    "plans.ambulances.backup.alpha": "ambulance.dsm.alpha",
    "plans.ambulances.max_new_stations": "ambulance.max_new_stations",
    "plans.ambulances.max_vehicles_per_station": "ambulance.max_vehicles_per_station",
    "plans.ambulances.staff_per_vehicle.physician": "ambulance.staff.physician_per_vehicle",
    "plans.ambulances.staff_per_vehicle.nurse": "ambulance.staff.nurse_per_vehicle",
    "plans.ambulances.staff_per_vehicle.driver": "ambulance.staff.driver_per_vehicle",
    "plans.ambulances.shifts": "ambulance.staff.shifts_per_day",
    "plans.ambulances.calls.per_1000_urban": "ambulance.calls_per_1000.urban",
    "plans.ambulances.calls.per_1000_county": "ambulance.calls_per_1000.county",
    "plans.ambulances.calls.service_minutes": "ambulance.service_minutes.mean",
    "plans.ambulances.calls.service_cv": "ambulance.service_minutes.cv",
    "plans.ambulances.calls.dispatch_delay_minutes": "ambulance.dispatch_delay_minutes.mean",
    "plans.ambulances.calls.dispatch_delay_p95_minutes": "ambulance.dispatch_delay_minutes.p95",
    "plans.primary_care.chc_per_street": "primary_care.chc_per_street",
    "plans.primary_care.extra_chc_threshold": "primary_care.chc_extra_threshold",
    "plans.primary_care.extra_chc_per_residents": "primary_care.chc_extra_per_residents_max",
    "plans.primary_care.township_per_township": "primary_care.thc_per_township",
    "plans.primary_care.max_travel_minutes": "primary_care.max_travel_minutes",
    "plans.primary_care.subcentres_per_county.min": "primary_care.subcentres_per_county_min",
    "plans.primary_care.subcentres_per_county.max": "primary_care.subcentres_per_county_max",
    "plans.primary_care.chs_station_residents.min": "primary_care.chs_station_residents_min",
    "plans.primary_care.chs_station_residents.max": "primary_care.chs_station_residents_max",
    "plans.beds.citywide_per_1000": "beds.citywide_per_1000_2025",
    "plans.beds.icu_share.secondary.0": "beds.icu_share.secondary_min",
    "plans.beds.icu_share.secondary.1": "beds.icu_share.secondary_max",
    "plans.beds.icu_share.tertiary.0": "beds.icu_share.tertiary_min",
    "plans.beds.icu_share.tertiary.1": "beds.icu_share.tertiary_max",
    "plans.beds.efficiency.min_occupancy": "beds.efficiency.occupancy_min",
    "plans.beds.efficiency.max_avg_stay_days": "beds.efficiency.avg_stay_max_days",
    **{f"plans.beds.infectious_min.{code}": f"beds.infectious_min.{code}"
       for code in ("140122", "140123", "140181", "140121")},
    "plans.beds.psychiatric_per_1000": "beds.psychiatric_per_1000_2025",
    "plans.beds.tcm_public_per_1000": "beds.tcm_public_per_1000_2025",
    "plans.beds.paediatric_per_1000_children": "beds.paediatric_per_1000_children_2025",
    "plans.beds.children_share": "population.children_0_14_share_2020",
    "plans.workforce.physicians_per_1000": "staff.physicians_per_1000_2025",
    "plans.workforce.nurses_per_1000": "staff.nurses_per_1000_2025",
    "plans.workforce.nurses_per_physician": "staff.doctor_nurse_ratio_2025",
    "plans.workforce.pharmacists_per_1000": "staff.pharmacists_per_1000_2025",
    "plans.workforce.public_health_per_1000": "staff.public_health_per_1000_2025",
    "plans.workforce.gp_per_10000": "staff.gp_per_10000_2025",
}

#: Defaults that are not planning norms, by where they come from.
TECHNICAL = ("network.", "demand.", "sites.spacing_m")  # healthopt.settings
DISTRICT_TABLES = ("area.", "plans.beds.targets.", "plans.beds.strategy.", "plans.green_channel.senders.",
                   "plans.green_channel.receivers.")
CHOICES = {
    # What to plan and how to run, not figures of a plan.
    "name", "description", "year", "population.base_year", "population.growth_per_year",
    "sites.include_seats", "plans.ambulances.model", "plans.ambulances.negative_pressure_per_district",
    "plans.ambulances.allow_closing", "plans.ambulances.max_vehicles", "plans.ambulances.county_centre_required",
    "plans.ambulances.mode", "plans.ambulances.relocate",  # what to do with the existing network (issue 13)
    "plans.green_channel.reserved_icu_beds",
    "plans.primary_care.zone_streets_district", "plans.beds.icu_share.specialist_hospitals",
    # The call simulation's distribution choices and its technical settings (replications, seed).
    "plans.ambulances.calls.service_distribution", "plans.ambulances.calls.hourly_profile",
    "plans.ambulances.simulation.enabled", "plans.ambulances.simulation.replications",
    "plans.ambulances.simulation.seed",
    # Phasing is a choice of the planner (null: one plan year); its budgets are the scenario's own.
    "plans.ambulances.phasing",
    # availability from workload (the calls' norms rows are read by healthopt.queueing.calls),
    # fixed-point rounds and equity options of the ambulance model
    "plans.ambulances.busy_fraction", "plans.ambulances.hypercube_rounds",
    "plans.ambulances.equity.min_share_reached", "plans.ambulances.equity.maximise_worst_district",
    *(f"plans.{plan}.enabled" for plan in ("ambulances", "primary_care", "beds", "green_channel", "workforce")),
}
CHOICE_PREFIXES = ("data.", "solver.", "outputs.", "plans.ambulances.costs.")


def _leaves(node: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(node, dict):
        items = node.items()
    elif isinstance(node, list):
        items = enumerate(node)
    else:
        return {prefix: node}
    out: dict[str, Any] = {}
    for key, value in items:
        out.update(_leaves(value, f"{prefix}.{key}" if prefix else str(key)))
    return out


def _csv_values() -> dict[str, float]:
    with NORMS_CSV.open(encoding="utf-8", newline="") as handle:
        return {row["key"]: float(row["value"]) for row in csv.DictReader(handle)}


DEFAULTS = _leaves(Scenario.from_dict({"name": "defaults"}).resolved_dict())


def test_the_mapped_fields_exist() -> None:
    assert set(SCENARIO_NORMS) <= set(DEFAULTS)


@pytest.mark.parametrize("field", sorted(SCENARIO_NORMS))
def test_scenario_default_equals_the_table(field: str) -> None:
    key = SCENARIO_NORMS[field]
    assert DEFAULTS[field] == _csv_values()[key]
    assert DEFAULTS[field] == table.norm_float(key)


def test_every_scenario_default_is_accounted_for() -> None:
    unaccounted = [
        field for field in DEFAULTS
        if field not in SCENARIO_NORMS and field not in CHOICES
        and not field.startswith(TECHNICAL + DISTRICT_TABLES + CHOICE_PREFIXES)
    ]
    assert unaccounted == []


def test_county_centre_requirement_follows_the_table() -> None:
    assert DEFAULTS["plans.ambulances.county_centre_required"] is (_csv_values()["ambulance.county_centres_min"] >= 1)


def test_district_defaults_are_the_district_tables() -> None:
    data = load_taiyuan()
    beds = data.beds_district.set_index("code")
    assert {k.rsplit(".", 1)[1]: v for k, v in DEFAULTS.items() if k.startswith("plans.beds.targets.")} == \
        beds["beds_per_1000_2025"].to_dict()
    assert {k.rsplit(".", 1)[1]: v for k, v in DEFAULTS.items() if k.startswith("plans.beds.strategy.")} == \
        beds["strategy"].to_dict()


def test_shipped_baseline_writes_the_table_values() -> None:
    raw = yaml.safe_load(BASELINE.read_text(encoding="utf-8"))
    written = _leaves(raw)
    values = _csv_values()
    for field, key in SCENARIO_NORMS.items():
        assert written[field] == values[key], (field, written[field], values[key])


def test_every_norm_row_has_a_source_and_quality() -> None:
    with NORMS_CSV.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len({r["key"] for r in rows}) == len(rows)
    for row in rows:
        assert row["seed"] and row["section"] and row["unit"], row["key"]
        assert row["quality"] in {"official", "secondary", "estimate"}, row["key"]
    assert set(SCENARIO_NORMS.values()) <= {r["key"] for r in rows}


def test_plan_defaults_come_from_the_table() -> None:
    values = _csv_values()
    amb = {f.name: f for f in dataclasses.fields(AmbulancePlan)}
    expect = {
        "negative_pressure_share": values["ambulance.negative_pressure_share_min"],
        "busy_fraction": values["ambulance.mexclp.busy_fraction"],
        "service_minutes": values["ambulance.service_minutes.mean"],
        "r1_minutes": values["ambulance.dsm.r1_minutes"],
        "alpha": values["ambulance.dsm.alpha"],
        "shifts": values["ambulance.staff.shifts_per_day"],
        "staff_per_vehicle": {role: values[f"ambulance.staff.{role}_per_vehicle"]
                              for role in ("physician", "nurse", "driver")},
    }
    for name, value in expect.items():
        assert amb[name].default_factory() == value, name
    beds = {f.name: f for f in dataclasses.fields(BedPlan)}
    assert beds["citywide_per_1000"].default_factory() == values["beds.citywide_per_1000_2025"]
    assert beds["icu_share"].default_factory() == {
        level: (values[f"beds.icu_share.{level}_min"], values[f"beds.icu_share.{level}_max"])
        for level in ("secondary", "tertiary")
    }
    subcentres = inspect.signature(site_health_centres).parameters["subcentres"].default
    assert subcentres == (values["primary_care.subcentres_per_county_min"],
                          values["primary_care.subcentres_per_county_max"])


def test_health_centre_norms_default_to_the_table() -> None:
    data = load_taiyuan()
    area = data.study_area(None)
    values = _csv_values()
    explicit = norms.health_centre_norms(
        area, data.divisions,
        chc_per_street=int(values["primary_care.chc_per_street"]),
        extra_threshold=values["primary_care.chc_extra_threshold"],
        extra_per_residents=values["primary_care.chc_extra_per_residents_max"],
        thc_per_township=int(values["primary_care.thc_per_township"]),
    )
    assert norms.health_centre_norms(area, data.divisions).equals(explicit)


def test_the_tables_are_not_read_when_the_package_is_imported() -> None:
    import subprocess
    import sys

    code = ("import healthopt.scenario, healthopt.scenario.schema;"
            "from healthopt.scenario import defaults as d;"
            "print(d.norm_rows.cache_info().currsize)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip() == "0"


def test_a_missing_or_bad_norm_names_the_table_and_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from healthopt.errors import InputError

    with pytest.raises(InputError) as info:
        table.norm_row("no.such.norm")
    assert info.value.source == str(NORMS_CSV) and info.value.field == "no.such.norm"
    assert "missing from the norms table" in info.value.message
    with pytest.raises(InputError, match=r"must be a whole number, got 0\.4"):
        table.norm_int("ambulance.negative_pressure_share_min")
    # A dataset folder whose table has a broken row: exit 2 naming the row, not a traceback.
    (tmp_path / "tables").mkdir()
    text = NORMS_CSV.read_text(encoding="utf-8").replace(",30000,", ",thirty thousand,", 1)
    (tmp_path / "tables" / "norms.csv").write_text(text, encoding="utf-8")
    monkeypatch.setattr(settings, "GEODATA_DIR", tmp_path)
    table.norm_rows.cache_clear()
    try:
        with pytest.raises(InputError) as info:
            table.norm_rows()
        assert info.value.line == 2 and info.value.field == "ambulance.residents_per_vehicle.urban"
        assert info.value.source == str(tmp_path / "tables" / "norms.csv")
    finally:
        table.norm_rows.cache_clear()
