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

#: Negative-pressure share classes of one station, for a required fleet share ``r``:
#: (upper bound, fill, text colour, label template).  The norm is a share of the whole fleet
#: (or of each district's fleet), never of one station: a county station with one ordinary
#: ambulance is not "below norm" when the fleet meets the share, so the labels say "at this
#: station" and the legend note states whether the fleet meets the norm.
NP_FILLS: tuple[tuple[str, str], ...] = (("#ffffff", "#111111"), ("#6baed6", "#08306b"),
                                         ("#08519c", "#ffffff"))
DEFAULT_NP_SHARE = 0.40


def np_classes(required: float = DEFAULT_NP_SHARE) -> tuple[tuple[float, str, str, str], ...]:
    """Return the station NP-share classes for a required share (from the scenario)."""
    r = f"{100 * required:.0f} %"
    return ((required - 1e-9, *NP_FILLS[0], f"负压 NP share < {r} at this station"),
            (1.0 - 1e-9, *NP_FILLS[1], f"NP share {r}–99 %"),
            (math.inf, *NP_FILLS[2], "all negative-pressure 全部负压"))


NP_CLASSES = np_classes()


def station_size(vehicles: Any) -> int:
    """Return the symbol size (px) of a station with ``vehicles`` ambulances (side ∝ √vehicles)."""
    v = 0.0 if is_missing(vehicles) else max(float(vehicles), 0.0)
    return round(min(8 + 6.0 * math.sqrt(v), 48))


def np_class(share: Any, required: float = DEFAULT_NP_SHARE) -> tuple[float, str, str, str]:
    """Return the negative-pressure class of a share (the lowest if missing)."""
    classes = np_classes(required)
    return classify(share, classes) or classes[0]


def station_svg(row: Any, required: float = DEFAULT_NP_SHARE) -> tuple[str, int]:
    """Return the SVG symbol of a station and its size."""
    s = station_size(getattr(row, "vehicles", 0))
    _, fill, text, _ = np_class(getattr(row, "np_share", None), required)
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
    if not is_missing(getattr(row, "sim_utilisation", None)):
        rows.append(("利用率 Utilisation (simulated ⚠)", esc(fmt_pct(row.sim_utilisation))))
        rows.append(("呼叫/年 Calls a year (simulated ⚠)", esc(fmt_int(row.sim_calls))))
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


def station_layer(stations: gpd.GeoDataFrame, name: str = LAYER_STATIONS, *,
                  np_required: float = DEFAULT_NP_SHARE) -> folium.FeatureGroup:
    """Return the station markers (largest first, so small ones stay clickable on top).

    Parameters
    ----------
    stations : GeoDataFrame
        The ``stations`` result layer.
    name : str
        Layer name.
    np_required : float
        The scenario's required negative-pressure share (colour classes).

    Returns
    -------
    folium.FeatureGroup
    """
    group = folium.FeatureGroup(name=name, show=True)
    order = stations.sort_values(["vehicles", "site_id"], ascending=[False, True]) \
        if {"vehicles", "site_id"} <= set(stations.columns) else stations
    for row in order.itertuples():
        svg, s = station_svg(row, np_required)
        marker = folium.Marker(
            [round(row.geometry.y, 6), round(row.geometry.x, 6)],
            icon=folium.DivIcon(html=svg, icon_size=(s, s), icon_anchor=(s // 2, s // 2),
                                class_name="hopt-icon"),
            tooltip=folium.Tooltip(station_tooltip(row)),
        ).add_to(group)
        bind_popup(marker, station_popup(row))
    return group


def station_legend(stations: gpd.GeoDataFrame | None = None, *, np_required: float | None = None,
                   np_fleet: float | None = None) -> LegendSpec:
    """Return the station legend: only the symbols drawn, sizes of the fleet's own range.

    Parameters
    ----------
    stations : GeoDataFrame, optional
        The drawn stations (``None``: every class, sizes for 1 and 8 vehicles).
    np_required : float, optional
        Required negative-pressure share of the fleet (scenario; default 40 %).
    np_fleet : float, optional
        The plan's fleet-wide share, stated in the note against the norm.

    Returns
    -------
    LegendSpec
    """
    r = DEFAULT_NP_SHARE if np_required is None else float(np_required)
    classes = np_classes(r)
    if stations is not None and len(stations):
        drawn = {np_class(v, r)[1] for v in stations.get("np_share", [None] * len(stations))}
        status = set(stations.get("status", ["new"]))
        proxy = bool((stations.get("location_quality") == "proxy").any()) \
            if "location_quality" in stations.columns else False
        vehicles = sorted({int(v) for v in stations["vehicles"] if not is_missing(v)}) \
            if "vehicles" in stations.columns else []
    else:
        drawn, status, proxy, vehicles = {c[1] for c in classes}, {"new", "existing"}, True, [1, 8]
    entries = [LegendEntry(label, fill, "circle", 14, border="#111")
               for _, fill, _, label in classes if fill in drawn]
    if "existing" in status:
        entries.append(LegendEntry("现有站 Existing station (circle)", "#ffffff", "circle", 14,
                                   border="#111"))
    if "new" in status:
        entries.append(LegendEntry("新建站 New station (square)", "#ffffff", "square", 14,
                                   border="#111"))
    if proxy:
        entries.append(LegendEntry("代用位置 Proxy location (dashed outline)", "#111111", "dashed", 18))
    sizes = sorted({vehicles[0], vehicles[-1]}) if vehicles else []
    entries += [LegendEntry(f"{v} vehicle{'s' if v != 1 else ''} 辆", "#bdbdbd", "circle",
                            station_size(v), border="#111", size_key=True) for v in sizes]
    note = f"number in the symbol = ambulances; norm: ≥ {100 * r:.0f} % of the fleet negative-pressure"
    if np_fleet is not None and not is_missing(np_fleet):
        met = "met 达标" if float(np_fleet) >= r - 1e-9 else "NOT met 未达标"
        note += f"; plan: {100 * float(np_fleet):.0f} % ({met})"
    return LegendSpec("急救站 Ambulance stations", entries, note=note)
