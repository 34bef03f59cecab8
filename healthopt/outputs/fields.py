"""What each output field means: bilingual labels, units and sources (the field catalogue).

One table for every output that names a field to a reader: the workbook's header rows and
its ``Fields`` sheet, the compare page's KPI table. A field missing here (a plan's new
column) is still written, under its own name, with an empty meaning, so new figures flow
into the outputs before they are described.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["FIELDS", "FieldInfo", "field_info", "flatten", "is_number"]


@dataclass(frozen=True)
class FieldInfo:
    """Label, meaning, unit and source of one output field."""

    zh: str
    en: str
    unit: str = ""
    source: str = ""


_PLAN_AMB = "ambulance plan (optimised)"
_PLAN_PC = "health-centre plan (optimised)"
_PLAN_BEDS = "bed plan"
_CENSUS = "2020 census, grown to the plan year (population.growth_per_year)"
_GRID = "grid population model (estimate), summed by status"
_NORM_AMB = "norm: seed 001 §四(三)1 (1 per 30,000 urban / 10,000 county residents)"
_NORM_PC = "norm: seed 001 (primary care network)"
_NORM_BEDS = "norm: seed 001 annex 1 (beds per 1,000 by district)"
_GC = "green channel (seed 000 §(五)); times from the road graph or straight-line estimates"

#: Field catalogue by field name (layer columns and ``summary.json`` KPI keys share names).
FIELDS: dict[str, FieldInfo] = {
    # --- districts ---------------------------------------------------------------------
    "code": FieldInfo("区划代码", "Division code (adcode)", "", "NBS division codes"),
    "name_zh": FieldInfo("名称", "Name (Chinese)"),
    "name_en": FieldInfo("英文名", "Name (English)"),
    "name": FieldInfo("名称", "Name"),
    "kind": FieldInfo("类型", "Kind"),
    "norm_class": FieldInfo("标准类别", "Norm class (urban / county)", "", "scenario area.urban"),
    "residents": FieldInfo("常住人口", "Resident population", "persons", _CENSUS),
    "population_census": FieldInfo("普查人口", "Census population 2020", "persons", "2020 census"),
    "population_quality": FieldInfo("人口数据质量", "Population quality flag"),
    "amb_norm": FieldInfo("救护车标准数", "Ambulances required by the norm", "vehicles", _NORM_AMB),
    "amb_planned": FieldInfo("规划救护车", "Ambulances planned", "vehicles", _PLAN_AMB),
    "amb_np_planned": FieldInfo("规划负压救护车", "Negative-pressure ambulances planned", "vehicles", _PLAN_AMB),
    "amb_gap": FieldInfo("救护车缺口", "Planned minus norm (negative = short)", "vehicles", _PLAN_AMB),
    "stations": FieldInfo("急救站数", "Ambulance stations", "stations", _PLAN_AMB),
    "pop_covered": FieldInfo("覆盖范围内且在每车人口标准内", "Within reach and within the per-ambulance ratio "
                             "(30,000 urban / 10,000 county residents per ambulance: a fleet-size norm, not "
                             "coverage; see sim_reached_share)", "persons", _GRID),
    "pop_beyond_capacity": FieldInfo("覆盖范围内超出每车人口标准", "Within reach, beyond the per-ambulance ratio "
                                     "(not a shortfall of coverage)", "persons", _GRID),
    "pop_outside": FieldInfo("不在任何覆盖范围", "Outside every catchment", "persons", _GRID),
    "calls_expected": FieldInfo("年急救呼叫(估)", "Emergency calls a year (estimate from the call rates)", "calls",
                                "plans.ambulances.calls (estimate)"),
    "calls_covered_expected": FieldInfo("模型预期及时呼叫", "Calls reached in time, expected by the model "
                                        "(the optimised objective; the headline is sim_reached_share)", "calls",
                                        _PLAN_AMB),
    "coverage_share": FieldInfo("每车人口标准内占比", "Share within reach and within the per-ambulance ratio "
                                "(secondary; the headline is sim_reached_share)", "share", _GRID),
    "physicians": FieldInfo("医师", "Physicians (ambulance crews)", "persons", "crew norm × vehicles × shifts"),
    "nurses": FieldInfo("护士", "Nurses (ambulance crews)", "persons", "crew norm × vehicles × shifts"),
    "drivers": FieldInfo("驾驶员", "Drivers (ambulance crews)", "persons", "crew norm × vehicles × shifts"),
    "chc_required": FieldInfo("社区卫生服务中心需求", "CHCs required", "centres", _NORM_PC),
    "thc_required": FieldInfo("乡镇卫生院需求", "Township health centres required", "centres", _NORM_PC),
    "chc_planned": FieldInfo("规划社区卫生服务中心", "CHCs planned", "centres", _PLAN_PC),
    "thc_planned": FieldInfo("规划乡镇卫生院", "Township health centres planned", "centres", _PLAN_PC),
    "pop_within_pc_standard": FieldInfo("基层服务标准内人口", "Residents within the primary-care travel standard",
                                        "persons", _PLAN_PC),
    "pop_unreached": FieldInfo("基层服务未达人口", "Residents beyond the primary-care travel standard",
                               "persons", _PLAN_PC),
    "beds_2022_estimate": FieldInfo("2022年床位(估)", "Beds 2022 (estimate from the per-1,000 rate)", "beds",
                                    "seed 001 annex 1 rate × residents (estimate)"),
    "beds_target": FieldInfo("目标床位", "Beds at the 2025 target", "beds", _NORM_BEDS),
    "beds_planned": FieldInfo("规划床位", "Beds planned", "beds", _PLAN_BEDS),
    "beds_per_1000_planned": FieldInfo("每千人床位(规划)", "Beds per 1,000 residents, planned", "beds per 1,000",
                                       _PLAN_BEDS),
    "beds_per_1000_target": FieldInfo("每千人床位(目标)", "Beds per 1,000 residents, target", "beds per 1,000",
                                      _NORM_BEDS),
    "bed_shortfall": FieldInfo("床位缺口", "Beds short of the target", "beds", _PLAN_BEDS),
    # --- stations / health centres -------------------------------------------------------
    "site_id": FieldInfo("站点编号", "Site id"),
    "district_code": FieldInfo("所在区县代码", "District code"),
    "status": FieldInfo("状态", "Status (existing / new / ...)"),
    "vehicles": FieldInfo("救护车", "Ambulances at the station", "vehicles", _PLAN_AMB),
    "negative_pressure": FieldInfo("负压救护车", "Negative-pressure ambulances", "vehicles", _PLAN_AMB),
    "np_share": FieldInfo("负压占比", "Negative-pressure share", "share", _PLAN_AMB),
    "location_quality": FieldInfo("位置质量", "Location quality (user / network_node / proxy / ...)"),
    "estimated": FieldInfo("估算", "Travel times are straight-line estimates", "true/false",
                           "no road data where true"),
    "pop_served": FieldInfo("服务人口", "Residents served", "persons", _PLAN_PC),
    "max_minutes": FieldInfo("最长出行时间", "Longest travel time to the centre", "minutes", _PLAN_PC),
    "lon": FieldInfo("经度", "Longitude (WGS84)", "degrees"),
    "lat": FieldInfo("纬度", "Latitude (WGS84)", "degrees"),
    # --- beds ----------------------------------------------------------------------------
    "beds_2022": FieldInfo("2022年床位", "Beds 2022", "beds", "seed 001 annex 2"),
    "beds_change": FieldInfo("床位变化", "Bed change 2022→2025", "beds", "seed 001 annex 2"),
    "beds_2025": FieldInfo("2025年床位", "Beds 2025", "beds", "seed 001 annex 2"),
    "icu_min": FieldInfo("ICU床位下限", "ICU beds, low end of the range", "beds", "ICU share norm × beds"),
    "icu_max": FieldInfo("ICU床位上限", "ICU beds, high end of the range", "beds", "ICU share norm × beds"),
    "reserved_icu": FieldInfo("绿色通道预留ICU", "ICU beds reserved for the green channel", "beds",
                              "scenario plans.green_channel.reserved_icu_beds (assumption)"),
    "infectious_beds": FieldInfo("传染病床位", "Infectious-disease beds", "beds", _PLAN_BEDS),
    # --- green channel -------------------------------------------------------------------
    "sender": FieldInfo("转出医院", "Sending hospital", "", _GC),
    "receiver": FieldInfo("接诊医院", "Receiving hospital", "", _GC),
    "minutes": FieldInfo("时间", "Travel time", "minutes", _GC),
    "sender_location_quality": FieldInfo("转出医院位置质量", "Sending hospital location quality"),
    "receiver_location_quality": FieldInfo("接诊医院位置质量", "Receiving hospital location quality"),
    # --- KPIs (summary.json "kpis") --------------------------------------------------------
    "pop_total": FieldInfo("常住人口合计", "Residents in the study area", "persons", _CENSUS),
    "fleet_norm": FieldInfo("救护车标准数", "Ambulances required by the norm", "vehicles", _NORM_AMB),
    "fleet_planned": FieldInfo("规划救护车", "Ambulances planned", "vehicles", _PLAN_AMB),
    "fleet_baseline": FieldInfo("基线救护车", "Ambulances in the baseline", "vehicles", "scenario baseline"),
    "np_planned": FieldInfo("规划负压救护车", "Negative-pressure ambulances planned", "vehicles", _PLAN_AMB),
    "np_required_share": FieldInfo("负压占比标准", "Negative-pressure share required", "share", _NORM_AMB),
    "stations_new": FieldInfo("新建急救站", "New ambulance stations", "stations", _PLAN_AMB),
    "stations_planned": FieldInfo("规划急救站", "Ambulance stations planned", "stations", _PLAN_AMB),
    "staff.physician": FieldInfo("急救医师", "Ambulance physicians", "persons", "crew norm × vehicles × shifts"),
    "staff.nurse": FieldInfo("急救护士", "Ambulance nurses", "persons", "crew norm × vehicles × shifts"),
    "staff.driver": FieldInfo("急救驾驶员", "Ambulance drivers", "persons", "crew norm × vehicles × shifts"),
    "subcentres_planned": FieldInfo("县域医疗次中心", "County sub-centres planned", "centres", _PLAN_PC),
    "beds_target_per_1000": FieldInfo("每千人床位目标", "Beds per 1,000 target (population-weighted)",
                                      "beds per 1,000", _NORM_BEDS),
    "beds_planned_per_1000": FieldInfo("每千人床位(规划)", "Beds per 1,000 planned", "beds per 1,000", _PLAN_BEDS),
    "citywide_target_per_1000": FieldInfo("全市每千人床位目标", "City-wide beds per 1,000 target", "beds per 1,000",
                                          "norm: seed 001"),
    "gap": FieldInfo("最优性差距", "Relative MIP gap of the headline plan", "share", "solver"),
}


def field_info(name: str) -> FieldInfo:
    """Return the catalogue entry of ``name`` (its own name and no meaning if not catalogued)."""
    return FIELDS.get(name) or FIELDS.get(name.rsplit(".", 1)[-1]) or FieldInfo(name, "")


def is_number(value: Any) -> bool:
    """Return whether ``value`` is a real number (not a bool)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def flatten(data: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Yield ``(dotted key, value)`` for every scalar of a nested mapping, in key order.

    Lists are left out (they are tables or notes, not figures).

    Examples
    --------
    >>> list(flatten({"a": 1, "staff": {"nurse": 2}, "notes": ["x"]}))
    [('a', 1), ('staff.nurse', 2)]
    """
    for key in sorted(data):
        value = data[key]
        if isinstance(value, Mapping):
            yield from flatten(value, f"{prefix}{key}.")
        elif not isinstance(value, list | tuple):
            yield f"{prefix}{key}", value
