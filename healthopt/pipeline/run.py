"""Run one scenario end to end: data -> network -> demand -> sites -> travel times -> plans -> outputs.

The steps only: :func:`prepare_inputs` builds the shared inputs (hashing every file as it
reads it), :func:`run_prepared` solves each plan of :data:`healthopt.plans.registry.PLANS`
in order with the run's one :class:`~healthopt.milp.settings.SolverSettings` and writes the
outputs; :mod:`healthopt.pipeline.results` assembles layers and ``summary.json``,
:mod:`healthopt.pipeline.provenance` records what was read.

Outputs go to ``<out_dir>/<scenario name>/`` and are written atomically (a temporary
folder renamed at the end), so an interrupted run leaves nothing half-written.
"""

from __future__ import annotations

import functools
import hashlib
import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from healthopt import demand as demand_mod
from healthopt import network, norms, settings, sites, traveltime
from healthopt._files import check_replaceable
from healthopt._terrain import point_circuity
from healthopt.data import TaiyuanData, load_taiyuan, overlay
from healthopt.data.layers import read_facilities
from healthopt.data.stations import attach_existing, read_stations
from healthopt.errors import InputError, UnprovenPlanError
from healthopt.milp.settings import SolverSettings
from healthopt.outputs import tables
from healthopt.outputs.layout import write_layout_csv
from healthopt.pipeline import cache as input_cache
from healthopt.pipeline import provenance, quality
from healthopt.pipeline._alongside import Alongside, can_fork_alongside
from healthopt.pipeline.results import RunOutput, RunSummary, assemble_layers, assemble_summary
from healthopt.plans.ambulance_simulation import citywide_columns
from healthopt.plans.base import FileRecord, Inputs, Plan, PlanContext
from healthopt.plans.primary_care import patient_minutes_by_district
from healthopt.plans.registry import INDEPENDENT, PLANS
from healthopt.scenario import Scenario, load_scenario

__all__ = ["INPUT_SECTIONS", "Inputs", "RunOutput", "inputs_key", "plan_context", "prepare_inputs", "run_loaded",
           "run_prepared", "run_scenario", "scenario_data", "study_area", "travel_cutoff"]

Progress = Callable[[str], None]

#: Spacing of off-network candidate stations (county areas without road data), metres.
OFF_NETWORK_SITE_SPACING_M = 5000.0

#: Scenario sections that decide the shared inputs (road graph, demand, sites, travel times).
INPUT_SECTIONS: tuple[str, ...] = ("area", "data", "year", "population", "network", "demand", "sites")


# --------------------------------------------------------------------------- shared inputs


def scenario_data(sc: Scenario, log: provenance.InputLog | None = None) -> TaiyuanData:
    """Load the embedded dataset and apply the scenario's own boundaries and hospital points.

    Each file is hashed into ``log`` (when given) as it is read.
    """
    log = log or provenance.InputLog()
    data = load_taiyuan()
    log.record_dataset(data)
    bounds = sc.data.boundaries
    if bounds is not None:
        log.record("layers/boundaries", bounds.path)
        data = overlay.with_boundaries(data, bounds.path, bounds.crs, codes=list(sc.area.districts),
                                       code_field=bounds.code_field, name_field=bounds.name_field, layer=bounds.layer)
    spec = sc.data.hospitals
    if spec is not None:
        # After the boundaries: a hospital's district is the (user) polygon holding its point.
        log.record("layers/hospitals", spec.path)
        data = overlay.with_hospitals(data, spec.path, spec.crs, name_field=spec.name_field, id_field=spec.id_field,
                                      capacity_field=spec.capacity_field, layer=spec.layer)
    return data


def study_area(sc: Scenario, data: TaiyuanData) -> gpd.GeoDataFrame:
    """Return the scenario's districts with norm class (urban / county) and residents grown to the plan year."""
    area = data.study_area(list(sc.area.districts))
    area["norm_class"] = np.where(area["code"].isin(list(sc.area.urban)), "urban", "county")
    area["population_census"] = area["population"]
    area["population"] = norms.grow_population(area["population"], sc.population.base_year, sc.year,
                                               sc.population.growth_per_year)
    return area


def _graph(sc: Scenario, data: TaiyuanData, log: provenance.InputLog) -> tuple[Any, Path]:
    source = Path(sc.data.osm.path) if sc.data.osm is not None else data.roads_path
    record = log.record("osm", source, root=Path(data.root))
    speeds: Any = sc.network.speeds_kph  # a pydantic model (the schema's annotation is opaque to mypy)
    return network.load_graph(
        source, speeds=speeds.model_dump(), congestion=sc.network.congestion,
        ambulance_speed_factor=sc.network.ambulance_speed_factor,
        source_sha256=record.sha256,  # one file, so its provenance hash is its SHA-256: read it once
    ), source


def _demand(sc: Scenario, data: TaiyuanData, area: gpd.GeoDataFrame, G: Any,
            log: provenance.InputLog) -> gpd.GeoDataFrame:
    common = {"snap": G, "cell_urban_m": sc.demand.cell_urban_m, "cell_county_m": sc.demand.cell_county_m,
              "snap_tolerance_m": sc.network.snap_tolerance_m}
    spec = sc.data.demand
    if spec is None:
        points = demand_mod.population_grid(area, roads=network.edges_gdf(G), seats=data.seats, **common)
    else:
        log.record("layers/demand", spec.path)
        points = demand_mod.demand_from_file(spec.path, spec.crs, area, population_field=spec.population_field,
                                             layer=spec.layer, **common)
    if sc.data.osm is not None:
        # The embedded extract covers central Taiyuan only, so only a user's own extract is held to this.
        demand_mod.require_on_network(points, sc.data.osm.path, sc.network.snap_tolerance_m)
    return points  # response standards are set per scenario in run_prepared


def _off_network_candidates(points: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """One candidate per 5 km block where there is no road data: the most populous cell."""
    off = points[~points["on_network"]].to_crs(settings.CRS_METRIC)
    if off.empty:
        return off
    block = (off.geometry.x // OFF_NETWORK_SITE_SPACING_M).astype(int).astype(str) + "_" + \
        (off.geometry.y // OFF_NETWORK_SITE_SPACING_M).astype(int).astype(str)
    off = off.assign(block=block.to_numpy()).sort_values(["block", "population", "demand_id"],
                                                          ascending=[True, False, True])
    best = off.drop_duplicates("block")
    return gpd.GeoDataFrame({"site_id": "cell-" + best["demand_id"], "location_quality": "grid_cell"},
                            geometry=best.geometry.to_numpy(), crs=settings.CRS_METRIC).to_crs(4326)


def _hospital_candidates(data: TaiyuanData) -> gpd.GeoDataFrame | None:
    """Return the scenario's hospitals layer as candidate stations (120 stations often sit at hospitals)."""
    layer = data.hospital_layer
    if layer is None or layer.points.empty:
        return None
    pts = layer.points
    return gpd.GeoDataFrame({"site_id": "hospital-" + pts["id"].astype(str), "name": pts["name"].to_numpy(),
                             "location_quality": "given"}, geometry=pts.geometry.to_numpy(), crs=pts.crs)


def _existing(sc: Scenario, kind: str, log: provenance.InputLog) -> gpd.GeoDataFrame | None:
    """Existing facilities of ``kind`` ("stations" / "health_centres") from the scenario's user layer."""
    spec = getattr(sc.data, kind)
    if spec is None:
        return None
    log.record("layers/" + kind, spec.path)
    if kind == "stations":  # their fleet, names, years and crew (healthopt.data.stations)
        layer = read_stations(spec.path, spec.crs, id_field=spec.id_field, name_field=spec.name_field,
                              vehicles_field=spec.vehicles_field, negative_pressure_field=spec.negative_pressure_field,
                              capacity_field=spec.capacity_field, opened_field=spec.opened_field,
                              crew_field=spec.crew_field, layer=spec.layer)
        return layer.assign(site_id=f"{kind}-" + layer["id"], location_quality="user")
    layer = read_facilities(spec.path, spec.crs, id_field=spec.id_field, name_field=spec.name_field,
                            capacity_field=spec.capacity_field, layer=spec.layer)
    return layer.assign(site_id=f"{kind}-" + layer["id"], location_quality="user")


def _sites(sc: Scenario, data: TaiyuanData, area: gpd.GeoDataFrame, G: Any, points: gpd.GeoDataFrame,
           log: provenance.InputLog) -> gpd.GeoDataFrame:
    seats = data.seats[data.seats["code"].isin(area["code"])] if sc.sites.include_seats else None
    stations, centres = _existing(sc, "stations", log), _existing(sc, "health_centres", log)
    frames = [f for f in (_off_network_candidates(points), stations, centres, _hospital_candidates(data))
              if f is not None and len(f)]
    # No frame at all when every resident is on the network and no facility layer is given.
    extra = gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), geometry="geometry",
                             crs=settings.CRS_GEOGRAPHIC) if frames else None
    cand = sites.candidate_sites(G, spacing_m=sc.sites.spacing_m, seats=seats, extra=extra,
                                 districts=area, boundary=area.union_all())
    for kind, layer in (("stations", stations), ("health_centres", centres)):
        if layer is not None:
            outside = sorted(set("user-" + layer["site_id"]) - set(cand.loc[cand["district_code"].notna(), "site_id"]))
            if outside:
                raise InputError(getattr(sc.data, kind).path, "geometry",
                                 f"{len(outside)} existing facilities lie outside the study area "
                                 f"(first: {outside[0].removeprefix('user-' + kind + '-')})")
    cand = cand[cand["district_code"].notna()].reset_index(drop=True)
    cand.loc[cand["site_id"].str.startswith("user-hospital-"), "kind"] = "hospital"  # preferred sites (open_penalty)
    cand.loc[cand["site_id"].str.startswith("user-cell-"), "kind"] = "grid_cell"  # off-network cells, not a user's
    cand["existing"] = cand["site_id"].str.startswith("user-stations-")
    cand["existing_centre"] = cand["site_id"].str.startswith("user-health_centres-")
    per_station = sc.plans.ambulances.max_vehicles_per_station
    cand["max_vehicles"] = per_station
    # the layer's vehicles, capacity, years and crew on its sites (capacity and vehicles raise max_vehicles)
    return attach_existing(cand, stations, per_station=per_station)


def inputs_key(sc: Scenario) -> str:
    """Return the hash of everything :func:`prepare_inputs` depends on (response standards excluded).

    Scenarios with the same key share one :class:`Inputs`; the travel-time matrix is built at
    the largest standard of the group and cut per scenario (:meth:`TravelTimes.within`).
    """
    resolved = sc.resolved_dict()
    parts = {name: resolved[name] for name in INPUT_SECTIONS}
    parts["max_vehicles_per_station"] = sc.plans.ambulances.max_vehicles_per_station
    parts["primary_care"] = sc.plans.primary_care.enabled
    text = json.dumps(parts, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def travel_cutoff(sc: Scenario) -> float:
    """Return the largest response standard that applies to some district of the study area."""
    urban = set(sc.area.urban)
    kinds = {code in urban for code in sc.area.districts}
    return float(max(sc.response_minutes.urban if is_urban else sc.response_minutes.county for is_urban in kinds))


def plan_context(sc: Scenario, inputs: Inputs) -> PlanContext:
    """Return what ``sc`` adds to its group's inputs: each point's response standard, travel times cut at the widest."""
    points = inputs.points.copy()
    urban = set(sc.area.urban)
    points["standard_minutes"] = np.where(points["district_code"].isin(urban), sc.response_minutes.urban,
                                          sc.response_minutes.county)
    return PlanContext(points, inputs.travel_times.within(travel_cutoff(sc)))


def prepare_inputs(sc: Scenario, *, cutoff: float | None = None, say: Progress | None = None) -> Inputs:
    """Build the shared inputs of ``sc``: data, road graph, demand, candidate sites, travel times.

    Parameters
    ----------
    sc : Scenario
        Any scenario of the group (they share :func:`inputs_key`).
    cutoff : float, optional
        Travel-time cutoff in minutes (default: the scenario's largest response standard).
    say : callable, optional
        Progress messages.

    Returns
    -------
    Inputs
        With :attr:`Inputs.files`: every file read, hashed when it was read.
    """
    say = say or (lambda _msg: None)
    timings: dict[str, float] = {}
    log = provenance.InputLog()
    step = _stepper(timings, say)
    data = step("data", scenario_data, sc, log)
    area = study_area(sc, data)
    if sc.plans.beds.enabled:
        overlay.require_in_area(data, area["code"])  # before the slow steps; the bed plan checks again
    G, osm_source = step("road graph", _graph, sc, data, log)
    cutoff = cutoff or travel_cutoff(sc)
    key = _inputs_cache_key(sc, log, cutoff)
    cached, state = step("cached inputs", _read_cached, key)
    if cached is not None:
        points, cand, tt, patient = cached.points, cached.sites, cached.travel_times, cached.patient_minutes
    else:
        points = step("demand", _demand, sc, data, area, G, log)
        cand = step("candidate sites", _sites, sc, data, area, G, points, log)
        tt = step("travel times", lambda: traveltime.travel_time_matrix(
            G, cand, points, cutoff, snap_tolerance_m=sc.network.snap_tolerance_m,
            circuity=sc.network.circuity, fallback_speed_kph=sc.network.fallback_speed_kph,
            site_circuity=point_circuity(cand, districts=data.districts, network=sc.network),
            demand_circuity=point_circuity(points, districts=data.districts, network=sc.network)))
        patient = step("patient travel times", patient_minutes_by_district, sc, area, G, cand, points) \
            if sc.plans.primary_care.enabled else None
        state = _write_cached(key, input_cache.CachedInputs(points, cand, tt, patient), state)
    return Inputs(inputs_key(sc), data, area, G, osm_source, points, cand, tt, patient, timings, dict(log.files),
                  cache=state)


def _inputs_cache_key(sc: Scenario, log: provenance.InputLog, cutoff: float) -> str:
    """Return the inputs-cache key of ``sc``; hashes the user layers first (as their readers would)."""
    for kind in ("demand", "stations", "health_centres", "hospitals"):  # hospitals: candidate sites too
        spec = getattr(sc.data, kind)
        if spec is not None:
            log.record("layers/" + kind, spec.path)
    resolved = sc.resolved_dict()
    sections = {name: resolved[name] for name in INPUT_SECTIONS}
    sections["max_vehicles_per_station"] = sc.plans.ambulances.max_vehicles_per_station
    sections["primary_care"] = resolved["plans"]["primary_care"]  # the patient travel times read it
    files = {role: record.sha256 for role, record in log.files.items()}
    return input_cache.cache_key({"sections": sections, "cutoff": float(cutoff), "files": files})


def _read_cached(key: str) -> tuple[input_cache.CachedInputs | None, str]:
    """Return the cached inputs of ``key`` (or ``None``) and what the cache did."""
    try:
        cached = input_cache.read(settings.CACHE_DIR / input_cache.SUBFOLDER, key)
    except input_cache.StaleCacheError as exc:
        return None, f"rebuilt ({exc})"
    except OSError as exc:  # an unreadable cache folder only means building the inputs
        return None, f"rebuilt (cache unreadable: {exc.strerror or type(exc).__name__})"
    return cached, "miss" if cached is None else "hit"


def _write_cached(key: str, inputs: input_cache.CachedInputs, state: str) -> str:
    try:
        input_cache.write(settings.CACHE_DIR / input_cache.SUBFOLDER, key, inputs)
    except OSError as exc:
        return f"disabled (cache folder not writable: {exc.strerror or type(exc).__name__})"
    except input_cache.UnsupportedValueError as exc:
        return f"disabled (the inputs hold {exc}, which the cache cannot store)"
    return state


def _stepper(timings: dict[str, float], say: Progress) -> Callable[..., Any]:
    """Return ``step(name, fn, *args)``: announce, time and run one step of a run."""

    def step(name: str, fn: Callable[..., Any], *args: Any) -> Any:
        say(name)
        t0 = time.perf_counter()
        out = fn(*args)
        timings[name] = round(time.perf_counter() - t0, 3)
        return out

    return step


# --------------------------------------------------------------------------- runs


def run_scenario(path: str | Path, out_dir: str | Path = "runs", *, progress: Progress | None = None) -> RunOutput:
    """Run the scenario file ``path`` and write its outputs under ``out_dir``.

    Parameters
    ----------
    path : str or Path
        Scenario YAML.
    out_dir : str or Path
        Parent folder of the run folder (``<out_dir>/<scenario name>``).
    progress : callable, optional
        Receives a short message at the start of each step.

    Returns
    -------
    RunOutput
    """
    say = progress or (lambda _msg: None)
    sc = load_scenario(path)
    return run_loaded(sc, Path(out_dir) / sc.name, say)


def needs_offline_assets(sc: Scenario) -> bool:
    """Return whether ``sc`` writes a page that must open offline (so its assets are checked first)."""
    return bool(sc.outputs.offline_assets and (sc.outputs.map or sc.outputs.report))


def _check_basemap(sc: Scenario) -> None:
    """Refuse ``outputs.basemap: tianditu`` without a key before any slow step (one-line error)."""
    if sc.outputs.basemap == "tianditu" and (sc.outputs.map or sc.outputs.report):
        from healthopt.outputs.basemap import TIANDITU_KEY_ENV, tianditu_key

        if not tianditu_key():
            raise InputError(sc._source, "outputs.basemap",
                             f"tianditu tiles need a 天地图 key in the environment variable {TIANDITU_KEY_ENV}")


def run_loaded(sc: Scenario, folder: Path, say: Progress) -> RunOutput:
    """Run an already validated scenario into ``folder`` (atomically)."""
    from healthopt.outputs.offline import check_offline_assets

    check_offline_assets(needed=needs_offline_assets(sc))
    _check_basemap(sc)
    check_replaceable(folder, kind="run")  # refuse a foreign folder before the slow steps, not after them
    scenario_file = provenance.scenario_record(sc)  # before the slow steps: the bytes this run plans
    return run_prepared(sc, prepare_inputs(sc, say=say), folder, say, scenario_file=scenario_file, alongside=True)


def run_prepared(sc: Scenario, inputs: Inputs, folder: Path, say: Progress | None = None, *,
                 plans: Sequence[type[Plan]] = PLANS, scenario_file: FileRecord | None = None,
                 alongside: bool = False) -> RunOutput:
    """Plan ``sc`` on shared ``inputs`` and write its outputs into ``folder`` (atomically).

    Parameters
    ----------
    sc : Scenario
        The scenario; ``inputs_key(sc)`` must equal ``inputs.key``.
    inputs : Inputs
        From :func:`prepare_inputs` (possibly built for another scenario of the same group).
    folder : Path
        Output folder (replaced as a whole when the run succeeds).
    say : callable, optional
        Progress messages.
    plans : sequence of Plan classes
        The plans to solve, in order (default: :data:`healthopt.plans.registry.PLANS`); a
        plan whose ``enabled(sc)`` is false is skipped.
    scenario_file : FileRecord, optional
        The scenario file's hash, taken when the run started (default: now).
    alongside : bool
        Solve an independent plan (:data:`healthopt.plans.registry.INDEPENDENT`) in a forked
        child while this process solves the others, where this process can fork
        (:mod:`healthopt.pipeline._alongside`). Same results; a batch, whose workers already
        fill the cores, leaves it off.

    Returns
    -------
    RunOutput
    """
    if inputs_key(sc) != inputs.key:
        raise ValueError(f"inputs {inputs.key} were built for another group than scenario {sc.name!r}")
    # The vendored assets were checked once before the slow steps (run_loaded, run_batch); the
    # map writer verifies every file it inlines again, so a caller that skips the check still
    # gets the same error, only later.
    scenario_file = scenario_file or provenance.scenario_record(sc)
    say = say or (lambda _msg: None)
    timings = dict(inputs.timings)
    step = _stepper(timings, say)
    context = plan_context(sc, inputs)
    with tables.atomic_folder(folder) as tmp:
        solver = SolverSettings.from_scenario(sc.solver, log_dir=tmp)
        solved = []
        enabled = [cls for cls in plans if cls.enabled(sc)]
        pending = _start_alongside(enabled, sc, inputs, context, solver) if alongside else {}
        try:
            for cls in enabled:
                if cls.name in pending:
                    plan, handle = pending.pop(cls.name)
                    result, seconds = step(cls.step, handle.result)
                    timings[cls.step] = round(seconds, 3)  # the child's own seconds, not the wait
                else:
                    plan, result = step(cls.step, _solve, cls, sc, inputs, context, solver)
                _check_reportable(cls, plan, result, solver)
                context.results[cls.name] = result
                solved.append((cls.name, plan, result))
        finally:
            for _, left in pending.values():
                left.cancel()
        layers = assemble_layers(inputs.area, context.points, [plan.layers(result) for _, plan, result in solved])
        summary = _summary(sc, inputs, solver, [(name, plan.summary(result)) for name, plan, result in solved],
                           scenario_file)
        step("outputs", _write, sc, tmp, layers, summary)
    return RunOutput(folder, layers, summary, timings, graph_cache=str(inputs.graph.graph.get("cache", "")),
                     inputs_cache=inputs.cache)


def _solve(cls: type[Plan], sc: Scenario, inputs: Inputs, context: PlanContext,
           solver: SolverSettings) -> tuple[Plan, Any]:
    plan = cls.from_scenario(sc, inputs, context)
    return plan, plan.solve(solver)


def _start_alongside(enabled: Sequence[type[Plan]], sc: Scenario, inputs: Inputs, context: PlanContext,
                     solver: SolverSettings) -> dict[str, tuple[Plan, Alongside]]:
    """Build the first independent plan here and fork its solve, if another plan runs meanwhile (:mod:`._alongside`).

    The plan stays in this process (its layers and summary are written here); the child
    solves its copy and hands back only the result.
    """
    if len(enabled) < 2 or not can_fork_alongside():
        return {}
    for cls in enabled:
        if cls.name in INDEPENDENT:
            plan = cls.from_scenario(sc, inputs, context)
            return {cls.name: (plan, Alongside(functools.partial(plan.solve, solver)))}
    return {}


def _check_reportable(cls: type[Plan], plan: Plan, result: Any, solver: SolverSettings) -> None:
    """Stop the run (exit 3, nothing written) when ``result``'s proven gap is too large for a briefing."""
    outcome = plan.summary(result).outcome
    if outcome is not None and not solver.reportable(outcome.gap, optimal=outcome.optimal):
        assert outcome.gap is not None  # reportable() accepts an unknown gap
        raise UnprovenPlanError(cls.step, outcome.gap, solver.max_gap_to_report)


# --------------------------------------------------------------------------- summary and files


def _population_note(sc: Scenario) -> str:
    if sc.data.demand is None:
        return "Population within districts is an estimate (grid model, healthopt/demand.py)."
    return (f"Population points come from the user layer {sc.data.demand.path.name} (quality as given there); "
            "the fleet norms still use the 2020 census totals per district.")


def _layer_notes(sc: Scenario, data: TaiyuanData) -> list[str]:
    """Return notes on the scenario's boundaries and hospitals layers (what they replaced, what matched nothing)."""
    gc = sc.plans.green_channel
    used = [*gc.senders, *gc.receivers] if gc.enabled else []
    return [*data.warnings, *overlay.hospital_notes(data, used)]


def _summary(sc: Scenario, inputs: Inputs, solver: SolverSettings, parts: list[tuple[str, Any]],
             scenario_file: FileRecord | None) -> RunSummary:
    data, area = inputs.data, inputs.area
    base = sc.plans.ambulances.baseline
    head = {"scenario": {"name": sc.name, "description": sc.description, "year": sc.year},
            "kpis": {"pop_total": int(area["population"].sum())}}
    tail: dict[str, Any] = {
        "baseline": {"fleet_planned": base.vehicles, "np_planned": base.negative_pressure,
                     "np_share": base.negative_pressure / base.vehicles if base.vehicles else None,
                     "stations": base.stations,
                     "beds_planned_per_1000": data.norm("beds.citywide_per_1000_2022")},
        "response_minutes": sc.response_minutes.model_dump(),
        "sources": [f"{r.Index}: {r.source} ({r.quality})" for r in data.manifest.itertuples()],
        "inputs": provenance.inputs_summary(sc, inputs.files, scenario_file),
        "versions": provenance.versions(),
    }
    travel = quality.travel_time_quality(points=inputs.points, area=area)
    tail["travel_time_quality"] = travel
    notes = [_population_note(sc), quality.travel_time_sentence(travel, network=sc.network)]
    notes += _cache_notes(str(inputs.graph.graph.get("cache", "")))
    return assemble_summary(head=head, tail=tail, parts=parts, settings=solver, notes=notes,
                            late_notes=_layer_notes(sc, data), not_reproducible=provenance.NOT_REPRODUCIBLE)


def _cache_notes(state: str) -> list[str]:
    # A hit and a miss give the same graph (the cache is verified against the road data and the
    # settings), so they leave summary.json alone and reruns stay byte-identical; the run result
    # (terminal, --log-json) says which it was. Only a damaged or unwritable cache is a note.
    if state.startswith("rebuilt"):
        return ["The cached road graph did not match its road data or settings and was rebuilt from the road data."]
    if state.startswith("disabled (cache folder"):
        return ["The road-graph cache folder could not be written: the graph was built from the road data "
                "and not saved."]
    return []


def _write(sc: Scenario, tmp: Path, layers: dict[str, gpd.GeoDataFrame], summary: RunSummary) -> None:
    tables.write_summary_json(tmp / "summary.json", summary)
    tables.write_summary_csv(tmp / "summary.csv", layers["districts"], summary, totals=citywide_columns(summary))
    sc.dump_resolved(tmp / "scenario.resolved.yaml")
    from healthopt.outputs.workbook import WORKBOOK_NAME, write_workbook

    write_workbook(tmp / WORKBOOK_NAME, layers=layers, summary=summary, scenario=sc)
    if "stations" in layers:  # the layout as a stations layer: any run's network can be another's input
        write_layout_csv(tmp / "stations_layer.csv", layers["stations"])
    if sc.outputs.gpkg:
        tables.write_gpkg(tmp / "results.gpkg", layers)
    if sc.outputs.map or sc.outputs.report:
        from healthopt.outputs.maps import write_map
        from healthopt.outputs.report import write_report

        offline = sc.outputs.offline_assets
        html = write_map(tmp / "map.html", layers, summary, offline=offline, basemap_kind=sc.outputs.basemap)
        if sc.outputs.report:
            write_report(tmp / "report.html", layers, summary, map_html=html, offline=offline)
