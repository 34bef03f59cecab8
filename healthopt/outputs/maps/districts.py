"""District layers: the two choropleths (coverage share, ambulance norm gap) and name labels."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import folium
import geopandas as gpd

from healthopt.outputs.legend import LegendEntry, LegendSpec
from healthopt.outputs.maps._format import (
    classify,
    classify_upto,
    district_label,
    esc,
    fmt_int,
    fmt_num,
    fmt_pct,
    fmt_signed,
    tip_table,
)
from healthopt.outputs.maps._geometry import feature_collection, lite_polygons
from healthopt.outputs.maps.names import LAYER_LABELS, NO_DATA

#: Coverage-share classes: (upper bound, colour, label).  Low coverage is the darkest.
COVERAGE_CLASSES: tuple[tuple[float, str, str], ...] = (
    (0.50, "#a50f15", "< 50 %"),
    (0.70, "#de2d26", "50–70 %"),
    (0.85, "#fb6a4a", "70–85 %"),
    (0.95, "#fcae91", "85–95 %"),
    (math.inf, "#fee5d9", "≥ 95 %"),
)
#: Norm-gap classes (planned − norm): (upper bound, colour, label).
GAP_CLASSES: tuple[tuple[float, str, str], ...] = (
    (-10, "#b2182b", "≤ −10 vehicles short 缺 10 辆以上"),
    (-1, "#ef8a62", "−9 to −1 short 略缺"),
    (0, "#f7f7f7", "0 meets the norm 达标"),
    (math.inf, "#67a9cf", "+1 or more above 超出"),
)


def district_tip(row: Any) -> str:
    """Return the KPI tooltip of one district."""
    rows: list[tuple[str, str]] = []

    def add(label: str, cols: Sequence[str], text: Callable[[], str]) -> None:
        if all(hasattr(row, c) for c in cols):
            rows.append((label, esc(text())))

    est = " ⚠" if getattr(row, "population_quality", "") in {"estimate", "proxy"} else ""
    add("常住人口 Residents", ["residents"], lambda: fmt_int(row.residents) + est)
    add("救护车 Fleet planned / norm", ["amb_planned", "amb_norm"],
        lambda: f"{fmt_int(row.amb_planned)} / {fmt_int(row.amb_norm)}")
    add("缺口 Gap vs norm", ["amb_gap"], lambda: fmt_signed(row.amb_gap))
    add("负压 Negative pressure", ["amb_np_planned"], lambda: fmt_int(row.amb_np_planned))
    add("呼叫及时到达 Calls reached in time (sim. ⚠)", ["sim_reached_share"], lambda: fmt_pct(row.sim_reached_share, 1))
    add("P90 响应 90th-percentile response (sim.)", ["sim_p90_min"], lambda: f"{fmt_num(row.sim_p90_min, 1)} min")
    add("社区中心 CHC planned / required", ["chc_planned", "chc_required"],
        lambda: f"{fmt_int(row.chc_planned)} / {fmt_int(row.chc_required)}")
    add("乡镇卫生院 THC planned / required", ["thc_planned", "thc_required"],
        lambda: f"{fmt_int(row.thc_planned)} / {fmt_int(row.thc_required)}")
    add("每千人床位 Beds / 1,000 (target)", ["beds_per_1000_planned", "beds_per_1000_target"],
        lambda: f"{fmt_num(row.beds_per_1000_planned)} ({fmt_num(row.beds_per_1000_target)})")
    return tip_table(rows, esc(district_label(row)))


def district_data(districts: gpd.GeoDataFrame) -> dict[str, Any]:
    """Return the district FeatureCollection with tooltip and both choropleth colours."""
    d = districts.reset_index(drop=True)
    rows = list(d.itertuples())
    cov = [(classify(getattr(r, "sim_reached_share", None), COVERAGE_CLASSES) or (0, NO_DATA))[1]
           for r in rows]  # the simulated share of calls reached in time (the headline)
    gap = [(classify_upto(getattr(r, "amb_gap", None), GAP_CLASSES) or (0, NO_DATA))[1]
           for r in rows]
    props = {"code": [str(r.code) for r in rows], "tip": [district_tip(r) for r in rows],
             "fill_cov": cov, "fill_gap": gap}
    return feature_collection(d, props, lite_polygons(d, 0.001, coverage=True))


def choropleth(data: dict[str, Any], name: str, fill_key: str, show: bool) -> folium.GeoJson:
    """Return one district choropleth layer (``fill_key``: the colour property to use)."""
    def style(feature: dict[str, Any]) -> dict[str, Any]:
        return {"fillColor": feature["properties"][fill_key], "fillOpacity": 0.5,
                "color": "#555555", "weight": 1.2}

    return folium.GeoJson(
        data, name=name, show=show, style_function=style,
        highlight_function=lambda _f: {"weight": 3, "color": "#222222"},
        tooltip=folium.GeoJsonTooltip(fields=["tip"], labels=False, sticky=True),
    )


def label_layer(districts: gpd.GeoDataFrame) -> folium.FeatureGroup:
    """Return two-line bilingual district labels at representative points."""
    group = folium.FeatureGroup(name=LAYER_LABELS, show=True)
    points = districts.geometry.representative_point()
    for row, pt in zip(districts.itertuples(), points, strict=True):
        zh, en = esc(getattr(row, "name_zh", "") or ""), esc(getattr(row, "name_en", "") or "")
        html = f"<span>{zh}<br><small>{en}</small></span>"
        folium.Marker([round(pt.y, 5), round(pt.x, 5)], interactive=False,
                      icon=folium.DivIcon(html=html, icon_size=(0, 0),
                                          class_name="hopt-label")).add_to(group)
    return group


def coverage_legend(*, urban: float = 12.0, county: float = 20.0) -> LegendSpec:
    """Return the legend of the coverage-share choropleth (the scenario's response standards)."""
    entries = [LegendEntry(label, color, "square", 14, opacity=0.8)
               for _, color, label in COVERAGE_CLASSES]
    return LegendSpec("呼叫及时到达 Calls reached within the standard (simulated)", entries,
                      note=f"{float(urban):g} min urban districts / {float(county):g} min counties "
                      "(the scenario's response standards); ⚠ estimated call rates", scale=True)


def gap_legend() -> LegendSpec:
    """Return the legend of the ambulance norm-gap choropleth."""
    entries = [LegendEntry(label, color, "square", 14, opacity=0.8)
               for _, color, label in GAP_CLASSES]
    return LegendSpec("救护车缺口 Ambulances planned − norm", entries,
                      note="norm: 1 per 30,000 residents (urban), 1 per 10,000 (counties)", scale=True)
