"""Ambulance plan: stations, vehicles and negative-pressure vehicles per station.

Mixed-integer program over candidate / existing stations ``j`` and demand points ``i``:

* ``open_j`` (binary): station ``j`` is used; existing stations are kept unless the
  scenario allows closing;
* ``v_j`` (integer): ambulances at ``j``, ``open_j <= v_j <= cap_j · open_j``;
* ``n_j`` (integer): negative-pressure ambulances, ``n_j <= v_j``;
* fleet norm per district: ``Σ_{j in d} v_j >= ceil(residents_d / residents_per_vehicle_d)``;
* negative-pressure share: ``Σ n_j >= share · Σ v_j`` overall (optionally per district);
* fleet budget ``Σ v_j <= max_vehicles`` (default: the norm total), new-station budget,
  optional costs and a money budget, at least one station in every county.

Objective ``"capacitated"`` (default): maximise residents covered within the response
standard by a station that has capacity for them. Each ambulance serves at most the norm's
residents (30,000 urban / 10,000 county by default); ``x_ij`` residents of ``i`` are served
by ``j`` only if ``j`` is within the standard of ``i``. To keep the model small, each demand
point may be served by its ``nearest_k`` nearest candidate stations within the standard
(the report states it). Objective ``"mexclp"`` (Daskin 1983): maximise expected coverage
with busy fraction ``q`` over all stations within the standard; the capacity breakdown is
then computed for the chosen fleet by a linear program.

Population is reported three ways per district: covered within the standard; in a
catchment but beyond capacity; outside every catchment.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import geopandas as gpd
import numpy as np
import pandas as pd
import scipy.sparse as sp

from healthopt import norms, traveltime
from healthopt.errors import InfeasiblePlanError, SolverLimitError
from healthopt.milp.diagnose import relaxation_culprits
from healthopt.milp.problem import MilpProblem, group_identical_rows
from healthopt.milp.solve import SolverOutput, solve_problem
from healthopt.models.double_standard import add_double_standard
from healthopt.models.expected import add_expected_coverage
from healthopt.models.rules import add_capacity
from healthopt.models.spec import CoverageSpec
from healthopt.plans.ambulance_results import (
    AmbulancePlanResult,
    assignment_lp,
    demand_table,
    district_table,
    fleet_totals,
    station_table,
)
from healthopt.plans.ambulance_rules import AmbulanceRules
from healthopt.plans.ambulance_search import VehicleSearch, greedy_negative_pressure, greedy_vehicles
from healthopt.plans.ambulance_strength import add_effective_vehicles
from healthopt.plans.base import Inputs, PlanContext, PlanLayers, PlanOutcome, PlanSummary

if TYPE_CHECKING:
    from healthopt.milp.settings import SolverSettings
    from healthopt.scenario import Scenario

__all__ = ["AmbulancePlan", "AmbulancePlanResult", "Ambulances"]


@dataclass
class AmbulancePlan(AmbulanceRules):
    """Ambulance station and fleet plan (see module docstring).

    The parameters, the checks before solving and the relaxed-norm shortfalls are those of
    :class:`healthopt.plans.ambulance_rules.AmbulanceRules`; this class builds and solves
    the model and turns the solution into an :class:`AmbulancePlanResult`.

    Attributes
    ----------
    mexclp_groups : tuple of (csr_matrix, ndarray)
        Set by :meth:`build` for the MEXCLP model: the coverage matrix of the merged demand
        groups (groups × sites) and their residents, which :meth:`greedy_start` places for.
    strengthen : bool
        Tighten the MEXCLP formulation with effective vehicles per station
        (:meth:`_add_effective_vehicles`); ``False`` builds the plain formulation (the
        benchmark's reference).
    """

    strengthen: bool = True

    # ------------------------------------------------------------------ model
    def build(self, relax_norms: bool = False) -> MilpProblem:
        """Assemble the MILP (variables, norms, budgets, objective).

        With ``relax_norms`` every norm row gets a shortfall variable (``short_*`` blocks)
        so that the budgets, which stay hard, decide how far the norms can be met.
        """
        ns = len(self.sites)
        existing = self.sites["existing"].to_numpy(bool)
        cap = self.sites["max_vehicles"].to_numpy(float)
        p = MilpProblem("ambulances", "max")
        keep_open = existing & (not self.allow_closing)
        p.add_variables(
            "open", ns, lb=keep_open.astype(float), ub=1.0, integer=True, obj=np.where(existing, 0.0, -0.5)
        )  # fewer new stations at equal coverage
        p.add_variables("v", ns, ub=cap, integer=True)
        catch = self.catchment_population()
        np_reward = 0.01 * catch / max(catch.max(), 1.0) - 0.1  # NP vehicles where most people are
        p.add_variables("n", ns, ub=cap, integer=True, obj=np_reward)
        eye = sp.identity(ns, format="csr")
        p.add_constraints(
            "station_link",
            {"v": eye, "open": -sp.diags(cap)},
            ub=0.0,
            relaxable=False,
            description="vehicles only at open stations",
        )
        p.add_constraints(
            "station_min",
            {"v": eye, "open": -eye},
            lb=0.0,
            relaxable=False,
            description="an open station has at least one ambulance",
        )
        p.add_constraints(
            "np_le_v",
            {"n": eye, "v": -eye},
            ub=0.0,
            relaxable=False,
            description="negative-pressure vehicles are part of the fleet",
        )
        self._add_norms(p, relax_norms)
        self._add_budgets(p, existing)
        if self.model == "mexclp":
            self._add_mexclp(p)
            if self.strengthen:
                self._add_effective_vehicles(p)
        elif self.model == "dsm":
            self._add_dsm(p)
        else:
            self._add_capacitated(p)
        return p

    def _district_matrix(self) -> tuple[sp.csr_matrix, list[str]]:
        codes = list(self.norms["code"])
        pos = {c: k for k, c in enumerate(codes)}
        rows = self.sites["district_code"].map(pos)
        ok = rows.notna().to_numpy()
        M = sp.csr_matrix(
            (np.ones(ok.sum()), (rows[ok].astype(int), np.flatnonzero(ok))), shape=(len(codes), len(self.sites))
        )
        return M, codes

    def _add_norms(self, p: MilpProblem, relax: bool = False) -> None:
        D, codes = self._district_matrix()

        def short(name: str, rows: int) -> dict[str, Any]:
            if not relax:
                return {}
            p.add_variables(name, rows)
            return {name: sp.identity(rows, format="csr")}

        p.add_constraints(
            "fleet_norm",
            {"v": D, **short("short_fleet", len(codes))},
            lb=self.norms["min_vehicles"].to_numpy(float),
            description="the fleet norm in every district (1 ambulance per 30,000 urban / 10,000 county residents)",
        )
        share = self.negative_pressure_share
        ones = np.ones((1, len(self.sites)))
        p.add_constraints(
            "np_share", {"n": ones, "v": -share * ones, **short("short_np", 1)}, lb=0.0,
            description=f"the {share:.0%} negative-pressure share",
        )
        if self.per_district_negative_pressure:
            p.add_constraints(
                "np_share_district",
                {"n": D, "v": -share * D, **short("short_np_district", len(codes))},
                lb=0.0,
                description=f"the {share:.0%} negative-pressure share in every district",
            )
        county_rows = [k for k, c in enumerate(codes) if c in self.county_codes]
        if county_rows:
            p.add_constraints(
                "county_centre",
                {"open": D[county_rows], **short("short_county", len(county_rows))},
                lb=1.0,
                description="a county emergency centre in every county",
            )

    def _add_budgets(self, p: MilpProblem, existing: np.ndarray) -> None:
        ones = np.ones((1, len(self.sites)))
        p.add_constraints(
            "fleet_budget",
            {"v": ones},
            ub=float(self.fleet_cap),
            description=f"the fleet budget of {self.fleet_cap} ambulances",
        )
        if self.max_new_stations is not None:
            p.add_constraints(
                "new_stations",
                {"open": (~existing).astype(float)[None, :]},
                ub=float(self.max_new_stations),
                description=f"the limit of {self.max_new_stations} new stations",
            )
        if self.budget is not None:
            station = np.where(existing, 0.0, self.station_cost or 0.0)[None, :]
            vehicle = np.full((1, len(self.sites)), self.vehicle_cost or 0.0)
            p.add_constraints(
                "money",
                {"open": station, "v": vehicle},
                ub=float(self.budget),
                description=f"the budget of {self.budget:,.0f}",
            )

    def _add_capacitated(self, p: MilpProblem) -> None:
        site, dem = _nearest_k(self.pairs, self.nearest_k)
        self._assign = (site, dem)
        pop = self.demand["population"].to_numpy(float)
        nd = len(pop)
        # the models' capacity rule (healthopt.models.rules): x_i = share of i served, split as
        # z_ij over its nearest stations, Σ_i pop_i z_ij <= residents per ambulance · v_j
        x = p.add_variables("x", nd, ub=np.where(np.bincount(dem, minlength=nd) > 0, 1.0, 0.0), obj=pop)
        C = sp.csr_matrix((np.ones(nd), (np.arange(nd), x.indices)), shape=(nd, p.n_vars))
        spec = CoverageSpec(C, np.zeros(nd), np.arange(nd), pop, dem, site)
        add_capacity(
            p, spec, self.site_capacity_per_vehicle(), sites="v", capacity_relaxable=False,
            capacity_description="residents served per ambulance",
        )  # fmt: skip

    def _add_mexclp(self, p: MilpProblem) -> None:
        site, dem = self.pairs
        nd, K = len(self.demand), max(int(self.max_levels), 1)
        q = float(self.busy_fraction)
        pop = self.demand["population"].to_numpy(float)
        # Demand points reached by exactly the same stations are interchangeable: merge them.
        cover = sp.csr_matrix((np.ones(site.size), (dem, site)), shape=(nd, len(self.sites)))
        group, reps = group_identical_rows(cover)
        weight = np.bincount(group, weights=pop, minlength=reps.size)
        reached = np.diff(cover.indptr)[reps] > 0
        reps, weight = reps[reached], weight[reached]
        self.mexclp_groups = (cover[reps], weight)
        # the one MEXCLP formulation (healthopt.models.expected), on the plan's vehicle block
        add_expected_coverage(
            p, cover[reps], weight, np.full(reps.size, K), q, vehicles="v", block="y", group="expected_coverage",
            description="coverage levels backed by vehicles within the standard",
        )  # fmt: skip

    def _add_effective_vehicles(self, p: MilpProblem) -> None:
        """Tighten the MEXCLP link with effective vehicles per station (:mod:`healthopt.plans.ambulance_strength`)."""
        self._effective_levels = add_effective_vehicles(p, self.sites["max_vehicles"].to_numpy(float))

    def _fill_effective(self, p: MilpProblem, x: np.ndarray) -> None:
        """Set the effective vehicles of a start ``x``: ``min(v_j, K_j)``."""
        bound = getattr(self, "_effective_levels", None)
        if "e" in p.blocks and bound is not None:
            x[p.blocks["e"].slice] = np.minimum(x[p.blocks["v"].slice], bound)

    def _add_dsm(self, p: MilpProblem) -> None:
        """Double standard model (Gendreau, Laporte & Semet 1997) with vehicles per station.

        Every resident within the response standard (r2), a share ``alpha`` within
        ``r1_minutes``; maximise the residents covered twice within ``r1_minutes``.
        """
        nd, ns = len(self.demand), len(self.sites)
        pop = self.demand["population"].to_numpy(float)
        site, dem = self.pairs
        within_r2 = sp.csr_matrix((np.ones(site.size), (dem, site)), shape=(nd, ns))
        coo = sp.coo_matrix(self.minutes)
        near = coo.data <= self.r1_minutes + 1e-9
        within_r1 = sp.csr_matrix((np.ones(near.sum()), (coo.col[near], coo.row[near])), shape=(nd, ns))
        # the one DSM formulation (healthopt.models.coverage), per demand point, on the plan's vehicles
        add_double_standard(
            p, within_r1, within_r2, pop, alpha=self.alpha, r1=self.r1_minutes, vehicles="v",
            cover_rows=np.flatnonzero(pop > 0),
            descriptions={
                "cover_all_r2": "every resident within the response standard (DSM)",
                "alpha_share": f"{self.alpha:.0%} of residents within {self.r1_minutes:g} minutes (DSM)",
                "double_link": "double coverage backed by vehicles within r1",
            },
        )  # fmt: skip


    # ------------------------------------------------------------------ solve
    def solve(
        self,
        solver: str | None = None,
        time_limit: float | None = None,
        gap: float | None = 1e-4,
        threads: int | None = None,
        log_path: str | Path | None = None,
        relax_norms: bool = False,
    ) -> AmbulancePlanResult:
        """Check, build and solve the plan; explain infeasibility in planning terms.

        With ``relax_norms`` an impossible plan is not an error: the best plan under
        relaxed norms is returned (:meth:`solve_relaxed`), with the reasons and the
        shortfalls in ``infeasible_reasons`` and ``relaxed``.
        """
        args = (solver, time_limit, gap, threads, log_path)
        try:
            self.check()
        except InfeasiblePlanError as exc:
            if not relax_norms:
                raise
            return self.solve_relaxed(exc.reasons, *args)
        p = self.build()
        start = self.greedy_start(p)
        out = solve_problem(p, solver, time_limit, gap, threads, log_path, start=start)
        _require_solution(out, time_limit)
        if out.x is None:
            reasons = self._diagnose(p, solver, out)
            if relax_norms and out.status_code == "infeasible":
                return self.solve_relaxed(reasons, *args)
            raise InfeasiblePlanError(reasons)
        return self._result(p, out, solver)

    def solve_relaxed(
        self,
        reasons: list[str],
        solver: str | None = None,
        time_limit: float | None = None,
        gap: float | None = 1e-4,
        threads: int | None = None,
        log_path: str | Path | None = None,
    ) -> AmbulancePlanResult:
        """Return the best plan that misses the norms as little as the budgets allow.

        Lexicographic, in two solves: first the smallest total shortfall (ambulances,
        negative-pressure vehicles and county centres below their norms) under the hard
        budgets; then, with the total shortfall held at that minimum, the usual coverage
        objective. The missing ambulances are shared among districts in proportion to
        their norms (each district short by at most its rounded-up share), so that no
        district is stripped to raise coverage elsewhere; only if station limits make that
        impossible does coverage alone decide.
        """
        p = self.build(relax_norms=True)
        slacks = [name for name in p.blocks if name.startswith("short_")]
        first = p.copy()
        first.set_objective({name: 1.0 for name in slacks}, sense="min")
        limit = None if time_limit is None else max(time_limit / 4, 1.0)
        out1 = solve_problem(first, solver, limit, None, threads, None)
        _require_solution(out1, limit)
        if out1.x is None:
            raise InfeasiblePlanError([*reasons, "even with every norm relaxed the budgets leave no plan "
                                       "(the new-station or money budget cannot keep the existing stations)"])
        total = sum(float(p.value(out1.x, name).sum()) for name in slacks)
        p.add_constraints("norm_shortfall", {name: np.ones((1, p.blocks[name].size)) for name in slacks},
                          ub=total + 1e-6, relaxable=False, description="the smallest norm shortfall")
        fair, start = self._proportional(p, out1.x)
        out = solve_problem(fair, solver, time_limit, gap, threads, log_path, start=start)
        if out.status_code == "infeasible":
            out = solve_problem(p, solver, time_limit, gap, threads, log_path, start=out1.x)
        if out.x is None:  # the time limit hit before any plan of the second solve
            out = out1
        result = self._result(p, out, solver)
        assert out.x is not None  # out1 has a plan
        result.relaxed = self.shortfalls(p, out.x)
        result.infeasible_reasons = list(reasons)
        return result

    def _proportional(self, p: MilpProblem, x: np.ndarray) -> tuple[MilpProblem, np.ndarray | None]:
        """Cap each district's fleet shortfall at its share of the total (rounded up)."""
        short = float(p.value(x, "short_fleet").sum())
        norm = self.norms["min_vehicles"].to_numpy(float)
        caps = np.ceil(short * norm / max(norm.sum(), 1.0) - 1e-9)
        fair = p.copy()
        fair.set_bounds("short_fleet", ub=caps)
        fits = bool(np.all(p.value(x, "short_fleet") <= caps + 1e-6))
        return fair, (x if fits else None)

    def greedy_start(self, p: MilpProblem) -> np.ndarray | None:
        """Build a feasible MEXCLP plan to start the MIP from: Daskin's (1983) greedy, then local search.

        With a solver time limit the answer is then never worse than this plan; on the
        Taiyuan baseline the local search (:class:`VehicleSearch`) is what brings the plan
        within 0.1 % of the proven bound.
        Returns ``None`` when the start would not satisfy every constraint (e.g. a money
        budget, which the greedy rule ignores).
        """
        if self.model != "mexclp" or self.budget is not None:
            return None
        cover, weight = self.mexclp_groups
        v = greedy_vehicles(self, cover, weight)
        if v is None:
            return None
        v = VehicleSearch(self, cover, weight).run(v, max_moves=self.fleet_cap + len(self.sites))
        x = np.zeros(p.n_vars)
        x[p.blocks["open"].slice] = (v > 0) | (self.sites["existing"].to_numpy(bool) & (not self.allow_closing))
        x[p.blocks["v"].slice] = v
        x[p.blocks["n"].slice] = greedy_negative_pressure(self, v)
        K = p.blocks["y"].size // max(cover.shape[0], 1)
        level = cover @ v
        x[p.blocks["y"].slice] = (np.arange(K)[None, :] < np.minimum(level, K)[:, None]).ravel()
        self._fill_effective(p, x)
        A, lo, hi = p.assemble()
        row = A @ x
        feasible = np.all(row >= lo - 1e-6) and np.all(row <= hi + 1e-6)
        return x if feasible else None

    def _diagnose(self, p: MilpProblem, solver: str | None, out: SolverOutput) -> list[str]:
        if out.status_code != "infeasible":
            return [f"ambulance plan: {out.status}"]
        culprits = [p.groups[name].description for name in relaxation_culprits(p, solver)]
        if not culprits:
            return ["the ambulance norms and budgets conflict in more than one place at once"]
        return [f"the ambulance plan becomes feasible only without {c}" for c in culprits]

    def _result(self, p: MilpProblem, out: SolverOutput, solver: str | None) -> AmbulancePlanResult:
        x = out.x
        assert x is not None  # callers pass solves that found a plan
        v = np.round(p.value(x, "v")).astype(int)
        n = np.round(p.value(x, "n")).astype(int)
        served, served_by_site = self._capacity_breakdown(v, p, x, solver)
        stations = station_table(self, v, n, served_by_site)
        demand = demand_table(self, v, served)
        districts = district_table(self, stations, demand)
        totals = fleet_totals(self, stations, demand)
        notes = self._notes()
        return AmbulancePlanResult(
            stations, districts, demand, totals, out.status, out.status_code, out.gap, out.objective, out.seconds, notes
        )

    def _capacity_breakdown(self, v: np.ndarray, p: MilpProblem, x: np.ndarray,
                            solver: str | None) -> tuple[np.ndarray, np.ndarray]:
        """Residents served per demand point and per station for the chosen fleet."""
        if "z" in p.blocks:
            site, dem = self._assign
            flow = self.demand["population"].to_numpy(float)[dem] * p.value(x, "z")
        else:
            site, dem = self.pairs
            at_open = v[site] > 0
            site, dem = site[at_open], dem[at_open]
            flow = assignment_lp(
                site, dem, self.demand["population"].to_numpy(float), v * self.site_capacity_per_vehicle(), solver
            )
        served = np.bincount(dem, weights=flow, minlength=len(self.demand))
        by_site = np.bincount(site, weights=flow, minlength=len(self.sites))
        return np.minimum(served, self.demand["population"].to_numpy(float)), by_site

    def _notes(self) -> list[str]:
        notes = []
        if not self.sites["existing"].any():
            notes.append(
                "No existing station locations were given: every station is a candidate "
                "(the embedded data has no 120-station coordinates)."
            )
        if self.model == "capacitated":
            notes.append(
                f"Each demand point may be served by its {self.nearest_k} nearest candidate "
                "stations within the response standard (model-size reduction)."
            )
        if self.model == "mexclp":
            notes.append(
                f"Stations chosen by expected coverage (MEXCLP, busy fraction "
                f"{self.busy_fraction}); capacity breakdown computed for that fleet."
            )
        return notes


# --------------------------------------------------------------------------- helpers


def _require_solution(out: SolverOutput, time_limit: float | None) -> None:
    """Raise :class:`SolverLimitError` when the time limit hit before any feasible plan."""
    if out.status_code == "time_limit_no_solution" and time_limit is not None:
        raise SolverLimitError("ambulance plan", time_limit)


def _nearest_k(pairs: tuple[np.ndarray, np.ndarray], k: int) -> tuple[np.ndarray, np.ndarray]:
    """Keep each demand point's ``k`` nearest sites (pairs are sorted by demand, then time)."""
    site, dem = pairs
    if dem.size == 0:
        return site, dem
    start = np.r_[0, np.flatnonzero(np.diff(dem)) + 1]
    rank = np.arange(dem.size) - np.repeat(start, np.diff(np.r_[start, dem.size]))
    keep = rank < k
    return site[keep], dem[keep]


# --------------------------------------------------------------------------- the plan as the pipeline runs it


class Ambulances:
    """The ambulance plan (:class:`AmbulancePlan`) as the pipeline runs it.

    Its status is the run's headline status (:class:`healthopt.plans.base.PlanOutcome`).
    ``solver.gap`` is passed as given: ``0`` means prove optimality (there is no floor).
    """

    name: ClassVar[str] = "ambulances"
    step: ClassVar[str] = "ambulance plan"

    def __init__(self, scenario: Scenario, inputs: Inputs, context: PlanContext, plan: AmbulancePlan) -> None:
        self.scenario, self.inputs, self.context, self.plan = scenario, inputs, context, plan

    @classmethod
    def enabled(cls, scenario: Scenario) -> bool:
        """``plans.ambulances.enabled``."""
        return bool(scenario.plans.ambulances.enabled)

    @classmethod
    def from_scenario(cls, scenario: Scenario, inputs: Inputs, context: PlanContext) -> Ambulances:
        """Build the :class:`AmbulancePlan` from ``plans.ambulances`` and the fleet norms of the study area."""
        amb, area = scenario.plans.ambulances, inputs.area
        nt = norms.ambulance_norms(area, amb.per_residents.model_dump(), amb.negative_pressure_share,
                                   per_district_negative_pressure=amb.negative_pressure_per_district)
        counties = list(area.loc[area["norm_class"] == "county", "code"]) if amb.county_centre_required else []
        plan = AmbulancePlan(
            context.travel_times.minutes, inputs.sites, context.points, nt,
            negative_pressure_share=amb.negative_pressure_share,
            per_district_negative_pressure=amb.negative_pressure_per_district, max_vehicles=amb.max_vehicles,
            max_new_stations=amb.max_new_stations, allow_closing=amb.allow_closing,
            station_cost=amb.costs.station, vehicle_cost=amb.costs.vehicle, budget=amb.costs.budget,
            county_codes=counties, model={"mclp": "capacitated"}.get(amb.model, amb.model),
            busy_fraction=amb.busy_fraction, r1_minutes=amb.backup.r1_minutes, alpha=amb.backup.alpha,
            staff_per_vehicle=amb.staff_per_vehicle.model_dump(), shifts=amb.shifts,
        )
        return cls(scenario, inputs, context, plan)

    def solve(self, settings: SolverSettings) -> AmbulancePlanResult:
        """Solve under the run's solver settings, unchanged (log: ``solver_ambulances.log``)."""
        return self.plan.solve(solver=None if settings.name == "auto" else settings.name,
                               time_limit=settings.time_limit_s, gap=settings.gap, threads=settings.threads,
                               log_path=settings.log_path(self.name),
                               relax_norms=settings.relax_norms_if_infeasible)

    def layers(self, result: AmbulancePlanResult) -> PlanLayers:
        """Return the ``stations`` and ``coverage_areas`` layers and the districts' and demand's columns."""
        tt = self.context.travel_times
        cols = ["code", "amb_norm", "amb_planned", "amb_np_planned", "amb_gap", "stations", "pop_covered",
                "pop_beyond_capacity", "pop_outside", "coverage_share", "physicians", "nurses", "drivers"]
        stations = self._station_layer(result)
        points = self.context.points
        minutes = tt.min_time_per_demand(np.isin(tt.site_ids, result.stations["site_id"]))
        status = points["demand_id"].map(result.demand.set_index("demand_id")["status"])
        demand = pd.DataFrame({"demand_id": points["demand_id"].to_numpy(), "status": status.to_numpy(),
                               # NaN: no open station in range
                               "minutes": np.where(np.isfinite(minutes), minutes, np.nan)})
        return PlanLayers(layers={"stations": stations, "coverage_areas": self._coverage_layer(stations)},
                          districts=result.districts[cols], demand=demand)

    def _station_layer(self, result: AmbulancePlanResult) -> gpd.GeoDataFrame:
        s = result.stations.copy()
        tt = self.context.travel_times
        geo = self.inputs.sites.set_index("site_id").geometry
        est = pd.Series(tt.site_estimated, index=tt.site_ids)
        s["estimated"] = s["site_id"].map(est).fillna(False).astype(bool)
        s["name"] = s["site_id"]
        keep = ["site_id", "name", "district_code", "status", "vehicles", "negative_pressure", "np_share",
                "physicians", "nurses", "drivers", "pop_covered", "location_quality", "estimated"]
        return gpd.GeoDataFrame(s[keep], geometry=s["site_id"].map(geo).to_numpy(), crs=4326)

    def _coverage_layer(self, stations: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
        """Drive-time areas of the on-network stations, each at its own district's response standard.

        A county station's area is drawn at ``response_minutes.county``, an urban one's at
        ``response_minutes.urban`` (``area.urban``), as the demand points' standards are.
        """
        on_net = stations[~stations["estimated"]]
        if on_net.empty:
            return gpd.GeoDataFrame({"site_id": [], "minutes": [], "estimated": []}, geometry=[], crs=4326)
        G, standard = self.inputs.graph, self.scenario.response_minutes
        nodes, _ = traveltime.nearest_nodes(G, on_net)
        minutes = np.array([standard.urban if self.scenario.is_urban(code) else standard.county
                            for code in on_net["district_code"]], dtype=float)
        parts = []
        for value in pd.unique(minutes):  # one call per standard; the stations keep their order
            pick = np.flatnonzero(minutes == value)
            part = traveltime.service_areas(G, list(nodes[pick]), float(value))
            parts.append(part.set_axis(pick))
        areas = gpd.GeoDataFrame(pd.concat(parts).sort_index(), geometry="geometry", crs=parts[0].crs)
        areas = areas.reset_index(drop=True)
        areas["site_id"] = on_net["site_id"].to_numpy()
        areas["minutes"] = minutes
        areas["estimated"] = False
        return areas[["site_id", "minutes", "estimated", "geometry"]]

    def summary(self, result: AmbulancePlanResult) -> PlanSummary:
        """Return the fleet KPIs, the modelling notes, the solve's outcome and any relaxed norms."""
        return PlanSummary(
            kpis=dict(result.totals), notes=list(result.notes),
            solver={"status": result.status, "optimal": bool(result.optimal), "gap": result.gap},
            outcome=PlanOutcome(result.status, bool(result.optimal), result.gap, headline=True),
            relaxed=list(result.relaxed), infeasible_reasons=list(result.infeasible_reasons))
