"""Primary-care plan: where the required community / township health centres go.

Per district, the norm count of centres (:func:`healthopt.norms.health_centre_norms`:
one community health service centre (CHC) per street plus extras, one township health
centre (THC) per town or township) is sited by a p-median over the district's demand
points and candidate sites: least resident-weighted travel time, every resident assigned
to a centre reachable within the travel-time matrix's cutoff. Existing centres (a user layer)
are kept open and count towards the norm.

Street and township boundaries are not published, so which chosen site is a CHC and which
a THC is decided by a rule: the sites serving the densest catchments (residents per
assigned grid cell) become the district's CHCs, the rest THCs. In every county the 1–2
THCs farthest from the county seat, among those with at least the median catchment, become
county sub-centres (县域医疗次中心, 001 §三(三)).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import geopandas as gpd
import numpy as np
import pandas as pd
import scipy.sparse as sp
import shapely

from healthopt import norms, traveltime
from healthopt._terrain import class_circuity
from healthopt.errors import InfeasiblePlanError, SolverLimitError
from healthopt.models.median import PMedian
from healthopt.plans.base import Inputs, PlanContext, PlanLayers, PlanOutcome, PlanSummary
from healthopt.scenario.defaults import norm_int_range
from healthopt.settings import CRS_GEOGRAPHIC, CRS_METRIC

if TYPE_CHECKING:
    from healthopt.milp.settings import SolverSettings
    from healthopt.scenario import Scenario


@dataclass
class PrimaryCareResult:
    """Outcome of :func:`site_health_centres`.

    Attributes
    ----------
    centres : DataFrame
        One row per centre: site_id, district_code, kind (chc / thc / subcentre), status,
        pop_served, max_minutes.
    districts : DataFrame
        Per district: required and planned CHCs and THCs, residents within the travel
        standard, residents no candidate reaches.
    notes : list of str
        Modelling notes for the report.
    status : str
        Worst solver status over the districts, in words.
    """

    centres: pd.DataFrame
    districts: pd.DataFrame
    notes: list[str] = field(default_factory=list)
    status: str = "optimal"


#: Above this many demand-site pairs, a district's demand is merged into blocks before siting.
AGGREGATE_ABOVE_PAIRS = 50_000

#: Block size (metres) for that merge.
BLOCK_M = 3000.0


def _blocks(sub: sp.csr_matrix, pop: np.ndarray, xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return the representative point of each demand block and each point's block (identity when small)."""
    if sub.nnz <= AGGREGATE_ABOVE_PAIRS:
        return np.arange(len(pop)), np.arange(len(pop))
    key = np.floor(xy / BLOCK_M).astype(np.int64)
    _, block = np.unique(key, axis=0, return_inverse=True)
    block = block.ravel()
    # the most populous point of a block stands for it (ties: lowest index)
    order = np.lexsort((np.arange(len(pop)), -pop, block))
    first = np.ones(order.size, dtype=bool)
    first[1:] = block[order][1:] != block[order][:-1]
    reps = order[first]
    return reps, np.searchsorted(block[reps], block)


def _solve_district(sub: sp.csr_matrix, pop: np.ndarray, xy: np.ndarray, p: int, solver, time_limit,
                    fixed: np.ndarray | None = None, gap: float | None = None, threads: int | None = None):
    """Solve the p-median over the district's (possibly block-merged) demand.

    Returns the result and each demand point's row in the solved instance (-1 if no
    candidate reaches it).
    """
    reps, block = _blocks(sub, pop, xy)
    weight = np.bincount(block, weights=pop, minlength=reps.size)
    rows = sub[reps]
    reached = np.diff(rows.indptr) > 0
    model = PMedian.from_cost_matrix(rows[reached], weight[reached], p, predefined_facilities_arr=fixed)
    row_of_block = np.where(reached, np.cumsum(reached) - 1, -1)
    return model.solve(solver=solver, time_limit=time_limit, gap=gap, threads=threads), row_of_block[block]


def _label(chosen: pd.DataFrame, n_chc: int) -> pd.Series:
    density = chosen["pop_served"] / chosen["points"].clip(lower=1)
    order = density.sort_values(ascending=False, kind="stable").index
    kind = pd.Series("thc", index=chosen.index)
    kind.loc[order[:n_chc]] = "chc"
    return kind


def _subcentres(centres: pd.DataFrame, seat_distance_km: pd.Series, counties: list[str],
                count: tuple[int, int]) -> pd.Series:
    kind = centres["kind"].copy()
    for code in counties:
        thc = centres[(centres["district_code"] == code) & (kind == "thc")]
        if thc.empty:
            continue
        big = thc[thc["pop_served"] >= thc["pop_served"].median()]
        far = seat_distance_km.loc[big.index].sort_values(ascending=False, kind="stable")
        take = max(count[0], min(count[1], len(far)))
        kind.loc[far.index[:take]] = "subcentre"
    return kind


def site_health_centres(
    minutes: dict[str, sp.csr_matrix],
    sites: pd.DataFrame,
    demand: pd.DataFrame,
    required: pd.DataFrame,
    *,
    max_minutes: float,
    counties: list[str],
    seat_distance_km: np.ndarray,
    demand_xy: np.ndarray,
    subcentres: tuple[int, int] = norm_int_range("primary_care.subcentres_per_county"),
    solver: str | None = None,
    time_limit: float | None = None,
    gap: float | None = None,
    threads: int | None = None,
) -> PrimaryCareResult:
    """Site the required health centres district by district (p-median).

    Parameters
    ----------
    minutes : dict of str to scipy.sparse.csr_matrix
        Per district code: the district's sites × its demand points, patient travel
        minutes (stored pairs are reachable), rows and columns in ``sites`` / ``demand``
        order. Use a cutoff long enough to reach every resident (e.g. 120 min).
    sites : DataFrame
        ``site_id, district_code``.
    demand : DataFrame
        ``demand_id, district_code, population``.
    required : DataFrame
        :func:`healthopt.norms.health_centre_norms` output (``code, required_chc, required_thc``).
    max_minutes : float
        Travel standard reported for primary care (residents within it are counted).
    counties : list of str
        District codes that get county sub-centres.
    seat_distance_km : ndarray
        Per site: distance to its district seat (km), for choosing sub-centres.
    demand_xy : ndarray
        Demand coordinates in a metric CRS (n × 2); large districts are sited over
        ``BLOCK_M`` blocks of demand (the most populous point of a block stands for it).
    subcentres : (int, int)
        Minimum and maximum sub-centres per county.
    solver, time_limit, gap, threads
        Solver settings, for each district's p-median (the time limit is per district).
    """
    rows: list[pd.DataFrame] = []
    summary: list[tuple[Any, int, int, float, float]] = []
    statuses: list[str] = []
    pop_all = demand["population"].to_numpy(float)
    for req in required.itertuples():
        p = int(req.required_chc + req.required_thc)
        s_idx = np.flatnonzero((sites["district_code"] == req.code).to_numpy())
        d_idx = np.flatnonzero((demand["district_code"] == req.code).to_numpy())
        sub = sp.csr_matrix(minutes[req.code].T) if s_idx.size else None
        pop = pop_all[d_idx]
        if p == 0 or s_idx.size == 0:
            summary.append((req.code, 0, 0, 0, float(pop.sum())))
            continue
        fixed = sites["existing_centre"].to_numpy(bool)[s_idx] if "existing_centre" in sites else None
        if fixed is not None:  # existing centres are kept, and count towards the norm
            p = max(p, int(fixed.sum()))
        result, row = _solve_district(sub, pop, demand_xy[d_idx], min(p, s_idx.size), solver, time_limit,
                                      fixed, gap, threads)
        _require_solution(result, req.code, time_limit)
        statuses.append(result.status)
        assign = result.assignments.set_index("demand_id")
        chosen = result.sites[result.sites["open"]].copy()
        chosen["site_index"] = s_idx[chosen.index.to_numpy()]
        reached = row >= 0
        per_point = assign.reindex(row[reached])
        per_point["population"] = pop[reached]
        loads = per_point.groupby("site_id").agg(points=("population", "size"), max_minutes=("travel_time", "max"),
                                                 pop_served=("population", "sum"))
        chosen = chosen.join(loads, on="site_id")
        chosen["kind"] = _label(chosen, int(req.required_chc))
        within = float(per_point.loc[per_point["travel_time"].to_numpy() <= max_minutes, "population"].sum())
        summary.append((req.code, int((chosen["kind"] == "chc").sum()), int((chosen["kind"] == "thc").sum()),
                        within, float(pop[~reached].sum())))
        rows.append(chosen)
    centres = _centre_table(rows, sites, seat_distance_km, counties, subcentres)
    districts = pd.DataFrame(summary, columns=["code", "chc_planned", "thc_planned", "pop_within_standard",
                                               "pop_unreached"])
    worst = next((s for s in statuses if "not proven" in s or "infeasible" in s), "optimal")
    notes = ["Health centres: CHC / THC labels follow a density rule (no street or township boundaries "
             "are published); county sub-centres are the THCs farthest from the seat with large catchments."]
    return PrimaryCareResult(centres, districts, notes, worst)


def _require_solution(result, code: str, time_limit: float | None) -> None:
    """Stop with a planning-level error when a district's p-median has no plan."""
    if result.has_solution:
        return
    if result.status_code == "time_limit_no_solution" and time_limit is not None:
        raise SolverLimitError(f"health-centre plan for district {code}", time_limit)
    raise InfeasiblePlanError([f"health-centre plan for district {code}: {result.status}"])


def _centre_table(rows, sites, seat_distance_km, counties, subcentres) -> pd.DataFrame:
    columns = ["site_id", "district_code", "kind", "status", "pop_served", "max_minutes", "location_quality"]
    if not rows:
        return pd.DataFrame(columns=columns)
    chosen = pd.concat([r for r in rows if len(r)], ignore_index=True)
    chosen["site_id"] = sites["site_id"].to_numpy()[chosen["site_index"]]
    chosen["district_code"] = sites["district_code"].to_numpy()[chosen["site_index"]]
    chosen["location_quality"] = sites["location_quality"].to_numpy()[chosen["site_index"]]
    existing = sites["existing_centre"].to_numpy(bool) if "existing_centre" in sites else np.zeros(len(sites), bool)
    chosen["status"] = np.where(existing[chosen["site_index"]], "existing", "new")
    distance = pd.Series(seat_distance_km[chosen["site_index"]], index=chosen.index)
    chosen["kind"] = _subcentres(chosen, distance, counties, subcentres)
    # A district with fewer demand points than required centres (e.g. a coarse user layer) leaves some idle.
    chosen["pop_served"] = chosen["pop_served"].fillna(0).round().astype(int)
    return chosen[columns].sort_values(["district_code", "site_id"]).reset_index(drop=True)


# --------------------------------------------------------------------------- the plan as the pipeline runs it

#: Cutoff of the patient travel-time matrices (minutes): long enough to reach every resident,
#: because the p-median assigns everyone to some centre.
PATIENT_CUTOFF_MINUTES = 120.0


def patient_minutes(sc: Scenario, G: Any, cand: gpd.GeoDataFrame, points: gpd.GeoDataFrame, *,
                    circuity: float | None = None) -> sp.csr_matrix | None:
    """Return sites × demand patient minutes (ordinary, not ambulance, speed); ``None`` when either is empty.

    ``circuity`` (default ``network.circuity``) applies to the off-network legs.
    """
    if cand.empty or points.empty:
        return None
    tt = traveltime.travel_time_matrix(G, cand, points, PATIENT_CUTOFF_MINUTES,
                                       snap_tolerance_m=sc.network.snap_tolerance_m,
                                       circuity=sc.network.circuity if circuity is None else circuity,
                                       fallback_speed_kph=sc.network.fallback_speed_kph)
    minutes = tt.minutes.copy()
    # Patients travel at ordinary speed: undo the ambulance factor on network-timed pairs.
    minutes.data = minutes.data * np.where(tt.pair_estimated, 1.0, sc.network.ambulance_speed_factor)
    return minutes


def patient_minutes_by_district(sc: Scenario, area: pd.DataFrame, G: Any, cand: gpd.GeoDataFrame,
                                points: gpd.GeoDataFrame) -> dict[str, sp.csr_matrix | None]:
    """Return the patient minutes (sites × demand) within each district, keyed by district code."""
    # Sites and patients of a district are inside it: its terrain's circuity holds for every leg.
    terrain = area["terrain"] if "terrain" in area.columns else pd.Series(None, index=area.index)
    return {code: patient_minutes(sc, G, cand[cand["district_code"] == code], points[points["district_code"] == code],
                                  circuity=class_circuity(t, network=sc.network))
            for code, t in zip(area["code"], terrain, strict=True)}


def zone_streets(sc: Scenario, inputs: Inputs) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return the divisions the CHC norm counts and the streets coded to no district of the dataset.

    Taiyuan's 6 streets coded 140171 (山西转型综合改革示范区, a functional zone without census
    residents of its own) go to ``plans.primary_care.zone_streets_district`` when the scenario
    names one (and it is in the study area); otherwise they are returned as excluded.
    """
    divisions = inputs.data.divisions
    known = set(inputs.data.districts["code"])
    other = norms.unassigned_streets(divisions, known=known, area=set(inputs.area["code"]))
    target = sc.plans.primary_care.zone_streets_district
    if len(other) and target is not None and target in set(inputs.area["code"]):
        divisions = divisions.copy()
        divisions.loc[divisions["street_code"].isin(other["street_code"]), "county_code"] = target
    return divisions, other


def zone_note(sc: Scenario, other: pd.DataFrame) -> str | None:
    """Say what happened to the streets coded to no district (never silently)."""
    if other.empty:
        return None
    zones = ", ".join(sorted({f"{r.county_name} ({r.county_code})" for r in other.itertuples()}))
    streets = "、".join(other["street_name"])
    target = sc.plans.primary_care.zone_streets_district
    if target is not None:
        return (f"{len(other)} streets of {zones} ({streets}) are counted in district {target} for the CHC norm "
                "(plans.primary_care.zone_streets_district); their residents are shared out by committees.")
    return (f"{len(other)} streets of {zones} ({streets}) belong to no study district: they are excluded from the "
            "CHC norm (no centre is required or planned for them). Set plans.primary_care.zone_streets_district "
            "to count them in a district.")


def required_centres(sc: Scenario, inputs: Inputs) -> pd.DataFrame:
    """Return the norm count of CHCs and THCs per district (:func:`healthopt.norms.health_centre_norms`)."""
    pc = sc.plans.primary_care
    divisions, _ = zone_streets(sc, inputs)
    return norms.health_centre_norms(inputs.area, divisions, chc_per_street=pc.chc_per_street,
                                     extra_threshold=pc.extra_chc_threshold,
                                     extra_per_residents=pc.extra_chc_per_residents)


@dataclass
class PrimaryCareOutcome:
    """What :class:`PrimaryCare` produced: the required centres and, when siting is on, where they go."""

    required: pd.DataFrame
    sited: PrimaryCareResult | None


class PrimaryCare:
    """The health-centre plan (:func:`site_health_centres`) as the pipeline runs it.

    It runs in every scenario: the required centre counts are always reported (districts
    layer, KPIs); the centres are sited only with ``plans.primary_care.enabled``. Each
    district's p-median is one solve under the run's ``solver.time_limit_s`` and
    ``solver.gap`` (on the Taiyuan baseline all ten together take 4.7 s on an idle 2-core
    machine, 13.3 s before the Lagrangian site fixing of issue 16, each proven optimal;
    ``benchmarks/bench_primary_care.py`` checks them against the recorded optima).
    """

    name: ClassVar[str] = "primary_care"
    step: ClassVar[str] = "health centres"

    def __init__(self, scenario: Scenario, inputs: Inputs, context: PlanContext) -> None:
        self.scenario, self.inputs, self.context = scenario, inputs, context
        self.required = required_centres(scenario, inputs)

    @classmethod
    def enabled(cls, scenario: Scenario) -> bool:
        """Return ``True``: the norm counts are part of every run (see the class docstring)."""
        return True

    @classmethod
    def from_scenario(cls, scenario: Scenario, inputs: Inputs, context: PlanContext) -> PrimaryCare:
        """Read ``plans.primary_care`` and compute the required centres."""
        return cls(scenario, inputs, context)

    def solve(self, settings: SolverSettings) -> PrimaryCareOutcome:
        """Site the required centres district by district (when siting is enabled)."""
        sc, inputs = self.scenario, self.inputs
        pc = sc.plans.primary_care
        if not pc.enabled:
            return PrimaryCareOutcome(self.required, None)
        cand, points, area = inputs.sites, self.context.points, inputs.area
        given = inputs.patient_minutes or {}
        minutes = {code: given.get(code) for code in self.required["code"]}
        seats = inputs.data.seats.set_index("code").to_crs(CRS_METRIC).geometry
        metric = cand.to_crs(CRS_METRIC).geometry
        seat_km = np.array([g.distance(seats[c]) / 1000 if c in seats.index else 0.0
                            for g, c in zip(metric, cand["district_code"], strict=True)])
        counties = list(area.loc[area["norm_class"] == "county", "code"])
        sited = site_health_centres(
            minutes, cand, points, self.required, max_minutes=pc.max_travel_minutes, counties=counties,
            seat_distance_km=seat_km, subcentres=(pc.subcentres_per_county.min, pc.subcentres_per_county.max),
            demand_xy=shapely.get_coordinates(points.to_crs(CRS_METRIC).geometry),
            solver=None if settings.name == "auto" else settings.name, time_limit=settings.time_limit_s,
            gap=settings.gap, threads=settings.threads)
        return PrimaryCareOutcome(self.required, sited)

    def layers(self, result: PrimaryCareOutcome) -> PlanLayers:
        """Return the ``health_centres`` layer and the districts' required / planned centre columns."""
        d = result.required[["code", "required_chc", "required_thc"]].rename(
            columns={"required_chc": "chc_required", "required_thc": "thc_required"})
        pc = result.sited
        if pc is None:
            return PlanLayers(districts=d)
        d = d.merge(pc.districts.rename(columns={"pop_within_standard": "pop_within_pc_standard"}), on="code",
                    how="left")
        cand, tt = self.inputs.sites, self.context.travel_times
        geo = cand.set_index("site_id").geometry
        est = pd.Series(tt.site_estimated, index=tt.site_ids)
        from healthopt._naming import name_sites  # the stations' naming rule (streets, seats, given names)

        centres = pc.centres.assign(name=name_sites(pc.centres["site_id"], inputs=self.inputs),
                                    estimated=pc.centres["site_id"].map(est))
        layer = gpd.GeoDataFrame(centres, geometry=centres["site_id"].map(geo).to_numpy(),
                                 crs=CRS_GEOGRAPHIC)
        return PlanLayers(layers={"health_centres": layer}, districts=d)

    def summary(self, result: PrimaryCareOutcome) -> PlanSummary:
        """Return the centre KPIs, the labelling note and the solves' outcome (``solver.plans.health_centres``)."""
        kpis: dict[str, Any] = {"chc_required": int(result.required["required_chc"].sum()),
                                "thc_required": int(result.required["required_thc"].sum())}
        _, other = zone_streets(self.scenario, self.inputs)
        zone = zone_note(self.scenario, other)
        section = {"zone_streets": list(other["street_name"]), "zone_streets_excluded":
                   self.scenario.plans.primary_care.zone_streets_district is None and not other.empty}
        pc = result.sited
        if pc is None:
            return PlanSummary(kpis=kpis, notes=[zone] if zone else [], section=section)
        kpis |= {"chc_planned": int(pc.districts["chc_planned"].sum()),
                 "thc_planned": int(pc.districts["thc_planned"].sum()),
                 "subcentres_planned": int((pc.centres["kind"] == "subcentre").sum()),
                 "pop_within_pc_standard": round(float(pc.districts["pop_within_standard"].sum()))}
        finished = "not proven" not in pc.status
        return PlanSummary(kpis=kpis, notes=[*pc.notes, *([zone] if zone else [])],
                           solver={"status": pc.status, "optimal": finished}, solver_key="health_centres",
                           section=section,
                           outcome=PlanOutcome(pc.status, finished, label="health centres"))
