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

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from healthopt.errors import InfeasiblePlanError, SolverLimitError
from healthopt.milp.solve import SolverOutput, solve_problem
from healthopt.models.base import MilpProblem, group_identical_rows, relaxation_culprits

INF = math.inf


@dataclass
class AmbulancePlanResult:
    """Outcome of :class:`AmbulancePlan`.

    Attributes
    ----------
    stations : DataFrame
        One row per open station: site_id, district_code, status (existing / new),
        vehicles, negative_pressure, staff by role, pop_covered.
    districts : DataFrame
        Per district: norm, planned vehicles and NP vehicles, gap to norm, population
        covered / beyond capacity / outside, coverage share, staff.
    demand : DataFrame
        Per demand point: status (covered / beyond_capacity / outside), served residents.
    totals : dict
        Fleet, NP share, coverage and staff totals.
    status, gap, objective, solve_seconds
        Solver outcome in plain words.
    notes : list of str
        Modelling notes for the report (e.g. nearest-k restriction, no existing stations).
    relaxed : list of str
        Norms the plan misses, in planning terms (only when solved with relaxed norms).
    infeasible_reasons : list of str
        Why the plan with the full norms is impossible (only when norms were relaxed).
    """

    stations: pd.DataFrame
    districts: pd.DataFrame
    demand: pd.DataFrame
    totals: dict[str, Any]
    status: str
    status_code: str
    gap: float | None
    objective: float | None
    solve_seconds: float
    notes: list[str] = field(default_factory=list)
    relaxed: list[str] = field(default_factory=list)
    infeasible_reasons: list[str] = field(default_factory=list)

    @property
    def optimal(self) -> bool:
        """Whether the plan is proven optimal (within the requested gap)."""
        return self.status_code in ("optimal", "optimal_within_gap")


@dataclass
class AmbulancePlan:
    """Ambulance station and fleet plan (see module docstring).

    Parameters
    ----------
    minutes : scipy.sparse.csr_matrix
        Sites × demand travel times (minutes; stored entries are reachable pairs,
        explicit zeros allowed).
    sites : DataFrame
        ``site_id, district_code, existing (bool), max_vehicles``; optional ``cost``.
    demand : DataFrame
        ``demand_id, district_code, population, standard_minutes``.
    norms : DataFrame
        :func:`healthopt.norms.ambulance_norms` output (``code, name_zh, norm_class,
        residents, residents_per_vehicle, min_vehicles, min_negative_pressure``).
    """

    minutes: sp.csr_matrix
    sites: pd.DataFrame
    demand: pd.DataFrame
    norms: pd.DataFrame
    negative_pressure_share: float = 0.40
    per_district_negative_pressure: bool = False
    max_vehicles: int | None = None
    max_new_stations: int | None = None
    allow_closing: bool = False
    station_cost: float | None = None
    vehicle_cost: float | None = None
    budget: float | None = None
    county_codes: list[str] = field(default_factory=list)
    model: str = "mexclp"
    busy_fraction: float = 0.3
    max_levels: int = 4
    r1_minutes: float = 8.0
    alpha: float = 0.75
    nearest_k: int = 12
    staff_per_vehicle: dict[str, int] = field(default_factory=lambda: {"physician": 1, "nurse": 1, "driver": 1})
    shifts: int = 3

    # ------------------------------------------------------------------ checks
    def __post_init__(self) -> None:
        self.sites = self.sites.reset_index(drop=True)
        self.demand = self.demand.reset_index(drop=True)
        self.norms = self.norms.reset_index(drop=True)
        self._pairs = _coverage_pairs(self.minutes, self.demand["standard_minutes"].to_numpy(float))
        self._rpv = self.norms.set_index("code")["residents_per_vehicle"]

    @property
    def fleet_norm(self) -> int:
        """Total ambulances the norms require."""
        return int(self.norms["min_vehicles"].sum())

    @property
    def fleet_cap(self) -> int:
        """Ambulances the plan may deploy (budget, or the norm total when no budget)."""
        return int(self.max_vehicles) if self.max_vehicles is not None else self.fleet_norm

    def check(self) -> None:
        """Explain, before solving, every norm that the budgets cannot meet."""
        reasons = self._fleet_reasons() + self._district_reasons() + self._station_reasons()
        reasons += self._dsm_reasons()
        reasons += self._cost_reasons()
        if reasons:
            raise InfeasiblePlanError(reasons)

    def _fleet_reasons(self) -> list[str]:
        if self.max_vehicles is None or self.max_vehicles >= self.fleet_norm:
            return []
        worst = self.norms.sort_values("min_vehicles", ascending=False).iloc[0]
        return [
            f"the fleet norm needs {self.fleet_norm} ambulances in the study area "
            f"(largest: {worst['name_zh']} {int(worst['min_vehicles'])}); the fleet budget "
            f"allows {self.max_vehicles}"
        ]

    def _district_reasons(self) -> list[str]:
        cap = self.sites.groupby("district_code")["max_vehicles"].sum()
        out = []
        for row in self.norms.itertuples():
            available = int(cap.get(row.code, 0))
            if available < row.min_vehicles:
                out.append(
                    f"{row.name_zh} needs {row.min_vehicles} ambulances by norm; its candidate "
                    f"stations can hold at most {available}"
                )
            if row.code in self.county_codes and row.code not in cap.index:
                out.append(f"{row.name_zh} must keep a county emergency centre but has no candidate site")
        return out

    def _min_stations(self) -> pd.Series:
        per = self.sites.groupby("district_code")["max_vehicles"].max()
        need = {}
        for row in self.norms.itertuples():
            size = max(float(per.get(row.code, 1)), 1.0)
            need[row.code] = max(math.ceil(row.min_vehicles / size), 1 if row.code in self.county_codes else 0)
        return pd.Series(need, dtype="int64")

    def _station_reasons(self) -> list[str]:
        if self.max_new_stations is None:
            return []
        existing = self.sites[self.sites["existing"]].groupby("district_code").size()
        need = self._min_stations()
        new_needed = int(sum(max(int(n) - int(existing.get(c, 0)), 0) for c, n in need.items()))
        if new_needed <= self.max_new_stations:
            return []
        size = int(self.sites["max_vehicles"].max())
        return [
            f"the fleet norms need at least {new_needed} new stations (at most {size} "
            f"ambulances per station); the scenario allows {self.max_new_stations} new stations"
        ]

    def _dsm_reasons(self) -> list[str]:
        if self.model != "dsm":
            return []
        pop = self.demand["population"].to_numpy(float)
        reached = np.zeros(len(pop), dtype=bool)
        reached[self._pairs[1]] = True
        lost = (~reached) & (pop > 0)
        if not lost.any():
            return []
        worst = self.demand.loc[lost].groupby("district_code")["population"].sum().idxmax()
        name = self.norms.set_index("code")["name_zh"].get(worst, worst)
        return [f"the double standard model needs every resident within the response standard, but "
                f"{pop[lost].sum():,.0f} residents (most in {name}) have no candidate station that close"]

    def _cost_reasons(self) -> list[str]:
        if self.budget is None:
            return []
        cost = (self.vehicle_cost or 0.0) * self.fleet_norm
        cost += (self.station_cost or 0.0) * max(int(self._min_stations().sum()) - int(self.sites["existing"].sum()), 0)
        if cost <= self.budget:
            return []
        return [
            f"meeting the fleet norm costs at least {cost:,.0f} (vehicles and new stations); "
            f"the budget is {self.budget:,.0f}"
        ]

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
        catch = self._catchment_population()
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

    def _site_capacity_per_vehicle(self) -> np.ndarray:
        return self.sites["district_code"].map(self._rpv).fillna(self._rpv.max()).to_numpy(float)

    def _add_capacitated(self, p: MilpProblem) -> None:
        site, dem = _nearest_k(self._pairs, self.nearest_k)
        self._assign = (site, dem)
        pop = self.demand["population"].to_numpy(float)
        p.add_variables("x", site.size, obj=1.0)
        npairs = site.size
        by_demand = sp.csr_matrix((np.ones(npairs), (dem, np.arange(npairs))), shape=(len(pop), npairs))
        p.add_constraints(
            "demand_served", {"x": by_demand}, ub=pop, relaxable=False, description="residents served at most once"
        )
        by_site = sp.csr_matrix((np.ones(npairs), (site, np.arange(npairs))), shape=(len(self.sites), npairs))
        R = self._site_capacity_per_vehicle()
        p.add_constraints(
            "capacity",
            {"x": by_site, "v": -sp.diags(R)},
            ub=0.0,
            relaxable=False,
            description="residents served per ambulance",
        )

    def _add_mexclp(self, p: MilpProblem) -> None:
        site, dem = self._pairs
        nd, K = len(self.demand), max(int(self.max_levels), 1)
        q = float(self.busy_fraction)
        pop = self.demand["population"].to_numpy(float)
        # Demand points reached by exactly the same stations are interchangeable: merge them.
        cover = sp.csr_matrix((np.ones(site.size), (dem, site)), shape=(nd, len(self.sites)))
        group, reps = group_identical_rows(cover)
        weight = np.bincount(group, weights=pop, minlength=reps.size)
        reached = np.diff(cover.indptr)[reps] > 0
        reps, weight = reps[reached], weight[reached]
        gain = np.array([(1 - q) * q**k for k in range(K)])
        self._mexclp_groups = (cover[reps], weight)
        p.add_variables("y", reps.size * K, ub=1.0, obj=np.kron(weight, gain))
        Y = sp.kron(sp.identity(reps.size), np.ones((1, K)), format="csr")
        p.add_constraints(
            "expected_coverage",
            {"y": Y, "v": -cover[reps]},
            ub=0.0,
            relaxable=False,
            description="coverage levels backed by vehicles within the standard",
        )

    def _add_dsm(self, p: MilpProblem) -> None:
        """Double standard model (Gendreau, Laporte & Semet 1997) with vehicles per station.

        Every resident within the response standard (r2), a share ``alpha`` within
        ``r1_minutes``; maximise the residents covered twice within ``r1_minutes``.
        """
        nd, ns = len(self.demand), len(self.sites)
        pop = self.demand["population"].to_numpy(float)
        site, dem = self._pairs
        within_r2 = sp.csr_matrix((np.ones(site.size), (dem, site)), shape=(nd, ns))
        coo = sp.coo_matrix(self.minutes)
        near = coo.data <= self.r1_minutes + 1e-9
        within_r1 = sp.csr_matrix((np.ones(near.sum()), (coo.col[near], coo.row[near])), shape=(nd, ns))
        people = np.flatnonzero(pop > 0)
        p.add_constraints("dsm_all_within_standard", {"v": within_r2[people]}, lb=1.0,
                          description="every resident within the response standard (DSM)")
        p.add_variables("once", nd, ub=1.0)
        p.add_variables("twice", nd, ub=1.0, obj=pop)
        eye = sp.identity(nd, format="csr")
        p.add_constraints("dsm_levels", {"v": within_r1, "once": -eye, "twice": -eye}, lb=0.0,
                          relaxable=False, description="double coverage backed by vehicles within r1")
        p.add_constraints("dsm_twice_le_once", {"twice": eye, "once": -eye}, ub=0.0, relaxable=False,
                          description="covered twice implies covered once")
        p.add_constraints("dsm_alpha", {"once": pop[None, :]}, lb=self.alpha * pop.sum(),
                          description=f"{self.alpha:.0%} of residents within {self.r1_minutes:g} minutes (DSM)")

    def _catchment_population(self) -> np.ndarray:
        site, dem = self._pairs
        pop = self.demand["population"].to_numpy(float)
        return np.bincount(site, weights=pop[dem], minlength=len(self.sites))

    # ------------------------------------------------------------------ solve
    def solve(
        self,
        solver: str | None = None,
        time_limit: float | None = None,
        gap: float | None = 1e-4,
        threads: int | None = None,
        log_path=None,
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
        start = self._greedy_start(p)
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
        log_path=None,
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
        result.relaxed = self._shortfalls(p, out.x)
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

    def _shortfalls(self, p: MilpProblem, x: np.ndarray) -> list[str]:
        """Say which norms the relaxed plan misses, by district, in planning terms."""
        codes = list(self.norms["code"])
        names = self.norms.set_index("code")["name_zh"]
        v = np.round(p.value(x, "v"))
        n = np.round(p.value(x, "n"))
        by_district = pd.Series(v).groupby(self.sites["district_code"].to_numpy()).sum()
        np_by_district = pd.Series(n).groupby(self.sites["district_code"].to_numpy()).sum()
        out = []
        for code, need, s in zip(codes, self.norms["min_vehicles"], p.value(x, "short_fleet"), strict=True):
            if s > 0.5:
                out.append(f"{names[code]} ({code}): {int(by_district.get(code, 0))} ambulances against the fleet "
                           f"norm of {int(need)} (short {round(s)})")
        share = self.negative_pressure_share
        if p.value(x, "short_np")[0] > 0.05:  # below that it is solver tolerance, not a shortfall
            out.append(f"negative-pressure vehicles: {int(n.sum())} of {int(v.sum())} against the {share:.0%} "
                       f"share (short {p.value(x, 'short_np')[0]:.1f})")
        if "short_np_district" in p.blocks:
            for code, s in zip(codes, p.value(x, "short_np_district"), strict=True):
                if s > 0.05:
                    out.append(f"{names[code]} ({code}): {int(np_by_district.get(code, 0))} negative-pressure of "
                               f"{int(by_district.get(code, 0))} ambulances against the {share:.0%} share "
                               f"(short {s:.1f})")
        if "short_county" in p.blocks:
            counties = [c for c in codes if c in self.county_codes]
            for code, s in zip(counties, p.value(x, "short_county"), strict=True):
                if s > 0.5:
                    out.append(f"{names[code]} ({code}): no county emergency centre")
        return out

    def _greedy_start(self, p: MilpProblem) -> np.ndarray | None:
        """Build a feasible MEXCLP plan to start the MIP from: Daskin's (1983) greedy, then local search.

        With a solver time limit the answer is then never worse than this plan; on the
        Taiyuan baseline the local search (:class:`_VehicleSearch`) is what brings the plan
        within 0.1 % of the proven bound.
        Returns ``None`` when the start would not satisfy every constraint (e.g. a money
        budget, which the greedy rule ignores).
        """
        if self.model != "mexclp" or self.budget is not None:
            return None
        cover, weight = self._mexclp_groups
        v = _greedy_vehicles(self, cover, weight)
        if v is None:
            return None
        v = _VehicleSearch(self, cover, weight).run(v, max_moves=self.fleet_cap + len(self.sites))
        x = np.zeros(p.n_vars)
        x[p.blocks["open"].slice] = (v > 0) | (self.sites["existing"].to_numpy(bool) & (not self.allow_closing))
        x[p.blocks["v"].slice] = v
        x[p.blocks["n"].slice] = _greedy_negative_pressure(self, v)
        K = p.blocks["y"].size // max(cover.shape[0], 1)
        level = cover @ v
        x[p.blocks["y"].slice] = (np.arange(K)[None, :] < np.minimum(level, K)[:, None]).ravel()
        A, lo, hi = p.assemble()
        row = A @ x
        feasible = np.all(row >= lo - 1e-6) and np.all(row <= hi + 1e-6)
        return x if feasible else None

    def _diagnose(self, p: MilpProblem, solver, out: SolverOutput) -> list[str]:
        if out.status_code != "infeasible":
            return [f"ambulance plan: {out.status}"]
        culprits = [p.groups[name].description for name in relaxation_culprits(p, solver)]
        if not culprits:
            return ["the ambulance norms and budgets conflict in more than one place at once"]
        return [f"the ambulance plan becomes feasible only without {c}" for c in culprits]

    def _result(self, p: MilpProblem, out: SolverOutput, solver) -> AmbulancePlanResult:
        x = out.x
        v = np.round(p.value(x, "v")).astype(int)
        n = np.round(p.value(x, "n")).astype(int)
        served, served_by_site = self._capacity_breakdown(v, p, x, solver)
        stations = self._station_table(v, n, served_by_site)
        demand = self._demand_table(v, served)
        districts = self._district_table(stations, demand)
        totals = self._totals(stations, demand)
        notes = self._notes()
        return AmbulancePlanResult(
            stations, districts, demand, totals, out.status, out.status_code, out.gap, out.objective, out.seconds, notes
        )

    def _capacity_breakdown(self, v, p, x, solver) -> tuple[np.ndarray, np.ndarray]:
        """Residents served per demand point and per station for the chosen fleet."""
        if "x" in p.blocks:
            site, dem = self._assign
            flow = p.value(x, "x")
        else:
            site, dem = self._pairs
            at_open = v[site] > 0
            site, dem = site[at_open], dem[at_open]
            flow = _assignment_lp(
                site, dem, self.demand["population"].to_numpy(float), v * self._site_capacity_per_vehicle(), solver
            )
        served = np.bincount(dem, weights=flow, minlength=len(self.demand))
        by_site = np.bincount(site, weights=flow, minlength=len(self.sites))
        return np.minimum(served, self.demand["population"].to_numpy(float)), by_site

    def _station_table(self, v, n, served_by_site) -> pd.DataFrame:
        s = self.sites.copy()
        s["vehicles"], s["negative_pressure"] = v, n
        s["pop_covered"] = np.round(served_by_site).astype(int)
        s = s[s["vehicles"] > 0].copy()
        s["status"] = np.where(s["existing"], "existing", "new")
        s["np_share"] = s["negative_pressure"] / s["vehicles"]
        for role, k in self.staff_per_vehicle.items():
            s[f"{role}s"] = s["vehicles"] * int(k) * int(self.shifts)
        return s.reset_index(drop=True)

    def _demand_table(self, v, served) -> pd.DataFrame:
        d = self.demand[["demand_id", "district_code", "population"]].copy()
        site, dem = self._pairs
        in_catchment = np.zeros(len(d), dtype=bool)
        in_catchment[dem[v[site] > 0]] = True
        pop = d["population"].to_numpy(float)
        d["served"] = served
        full = served >= pop - 0.5
        d["status"] = np.where(full & (pop > 0), "covered", np.where(in_catchment, "beyond_capacity", "outside"))
        d.loc[(pop == 0) & in_catchment, "status"] = "covered"
        return d

    def _district_table(self, stations: pd.DataFrame, demand: pd.DataFrame) -> pd.DataFrame:
        t = self.norms[["code", "name_zh", "norm_class", "residents", "min_vehicles", "min_negative_pressure"]].rename(
            columns={"min_vehicles": "amb_norm"}
        )
        g = stations.groupby("district_code")
        t["amb_planned"] = t["code"].map(g["vehicles"].sum()).fillna(0).astype(int)
        t["amb_np_planned"] = t["code"].map(g["negative_pressure"].sum()).fillna(0).astype(int)
        t["stations"] = t["code"].map(g.size()).fillna(0).astype(int)
        t["amb_gap"] = t["amb_planned"] - t["amb_norm"]
        for role in self.staff_per_vehicle:
            t[f"{role}s"] = t["code"].map(g[f"{role}s"].sum()).fillna(0).astype(int)
        pop = demand.assign(covered=np.minimum(demand["served"], demand["population"]))
        in_c = pop["status"] != "outside"
        by = pop.groupby("district_code")
        covered = by["covered"].sum()
        catch = pop[in_c].groupby("district_code")["population"].sum()
        t["pop_covered"] = t["code"].map(covered).fillna(0).round().astype(int)
        t["pop_beyond_capacity"] = (t["code"].map(catch).fillna(0).round().astype(int) - t["pop_covered"]).clip(lower=0)
        total = t["code"].map(by["population"].sum()).fillna(0).astype(int)
        t["pop_outside"] = total - t["pop_covered"] - t["pop_beyond_capacity"]
        t["coverage_share"] = np.where(total > 0, t["pop_covered"] / total.where(total > 0, 1), 0.0)
        return t

    def _totals(self, stations: pd.DataFrame, demand: pd.DataFrame) -> dict[str, Any]:
        fleet = int(stations["vehicles"].sum())
        npv = int(stations["negative_pressure"].sum())
        pop = float(demand["population"].sum())
        covered = float(np.minimum(demand["served"], demand["population"]).sum())
        in_catch = float(demand.loc[demand["status"] != "outside", "population"].sum())
        return {
            "fleet_norm": self.fleet_norm, "fleet_planned": fleet, "np_planned": npv,
            "np_share": npv / fleet if fleet else 0.0, "np_required_share": self.negative_pressure_share,
            "stations_planned": len(stations), "stations_new": int((stations["status"] == "new").sum()),
            "pop_total": round(pop), "pop_covered": round(covered),
            "pop_beyond_capacity": round(in_catch - covered),
            "pop_outside": round(pop - in_catch),
            "staff": {role: int(stations[f"{role}s"].sum()) for role in self.staff_per_vehicle},
        }  # fmt: skip

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


def _coverage_pairs(minutes: sp.csr_matrix, standard: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(site, demand) index pairs within each demand point's own standard (sorted by time)."""
    coo = sp.coo_matrix(minutes)
    keep = coo.data <= standard[coo.col] + 1e-9
    site, dem, t = coo.row[keep].astype(np.int64), coo.col[keep].astype(np.int64), coo.data[keep]
    order = np.lexsort((site, t, dem))
    return site[order], dem[order]


def _nearest_k(pairs: tuple[np.ndarray, np.ndarray], k: int) -> tuple[np.ndarray, np.ndarray]:
    """Keep each demand point's ``k`` nearest sites (pairs are sorted by demand, then time)."""
    site, dem = pairs
    if dem.size == 0:
        return site, dem
    start = np.r_[0, np.flatnonzero(np.diff(dem)) + 1]
    rank = np.arange(dem.size) - np.repeat(start, np.diff(np.r_[start, dem.size]))
    keep = rank < k
    return site[keep], dem[keep]



def _greedy_vehicles(plan: AmbulancePlan, cover: sp.csr_matrix, weight: np.ndarray) -> np.ndarray | None:
    """Place ambulances one at a time where expected coverage grows most.

    Districts below their fleet norm are served first; a new station is opened only while
    the new-station budget still leaves enough stations for the districts' remaining needs.
    """
    sites = plan.sites
    cap = sites["max_vehicles"].to_numpy(int)
    district = sites["district_code"].to_numpy()
    need = dict(zip(plan.norms["code"], plan.norms["min_vehicles"].astype(int), strict=True))
    existing = sites["existing"].to_numpy(bool) & (not plan.allow_closing)
    q, K = float(plan.busy_fraction), max(int(plan.max_levels), 1)
    coverT = sp.csr_matrix(cover.T)
    by_site = sp.csc_matrix(cover)
    v = np.zeros(len(sites), dtype=int)
    level = np.zeros(cover.shape[0])
    budget = plan.max_new_stations if plan.max_new_stations is not None else len(sites)

    def place(j: int) -> None:
        v[j] += 1
        need[district[j]] = need.get(district[j], 0) - 1
        level[by_site.indices[by_site.indptr[j] : by_site.indptr[j + 1]]] += 1

    for j in np.flatnonzero(existing):
        place(int(j))
    for _ in range(plan.fleet_cap - int(v.sum())):
        open_new = int(((v > 0) & ~existing).sum())
        spare = {d: int(cap[(district == d) & (v > 0)].sum() - v[district == d].sum()) for d in need}
        reserve = {d: max(0, -(-max(need[d] - spare[d], 0) // int(cap.max()))) for d in need}
        short = {d for d, r in need.items() if r > 0}
        marginal = weight * (1 - q) * q ** np.minimum(level, K) * (level < K)
        gain = coverT @ marginal
        eligible = v < cap
        if short:
            eligible &= np.isin(district, list(short))
        new_site = v == 0
        room = budget - open_new - sum(reserve.values())
        own_reserve = np.array([reserve.get(d, 0) > 0 for d in district])
        eligible &= ~new_site | (room > 0) | own_reserve
        if not eligible.any():
            return None
        j = int(np.flatnonzero(eligible)[np.argmax(gain[eligible])])
        place(j)
    if any(r > 0 for r in need.values()):
        return None
    return v


class _VehicleSearch:
    """Local search on the ambulances per site, from the greedy MEXCLP plan.

    Daskin's greedy places one vehicle at a time and never undoes a station it opened; on the
    Taiyuan baseline it spends the new-station budget on urban stations that the counties
    need more, 1.4 % below the proven bound, and HiGHS improves neither that start nor its
    bound within minutes. Four kinds of move repair that: shift one vehicle to another site
    of its district; relocate a whole station within its district; transfer a station (its
    vehicles go to the other open stations of its district, and a vehicle from a station
    with at least two opens a site elsewhere); reseat (close a station, then let shifts and
    relocations settle the plan). Every move keeps each district's fleet, the station
    capacities, the kept existing stations, the county centres and the new-station budget,
    and is taken only if it raises expected coverage less the MIP's station tie-break (0.5
    per new station) by more than :attr:`TOL`. So the search ends, and it is deterministic
    (no clock): a solve that finishes gives the same plan every time.
    """

    #: Smallest improvement (in objective units, i.e. residents) a move must bring.
    TOL = 1e-6
    #: Sites tried per closed station in a transfer (best estimates first, then exact).
    TRANSFER_TRIES = 3
    #: Stations tried for a reseat (those whose closing loses least first).
    RESEAT_TRIES = 15
    #: Moves the plan may take to settle after a reseat's closing.
    SETTLE_MOVES = 200

    def __init__(self, plan: AmbulancePlan, cover: sp.csr_matrix, weight: np.ndarray) -> None:
        self.cover = sp.csr_matrix(cover, dtype=np.int64)
        self.weight = np.asarray(weight, dtype=float)
        self.by_site = sp.csc_matrix(self.cover)
        self.coverT = coverT = sp.csr_matrix(self.cover.T, dtype=float)
        K = max(int(plan.max_levels), 1)
        self.phi_table = 1.0 - float(plan.busy_fraction) ** np.arange(K + 1)  # coverage at level 0..K
        sites = plan.sites
        self.district = sites["district_code"].to_numpy()
        # Gains are needed only at the sites of one district: its rows of cover^T, kept apart.
        self.rows = {d: (idx, coverT[idx]) for d in pd.unique(self.district)
                     for idx in [np.flatnonzero(self.district == d)]}
        self.cap = sites["max_vehicles"].to_numpy(int)
        existing = sites["existing"].to_numpy(bool)
        self.new = ~existing
        self.floor = (existing & (not plan.allow_closing)).astype(int)  # kept stations keep a vehicle
        self.budget = np.inf if plan.max_new_stations is None else float(plan.max_new_stations)

    # ------------------------------------------------------------------ objective
    def _phi(self, level: np.ndarray) -> np.ndarray:
        """Coverage share at each (non-negative) level."""
        return self.phi_table[np.minimum(level, self.phi_table.size - 1)]

    def score(self, v: np.ndarray) -> float:
        """Return the expected coverage of ``v`` less the MIP's 0.5 per new station."""
        v = np.rint(v).astype(np.int64)
        return float(self.weight @ self._phi(self.cover @ v)) - 0.5 * float(((v > 0) & self.new).sum())

    def _groups(self, j: int) -> np.ndarray:
        return self.by_site.indices[self.by_site.indptr[j] : self.by_site.indptr[j + 1]]

    def _gain(self, level: np.ndarray, k: int, district: Any = None) -> tuple[np.ndarray, np.ndarray]:
        """Sites (all, or those of ``district``) and the coverage that adding ``k`` vehicles there gains."""
        idx, M = (np.arange(self.cover.shape[1]), self.coverT) if district is None else self.rows[district]
        return idx, M @ (self.weight * (self._phi(level + k) - self._phi(level)))

    def _without(self, level: np.ndarray, j: int, k: int) -> tuple[np.ndarray, float]:
        """Levels after taking ``k`` vehicles from site ``j``, and the coverage that loses."""
        g = self._groups(j)
        after = level.copy()
        after[g] -= k
        return after, float(self.weight[g] @ (self._phi(level[g]) - self._phi(after[g])))

    def _new_open(self, v: np.ndarray) -> int:
        return int(((v > 0) & self.new).sum())

    # ------------------------------------------------------------------ search
    def run(self, v: np.ndarray, max_moves: int) -> np.ndarray:
        """Apply the first kind of move that improves (shift, relocate, transfer, reseat) until none does."""
        return self._descend(v, (self._shift, self._relocate, self._transfer, self._reseat), max_moves)

    def _descend(self, v: np.ndarray, moves: tuple, max_moves: int) -> np.ndarray:
        v = np.asarray(v, dtype=np.int64).copy()
        for _ in range(max_moves):
            level = self.cover @ v
            move = next((m for find in moves if (m := find(v, level)) is not None), None)
            if move is None:
                break
            v = move
        return v

    def _shift(self, v: np.ndarray, level: np.ndarray) -> np.ndarray | None:
        """Best move of one vehicle to another site of the same district."""
        best, out, opened = self.TOL, None, self._new_open(v)
        for j in np.flatnonzero(v > self.floor):
            after, loss = self._without(level, j, 1)
            closes = bool(v[j] == 1 and self.new[j])
            idx, gain = self._gain(after, 1, self.district[j])
            opens = (v[idx] == 0) & self.new[idx]
            delta = gain - loss - 0.5 * opens + 0.5 * closes
            ok = (v[idx] < self.cap[idx]) & (idx != j) & (~opens | (opened - closes < self.budget))
            t = _best(delta, ok)
            if t is not None and delta[t] > best:
                best, out = delta[t], _moved(v, j, idx[t], 1)
        return out

    def _relocate(self, v: np.ndarray, level: np.ndarray) -> np.ndarray | None:
        """Best move of a whole station to an empty site of the same district."""
        best, out, opened = self.TOL, None, self._new_open(v)
        for j in np.flatnonzero((v > 0) & (self.floor == 0)):
            after, loss = self._without(level, j, v[j])
            idx, gain = self._gain(after, v[j], self.district[j])
            delta = gain - loss - 0.5 * self.new[idx] + 0.5 * self.new[j]
            ok = (v[idx] == 0) & (self.cap[idx] >= v[j]) & (opened - self.new[j] + self.new[idx] <= self.budget)
            t = _best(delta, ok)
            if t is not None and delta[t] > best:
                best, out = delta[t], _moved(v, j, idx[t], v[j])
        return out

    def _transfer(self, v: np.ndarray, level: np.ndarray) -> np.ndarray | None:
        """Best closing of a station whose place another site (any district) takes."""
        base, best, out = self.score(v), self.TOL, None
        for j in np.flatnonzero((v > 0) & (self.floor == 0)):
            closed = self._close(v, level, j)
            if closed is None:
                continue
            for cand in self._openings(closed, v):
                delta = self.score(cand) - base
                if delta > best:
                    best, out = delta, cand
        return out

    def _reseat(self, v: np.ndarray, level: np.ndarray) -> np.ndarray | None:
        """First closing of a station after which shifts and relocations give a better plan.

        A transfer re-places the closed station's vehicles greedily and moves one vehicle; on
        the Taiyuan baseline an urban station can give way at almost no loss only when several
        vehicles of its district move, which this compound move lets the other moves do.
        """
        base = self.score(v)
        closings = [(self.score(c), j, c) for j in np.flatnonzero((v > 0) & (self.floor == 0))
                    if (c := self._close(v, level, j)) is not None]
        for _, _, closed in sorted(closings, key=lambda t: (-t[0], t[1]))[: self.RESEAT_TRIES]:
            settled = self._descend(closed, (self._shift, self._relocate), self.SETTLE_MOVES)
            if self.score(settled) > base + self.TOL:
                return settled
        return None

    def _close(self, v: np.ndarray, level: np.ndarray, j: int) -> np.ndarray | None:
        """Close ``j``; its vehicles go one by one where they add most among its district's open stations."""
        idx = self.rows[self.district[j]][0]
        v2 = v.copy()
        v2[j] = 0
        if int((self.cap - v2)[idx][v2[idx] > 0].sum()) < v[j]:
            return None
        level, _ = self._without(level, j, v[j])
        for _ in range(int(v[j])):
            idx, gain = self._gain(level, 1, self.district[j])
            t = idx[_best(gain, (v2[idx] > 0) & (v2[idx] < self.cap[idx]))]
            v2[t] += 1
            level[self._groups(t)] += 1
        return v2

    def _openings(self, v2: np.ndarray, v: np.ndarray) -> list[np.ndarray]:
        """Plans opening an empty site with one vehicle from its district's cheapest station of 2 or more."""
        level = self.cover @ v2
        _, add = self._gain(level, 1)
        lose = self.coverT @ (self.weight * (self._phi(level) - self._phi(np.maximum(level - 1, 0))))
        donors = v2 >= 2  # the donor stays open
        cheapest = {d: ks[np.argmin(lose[ks])] for d, (idx, _) in self.rows.items()
                    if (ks := idx[donors[idx]]).size}
        ok = (v2 == 0) & (v == 0) & np.isin(self.district, list(cheapest))
        ok &= self._new_open(v2) + self.new <= self.budget
        donor = np.array([cheapest.get(d, 0) for d in self.district])
        estimate = np.where(ok, add - lose[donor] - 0.5 * self.new, -np.inf)
        tries = [t for t in np.argsort(-estimate, kind="stable")[: self.TRANSFER_TRIES] if ok[t]]
        return [_moved(v2, donor[t], t, 1) for t in tries]


def _best(values: np.ndarray, ok: np.ndarray) -> int | None:
    """Index of the largest of ``values`` where ``ok`` (first on ties), or ``None``."""
    if not ok.any():
        return None
    idx = np.flatnonzero(ok)
    return int(idx[np.argmax(values[idx])])


def _moved(v: np.ndarray, source: int, target: int, k: int) -> np.ndarray:
    out = v.copy()
    out[source] -= k
    out[target] += k
    return out


def _greedy_negative_pressure(plan: AmbulancePlan, v: np.ndarray) -> np.ndarray:
    """Negative-pressure vehicles at the stations with the largest catchments, just enough."""
    share = plan.negative_pressure_share
    n = np.zeros_like(v)
    order = np.argsort(-plan._catchment_population(), kind="stable")
    district = plan.sites["district_code"].to_numpy()
    if plan.per_district_negative_pressure:
        for d in np.unique(district[v > 0]):
            want = math.ceil(share * v[district == d].sum() - 1e-9)
            for j in order[district[order] == d]:
                take = min(v[j] - n[j], want)
                n[j] += take
                want -= take
    want = math.ceil(share * v.sum() - 1e-9) - int(n.sum())
    for j in order:
        if want <= 0:
            break
        take = min(v[j] - n[j], want)
        n[j] += take
        want -= take
    return n

def _assignment_lp(site, dem, pop, capacity, solver) -> np.ndarray:
    """Transportation LP: most residents served within the standard for a fixed fleet."""
    p = MilpProblem("ambulance_capacity", "max")
    npairs = site.size
    usable = capacity[site] > 0
    p.add_variables("x", npairs, ub=np.where(usable, INF, 0.0), obj=1.0)
    p.add_constraints(
        "demand", {"x": sp.csr_matrix((np.ones(npairs), (dem, np.arange(npairs))), shape=(len(pop), npairs))}, ub=pop
    )
    p.add_constraints(
        "capacity",
        {"x": sp.csr_matrix((np.ones(npairs), (site, np.arange(npairs))), shape=(len(capacity), npairs))},
        ub=capacity,
    )
    out = solve_problem(p, solver)
    return out.x if out.x is not None else np.zeros(npairs)
