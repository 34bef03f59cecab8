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
* infectious-disease bed minimums in the counties (001 §三(二)3(5)), designated within the
  district's planned beds; ICU ranges per hospital level (same section), not at psychiatric
  and maternal-child hospitals unless the scenario says so;
* the efficiency rule (001 §四(一)2): a public general hospital with occupancy below 75 % or
  an average stay above 9 days gets no new beds (the city's 2022 averages, 70.39 % and 10.9
  days, 001 §一(一)3, stand in for a hospital's own figures, flagged estimate);
* an optional budget of new beds.

Beside the total, the plan reports the bed categories with a 2025 target of their own
(psychiatric 0.78 and public TCM 0.85 per 1,000 residents, paediatric 3.17 per 1,000
children, 001 §二(三) and §三(二)3(3)) against what the municipal hospitals provide.

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
from healthopt.scenario.defaults import norm_float, norm_float_default, norm_float_range

if TYPE_CHECKING:
    from healthopt.milp.settings import SolverSettings
    from healthopt.scenario import Scenario

#: Shortfall weight by district strategy (001 annex 1: 重点配置区 first).
STRATEGY_WEIGHT: dict[str, float] = {"priority": 3.0, "strengthen": 2.0, "shed": 1.0}

#: Hospital kinds without an ICU range unless the scenario asks (the norm of 001 §三(二)3(5)
#: is written for general hospitals' critical care).
ICU_EXEMPT_KINDS: frozenset[str] = frozenset({"psychiatric", "maternal_child"})


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
    categories: list[dict] = field(default_factory=list)
    efficiency: dict = field(default_factory=dict)

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
    min_occupancy, max_avg_stay_days : float
        The efficiency rule (001 §四(一)2), applied to hospitals of kind ``general``.
    hospital_efficiency : dict
        Hospital name -> (occupancy, average stay in days), replacing the hospitals table's
        figures (else the city's 2022 averages, flagged estimate).
    icu_specialist_hospitals : bool
        Give psychiatric and maternal-child hospitals an ICU range too.
    category_rates : dict
        ``psychiatric`` and ``tcm_public`` beds per 1,000 residents, ``paediatric`` per 1,000
        children.
    children_share : float
        Share of residents aged 0-14 (for the paediatric norm).
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
    min_occupancy: float = field(default_factory=norm_float_default("beds.efficiency.occupancy_min"))
    max_avg_stay_days: float = field(default_factory=norm_float_default("beds.efficiency.avg_stay_max_days"))
    hospital_efficiency: dict[str, tuple[float, float]] = field(default_factory=dict)
    icu_specialist_hospitals: bool = False
    category_rates: dict[str, float] = field(default_factory=lambda: {
        "psychiatric": norm_float("beds.psychiatric_per_1000_2025"),
        "tcm_public": norm_float("beds.tcm_public_per_1000_2025"),
        "paediatric": norm_float("beds.paediatric_per_1000_children_2025")})
    children_share: float = field(default_factory=norm_float_default("population.children_0_14_share_2020"))

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
        if "kind" not in h:  # a dataset folder whose table predates the column: the rule applies to all
            h["kind"] = "general"
        h["kind"] = h["kind"].fillna("general").astype(str)
        h["growth_cap"] = (h["beds_2025"] - h["beds_2022"]).clip(lower=0)
        h = self._efficiency(h)
        h.loc[h["no_new_beds"], "growth_cap"] = 0
        return self._icu(h, h["beds_2022"] + h["growth_cap"]).reset_index(drop=True)

    def _efficiency(self, h: pd.DataFrame) -> pd.DataFrame:
        """Occupancy and stay per hospital (scenario, table, else city 2022 average) and the rule's verdict."""
        city_occ = norm_float("beds.occupancy_2022_citywide")
        city_stay = norm_float("beds.avg_stay_days_2022_citywide")
        nan = pd.Series(np.nan, index=h.index)
        occ = pd.to_numeric(h["occupancy_2022"], errors="coerce") if "occupancy_2022" in h else nan
        stay = pd.to_numeric(h["avg_stay_days_2022"], errors="coerce") if "avg_stay_days_2022" in h else nan
        source = h["efficiency_source"].fillna("table") if "efficiency_source" in h else "table"
        # a hospital with one figure given keeps the city average for the other: still an estimate
        quality = np.where(occ.notna() & stay.notna(), source, "estimate")
        has = h["name_zh"].isin(list(self.hospital_efficiency))
        occ = occ.where(~has, h["name_zh"].map(lambda n: self.hospital_efficiency.get(n, (np.nan, np.nan))[0]))
        stay = stay.where(~has, h["name_zh"].map(lambda n: self.hospital_efficiency.get(n, (np.nan, np.nan))[1]))
        h["occupancy"] = occ.fillna(city_occ).astype(float)
        h["avg_stay_days"] = stay.fillna(city_stay).astype(float)
        h["efficiency_quality"] = np.where(has, "scenario", quality)
        h["efficiency_applies"] = h["kind"].eq("general")
        fails = (h["occupancy"] < self.min_occupancy - 1e-12) | (h["avg_stay_days"] > self.max_avg_stay_days + 1e-12)
        h["efficiency_fails"] = h["efficiency_applies"] & fails & (h["growth_cap"] > 0)
        earlier = h["no_new_beds"].fillna(False).astype(bool) if "no_new_beds" in h else False
        h["no_new_beds"] = h["efficiency_fails"] | earlier
        return h

    def _icu(self, h: pd.DataFrame, beds: pd.Series) -> pd.DataFrame:
        """ICU range per hospital: ``ceil(low × beds)`` to ``max(min, floor(high × beds))`` (never min > max)."""
        shares = h["level"].map(lambda lv: self.icu_share.get(str(lv), self.icu_share["secondary"]))
        applies = (~h["kind"].isin(ICU_EXEMPT_KINDS) | self.icu_specialist_hospitals).to_numpy()
        lo = [math.ceil(a * b - 1e-9) for (a, _), b in zip(shares, beds, strict=True)]
        hi = [max(m, math.floor(c * b + 1e-9)) for m, (_, c), b in zip(lo, shares, beds, strict=True)]
        h["icu_applies"] = applies
        h["icu_min"] = np.where(applies, lo, 0).astype(int)
        h["icu_max"] = np.where(applies, hi, 0).astype(int)
        return h

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
        hosp = self._icu(hosp, hosp["beds_2025_planned"])
        hosp["icu_planned"] = np.maximum(hosp["icu_min"], np.minimum(hosp["reserved_icu"], hosp["icu_max"]))
        hosp["infectious_beds"] = np.where(hosp["kind"].eq("infectious"), hosp["beds_2025_planned"], 0).astype(int)
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
        # The minimum is designated inside the district's planned beds (the district's own hospitals).
        d["infectious_beds"] = d["infectious_beds_min"]
        d["icu_beds"] = d["code"].map(hosp.groupby("district_code")["icu_planned"].sum()).fillna(0).astype(int)
        d["general_beds"] = d["beds_planned"] - d["infectious_beds"] - d["icu_beds"]
        d["children_estimate"] = (d["residents"] * self.children_share).round().astype("int64")
        rates = self.category_rates
        d["psychiatric_beds_target"] = [norms.beds_for_rate(rates["psychiatric"], r) for r in d["residents"]]
        d["tcm_beds_target"] = [norms.beds_for_rate(rates["tcm_public"], r) for r in d["residents"]]
        d["paediatric_beds_target"] = [norms.beds_for_rate(rates["paediatric"], c) for c in d["children_estimate"]]
        citywide = self._citywide(d, hosp)
        unmet = [
            f"{r.name_zh} ({r.code}) stays {r.shortfall:,} beds short of its 2025 target "
            f"of {r.beds_2025_target:,}: "
            + ("the new-bed budget is exhausted" if self.max_new_beds is not None else "no further beds can be placed")
            for r in d.itertuples()
            if r.shortfall > 0
        ]
        result = BedPlanResult(d, hosp, citywide, unmet, out.status, out.objective, out.status_code)
        result.categories = self._categories(d, hosp)
        result.efficiency = self._efficiency_summary(hosp)
        return result

    def _citywide(self, d: pd.DataFrame, hosp: pd.DataFrame) -> dict:
        """Return the one city-wide figure (districts plus hospitals of unknown district) and its reconciliation."""
        unlocated = int(hosp.loc[hosp["district_code"].isna(), "beds_added"].sum())
        district_beds = int(d["beds_planned"].sum())
        planned_total = district_beds + unlocated
        residents = int(d["residents"].sum())

        def per(beds: float) -> float:
            return float(beds / residents * 1000) if residents else 0.0

        guidelines, planned = per(float(d["beds_2025_target"].sum())), per(planned_total)
        stand_in = ("rate_quality" in d) and bool((d["rate_quality"] != "official").any())
        which = ("the district targets (annex 1; the city-wide rate or the scenario's own for units without a "
                 "guideline)") if stand_in else "the district guidelines (annex 1)"
        return {
            "target_per_1000": self.citywide_per_1000,
            "planned_per_1000": planned,
            "district_targets_per_1000": guidelines,
            "district_planned_per_1000": per(district_beds),
            "beds_planned": planned_total,
            "beds_planned_districts": district_beds,
            "beds_2022_estimate": int(d["beds_2022_estimate"].sum()),
            "municipal_beds_unlocated": unlocated,
            "municipal_beds_unlocated_per_1000": per(unlocated),
            "residents": residents,
            "reconciliation": (
                f"The plan gives {planned:.2f} beds per 1,000 residents ({planned_total:,} beds) against the "
                f"city-wide target of {self.citywide_per_1000:.2f} (001 §二(三)): {which} "
                f"sum to {guidelines:.2f} per 1,000, the districts are planned at {per(district_beds):.2f}, and the "
                f"municipal hospitals of unknown district add {unlocated:,} new beds ({per(unlocated):.2f} per "
                "1,000) that no district target counts."),
        }

    def _categories(self, d: pd.DataFrame, hosp: pd.DataFrame) -> list[dict]:
        """Return the bed categories with their 2025 norm, need and what the municipal hospitals provide.

        A category's need is the sum of the districts' needs (each rounded up), so the city-wide
        figure and the district columns add up.
        """
        residents = int(d["residents"].sum())
        rates = self.category_rates
        names_zh = dict(zip(d["code"], d["name_zh"], strict=True))
        by_kind = hosp.groupby("kind")["beds_2025_planned"].sum()

        def names(mask: pd.Series) -> str:
            return ", ".join(hosp.loc[mask, "name_zh"])

        infectious = int(by_kind.get("infectious", 0))
        rows: list[dict] = [
            {"category": "infectious", "label": "传染病床位 Infectious-disease beds",
             "norm": "district minimums: " + ", ".join(f"{names_zh.get(c, c)} ≥ {v}" for c, v
                                                       in sorted(self.infectious_min.items()) if c in names_zh),
             "source": "001 §三(二)3(5)", "need": int(d["infectious_beds_min"].sum()),
             "municipal": infectious, "municipal_hospitals": names(hosp["kind"].eq("infectious")),
             "planned": int(d["infectious_beds"].sum()) + infectious},
            {"category": "icu", "label": "重症床位 ICU beds",
             "norm": "secondary hospitals {:.0%}–{:.0%}, tertiary {:.0%}–{:.0%} of beds".format(
                 *self.icu_share["secondary"], *self.icu_share.get("tertiary", self.icu_share["secondary"])),
             "source": "001 §三(二)3(5)", "need": int(hosp["icu_min"].sum()),
             "municipal": int(hosp["icu_planned"].sum()), "municipal_hospitals": names(hosp["icu_applies"]),
             "planned": int(hosp["icu_planned"].sum())},
            {"category": "psychiatric", "label": "精神科床位 Psychiatric beds",
             "norm": f"{rates['psychiatric']:g} per 1,000 residents", "source": "001 §二(三) table",
             "need": int(d["psychiatric_beds_target"].sum()),
             "municipal": int(by_kind.get("psychiatric", 0)),
             "municipal_hospitals": names(hosp["kind"].eq("psychiatric"))},
            {"category": "tcm_public", "label": "公立中医医院床位 Public TCM hospital beds",
             "norm": f"{rates['tcm_public']:g} per 1,000 residents", "source": "001 §二(三) table",
             "need": int(d["tcm_beds_target"].sum()),
             "municipal": int(by_kind.get("tcm", 0)), "municipal_hospitals": names(hosp["kind"].eq("tcm"))},
            {"category": "paediatric", "label": "儿科床位 Paediatric beds",
             "norm": f"{rates['paediatric']:g} per 1,000 children (aged 0-14: {self.children_share:.2%} of residents, "
                     "2020 census; estimate per district)", "source": "001 §三(二)3(3)",
             "need": int(d["paediatric_beds_target"].sum()), "municipal": 0,
             "municipal_hospitals": "none counted: annex 2 does not split out paediatric wards"},
        ]
        for row in rows:
            row.setdefault("planned", row["municipal"])
            row["gap"] = max(int(row["need"]) - int(row["planned"]), 0)
            row["need_per_1000"] = row["need"] / residents * 1000 if residents else 0.0
        return rows

    def _efficiency_summary(self, hosp: pd.DataFrame) -> dict:
        """Return the efficiency rule's thresholds, the hospitals it applies to and those it stops."""
        fails = hosp[hosp["efficiency_fails"]]
        return {
            "min_occupancy": self.min_occupancy, "max_avg_stay_days": self.max_avg_stay_days,
            "applies_to": list(hosp.loc[hosp["efficiency_applies"], "name_zh"]),
            "no_new_beds": [
                {"name": r.name_zh, "occupancy": float(r.occupancy), "avg_stay_days": float(r.avg_stay_days),
                 "quality": str(r.efficiency_quality), "beds_forgone": int(r.beds_2025 - r.beds_2022)}
                for r in fails.itertuples()],
        }


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
        """Build the :class:`BedPlan` from ``plans.beds`` (its targets and strategies win over the embedded annex 1).

        Units without an annex-1 guideline (Jinzhong) plan at ``plans.beds.targets`` when the
        scenario gives them one, else at ``citywide_per_1000``; their 2022 stock is estimated
        at Taiyuan's 2022 city-wide rate (``rate_quality`` estimate).
        """
        data, area = inputs.data, inputs.area
        overlay.require_in_area(data, area["code"])
        beds = scenario.plans.beds
        table = data.beds_district.assign(
            beds_per_1000_2025=data.beds_district["code"].map(beds.targets),
            strategy=data.beds_district["code"].map(beds.strategy),
        )
        extra = area.loc[~area["code"].isin(table["code"]), ["code"]].copy()
        if len(extra):
            extra["beds_per_1000_2025"] = extra["code"].map(beds.targets)
            extra["strategy"] = extra["code"].map(beds.strategy)
            extra = extra[extra["beds_per_1000_2025"].notna()]
        targets = norms.bed_targets(area, table, default_rate_2025=beds.citywide_per_1000,
                                    default_rate_2022=norm_float("beds.citywide_per_1000_2022"))
        if len(extra):  # a scenario's own rate for a unit without a guideline row
            given = extra.set_index("code")
            mask = targets["code"].isin(given.index)
            rate = targets.loc[mask, "code"].map(given["beds_per_1000_2025"]).astype(float)
            targets.loc[mask, "rate_2025"] = rate
            targets.loc[mask, "rate_quality"] = "scenario"
            strat = targets.loc[mask, "code"].map(given["strategy"])
            targets.loc[mask, "strategy"] = strat.fillna("neutral")
            res = targets.loc[mask, "residents"]
            targets.loc[mask, "beds_2025_target"] = [norms.beds_for_rate(r, n) for r, n in zip(rate, res, strict=True)]
        if targets.empty:
            return cls(scenario, inputs, None)
        gc = context.results.get("green_channel")
        icu = beds.icu_share
        eff = beds.efficiency
        plan = BedPlan(targets, data.hospitals, citywide_per_1000=beds.citywide_per_1000,
                       infectious_min={str(k): int(v) for k, v in beds.infectious_min.items()},
                       icu_share={"secondary": (icu.secondary[0], icu.secondary[1]),
                                  "tertiary": (icu.tertiary[0], icu.tertiary[1])},
                       reserved_icu=gc.reserved_icu if gc is not None else {},
                       min_occupancy=eff.min_occupancy, max_avg_stay_days=eff.max_avg_stay_days,
                       hospital_efficiency={name: (v.occupancy, v.avg_stay_days) for name, v in eff.hospitals.items()},
                       icu_specialist_hospitals=icu.specialist_hospitals,
                       category_rates={"psychiatric": beds.psychiatric_per_1000, "tcm_public": beds.tcm_public_per_1000,
                                       "paediatric": beds.paediatric_per_1000_children},
                       children_share=beds.children_share)
        return cls(scenario, inputs, plan)

    def solve(self, settings: SolverSettings) -> BedPlanResult | None:
        """Solve under the run's solver settings (``None``: no district of the area has a bed target)."""
        if self.plan is None:
            return None
        return self.plan.solve(None if settings.name == "auto" else settings.name, settings.time_limit_s,
                               settings.log_path("beds"), gap=settings.gap, threads=settings.threads)

    #: Bed columns of the districts layer (and of summary.csv).
    DISTRICT_COLUMNS: ClassVar[tuple[str, ...]] = (
        "code", "beds_2022_estimate", "beds_target", "beds_planned", "beds_change", "beds_per_1000_planned",
        "beds_per_1000_target", "bed_rate_quality", "bed_shortfall", "infectious_beds", "icu_beds", "general_beds",
        "children_estimate", "psychiatric_beds_target", "tcm_beds_target", "paediatric_beds_target")

    def layers(self, result: BedPlanResult | None) -> PlanLayers:
        """Return the ``beds`` layer (municipal hospitals) and the districts' bed columns."""
        if result is None:
            return PlanLayers()
        b = result.districts.rename(columns={"beds_2025_target": "beds_target", "shortfall": "bed_shortfall",
                                             "rate_2025": "beds_per_1000_target", "rate_quality": "bed_rate_quality"})
        h = result.hospitals.rename(columns={"beds_added": "beds_change", "beds_2025_planned": "beds_2025",
                                             "beds_2025": "beds_2025_cap", "name_zh": "name"})
        keep = ["name", "district_code", "kind", "beds_2022", "beds_change", "beds_2025", "icu_min", "icu_max",
                "icu_planned", "reserved_icu", "infectious_beds", "occupancy", "avg_stay_days", "efficiency_quality",
                "efficiency_fails"]
        data = self.inputs.data
        layer: gpd.GeoDataFrame = overlay.relocate(proxy_points(h[keep], data.seats), data.hospital_layer,
                                                   name_col="name")
        return PlanLayers(layers={"beds": layer}, districts=b[list(self.DISTRICT_COLUMNS)])

    def summary(self, result: BedPlanResult | None) -> PlanSummary:
        """Return the bed KPIs, the reconciliation and efficiency notes, the unmet targets, the ``beds`` section."""
        if result is None:
            return PlanSummary()
        city = result.citywide
        cats = {c["category"]: c for c in result.categories}
        kpis = {"beds_target_per_1000": city["district_targets_per_1000"],
                "beds_planned_per_1000": city["planned_per_1000"],
                "citywide_target_per_1000": city["target_per_1000"],
                "beds_planned": city["beds_planned"],
                "infectious_beds_planned": cats["infectious"]["planned"],
                "icu_beds_planned": cats["icu"]["planned"]}
        eff = result.efficiency
        notes = ["District bed stocks for 2022 are estimated from the 2022 per-1,000 rates.", city["reconciliation"]]
        jz = result.districts[result.districts["rate_quality"] != "official"]
        if len(jz):
            notes.append(f"{len(jz)} unit(s) without a district guideline in annex 1 ({', '.join(jz['name_zh'])}) are "
                         "planned at the city-wide rate (or the scenario's own), from a 2022 stock estimated at "
                         "Taiyuan's 2022 rate of 8.15 per 1,000 (estimate).")
        for r in eff["no_new_beds"]:
            flag = " (the city's 2022 average, 001 §一(一)3: estimate)" if r["quality"] == "estimate" else ""
            notes.append(f"Efficiency rule (001 §四(一)2): {r['name']} gets no new beds ({r['beds_forgone']:,} of "
                         f"annex 2 forgone): occupancy {r['occupancy']:.2%} (minimum {eff['min_occupancy']:.0%}), "
                         f"average stay {r['avg_stay_days']:g} days (maximum {eff['max_avg_stay_days']:g}){flag}.")
        section = {"citywide": city, "categories": result.categories, "efficiency": eff,
                   "hospitals": [
                       {"name": r.name_zh, "kind": r.kind, "district_code": None if pd.isna(r.district_code)
                        else str(r.district_code), "beds_2022": int(r.beds_2022), "beds_added": int(r.beds_added),
                        "beds_2025": int(r.beds_2025_planned), "icu_min": int(r.icu_min), "icu_max": int(r.icu_max),
                        "icu_planned": int(r.icu_planned), "infectious_beds": int(r.infectious_beds)}
                       for r in result.hospitals.itertuples()]}
        return PlanSummary(kpis=kpis, notes=[*notes, *result.unmet], solver={"status": result.status},
                           section=section, outcome=PlanOutcome(result.status, result.optimal, label="beds"))
