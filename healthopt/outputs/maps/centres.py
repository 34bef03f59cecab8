"""Health centres: C / T / S badges (white if new, dashed if at a proxy location)."""

from __future__ import annotations

from typing import Any

import folium
import geopandas as gpd

from healthopt.outputs.legend import LegendEntry, LegendSpec
from healthopt.outputs.maps._format import esc, fmt_int, fmt_num, quality_text, tip_table
from healthopt.outputs.maps._geometry import valid_points
from healthopt.outputs.maps.names import LAYER_CENTRES

CENTRE_COLOR = "#238b45"
CENTRE_KINDS = {"chc": ("C", "社区卫生服务中心 CHC"), "thc": ("T", "乡镇卫生院 THC"),
                "subcentre": ("S", "县域医疗次中心 Sub-centre")}


def centre_icon(row: Any) -> folium.DivIcon:
    """Return the C/T/S badge of a health centre (white fill if new, dashed if proxy)."""
    letter = CENTRE_KINDS.get(str(getattr(row, "kind", "")), ("?", ""))[0]
    new = getattr(row, "status", "") == "new"
    fill, text = ("#ffffff", CENTRE_COLOR) if new else (CENTRE_COLOR, "#ffffff")
    dash = ' stroke-dasharray="3 2"' if getattr(row, "location_quality", "") == "proxy" else ""
    svg = (f'<svg width="18" height="18" viewBox="0 0 18 18"><rect x="1" y="1" width="16" '
           f'height="16" rx="3" fill="{fill}" stroke="{CENTRE_COLOR if new else "#0b3d1e"}" '
           f'stroke-width="1.6"{dash}/><text x="9" y="9" dy="0.35em" text-anchor="middle" '
           f'font-family="Arial,sans-serif" font-size="11" font-weight="bold" fill="{text}">'
           f"{letter}</text></svg>")
    return folium.DivIcon(html=svg, icon_size=(18, 18), icon_anchor=(9, 9), class_name="hopt-icon")


def centre_tip(row: Any) -> str:
    """Return the tooltip of one health centre."""
    kind = CENTRE_KINDS.get(str(getattr(row, "kind", "")), ("", str(getattr(row, "kind", ""))))[1]
    rows = [("类型 Type", esc(kind)),
            ("状态 Status", esc("new 新建" if getattr(row, "status", "") == "new"
                                else "existing 现有"))]
    if hasattr(row, "pop_served"):
        rows.append(("服务人口 Population served", esc(fmt_int(row.pop_served))))
    if hasattr(row, "max_minutes"):
        est = " ⚠ estimated" if bool(getattr(row, "estimated", False)) else ""
        rows.append(("最远 Max travel", esc(f"{fmt_num(row.max_minutes, 0)} min{est}")))
    rows.append(("位置 Location", esc(quality_text(getattr(row, "location_quality", "")))))
    return tip_table(rows, esc(getattr(row, "name", getattr(row, "site_id", ""))))


def centre_layer(centres: gpd.GeoDataFrame | None) -> folium.FeatureGroup | None:
    """Return the health-centre badges (hidden by default), or None if there are none."""
    c = valid_points(centres)
    if c is None:
        return None
    group = folium.FeatureGroup(name=LAYER_CENTRES, show=False)
    for row in c.itertuples():
        folium.Marker([round(row.geometry.y, 6), round(row.geometry.x, 6)], icon=centre_icon(row),
                      tooltip=folium.Tooltip(centre_tip(row))).add_to(group)
    return group


def centre_legend(centres: gpd.GeoDataFrame | None = None) -> LegendSpec:
    """Return the health-centre legend (only the kinds drawn; ``None``: all)."""
    c = valid_points(centres)
    kinds = set(CENTRE_KINDS) if c is None or "kind" not in c.columns else {str(k) for k in c["kind"]}
    new = c is None or "status" not in c.columns or bool((c["status"] == "new").any())
    proxy = c is None or "location_quality" not in c.columns or bool((c["location_quality"] == "proxy").any())
    entries = [LegendEntry(f"{letter} — {label}", CENTRE_COLOR, "square", 14, border="#0b3d1e")
               for kind, (letter, label) in CENTRE_KINDS.items() if kind in kinds]
    if new:
        entries.append(LegendEntry("新建 New (white badge)", "#ffffff", "square", 14, border=CENTRE_COLOR))
    if proxy:
        entries.append(LegendEntry("代用位置 Proxy location (dashed)", CENTRE_COLOR, "dashed", 18))
    return LegendSpec("基层医疗 Health centres", entries)
