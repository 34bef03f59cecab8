"""Hospital bed changes: +/− badges at hospitals (hidden by default)."""

from __future__ import annotations

from typing import Any

import folium
import geopandas as gpd

from healthopt.outputs.legend import LegendEntry, LegendSpec
from healthopt.outputs.maps._format import esc, fmt_int, fmt_signed, is_missing, quality_text, tip_table
from healthopt.outputs.maps._geometry import valid_points
from healthopt.outputs.maps.names import LAYER_BEDS

BED_UP, BED_DOWN = "#1a9850", "#d73027"


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


def bed_layer(beds: gpd.GeoDataFrame | None) -> folium.FeatureGroup | None:
    """Return +/− bed-change badges at hospitals (hidden by default), or None if none."""
    b = valid_points(beds)
    if b is None or "beds_change" not in b.columns:
        return None
    group = folium.FeatureGroup(name=LAYER_BEDS, show=False)
    for row in b.itertuples():
        change = 0 if is_missing(row.beds_change) else row.beds_change
        proxy = " proxy" if getattr(row, "location_quality", "") == "proxy" else ""
        color = BED_UP if change >= 0 else BED_DOWN
        html = (f'<span class="hopt-bed{proxy}" style="background:{color}">'
                f"{esc(fmt_signed(change))}</span>")
        folium.Marker([round(row.geometry.y, 6), round(row.geometry.x, 6)],
                      icon=folium.DivIcon(html=html, icon_size=(0, 0), class_name="hopt-icon"),
                      tooltip=folium.Tooltip(bed_tip(row))).add_to(group)
    return group


def bed_legend(unmapped: int) -> LegendSpec:
    """Return the bed-change legend (``unmapped`` = hospitals without a location)."""
    note = f"{unmapped} hospital(s) without a location are not drawn" if unmapped else ""
    return LegendSpec("床位变化 Bed change 2022 → plan", [
        LegendEntry("+ 增加 Beds added", BED_UP, "square", 14),
        LegendEntry("− 减少 Beds reduced", BED_DOWN, "square", 14),
        LegendEntry("代用位置 Proxy location: district seat (dashed)", "#111111", "dashed", 18),
    ], note=note)
