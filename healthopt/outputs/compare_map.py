"""Side-by-side synchronized map of two runs (stations and coverage, A left, B right).

``folium.plugins.DualMap`` loads Leaflet.Sync from an unversioned GitHub CDN URL (no npm
source, so it cannot be made offline) and deep-copies elements with random ``uuid4`` ids
(not deterministic).  This module instead puts two ordinary maps in one figure and keeps
them in step with a few lines of JavaScript (each map's ``move``/``zoom`` sets the other's
view, with a guard against echo), so the page needs nothing but Leaflet and works offline.
"""

from __future__ import annotations

from pathlib import Path

import folium
import geopandas as gpd

from healthopt.outputs._html import LiteralFigure, deterministic_ids, esc
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
          offline: bool, left: str, legend: str) -> folium.Map:
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
    for item in layers:
        item.layer.add_to(m)
    folium.LayerControl(collapsed=True, position="topright").add_to(m)
    add_legend_toggle(m, layers, [])
    m.fit_bounds(study_bounds(results), padding=(10, 10))
    return m


def _figure(results_a: dict[str, gpd.GeoDataFrame], summary_a: RunSummary,
            results_b: dict[str, gpd.GeoDataFrame], summary_b: RunSummary,
            offline: bool) -> LiteralFigure:
    """Assemble the two maps and the sync script in one figure."""
    fig = LiteralFigure()
    m_a = _side(results_a, summary_a, "A 左", offline=offline, left="0%", legend="stations")
    m_b = _side(results_b, summary_b, "B 右", offline=offline, left="50%", legend="catchments")
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
                      offline: bool, assets_dir: str | Path | None = None) -> str:
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

    Returns
    -------
    str
        Deterministic HTML (same input, same bytes).
    """
    with deterministic_ids("c"):
        fig = _figure(results_a, summary_a, results_b, summary_b, offline)
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
