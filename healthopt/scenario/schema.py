"""Scenario schema: the root model and its general sections, as immutable pydantic models.

The plan sections (ambulances, primary care, beds, green channel) are in
:mod:`healthopt.scenario.plan_sections`, the field types in :mod:`healthopt.scenario.fields`.

A scenario is one YAML file that says *what* to plan (study area, plans and their
norms) and *how* (network speeds, solver). Every planning norm has its default from the
embedded norms table (:mod:`healthopt.scenario.defaults`, ``healthopt/geodata/taiyuan/tables``);
technical defaults come from :mod:`healthopt.settings`. Nothing else hard-codes a norm.

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

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BeforeValidator,
    Field,
    PrivateAttr,
    Strict,
    ValidationInfo,
    create_model,
    field_validator,
    model_validator,
)

from healthopt import settings
from healthopt._text import printable
from healthopt.errors import InputError
from healthopt.milp.settings import DEFAULT_GAP, DEFAULT_MAX_GAP_TO_REPORT
from healthopt.scenario import defaults
from healthopt.scenario.defaults import norm_float_default as norm_float
from healthopt.scenario.fields import (
    Bool,
    Crs,
    DataPath,
    DistrictCode,
    Kph,
    Minutes,
    OsmPath,
    Section,
    Share,
    Text,
)
from healthopt.scenario.messages import ScenarioError, fail, show
from healthopt.scenario.plan_sections import Plans
from healthopt.scenario.validation import validate

__all__ = ["Scenario"]


class Area(Section):
    """Study area: which county-level units to plan for."""

    districts: list[DistrictCode] = Field(default_factory=lambda: list(defaults.TAIYUAN_DISTRICTS))
    urban: list[DistrictCode] = Field(default_factory=lambda: list(defaults.TAIYUAN_URBAN_DISTRICTS))

    @field_validator("districts")
    @classmethod
    def _non_empty_unique(cls, codes: list[str]) -> list[str]:
        if not codes:
            raise fail("the study area is empty: list at least one district code")
        seen: set[str] = set()
        for index, code in enumerate(codes):
            if code in seen:
                raise fail(f"district {code} is listed twice", index)
            seen.add(code)
        return codes


class Layer(Section):
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


class StationsLayer(FacilityLayer):
    """The existing ambulance stations (template: ``healthopt/geodata/stations_template.csv``).

    Per station: ambulances (``vehicles_field``), the negative-pressure ones among them,
    optionally the most it can hold (``capacity_field``), the year it opened and its crew
    (:func:`healthopt.data.stations.read_stations`). ``plans.ambulances.mode`` says what
    the plan does with them.
    """

    vehicles_field: Text = "vehicles"
    negative_pressure_field: Text = "negative_pressure"
    opened_field: Text = "opened"
    crew_field: Text = "crew"


class OsmSource(Section):
    """A local OpenStreetMap file (always WGS84)."""

    path: OsmPath


class DataSources(Section):
    """Where the data comes from: the embedded dataset and/or user layers."""

    dataset: Literal["taiyuan"] | None = "taiyuan"
    boundaries: BoundariesLayer | None = None
    demand: DemandLayer | None = None
    osm: OsmSource | None = None
    stations: StationsLayer | None = None
    health_centres: FacilityLayer | None = None
    hospitals: FacilityLayer | None = None


class Population(Section):
    """Compound growth applied to the census population up to ``year``."""

    base_year: Annotated[int, Strict(), Field(ge=2000, le=2050)] = 2020
    growth_per_year: Annotated[float, Strict(), Field(ge=-0.1, le=0.1)] = 0.0


RoadSpeeds: type[Section] = create_model(  # type: ignore[call-overload]
    "RoadSpeeds",
    __base__=Section,
    __doc__="Free-flow car speeds (km/h) by OSM highway class (settings.DEFAULT_SPEEDS_KPH).",
    **{name: (Kph, kph) for name, kph in settings.DEFAULT_SPEEDS_KPH.items()},
)


class TerrainCircuity(Section):
    """Circuity of off-network legs by the terrain class of the district they are in (settings)."""

    plain: Annotated[float, Strict(), Field(ge=1.0, le=3.0)] = settings.DEFAULT_TERRAIN_CIRCUITY["plain"]
    hilly: Annotated[float, Strict(), Field(ge=1.0, le=3.0)] = settings.DEFAULT_TERRAIN_CIRCUITY["hilly"]
    mountain: Annotated[float, Strict(), Field(ge=1.0, le=3.0)] = settings.DEFAULT_TERRAIN_CIRCUITY["mountain"]


class Network(Section):
    """Road travel-time parameters (technical defaults from :mod:`healthopt.settings`)."""

    congestion: Annotated[float, Strict(), Field(ge=0.5, le=4.0)] = (
        settings.DEFAULT_CONGESTION_FACTOR
    )
    ambulance_speed_factor: Annotated[float, Strict(), Field(ge=1.0, le=2.0)] = (
        settings.DEFAULT_AMBULANCE_SPEED_FACTOR
    )
    speeds_kph: RoadSpeeds = Field(default_factory=RoadSpeeds)  # type: ignore[valid-type]
    circuity: Annotated[float, Strict(), Field(ge=1.0, le=3.0)] = settings.DEFAULT_CIRCUITY
    # ``{plain, hilly, mountain}`` (default: the settings' values): by the district's terrain,
    # ``circuity`` only where the terrain is unknown; ``null``: ``circuity`` everywhere.
    terrain_circuity: TerrainCircuity | None = Field(default_factory=TerrainCircuity)
    fallback_speed_kph: Kph = settings.DEFAULT_FALLBACK_SPEED_KPH
    snap_tolerance_m: Annotated[float, Strict(), Field(gt=0.0, le=10_000.0)] = (
        settings.DEFAULT_SNAP_TOLERANCE_M
    )


class DemandGrid(Section):
    """Demand point grid (metres)."""

    cell_urban_m: Annotated[float, Strict(), Field(ge=100.0, le=10_000.0)] = (
        settings.DEFAULT_CELL_URBAN_M
    )
    cell_county_m: Annotated[float, Strict(), Field(ge=100.0, le=20_000.0)] = (
        settings.DEFAULT_CELL_COUNTY_M
    )


class Sites(Section):
    """Candidate sites: network nodes at least ``spacing_m`` apart, plus county seats."""

    spacing_m: Annotated[float, Strict(), Field(ge=100.0, le=20_000.0)] = (
        settings.DEFAULT_CANDIDATE_SPACING_M
    )
    include_seats: Bool = True


class ResponseMinutes(Section):
    """Response-time standards (not in the seeds; NORMS.md suggested defaults)."""

    urban: Minutes = Field(default_factory=norm_float("ambulance.response_minutes.urban"))
    county: Minutes = Field(default_factory=norm_float("ambulance.response_minutes.county"))


class SolverOptions(Section):
    """MILP solver choice and limits."""

    name: Literal["auto", "highs", "cbc", "highs-pulp"] = "auto"
    time_limit_s: Annotated[float, Strict(), Field(gt=0.0, le=86_400.0)] = 120.0
    gap: Share = DEFAULT_GAP
    threads: Annotated[int, Strict(), Field(ge=1, le=256)] = 2
    relax_norms_if_infeasible: Bool = False
    max_gap_to_report: Share = DEFAULT_MAX_GAP_TO_REPORT
    accept_gap: Bool = False


class Outputs(Section):
    """Which outputs to write (``summary.json``/``.csv`` are always written)."""

    map: Bool = True
    report: Bool = True
    offline_assets: Bool = True
    gpkg: Bool = True
    #: Map background: vector roads/rivers/railways/seats from the embedded OSM extract
    #: (``offline``, no network), online tiles (``osm``; ``tianditu`` needs TIANDITU_TK), or
    #: district boundaries only (``none``).
    basemap: Literal["offline", "osm", "tianditu", "none"] = "offline"


def _scenario_name(value: Any) -> Any:
    """Check the name is usable as a folder name."""
    if isinstance(value, str) and not re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,63}", value):
        slug = re.sub(r"[^a-z0-9_-]+", "_", value.strip().lower()).strip("_-")[:64]
        hint = f"; did you mean '{slug}'?" if slug else ""
        raise fail(
            "must be lower-case letters, digits, '_' or '-' (at most 64; it names the "
            f"output folder), got {show(value)}{hint}"
        )
    return value


class Scenario(Section):
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

    @model_validator(mode="after")
    def _phasing_ends_in_the_plan_year(self) -> Scenario:
        phasing = self.plans.ambulances.phasing
        if phasing is not None and self.plans.ambulances.mode == "evaluate":
            raise fail("a phased plan adds stations and vehicles year by year: use mode greenfield or expand "
                       "(evaluate keeps the layout as it is)", "plans", "ambulances", "phasing")
        if phasing is not None and phasing.years[-1].year != self.year:
            raise fail(f"the last phase year is {phasing.years[-1].year} but the scenario's year is {self.year}: "
                       "the norms are planned for that year", "plans", "ambulances", "phasing", "years",
                       len(phasing.years) - 1, "year")  # fmt: skip
        return self

    @model_validator(mode="after")
    def _remember_origin(self, info: ValidationInfo) -> Scenario:
        """Keep the file and folder the scenario came from (validation context)."""
        context = info.context if isinstance(info.context, dict) else {}
        if context.get("base_dir") is not None:
            self._base_dir = Path(context["base_dir"])
        self._source = context.get("source_file")
        return self

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
        scenario, problems = validate(cls, raw, {}, source, base_dir=base)
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
        origin = printable(str(self._source)) if self._source else "in-memory scenario"  # a name may hold a newline
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
        scenario, more = validate(
            type(self), data, {}, source, base_dir=self._base_dir, source_file=self._source
        )
        problems.extend(more)
        if problems or scenario is None:
            raise ScenarioError(problems)
        return scenario

    def cross_checks(self) -> list[tuple[tuple[str | int, ...], str]]:
        """Run the checks that span sections; return ``(loc, message)`` pairs."""
        return _cross_checks(self)


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
        has_jz = any(c in defaults.JINZHONG_DISTRICTS for c in s.area.districts)
        has_ty = any(c in defaults.TAIYUAN_DISTRICTS for c in s.area.districts)
        if not (has_jz and has_ty):
            problems.append((
                ("plans", "green_channel", "enabled"),
                "the green channel needs both Taiyuan (1401xx) and Jinzhong (1407xx) "
                "districts in area.districts",
            ))
    amb = s.plans.ambulances
    problems += _existing_checks(s)
    if amb.model == "dsm" and amb.backup.r1_minutes >= s.response_minutes.urban:
        problems.append((
            ("plans", "ambulances", "backup", "r1_minutes"),
            f"must be below response_minutes.urban ({s.response_minutes.urban:g}): it is the "
            "tighter of the two double-standard radii",
        ))
    return problems



def _existing_checks(s: Scenario) -> list[tuple[tuple[str | int, ...], str]]:
    """``mode`` evaluate / expand start from the existing stations: they need the stations layer."""
    amb = s.plans.ambulances
    if amb.mode != "greenfield" and s.data.stations is None:
        return [(("plans", "ambulances", "mode"), f"mode {amb.mode} starts from the existing stations: give "
                                                  "data.stations (template: healthopt/geodata/stations_template.csv)")]
    return []
