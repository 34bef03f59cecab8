"""Hospital-bed plan: new beds (and reductions) to reach the 2025 district targets.

Linear program over districts and municipal hospitals (seed 001 annex 1 and 2):

* every district aims at ``rate_2025 × residents / 1000`` beds; the 2022 bed stock is
  estimated from the 2022 rate (no district bed counts are published);
* municipal hospitals may grow up to their planned 2025 beds (annex 2); hospitals whose
  district is unknown add to the city-wide total only;
* other new beds (district-run and other hospitals) are a district decision variable;
* districts with the "shed" strategy (迎泽区, 杏花岭区) get no new district beds and may
  reduce down to their target; the others cannot reduce;
* a city-wide floor of ``citywide_per_1000`` beds per 1,000 residents;
* infectious-disease bed minimums in the counties, ICU ranges per hospital level;
* an optional budget of new beds.

Objective (lexicographic by weights): least shortfall against the targets, weighted by
residents' share and strategy (priority > strengthen > shed), then fewest new beds, then
least travel time to hospitals whose locations are known.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar

import geopandas as gpd
import numpy as np
import pandas as pd

from healthopt import norms
from healthopt.data import overlay
from healthopt.data.places import proxy_points
from healthopt.errors import InfeasiblePlanError
from healthopt.milp.problem import MilpProblem
from healthopt.milp.solve import solve_problem
from healthopt.plans.base import Inputs, PlanContext, PlanLayers, PlanOutcome, PlanSummary
from healthopt.scenario.defaults import norm_float_default, norm_float_range

if TYPE_CHECKING:
    from healthopt.milp.settings import SolverSettings
    from healthopt.scenario import Scenario

#: Shortfall weight by district strategy (001 annex 1: 重点配置区 first).
STRATEGY_WEIGHT: dict[str, float] = {"priority": 3.0, "strengthen": 2.0, "shed": 1.0}


@dataclass
class BedPlanResult:
    """Outcome of :class:`BedPlan`.

    Attributes
    ----------
    districts : DataFrame
        Per district: residents, estimated 2022 beds, target, municipal additions, other
        additions, reductions, planned beds, per-1,000 rates, shortfall, infectious beds.
    hospitals : DataFrame
        Per municipal hospital: beds 2022, additions, beds 2025, ICU range, reserved ICU.
    citywide : dict
        Planned and target beds per 1,000 residents for the study area.
    unmet : list of str
        Targets not met, each with its reason.
    status : str
        Solver status in words.
    objective : float or None
        Objective value of the plan.
    status_code : str
        Solver status code (:data:`healthopt.milp.solve.STATUS_WORDS`).
    """

    districts: pd.DataFrame
    hospitals: pd.DataFrame
    citywide: dict
    unmet: list[str] = field(default_factory=list)
    status: str = ""
    objective: float | None = None
    status_code: str = "optimal"

    @property
    def optimal(self) -> bool:
        """Whether the plan is proven optimal (within the requested gap)."""
        return self.status_code in ("optimal", "optimal_within_gap")


@dataclass
class BedPlan:
    """Allocate new hospital beds across districts and municipal hospitals.

    Parameters
    ----------
    targets : DataFrame
        From :func:`healthopt.norms.bed_targets`: ``code, name_zh, residents,
        beds_2022_estimate, beds_2025_target, strategy``.
    hospitals : DataFrame
        ``name_zh, beds_2022, beds_2025, level, district_code`` (district may be empty);
        optional ``no_new_beds`` (efficiency rule) and ``minutes`` (mean travel time).
    citywide_per_1000 : float
        City-wide beds per 1,000 residents floor.
    infectious_min : dict
        District code -> minimum infectious-disease beds.
    icu_share : dict
        Level -> (min share, max share) of a hospital's beds as ICU beds.
    max_new_beds : int or None
        Budget of new beds (``None``: no budget beyond the norms).
    reserved_icu : dict
        Hospital name -> ICU beds reserved (green channel receivers).
    municipal_growth_committed : bool
        Take annex 2's planned municipal expansions as decided (default) rather than as
        optional capacity the optimizer may leave unused.
    """

    targets: pd.DataFrame
    hospitals: pd.DataFrame
    citywide_per_1000: float = field(default_factory=norm_float_default("beds.citywide_per_1000_2025"))
    infectious_min: dict[str, int] = field(default_factory=dict)
    icu_share: dict[str, tuple[float, float]] = field(
        default_factory=lambda: {lvl: norm_float_range(f"beds.icu_share.{lvl}") for lvl in ("secondary", "tertiary")}
    )
    max_new_beds: int | None = None
    reserved_icu: dict[str, int] = field(default_factory=dict)
    strategy_weight: dict[str, float] = field(default_factory=lambda: dict(STRATEGY_WEIGHT))
    municipal_growth_committed: bool = True

    def check(self) -> None:
        """Explain before solving what cannot be met (planning terms)."""
        reasons = []
        beds = self._hospital_table()
        for name, reserve in self.reserved_icu.items():
            row = beds[beds["name_zh"] == name]
            if len(row) and reserve > int(row["icu_max"].iloc[0]):
                reasons.append(
                    f"{name} would reserve {reserve} ICU beds for referrals, but its "
                    f"ICU norm allows at most {int(row['icu_max'].iloc[0])}"
                )
        if reasons:
            raise InfeasiblePlanError(reasons)

    def _hospital_table(self) -> pd.DataFrame:
        h = self.hospitals.copy()
        h["district_code"] = h["district_code"].astype("string")
        shares = h["level"].map(lambda lv: self.icu_share.get(str(lv), self.icu_share["secondary"]))
        h["icu_min"] = [math.ceil(lo * b - 1e-9) for (lo, _), b in zip(shares, h["beds_2025"], strict=True)]
        h["icu_max"] = [math.floor(hi * b + 1e-9) for (_, hi), b in zip(shares, h["beds_2025"], strict=True)]
        h["growth_cap"] = (h["beds_2025"] - h["beds_2022"]).clip(lower=0)
        if "no_new_beds" in h:
            h.loc[h["no_new_beds"].fillna(False).astype(bool), "growth_cap"] = 0
        return h.reset_index(drop=True)

    @staticmethod
    def _membership(t: pd.DataFrame, h: pd.DataFrame) -> np.ndarray:
        """District x hospital 0/1 matrix (hospitals of unknown district belong to none)."""
        pos = {code: i for i, code in enumerate(t["code"])}
        member = np.zeros((len(t), len(h)))
        for j, code in enumerate(h["district_code"]):
            if pd.notna(code) and code in pos:
                member[pos[code], j] = 1.0
        return member

    def _build(self, t: pd.DataFrame, h: pd.DataFrame) -> MilpProblem:
        nd, nh = len(t), len(h)
        shed = t["strategy"].eq("shed").to_numpy()
        current = t["beds_2022_estimate"].to_numpy(float)
        target = t["beds_2025_target"].to_numpy(float)
        pop_share = t["residents"].to_numpy(float) / max(t["residents"].sum(), 1)
        weight = t["strategy"].map(self.strategy_weight).fillna(1.0).to_numpy() * (1 + pop_share)
        p = MilpProblem("beds", "min")
        minutes = h["minutes"].fillna(0).to_numpy(float) if "minutes" in h else np.zeros(nh)
        cap = h["growth_cap"].to_numpy(float)
        p.add_variables(
            "hosp_add",
            nh,
            lb=cap if self.municipal_growth_committed else 0.0,
            ub=cap,
            integer=True,
            obj=1.0 + 1e-3 * minutes,
        )
        p.add_variables("dist_add", nd, ub=np.where(shed, 0.0, math.inf), integer=True, obj=1.0)
        member = self._membership(t, h)
        committed = member @ cap if self.municipal_growth_committed else np.zeros(nd)
        p.add_variables(
            "cut",
            nd,
            ub=np.where(shed, np.maximum(current + committed - target, 0), 0),
            integer=True,
            obj=-0.5,
        )  # shedding towards the target is wanted, below it is not allowed
        p.add_variables("short", nd, obj=1e4 * weight)
        p.add_variables("city_short", 1, obj=1e4)
        eye = np.eye(nd)
        p.add_constraints(
            "district_target",
            {"hosp_add": member, "dist_add": eye, "cut": -eye, "short": eye},
            lb=target - current,
            description="the district bed targets per 1,000 residents",
        )
        city_target = math.ceil(self.citywide_per_1000 * t["residents"].sum() / 1000 - 1e-9)
        p.add_constraints(
            "citywide",
            {
                "hosp_add": np.ones((1, nh)),
                "dist_add": np.ones((1, nd)),
                "cut": -np.ones((1, nd)),
                "city_short": np.ones((1, 1)),
            },
            lb=city_target - current.sum(),
            description="the city-wide beds per 1,000",
        )
        inf_min = t["code"].map(self.infectious_min).fillna(0).to_numpy(float)
        p.add_constraints(
            "infectious",
            {"hosp_add": member, "dist_add": eye, "cut": -eye},
            lb=inf_min - current,
            relaxable=False,
            description="the infectious-disease bed minimums",
        )
        if self.max_new_beds is not None:
            p.add_constraints(
                "budget",
                {"hosp_add": np.ones((1, nh)), "dist_add": np.ones((1, nd))},
                ub=float(self.max_new_beds),
                description="the new-bed budget",
            )
        return p

    def solve(self, solver: str | None = None, time_limit: float | None = None, log_path=None, *,
              gap: float | None = None, threads: int | None = None) -> BedPlanResult:
        """Solve the bed plan and return per-district and per-hospital tables."""
        self.check()
        t = self.targets.reset_index(drop=True)
        h = self._hospital_table()
        p = self._build(t, h)
        out = solve_problem(p, solver, time_limit, gap, threads, log_path)
        if out.x is None:
            raise InfeasiblePlanError([f"bed plan: {out.status}"])
        val = {name: np.round(p.value(out.x, name)) for name in ("hosp_add", "dist_add", "cut")}
        short = np.round(p.value(out.x, "short"), 6)
        return self._result(t, h, val, short, out)

    def _result(self, t, h, val, short, out) -> BedPlanResult:
        d = t.copy()
        hosp = h.copy()
        hosp["beds_added"] = val["hosp_add"].astype(int)
        hosp["beds_2025_planned"] = hosp["beds_2022"] + hosp["beds_added"]
        hosp["reserved_icu"] = hosp["name_zh"].map(self.reserved_icu).fillna(0).astype(int)
        by_d = hosp.groupby("district_code")["beds_added"].sum()
        d["municipal_added"] = d["code"].map(by_d).fillna(0).astype(int)
        d["other_added"] = val["dist_add"].astype(int)
        d["reduced"] = val["cut"].astype(int)
        d["beds_planned"] = (d["beds_2022_estimate"] + d["municipal_added"] + d["other_added"]
                             - d["reduced"])  # fmt: skip
        d["beds_change"] = d["beds_planned"] - d["beds_2022_estimate"]
        d["beds_per_1000_planned"] = d["beds_planned"] / d["residents"] * 1000
        d["shortfall"] = np.ceil(short - 1e-6).astype(int)
        d["infectious_beds_min"] = d["code"].map(self.infectious_min).fillna(0).astype(int)
        unlocated = int(hosp.loc[hosp["district_code"].isna(), "beds_added"].sum())
        planned_total = int(d["beds_planned"].sum()) + unlocated
        residents = int(d["residents"].sum())
        citywide = {
            "target_per_1000": self.citywide_per_1000,
            "planned_per_1000": planned_total / residents * 1000 if residents else 0.0,
            "district_targets_per_1000": float(d["beds_2025_target"].sum() / residents * 1000) if residents else 0.0,
            "beds_planned": planned_total,
            "beds_2022_estimate": int(d["beds_2022_estimate"].sum()),
            "municipal_beds_unlocated": unlocated,
        }
        unmet = [
            f"{r.name_zh} ({r.code}) stays {r.shortfall:,} beds short of its 2025 target "
            f"of {r.beds_2025_target:,}: "
            + ("the new-bed budget is exhausted" if self.max_new_beds is not None else "no further beds can be placed")
            for r in d.itertuples()
            if r.shortfall > 0
        ]
        return BedPlanResult(d, hosp, citywide, unmet, out.status, out.objective, out.status_code)


# --------------------------------------------------------------------------- the plan as the pipeline runs it


class Beds:
    """The bed plan (:class:`BedPlan`) as the pipeline runs it.

    Reads the ICU beds the green channel's receivers reserve from ``context.results``
    (so the green channel comes first in the registry).
    """

    name: ClassVar[str] = "beds"
    step: ClassVar[str] = "bed plan"

    def __init__(self, scenario: Scenario, inputs: Inputs, plan: BedPlan | None) -> None:
        self.scenario, self.inputs, self.plan = scenario, inputs, plan

    @classmethod
    def enabled(cls, scenario: Scenario) -> bool:
        """``plans.beds.enabled``."""
        return bool(scenario.plans.beds.enabled)

    @classmethod
    def from_scenario(cls, scenario: Scenario, inputs: Inputs, context: PlanContext) -> Beds:
        """Build the :class:`BedPlan` from ``plans.beds`` (its targets and strategies win over the embedded annex 1)."""
        data, area = inputs.data, inputs.area
        overlay.require_in_area(data, area["code"])
        beds = scenario.plans.beds
        table = data.beds_district.assign(
            beds_per_1000_2025=data.beds_district["code"].map(beds.targets),
            strategy=data.beds_district["code"].map(beds.strategy),
        )
        targets = norms.bed_targets(area, table)
        if targets.empty:
            return cls(scenario, inputs, None)
        gc = context.results.get("green_channel")
        plan = BedPlan(targets, data.hospitals, citywide_per_1000=beds.citywide_per_1000,
                       infectious_min={str(k): int(v) for k, v in beds.infectious_min.items()},
                       icu_share={k: tuple(v) for k, v in beds.icu_share.model_dump().items()},
                       reserved_icu=gc.reserved_icu if gc is not None else {})
        return cls(scenario, inputs, plan)

    def solve(self, settings: SolverSettings) -> BedPlanResult | None:
        """Solve under the run's solver settings (``None``: no district of the area has a bed target)."""
        if self.plan is None:
            return None
        return self.plan.solve(None if settings.name == "auto" else settings.name, settings.time_limit_s,
                               settings.log_path("beds"), gap=settings.gap, threads=settings.threads)

    def layers(self, result: BedPlanResult | None) -> PlanLayers:
        """Return the ``beds`` layer (municipal hospitals) and the districts' bed columns."""
        if result is None:
            return PlanLayers()
        b = result.districts.rename(columns={"beds_2025_target": "beds_target", "shortfall": "bed_shortfall",
                                             "rate_2025": "beds_per_1000_target"})
        cols = ["code", "beds_2022_estimate", "beds_target", "beds_planned", "beds_per_1000_planned",
                "beds_per_1000_target", "bed_shortfall"]
        h = result.hospitals.rename(columns={"beds_added": "beds_change", "beds_2025_planned": "beds_2025",
                                             "beds_2025": "beds_2025_cap", "name_zh": "name"})
        h["infectious_beds"] = 0
        keep = ["name", "district_code", "beds_2022", "beds_change", "beds_2025", "icu_min", "icu_max",
                "reserved_icu", "infectious_beds"]
        data = self.inputs.data
        layer: gpd.GeoDataFrame = overlay.relocate(proxy_points(h[keep], data.seats), data.hospital_layer,
                                                   name_col="name")
        return PlanLayers(layers={"beds": layer}, districts=b[cols])

    def summary(self, result: BedPlanResult | None) -> PlanSummary:
        """Return the bed KPIs, the estimate note, the unmet targets and the solve's outcome."""
        if result is None:
            return PlanSummary()
        kpis = {"beds_target_per_1000": result.citywide["district_targets_per_1000"],
                "beds_planned_per_1000": result.citywide["planned_per_1000"],
                "citywide_target_per_1000": result.citywide["target_per_1000"]}
        notes = ["District bed stocks for 2022 are estimated from the 2022 per-1,000 rates.", *result.unmet]
        return PlanSummary(kpis=kpis, notes=notes, solver={"status": result.status},
                           outcome=PlanOutcome(result.status, result.optimal, label="beds"))
