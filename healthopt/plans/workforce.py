"""Health workers the 2025 norms ask of each district, and the ambulance crews by shift.

No optimisation: norm arithmetic per district (001 §二(三) table, §四(二)):

* physicians (执业(助理)医师) ``ceil(6 × residents / 1000)``;
* registered nurses (注册护士) the larger of ``ceil(6.5 × residents / 1000)`` and the
  doctor:nurse ratio 1:1.35 applied to the physicians (``ceil(1.35 × physicians)``);
* pharmacists (药师(士)) 0.54 and public-health staff (公共卫生人员) 0.83 per 1,000;
* general practitioners (全科医生) 3.5 per 10,000.

The ambulance crews are read from the ambulance plan (``context.results["ambulances"]``):
one physician, one nurse and one driver per vehicle and shift (001 §四(二)1), times the
shifts per day (``plans.ambulances.shifts``); this plan never changes the ambulance plan.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import pandas as pd

from healthopt.plans.base import Inputs, PlanContext, PlanLayers, PlanSummary
from healthopt.scenario.defaults import norm_float

if TYPE_CHECKING:
    from healthopt.milp.settings import SolverSettings
    from healthopt.scenario import Scenario

#: Roles of the staff norms, in the order the report shows them.
ROLES: tuple[str, ...] = ("physicians", "nurses", "pharmacists", "public_health", "gps")

#: Taiyuan's 2022 figures (001 §二(三) table): norms key and residents per rate unit.
RATES_2022: dict[str, tuple[str, int]] = {
    "physicians": ("staff.physicians_per_1000_2022", 1000), "nurses": ("staff.nurses_per_1000_2022", 1000),
    "pharmacists": ("staff.pharmacists_per_1000_2022", 1000),
    "public_health": ("staff.public_health_per_1000_2022", 1000), "gps": ("staff.gp_per_10000_2022", 10_000)}


def staff_2022(residents: int) -> dict[str, int]:
    """Return Taiyuan's 2022 staff rates (001 §二(三) table) applied to ``residents``, rounded (an estimate).

    Examples
    --------
    >>> staff_2022(1_000_000)["physicians"], staff_2022(1_000_000)["gps"]
    (4840, 270)
    """
    return {role: round(norm_float(key) * residents / per) for role, (key, per) in RATES_2022.items()}


def _per(rate: float, residents: float, per: float) -> int:
    """Staff a ``rate`` per ``per`` residents asks of ``residents``, rounded up."""
    return math.ceil(rate * residents / per - 1e-9)


def staff_needed(districts: pd.DataFrame, *, physicians_per_1000: float, nurses_per_1000: float,
                 nurses_per_physician: float, pharmacists_per_1000: float, public_health_per_1000: float,
                 gp_per_10000: float) -> pd.DataFrame:
    """Return the staff needed per district by the 2025 norms.

    Parameters
    ----------
    districts : DataFrame
        ``code, name_zh, residents``.
    physicians_per_1000, nurses_per_1000, pharmacists_per_1000, public_health_per_1000 : float
        Per 1,000 residents.
    nurses_per_physician : float
        The doctor:nurse ratio (1:1.35 -> 1.35).
    gp_per_10000 : float
        General practitioners per 10,000 residents.

    Returns
    -------
    DataFrame
        ``code, name_zh, residents, physicians_needed, nurses_by_rate, nurses_by_ratio,
        nurses_needed, pharmacists_needed, public_health_needed, gps_needed``.

    Examples
    --------
    >>> d = pd.DataFrame({"code": ["A"], "name_zh": ["甲"], "residents": [100_000]})
    >>> r = staff_needed(d, physicians_per_1000=6, nurses_per_1000=6.5, nurses_per_physician=1.35,
    ...                  pharmacists_per_1000=0.54, public_health_per_1000=0.83, gp_per_10000=3.5).iloc[0]
    >>> int(r.physicians_needed), int(r.nurses_by_rate), int(r.nurses_needed), int(r.gps_needed)
    (600, 650, 810, 35)
    """
    out = districts[["code", "name_zh", "residents"]].copy()
    res = out["residents"].astype(float)
    out["physicians_needed"] = [_per(physicians_per_1000, r, 1000) for r in res]
    out["nurses_by_rate"] = [_per(nurses_per_1000, r, 1000) for r in res]
    out["nurses_by_ratio"] = [math.ceil(nurses_per_physician * p - 1e-9) for p in out["physicians_needed"]]
    out["nurses_needed"] = out[["nurses_by_rate", "nurses_by_ratio"]].max(axis=1)
    out["pharmacists_needed"] = [_per(pharmacists_per_1000, r, 1000) for r in res]
    out["public_health_needed"] = [_per(public_health_per_1000, r, 1000) for r in res]
    out["gps_needed"] = [_per(gp_per_10000, r, 10_000) for r in res]
    return out.reset_index(drop=True)


@dataclass
class WorkforceResult:
    """Staff needed per district and the ambulance crews (``crews`` empty without an ambulance plan)."""

    districts: pd.DataFrame
    crews: dict[str, Any] = field(default_factory=dict)
    rates: dict[str, float] = field(default_factory=dict)


class Workforce:
    """The staff norms (:func:`staff_needed`) as the pipeline runs them (after the ambulance plan)."""

    name: ClassVar[str] = "workforce"
    step: ClassVar[str] = "staff norms"

    def __init__(self, scenario: Scenario, inputs: Inputs, context: PlanContext) -> None:
        self.scenario, self.inputs, self.context = scenario, inputs, context

    @classmethod
    def enabled(cls, scenario: Scenario) -> bool:
        """``plans.workforce.enabled``."""
        return bool(scenario.plans.workforce.enabled)

    @classmethod
    def from_scenario(cls, scenario: Scenario, inputs: Inputs, context: PlanContext) -> Workforce:
        """Read ``plans.workforce``."""
        return cls(scenario, inputs, context)

    def solve(self, settings: SolverSettings) -> WorkforceResult:
        """Apply the staff norms to the study area's residents; read the crews from the ambulance plan."""
        wf = self.scenario.plans.workforce
        rates = wf.model_dump(exclude={"enabled"})
        area = self.inputs.area.rename(columns={"population": "residents"})
        table = staff_needed(area, **rates)
        return WorkforceResult(table, self._crews(), rates)

    def _crews(self) -> dict[str, Any]:
        amb = self.context.results.get("ambulances")
        if amb is None or getattr(amb, "districts", None) is None:
            return {}
        shifts = int(self.scenario.plans.ambulances.shifts)
        per_vehicle = self.scenario.plans.ambulances.staff_per_vehicle.model_dump()
        roles = [f"{role}s" for role in per_vehicle if f"{role}s" in amb.districts]
        vehicles = int(amb.districts["amb_planned"].sum()) if "amb_planned" in amb.districts else None
        total = {role: int(amb.districts[role].sum()) for role in roles}
        return {"shifts_per_day": shifts, "vehicles": vehicles, "per_vehicle_per_shift": per_vehicle,
                "total": total, "per_shift": {role: n // shifts for role, n in total.items()},
                "by_district": {str(r.code): {role: int(getattr(r, role)) for role in roles}
                                for r in amb.districts.itertuples()}}

    def layers(self, result: WorkforceResult) -> PlanLayers:
        """Return the districts' staff columns."""
        cols = ["code", *[f"{role}_needed" for role in ROLES]]
        return PlanLayers(districts=result.districts[cols])

    def summary(self, result: WorkforceResult) -> PlanSummary:
        """Return the staff KPIs and the ``workforce`` section (per district, crews, norms)."""
        d = result.districts
        kpis = {f"{role}_needed": int(d[f"{role}_needed"].sum()) for role in ROLES}
        taiyuan = int(d.loc[d["code"].astype(str).str.startswith("1401"), "residents"].sum())
        section = {"rates": result.rates, "crews": result.crews,
                   "taiyuan_2022_estimate": {"residents": taiyuan, "staff": staff_2022(taiyuan),
                                             "note": "Taiyuan's 2022 rates (001 §二(三) table) x the residents of "
                                                     "its units in the study area: an estimate of today's workforce"},
                   "nurses_by_rate": int(d["nurses_by_rate"].sum()), "nurses_by_ratio": int(d["nurses_by_ratio"].sum()),
                   "source": "001 §二(三) table, §四(二)1-2; ambulance crews §四(二)1",
                   "districts": d.to_dict(orient="records")}
        notes = ["Staff needed are the 2025 norms applied to the census residents (001 §二(三), §四(二)); no "
                 "district staff counts are published, so the gap to today's workforce is not shown per district."]
        return PlanSummary(kpis=kpis, notes=notes, section=section)
