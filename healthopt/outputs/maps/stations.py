"""Ambulance stations, each with a popup of its staff and coverage.

Size = vehicles, colour = negative-pressure share, circle = existing, square = new, dashed
outline = proxy location.
"""

from __future__ import annotations

import math
from typing import Any

import folium
import geopandas as gpd

from healthopt.outputs.legend import LegendEntry, LegendSpec
from healthopt.outputs.maps._format import classify, esc, fmt_int, fmt_pct, is_missing, quality_text, tip_table
from healthopt.outputs.maps.elements import bind_popup
from healthopt.outputs.maps.names import ESTIMATED_TT_LABEL, LAYER_STATIONS, PROXY_LABEL

#: Negative-pressure share classes: (upper bound, fill, text colour, label).
NP_CLASSES: tuple[tuple[float, str, str, str], ...] = (
    (0.40, "#ffffff", "#111111", "负压 NP share < 40 % (below norm)"),
    (0.60, "#6baed6", "#08306b", "NP share 40–59 %"),
    (math.inf, "#08519c", "#ffffff", "NP share ≥ 60 %"),
)


def station_size(vehicles: Any) -> int:
    """Return the symbol size (px) of a station with ``vehicles`` ambulances."""
    v = 0.0 if is_missing(vehicles) else max(float(vehicles), 0.0)
    return round(min(16 + 3.0 * math.sqrt(v), 48))


def np_class(share: Any) -> tuple[float, str, str, str]:
    """Return the negative-pressure class of a share (the lowest if missing)."""
    return classify(share, NP_CLASSES) or NP_CLASSES[0]


def station_svg(row: Any) -> tuple[str, int]:
    """Return the SVG symbol of a station and its size."""
    s = station_size(getattr(row, "vehicles", 0))
    _, fill, text, _ = np_class(getattr(row, "np_share", None))
    proxy = getattr(row, "location_quality", "") == "proxy"
    dash = ' stroke-dasharray="4 3"' if proxy else ""
    stroke = f'stroke="#111" stroke-width="{2.2 if proxy else 1.6}"{dash}'
    h = s / 2
    if getattr(row, "status", "") == "new":
        shape = (f'<rect x="1.5" y="1.5" width="{s - 3}" height="{s - 3}" rx="2" '
                 f'fill="{fill}" {stroke}/>')
    else:
        shape = f'<circle cx="{h}" cy="{h}" r="{h - 1.5}" fill="{fill}" {stroke}/>'
    vehicles = "" if is_missing(getattr(row, "vehicles", None)) else fmt_int(row.vehicles)
    label = (f'<text x="{h}" y="{h}" dy="0.35em" text-anchor="middle" fill="{text}" '
             f'font-family="Arial,sans-serif" font-size="{11 if s < 30 else 13}" '
             f'font-weight="bold">{vehicles}</text>')
    return f'<svg width="{s}" height="{s}" viewBox="0 0 {s} {s}">{shape}{label}</svg>', s


def station_popup(row: Any) -> str:
    """Return the popup HTML of one station."""
    rows = [("状态 Status", esc("new 新建" if getattr(row, "status", "") == "new"
                                else "existing 现有"))]
    if hasattr(row, "vehicles"):
        rows.append(("救护车 Vehicles", esc(fmt_int(row.vehicles))))
    if hasattr(row, "negative_pressure"):
        share = f" ({fmt_pct(row.np_share)})" if hasattr(row, "np_share") else ""
        rows.append(("负压 Negative pressure", esc(fmt_int(row.negative_pressure) + share)))
    if getattr(row, "status", "") == "existing" and not is_missing(getattr(row, "vehicles_existing", None)):
        # what the plan added to the station layer's fleet (plans.ambulances.mode)
        change = f"{fmt_int(row.vehicles_existing)} + {fmt_int(row.vehicles_added)}" \
            if row.vehicles_added >= 0 else f"{fmt_int(row.vehicles_existing)} − {fmt_int(-row.vehicles_added)}"
        rows.append(("现有 + 新增 Existing + added", esc(change)))
    for col, label in (("physicians", "医师 Physicians"), ("nurses", "护士 Nurses"),
                       ("drivers", "驾驶员 Drivers")):
        if hasattr(row, col):
            rows.append((label, esc(fmt_int(getattr(row, col)))))
    if hasattr(row, "pop_covered"):
        rows.append(("覆盖人口 Population covered", esc(fmt_int(row.pop_covered))))
    rows.append(("位置 Location", esc(quality_text(getattr(row, "location_quality", "")))))
    if bool(getattr(row, "estimated", False)):
        rows.append(("行程时间 Travel time", f'<span class="hopt-warn">⚠ {esc(ESTIMATED_TT_LABEL)}'
                                            "</span>"))
    return tip_table(rows, esc(getattr(row, "name", getattr(row, "site_id", ""))))


def station_tooltip(row: Any) -> str:
    """Return the hover text of one station."""
    parts = [esc(getattr(row, "name", getattr(row, "site_id", "")))]
    if hasattr(row, "vehicles"):
        np_ = f", {fmt_int(row.negative_pressure)} NP" if hasattr(row, "negative_pressure") else ""
        parts.append(esc(f"{fmt_int(row.vehicles)} vehicles{np_}"))
    if getattr(row, "location_quality", "") == "proxy":
        parts.append(f'<span class="hopt-warn">⚠ {esc(PROXY_LABEL)}</span>')
    if bool(getattr(row, "estimated", False)):
        parts.append(f'<span class="hopt-warn">⚠ {esc(ESTIMATED_TT_LABEL)}</span>')
    return "<br>".join(parts)


def station_layer(stations: gpd.GeoDataFrame, name: str = LAYER_STATIONS) -> folium.FeatureGroup:
    """Return the station markers (largest first, so small ones stay clickable on top).

    Parameters
    ----------
    stations : GeoDataFrame
        The ``stations`` result layer.
    name : str
        Layer name.

    Returns
    -------
    folium.FeatureGroup
    """
    group = folium.FeatureGroup(name=name, show=True)
    order = stations.sort_values(["vehicles", "site_id"], ascending=[False, True]) \
        if {"vehicles", "site_id"} <= set(stations.columns) else stations
    for row in order.itertuples():
        svg, s = station_svg(row)
        marker = folium.Marker(
            [round(row.geometry.y, 6), round(row.geometry.x, 6)],
            icon=folium.DivIcon(html=svg, icon_size=(s, s), icon_anchor=(s // 2, s // 2),
                                class_name="hopt-icon"),
            tooltip=folium.Tooltip(station_tooltip(row)),
        ).add_to(group)
        bind_popup(marker, station_popup(row))
    return group


def station_legend() -> LegendSpec:
    """Return the station legend (colour = NP share, shape = status, size = vehicles)."""
    entries = [LegendEntry(label, fill, "circle", 14, border="#111")
               for _, fill, _, label in NP_CLASSES]
    entries += [
        LegendEntry("现有站 Existing station (circle)", "#ffffff", "circle", 14, border="#111"),
        LegendEntry("新建站 New station (square)", "#ffffff", "square", 14, border="#111"),
        LegendEntry("代用位置 Proxy location (dashed outline)", "#111111", "dashed", 18),
    ]
    entries += [LegendEntry(f"{v} vehicles 辆", "#bdbdbd", "circle", station_size(v), border="#111")
                for v in (5, 30)]
    return LegendSpec("急救站 Ambulance stations", entries,
                      note="number in the symbol = ambulances; "
                      "NP = negative pressure (norm ≥ 40 %)")
