"""What a run produces: the typed :class:`RunSummary` (``summary.json``) and the result layers.

The plans contribute their parts (:class:`healthopt.plans.base.PlanLayers`,
:class:`healthopt.plans.base.PlanSummary`); this module joins them onto the parts every run
has (the districts and demand layers, population, sources, provenance) in registry order.

``RunSummary`` (defined in :mod:`healthopt.outputs.summary`, re-exported here) mirrors
``summary.json`` key for key, so the file stays byte-identical; the
outputs (map, report, comparison, batch tables) read these keys. A plan with a section of
its own (``PlanSummary.section``) adds one top-level key named after the plan, such as
``green_channel``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import geopandas as gpd
import pandas as pd

from healthopt.milp.settings import SolverSettings
from healthopt.outputs.summary import (  # the shape of summary.json lives with the outputs that read it
    Baseline,
    FileHash,
    InputsSummary,
    Kpis,
    PlanSolverEntry,
    RoadHash,
    RunSummary,
    ScenarioInfo,
    SolverSummary,
    read_summary,
)
from healthopt.plans.base import PlanLayers, PlanOutcome, PlanSummary

__all__ = ["NO_OPTIMISATION", "Baseline", "FileHash", "InputsSummary", "Kpis", "PlanSolverEntry", "RoadHash",
           "RunOutput", "RunSummary", "ScenarioInfo", "SolverSummary", "assemble_layers", "assemble_summary",
           "demand_base", "district_base", "headline", "mark_relaxed", "read_summary", "solver_summary"]

# --------------------------------------------------------------------------- the run and its summary


@dataclass
class RunOutput:
    """What a run produced: the folder, the result layers and the summary."""

    folder: Path
    layers: dict[str, gpd.GeoDataFrame]
    summary: RunSummary
    timings: dict[str, float] = field(default_factory=dict)
    #: What the road-graph cache did: ``hit``, ``miss``, ``rebuilt (reason)`` or ``disabled (reason)``.
    graph_cache: str = ""
    #: What the inputs cache (:mod:`healthopt.pipeline.cache`) did, in the same words.
    inputs_cache: str = ""


#: Status of a run in which no plan reports one (e.g. only the bed plan).
NO_OPTIMISATION = "no optimisation run"


def headline(outcomes: Sequence[PlanOutcome]) -> tuple[str, bool, float | None]:
    """Return the run's ``status``, ``optimal`` and ``gap`` from the plans' outcomes, in registry order.

    The headline plan (the ambulances) gives them; another plan shows only when it did not
    finish and the headline did, and then the gap (which belongs to the headline plan) is
    dropped.

    Examples
    --------
    >>> headline([PlanOutcome("optimal", True, 0.0, headline=True),
    ...           PlanOutcome("time limit", False, label="health centres")])
    ('health centres: time limit', False, None)
    """
    status, optimal, gap = NO_OPTIMISATION, True, None
    for o in outcomes:
        if o.headline:
            status, optimal, gap = o.status, o.optimal, o.gap
    for o in outcomes:
        if not o.headline and not o.optimal and optimal:
            status, optimal, gap = f"{o.label}: {o.status}", False, None
    return status, optimal, gap


def solver_summary(settings: SolverSettings, parts: Sequence[tuple[str, PlanSummary]]) -> SolverSummary:
    """Return ``summary["solver"]``: the run's settings and each plan's outcome; ``reproducible``: all finished."""
    from healthopt.milp.solve import RANDOM_SEED, resolve_solver

    plans = {part.solver_key or name: cast(PlanSolverEntry, part.solver) for name, part in parts
             if part.solver is not None}
    finished = all(part.outcome.optimal for _, part in parts if part.outcome is not None)
    return {"name": resolve_solver(None if settings.name == "auto" else settings.name),
            "time_limit_s": settings.time_limit_s, "gap_requested": settings.gap, "threads": settings.threads,
            "random_seed": RANDOM_SEED, "plans": plans, "reproducible": finished}


def mark_relaxed(summary: dict[str, Any], relaxed: list[str], reasons: list[str]) -> None:
    """Record that the plan meets the norms only in part (``solver.relax_norms_if_infeasible``)."""
    summary["norms_met"] = False
    summary["relaxed_norms"] = list(relaxed)
    summary["infeasible_reasons"] = list(reasons)
    summary["status"] = f"best plan under relaxed norms ({summary['status']})"
    summary["data_quality"].insert(0, f"The budgets cannot meet {len(relaxed)} norms: this is the best plan "
                                      "under relaxed norms (listed at the top of the report and in relaxed_norms).")


def assemble_summary(*, head: dict[str, Any], tail: dict[str, Any], parts: Sequence[tuple[str, PlanSummary]],
                     settings: SolverSettings, notes: list[str], late_notes: list[str],
                     not_reproducible: str) -> RunSummary:
    """Join the plans' summaries onto the run's own parts.

    Parameters
    ----------
    head : dict
        ``scenario`` and the population KPI (``kpis: {"pop_total": ...}``).
    tail : dict
        ``baseline``, ``response_minutes``, ``sources``, ``inputs``, ``versions``.
    parts : sequence of (name, PlanSummary)
        Each plan's summary, in registry order.
    settings : SolverSettings
        The run's solver settings.
    notes, late_notes : list of str
        Data-quality notes before the plans' notes (population, travel times) and after them
        (user layers).
    not_reproducible : str
        The note put first when a solve did not finish.
    """
    kpis: dict[str, Any] = dict(head["kpis"])
    data_quality = list(notes)
    for _, part in parts:
        kpis.update(part.kpis)
        data_quality += part.notes
    status, optimal, gap = headline([p.outcome for _, p in parts if p.outcome is not None])
    solver = solver_summary(settings, parts)
    if not solver["reproducible"]:
        data_quality.insert(0, not_reproducible)
    out: dict[str, Any] = {"scenario": head["scenario"], "status": status, "optimal": bool(optimal), "gap": gap,
                           "solver": solver, "kpis": kpis, **tail, "data_quality": data_quality + late_notes}
    for name, part in parts:
        if part.section is not None:
            out[name] = part.section
    for _, part in parts:
        if part.relaxed:
            mark_relaxed(out, part.relaxed, part.infeasible_reasons)
    return cast(RunSummary, out)


# --------------------------------------------------------------------------- layers


def district_base(area: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Return the districts layer every run has: names, norm class, residents."""
    return area[["code", "name_zh", "name_en", "kind", "norm_class", "population", "population_quality",
                 "geometry"]].rename(columns={"population": "residents"})


def demand_base(points: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Return the demand layer every run has (``estimated``: off the road network)."""
    d = points[["demand_id", "district_code", "population", "population_quality", "on_network", "geometry"]]
    return d.assign(estimated=~points["on_network"].to_numpy())


def assemble_layers(area: gpd.GeoDataFrame, points: gpd.GeoDataFrame,
                    parts: Sequence[PlanLayers]) -> dict[str, gpd.GeoDataFrame]:
    """Join the plans' columns onto the districts and demand layers and collect their own layers.

    Parameters
    ----------
    area : GeoDataFrame
        The study area (one row per district).
    points : GeoDataFrame
        The demand points.
    parts : sequence of PlanLayers
        In registry order: columns are added, and layers listed, in that order.
    """
    d = pd.DataFrame(district_base(area))
    dem = pd.DataFrame(demand_base(points))
    layers: dict[str, gpd.GeoDataFrame] = {}
    for part in parts:
        if part.districts is not None:
            d = d.merge(part.districts, on="code", how="left")
        if part.demand is not None:
            dem = dem.merge(part.demand, on="demand_id", how="left")
        layers.update(part.layers)
    return {"districts": gpd.GeoDataFrame(d, geometry="geometry", crs=area.crs),
            "demand": gpd.GeoDataFrame(dem.drop(columns="on_network"), geometry="geometry", crs=points.crs),
            **layers}
