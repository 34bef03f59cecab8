"""Scenario schema, YAML loading with line numbers, defaults and overrides."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from healthopt import settings as tech
from healthopt.errors import InputError
from healthopt.scenario import (
    BED_STRATEGY,
    BED_TARGETS_PER_1000,
    GREEN_CHANNEL_RECEIVERS,
    GREEN_CHANNEL_SENDERS,
    INFECTIOUS_BEDS_MIN,
    JINZHONG_DISTRICTS,
    TAIYUAN_DISTRICTS,
    Scenario,
    ScenarioError,
    load_scenario,
    validate_file,
)

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = sorted((ROOT / "scenarios").glob("*.yaml"))
SHIPPED_NAMES = [
    "taiyuan_2025_baseline",
    "taiyuan_2025_peak_traffic",
    "taiyuan_infectious_surge",
    "taiyuan_jinzhong_green_channel",
]
BAD = sorted((Path(__file__).parent / "scenarios_bad").glob("*.yaml"))
OK = sorted((Path(__file__).parent / "scenarios_ok").glob("*.yaml"))


def shipped(name: str) -> Scenario:
    return load_scenario(ROOT / "scenarios" / f"{name}.yaml")


def render(problem: InputError) -> str:
    body = f"{problem.field}: {problem.message}" if problem.field else problem.message
    return f"{problem.line}: {body}"


def expectations(path: Path) -> list[str]:
    lines = path.read_text(encoding="utf-8").splitlines()
    found = [ln.removeprefix("# expect: ") for ln in lines if ln.startswith("# expect: ")]
    assert found, f"{path.name} has no '# expect:' line"
    return found


# --------------------------------------------------------------------------------------
# Shipped scenarios
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", SHIPPED_NAMES)
def test_shipped_scenario_loads(name: str) -> None:
    scenario = shipped(name)
    assert scenario.name == name
    assert scenario.description
    assert scenario.source == ROOT / "scenarios" / f"{name}.yaml"


def test_no_unexpected_shipped_files() -> None:
    assert {p.stem for p in SHIPPED} >= set(SHIPPED_NAMES)


def test_baseline_file_spells_out_exactly_the_defaults() -> None:
    base = shipped("taiyuan_2025_baseline")
    defaults = Scenario.from_dict({"name": base.name, "description": base.description})
    assert base.resolved_dict() == defaults.resolved_dict()


def test_norm_defaults_equal_norms_md() -> None:
    s = Scenario.from_dict({"name": "defaults"})
    amb = s.plans.ambulances
    assert (amb.per_residents.urban, amb.per_residents.county) == (30_000, 10_000)
    assert amb.negative_pressure_share == 0.40
    assert (amb.baseline.vehicles, amb.baseline.negative_pressure) == (150, 52)
    assert amb.baseline.stations == 18
    staff = amb.staff_per_vehicle
    assert (staff.physician, staff.nurse, staff.driver) == (1, 1, 1)
    assert amb.county_centre_required is True
    pc = s.plans.primary_care
    assert (pc.chc_per_street, pc.township_per_township) == (1, 1)
    assert (pc.extra_chc_threshold, pc.extra_chc_per_residents) == (100_000, 100_000)
    assert (pc.subcentres_per_county.min, pc.subcentres_per_county.max) == (1, 2)
    assert (pc.chs_station_residents.min, pc.chs_station_residents.max) == (5000, 15000)
    beds = s.plans.beds
    assert beds.citywide_per_1000 == 9.56
    assert beds.targets == {
        "140105": 7.80, "140109": 9.17, "140121": 7.64, "140181": 7.51, "140123": 7.52,
        "140106": 17.01, "140107": 11.77, "140110": 7.51, "140108": 8.93, "140122": 9.76,
    }
    assert BED_TARGETS_PER_1000["plan_2022"]["140106"] == 17.55
    assert beds.icu_share.secondary == (0.02, 0.05)
    assert beds.icu_share.tertiary == (0.05, 0.08)
    assert beds.infectious_min == {"140122": 20, "140123": 20, "140181": 20, "140121": 50}
    assert beds.strategy["140105"] == "strengthen"
    assert beds.strategy["140106"] == beds.strategy["140107"] == "shed"
    assert {c for c, v in beds.strategy.items() if v == "priority"} == {
        "140110", "140108", "140122",
    }
    assert (beds.efficiency.min_occupancy, beds.efficiency.max_avg_stay_days) == (0.75, 9.0)
    assert (s.response_minutes.urban, s.response_minutes.county) == (12.0, 20.0)
    gc = s.plans.green_channel
    assert gc.enabled is False
    assert gc.senders == ["晋中市第一人民医院", "晋中市传染病医院"]
    assert gc.receivers == [
        "北京大学第一医院太原医院(太原市中心医院)", "太原市第三人民医院",
        "太原市第四人民医院", "太原钢铁(集团)有限公司总医院",
    ]
    assert s.area.districts == list(TAIYUAN_DISTRICTS)
    assert s.area.urban == ["140105", "140106", "140107", "140108", "140109", "140110"]
    assert s.is_urban(140105) and not s.is_urban("140121")


def test_technical_defaults_come_from_settings() -> None:
    net = Scenario.from_dict({"name": "defaults"}).network
    assert net.congestion == tech.DEFAULT_CONGESTION_FACTOR
    assert net.ambulance_speed_factor == tech.DEFAULT_AMBULANCE_SPEED_FACTOR
    assert net.circuity == tech.DEFAULT_CIRCUITY
    assert net.fallback_speed_kph == tech.DEFAULT_FALLBACK_SPEED_KPH
    assert net.snap_tolerance_m == tech.DEFAULT_SNAP_TOLERANCE_M
    assert net.speeds_kph.model_dump() == tech.DEFAULT_SPEEDS_KPH


def test_peak_traffic_only_slows_the_network() -> None:
    peak = shipped("taiyuan_2025_peak_traffic")
    assert peak.network.congestion == 1.5
    base = shipped("taiyuan_2025_baseline")
    assert peak.response_minutes == base.response_minutes
    assert peak.plans.ambulances.per_residents == base.plans.ambulances.per_residents


def test_infectious_surge_raises_norms() -> None:
    surge = shipped("taiyuan_infectious_surge").plans
    assert surge.ambulances.negative_pressure_share >= 0.6
    assert surge.ambulances.negative_pressure_per_district
    for code, minimum in INFECTIOUS_BEDS_MIN.items():
        assert surge.beds.infectious_min[code] > minimum


def test_green_channel_scenario() -> None:
    s = shipped("taiyuan_jinzhong_green_channel")
    assert set(s.area.districts) == set(TAIYUAN_DISTRICTS) | set(JINZHONG_DISTRICTS)
    gc = s.plans.green_channel
    assert gc.enabled
    assert tuple(gc.senders) == GREEN_CHANNEL_SENDERS
    assert tuple(gc.receivers) == GREEN_CHANNEL_RECEIVERS
    assert s.is_urban("140702")


# --------------------------------------------------------------------------------------
# Broken scenarios: message AND line
# --------------------------------------------------------------------------------------


def test_bad_corpus_is_large_enough() -> None:
    assert len(BAD) >= 25


@pytest.mark.parametrize("path", BAD, ids=[p.stem for p in BAD])
def test_bad_scenario_reports_expected_problem(path: Path) -> None:
    problems = validate_file(path)
    rendered = [render(p) for p in problems]
    for expected in expectations(path):
        assert any(r.startswith(expected) for r in rendered), (expected, rendered)
    assert all(p.source == str(path) for p in problems)
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert [render(p) for p in info.value.problems] == rendered
    assert isinstance(info.value, InputError)


def test_multi_error_file_reports_every_problem() -> None:
    path = Path(__file__).parent / "scenarios_bad" / "multi_error.yaml"
    problems = validate_file(path)
    assert len(problems) == len(expectations(path)) >= 8
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    text = str(info.value)
    assert len(text.splitlines()) == len(problems)
    assert all(line.startswith(f"{path}:") for line in text.splitlines())
    assert [p.line for p in problems] == sorted(p.line or 0 for p in problems)


def test_missing_file() -> None:
    problems = validate_file("does/not/exist.yaml")
    assert len(problems) == 1 and "not found" in problems[0].message


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "gbk.yaml"
    path.write_bytes("name: gbk\ndescription: 晋中市\n".encode("gbk"))
    [problem] = validate_file(path)
    assert "UTF-8" in problem.message and problem.line == 2


def test_problem_renders_on_one_line() -> None:
    path = Path(__file__).parent / "scenarios_bad" / "share_above_one.yaml"
    [problem] = validate_file(path)
    assert problem.one_line() == (
        f"{path}:5: plans.ambulances.negative_pressure_share: must be at most 1, got 40 "
        "(shares are fractions: write 0.4 for 40%)"
    )


# --------------------------------------------------------------------------------------
# Valid variants, types and normalisation
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", OK, ids=[p.stem for p in OK])
def test_ok_scenarios_load(path: Path) -> None:
    assert validate_file(path) == []
    load_scenario(path)


def test_user_layers_resolve_relative_to_the_file() -> None:
    s = load_scenario(Path(__file__).parent / "scenarios_ok" / "user_data.yaml")
    data_dir = (Path(__file__).parent / "scenarios_ok" / "data").resolve()
    assert s.data.dataset is None
    assert s.data.boundaries is not None and s.data.boundaries.path.parent == data_dir
    assert s.data.boundaries.crs == "wgs84"
    assert s.data.demand is not None and s.data.demand.crs == "gcj02"
    assert s.data.hospitals is not None and s.data.hospitals.crs == "EPSG:4326"
    assert s.data.osm is not None and s.data.osm.path.name == "roads.osm"


def test_anchors_merges_and_per_district_mappings() -> None:
    s = load_scenario(Path(__file__).parent / "scenarios_ok" / "anchors_and_merge.yaml")
    amb = s.plans.ambulances
    assert (amb.backup.r1_minutes, amb.backup.alpha) == (6.0, 0.8)
    assert amb.costs.budget == 0 and amb.max_new_stations == 0
    beds = s.plans.beds
    assert beds.targets["140105"] == 8.5 and beds.targets["140106"] == 17.01
    assert beds.strategy["140105"] == "priority" and beds.strategy["140106"] == "shed"
    assert beds.infectious_min == {**INFECTIOUS_BEDS_MIN, "140105": 30}
    assert s.plans.primary_care.subcentres_per_county.max == 3


def test_codes_normalised_to_text() -> None:
    s = Scenario.from_dict({"name": "codes", "area": {"districts": [140105, "140702"]}})
    assert s.area.districts == ["140105", "140702"]


def test_named_sets_expand() -> None:
    s = Scenario.from_dict(
        {"name": "n", "plans": {"beds": {"targets": "plan_2022", "strategy": "default"}}}
    )
    assert s.plans.beds.targets == BED_TARGETS_PER_1000["plan_2022"]
    assert s.plans.beds.strategy == BED_STRATEGY


def test_ints_accepted_where_floats_expected() -> None:
    s = Scenario.from_dict({"name": "ints", "network": {"congestion": 2}})
    assert s.network.congestion == 2.0


@pytest.mark.parametrize(
    ("section", "value", "words"),
    [
        ({"solver": {"threads": True}}, "solver.threads", "expected a whole number, got true"),
        ({"solver": {"threads": "2"}}, "solver.threads", "remove the quotes"),
        ({"sites": {"include_seats": 1}}, "sites.include_seats", "expected true or false"),
        ({"description": 5}, "description", "expected text"),
    ],
)
def test_no_silent_coercion(section: dict[str, Any], value: str, words: str) -> None:
    with pytest.raises(ScenarioError) as info:
        Scenario.from_dict({"name": "strict", **section})
    [problem] = info.value.problems
    assert problem.field == value and words in problem.message
    assert problem.line is None


def test_dataset_null_accepts_other_codes(tmp_path: Path) -> None:
    (tmp_path / "b.geojson").write_text("{}")
    (tmp_path / "d.geojson").write_text("{}")
    s = Scenario.from_dict(
        {
            "name": "elsewhere",
            "area": {"districts": [110101]},
            "data": {
                "dataset": None,
                "boundaries": {"path": "b.geojson", "crs": "EPSG:4490"},
                "demand": {"path": "d.geojson", "crs": "bd09"},
            },
        },
        base_dir=tmp_path,
    )
    assert s.area.districts == ["110101"]


# --------------------------------------------------------------------------------------
# Reproducibility and sweeps
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", SHIPPED_NAMES)
def test_dump_resolved_round_trips(name: str, tmp_path: Path) -> None:
    s = shipped(name)
    out = s.dump_resolved(tmp_path / "run" / "scenario.resolved.yaml")
    again = load_scenario(out)
    assert again.resolved_dict() == s.resolved_dict()



def test_with_overrides() -> None:
    base = shipped("taiyuan_2025_baseline")
    swept = base.with_overrides(
        {
            "network.congestion": 1.4,
            "plans.ambulances.max_new_stations": 10,
            "plans.beds.infectious_min.140121": 80,
        }
    )
    assert swept.network.congestion == 1.4
    assert swept.plans.ambulances.max_new_stations == 10
    assert swept.plans.beds.infectious_min["140121"] == 80
    assert base.network.congestion == 1.0
    assert swept.source == base.source


def test_with_overrides_validates_again() -> None:
    base = shipped("taiyuan_2025_baseline")
    with pytest.raises(ScenarioError) as info:
        base.with_overrides(
            {
                "network.congestoin": 1.4,
                "response_minutes.urban": 0,
                "network.congestion.peak": 2,
            }
        )
    fields = {p.field: p.message for p in info.value.problems}
    assert "did you mean 'congestion'" in fields["network.congestoin"]
    assert "greater than 0" in fields["response_minutes.urban"]
    assert "not a mapping" in fields["network.congestion.peak"]


# --------------------------------------------------------------------------------------
# Property tests: the validator never crashes
# --------------------------------------------------------------------------------------


def _field_names(model: type[BaseModel], out: set[str]) -> set[str]:
    for name, info in model.model_fields.items():
        out.add(name)
        ann = info.annotation
        stack = [ann]
        while stack:
            t = stack.pop()
            if isinstance(t, type) and issubclass(t, BaseModel):
                _field_names(t, out)
            stack.extend(getattr(t, "__args__", ()))
    return out


NAMES = sorted(_field_names(Scenario, set()))
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**12), max_value=10**12),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(["taiyuan", "auto", "wgs84", "plan_2025", "140105", "mclp", "1e3"]),
    st.sampled_from(list(TAIYUAN_DISTRICTS)).map(int),
)
keys = st.one_of(st.sampled_from(NAMES), st.text(max_size=8), st.integers(0, 200000))
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(keys, inner, max_size=4)
    ),
    max_leaves=12,
)


def _check(data: Any) -> None:
    try:
        Scenario.from_dict(data)
    except ScenarioError as exc:
        assert exc.problems
        for problem in exc.problems:
            assert problem.field and problem.message


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.one_of(st.sampled_from(NAMES), st.text(max_size=8)), values))
def test_random_dicts_never_crash(data: dict[Any, Any]) -> None:
    _check(data)


BASE = Scenario.from_dict({"name": "base"}).resolved_dict()


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, value in node.items():
            out.extend(_paths(value, (*prefix, key)))
    return out


PATHS = _paths(BASE)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(PATHS), values), min_size=1, max_size=4))
def test_mutated_scenarios_never_crash(edits: list[tuple[tuple[Any, ...], Any]]) -> None:
    data = copy.deepcopy(BASE)
    for path, value in edits:
        node = data
        for key in path[:-1]:
            if not isinstance(node.get(key), dict):
                break
            node = node[key]
        else:
            node[path[-1]] = value
    _check(data)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_random_text_files_never_crash(tmp_path_factory: pytest.TempPathFactory, text: str) -> None:
    path = tmp_path_factory.mktemp("fuzz") / "s.yaml"
    path.write_text(text, encoding="utf-8")
    problems = validate_file(path)
    assert all(isinstance(p, InputError) and p.message for p in problems)


@settings(max_examples=150, deadline=None)
@given(values)
def test_random_yaml_documents_never_crash(
    tmp_path_factory: pytest.TempPathFactory, data: Any
) -> None:
    path = tmp_path_factory.mktemp("fuzz") / "s.yaml"
    path.write_text(yaml.safe_dump({"name": "fuzz", "plans": data}), encoding="utf-8")
    problems = validate_file(path)
    assert all(p.line is not None for p in problems)


YAML_TOKENS = st.sampled_from([
    "name: x\n", "name: ", "plans:\n", "  ambulances:\n", "    ", "  ", "- ", "&a ", "*a ",
    "<<: *a\n", "? ", ": ", "!!python/object:os.system ", "!!set ", "!!int ", "!!binary ",
    "{", "}", "[", "]", ",", "\t", "\n", "'", '"', "140105", "1.5", "~", "---\n", "#c\n",
    "network: ", "congestion: ", "&b {congestion: 2}\n", ".inf", "|\n", "\x00",
])


@settings(max_examples=300, deadline=None)
@given(st.lists(YAML_TOKENS, max_size=25))
def test_yaml_like_garbage_never_crashes(
    tmp_path_factory: pytest.TempPathFactory, parts: list[str]
) -> None:
    path = tmp_path_factory.mktemp("fuzz") / "s.yaml"
    path.write_text("".join(parts), encoding="utf-8")
    assert all(isinstance(p, InputError) for p in validate_file(path))


def test_deep_nesting(tmp_path: Path) -> None:
    path = tmp_path / "deep.yaml"
    path.write_text("name: deep\nplans: " + "[" * 5000 + "]" * 5000 + "\n")
    assert validate_file(path)
