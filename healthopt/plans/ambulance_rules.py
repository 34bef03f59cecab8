"""The ambulance plan's rules: inputs, fleet norms and budgets, in planning words.

:class:`AmbulanceRules` holds what a scenario asks of the ambulance plan (sites, demand, the
district fleet norms, budgets, model options) and explains, before any solve, every norm
the budgets cannot meet (:meth:`AmbulanceRules.check`) and, after a solve under relaxed
norms, which norms the plan misses (:meth:`AmbulanceRules.shortfalls`). The model itself
is :class:`healthopt.plans.ambulances.AmbulancePlan`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.sparse as sp

from healthopt.errors import InfeasiblePlanError
from healthopt.milp.problem import MilpProblem
from healthopt.milp.solve import LpBasis
from healthopt.plans.ambulance_workload import Workload
from healthopt.scenario.defaults import norm_float_default, norm_int, norm_int_default


@dataclass
class AmbulanceRules:
    """The ambulance plan's inputs and norms, and what budgets cannot meet before solving.

    :class:`healthopt.plans.ambulances.AmbulancePlan` adds the model and its solve; the
    start heuristics (:mod:`healthopt.plans.ambulance_search`) read only these rules.

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

    Attributes
    ----------
    pairs : tuple of ndarray
        ``(site, demand)`` positions of the pairs whose travel time leaves the mean dispatch
        delay inside each demand point's own response standard (travel ≤ standard − delay),
        sorted by demand point, then travel time.
    residents_per_vehicle : Series
        The norm's residents per ambulance, by district code.
    """

    minutes: sp.csr_matrix
    sites: pd.DataFrame
    demand: pd.DataFrame
    norms: pd.DataFrame
    negative_pressure_share: float = field(default_factory=norm_float_default("ambulance.negative_pressure_share_min"))
    per_district_negative_pressure: bool = False
    max_vehicles: int | None = None
    max_new_stations: int | None = None
    allow_closing: bool = False
    station_cost: float | None = None
    vehicle_cost: float | None = None
    budget: float | None = None
    county_codes: list[str] = field(default_factory=list)
    model: str = "mexclp"
    busy_fraction: float | None = field(default_factory=norm_float_default("ambulance.mexclp.busy_fraction"))
    max_levels: int | None = 4
    # Availability from workload (busy_fraction None): calls per 1,000 residents per year by
    # class, mean service minutes, and rounds of the location <-> hypercube fixed point.
    call_rates: dict[str, float] | None = None
    service_minutes: float = field(default_factory=norm_float_default("ambulance.service_minutes.mean"))
    hypercube_rounds: int = 3
    # Equity: least expected share of calls covered in every district; max-min first.
    min_share_reached: float | None = None
    maximise_worst_district: bool = False
    # Move vehicles expected coverage does not need to where they cut expected response time most.
    spare_to_calls: bool = True
    # A county's station at its county seat (001 §三(一)5), when the seat is a candidate site.
    county_seat_required: bool = True
    r1_minutes: float = field(default_factory=norm_float_default("ambulance.dsm.r1_minutes"))
    alpha: float = field(default_factory=norm_float_default("ambulance.dsm.alpha"))
    nearest_k: int = 12
    # A call's response is dispatch delay + travel (what the simulation and the headline count), so
    # a station covers a point only if its travel time leaves the mean delay inside the standard.
    dispatch_delay_minutes: float = 0.0
    staff_per_vehicle: dict[str, int] = field(default_factory=lambda: {
        role: norm_int(f"ambulance.staff.{role}_per_vehicle") for role in ("physician", "nurse", "driver")})
    shifts: int = field(default_factory=norm_int_default("ambulance.staff.shifts_per_day"))
    # the existing network (healthopt.plans.ambulance_existing): greenfield / expand / evaluate
    mode: str = "greenfield"
    relocate: str = "none"

    def __post_init__(self) -> None:
        self.sites = self.sites.reset_index(drop=True)
        self.demand = self.demand.reset_index(drop=True)
        self.norms = self.norms.reset_index(drop=True)
        self.pairs = coverage_pairs(self.minutes, self.travel_standard)
        self.residents_per_vehicle = self.norms.set_index("code")["residents_per_vehicle"]
        #: Coverage share per MEXCLP group and level (groups × levels+1), set by the model's build.
        self.mexclp_phi: np.ndarray | None = None
        self._workload: Workload | None = None
        #: (busy probability per site, vehicles per site) of the plan the availability is taken from.
        self.station_busy: tuple[np.ndarray, np.ndarray] | None = None
        #: Levels per MEXCLP group the next build keeps at least (a fixed point's levels only grow, so
        #: that a round's LP has the last round's rows and columns and restarts from its basis).
        self.level_floor: np.ndarray | None = None
        #: (levels, LP basis, effective-vehicle bounds) of the last round's LP, which the next round restarts from.
        self._lp_warm: tuple[np.ndarray, LpBasis | None, np.ndarray | None] | None = None
        #: Rounds of the location <-> queueing fixed point of the last solve, and whether the plan repeated.
        self.rounds: list[dict[str, int]] = []
        self.converged = False
        #: Moves of spare vehicles toward calls after the solve (from, to, calls × minutes saved).
        self.spare_moves: list[dict[str, float]] = []

    @property
    def travel_standard(self) -> np.ndarray:
        """Travel minutes within which a station covers each demand point (standard − mean dispatch delay)."""
        return self.demand["standard_minutes"].to_numpy(float) - float(self.dispatch_delay_minutes)

    @property
    def from_workload(self) -> bool:
        """Whether availability comes from calls and service times (no constant busy fraction)."""
        return self.busy_fraction is None

    @property
    def workload(self) -> Workload:
        """Calls per demand point and the busy fractions they imply (:mod:`ambulance_workload`)."""
        if self._workload is None:
            self._workload = Workload(demand=self.demand, norms=self.norms, minutes=self.minutes,
                                      site_district=self.sites["district_code"].to_numpy(object),
                                      rates_per_1000=self.call_rates, service_minutes=self.service_minutes)
        return self._workload

    def demand_weight(self) -> np.ndarray:
        """Return what expected coverage counts per demand point: expected calls (workload) or residents."""
        if self.from_workload:
            return self.workload.calls
        return self.demand["population"].to_numpy(float)

    @property
    def tie_unit(self) -> float:
        """Objective units per resident: tie-breaks stay as small against calls as against residents."""
        if not self.from_workload:
            return 1.0
        pop = float(self.demand["population"].sum())
        return float(self.workload.calls.sum()) / pop if pop > 0 else 1.0

    def required_open(self) -> np.ndarray:
        """Return the sites that must hold a station: kept existing ones and the seat of a county without one.

        001 §三(一)5 asks for a county-level emergency centre with decontamination in every
        county; where no existing station stands for it, the plan puts it at the county seat.
        """
        keep = self.sites["existing"].to_numpy(bool) & (not self.allow_closing)
        if self.county_seat_required and self.county_codes and "kind" in self.sites:
            # a county whose existing station is kept has its centre already; the others get one at the seat
            served = set(self.sites.loc[keep, "district_code"])
            counties = [c for c in self.county_codes if c not in served]
            seat = (self.sites["kind"] == "district_seat") & self.sites["district_code"].isin(counties)
            keep = keep | seat.to_numpy(bool)
        return keep

    def open_penalty(self) -> np.ndarray:
        """Objective cost of opening each site: 0.5 per new station, more at a grid cell (tie-breaks).

        At equal coverage the plan prefers fewer new stations and, among sites, county and
        district seats and hospitals, then road nodes, then grid cells (a cell centre is not an
        address), in residents' units scaled by :attr:`tie_unit`.
        """
        new = ~self.sites["existing"].to_numpy(bool)
        pref = np.zeros(len(self.sites))
        if "kind" in self.sites:
            kind = self.sites["kind"].astype(str).to_numpy()
            quality = self.sites.get("location_quality", pd.Series("", index=self.sites.index)).astype(str).to_numpy()
            pref = np.where(np.isin(kind, ["district_seat", "hospital"]), 0.0,
                            np.where(quality == "grid_cell", 0.3, 0.1))
        return self.tie_unit * (0.5 * new + pref * new)

    @property
    def fleet_norm(self) -> int:
        """Total ambulances the norms require."""
        return int(self.norms["min_vehicles"].sum())

    @property
    def fleet_cap(self) -> int:
        """Ambulances the plan may deploy (budget, or the norm total when no budget)."""
        if self.max_vehicles is not None:
            return int(self.max_vehicles)
        # expand keeps the existing fleet: without a budget it is never cut to the norm
        from healthopt.plans.ambulance_existing import existing_fleet  # it reads these rules: import late

        return max(self.fleet_norm, int(existing_fleet(self)[0].sum())) if self.mode == "expand" else self.fleet_norm

    def check(self) -> None:
        """Explain, before solving, every norm that the budgets cannot meet."""
        reasons = self._fleet_reasons() + self._district_reasons() + self._station_reasons()
        reasons += self._dsm_reasons()
        reasons += self._cost_reasons()
        from healthopt.plans.ambulance_existing import existing_reasons  # it reads these rules: import late

        reasons += existing_reasons(self)
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

    def min_stations(self) -> pd.Series:
        """Fewest stations each district needs for its fleet norm (at least 1 in a county)."""
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
        need = self.min_stations()
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
        reached[self.pairs[1]] = True
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
        cost += (self.station_cost or 0.0) * max(int(self.min_stations().sum()) - int(self.sites["existing"].sum()), 0)
        if cost <= self.budget:
            return []
        return [
            f"meeting the fleet norm costs at least {cost:,.0f} (vehicles and new stations); "
            f"the budget is {self.budget:,.0f}"
        ]


    def site_capacity_per_vehicle(self) -> np.ndarray:
        """Residents one ambulance serves at each site (its district's norm; the largest if unknown)."""
        rpv = self.residents_per_vehicle
        return self.sites["district_code"].map(rpv).fillna(rpv.max()).to_numpy(float)


    def catchment_population(self) -> np.ndarray:
        """Residents within the response standard of each site."""
        site, dem = self.pairs
        pop = self.demand["population"].to_numpy(float)
        return np.bincount(site, weights=pop[dem], minlength=len(self.sites))


    def shortfalls(self, p: MilpProblem, x: np.ndarray) -> list[str]:
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


def coverage_pairs(minutes: sp.csr_matrix, standard: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(site, demand) index pairs within each demand point's own standard (sorted by time)."""
    coo = sp.coo_matrix(minutes)
    keep = coo.data <= standard[coo.col] + 1e-9
    site, dem, t = coo.row[keep].astype(np.int64), coo.col[keep].astype(np.int64), coo.data[keep]
    order = np.lexsort((site, t, dem))
    return site[order], dem[order]
