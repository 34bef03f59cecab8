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

Size: the model, its solve loop (first solve, fixed-point rounds, spare vehicles), the result
tables and the pipeline facade all read one AmbulancePlan's state; the next split is the solve
loop into its own module (the rules, search, existing network, phasing, simulation and
strengthening already live beside it).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import geopandas as gpd
import numpy as np
import pandas as pd
import scipy.sparse as sp

from healthopt import norms, traveltime
from healthopt.errors import InfeasiblePlanError, InputError, SolverLimitError
from healthopt.milp.diagnose import relaxation_culprits
from healthopt.milp.lp_first import LpWarm, solve_lp_first
from healthopt.milp.problem import MilpProblem, group_identical_rows
from healthopt.milp.solve import LpBasis, SolverOutput, is_native_highs, solve_problem
from healthopt.models.double_standard import add_double_standard
from healthopt.models.expected import add_expected_coverage, level_layout, levels_needed
from healthopt.models.rules import add_capacity
from healthopt.models.spec import CoverageSpec
from healthopt.plans.ambulance_existing import (
    EXISTING_COLUMNS,
    add_existing,
    existing_by_district,
    existing_columns,
    existing_notes,
    existing_totals,
    fixed_layout,
    relocate_rule,
    start_floors,
)
from healthopt.plans.ambulance_response import ResponseModel, place_spare_vehicles
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
from healthopt.plans.ambulance_simulation import simulated_layers
from healthopt.plans.ambulance_strength import add_effective_vehicles, add_first_level_cut, with_effective_bound
from healthopt.plans.base import Inputs, PlanContext, PlanLayers, PlanOutcome, PlanSummary

if TYPE_CHECKING:
    from healthopt.milp.settings import SolverSettings
    from healthopt.scenario import Scenario

__all__ = ["LEVEL_TAIL", "AmbulancePlan", "AmbulancePlanResult", "Ambulances"]

#: Calibrated MEXCLP levels stop where the uncounted tail q^L is below this share of a group's weight:
#: 50 times below the default 0.05 % gap, and on the baseline 21 % fewer level variables than 1e-6
#: (17,955 against 22,684), which the solve's root LP time follows.
LEVEL_TAIL = 1e-5


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
        keep_open = self.required_open()  # kept existing stations and the county seats
        p.add_variables(
            "open", ns, lb=keep_open.astype(float), ub=1.0, integer=True, obj=-self.open_penalty()
        )  # fewer new stations at equal coverage, seats and road nodes before grid cells
        p.add_variables("v", ns, ub=cap, integer=True)
        catch = self.catchment_population()
        np_reward = self.tie_unit * (0.01 * catch / max(catch.max(), 1.0) - 0.1)  # NP vehicles where most people are
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
        if self.mode == "expand":
            add_existing(self, p)  # the existing fleet as floors, under the relocate rule
        if self.model == "mexclp":
            self._add_mexclp(p)
            if self.strengthen:
                self._add_effective_vehicles(p)
                add_first_level_cut(p, self.mexclp_groups[0], self._mexclp_levels)
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
        nd = len(self.demand)
        # Demand points reached by exactly the same stations, in the same district, are
        # interchangeable: merge them (one district per group, for the district rules).
        cover = sp.csr_matrix((np.ones(site.size), (dem, site)), shape=(nd, len(self.sites)))
        district = pd.factorize(self.demand["district_code"])[0]
        group, reps = group_identical_rows(cover, extra_key=district)
        weight = np.bincount(group, weights=self.demand_weight(), minlength=reps.size)
        reached = np.diff(cover.indptr)[reps] > 0
        reps, weight = reps[reached], weight[reached]
        C = cover[reps]
        q, correction, levels = self._availability(C, reps)
        self.mexclp_groups = (C, weight)
        self.mexclp_group_district = self.demand["district_code"].to_numpy(object)[reps]
        # the one MEXCLP formulation (healthopt.models.expected), on the plan's vehicle block
        y = add_expected_coverage(
            p, C, weight, levels, q, correction=correction, vehicles="v", block="y", group="expected_coverage",
            description="coverage levels backed by vehicles within the standard",
        )  # fmt: skip
        self._mexclp_levels = levels
        coef = p.obj[y.slice] / np.where(np.repeat(weight, levels) > 0, np.repeat(weight, levels), 1.0)
        phi = np.zeros((reps.size, int(levels.max(initial=0)) + 1))
        g_of = np.repeat(np.arange(reps.size), levels)
        _, k_of = level_layout(levels)
        phi[g_of, k_of + 1] = coef
        phi = np.cumsum(phi, axis=1)  # coverage share of a group at 0, 1, ... vehicles within reach
        self.mexclp_phi = phi
        self._add_equity(p, y.slice, g_of)

    def _availability(self, C: sp.csr_matrix, reps: np.ndarray) -> tuple[Any, np.ndarray | None, np.ndarray]:
        """Busy fraction per group, Larson's correction per group and level, and the levels.

        Constant ``busy_fraction``: one ``q`` and ``max_levels`` levels (Daskin 1983). From
        workload: the region's calls × service ÷ (vehicles × year) or, after a solve, the
        vehicle-weighted hypercube busy probability of the plan's stations that reach the
        group (:meth:`solve`); levels stop where the uncounted tail ``q^L`` is below
        :data:`LEVEL_TAIL` of the group's weight, or at the vehicles that can reach it.
        """
        G = C.shape[0]
        hold = np.asarray(C @ np.minimum(self.sites["max_vehicles"].to_numpy(float), self.fleet_cap)).ravel()
        if not self.from_workload:
            K = max(int(self.max_levels or 4), 1)
            return float(self.busy_fraction or 0.0), None, np.full(G, K, dtype=np.int64)
        wl = self.workload
        regions = wl.demand_region[reps]
        fleet = wl.region_fleet(self.district_fleet())
        rho = wl.region_busy(fleet)
        q = np.array([rho.get(r, 0.0) for r in regions], dtype=float)
        if self.station_busy is not None:
            busy, v = self.station_busy
            n = np.asarray(C @ v, dtype=float).ravel()
            b = np.asarray(C @ (busy * v), dtype=float).ravel()
            q = np.where(n > 0, b / np.maximum(n, 1e-12), q)
        q = np.clip(q, 0.0, 0.999)
        levels = np.minimum(levels_needed(q, tail=LEVEL_TAIL), np.maximum(hold, 1)).astype(np.int64)
        if self.level_floor is not None and self.level_floor.shape == levels.shape:
            levels = np.maximum(levels, self.level_floor)
        if self.max_levels is not None and self.busy_fraction is not None:
            levels = np.minimum(levels, int(self.max_levels))
        correction = wl.correction(rho, fleet, regions, int(levels.max(initial=1)))
        return q, correction, levels

    def district_fleet(self) -> dict[str, int]:
        """Vehicles per district the fleet norm asks for (the plan's fleet when the budget is the norm)."""
        return dict(zip(self.norms["code"], self.norms["min_vehicles"].astype(int), strict=True))

    def _add_equity(self, p: MilpProblem, y: slice, g_of: np.ndarray) -> None:
        """Per district, expected calls covered ÷ calls: at least ``min_share_reached``; max-min block ``worst``."""
        if self.min_share_reached is None and not self.maximise_worst_district:
            return
        codes = list(self.norms["code"])
        pos = {c: k for k, c in enumerate(codes)}
        total = pd.Series(self.demand_weight()).groupby(self.demand["district_code"].to_numpy()).sum()
        need = np.array([float(total.get(c, 0.0)) for c in codes])
        rows = np.array([pos.get(d, -1) for d in self.mexclp_group_district[g_of]])
        ok = (rows >= 0) & (need[np.maximum(rows, 0)] > 0)
        coef = p.obj[y][ok] / need[rows[ok]]
        cols = np.flatnonzero(ok)
        E = sp.csr_matrix((coef, (rows[ok], cols)), shape=(len(codes), y.stop - y.start))
        live = need > 0
        self._equity = E[live]
        if self.min_share_reached is not None:
            what = "calls" if self.from_workload else "residents"
            p.add_constraints("district_share", {"y": E[live]}, lb=float(self.min_share_reached),
                              description=f"an expected {self.min_share_reached:.0%} of {what} covered "
                                          "in every district")
        if self.maximise_worst_district:
            p.add_variables("worst", 1, ub=1.0)
            p.add_constraints("worst_district", {"y": E[live], "worst": -np.ones((int(live.sum()), 1))}, lb=0.0,
                              relaxable=False, description="the worst district's expected share of calls covered")

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
        self.station_busy, self.rounds, self.converged, self.spare_moves = None, [], False, []
        self.level_floor, self._lp_warm = None, None
        if self.mode == "evaluate":  # the layer's layout as it is: nothing to check or optimise
            if self.model == "mexclp":
                self.build()  # the expected-coverage groups the result reports (no solve)
            p, out = fixed_layout(self)
            return self._result(p, out, solver)
        args = (solver, time_limit, gap, threads, log_path)
        try:
            self.check()
        except InfeasiblePlanError as exc:
            if not relax_norms:
                raise
            return self.solve_relaxed(exc.reasons, *args)
        # The time limit is the whole plan's: the first solve (from the greedy start, the hardest)
        # may use half of it, the fixed-point rounds (each from the previous plan) share what is left.
        rounds = int(self.hypercube_rounds) if self.model == "mexclp" and self.from_workload else 0
        deadline = None if time_limit is None else time.monotonic() + time_limit
        first_limit = time_limit if time_limit is None or not rounds else max(time_limit / 2, min(time_limit, 1.0))
        p, out = self._solve_round(solver, first_limit, gap, threads, log_path, previous=None)
        if out.x is None:
            reasons = self._diagnose(p, solver, out)
            if relax_norms and out.status_code == "infeasible":
                return self.solve_relaxed(reasons, *args)
            raise InfeasiblePlanError(reasons)
        p, out = self._fixed_point(p, out, solver, deadline, gap, threads, log_path)
        out = self._spare_to_calls(p, out)
        return self._result(p, out, solver)

    def _spare_to_calls(self, p: MilpProblem, out: SolverOutput) -> SolverOutput:
        """Move vehicles the expected coverage does not need to where they cut expected response time most.

        Station set and district fleets stay as solved; the expected coverage may fall by at
        most :data:`LEVEL_TAIL` of all calls in total (the levels' own cut-off), and the plan
        must still satisfy every row (equity included); otherwise the solved plan is kept.
        """
        self.spare_moves = []
        if not (self.model == "mexclp" and self.from_workload and self.spare_to_calls) or out.x is None:
            return out
        v = np.round(p.value(out.x, "v")).astype(np.int64)
        load = self.workload.station_load(v)
        cover, weight = self.mexclp_groups
        phi = self.mexclp_phi
        response = ResponseModel(minutes=self.minutes, calls=self.workload.calls,
                                 standard=self.demand["standard_minutes"].to_numpy(float), stations=v > 0,
                                 busy=load.busy)
        v2, moves = place_spare_vehicles(
            v=v, district=self.sites["district_code"].to_numpy(object), cap=self.sites["max_vehicles"].to_numpy(int),
            floor=self._spare_floor(), response=response,
            coverage=lambda w: float(weight @ _coverage_at(phi, cover, w)), tol=LEVEL_TAIL * float(weight.sum()),
            max_moves=self.fleet_cap)  # fmt: skip
        if not moves:
            return out
        x = self._start_vector(p, v2)
        if x is None:
            return out
        x[p.blocks["n"].slice] = np.minimum(p.value(out.x, "n"), v2)  # NP vehicles stay where the solve put them...
        if not self._feasible(p, x):  # ...unless a move took one: then the greedy NP placement
            x = self._start_vector(p, v2)
            assert x is not None
        self.spare_moves = moves
        return replace(out, x=x, objective=float(p.obj @ x + p.offset))

    def _spare_floor(self) -> np.ndarray:
        """Vehicles the spare-vehicle pass leaves at each site: kept stations, and (expand) the existing fleet."""
        floor = self.required_open().astype(int)
        if self.mode == "expand" and self.relocate == "none":
            floor = np.maximum(floor, start_floors(self)[0])
        return floor

    def _solve_round(self, solver: str | None, time_limit: float | None, gap: float | None, threads: int | None,
                     log_path: str | Path | None, previous: np.ndarray | None) -> tuple[MilpProblem, SolverOutput]:
        """Build and solve once (max-min first when asked), from ``previous`` (if feasible) or the greedy plan."""
        p = self.build()

        def best_start() -> np.ndarray | None:
            # a fixed-point round starts from the last plan: on the baseline it beats a fresh greedy +
            # local search (2.3 s) by 100-145 expected calls under the round's new busy probabilities
            again = None if previous is None else self._start_vector(p, previous)
            return again if again is not None else self.greedy_start(p)

        if self._lp_first(p, solver):  # the start is built while HiGHS solves the LP relaxation
            out = solve_lp_first(p, start=best_start, fix="open", time_limit=time_limit, gap=gap,
                                 threads=threads, log_path=log_path, warm=self._warm_lp(p))
            bound = getattr(self, "_effective_levels", None)
            self._lp_warm = (self._mexclp_levels.copy(), out.lp_basis, None if bound is None else bound.copy())
            _require_solution(out, time_limit)
            return p, out
        start = best_start()
        if "worst" in p.blocks:  # lexicographic: the worst district's share first, then the objective
            first = p.copy()
            first.set_objective({"worst": 1.0}, sense="max")
            out1 = solve_problem(first, solver, time_limit, gap, threads, None, start=start)
            _require_solution(out1, time_limit)
            if out1.x is None:
                return p, out1
            worst = float(p.value(out1.x, "worst")[0])
            p.set_bounds("worst", lb=max(worst - 1e-7, 0.0))
            start = start if start is not None and p.value(start, "worst")[0] >= worst - 1e-7 else out1.x
        out = solve_problem(p, solver, time_limit, gap, threads, log_path, start=start)
        _require_solution(out, time_limit)
        return p, out

    def _warm_lp(self, p: MilpProblem) -> LpWarm | None:
        """Return the last round's LP basis in ``p``'s columns: its levels kept, the levels ``p`` adds nonbasic at zero.

        Where the added levels raised a station's effective-vehicle bound, the basis is
        primal feasible only with the old bound: that problem is the restart's ``via``.
        """
        if self._lp_warm is None:
            return None
        old_levels, basis, old_bound = self._lp_warm
        if basis is None:
            return None
        new_levels = self._mexclp_levels
        if old_levels.shape != new_levels.shape or np.any(new_levels < old_levels):
            return None
        y = p.blocks["y"].slice
        n_old = int(old_levels.sum())
        if basis.col.size - n_old != p.n_vars - int(new_levels.sum()) or basis.row.size != p.n_rows:
            return None
        new_y = np.zeros(int(new_levels.sum()), dtype=basis.col.dtype)  # 0: nonbasic at the lower bound
        _, k_of = level_layout(old_levels)
        at = np.repeat(level_layout(new_levels)[0], old_levels) + k_of  # old (group, level) positions in p
        new_y[at] = basis.col[y.start:y.start + n_old]
        col = np.concatenate([basis.col[:y.start], new_y, basis.col[y.start + n_old:]])
        bound = getattr(self, "_effective_levels", None)
        via = None
        if bound is not None and old_bound is not None and not np.array_equal(bound, old_bound):
            via = with_effective_bound(p, old_bound)
        return LpWarm(LpBasis(col, basis.row), via)

    def _lp_first(self, p: MilpProblem, solver: str | None) -> bool:
        """Whether to solve LP first (:mod:`healthopt.milp.lp_first`): HiGHS, a greedy start, one objective."""
        return self.model == "mexclp" and self.budget is None and "worst" not in p.blocks and is_native_highs(solver)

    def _fixed_point(self, p: MilpProblem, out: SolverOutput, solver: str | None, deadline: float | None,
                     gap: float | None, threads: int | None,
                     log_path: str | Path | None) -> tuple[MilpProblem, SolverOutput]:
        """Iterate location <-> queueing (adjusted MEXCLP, Batta, Dolan & Krishnamurthy 1989).

        Each round takes the hypercube busy probabilities of the last plan's stations, re-solves
        with them, and stops when the plan repeats or after :attr:`hypercube_rounds` rounds;
        :attr:`rounds` records each round's plan change and mean busy probability.
        """
        if not (self.model == "mexclp" and self.from_workload):
            return p, out
        assert out.x is not None
        v = np.round(p.value(out.x, "v")).astype(np.int64)
        seen = [v]
        for k in range(int(self.hypercube_rounds)):
            kept_busy, kept_floor = self.station_busy, self.level_floor  # what ``p`` was built with
            load = self.workload.station_load(v)
            self.station_busy = (load.busy, v.astype(float))
            self.level_floor = self._mexclp_levels.copy()
            left = None if deadline is None else max((deadline - time.monotonic()) / (self.hypercube_rounds - k), 1.0)
            p2, out2 = self._solve_round(solver, left, gap, threads, log_path, previous=v)
            if out2.x is None or (out2.gap is None and out.gap is not None):
                # a round the time limit stopped before any bound proves nothing: keep the last plan,
                # and rebuild its problem so that the groups and levels the result reads are its own
                self.rounds.append({"round": k + 1, "vehicles_moved": 0, "kept_previous": 1})
                self.station_busy, self.level_floor = kept_busy, kept_floor
                p = self.build()
                break
            p, out = p2, out2
            v2 = np.round(p.value(out2.x, "v")).astype(np.int64)
            moved = int(np.abs(v2 - v).sum()) // 2
            self.rounds.append({"round": k + 1, "vehicles_moved": moved})
            repeated = any(np.array_equal(v2, old) for old in seen)
            v = v2
            seen.append(v)
            if repeated:
                self.converged = True
                break
        return p, out

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
        their norms (each district short by its share rounded down or up), so that no
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
        greedy = self._fair_start(fair, out1.x)
        if greedy is not None and (start is None or fair.obj @ greedy > fair.obj @ start):
            start = greedy
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
        """Hold each district's fleet shortfall at its share of the total, rounded down or up.

        See :data:`RELAXED_SHORTFALL_RULE`, which the summary carries as ``relaxed_shortfall_rule``.
        """
        short = float(p.value(x, "short_fleet").sum())
        norm = self.norms["min_vehicles"].to_numpy(float)
        share = short * norm / max(norm.sum(), 1.0)
        caps, floors = np.ceil(share - 1e-9), np.floor(share + 1e-9)
        fair = p.copy()
        fair.set_bounds("short_fleet", ub=caps)  # short by at most the share rounded up...
        D, _ = self._district_matrix()
        fair.add_constraints("fair_share", {"v": D}, ub=norm - floors, relaxable=False,
                             description="each district short by its share of the shortfall")  # rounded down
        got = D @ p.value(x, "v")
        fits = bool(np.all(p.value(x, "short_fleet") <= caps + 1e-6) and np.all(got <= norm - floors + 1e-6))
        return fair, (x if fits else None)

    def _fair_start(self, fair: MilpProblem, x: np.ndarray) -> np.ndarray | None:
        """Greedy + local-search start for the relaxed plan, at district fleets within the fair shares.

        Each district gets its norm less its share of the shortfall rounded up, and the
        vehicles left over (of the first solve's fleet) go one each to the districts whose
        share was rounded, largest first; the greedy then places exactly those fleets.
        Without it the second solve starts from the first one's plan, which ignores coverage.
        """
        if self.model != "mexclp" or self.budget is not None or "short_fleet" not in fair.blocks:
            return None
        norm = self.norms["min_vehicles"].to_numpy(float)
        share = float(fair.value(x, "short_fleet").sum()) * norm / max(norm.sum(), 1.0)  # as _proportional
        caps, floors = np.ceil(share - 1e-9), np.floor(share + 1e-9)
        fleet = np.maximum(norm - caps, 0.0)
        extra = int(np.round(fair.value(x, "v")).sum()) - int(fleet.sum())
        for d in np.argsort(-(share - floors), kind="stable"):  # rounded shares, largest remainder first
            if extra <= 0:
                break
            if caps[d] > floors[d]:
                fleet[d] += 1
                extra -= 1
        saved = (self.norms, self.max_vehicles)
        self.norms = self.norms.assign(min_vehicles=fleet.astype(int))
        self.max_vehicles = int(fleet.sum())
        try:
            cover, weight = self.mexclp_groups
            v = greedy_vehicles(self, cover, weight)
            if v is not None:
                v = VehicleSearch(self, cover, weight).run(v, max_moves=self.fleet_cap + len(self.sites))
        finally:
            self.norms, self.max_vehicles = saved
        if v is None:
            return None
        D, _ = self._district_matrix()
        start = self._start_values(fair, v)
        start[fair.blocks["short_fleet"].slice] = np.maximum(norm - D @ v, 0.0)
        n, vv = start[fair.blocks["n"].slice], start[fair.blocks["v"].slice]
        np_share = self.negative_pressure_share
        if "short_np" in fair.blocks:
            start[fair.blocks["short_np"].slice] = max(np_share * vv.sum() - n.sum(), 0.0)
        if "short_np_district" in fair.blocks:
            start[fair.blocks["short_np_district"].slice] = np.maximum(np_share * (D @ vv) - D @ n, 0.0)
        return start if self._feasible(fair, start) else None

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
        return self._start_vector(p, v)

    def _start_vector(self, p: MilpProblem, v: np.ndarray) -> np.ndarray | None:
        """Return the full solution vector of the MEXCLP plan ``v`` (vehicles per site), or ``None`` if infeasible."""
        x = self._start_values(p, v)
        return x if self._feasible(p, x) else None

    def _start_values(self, p: MilpProblem, v: np.ndarray) -> np.ndarray:
        """Return the solution vector of the MEXCLP plan ``v`` (shortfall variables, if any, at zero)."""
        cover, _ = self.mexclp_groups
        x = np.zeros(p.n_vars)
        x[p.blocks["open"].slice] = (v > 0) | self.required_open()
        x[p.blocks["v"].slice] = v
        x[p.blocks["n"].slice] = np.minimum(np.maximum(greedy_negative_pressure(self, v), start_floors(self)[1]), v)
        levels = self._mexclp_levels
        level = np.asarray(cover @ v).ravel()
        _, k_of = level_layout(levels)
        x[p.blocks["y"].slice] = k_of < np.repeat(level, levels)
        self._fill_effective(p, x)
        if "worst" in p.blocks:
            x[p.blocks["worst"].slice] = self.district_shares(x[p.blocks["y"].slice]).min(initial=1.0)
        return x

    @staticmethod
    def _feasible(p: MilpProblem, x: np.ndarray) -> bool:
        A, lo, hi = p.assemble()
        row = A @ x
        return bool(np.all(row >= lo - 1e-6) and np.all(row <= hi + 1e-6))

    def district_shares(self, y: np.ndarray) -> np.ndarray:
        """Return the expected share of calls covered in each district with calls, for MEXCLP levels ``y``."""
        return np.asarray(self._equity @ y).ravel()

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
        stations = existing_columns(self, station_table(self, v, n, served_by_site))
        demand = demand_table(self, v, served)
        districts = existing_by_district(self, district_table(self, stations, demand))
        self._add_workload_columns(v, stations, districts)
        totals = {**fleet_totals(self, stations, demand), **existing_totals(self, stations)}
        totals["model_sentence"] = self.model_sentence()
        totals["reach_delay_minutes"] = float(self.dispatch_delay_minutes)  # "within reach" = travel ≤ standard − this
        totals["relaxed_shortfall_rule"] = RELAXED_SHORTFALL_RULE
        if self.model == "mexclp":
            cover, weight = self.mexclp_groups
            expected = float(weight @ _coverage_at(self.mexclp_phi, cover, v))
            totals["calls_expected" if self.from_workload else "pop_expected_total"] = float(weight.sum())
            totals["calls_covered_expected" if self.from_workload else "pop_covered_expected"] = round(expected, 3)
        if self.rounds:
            totals["fixed_point_rounds"] = list(self.rounds)
        if self.model == "mexclp" and self.from_workload:
            load = self.workload.station_load(v)
            response = ResponseModel(minutes=self.minutes, calls=self.workload.calls,
                                     standard=self.demand["standard_minutes"].to_numpy(float), stations=v > 0,
                                     busy=load.busy)
            calls = float(self.workload.calls.sum())
            totals["response_minutes_expected"] = round(response.total(v) / calls, 3) if calls > 0 else None
            totals["spare_vehicles_moved"] = len(self.spare_moves)
        notes = ([] if self.mode == "evaluate" else self._notes()) + existing_notes(self, stations)
        return AmbulancePlanResult(
            stations, districts, demand, totals, out.status, out.status_code, out.gap, out.objective, out.seconds, notes
        )

    def _add_workload_columns(self, v: np.ndarray, stations: pd.DataFrame, districts: pd.DataFrame) -> None:
        """Add busy probability and expected calls per station, calls and busy fraction per district."""
        if not self.from_workload:
            stations["busy_probability"] = float(self.busy_fraction or 0.0)
            return
        wl = self.workload
        load = wl.station_load(v)
        pos = self.sites.reset_index(drop=True).reset_index().set_index("site_id")["index"]
        at = stations["site_id"].map(pos).to_numpy(int)
        stations["busy_probability"] = np.round(load.busy[at], 6)
        stations["calls_expected"] = np.round(load.calls[at], 1)
        calls = pd.Series(wl.calls).groupby(self.demand["district_code"].to_numpy()).sum()
        districts["calls_expected"] = districts["code"].map(calls).fillna(0.0).round(1)
        region = districts["code"].map(wl.region_of)
        districts["busy_fraction"] = region.map(load.region_busy).astype(float).round(6)
        districts["dispatch_region"] = region

    def _fixed_point_end(self) -> str:
        if self.converged:
            return "the plan repeated"
        if self.rounds and self.rounds[-1].get("kept_previous"):
            return "the last re-solve hit the time limit before any bound, so the plan before it is kept"
        return "stopped at the round limit"

    def model_sentence(self) -> str:
        """Return the model in one plain sentence, for the report."""
        reach = self._reach_words()
        if self.model == "mexclp" and self.from_workload:
            return (f"Stations and ambulances maximise the expected number of emergency calls reached within the "
                    f"response standard{reach}, each ambulance being busy as often as its share of the calls "
                    "(calls × service time ÷ ambulances, refined station by station with Larson's hypercube "
                    "approximation and re-solved until the plan repeats), with at least the fleet norm in "
                    "every district and a station at every county seat.")
        if self.model == "mexclp":
            return (f"Stations and ambulances maximise the residents expected to be reached within the response "
                    f"standard{reach}, every ambulance being busy a fixed {self.busy_fraction:.0%} of the time "
                    f"(Daskin's MEXCLP), with at least the fleet norm in every district.")
        if self.model == "dsm":
            return ("Every resident is within the response standard and as many as possible are reached by two "
                    "ambulances within the tighter radius (double standard model), with the fleet norm in every "
                    "district.")
        return ("Stations and ambulances maximise the residents within the response standard of a station with "
                "capacity for them (each ambulance serving at most the norm's residents), with the fleet norm in "
                "every district.")

    def _reach_words(self) -> str:
        """Return how coverage counts the dispatch delay, for the model sentence ('' without delay)."""
        if not self.dispatch_delay_minutes:
            return ""
        return (f" (a station covers a call when its travel time plus the {self.dispatch_delay_minutes:g}-min mean "
                f"dispatch delay is within the standard)")

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
        if self.model == "mexclp" and not self.from_workload:
            notes.append(
                f"Stations chosen by expected coverage (MEXCLP, busy fraction "
                f"{self.busy_fraction}); capacity breakdown computed for that fleet."
            )
        if self.model == "mexclp" and self.from_workload:
            rounds = len(self.rounds)
            notes.append(
                "Stations chosen by expected calls reached (adjusted MEXCLP): busy fractions from calls × "
                f"{self.service_minutes:g} min service ÷ ambulances per dispatch region (the urban districts "
                "one region, each county its own), then hypercube busy probabilities of the plan's stations, "
                f"{rounds} re-solve round(s) "
                f"({self._fixed_point_end()}); "
                f"coverage levels stop where the uncounted tail q^L is at most {LEVEL_TAIL:g} of a group's calls. "
                "Call rates and the service time are estimates (no Taiyuan 120 statistic is published)."
            )
        return notes


# --------------------------------------------------------------------------- helpers


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as plain JSON values (``None`` for missing)."""
    return [{k: (None if pd.isna(v) else v.item() if hasattr(v, "item") else v) for k, v in row.items()}
            for row in frame.to_dict(orient="records")]  # fmt: skip


#: What a budget-cut (relaxed-norm) plan does with the missing ambulances, as the report should say it.
RELAXED_SHORTFALL_RULE = (
    "The missing ambulances are shared among the districts in proportion to their fleet norms: each district is "
    "short by its share of the total shortfall rounded down or up; only if station limits make that impossible "
    "does coverage alone decide."
)


def _coverage_at(phi: np.ndarray | None, cover: sp.csr_matrix, v: np.ndarray) -> np.ndarray:
    """Coverage share of each MEXCLP group for vehicles ``v`` (the model's objective per unit weight)."""
    assert phi is not None
    level = np.minimum(np.asarray(cover @ v).ravel(), phi.shape[1] - 1).astype(np.int64)
    return phi[np.arange(level.size), level]


def _workload_options(amb: Any) -> dict[str, Any]:
    """Return the calls, service time, fixed-point rounds and equity of ``plans.ambulances``.

    Call rates and the service time are read from ``plans.ambulances.calls`` when the
    scenario schema has it (the call simulation's section), else the norms table.
    """
    calls = getattr(amb, "calls", None)
    out: dict[str, Any] = {"hypercube_rounds": int(amb.hypercube_rounds),
                           "min_share_reached": amb.equity.min_share_reached,
                           "maximise_worst_district": bool(amb.equity.maximise_worst_district)}
    if calls is not None:
        out["call_rates"] = {"urban": float(calls.per_1000_urban), "county": float(calls.per_1000_county)}
        out["service_minutes"] = float(calls.service_minutes)
        out["dispatch_delay_minutes"] = float(calls.dispatch_delay_minutes)
    return out


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
        self._simulated: tuple[AmbulancePlanResult, Any] | None = None

    def simulated(self, result: AmbulancePlanResult) -> Any:
        """Return the plan's call simulation (:func:`.ambulance_simulation.simulated_layers`), run once."""
        if self._simulated is None or self._simulated[0] is not result:
            self._simulated = (result, simulated_layers(scenario=self.scenario, inputs=self.inputs,
                                                        context=self.context, stations=result.stations))
        return self._simulated[1]

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
            busy_fraction=None if amb.busy_fraction == "workload" else float(amb.busy_fraction),
            max_levels=None if amb.busy_fraction == "workload" else 4, **_workload_options(amb),
            r1_minutes=amb.backup.r1_minutes, alpha=amb.backup.alpha,
            staff_per_vehicle=amb.staff_per_vehicle.model_dump(), shifts=amb.shifts,
            mode=amb.mode, relocate=relocate_rule(amb.relocate),
        )
        spec = scenario.data.stations
        if amb.mode != "greenfield" and spec is not None and not inputs.sites.get("vehicles_given", pd.Series(
                [False])).any():
            raise InputError(spec.path, spec.vehicles_field, f"required column missing: mode {amb.mode} needs "
                                                             "each existing station's ambulances")
        return cls(scenario, inputs, context, plan)

    def solve(self, settings: SolverSettings) -> AmbulancePlanResult:
        """Solve under the run's solver settings, unchanged (log: ``solver_ambulances.log``)."""
        if self.scenario.plans.ambulances.phasing is not None:
            return self._solve_phased(settings)
        return self.plan.solve(solver=None if settings.name == "auto" else settings.name,
                               time_limit=settings.time_limit_s, gap=settings.gap, threads=settings.threads,
                               log_path=settings.log_path(self.name),
                               relax_norms=settings.relax_norms_if_infeasible)

    def _solve_phased(self, settings: SolverSettings) -> AmbulancePlanResult:
        """Solve the plan year by year (``plans.ambulances.phasing``); the result is the final year's."""
        from healthopt.plans.ambulance_phasing import PhaseYear, phase_plan

        sc = self.scenario
        amb = sc.plans.ambulances
        assert amb.phasing is not None
        phases = [PhaseYear(y.year, y.vehicles_added, y.new_stations, y.fleet_norm_share) for y in amb.phasing.years]
        phased = phase_plan(self.plan, phases, base_vehicles=amb.baseline.vehicles,
                            base_negative_pressure=amb.baseline.negative_pressure,
                            base_stations=amb.baseline.stations,
                            growth_per_year=sc.population.growth_per_year,
                            solver=None if settings.name == "auto" else settings.name,
                            time_limit=settings.time_limit_s, gap=settings.gap, threads=settings.threads,
                            compare_myopic=True)  # fmt: skip
        result = phased.final
        result.phasing = phased
        result.notes = [*result.notes, *phased.notes]
        return result

    def layers(self, result: AmbulancePlanResult) -> PlanLayers:
        """Return the ``stations`` and ``coverage_areas`` layers and the districts' and demand's columns."""
        tt = self.context.travel_times
        cols = ["code", "amb_norm", "amb_planned", "amb_np_planned", "amb_gap", "stations", "pop_covered",
                "pop_beyond_capacity", "pop_outside", "coverage_share", "physicians", "nurses", "drivers",
                "amb_existing", "amb_added"]
        cols += [c for c in ("calls_expected", "busy_fraction") if c in result.districts]  # workload model
        stations = self._station_layer(result)
        points = self.context.points
        minutes = tt.min_time_per_demand(np.isin(tt.site_ids, result.stations["site_id"]))
        status = points["demand_id"].map(result.demand.set_index("demand_id")["status"])
        demand = pd.DataFrame({"demand_id": points["demand_id"].to_numpy(), "status": status.to_numpy(),
                               # NaN: no open station in range
                               "minutes": np.where(np.isfinite(minutes), minutes, np.nan)})
        districts = result.districts[cols]
        if (sim := self.simulated(result)) is not None:  # the simulated headline, per district and station
            districts = districts.merge(sim.districts, on="code", how="left")
            stations = stations.merge(sim.stations, on="site_id", how="left")
        return PlanLayers(layers={"stations": stations, "coverage_areas": self._coverage_layer(stations)},
                          districts=districts, demand=demand)

    def _station_layer(self, result: AmbulancePlanResult) -> gpd.GeoDataFrame:
        s = result.stations.copy()
        tt = self.context.travel_times
        geo = self.inputs.sites.set_index("site_id").geometry
        est = pd.Series(tt.site_estimated, index=tt.site_ids)
        s["estimated"] = s["site_id"].map(est).fillna(False).astype(bool)
        s["name"] = self._station_names(s)
        keep = ["site_id", "name", "district_code", "status", "vehicles", "negative_pressure", "np_share",
                "physicians", "nurses", "drivers", "pop_covered", "location_quality", "estimated"]
        keep += [c for c in EXISTING_COLUMNS if c in s]  # before/after per station (mode expand)
        keep += [c for c in ("kind", "busy_probability", "calls_expected") if c in s]  # site kind, workload model
        if result.phasing is not None:  # the year each station first has vehicles
            first = result.phasing.schedule.groupby("site_id")["opened"].min()
            s["opened"] = s["site_id"].map(first).astype("Int64")
            keep.append("opened")
        return gpd.GeoDataFrame(s[keep], geometry=s["site_id"].map(geo).to_numpy(), crs=4326)

    def _station_names(self, s: pd.DataFrame) -> pd.Series:
        """Street / place names of the stations (one naming rule everywhere: healthopt._naming)."""
        from healthopt._naming import name_sites

        return name_sites(s["site_id"], inputs=self.inputs)

    def _coverage_layer(self, stations: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
        """Drive-time areas of the on-network stations, each at its own district's standard less the dispatch delay.

        A county station's area is drawn at ``response_minutes.county``, an urban one's at
        ``response_minutes.urban`` (``area.urban``), as the demand points' standards are, each
        less the mean dispatch delay: the travel time the model counts as covered.
        """
        on_net = stations[~stations["estimated"]]
        if on_net.empty:
            return gpd.GeoDataFrame({"site_id": [], "minutes": [], "estimated": []}, geometry=[], crs=4326)
        G, standard = self.inputs.graph, self.scenario.response_minutes
        nodes, _ = traveltime.nearest_nodes(G, on_net)
        minutes = np.array([standard.urban if self.scenario.is_urban(code) else standard.county
                            for code in on_net["district_code"]], dtype=float) - float(self.plan.dispatch_delay_minutes)
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
        sim = self.simulated(result)
        section = None if sim is None else dict(sim.section)
        if result.phasing is not None:
            ph = result.phasing
            section = {**(section or {}), "phasing": {
                "years": _records(ph.years), "schedule": _records(ph.schedule),
                "objective": ph.objective, "myopic_objective": ph.myopic_objective,
                "status": ph.status, "gap": ph.gap}}  # fmt: skip
        return PlanSummary(
            kpis=dict(result.totals), notes=list(result.notes) + ([] if sim is None else sim.notes),
            section=section,
            solver={"status": result.status, "optimal": bool(result.optimal), "gap": result.gap},
            outcome=PlanOutcome(result.status, bool(result.optimal), result.gap, headline=True),
            relaxed=list(result.relaxed), infeasible_reasons=list(result.infeasible_reasons))
