"""Hospital and district bed changes (hidden by default).

* Hospitals with a location get a +/− badge; hospitals sharing one point (several placed at
  the same district seat) share one badge that lists them all, so none hides another.
* Hospitals without a location are listed by name in the legend with their change.
* Each district gets a rounded badge (below its name label) of its planned change in beds (``beds_planned`` −
  ``beds_2022_estimate`` of the districts layer) at its label point, when the run has them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import folium
import geopandas as gpd

from healthopt.outputs.legend import LegendEntry, LegendSpec
from healthopt.outputs.maps._format import (
    district_label,
    esc,
    fmt_int,
    fmt_signed,
    is_missing,
    quality_text,
    tip_table,
)
from healthopt.outputs.maps._geometry import valid_points
from healthopt.outputs.maps.names import LAYER_BEDS

BED_UP, BED_DOWN, BED_SAME = "#1a9850", "#d73027", "#737373"
PROXY_STROKE = "#111111"
DISTRICT_UP, DISTRICT_DOWN = "#66bd63", "#f46d43"


def _change(value: Any) -> float:
    return 0.0 if is_missing(value) else float(value)


def _color(change: float, up: str = BED_UP, down: str = BED_DOWN) -> str:
    return up if change > 0 else down if change < 0 else BED_SAME


def bed_tip(row: Any) -> str:
    """Return the tooltip of one hospital's bed change."""
    rows = [("2022 床位 Beds 2022", esc(fmt_int(getattr(row, "beds_2022", None)))),
            ("变化 Change", esc(fmt_signed(getattr(row, "beds_change", None)))),
            ("规划 Beds planned", esc(fmt_int(getattr(row, "beds_2025", None))))]
    if hasattr(row, "icu_min") and hasattr(row, "icu_max"):
        rows.append(("重症 ICU beds", esc(f"{fmt_int(row.icu_min)}–{fmt_int(row.icu_max)}")))
    if hasattr(row, "infectious_beds"):
        rows.append(("传染病 Infectious-disease beds", esc(fmt_int(row.infectious_beds))))
    rows.append(("位置 Location", esc(quality_text(getattr(row, "location_quality", "")))))
    return tip_table(rows, esc(getattr(row, "name", "")))


def district_bed_changes(districts: gpd.GeoDataFrame | None) -> list[tuple[str, float, Any]]:
    """Return ``(label, change, point)`` of each district with bed figures (else ``[]``)."""
    if districts is None or not {"beds_planned", "beds_2022_estimate"} <= set(districts.columns):
        return []
    out = []
    for row, pt in zip(districts.itertuples(), districts.geometry.representative_point(), strict=True):
        if is_missing(row.beds_planned) or is_missing(row.beds_2022_estimate):
            continue
        out.append((district_label(row), float(row.beds_planned) - float(row.beds_2022_estimate), pt))
    return out


def bed_layer(beds: gpd.GeoDataFrame | None,
              districts: gpd.GeoDataFrame | None = None) -> folium.FeatureGroup | None:
    """Return hospital and district bed-change badges (hidden by default), or None if none."""
    b = valid_points(beds)
    per_district = district_bed_changes(districts)
    if (b is None or "beds_change" not in b.columns) and not per_district:
        return None
    group = folium.FeatureGroup(name=LAYER_BEDS, show=False)
    for label, change, pt in per_district:
        html = (f'<span class="hopt-bed district" style="background:{_color(change, DISTRICT_UP, DISTRICT_DOWN)}">'
                f"{esc(fmt_signed(change))}</span>")
        tip = tip_table([("床位变化 Bed change (district, estimate)", esc(fmt_signed(change)))],
                        esc(label))
        folium.Marker([round(pt.y, 5), round(pt.x, 5)],
                      icon=folium.DivIcon(html=html, icon_size=(0, 0), icon_anchor=(0, -30),
                                          class_name="hopt-icon"),
                      tooltip=folium.Tooltip(tip)).add_to(group)
    if b is not None and "beds_change" in b.columns:
        keyed = b.assign(_lat=b.geometry.y.round(5), _lon=b.geometry.x.round(5))
        for (lat, lon), part in keyed.groupby(["_lat", "_lon"], sort=True):
            rows = list(part.itertuples())
            total = sum(_change(r.beds_change) for r in rows)
            proxy = any(getattr(r, "location_quality", "") == "proxy" for r in rows)
            dash = f";border:1.5px dashed {PROXY_STROKE}" if proxy else ""
            count = f" ×{len(rows)}" if len(rows) > 1 else ""
            html = (f'<span class="hopt-bed" style="background:{_color(total)}{dash}">'
                    f"{esc(fmt_signed(total))}{count}</span>")
            folium.Marker([lat, lon], icon=folium.DivIcon(html=html, icon_size=(0, 0), class_name="hopt-icon"),
                          tooltip=folium.Tooltip("".join(bed_tip(r) for r in rows))).add_to(group)
    return group


def bed_legend(unmapped: int | Sequence[Any], beds: gpd.GeoDataFrame | None = None,
               districts: gpd.GeoDataFrame | None = None) -> LegendSpec:
    """Return the bed-change legend: symbols drawn, and the hospitals without a location.

    Parameters
    ----------
    unmapped : int or sequence of rows
        Hospitals without a location (rows with ``name`` and ``beds_change`` are listed).
    beds : GeoDataFrame, optional
        The drawn hospitals (only the colours used are listed; ``None``: all).
    districts : GeoDataFrame, optional
        Districts with bed figures (adds the district badge entries).

    Returns
    -------
    LegendSpec
    """
    b = valid_points(beds)
    changes = {_color(_change(v)) for v in b["beds_change"]} if b is not None and "beds_change" in b else \
        ({BED_UP, BED_DOWN} if beds is None else set())
    entries = []
    for color, label in ((BED_UP, "+ 增加 Beds added (hospital)"), (BED_DOWN, "− 减少 Beds reduced (hospital)"),
                         (BED_SAME, "0 不变 No change (hospital)")):
        if color in changes:
            entries.append(LegendEntry(label, color, "square", 14))
    if b is not None and "location_quality" in b and (b["location_quality"] == "proxy").any():
        entries.append(LegendEntry("代用位置 Proxy location: district seat (dashed)", PROXY_STROKE, "dashed", 18))
    district_changes = {_color(c, DISTRICT_UP, DISTRICT_DOWN) for _, c, _ in district_bed_changes(districts)}
    for color, label in ((DISTRICT_UP, "区县床位增加 District beds added"),
                         (DISTRICT_DOWN, "区县床位减少 District beds reduced"),
                         (BED_SAME, "区县不变 District no change")):
        if color in district_changes:
            entries.append(LegendEntry(label, color, "square", 14, border="#333333"))
    if isinstance(unmapped, int):
        note = f"{unmapped} hospital(s) without a location are not drawn" if unmapped else ""
    else:
        rows = list(unmapped)
        listed = "; ".join(f"{getattr(r, 'name', '')} {fmt_signed(getattr(r, 'beds_change', None))}"
                           for r in rows)
        note = (f"未定位 Not on the map (no location), {len(rows)}: {listed}" if rows else "")
    return LegendSpec("床位变化 Bed change 2022 → plan", entries, note=note)
