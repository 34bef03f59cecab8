"""Assembly of the scenario map: base map, result layers bottom to top, legends, title.

See :mod:`healthopt.outputs.maps` for what the map shows.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import folium
import geopandas as gpd
from folium.map import Layer

from healthopt.outputs import basemap
from healthopt.outputs._html import adopt, deterministic_ids
from healthopt.outputs.legend import Legend, LegendSpec
from healthopt.outputs.maps._format import district_label
from healthopt.outputs.maps._geometry import lite_polygons, study_bounds, valid_points
from healthopt.outputs.maps.beds import bed_layer, bed_legend
from healthopt.outputs.maps.catchments import catchment_layer, catchment_legend
from healthopt.outputs.maps.centres import centre_layer, centre_legend
from healthopt.outputs.maps.demand import uncovered_layer, uncovered_legend
from healthopt.outputs.maps.districts import (
    choropleth,
    coverage_legend,
    district_data,
    gap_legend,
    label_layer,
)
from healthopt.outputs.maps.elements import DeclutterLabels, FitStudyArea, LegendToggle, PageStyle
from healthopt.outputs.maps.green_channel import green_channel_layer, green_channel_legend
from healthopt.outputs.maps.names import (
    HATCH_ID,
    LAYER_CITIES,
    LAYER_COVERAGE_SHARE,
    LAYER_DISTRICTS,
    LAYER_NORM_GAP,
)
from healthopt.outputs.maps.render import render_map
from healthopt.outputs.maps.stations import station_layer, station_legend
from healthopt.outputs.maps.title import add_title, title_html
from healthopt.outputs.summary import RunSummary
from healthopt.outputs.vector_basemap import VectorBasemap, basemap_features, embedded_seats


@dataclass
class MapLayer:
    """A map layer with its legend (the legend is shown while the layer is on).

    Parameters
    ----------
    layer : folium layer
    legend : LegendSpec or None
    position : str
        Leaflet corner of the legend.
    """

    layer: Any
    legend: LegendSpec | None = None
    position: str = "bottomright"


def new_map(results: dict[str, gpd.GeoDataFrame], *, offline: bool, basemap_kind: str | None = None,
            **kwargs: Any) -> folium.Map:
    """Create an empty map on the study area with the base map (vector, tiles or boundaries).

    Parameters
    ----------
    results : dict of str to GeoDataFrame
        Needs ``districts``.
    offline : bool
        Default base map when ``basemap_kind`` is None: ``offline`` if true, else ``osm``.
    basemap_kind : str, optional
        ``offline`` (vector roads, rivers, railways and seats from the embedded OSM extract;
        no network), ``osm`` or ``tianditu`` (online tiles) or ``none`` (boundaries only).
    **kwargs
        Extra ``folium.Map`` arguments (e.g. ``width``/``left`` for a side-by-side map).

    Returns
    -------
    folium.Map
        In a :class:`healthopt.outputs._html.LiteralFigure`, so no data is ever evaluated as
        a template however the map is rendered.
    """
    (s, w), (n, e) = study_bounds(results)
    m = folium.Map(location=[round((s + n) / 2, 5), round((w + e) / 2, 5)], zoom_start=9,
                   tiles=None, control_scale=True, zoom_control=False, zoomSnap=0.25,
                   font_size="13px", **kwargs)
    adopt(m)
    # Only Leaflet is used (no awesome-markers, Bootstrap, jQuery, Font Awesome): drop them
    # from this map's asset lists, which keeps offline pages ~1 MB smaller.
    m.default_js = [(k, u) for k, u in m.default_js if k == "leaflet"]
    m.default_css = [(k, u) for k, u in m.default_css if k == "leaflet_css"]
    d = results["districts"]
    base = gpd.GeoDataFrame({"label": [district_label(r) for r in d.itertuples()]},
                            geometry=lite_polygons(d.reset_index(drop=True), 0.001, True),
                            crs=d.crs)
    city = base.assign(city="study area").dissolve("city").reset_index()
    opts = {"cities_gdf": city, "name_field": "label", "labels": False, "fit_bounds": False}
    kind = basemap_kind or ("offline" if offline else "osm")
    if kind not in basemap.BASEMAP_KINDS:
        raise ValueError(f"outputs.basemap: {kind!r} is not one of {', '.join(basemap.BASEMAP_KINDS)}")
    if kind in ("offline", "none"):
        basemap.offline_basemap(m, base, **opts)
        if kind == "offline":
            minx, miny, maxx, maxy = (float(v) for v in d.total_bounds)
            seats = embedded_seats([str(c) for c in d["code"]]) if "code" in d.columns else None
            VectorBasemap(basemap_features(bounds=(minx, miny, maxx, maxy), seats=seats)).add_to(m)
    else:
        basemap.add_tiles(m, kind)
        basemap.online_basemap(m, base, **opts)
    for child in m._children.values():  # base-map internals need no switch in the control
        if isinstance(child, Layer) and child.layer_name in {LAYER_DISTRICTS, LAYER_CITIES}:
            child.control = False
    PageStyle(HATCH_ID).add_to(m)
    return m


def result_layers(results: dict[str, gpd.GeoDataFrame],
                  summary: RunSummary | None = None) -> list[MapLayer]:
    """Build every available result layer, bottom to top (the two choropleths first).

    Parameters
    ----------
    results : dict of str to GeoDataFrame
    summary : RunSummary, optional
        The run's summary: its parameters (required negative-pressure share, response
        standards) and fleet share go into the legends.

    Returns
    -------
    list of MapLayer
    """
    info: dict[str, Any] = dict(summary or {})
    kpis: dict[str, Any] = dict(info.get("kpis") or {})
    standards: dict[str, Any] = dict(info.get("response_minutes") or {})
    d = results["districts"]
    data = district_data(d)
    out = [MapLayer(choropleth(data, LAYER_COVERAGE_SHARE, "fill_cov", True),
                    coverage_legend(**{k: standards[k] for k in ("urban", "county") if k in standards}),
                    "bottomleft"),
           MapLayer(choropleth(data, LAYER_NORM_GAP, "fill_gap", False), gap_legend(),
                    "bottomleft")]
    if (areas := results.get("coverage_areas")) is not None and len(areas):
        st = results.get("stations")
        names = dict(zip(st["site_id"].astype(str), st["name"].astype(str), strict=True)) \
            if st is not None and {"site_id", "name"} <= set(st.columns) else {}
        out.append(MapLayer(catchment_layer(areas, station_names=names), catchment_legend(areas),
                            "bottomleft"))
    names = {str(r.code): district_label(r) for r in d.itertuples()}
    if (uncovered := uncovered_layer(results.get("demand"), names)) is not None:
        out.append(MapLayer(uncovered, _size_keys(uncovered_legend(), "residents"), "bottomleft"))
    if (centres := centre_layer(results.get("health_centres"))) is not None:
        out.append(MapLayer(centres, centre_legend(results.get("health_centres")), "topright"))
    beds = results.get("beds")
    if (badges := bed_layer(beds, d)) is not None:
        unmapped = [] if beds is None else list(beds[beds.geometry.isna() | beds.geometry.is_empty].itertuples())
        out.append(MapLayer(badges, bed_legend(unmapped, beds if beds is not None else d.iloc[:0], d),
                            "topright"))
    routes = results.get("green_channel")
    if (lines := green_channel_layer(routes)) is not None:
        out.append(MapLayer(lines, green_channel_legend(routes), "topright"))
    if (stations := valid_points(results.get("stations"))) is not None:
        req = kpis.get("np_required_share")
        req = 0.4 if req is None else float(req)
        out.append(MapLayer(station_layer(stations, np_required=req),
                            station_legend(stations, np_required=req, np_fleet=kpis.get("np_share"))))
        out += phase_layers(stations, np_required=req)
    out.append(MapLayer(label_layer(d)))
    return out


def phase_layers(stations: gpd.GeoDataFrame, *, np_required: float) -> list[MapLayer]:
    """One switchable layer per plan year of a phased plan: the stations opened that year.

    Drawn with the station symbols of the final plan (its legend applies); off by default.
    """
    if "opened" not in stations.columns or stations["opened"].isna().all():
        return []
    out = []
    for year in sorted(int(y) for y in stations["opened"].dropna().unique()):
        group = station_layer(stations[stations["opened"] == year], f"{year} 新开站点 Stations opened in {year}",
                              np_required=np_required)  # fmt: skip
        group.show = False
        out.append(MapLayer(group))
    return out


def _size_keys(spec: LegendSpec, word: str) -> LegendSpec:
    """Mark the rows of ``spec`` that explain symbol size (their label has ``word``)."""
    return dataclasses.replace(spec, entries=tuple(
        dataclasses.replace(e, size_key=True) if word in e.label else e for e in spec.entries))


def missing_layers(results: dict[str, gpd.GeoDataFrame]) -> list[str]:
    """Return plain sentences naming the map layers a run could not provide.

    Parameters
    ----------
    results : dict of str to GeoDataFrame

    Returns
    -------
    list of str
    """
    plain = {"coverage_areas": "coverage areas", "demand": "uncovered population",
             "stations": "ambulance stations", "health_centres": "health centres",
             "beds": "hospital bed changes"}
    out = []
    for key, what in plain.items():
        gdf = results.get(key)
        if valid_points(gdf) is None:
            out.append(f"No {what} in this run (plan disabled or no data): layer not drawn")
    return out


def add_legend_toggle(m: folium.Map, layers: Sequence[MapLayer], exclusive: Sequence[Any]) -> None:
    """Add the legends and the script that shows each only while its layer is on.

    Parameters
    ----------
    m : folium.Map
    layers : sequence of MapLayer
    exclusive : sequence of folium layers
        Overlays of which at most one is shown (ticking one unticks the others).
    """
    pairs = []
    for item in layers:
        if item.legend is not None:
            Legend(item.legend, position=item.position).add_to(m)
            pairs.append((item.layer.get_name(), item.legend.title or "legend"))
    LegendToggle(pairs, [x.get_name() for x in exclusive]).add_to(m)


def _assemble(results: dict[str, gpd.GeoDataFrame], summary: RunSummary,
              offline: bool, basemap_kind: str | None = None) -> folium.Map:
    """Assemble the scenario map (ids must already be deterministic)."""
    if "districts" not in results or len(results["districts"]) == 0:
        raise ValueError("results['districts'] is required to draw the scenario map")
    m = new_map(results, offline=offline, basemap_kind=basemap_kind)
    missing = missing_layers(results)
    add_title(m, title_html(summary, [f"Not shown: {len(missing)} layer(s) absent from this run"]
                            if missing else []))
    layers = result_layers(results, summary)
    for item in layers:
        item.layer.add_to(m)
    folium.LayerControl(collapsed=False, position="topright").add_to(m)
    add_legend_toggle(m, layers, [layers[0].layer, layers[1].layer])
    DeclutterLabels().add_to(m)
    FitStudyArea(study_bounds(results)).add_to(m)  # last: needs every control's size
    return m


def build_map(results: dict[str, gpd.GeoDataFrame], summary: RunSummary, *, offline: bool,
              assets_dir: str | Path | None = None, basemap_kind: str | None = None) -> folium.Map:
    """Build the scenario map of a run.

    Parameters
    ----------
    results : dict of str to GeoDataFrame
        Run layers in EPSG:4326 (``districts`` required; ``stations``, ``health_centres``,
        ``beds``, ``demand``, ``coverage_areas`` and ``green_channel`` are drawn when present).
    summary : RunSummary
        Run summary (scenario, status, gap, kpis, ...).
    offline : bool
        Boundaries-only background instead of OpenStreetMap tiles.  Assets are inlined when
        the map is rendered with :func:`render_map` / :func:`write_map`.
    assets_dir : str or Path, optional
        Kept on the map (``m.healthopt_assets_dir``) for :func:`render_map`.
    basemap_kind : str, optional
        ``offline`` / ``osm`` / ``tianditu`` / ``none`` (see :func:`new_map`).

    Returns
    -------
    folium.Map
        With ``m.healthopt_offline`` set; render it with :func:`render_map` for
        deterministic, self-contained HTML.
    """
    with deterministic_ids("h"):
        m = _assemble(results, summary, offline, basemap_kind)
    # read back by render_map (a folium Map takes no extra fields; these ride on the instance)
    m.healthopt_offline = offline  # type: ignore[attr-defined]
    m.healthopt_assets_dir = assets_dir  # type: ignore[attr-defined]
    return m


def write_map(path: str | Path, results: dict[str, gpd.GeoDataFrame], summary: RunSummary, *,
              offline: bool, assets_dir: str | Path | None = None,
              basemap_kind: str | None = None) -> str:
    """Build the scenario map and write it to ``path`` (UTF-8).

    Parameters
    ----------
    path : str or Path
    results : dict of str to GeoDataFrame
    summary : RunSummary
    offline : bool
    assets_dir : str or Path, optional
    basemap_kind : str, optional
        ``offline`` / ``osm`` / ``tianditu`` / ``none`` (see :func:`new_map`).

    Returns
    -------
    str
        The HTML written (for embedding in the report).
    """
    html = render_map(build_map(results, summary, offline=offline, assets_dir=assets_dir,
                                basemap_kind=basemap_kind))
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(html, encoding="utf-8")
    return html
