"""Scenario files: schema, YAML loading with line numbers, planning-norm defaults.

A scenario is one YAML file that says *what* to plan (study area, plans and their
norms) and *how* (network speeds, solver). Every planning norm has its default from
the embedded planning tables ``geodata/taiyuan/tables`` (the seed documents); technical defaults come from
:mod:`healthopt.settings`. Nothing else in the package hard-codes a norm.

Public API
----------
load_scenario(path) -> Scenario
    Read and validate a file; raise :class:`ScenarioError` listing *every* problem,
    each as ``file:line: dotted.field: message``.
validate_file(path) -> list[InputError]
    The same checks without raising (empty list when the file is valid).
Scenario.from_dict(data, source=None, base_dir=None) -> Scenario
    Validate an in-memory mapping (paths resolved against ``base_dir``).
Scenario.resolved_dict() / Scenario.dump_resolved(path)
    The scenario with every default filled in, for reproducibility.
Scenario.with_overrides({"network.congestion": 1.4})
    A validated copy with dotted keys replaced, for parameter sweeps.

Conventions
-----------
- Numbers must be written as numbers: ``"12"`` (text) and ``true`` are rejected where
  a number is expected, and a whole number is required for counts.
- Shares are fractions in [0, 1] (``0.4`` means 40 %).
- Minutes are > 0 and at most 240.
- Limits and budgets: ``null`` means "no limit"; ``0`` means "nothing new allowed"
  (evaluate the existing network only). Negative values are rejected.
- Per-district mappings (bed targets, bed strategy, infectious-bed minimums) are
  merged over the norm table: name only the districts you change.
- District codes may be written as numbers or text; they are stored as text.
"""

from __future__ import annotations

import csv
import difflib
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    Strict,
    ValidationError,
    ValidationInfo,
    create_model,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from healthopt import settings
from healthopt.errors import InputError

__all__ = [
    "BED_STRATEGY",
    "BED_TARGETS_PER_1000",
    "GREEN_CHANNEL_RECEIVERS",
    "GREEN_CHANNEL_SENDERS",
    "INFECTIOUS_BEDS_MIN",
    "JINZHONG_DISTRICTS",
    "KNOWN_DISTRICTS",
    "TAIYUAN_DISTRICTS",
    "TAIYUAN_URBAN_DISTRICTS",
    "Scenario",
    "ScenarioError",
    "load_scenario",
    "validate_file",
]

# --------------------------------------------------------------------------------------
# Districts of the embedded dataset and norm tables (NORMS.md; seeds 000 and 001)
# --------------------------------------------------------------------------------------

def _table(name: str) -> list[dict[str, str]]:
    """Rows of an embedded planning table (``geodata/taiyuan/tables``), the one source of norms."""
    with (settings.GEODATA_DIR / "tables" / name).open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


_DISTRICT_ROWS = _table("districts.csv")
_BED_ROWS = sorted(_table("beds_district.csv"), key=lambda row: row["code"])
_NORM_ROWS = {row["key"]: row["value"] for row in _table("norms.csv")}
_GREEN_ROWS = _table("green_channel.csv")

#: Taiyuan's 10 county-level units (adcode -> name).
TAIYUAN_DISTRICTS: dict[str, str] = {r["code"]: r["name_zh"] for r in _DISTRICT_ROWS if r["city_code"] == "140100"}

#: Jinzhong's 11 county-level units (adcode -> name).
JINZHONG_DISTRICTS: dict[str, str] = {r["code"]: r["name_zh"] for r in _DISTRICT_ROWS if r["city_code"] == "140700"}

#: Every unit of the embedded dataset.
KNOWN_DISTRICTS: dict[str, str] = {**TAIYUAN_DISTRICTS, **JINZHONG_DISTRICTS}

#: City codes, accepted nowhere as districts but recognised for a better message.
_CITY_CODES: dict[str, str] = {"140100": "太原市", "140700": "晋中市"}

#: The six urban districts (城六区) that use the urban ambulance norm (001 §四(三)1).
TAIYUAN_URBAN_DISTRICTS: tuple[str, ...] = tuple(
    r["code"] for r in _DISTRICT_ROWS if r["city_code"] == "140100" and r["norm_class"] == "urban"
)

#: District bed targets per 1,000 residents (001 annex 1).
BED_TARGETS_PER_1000: dict[str, dict[str, float]] = {
    f"plan_{year}": {r["code"]: float(r[f"beds_per_1000_{year}"]) for r in _BED_ROWS} for year in (2025, 2022)
}

#: Bed resource strategy by district (001 annex 1): 充实提升区 strengthen,
#: 调整完善区 shed (adjust), 重点配置区 priority.
BED_STRATEGY: dict[str, str] = {r["code"]: r["strategy"] for r in _BED_ROWS}

#: Minimum infectious-disease beds by district (001 §四(一)2).
INFECTIOUS_BEDS_MIN: dict[str, int] = {
    key.rsplit(".", 1)[1]: int(float(value))
    for key, value in _NORM_ROWS.items()
    if key.startswith("beds.infectious_min.")
}

#: Critical-care referral green channel (000 §(五)).
GREEN_CHANNEL_SENDERS: tuple[str, ...] = tuple(r["name_zh"] for r in _GREEN_ROWS if r["role"] == "sender")
GREEN_CHANNEL_RECEIVERS: tuple[str, ...] = tuple(r["name_zh"] for r in _GREEN_ROWS if r["role"] == "receiver")

_NAMED_CRS = ("wgs84", "gcj02", "bd09")
_OSM_SUFFIXES = (".osm", ".pbf", ".geojson", ".json")
_TARGET_SETS = tuple(BED_TARGETS_PER_1000)

# --------------------------------------------------------------------------------------
# Field types
# --------------------------------------------------------------------------------------


def _fail(message: str, *loc: str | int) -> PydanticCustomError:
    """Build a validation error whose message is used verbatim.

    Parameters
    ----------
    message : str
        What is wrong, in planning terms.
    *loc : str or int
        Sub-field path appended to the location of the validator that raises it.

    Returns
    -------
    PydanticCustomError
        To be raised by the caller.
    """
    return PydanticCustomError("healthopt", "{detail}", {"detail": message, "loc": loc})


def _show(value: Any) -> str:
    """Render a value the way it looks in YAML, shortened for messages."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, float) and not math.isfinite(value):
        return ".nan" if math.isnan(value) else ("-.inf" if value < 0 else ".inf")
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _suggest(word: str, choices: list[str] | tuple[str, ...]) -> str:
    """Return ``"; did you mean 'x'?"`` for the closest choice, or ``""``."""
    lowered = {c.lower(): c for c in choices}
    if word.lower() in lowered:
        return f"; did you mean '{lowered[word.lower()]}'?"
    close = difflib.get_close_matches(word.lower(), list(lowered), n=1, cutoff=0.6)
    return f"; did you mean '{lowered[close[0]]}'?" if close else ""


def _context(info: ValidationInfo) -> dict[str, Any]:
    """Return the validation context (base directory, dataset) or an empty mapping."""
    return info.context if isinstance(info.context, dict) else {}


def _district_code(value: Any, info: ValidationInfo) -> str:
    """Normalise a district code to its 6-digit text and check it exists."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise _fail(f"a district code is a 6-digit number such as 140105, got {_show(value)}")
    code = str(value).strip()
    if not re.fullmatch(r"\d{6}", code):
        raise _fail(f"a district code is a 6-digit number such as 140105, got {_show(value)}")
    if _context(info).get("dataset", "taiyuan") is None or code in KNOWN_DISTRICTS:
        return code
    if code in _CITY_CODES:
        raise _fail(f"{code} is the whole city of {_CITY_CODES[code]}: list its districts instead")
    hint = _suggest(code, list(KNOWN_DISTRICTS))
    raise _fail(
        f"unknown district code {code}: the embedded dataset has Taiyuan 140105–140181 "
        f"and Jinzhong 140702–140781{hint}"
    )


def _crs(value: Any) -> str:
    """Normalise a coordinate system name: wgs84, gcj02, bd09 or ``EPSG:<code>``."""
    usage = "use wgs84, gcj02 (Amap, Tencent), bd09 (Baidu) or an EPSG code such as EPSG:32649"
    if isinstance(value, int) and not isinstance(value, bool) and 1024 <= value <= 999999:
        return f"EPSG:{value}"
    if not isinstance(value, str):
        raise _fail(f"unknown coordinate system {_show(value)}: {usage}")
    key = value.strip().lower().replace("-", "").replace("_", "")
    if key in _NAMED_CRS:
        return key
    match = re.fullmatch(r"epsg:?(\d{4,6})", key)
    if match:
        return f"EPSG:{match.group(1)}"
    raise _fail(f"unknown coordinate system {_show(value)}: {usage}{_suggest(key, _NAMED_CRS)}")


def _data_path(value: Any, info: ValidationInfo) -> Path:
    """Resolve a path relative to the scenario file and check that it exists."""
    if not isinstance(value, str) or not value.strip():
        raise _fail(f"expected a file path (text), got {_show(value)}")
    try:
        path = Path(value).expanduser()
    except RuntimeError:  # "~user" without such a user
        path = Path(value)
    if not path.is_absolute():
        path = Path(_context(info).get("base_dir") or Path.cwd()) / path
    try:
        found = path.resolve().exists()
    except (OSError, ValueError):
        found = False
    if not found:
        raise _fail(f"file not found: {path} (relative paths start at the scenario's folder)")
    return path.resolve()


def _osm_path(value: Any, info: ValidationInfo) -> Path:
    """Resolve an OSM path and check that its type is one the network loader reads."""
    path = _data_path(value, info)
    if path.suffix.lower() not in _OSM_SUFFIXES:
        raise _fail(
            f"unsupported OSM file type '{path.suffix}': use .osm, .osm.pbf or an OSM "
            "lines .geojson"
        )
    return path


Bool = Annotated[bool, Strict()]
Text = Annotated[str, Strict()]
Share = Annotated[float, Strict(), Field(ge=0.0, le=1.0)]
Minutes = Annotated[float, Strict(), Field(gt=0.0, le=240.0)]
Count = Annotated[int, Strict(), Field(ge=0, le=1_000_000)]
Money = Annotated[float, Strict(), Field(ge=0.0)]
Kph = Annotated[float, Strict(), Field(gt=0.0, le=130.0)]
DistrictCode = Annotated[str, BeforeValidator(_district_code)]
Crs = Annotated[str, BeforeValidator(_crs)]
DataPath = Annotated[Path, BeforeValidator(_data_path)]
OsmPath = Annotated[Path, BeforeValidator(_osm_path)]
BedStrategy = Literal["strengthen", "shed", "priority", "neutral"]


def _merge_over(default: Mapping[str, Any]) -> Callable[[Any], Any]:
    """Return a before-validator merging a per-district mapping over a norm table."""

    def merge(value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        given = {
            str(k) if isinstance(k, int) and not isinstance(k, bool) else k: v
            for k, v in value.items()
        }
        return {**default, **given}

    return merge


# --------------------------------------------------------------------------------------
# Models
# --------------------------------------------------------------------------------------


class _Model(BaseModel):
    """Base of every scenario section: unknown keys are errors, values are immutable."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, allow_inf_nan=False, validate_default=False
    )


class Area(_Model):
    """Study area: which county-level units to plan for."""

    districts: list[DistrictCode] = Field(default_factory=lambda: list(TAIYUAN_DISTRICTS))
    urban: list[DistrictCode] = Field(default_factory=lambda: list(TAIYUAN_URBAN_DISTRICTS))

    @field_validator("districts")
    @classmethod
    def _non_empty_unique(cls, codes: list[str]) -> list[str]:
        if not codes:
            raise _fail("the study area is empty: list at least one district code")
        seen: set[str] = set()
        for index, code in enumerate(codes):
            if code in seen:
                raise _fail(f"district {code} is listed twice", index)
            seen.add(code)
        return codes


class Layer(_Model):
    """A user data layer: a file readable by GDAL/pyogrio and its coordinate system."""

    path: DataPath
    crs: Crs
    layer: Text | None = None


class BoundariesLayer(Layer):
    """District polygons with the district code in ``code_field``.

    They replace the embedded polygons of every district of ``area.districts`` (each must
    be present); names and census population stay those of the embedded tables
    (:func:`healthopt.data.overlay.with_boundaries`).
    """

    code_field: Text = "adcode"
    name_field: Text = "name"


class DemandLayer(Layer):
    """Demand points or polygons with residents in ``population_field``."""

    population_field: Text = "pop"


class FacilityLayer(Layer):
    """Existing facilities (points); ``capacity_field`` holds vehicles or beds.

    For ``data.hospitals`` the points are matched to the embedded hospitals by
    ``name_field`` (:func:`healthopt.data.overlay.with_hospitals`).
    """

    id_field: Text = "id"
    name_field: Text = "name"
    capacity_field: Text | None = None


class OsmSource(_Model):
    """A local OpenStreetMap file (always WGS84)."""

    path: OsmPath


class DataSources(_Model):
    """Where the data comes from: the embedded dataset and/or user layers."""

    dataset: Literal["taiyuan"] | None = "taiyuan"
    boundaries: BoundariesLayer | None = None
    demand: DemandLayer | None = None
    osm: OsmSource | None = None
    stations: FacilityLayer | None = None
    health_centres: FacilityLayer | None = None
    hospitals: FacilityLayer | None = None


class Population(_Model):
    """Compound growth applied to the census population up to ``year``."""

    base_year: Annotated[int, Strict(), Field(ge=2000, le=2050)] = 2020
    growth_per_year: Annotated[float, Strict(), Field(ge=-0.1, le=0.1)] = 0.0


RoadSpeeds: type[_Model] = create_model(  # type: ignore[call-overload]
    "RoadSpeeds",
    __base__=_Model,
    __doc__="Free-flow car speeds (km/h) by OSM highway class (settings.DEFAULT_SPEEDS_KPH).",
    **{name: (Kph, kph) for name, kph in settings.DEFAULT_SPEEDS_KPH.items()},
)


class Network(_Model):
    """Road travel-time parameters (technical defaults from :mod:`healthopt.settings`)."""

    congestion: Annotated[float, Strict(), Field(ge=0.5, le=4.0)] = (
        settings.DEFAULT_CONGESTION_FACTOR
    )
    ambulance_speed_factor: Annotated[float, Strict(), Field(ge=1.0, le=2.0)] = (
        settings.DEFAULT_AMBULANCE_SPEED_FACTOR
    )
    speeds_kph: RoadSpeeds = Field(default_factory=RoadSpeeds)  # type: ignore[valid-type]
    circuity: Annotated[float, Strict(), Field(ge=1.0, le=3.0)] = settings.DEFAULT_CIRCUITY
    fallback_speed_kph: Kph = settings.DEFAULT_FALLBACK_SPEED_KPH
    snap_tolerance_m: Annotated[float, Strict(), Field(gt=0.0, le=10_000.0)] = (
        settings.DEFAULT_SNAP_TOLERANCE_M
    )


class DemandGrid(_Model):
    """Demand point grid (metres)."""

    cell_urban_m: Annotated[float, Strict(), Field(ge=100.0, le=10_000.0)] = (
        settings.DEFAULT_CELL_URBAN_M
    )
    cell_county_m: Annotated[float, Strict(), Field(ge=100.0, le=20_000.0)] = (
        settings.DEFAULT_CELL_COUNTY_M
    )


class Sites(_Model):
    """Candidate sites: network nodes at least ``spacing_m`` apart, plus county seats."""

    spacing_m: Annotated[float, Strict(), Field(ge=100.0, le=20_000.0)] = (
        settings.DEFAULT_CANDIDATE_SPACING_M
    )
    include_seats: Bool = True


class ResponseMinutes(_Model):
    """Response-time standards (not in the seeds; NORMS.md suggested defaults)."""

    urban: Minutes = 12.0
    county: Minutes = 20.0


class ResidentsPerAmbulance(_Model):
    """At least one ambulance per this many residents (001 §四(三)1)."""

    urban: Annotated[int, Strict(), Field(ge=1000, le=1_000_000)] = 30_000
    county: Annotated[int, Strict(), Field(ge=1000, le=1_000_000)] = 10_000


class AmbulanceBaseline(_Model):
    """Fleet at the end of 2022 (001 §一(一)1)."""

    vehicles: Count = 150
    negative_pressure: Count = 52
    stations: Count = 18

    @model_validator(mode="after")
    def _np_within_fleet(self) -> AmbulanceBaseline:
        if self.negative_pressure > self.vehicles:
            raise _fail(
                f"{self.negative_pressure} negative-pressure ambulances exceed the fleet of "
                f"{self.vehicles}",
                "negative_pressure",
            )
        return self


class Backup(_Model):
    """Double-standard model: share ``alpha`` of demand covered twice within ``r1``."""

    r1_minutes: Minutes = 8.0
    alpha: Share = 0.75


class Costs(_Model):
    """Optional costs and budget in 万元 (10,000 CNY); ``null`` = not costed / no budget."""

    station: Money | None = None
    vehicle: Money | None = None
    budget: Money | None = None

    @model_validator(mode="after")
    def _budget_needs_costs(self) -> Costs:
        if self.budget is not None and (self.station is None or self.vehicle is None):
            raise _fail(
                "a budget needs the costs it pays for: set costs.station and costs.vehicle "
                "(万元)",
                "budget",
            )
        return self


class Staffing(_Model):
    """Crew per ambulance and shift (001 §四(二)): 1 physician, 1 nurse, 1 driver."""

    physician: Annotated[int, Strict(), Field(ge=0, le=10)] = 1
    nurse: Annotated[int, Strict(), Field(ge=0, le=10)] = 1
    driver: Annotated[int, Strict(), Field(ge=0, le=10)] = 1


class AmbulancePlan(_Model):
    """Ambulance stations and fleet (001 §四(三)1, §四(二), §一(一)1, §三(一)5)."""

    enabled: Bool = True
    per_residents: ResidentsPerAmbulance = Field(default_factory=ResidentsPerAmbulance)
    negative_pressure_share: Share = 0.40
    negative_pressure_per_district: Bool = False
    baseline: AmbulanceBaseline = Field(default_factory=AmbulanceBaseline)
    model: Literal["mclp", "mexclp", "dsm"] = "mexclp"
    busy_fraction: Annotated[float, Strict(), Field(gt=0.0, lt=1.0)] = 0.3
    backup: Backup = Field(default_factory=Backup)
    max_vehicles: Count | None = None
    max_new_stations: Count | None = 60
    max_vehicles_per_station: Annotated[int, Strict(), Field(ge=1, le=100)] = 8
    allow_closing: Bool = False
    costs: Costs = Field(default_factory=Costs)
    staff_per_vehicle: Staffing = Field(default_factory=Staffing)
    shifts: Annotated[int, Strict(), Field(ge=1, le=4)] = 3
    county_centre_required: Bool = True


class CountRange(_Model):
    """An inclusive whole-number range ``{min, max}``."""

    min: Count
    max: Count

    @model_validator(mode="after")
    def _ordered(self) -> CountRange:
        if self.min > self.max:
            raise _fail(f"min ({self.min}) is greater than max ({self.max})", "min")
        return self


class PrimaryCarePlan(_Model):
    """Community and township health centres (001 §三(三); 003 §二(一)3)."""

    enabled: Bool = True
    chc_per_street: Annotated[int, Strict(), Field(ge=0, le=10)] = 1
    extra_chc_threshold: Annotated[int, Strict(), Field(ge=1000, le=10_000_000)] = 100_000
    extra_chc_per_residents: Annotated[int, Strict(), Field(ge=1000, le=10_000_000)] = 100_000
    township_per_township: Annotated[int, Strict(), Field(ge=0, le=10)] = 1
    max_travel_minutes: Minutes = 15.0
    subcentres_per_county: CountRange = Field(
        default_factory=lambda: CountRange(min=1, max=2)
    )
    chs_station_residents: CountRange = Field(
        default_factory=lambda: CountRange(min=5000, max=15000)
    )


ShareRange = tuple[Share, Share]


class IcuShare(_Model):
    """ICU beds as a share of hospital beds, ``[low, high]`` (001 §三(二))."""

    secondary: ShareRange = (0.02, 0.05)
    tertiary: ShareRange = (0.05, 0.08)

    @model_validator(mode="after")
    def _ordered(self) -> IcuShare:
        for name in ("secondary", "tertiary"):
            low, high = getattr(self, name)
            if low > high:
                raise _fail(f"low share {low} is above high share {high}", name)
        return self


class BedEfficiency(_Model):
    """No new beds where occupancy is below / average stay above these (001 §四(一))."""

    min_occupancy: Share = 0.75
    max_avg_stay_days: Annotated[float, Strict(), Field(gt=0.0, le=365.0)] = 9.0


def _bed_targets(value: Any) -> Any:
    """Expand a named target set; merge a mapping over ``plan_2025``."""
    if isinstance(value, str):
        if value not in BED_TARGETS_PER_1000:
            names = ", ".join(_TARGET_SETS)
            raise _fail(
                f"unknown target set {_show(value)}: use {names} or a mapping "
                f"district code: beds per 1,000{_suggest(value, _TARGET_SETS)}"
            )
        return dict(BED_TARGETS_PER_1000[value])
    return _merge_over(BED_TARGETS_PER_1000["plan_2025"])(value)


def _bed_strategy(value: Any) -> Any:
    """Expand ``default`` (001 annex 1); merge a mapping over it."""
    if isinstance(value, str):
        if value != "default":
            raise _fail(
                f"unknown strategy {_show(value)}: use default or a mapping district code: "
                "strengthen | shed | priority | neutral"
            )
        return dict(BED_STRATEGY)
    return _merge_over(BED_STRATEGY)(value)


class BedPlan(_Model):
    """Hospital beds by district (001 §二(三), annex 1, annex 2, §三(二), §四(一))."""

    enabled: Bool = True
    targets: Annotated[
        dict[DistrictCode, Annotated[float, Strict(), Field(gt=0.0, le=50.0)]],
        BeforeValidator(_bed_targets),
    ] = Field(default_factory=lambda: dict(BED_TARGETS_PER_1000["plan_2025"]))
    citywide_per_1000: Annotated[float, Strict(), Field(gt=0.0, le=50.0)] = 9.56
    icu_share: IcuShare = Field(default_factory=IcuShare)
    infectious_min: Annotated[
        dict[DistrictCode, Count], BeforeValidator(_merge_over(INFECTIOUS_BEDS_MIN))
    ] = Field(default_factory=lambda: dict(INFECTIOUS_BEDS_MIN))
    strategy: Annotated[dict[DistrictCode, BedStrategy], BeforeValidator(_bed_strategy)] = (
        Field(default_factory=lambda: dict(BED_STRATEGY))
    )
    efficiency: BedEfficiency = Field(default_factory=BedEfficiency)


HospitalName = Annotated[str, Strict(), Field(min_length=1, max_length=200)]


class GreenChannel(_Model):
    """Taiyuan–Jinzhong critical-care referral green channel (000 §(五))."""

    enabled: Bool = False
    senders: list[HospitalName] = Field(default_factory=lambda: list(GREEN_CHANNEL_SENDERS))
    receivers: list[HospitalName] = Field(
        default_factory=lambda: list(GREEN_CHANNEL_RECEIVERS)
    )
    reserved_icu_beds: Count = 0

    @model_validator(mode="after")
    def _hospitals(self) -> GreenChannel:
        if self.enabled and not self.senders:
            raise _fail("an enabled green channel needs at least one sending hospital", "senders")
        if self.enabled and not self.receivers:
            raise _fail(
                "an enabled green channel needs at least one receiving hospital", "receivers"
            )
        both = sorted(set(self.senders) & set(self.receivers))
        if both:
            raise _fail(f"{both[0]} is both a sender and a receiver", "receivers")
        return self


class Plans(_Model):
    """The plans to optimise."""

    ambulances: AmbulancePlan = Field(default_factory=AmbulancePlan)
    primary_care: PrimaryCarePlan = Field(default_factory=PrimaryCarePlan)
    beds: BedPlan = Field(default_factory=BedPlan)
    green_channel: GreenChannel = Field(default_factory=GreenChannel)


class SolverOptions(_Model):
    """MILP solver choice and limits."""

    name: Literal["auto", "highs", "cbc", "highs-pulp"] = "auto"
    time_limit_s: Annotated[float, Strict(), Field(gt=0.0, le=86_400.0)] = 120.0
    gap: Share = 0.0
    threads: Annotated[int, Strict(), Field(ge=1, le=256)] = 2
    relax_norms_if_infeasible: Bool = False


class Outputs(_Model):
    """Which outputs to write (``summary.json``/``.csv`` are always written)."""

    map: Bool = True
    report: Bool = True
    offline_assets: Bool = True
    gpkg: Bool = True


def _scenario_name(value: Any) -> Any:
    """Check the name is usable as a folder name."""
    if isinstance(value, str) and not re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,63}", value):
        slug = re.sub(r"[^a-z0-9_-]+", "_", value.strip().lower()).strip("_-")[:64]
        hint = f"; did you mean '{slug}'?" if slug else ""
        raise _fail(
            "must be lower-case letters, digits, '_' or '-' (at most 64; it names the "
            f"output folder), got {_show(value)}{hint}"
        )
    return value


class Scenario(_Model):
    """A validated scenario. Build it with :func:`load_scenario` or :meth:`from_dict`."""

    name: Annotated[str, Strict(), BeforeValidator(_scenario_name)]
    description: Text = ""
    area: Area = Field(default_factory=Area)
    data: DataSources = Field(default_factory=DataSources)
    year: Annotated[int, Strict(), Field(ge=2020, le=2050)] = 2025
    population: Population = Field(default_factory=Population)
    network: Network = Field(default_factory=Network)
    demand: DemandGrid = Field(default_factory=DemandGrid)
    sites: Sites = Field(default_factory=Sites)
    response_minutes: ResponseMinutes = Field(default_factory=ResponseMinutes)
    plans: Plans = Field(default_factory=Plans)
    solver: SolverOptions = Field(default_factory=SolverOptions)
    outputs: Outputs = Field(default_factory=Outputs)

    _source: Path | None = PrivateAttr(default=None)
    _base_dir: Path = PrivateAttr(default_factory=Path.cwd)

    # ---- construction ----------------------------------------------------------------

    @classmethod
    def from_dict(
        cls,
        data: Mapping[str, Any],
        source: str | Path | None = None,
        base_dir: str | Path | None = None,
    ) -> Scenario:
        """Validate an in-memory scenario mapping.

        Parameters
        ----------
        data : Mapping
            The scenario as loaded from YAML.
        source : str or Path, optional
            Name used in error messages.
        base_dir : str or Path, optional
            Folder that relative data paths start from (default: current directory).

        Returns
        -------
        Scenario

        Raises
        ------
        ScenarioError
            With every problem found.
        """
        base = Path(base_dir) if base_dir is not None else Path.cwd()
        raw = dict(data) if isinstance(data, Mapping) else data
        scenario, problems = _validate(raw, {}, source, base)
        if problems or scenario is None:
            raise ScenarioError(problems)
        return scenario

    # ---- accessors -------------------------------------------------------------------

    @property
    def source(self) -> Path | None:
        """The file this scenario was loaded from, if any."""
        return self._source

    def is_urban(self, code: str | int) -> bool:
        """Return whether a district uses the urban norms (``area.urban``)."""
        return str(code) in self.area.urban

    # ---- reproducibility and sweeps --------------------------------------------------

    def resolved_dict(self) -> dict[str, Any]:
        """Return the scenario with every default filled in, as plain YAML-able data."""
        return self.model_dump(mode="json")

    def dump_resolved(self, path: str | Path) -> Path:
        """Write :meth:`resolved_dict` as YAML; loading it gives the same resolved scenario.

        Parameters
        ----------
        path : str or Path
            Output file; parent folders are created.

        Returns
        -------
        Path
            The file written.
        """
        out = Path(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        origin = self._source or "in-memory scenario"
        header = (
            f"# Resolved scenario '{self.name}' (all defaults filled in), from {origin}.\n"
            "# Load it with healthopt to reproduce the run exactly.\n"
        )
        body = yaml.safe_dump(
            self.resolved_dict(), sort_keys=False, allow_unicode=True, width=100
        )
        out.write_text(header + body, encoding="utf-8")
        return out

    def with_overrides(self, overrides: Mapping[str, Any]) -> Scenario:
        """Return a validated copy with dotted keys replaced.

        Parameters
        ----------
        overrides : Mapping[str, Any]
            e.g. ``{"network.congestion": 1.4, "plans.ambulances.max_new_stations": 10}``.

        Returns
        -------
        Scenario

        Raises
        ------
        ScenarioError
            If a key does not name a field or a value is invalid.
        """
        data = self.resolved_dict()
        source = f"{self._source or '<scenario>'} (overrides)"
        problems = [
            InputError(source, bad[0], bad[1])
            for key, value in overrides.items()
            if (bad := _set_dotted(data, str(key), value))
        ]
        scenario, more = _validate(data, {}, source, self._base_dir)
        problems.extend(more)
        if problems or scenario is None:
            raise ScenarioError(problems)
        scenario._source = self._source
        return scenario


def _set_dotted(data: dict[str, Any], key: str, value: Any) -> tuple[str, str] | None:
    """Set ``data[a][b][c] = value`` for ``key = "a.b.c"``; return a problem or None."""
    parts = key.split(".")
    if not all(parts):
        return key, "empty part in dotted key"
    node: Any = data
    for depth, part in enumerate(parts[:-1]):
        if node.get(part) is None:
            node[part] = {}
        node = node[part]
        if not isinstance(node, dict):
            return key, f"'{'.'.join(parts[: depth + 1])}' is not a mapping"
    node[parts[-1]] = value
    return None


def _cross_checks(s: Scenario) -> list[tuple[tuple[str | int, ...], str]]:
    """Run the checks that span sections; return ``(loc, message)`` pairs."""
    problems: list[tuple[tuple[str | int, ...], str]] = []
    if s.year < s.population.base_year:
        problems.append((("year",), f"is before population.base_year ({s.population.base_year})"))
    if s.data.dataset is None:
        for name in ("boundaries", "demand"):
            if getattr(s.data, name) is None:
                problems.append(
                    (("data", name), "required when data.dataset is null (no embedded data)")
                )
    channel = s.plans.green_channel
    if channel.enabled and s.data.dataset is not None:
        has_jz = any(c in JINZHONG_DISTRICTS for c in s.area.districts)
        has_ty = any(c in TAIYUAN_DISTRICTS for c in s.area.districts)
        if not (has_jz and has_ty):
            problems.append((
                ("plans", "green_channel", "enabled"),
                "the green channel needs both Taiyuan (1401xx) and Jinzhong (1407xx) "
                "districts in area.districts",
            ))
    amb = s.plans.ambulances
    if amb.model == "dsm" and amb.backup.r1_minutes >= s.response_minutes.urban:
        problems.append((
            ("plans", "ambulances", "backup", "r1_minutes"),
            f"must be below response_minutes.urban ({s.response_minutes.urban:g}): it is the "
            "tighter of the two double-standard radii",
        ))
    return problems


# --------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------


class ScenarioError(InputError):
    """A scenario with problems; ``problems`` lists each as an :class:`InputError`.

    ``source``, ``field``, ``message`` and ``line`` are those of the first problem;
    :meth:`one_line` (and ``str()``) gives every problem, one per line.

    Parameters
    ----------
    problems : list of InputError
        At least one problem.
    """

    def __init__(self, problems: list[InputError]) -> None:
        self.problems = sorted(problems, key=lambda p: p.line or 0) or [
            InputError(None, None, "invalid scenario")
        ]
        first = self.problems[0]
        super().__init__(first.source, first.field, first.message, first.line)

    def one_line(self) -> str:
        """Return every problem as ``file:line: field: message``, one per line."""
        return "\n".join(p.one_line() for p in self.problems)


_MISSING_HINTS = {
    "crs": "say which coordinate system the layer uses: wgs84, gcj02 (Amap, Tencent), "
    "bd09 (Baidu) or an EPSG code such as EPSG:32649",
    "path": "give the file's path (relative to the scenario's folder)",
    "name": "give the scenario a name such as taiyuan_2025_baseline (it names the output "
    "folder)",
}

_TYPE_WORDS = {
    "int_type": "a whole number",
    "int_from_float": "a whole number",
    "float_type": "a number",
    "bool_type": "true or false",
    "string_type": "text",
    "dict_type": "a mapping (indented 'key: value' lines)",
    "model_type": "a mapping (indented 'key: value' lines)",
    "list_type": "a list ([a, b] or '- item' lines)",
    "tuple_type": "a pair [low, high]",
}


def _typed_message(kind: str, value: Any) -> str:
    """Explain a type mismatch, with hints for numbers written as text."""
    want = _TYPE_WORDS[kind]
    if isinstance(value, str) and kind in ("int_type", "float_type", "int_from_float"):
        plain = value.strip().replace(",", "").replace("_", "")
        try:
            float(plain)
        except ValueError:
            return f"expected {want}, got the text {_show(value)}"
        if "," in value:
            return f"expected {want}, got the text {_show(value)}: drop the thousands separators"
        if "e" in value.lower() and "." not in value:
            return (
                f"expected {want}, got the text {_show(value)}: YAML reads exponents only "
                "with a decimal point, e.g. 1.0e+3"
            )
        return f"expected {want}, got the text {_show(value)}: remove the quotes"
    return f"expected {want}, got {_show(value)}"


def _bound_message(kind: str, ctx: dict[str, Any], value: Any) -> str:
    """Explain a value outside its range."""
    words = {
        "greater_than": ("greater than", "gt"),
        "greater_than_equal": ("at least", "ge"),
        "less_than": ("less than", "lt"),
        "less_than_equal": ("at most", "le"),
    }
    word, key = words[kind]
    text = f"must be {word} {ctx[key]:g}, got {_show(value)}"
    if key == "le" and ctx[key] == 1 and isinstance(value, int | float) and value > 1:
        text += " (shares are fractions: write 0.4 for 40%)"
    if kind == "greater_than" and value == 0 and ctx[key] == 0:
        text += " (zero is not allowed here)"
    return text


def _extra_message(loc: tuple[Any, ...]) -> str:
    """Explain an unknown key, suggesting the closest allowed field."""
    key = str(loc[-1]) if loc else "?"
    shown = repr(key) if _odd_key(key) else f"'{key}'"
    model = _model_at(loc[:-1])
    if model is None:
        return f"unknown field {shown}"
    allowed = list(model.model_fields)
    hint = _suggest(key, allowed)
    if hint:
        return f"unknown field {shown}{hint}"
    return f"unknown field {shown} (allowed: {', '.join(allowed)})"


def _model_at(loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """Return the scenario section model found at ``loc``, if any."""
    model: type[BaseModel] | None = Scenario
    for part in loc:
        if model is None or part not in model.model_fields:
            return None
        model = _find_model(model.model_fields[part].annotation)
    return model


def _find_model(annotation: Any) -> type[BaseModel] | None:
    """Find a BaseModel subclass inside a (possibly Optional/Annotated) annotation."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _find_model(arg)
        if found is not None:
            return found
    return None


def _message(err: Mapping[str, Any], loc: tuple[Any, ...]) -> str:
    """Turn one pydantic error into a planning-level message."""
    kind, ctx, value = err["type"], err.get("ctx") or {}, err.get("input")
    if kind == "healthopt":
        return str(ctx["detail"])
    if kind == "missing":
        hint = _MISSING_HINTS.get(str(loc[-1]) if loc else "")
        return f"required field is missing: {hint}" if hint else "required field is missing"
    if kind == "extra_forbidden":
        return _extra_message(loc)
    if kind == "invalid_key":
        return f"field names must be text, got {_show(value)}"
    if kind in _TYPE_WORDS:
        return _typed_message(kind, value)
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        return _bound_message(kind, ctx, value)
    if kind == "literal_error":
        options = re.findall(r"'([^']*)'", str(ctx.get("expected", "")))
        hint = _suggest(str(value), options) if isinstance(value, str) else ""
        return f"must be one of {', '.join(options)}, got {_show(value)}{hint}"
    if kind == "finite_number":
        return f"must be a finite number, got {_show(value)}"
    if kind in ("too_short", "too_long") and isinstance(value, list | tuple):
        return f"expected a pair [low, high], got {len(value)} values"
    if kind == "string_too_short":
        return "must not be empty"
    return f"{err['msg']}, got {_show(value)}"


# --------------------------------------------------------------------------------------
# Locations: pydantic loc -> dotted field and YAML line
# --------------------------------------------------------------------------------------

_Lines = dict[tuple[Any, ...], int]
_MISSING = object()


def _raw_key(node: dict[Any, Any], item: Any) -> Any:
    """Return the raw mapping key matching a loc item (equal, or equal as text), or a sentinel.

    The key itself is returned, not the item: pydantic reports a ``true`` key as ``1``.
    """
    if item in node:
        return next((key for key in node if key == item), item)
    for key in node:
        if str(key) == str(item):
            return key
    return _MISSING


def _is_tag(item: Any) -> bool:
    """Whether a loc item is a pydantic validator tag rather than a key."""
    return isinstance(item, str) and (
        item == "[key]" or "[" in item or item in {"int", "str", "float", "bool", "none"}
    )


@dataclass
class _Where:
    """A pydantic ``loc`` resolved against the raw data."""

    name: str
    line: int | None
    loc: tuple[Any, ...]


def _locate(loc: tuple[Any, ...], raw: Any, lines: _Lines) -> _Where:
    """Map a pydantic ``loc`` to a dotted field name, the best-known line, a clean loc."""
    path: list[Any] = []
    kept: list[Any] = []
    name = ""
    node: Any = raw
    for item in loc:
        key = _raw_key(node, item) if isinstance(node, dict) else _MISSING
        if key is not _MISSING:
            path.append(key)
            name = _join(name, key)
            node = node[key]
        elif isinstance(node, list) and isinstance(item, int) and 0 <= item < len(node):
            path.append(item)
            name = _join(name, item, index=True)
            node = node[item]
        elif _is_tag(item):
            continue
        else:
            name = _join(name, item, index=isinstance(item, int))
            node = None
        kept.append(item)
    return _Where(name or "<top level>", _line_for(tuple(path), lines), tuple(kept))


def _join(name: str, part: Any, index: bool = False) -> str:
    """Append a mapping key (``a.b``) or a list index (``a[3]``) to a dotted name."""
    if index:
        return f"{name}[{part}]"
    key = _key_text(part)
    return f"{name}.{key}" if name else key


def _odd_key(text: str) -> bool:
    """Whether a key would be invisible or break the line if printed as is."""
    return not text or text != text.strip() or not text.isprintable()


def _key_text(key: Any) -> str:
    """Spell a mapping key as a field-name part, as in YAML (``true``, ``null``).

    Empty keys, keys with surrounding spaces and keys holding line breaks or control
    characters are quoted and escaped, so every problem stays visible and on one line.
    """
    if isinstance(key, bool) or key is None:
        return _show(key)
    text = str(key)
    return repr(text) if _odd_key(text) else text


def _line_for(path: tuple[Any, ...], lines: _Lines) -> int | None:
    """Line of the longest prefix of ``path`` that has a recorded line."""
    for end in range(len(path), -1, -1):
        if path[:end] in lines:
            return lines[path[:end]]
    return None


def _peek_dataset(data: Any) -> str | None:
    """Dataset named by the raw data (``taiyuan`` unless explicitly null)."""
    section = data.get("data") if isinstance(data, dict) else None
    if isinstance(section, dict) and "dataset" in section and section["dataset"] is None:
        return None
    return "taiyuan"


def _validate(
    data: Any, lines: _Lines, source: str | Path | None, base_dir: Path
) -> tuple[Scenario | None, list[InputError]]:
    """Validate raw data; return the scenario (or None) and every problem found."""
    if not isinstance(data, dict):
        kind = "a list" if isinstance(data, list) else _show(data)
        msg = f"a scenario must be a mapping of 'key: value' lines at the top level, got {kind}"
        return None, [InputError(source, None, msg, lines.get((), 1))]
    context = {"base_dir": base_dir, "dataset": _peek_dataset(data)}
    try:
        scenario = Scenario.model_validate(data, context=context)
    except ValidationError as exc:
        return None, [_to_problem(err, data, lines, source) for err in exc.errors()]
    problems = []
    for loc, msg in _cross_checks(scenario):
        where = _locate(loc, data, lines)
        problems.append(InputError(source, where.name, msg, where.line))
    scenario._base_dir = base_dir
    return scenario, problems


def _to_problem(
    err: Mapping[str, Any], raw: Any, lines: _Lines, source: str | Path | None
) -> InputError:
    """Convert one pydantic error into an :class:`InputError` with field and line."""
    loc = tuple(err["loc"])
    if err["type"] == "healthopt":
        loc += tuple((err.get("ctx") or {}).get("loc", ()))
    where = _locate(loc, raw, lines)
    return InputError(source, where.name, _message(err, where.loc), where.line)


# --------------------------------------------------------------------------------------
# YAML with line numbers
# --------------------------------------------------------------------------------------

_YAML_HINTS = {
    "mapping values are not allowed here": "a ':' inside a value? quote the value, or a "
    "missing space/indentation before the key",
    "could not find expected ':'": "a line without 'key: value', or a missing closing quote",
    "expected <block end>, but found": "the indentation of this line does not match the "
    "lines above",
    "found undefined alias": "an '*alias' without a matching '&anchor'",
    "but found another document": "a scenario file holds one YAML document: remove the "
    "'---' line",
}


@dataclass
class _Parsed:
    """Raw YAML data with the line of every key and list item, and load problems."""

    data: Any = None
    lines: _Lines = field(default_factory=dict)
    problems: list[InputError] = field(default_factory=list)


class _LineWalker:
    """Build plain Python data from a YAML node tree, recording lines and duplicates."""

    def __init__(self, loader: yaml.SafeLoader, source: str) -> None:
        self.loader = loader
        self.source = source
        self.out = _Parsed()
        self._active: set[int] = set()

    def value(self, node: yaml.Node, path: tuple[Any, ...], name: str = "") -> Any:
        """Return the Python value of ``node`` found at ``path`` (dotted ``name``)."""
        if id(node) in self._active:
            raise yaml.constructor.ConstructorError(
                None, None, "recursive alias: a value contains itself", node.start_mark
            )
        self._active.add(id(node))
        try:
            if isinstance(node, yaml.MappingNode) and node.tag == "tag:yaml.org,2002:map":
                return self._mapping(node, path, name)
            if isinstance(node, yaml.SequenceNode) and node.tag == "tag:yaml.org,2002:seq":
                return self._sequence(node, path, name)
            return self._construct(node)
        finally:
            self._active.discard(id(node))

    def _construct(self, node: yaml.Node) -> Any:
        """Construct a scalar or tagged value; PyYAML's own slips become YAML errors."""
        try:
            return self.loader.construct_object(node, deep=True)
        except (ValueError, TypeError, IndexError, KeyError, OverflowError, AttributeError) as exc:
            raise yaml.constructor.ConstructorError(
                None, None, f"cannot read this {node.tag} value ({exc})", node.start_mark
            ) from None

    def _key(self, node: yaml.Node) -> Any:
        """Return a mapping key, which must be a plain scalar."""
        if not isinstance(node, yaml.ScalarNode):
            raise yaml.constructor.ConstructorError(
                None, None, "keys must be plain names, not lists or mappings", node.start_mark
            )
        key = self._construct(node)
        try:
            hash(key)
        except TypeError:
            raise yaml.constructor.ConstructorError(
                None, None, "keys must be plain names, not lists or mappings", node.start_mark
            ) from None
        return key

    def _mapping(
        self, node: yaml.MappingNode, path: tuple[Any, ...], name: str
    ) -> dict[Any, Any]:
        self._check_duplicates(node, name)
        self.loader.flatten_mapping(node)
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = self._key(key_node)
            self.out.lines[(*path, key)] = key_node.start_mark.line + 1
            out[key] = self.value(value_node, (*path, key), _join(name, key))
        return out

    def _check_duplicates(self, node: yaml.MappingNode, name: str) -> None:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key, line = self._key(key_node), key_node.start_mark.line + 1
            if key in seen:
                self.out.problems.append(InputError(
                    self.source,
                    _join(name, key),
                    f"duplicate key: also given on line {seen[key]}; YAML would silently "
                    "keep only the last value, so remove one",
                    line,
                ))
            else:
                seen[key] = line

    def _sequence(
        self, node: yaml.SequenceNode, path: tuple[Any, ...], name: str
    ) -> list[Any]:
        items = []
        for index, item in enumerate(node.value):
            self.out.lines[(*path, index)] = item.start_mark.line + 1
            items.append(self.value(item, (*path, index), _join(name, index, index=True)))
        return items


def _yaml_problem(exc: yaml.YAMLError, source: str) -> InputError:
    """One-line explanation of a YAML syntax error, at the parser's line and column."""
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    problem = str(getattr(exc, "problem", None) or exc).strip()
    context = str(getattr(exc, "context", None) or "")
    if problem.startswith("but ") and context and not context.startswith("while "):
        problem = f"{context} {problem}"
    line = mark.line + 1 if mark is not None else None
    column = mark.column + 1 if mark is not None else None
    if "'\\t'" in problem:
        return InputError(
            source, None,
            f"tab character at column {column}: YAML does not allow tabs for indentation "
            "or after ':'; use spaces",
            line,
        )
    hint = next((h for key, h in _YAML_HINTS.items() if key in problem), None)
    where = f" at column {column}" if column is not None else ""
    text = f"YAML syntax error{where}: {problem}{_yaml_context(exc, line)}"
    return InputError(source, None, text + (f" ({hint})" if hint else ""), line)


def _yaml_context(exc: yaml.YAMLError, line: int | None) -> str:
    """Say where the construct being parsed started, when that is another line."""
    context = str(getattr(exc, "context", None) or "")
    mark = getattr(exc, "context_mark", None)
    match = re.fullmatch(r"while (?:parsing|scanning) (?:an? )?(.+)", context)
    if mark is None or match is None or mark.line + 1 == line:
        return ""
    return f", in the {match.group(1)} that starts on line {mark.line + 1}"


def _reader_problem(exc: yaml.reader.ReaderError, text: str, source: str) -> InputError:
    """Explain a character YAML does not accept (control characters and the like)."""
    line = text[: max(exc.position, 0)].count("\n") + 1
    code = exc.character if isinstance(exc.character, int) else ord(str(exc.character)[:1])
    return InputError(
        source, None, f"character U+{code:04X} is not allowed in YAML: delete it", line
    )


def _parse_yaml(text: str, source: str) -> _Parsed:
    """Parse YAML text into data with line numbers; problems are collected, not raised."""
    try:
        loader = yaml.SafeLoader(text)
    except yaml.reader.ReaderError as exc:
        return _Parsed(problems=[_reader_problem(exc, text, source)])
    walker = _LineWalker(loader, source)
    try:
        node = loader.get_single_node()
        if node is None:
            walker.out.problems.append(InputError(
                source, None, "the scenario file is empty: it needs at least 'name:'", 1
            ))
            return walker.out
        walker.out.lines[()] = node.start_mark.line + 1
        walker.out.data = walker.value(node, ())
    except yaml.reader.ReaderError as exc:
        return _Parsed(problems=[_reader_problem(exc, text, source)])
    except yaml.YAMLError as exc:
        return _Parsed(problems=[_yaml_problem(exc, source)])
    except RecursionError:
        return _Parsed(problems=[InputError(source, None, "the YAML is nested too deeply", 1)])
    finally:
        loader.dispose()
    return walker.out


def _read(path: Path) -> tuple[str | None, list[InputError]]:
    """Read a scenario file as UTF-8 text."""
    try:
        return path.read_bytes().decode("utf-8-sig"), []
    except FileNotFoundError:
        return None, [InputError(path, None, "scenario file not found")]
    except IsADirectoryError:
        return None, [InputError(path, None, "is a folder, not a scenario file")]
    except UnicodeDecodeError as exc:
        line = path.read_bytes()[: exc.start].count(b"\n") + 1
        return None, [InputError(path, None, "not UTF-8 text: save the file as UTF-8", line)]
    except OSError as exc:
        return None, [InputError(path, None, f"cannot read the file: {exc.strerror}")]


def _check_file(path: str | Path) -> tuple[Scenario | None, list[InputError]]:
    """Load and validate a scenario file, collecting every problem."""
    path = Path(path)
    text, problems = _read(path)
    if text is None:
        return None, problems
    parsed = _parse_yaml(text, str(path))
    if parsed.data is None and parsed.problems:
        return None, parsed.problems
    scenario, more = _validate(parsed.data, parsed.lines, str(path), path.resolve().parent)
    problems = parsed.problems + more
    if scenario is not None and not problems:
        scenario._source = path
    return scenario, sorted(problems, key=lambda p: p.line or 0)


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario file.

    Parameters
    ----------
    path : str or Path
        The YAML file. Relative data paths inside it start at its folder.

    Returns
    -------
    Scenario
        With every default filled in.

    Raises
    ------
    ScenarioError
        Listing every problem (``.problems``), each ``file:line: field: message``.
    """
    scenario, problems = _check_file(path)
    if problems or scenario is None:
        raise ScenarioError(problems)
    return scenario


def validate_file(path: str | Path) -> list[InputError]:
    """Return every problem in a scenario file (an empty list when it is valid).

    Parameters
    ----------
    path : str or Path
        The YAML file.

    Returns
    -------
    list of InputError
        Sorted by line.
    """
    return _check_file(path)[1]


def read_yaml_file(path: str | Path, what: str = "file") -> tuple[Any, dict[tuple[Any, ...], int]]:
    """Read a YAML file with line numbers (as for scenarios), for sweep and batch files.

    Parameters
    ----------
    path : str or Path
        The file.
    what : str
        What the file is, for the empty-file message.

    Returns
    -------
    tuple
        The data and ``{key path: 1-based line}``.

    Raises
    ------
    ScenarioError
        Unreadable file or invalid YAML (file and line named).
    """
    path = Path(path)
    text, problems = _read(path)
    parsed = _parse_yaml(text, str(path)) if text is not None else None
    problems = problems if parsed is None else parsed.problems
    if problems:
        raise ScenarioError([InputError(p.source, p.field, p.message.replace("the scenario file", f"the {what}")
                                        .replace("scenario file", what), p.line) for p in problems])
    return parsed.data, parsed.lines
