"""Side-by-side synchronized map of two runs (stations and coverage, A left, B right).

``folium.plugins.DualMap`` loads Leaflet.Sync from an unversioned GitHub CDN URL (no npm
source, so it cannot be made offline) and deep-copies elements with random ``uuid4`` ids
(not deterministic).  This module instead puts two ordinary maps in one figure and keeps
them in step with a few lines of JavaScript (each map's ``move``/``zoom`` sets the other's
view, with a guard against echo), so the page needs nothing but Leaflet and works offline.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import folium
import geopandas as gpd
import pandas as pd

from healthopt.outputs._html import LiteralFigure, deterministic_ids, esc
from healthopt.outputs.legend import LegendEntry, LegendSpec
from healthopt.outputs.maps import (
    LAYER_CATCHMENTS,
    LAYER_STATIONS,
    MapLayer,
    add_legend_toggle,
    add_title,
    catchment_layer,
    catchment_legend,
    fmt_int,
    fmt_pct,
    new_map,
    render_html,
    station_layer,
    station_legend,
    study_bounds,
    title_html,
    valid_points,
)
from healthopt.outputs.maps.elements import DividerStyle, SyncViews
from healthopt.outputs.summary import RunSummary

DIVIDER_CSS = "border-left:3px solid #333;"
LAYER_CHANGES = "变化 Changes A → B"
#: Colour of each kind of station change (ColorBrewer PRGn / RdYlGn ends, readable in print).
CHANGE_COLORS = {"added": "#1a9850", "removed": "#d73027", "moved": "#7b3294", "vehicles": "#e66101"}


def _change_tip(r: pd.Series) -> str:
    """Return the plain-text tooltip of one station change."""
    def pair(a: object, b: object) -> str:
        return " → ".join("—" if pd.isna(v) else f"{int(v)}" for v in (a, b))  # type: ignore[call-overload]

    what = {"added": "新增 Added in B", "removed": "撤销 Removed (in A only)", "vehicles": "车辆变化 Vehicles changed",
            "moved": f"迁移 Moved {float(r['moved_m'] or 0) / 1000:.1f} km"}[str(r["change"])]
    return f"{what}: {r['name']} · vehicles {pair(r['vehicles_a'], r['vehicles_b'])}, NP {pair(r['np_a'], r['np_b'])}"


def difference_layer(diff: pd.DataFrame, *, name: str = LAYER_CHANGES) -> folium.FeatureGroup:
    """Return the layer of station changes from A to B (:func:`healthopt.outputs.compare.station_changes`).

    Added: filled green ring at B's site; removed: dashed red ring at A's site; moved: a
    purple line from A's site to B's with a ring at B's; vehicles changed: an orange ring.
    """
    group = folium.FeatureGroup(name=name, show=True)
    for _, r in diff.iterrows():
        kind, color = str(r["change"]), CHANGE_COLORS[str(r["change"])]
        tip = folium.Tooltip(esc(_change_tip(r)))
        at_b = not pd.isna(r["lat_b"])
        lat, lon = (r["lat_b"], r["lon_b"]) if at_b else (r["lat_a"], r["lon_a"])
        if kind == "moved":
            folium.PolyLine([(r["lat_a"], r["lon_a"]), (r["lat_b"], r["lon_b"])], color=color, weight=3,
                            dash_array="6 4", tooltip=folium.Tooltip(esc(_change_tip(r)))).add_to(group)
        folium.CircleMarker((float(lat), float(lon)), radius=11, color=color, weight=3,
                            fill=True, fill_color=color, fill_opacity=0.35 if kind == "added" else 0.0,
                            dash_array="4 3" if kind == "removed" else None, tooltip=tip).add_to(group)
    return group


def difference_legend() -> LegendSpec:
    """Return the legend of :func:`difference_layer`."""
    return LegendSpec(LAYER_CHANGES, [
        LegendEntry("新增站 Station added in B", CHANGE_COLORS["added"], "circle", 16, border=CHANGE_COLORS["added"],
                    opacity=0.6),
        LegendEntry("撤销站 Station removed (dashed ring)", "#ffffff", "circle", 16, border=CHANGE_COLORS["removed"]),
        LegendEntry("迁移 Moved: line from A's site to B's", CHANGE_COLORS["moved"], "dashed", 18),
        LegendEntry("车辆变化 Vehicles changed", "#ffffff", "circle", 16, border=CHANGE_COLORS["vehicles"]),
    ], note="hover a ring for the station and its vehicles A → B")


def _headline(summary: RunSummary, results: dict[str, gpd.GeoDataFrame]) -> str:
    """Return one plain-text line of key figures for a side's title."""
    k = summary.get("kpis", {}) or {}
    stations = results.get("stations")
    parts = []
    if stations is not None:
        parts.append(f"{len(stations)} stations")
    if k.get("fleet_planned") is not None:
        parts.append(f"{fmt_int(k['fleet_planned'])} ambulances")
    if k.get("pop_total") and k.get("pop_covered") is not None:
        parts.append(f"{fmt_pct(k['pop_covered'] / k['pop_total'], 1)} covered in time")
    return " · ".join(parts)


def _side(results: dict[str, gpd.GeoDataFrame], summary: RunSummary, tag: str, *,
          offline: bool, left: str, legend: str, extra: Sequence[MapLayer] = ()) -> folium.Map:
    """Build one half: base map, coverage areas, stations, title, layer control.

    ``legend`` names the one legend this half shows (``"stations"`` or ``"catchments"``),
    so the two halves share the legends without covering each other's data.
    """
    style = {"width": "50%", "height": "100%", "left": left, "top": "0%", "position": "absolute"}
    m = new_map(results, offline=offline, **style)
    add_title(m, title_html(summary, [f"{tag} — {_headline(summary, results)}"]))
    layers = []
    if (areas := results.get("coverage_areas")) is not None and len(areas):
        layers.append(MapLayer(catchment_layer(areas, name=LAYER_CATCHMENTS),
                             catchment_legend() if legend == "catchments" else None,
                             "bottomright"))
    if (stations := valid_points(results.get("stations"))) is not None:
        layers.append(MapLayer(station_layer(stations, name=LAYER_STATIONS),
                             station_legend() if legend == "stations" else None,
                             "bottomleft"))
    layers += list(extra)
    for item in layers:
        item.layer.add_to(m)
    folium.LayerControl(collapsed=True, position="topright").add_to(m)
    add_legend_toggle(m, layers, [])
    m.fit_bounds(study_bounds(results), padding=(10, 10))
    return m


def _figure(results_a: dict[str, gpd.GeoDataFrame], summary_a: RunSummary,
            results_b: dict[str, gpd.GeoDataFrame], summary_b: RunSummary,
            offline: bool, diff: pd.DataFrame | None = None) -> LiteralFigure:
    """Assemble the two maps (B with the changes layer, if any) and the sync script in one figure."""
    fig = LiteralFigure()
    extra = ([MapLayer(difference_layer(diff), difference_legend(), "bottomleft")]
             if diff is not None and len(diff) else [])
    m_a = _side(results_a, summary_a, "A 左", offline=offline, left="0%", legend="stations")
    m_b = _side(results_b, summary_b, "B 右", offline=offline, left="50%", legend="catchments", extra=extra)
    fig.add_child(m_a)
    fig.add_child(m_b)
    DividerStyle(DIVIDER_CSS).add_to(m_b)
    SyncViews(m_a.get_name(), m_b.get_name()).add_to(m_b)
    title = f"A: {summary_a.get('scenario', {}).get('name', '')} | " \
            f"B: {summary_b.get('scenario', {}).get('name', '')}"
    fig.title = esc(title)
    return fig


def build_compare_map(results_a: dict[str, gpd.GeoDataFrame], summary_a: RunSummary,
                      results_b: dict[str, gpd.GeoDataFrame], summary_b: RunSummary, *,
                      offline: bool, assets_dir: str | Path | None = None,
                      diff: pd.DataFrame | None = None) -> str:
    """Return the HTML of a side-by-side, synchronized map of run A (left) and run B (right).

    Parameters
    ----------
    results_a, results_b : dict of str to GeoDataFrame
        Run layers (``districts`` required; ``coverage_areas`` and ``stations`` drawn).
    summary_a, summary_b : RunSummary
        Run summaries (titles, status).
    offline : bool
        Boundaries-only background and every asset inlined (no network needed).
    assets_dir : str or Path, optional
        Fetched assets (default ``build/assets``).
    diff : DataFrame, optional
        Station changes (:func:`healthopt.outputs.compare.station_changes`), drawn on B's
        map as the :data:`LAYER_CHANGES` layer with its legend.

    Returns
    -------
    str
        Deterministic HTML (same input, same bytes).
    """
    with deterministic_ids("c"):
        fig = _figure(results_a, summary_a, results_b, summary_b, offline, diff)
    return render_html(fig, offline=offline, assets_dir=assets_dir)


def write_compare_map(path: str | Path, results_a: dict[str, gpd.GeoDataFrame],
                      summary_a: RunSummary, results_b: dict[str, gpd.GeoDataFrame],
                      summary_b: RunSummary, *, offline: bool,
                      assets_dir: str | Path | None = None) -> str:
    """Write :func:`build_compare_map`'s page to ``path`` and return it.

    Parameters
    ----------
    path : str or Path
    results_a, results_b : dict of str to GeoDataFrame
    summary_a, summary_b : RunSummary
    offline : bool
    assets_dir : str or Path, optional

    Returns
    -------
    str
    """
    html = build_compare_map(results_a, summary_a, results_b, summary_b, offline=offline,
                             assets_dir=assets_dir)
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(html, encoding="utf-8")
    return html
