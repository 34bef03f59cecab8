"""Run one scenario end to end: data -> network -> demand -> sites -> travel times -> plans -> outputs.

Outputs go to ``<out_dir>/<scenario name>/`` and are written atomically (a temporary
folder renamed at the end), so an interrupted run leaves nothing half-written.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from healthopt import demand as demand_mod
from healthopt import network, norms, settings, sites, traveltime
from healthopt._files import update_digest
from healthopt.data import TaiyuanData, load_taiyuan, overlay
from healthopt.data.layers import read_facilities
from healthopt.data.places import proxy_points
from healthopt.errors import InputError
from healthopt.outputs import tables
from healthopt.plans import green_channel, primary_care
from healthopt.plans.ambulances import AmbulancePlan
from healthopt.plans.beds import BedPlan
from healthopt.scenario import Scenario, load_scenario

Progress = Callable[[str], None]

#: Spacing of off-network candidate stations (county areas without road data), metres.
OFF_NETWORK_SITE_SPACING_M = 5000.0


@dataclass
class RunOutput:
    """What a run produced: the folder, the result layers and the summary."""

    folder: Path
    layers: dict[str, gpd.GeoDataFrame]
    summary: dict[str, Any]
    timings: dict[str, float] = field(default_factory=dict)


def _file_hash(path: Path) -> str:
    """Return the SHA-256 of a file, a shapefile with its sidecars (.dbf, .prj, ...) or a folder (e.g. .gdb)."""
    path = Path(path)
    files = _files_of(path)
    base = path if path.is_dir() else path.parent
    digest = hashlib.sha256()
    for f in files:
        if len(files) > 1:  # names too: renaming a sidecar changes what GDAL reads
            digest.update(f.relative_to(base).as_posix().encode() + b"\0")
        update_digest(digest, f)
    return digest.hexdigest()


def scenario_data(sc: Scenario) -> TaiyuanData:
    """Load the embedded dataset and apply the scenario's own boundaries and hospital points."""
    data = load_taiyuan()
    spec = sc.data.boundaries
    if spec is not None:
        data = overlay.with_boundaries(data, spec.path, spec.crs, codes=list(sc.area.districts),
                                       code_field=spec.code_field, name_field=spec.name_field, layer=spec.layer)
    spec = sc.data.hospitals
    if spec is not None:
        # After the boundaries: a hospital's district is the (user) polygon holding its point.
        data = overlay.with_hospitals(data, spec.path, spec.crs, name_field=spec.name_field, id_field=spec.id_field,
                                      capacity_field=spec.capacity_field, layer=spec.layer)
    return data


def _study_area(sc: Scenario, data) -> gpd.GeoDataFrame:
    area = data.study_area(list(sc.area.districts))
    area["norm_class"] = np.where(area["code"].isin(list(sc.area.urban)), "urban", "county")
    area["population_census"] = area["population"]
    area["population"] = norms.grow_population(area["population"], sc.population.base_year, sc.year,
                                               sc.population.growth_per_year)
    return area


def _graph(sc: Scenario, data, area: gpd.GeoDataFrame):
    source = Path(sc.data.osm.path) if sc.data.osm is not None else data.roads_path
    return network.load_graph(
        source, speeds=sc.network.speeds_kph.model_dump(), congestion=sc.network.congestion,
        ambulance_speed_factor=sc.network.ambulance_speed_factor,
    ), source


def _demand(sc: Scenario, data, area, G) -> gpd.GeoDataFrame:
    common = {"snap": G, "cell_urban_m": sc.demand.cell_urban_m, "cell_county_m": sc.demand.cell_county_m,
              "snap_tolerance_m": sc.network.snap_tolerance_m}
    spec = sc.data.demand
    if spec is None:
        points = demand_mod.population_grid(area, roads=network.edges_gdf(G), seats=data.seats, **common)
    else:
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


def _existing(sc: Scenario, kind: str) -> gpd.GeoDataFrame | None:
    """Existing facilities of ``kind`` ("stations" / "health_centres") from the scenario's user layer."""
    spec = getattr(sc.data, kind)
    if spec is None:
        return None
    layer = read_facilities(spec.path, spec.crs, id_field=spec.id_field, name_field=spec.name_field,
                            capacity_field=spec.capacity_field, layer=spec.layer)
    return layer.assign(site_id=f"{kind}-" + layer["id"], location_quality="user")


def _sites(sc: Scenario, data, area, G, points) -> gpd.GeoDataFrame:
    seats = data.seats[data.seats["code"].isin(area["code"])] if sc.sites.include_seats else None
    stations, centres = _existing(sc, "stations"), _existing(sc, "health_centres")
    frames = [f for f in (_off_network_candidates(points), stations, centres) if f is not None and len(f)]
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
    cand["existing"] = cand["site_id"].str.startswith("user-stations-")
    cand["existing_centre"] = cand["site_id"].str.startswith("user-health_centres-")
    per_station = sc.plans.ambulances.max_vehicles_per_station
    cand["max_vehicles"] = per_station
    if stations is not None and "capacity" in stations:
        given = dict(zip("user-" + stations["site_id"], stations["capacity"], strict=True))
        held = cand["site_id"].map(given)
        cand["max_vehicles"] = np.maximum(per_station, held.fillna(0)).astype(int)
    return cand


def _ambulances(sc: Scenario, area, cand, points, tt, log_dir: Path):
    amb = sc.plans.ambulances
    nt = norms.ambulance_norms(area, amb.per_residents.model_dump(), amb.negative_pressure_share,
                               per_district_negative_pressure=amb.negative_pressure_per_district)
    counties = list(area.loc[area["norm_class"] == "county", "code"]) if amb.county_centre_required else []
    plan = AmbulancePlan(
        tt.minutes, cand, points, nt, negative_pressure_share=amb.negative_pressure_share,
        per_district_negative_pressure=amb.negative_pressure_per_district, max_vehicles=amb.max_vehicles,
        max_new_stations=amb.max_new_stations, allow_closing=amb.allow_closing,
        station_cost=amb.costs.station, vehicle_cost=amb.costs.vehicle, budget=amb.costs.budget,
        county_codes=counties, model={"mclp": "capacitated"}.get(amb.model, amb.model),
        busy_fraction=amb.busy_fraction, r1_minutes=amb.backup.r1_minutes, alpha=amb.backup.alpha,
        staff_per_vehicle=amb.staff_per_vehicle.model_dump(), shifts=amb.shifts,
    )
    solver = None if sc.solver.name == "auto" else sc.solver.name
    return plan.solve(solver=solver, time_limit=sc.solver.time_limit_s, gap=max(sc.solver.gap, 1e-4),
                      threads=sc.solver.threads, log_path=log_dir / "solver_ambulances.log",
                      relax_norms=sc.solver.relax_norms_if_infeasible), nt


def _green_channel(sc: Scenario, data, G) -> dict[str, Any]:
    gc = sc.plans.green_channel
    proxies = green_channel.senders_and_receivers(list(gc.senders), list(gc.receivers), data.green_channel,
                                                  data.seats)
    senders, receivers = (overlay.relocate(f, data.hospital_layer) for f in proxies)
    routes = green_channel.referral_routes(G, senders, receivers, circuity=sc.network.circuity,
                                           fallback_speed_kph=sc.network.fallback_speed_kph,
                                           snap_tolerance_m=sc.network.snap_tolerance_m)
    reserved = green_channel.reserved_icu(list(gc.receivers), data.hospitals["name_zh"], gc.reserved_icu_beds)
    still_proxies = [n for f in (senders, receivers) for n in f.loc[f["location_quality"] == "proxy", "name_zh"]]
    return {"routes": routes, "unlocated": green_channel.unlocated(senders, receivers), "reserved_icu": reserved,
            "proxies": still_proxies}


#: Cutoff of the patient travel-time matrices (minutes): long enough to reach every resident,
#: because the p-median assigns everyone to some centre.
PATIENT_CUTOFF_MINUTES = 120.0


def _patient_minutes(sc: Scenario, G, cand: gpd.GeoDataFrame, points: gpd.GeoDataFrame):
    """Sites × demand patient minutes within one district (ordinary, not ambulance, speed)."""
    if cand.empty or points.empty:
        return None
    tt = traveltime.travel_time_matrix(G, cand, points, PATIENT_CUTOFF_MINUTES,
                                       snap_tolerance_m=sc.network.snap_tolerance_m,
                                       circuity=sc.network.circuity, fallback_speed_kph=sc.network.fallback_speed_kph)
    minutes = tt.minutes.copy()
    # Patients travel at ordinary speed: undo the ambulance factor on network-timed pairs.
    minutes.data = minutes.data * np.where(tt.pair_estimated, 1.0, sc.network.ambulance_speed_factor)
    return minutes


def _patient_minutes_by_district(sc: Scenario, area, G, cand, points) -> dict[str, Any]:
    """Patient minutes (sites × demand) within each district, keyed by district code."""
    return {code: _patient_minutes(sc, G, cand[cand["district_code"] == code],
                                   points[points["district_code"] == code])
            for code in area["code"]}


def _primary_care(sc: Scenario, data, area, cand, points, minutes, chc):
    pc = sc.plans.primary_care
    minutes = {code: minutes.get(code) for code in chc["code"]}
    seats = data.seats.set_index("code").to_crs(settings.CRS_METRIC).geometry
    metric = cand.to_crs(settings.CRS_METRIC).geometry
    seat_km = np.array([g.distance(seats[c]) / 1000 if c in seats.index else 0.0
                        for g, c in zip(metric, cand["district_code"], strict=True)])
    counties = list(area.loc[area["norm_class"] == "county", "code"])
    solver = None if sc.solver.name == "auto" else sc.solver.name
    return primary_care.site_health_centres(
        minutes, cand, points, chc, max_minutes=pc.max_travel_minutes, counties=counties,
        seat_distance_km=seat_km, subcentres=(pc.subcentres_per_county.min, pc.subcentres_per_county.max),
        demand_xy=shapely.get_coordinates(points.to_crs(settings.CRS_METRIC).geometry),
        solver=solver, time_limit=min(sc.solver.time_limit_s, 30.0))


def _beds(sc: Scenario, data, area, log_dir: Path, reserved_icu: dict[str, int]):
    overlay.require_in_area(data, area["code"])
    beds = sc.plans.beds
    # The scenario's targets and strategies (defaults: the embedded annex-1 table) win.
    table = data.beds_district.assign(
        beds_per_1000_2025=data.beds_district["code"].map(beds.targets),
        strategy=data.beds_district["code"].map(beds.strategy),
    )
    targets = norms.bed_targets(area, table)
    if targets.empty:
        return None
    plan = BedPlan(targets, data.hospitals, citywide_per_1000=beds.citywide_per_1000,
                   infectious_min={str(k): int(v) for k, v in beds.infectious_min.items()},
                   icu_share={k: tuple(v) for k, v in beds.icu_share.model_dump().items()},
                   reserved_icu=reserved_icu)
    return plan.solve(log_path=log_dir / "solver_beds.log")


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


#: Scenario sections that decide the shared inputs (road graph, demand, sites, travel times).
INPUT_SECTIONS: tuple[str, ...] = ("area", "data", "year", "population", "network", "demand", "sites")


@dataclass
class Inputs:
    """The expensive, scenario-independent part of a run, shared by every scenario with the same key.

    Built by :func:`prepare_inputs`; a batch builds it once per distinct key and hands it
    to every scenario (in-process, pickled to worker processes or scattered to Dask workers).
    """

    key: str
    data: Any
    area: gpd.GeoDataFrame
    graph: Any
    osm_source: Path
    points: gpd.GeoDataFrame
    sites: gpd.GeoDataFrame
    travel_times: traveltime.TravelTimes
    patient_minutes: dict[str, Any] | None
    timings: dict[str, float] = field(default_factory=dict)


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
    """
    say = say or (lambda _msg: None)
    timings: dict[str, float] = {}
    step = _stepper(timings, say)
    data = step("data", scenario_data, sc)
    area = _study_area(sc, data)
    if sc.plans.beds.enabled:
        overlay.require_in_area(data, area["code"])  # before the slow steps; _beds checks again per scenario
    G, osm_source = step("road graph", _graph, sc, data, area)
    points = step("demand", _demand, sc, data, area, G)
    cand = step("candidate sites", _sites, sc, data, area, G, points)
    tt = step("travel times", lambda: traveltime.travel_time_matrix(
        G, cand, points, cutoff or travel_cutoff(sc), snap_tolerance_m=sc.network.snap_tolerance_m,
        circuity=sc.network.circuity, fallback_speed_kph=sc.network.fallback_speed_kph))
    patient = step("patient travel times", _patient_minutes_by_district, sc, area, G, cand, points) \
        if sc.plans.primary_care.enabled else None
    return Inputs(inputs_key(sc), data, area, G, osm_source, points, cand, tt, patient, timings)


def _stepper(timings: dict[str, float], say: Progress) -> Callable[..., Any]:
    """Return ``step(name, fn, *args)``: announce, time and run one step of a run."""

    def step(name: str, fn, *args):
        say(name)
        t0 = time.perf_counter()
        out = fn(*args)
        timings[name] = round(time.perf_counter() - t0, 3)
        return out

    return step


def run_loaded(sc: Scenario, folder: Path, say: Progress) -> RunOutput:
    """Run an already validated scenario into ``folder`` (atomically)."""
    return run_prepared(sc, prepare_inputs(sc, say=say), folder, say)


def run_prepared(sc: Scenario, inputs: Inputs, folder: Path, say: Progress | None = None) -> RunOutput:
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

    Returns
    -------
    RunOutput
    """
    if inputs_key(sc) != inputs.key:
        raise ValueError(f"inputs {inputs.key} were built for another group than scenario {sc.name!r}")
    say = say or (lambda _msg: None)
    timings = dict(inputs.timings)
    step = _stepper(timings, say)
    data, area, G, cand = inputs.data, inputs.area, inputs.graph, inputs.sites
    points = inputs.points.copy()
    urban = set(sc.area.urban)
    points["standard_minutes"] = np.where(points["district_code"].isin(urban), sc.response_minutes.urban,
                                          sc.response_minutes.county)
    tt = inputs.travel_times.within(travel_cutoff(sc))
    with tables.atomic_folder(folder) as tmp:
        amb = nt = None
        if sc.plans.ambulances.enabled:
            amb, nt = step("ambulance plan", _ambulances, sc, area, cand, points, tt, tmp)
        gc = step("green channel", _green_channel, sc, data, G) if sc.plans.green_channel.enabled else None
        reserved = gc["reserved_icu"] if gc else {}
        beds = step("bed plan", _beds, sc, data, area, tmp, reserved) if sc.plans.beds.enabled else None
        chc = norms.health_centre_norms(area, data.divisions,
                                        chc_per_street=sc.plans.primary_care.chc_per_street,
                                        extra_threshold=sc.plans.primary_care.extra_chc_threshold,
                                        extra_per_residents=sc.plans.primary_care.extra_chc_per_residents)
        pc = step("health centres", _primary_care, sc, data, area, cand, points, inputs.patient_minutes, chc) \
            if sc.plans.primary_care.enabled else None
        layers = _layers(sc, data, area, cand, points, tt, amb, beds, chc, G, pc)
        summary = _summary(sc, data, area, amb, nt, beds, chc, inputs.osm_source, timings, pc)
        summary["data_quality"] += _layer_notes(sc, data)
        if gc is not None:
            layers["green_channel"] = gc["routes"]
            summary["green_channel"] = _green_summary(gc)
            summary["data_quality"] += _green_notes(gc)
        if amb is not None and amb.relaxed:
            _mark_relaxed(summary, amb)
        step("outputs", _write, sc, tmp, layers, summary)
    return RunOutput(folder, layers, summary, timings)


def _mark_relaxed(summary: dict[str, Any], amb) -> None:
    """Record that the plan meets the norms only in part (``solver.relax_norms_if_infeasible``)."""
    summary["norms_met"] = False
    summary["relaxed_norms"] = list(amb.relaxed)
    summary["infeasible_reasons"] = list(amb.infeasible_reasons)
    summary["status"] = f"best plan under relaxed norms ({summary['status']})"
    summary["data_quality"].insert(0, f"The budgets cannot meet {len(amb.relaxed)} norms: this is the best plan "
                                      "under relaxed norms (listed at the top of the report and in relaxed_norms).")


def _population_note(sc: Scenario) -> str:
    if sc.data.demand is None:
        return "Population within districts is an estimate (grid model, healthopt/demand.py)."
    return (f"Population points come from the user layer {sc.data.demand.path.name} (quality as given there); "
            "the fleet norms still use the 2020 census totals per district.")


def _district_layer(area, amb, beds, chc, pc=None) -> gpd.GeoDataFrame:
    d = area[["code", "name_zh", "name_en", "kind", "norm_class", "population", "population_quality",
              "geometry"]].rename(columns={"population": "residents"})
    if amb is not None:
        cols = ["code", "amb_norm", "amb_planned", "amb_np_planned", "amb_gap", "stations", "pop_covered",
                "pop_beyond_capacity", "pop_outside", "coverage_share", "physicians", "nurses", "drivers"]
        d = d.merge(amb.districts[cols], on="code", how="left")
    d = d.merge(chc[["code", "required_chc", "required_thc"]].rename(
        columns={"required_chc": "chc_required", "required_thc": "thc_required"}), on="code", how="left")
    if pc is not None:
        d = d.merge(pc.districts.rename(columns={"pop_within_standard": "pop_within_pc_standard"}), on="code",
                    how="left")
    if beds is not None:
        b = beds.districts.rename(columns={"beds_2025_target": "beds_target", "shortfall": "bed_shortfall",
                                           "rate_2025": "beds_per_1000_target"})
        d = d.merge(b[["code", "beds_2022_estimate", "beds_target", "beds_planned", "beds_per_1000_planned",
                       "beds_per_1000_target", "bed_shortfall"]], on="code", how="left")
    return gpd.GeoDataFrame(d, geometry="geometry", crs=area.crs)


def _station_layer(cand, amb, tt) -> gpd.GeoDataFrame:
    s = amb.stations.copy()
    geo = cand.set_index("site_id").geometry
    est = pd.Series(tt.site_estimated, index=tt.site_ids)
    s["estimated"] = s["site_id"].map(est).fillna(False).astype(bool)
    s["name"] = s["site_id"]
    keep = ["site_id", "name", "district_code", "status", "vehicles", "negative_pressure", "np_share",
            "physicians", "nurses", "drivers", "pop_covered", "location_quality", "estimated"]
    return gpd.GeoDataFrame(s[keep], geometry=s["site_id"].map(geo).to_numpy(), crs=4326)


def _demand_layer(points, amb, tt) -> gpd.GeoDataFrame:
    d = points[["demand_id", "district_code", "population", "population_quality", "on_network", "geometry"]]
    d = d.assign(estimated=~points["on_network"].to_numpy())
    if amb is not None:
        minutes = tt.min_time_per_demand(np.isin(tt.site_ids, amb.stations["site_id"]))
        d = d.merge(amb.demand[["demand_id", "status"]], on="demand_id", how="left")
        d["minutes"] = np.where(np.isfinite(minutes), minutes, np.nan)  # NaN: no open station in range
    return gpd.GeoDataFrame(d.drop(columns="on_network"), geometry="geometry", crs=points.crs)


def _coverage_layer(sc, stations, G) -> gpd.GeoDataFrame:
    on_net = stations[~stations["estimated"]]
    if on_net.empty:
        return gpd.GeoDataFrame({"site_id": [], "minutes": [], "estimated": []}, geometry=[], crs=4326)
    nodes, _ = traveltime.nearest_nodes(G, on_net)
    areas = traveltime.service_areas(G, list(nodes), sc.response_minutes.urban)
    areas["site_id"] = on_net["site_id"].to_numpy()[: len(areas)]
    areas["minutes"] = sc.response_minutes.urban
    areas["estimated"] = False
    return areas[["site_id", "minutes", "estimated", "geometry"]]


def _layers(sc, data, area, cand, points, tt, amb, beds, chc, G, pc) -> dict[str, gpd.GeoDataFrame]:
    layers = {"districts": _district_layer(area, amb, beds, chc, pc), "demand": _demand_layer(points, amb, tt)}
    if pc is not None:
        geo = cand.set_index("site_id").geometry
        est = pd.Series(tt.site_estimated, index=tt.site_ids)
        centres = pc.centres.assign(name=pc.centres["site_id"], estimated=pc.centres["site_id"].map(est))
        layers["health_centres"] = gpd.GeoDataFrame(centres, geometry=centres["site_id"].map(geo).to_numpy(),
                                                    crs=settings.CRS_GEOGRAPHIC)
    if amb is not None:
        layers["stations"] = _station_layer(cand, amb, tt)
        layers["coverage_areas"] = _coverage_layer(sc, layers["stations"], G)
    if beds is not None:
        h = beds.hospitals.rename(columns={"beds_added": "beds_change", "beds_2025_planned": "beds_2025",
                                           "beds_2025": "beds_2025_cap", "name_zh": "name"})
        h["infectious_beds"] = 0
        cols = ["name", "district_code", "beds_2022", "beds_change", "beds_2025", "icu_min", "icu_max",
                "reserved_icu", "infectious_beds"]
        layers["beds"] = overlay.relocate(proxy_points(h[cols], data.seats), data.hospital_layer, name_col="name")
    return layers


def _green_summary(gc: dict[str, Any]) -> dict[str, Any]:
    routes = gc["routes"].drop(columns="geometry")
    return {"routes": routes.to_dict(orient="records"), "unlocated": gc["unlocated"],
            "reserved_icu": gc["reserved_icu"]}


def _layer_notes(sc: Scenario, data) -> list[str]:
    """Return notes on the scenario's boundaries and hospitals layers (what they replaced, what matched nothing)."""
    gc = sc.plans.green_channel
    used = [*gc.senders, *gc.receivers] if gc.enabled else []
    return [*data.warnings, *overlay.hospital_notes(data, used)]


def _green_notes(gc: dict[str, Any]) -> list[str]:
    notes = []
    if gc["proxies"]:
        notes.append("Green channel: locations of " + ", ".join(gc["proxies"]) + " are district-seat proxies "
                     "(no published coordinates).")
    routes = gc["routes"]
    if len(routes) and routes["estimated"].any():
        notes.append(f"Green channel: {int(routes['estimated'].sum())} of {len(routes)} referral times are "
                     "straight-line estimates (no road data in Jinzhong).")
    if gc["unlocated"]:
        notes.append("Green channel: no location known for " + ", ".join(gc["unlocated"])
                     + "; add them to a hospitals layer (data.hospitals) to include them.")
    return notes


def _versions() -> dict[str, str]:
    """Return the versions of Python, of every package that shapes the results and of the C libraries under them."""
    import platform

    out = {"python": platform.python_version()}
    for pkg in ("healthopt", "geopandas", "shapely", "pyogrio", "pyproj", "osmnx", "networkx", "scipy", "numpy",
                "pandas", "pulp", "highspy", "folium", "pydantic"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = "not installed"
    return out | _library_versions()


def _summary(sc, data, area, amb, nt, beds, chc, osm_source, timings, pc=None) -> dict[str, Any]:
    kpis: dict[str, Any] = {"pop_total": int(area["population"].sum())}
    notes = [_population_note(sc),
             "Travel times outside the road extract are straight-line estimates (flag 'estimated')."]
    status, optimal, gap = "no optimisation run", True, None
    if amb is not None:
        kpis.update({k: v for k, v in amb.totals.items() if k != "staff"})
        kpis["staff"] = amb.totals["staff"]
        notes += amb.notes
        status, optimal, gap = amb.status, amb.optimal, amb.gap
    kpis["chc_required"] = int(chc["required_chc"].sum())
    kpis["thc_required"] = int(chc["required_thc"].sum())
    if pc is not None:
        kpis["chc_planned"] = int(pc.districts["chc_planned"].sum())
        kpis["thc_planned"] = int(pc.districts["thc_planned"].sum())
        kpis["subcentres_planned"] = int((pc.centres["kind"] == "subcentre").sum())
        kpis["pop_within_pc_standard"] = round(float(pc.districts["pop_within_standard"].sum()))
        notes += pc.notes
    if beds is not None:
        kpis["beds_target_per_1000"] = beds.citywide["district_targets_per_1000"]
        kpis["beds_planned_per_1000"] = beds.citywide["planned_per_1000"]
        kpis["citywide_target_per_1000"] = beds.citywide["target_per_1000"]
        notes.append("District bed stocks for 2022 are estimated from the 2022 per-1,000 rates.")
        notes += beds.unmet
    status, optimal, gap = _worst_status(status, optimal, gap, pc)
    solver = _solver_summary(sc, amb, beds, pc)
    if not solver["reproducible"]:
        notes.insert(0, _NOT_REPRODUCIBLE)
    base = sc.plans.ambulances.baseline
    return {
        "scenario": {"name": sc.name, "description": sc.description, "year": sc.year},
        "status": status, "optimal": bool(optimal), "gap": gap,
        "solver": solver,
        "kpis": kpis,
        "baseline": {"fleet_planned": base.vehicles, "np_planned": base.negative_pressure,
                     "np_share": base.negative_pressure / base.vehicles if base.vehicles else None,
                     "stations": base.stations,
                     "beds_planned_per_1000": data.norm("beds.citywide_per_1000_2022")},
        "response_minutes": sc.response_minutes.model_dump(),
        "data_quality": notes,
        "sources": [f"{r.Index}: {r.source} ({r.quality})" for r in data.manifest.itertuples()],
        "inputs": _inputs(sc, data, osm_source),
        "versions": _versions(),
    }


def _write(sc: Scenario, tmp: Path, layers, summary) -> None:
    tables.write_summary_json(tmp / "summary.json", summary)
    tables.write_summary_csv(tmp / "summary.csv", layers["districts"])
    sc.dump_resolved(tmp / "scenario.resolved.yaml")
    if sc.outputs.gpkg:
        tables.write_gpkg(tmp / "results.gpkg", layers)
    if sc.outputs.map or sc.outputs.report:
        from healthopt.outputs.maps import write_map
        from healthopt.outputs.report import write_report

        offline = sc.outputs.offline_assets
        html = write_map(tmp / "map.html", layers, summary, offline=offline)
        if sc.outputs.report:
            write_report(tmp / "report.html", layers, summary, map_html=html, offline=offline)


# --------------------------------------------------------------------------- reproducibility

#: Data-quality note of a run whose solves did not all finish (see README, Reproducibility).
_NOT_REPRODUCIBLE = ("Not reproducible: a solver stopped at its time limit (solver.time_limit_s), and where a "
                     "time-limited solve stops depends on machine speed and load, so a rerun may give another plan. "
                     "Runs whose solves finish (optimal or within the gap) give identical results.")


def _worst_status(status: str, optimal: bool, gap: float | None, pc) -> tuple[str, bool, float | None]:
    """Fold the health-centre solves into the run status: a time-limited one makes the run not proven optimal."""
    if pc is None or "not proven" not in pc.status or not optimal:
        return status, optimal, gap
    return f"health centres: {pc.status}", False, None  # the ambulance gap would belong to another plan


def _solver_summary(sc: Scenario, amb, beds, pc) -> dict[str, Any]:
    """Return the solver settings and each plan's outcome; ``reproducible``: every solve finished."""
    from healthopt.milp.solve import RANDOM_SEED, resolve_solver

    plans: dict[str, Any] = {}
    if amb is not None:
        plans["ambulances"] = {"status": amb.status, "optimal": bool(amb.optimal), "gap": amb.gap}
    if pc is not None:
        plans["health_centres"] = {"status": pc.status, "optimal": "not proven" not in pc.status}
    if beds is not None:
        plans["beds"] = {"status": beds.status}
    finished = all(plan.get("optimal", True) for plan in plans.values())
    return {"name": resolve_solver(None if sc.solver.name == "auto" else sc.solver.name),
            "time_limit_s": sc.solver.time_limit_s, "gap_requested": sc.solver.gap, "threads": sc.solver.threads,
            "random_seed": RANDOM_SEED, "plans": plans, "reproducible": finished}


def _inputs(sc: Scenario, data, osm_source: Path) -> dict[str, Any]:
    """Return the SHA-256 of every input: scenario, road data, user layers and each embedded table."""
    resolved = json.dumps(sc.resolved_dict(), sort_keys=True, ensure_ascii=False, default=str)
    out: dict[str, Any] = {
        "scenario": {"path": str(sc.source) if sc.source else None,
                     "sha256": _file_hash(sc.source) if sc.source else None},
        # Overrides (Scenario.with_overrides, batch sweeps) change the run but not the file.
        "scenario_resolved_sha256": hashlib.sha256(resolved.encode()).hexdigest(),
        "osm": {"path": _shown_path(osm_source, Path(data.root)), "sha256": _file_hash(osm_source)},
    }
    layers = {kind: getattr(sc.data, kind) for kind in ("boundaries", "demand", "stations", "health_centres",
                                                         "hospitals")}
    out["layers"] = {kind: {"path": str(spec.path), "sha256": _file_hash(spec.path)}
                     for kind, spec in layers.items() if spec is not None}
    root = Path(data.root)
    files = ["manifest.csv", *sorted(set(data.manifest["file"]))]
    # Relative names: the dataset's install folder differs between machines, its content must not.
    out["embedded"] = {name: _file_hash(root / name) for name in files}
    return out


def _library_versions() -> dict[str, str]:
    """Return the GDAL, GEOS and PROJ versions: they write and transform the geometries."""
    out = {}
    try:
        import pyogrio

        out["gdal"] = pyogrio.__gdal_version_string__
    except ImportError:  # pragma: no cover - pyogrio is a dependency
        pass
    out["geos"] = shapely.geos_version_string
    try:
        import pyproj

        out["proj"] = pyproj.proj_version_str
    except ImportError:  # pragma: no cover - geopandas needs pyproj
        pass
    return out


def _files_of(path: Path) -> list[Path]:
    """Return the files GDAL reads for ``path``, sorted: a folder's, a shapefile and its sidecars, or the file."""
    if path.is_dir():
        return sorted(f for f in path.rglob("*") if f.is_file())
    if path.suffix.lower() == ".shp":
        return sorted(f for f in path.parent.iterdir() if f.is_file() and f.name.startswith(path.stem + "."))
    return [path]


def _shown_path(path: Path, root: Path) -> str:
    """Return ``path`` as ``embedded:<relative path>`` inside the embedded dataset, else as given."""
    try:
        return "embedded:" + Path(path).resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return str(path)
