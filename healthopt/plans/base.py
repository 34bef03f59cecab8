"""What a plan is to the pipeline: the :class:`Plan` protocol and the values it trades.

A plan answers one planning question of a scenario (ambulance stations, hospital beds,
health centres, the green channel). The pipeline (:mod:`healthopt.pipeline.run`) builds the
shared :class:`Inputs` once, then for each plan of :data:`healthopt.plans.registry.PLANS`, in
order::

    plan = Plan.from_scenario(scenario, inputs, context)   # read its section of the scenario
    result = plan.solve(settings)                          # the one SolverSettings of the run
    context.results[Plan.name] = result                    # later plans may use it
    plan.layers(result), plan.summary(result)              # what goes into the outputs

Adding a plan is one new module with a class following :class:`Plan` plus one line in
:data:`healthopt.plans.registry.PLANS`; ``tests/test_plan_registry.py`` shows a complete one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

import geopandas as gpd
import pandas as pd

if TYPE_CHECKING:
    from healthopt.milp.settings import SolverSettings
    from healthopt.scenario import Scenario
    from healthopt.traveltime import TravelTimes


@dataclass(frozen=True)
class FileRecord:
    """One input file as it was read: the name shown in ``summary.json`` and its SHA-256."""

    name: str
    sha256: str


@dataclass
class Inputs:
    """The expensive, scenario-independent part of a run, shared by every scenario with the same key.

    Built by :func:`healthopt.pipeline.run.prepare_inputs`; a batch builds it once per
    distinct key and hands it to every scenario (in-process, pickled to worker processes or
    scattered to Dask workers).

    Attributes
    ----------
    files : dict of str to FileRecord
        Every input file read while building these inputs, hashed when it was read
        (:class:`healthopt.pipeline.provenance.InputLog`), keyed by its role (``"osm"``,
        ``"layers/stations"``, ``"embedded/<relative path>"``).
    cache : str
        What the inputs cache did for the demand, sites and travel times
        (:mod:`healthopt.pipeline.cache`): ``hit``, ``miss``, ``rebuilt (reason)`` or
        ``disabled (reason)``; empty when built without it.
    """

    key: str
    data: Any
    area: gpd.GeoDataFrame
    graph: Any
    osm_source: Path
    points: gpd.GeoDataFrame
    sites: gpd.GeoDataFrame
    travel_times: TravelTimes
    patient_minutes: dict[str, Any] | None
    timings: dict[str, float] = field(default_factory=dict)
    files: dict[str, FileRecord] = field(default_factory=dict)
    cache: str = ""


@dataclass
class PlanContext:
    """What one scenario's run adds to the shared inputs, and what earlier plans produced.

    Attributes
    ----------
    points : GeoDataFrame
        The demand points with this scenario's ``standard_minutes`` (response standard).
    travel_times : TravelTimes
        Sites × demand ambulance travel times cut at this scenario's largest standard.
    results : dict
        Results of the plans already solved in this run, by plan name (e.g. the beds plan
        reads ``results["green_channel"]`` for the ICU beds the receivers reserve).
    """

    points: gpd.GeoDataFrame
    travel_times: TravelTimes
    results: dict[str, Any] = field(default_factory=dict)


@dataclass
class PlanLayers:
    """A plan's share of the result layers.

    Attributes
    ----------
    layers : dict of str to GeoDataFrame
        Layers of its own (``"stations"``, ``"beds"``, ...), written to ``results.gpkg``.
    districts : DataFrame or None
        Columns added to the ``districts`` layer, with a ``code`` column to join on.
    demand : DataFrame or None
        Columns added to the ``demand`` layer, with a ``demand_id`` column to join on.
    """

    layers: dict[str, gpd.GeoDataFrame] = field(default_factory=dict)
    districts: pd.DataFrame | None = None
    demand: pd.DataFrame | None = None


@dataclass(frozen=True)
class PlanOutcome:
    """How a plan's solves ended, for the run's headline status.

    Attributes
    ----------
    status : str
        In words, as in ``summary.json``.
    optimal : bool
        Proven optimal (or within the requested gap): a rerun gives the same plan.
    gap : float or None
        Relative gap of the plan's main solve, when it has one.
    headline : bool
        The run's ``status`` is this plan's (the ambulance plan); other plans show in it
        only when they did not finish.
    label : str
        How the run's status names this plan when it did not finish (``"health centres"``).
    """

    status: str
    optimal: bool
    gap: float | None = None
    headline: bool = False
    label: str = ""


@dataclass
class PlanSummary:
    """A plan's share of ``summary.json``.

    Attributes
    ----------
    kpis : dict
        Merged into ``summary["kpis"]``.
    notes : list of str
        Appended to ``summary["data_quality"]`` (plans in registry order).
    solver : dict or None
        Entry ``summary["solver"]["plans"][solver_key]``: how its solves ended, and any cap
        the plan put on the run's solver settings (stated here, never applied silently).
    solver_key : str
        Key of that entry (defaults to the plan name).
    section : dict or None
        ``summary[<plan name>]``: a section of its own (e.g. the green channel's routes).
    outcome : PlanOutcome or None
        For the run's headline status and ``solver.reproducible``.
    relaxed : list of str
        Norms the plan misses (``solver.relax_norms_if_infeasible``); marks the whole run.
    infeasible_reasons : list of str
        Why the full norms were impossible (with ``relaxed``).
    """

    kpis: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    solver: dict[str, Any] | None = None
    solver_key: str = ""
    section: dict[str, Any] | None = None
    outcome: PlanOutcome | None = None
    relaxed: list[str] = field(default_factory=list)
    infeasible_reasons: list[str] = field(default_factory=list)


class Plan(Protocol):
    """One planning question of a scenario, as the pipeline runs it.

    Class attributes: ``name`` (registry key, summary section, ``solver_<name>.log``) and
    ``step`` (the progress message while it runs).
    """

    name: ClassVar[str]
    step: ClassVar[str]

    @classmethod
    def enabled(cls, scenario: Scenario) -> bool:
        """Whether the scenario asks for this plan."""
        ...

    @classmethod
    def from_scenario(cls, scenario: Scenario, inputs: Inputs, context: PlanContext) -> Plan:
        """Build the plan from its scenario section, the shared inputs and earlier results."""
        ...

    def solve(self, settings: SolverSettings) -> Any:
        """Solve with the run's solver settings, passed unchanged."""
        ...

    def layers(self, result: Any) -> PlanLayers:
        """Return the plan's result layers and its columns of the shared layers."""
        ...

    def summary(self, result: Any) -> PlanSummary:
        """Return the plan's share of ``summary.json``."""
        ...
