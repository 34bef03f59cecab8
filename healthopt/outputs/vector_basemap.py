"""A light vector base map drawn from the embedded OpenStreetMap extract (no tiles, no network).

What is drawn (:func:`basemap_features`): major roads by class (motorway, trunk, primary,
secondary; tertiary from zoom 12), rivers and canals, railways, street-name labels of the major roads (shown from
zoom 12, where a planner reads streets) and the district/county seats with their names.
Lines of one class are merged and simplified (about 15 m) and coordinates rounded to about
1 m, so the whole base map adds a few hundred kilobytes to a page, not megabytes.

The layers live in their own Leaflet panes: lines above the district fills and coverage
areas (so the choropleth does not hide them) but below every marker, and never take mouse
events (the choropleth's tooltips still work through them).  Data enters the page only as
JSON through the ``tojson`` filter; no text from the extract is evaluated as a template.
"""

from __future__ import annotations

import functools
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import pyogrio
import shapely
from branca.element import MacroElement

from healthopt import settings
from healthopt.outputs._html import ENV

#: Road classes drawn, bottom to top: (name, OSM highway values, stroke colour, weight).
#: Minor classes (:data:`MINOR_CLASSES`) are shown only from :data:`STREET_LABEL_ZOOM`.
ROAD_CLASSES: tuple[tuple[str, tuple[str, ...], str, float], ...] = (
    ("tertiary", ("tertiary",), "#c9c3b8", 1.0),
    ("secondary", ("secondary",), "#b8b2a7", 1.4),
    ("primary", ("primary",), "#d9a35f", 2.0),
    ("trunk", ("trunk",), "#d98a4a", 2.6),
    ("motorway", ("motorway",), "#c8613a", 3.0),
)
MINOR_CLASSES = frozenset({"tertiary"})
RIVER_STYLE = {"color": "#7fb2d9", "weight": 2.2, "opacity": 0.9}
RAIL_STYLE = {"color": "#6b6b6b", "weight": 1.6, "opacity": 0.85, "dashArray": "5 3"}
#: Douglas-Peucker tolerance (degrees, ~15 m) and coordinate precision (~1 m).
SIMPLIFY_DEG = 0.00015
GRID_DEG = 1e-5
#: Street names are labelled only for roads at least this long (metres, merged per name).
MIN_LABEL_LENGTH_M = 600.0
#: Zoom from which street names are shown.
STREET_LABEL_ZOOM = 12
_RAIL = re.compile(r'"railway"=>"rail"')
_SERVICE = re.compile(r'"service"=>"')


@dataclass(frozen=True)
class BasemapFeatures:
    """Simplified base-map content, ready to serialise.

    Attributes
    ----------
    lines : list of dict
        ``{"kind", "style", "geometry"}``, bottom to top (GeoJSON geometry dicts).
    streets : list of dict
        ``{"name", "lat", "lon"}`` street-name label points.
    seats : list of dict
        ``{"name", "lat", "lon"}`` district/county seats.
    """

    lines: list[dict[str, Any]]
    streets: list[dict[str, Any]]
    seats: list[dict[str, Any]]

    def as_json(self) -> str:
        """Return the features as compact, deterministic JSON."""
        return json.dumps({"lines": self.lines, "streets": self.streets, "seats": self.seats},
                          ensure_ascii=False, separators=(",", ":"), sort_keys=True)


@functools.lru_cache(maxsize=4)
def _read_extract(path: str, mtime: float) -> gpd.GeoDataFrame:
    """Read the OSM lines export once per process (``mtime`` invalidates the cache)."""
    del mtime  # part of the cache key only
    return pyogrio.read_dataframe(path, columns=["name", "highway", "waterway", "other_tags"])


def embedded_extract() -> Path:
    """Return the path of the embedded OSM lines export (central Taiyuan).

    Returns
    -------
    Path
    """
    return settings.GEODATA_DIR / "roads" / "taiyuan_core_osm_lines.geojson"


def _lite(geoms: Any) -> Any:
    """Merge, simplify and round lines (one MultiLineString)."""
    merged = shapely.line_merge(shapely.union_all(geoms))
    return shapely.set_precision(shapely.simplify(merged, SIMPLIFY_DEG, preserve_topology=False),
                                 GRID_DEG)


def _mapping(geom: Any) -> dict[str, Any]:
    """Return a GeoJSON geometry dict with coordinates rounded to 5 decimals."""
    def rnd(c: Any) -> Any:
        return [round(c[0], 5), round(c[1], 5)] if isinstance(c[0], float) else [rnd(x) for x in c]
    m = shapely.geometry.mapping(geom)
    return {"type": m["type"], "coordinates": rnd(m["coordinates"])}


def _street_labels(roads: gpd.GeoDataFrame) -> list[dict[str, Any]]:
    """One label per named major road: at the middle of its longest merged piece."""
    out = []
    named = roads[roads["name"].notna() & (roads["name"].astype(str).str.strip() != "")]
    for name, part in sorted(named.groupby("name"), key=lambda kv: str(kv[0])):
        merged = shapely.line_merge(shapely.union_all(part.geometry.to_numpy()))
        pieces = list(getattr(merged, "geoms", [merged]))
        longest = max(pieces, key=lambda g: g.length)
        # degrees -> metres at Taiyuan's latitude (about 38 N): good enough for a threshold
        metres = longest.length * 111_000 * math.cos(math.radians(longest.centroid.y))
        if metres < MIN_LABEL_LENGTH_M:
            continue
        mid = longest.interpolate(0.5, normalized=True)
        out.append({"name": str(name), "lat": round(mid.y, 5), "lon": round(mid.x, 5)})
    return out


def basemap_features(*, bounds: tuple[float, float, float, float],
                     seats: gpd.GeoDataFrame | None = None,
                     extract: str | Path | None = None) -> BasemapFeatures:
    """Select and simplify the base-map content inside ``bounds``.

    Parameters
    ----------
    bounds : tuple of float
        ``(west, south, east, north)`` in degrees (the study area).
    seats : GeoDataFrame, optional
        Seats (points, EPSG:4326) with ``name_zh`` or ``name``.
    extract : str or Path, optional
        OSM lines export (default: :func:`embedded_extract`).  A missing file gives a base
        map with seats only.

    Returns
    -------
    BasemapFeatures
    """
    path = Path(extract) if extract is not None else embedded_extract()
    lines: list[dict[str, Any]] = []
    streets: list[dict[str, Any]] = []
    if path.is_file():
        g = _read_extract(str(path), path.stat().st_mtime)
        w, s, e, n = bounds
        g = g[g.geometry.notna()].cx[w:e, s:n]
        tags = g["other_tags"].fillna("")
        water = g[g["waterway"].isin(["river", "canal"])]
        rail = g[tags.str.contains(_RAIL) & ~tags.str.contains(_SERVICE) & g["highway"].isna()]
        if len(water):
            lines.append({"kind": "river", "style": RIVER_STYLE,
                          "geometry": _mapping(_lite(water.geometry.to_numpy()))})
        if len(rail):
            lines.append({"kind": "railway", "style": RAIL_STYLE,
                          "geometry": _mapping(_lite(rail.geometry.to_numpy()))})
        for kind, values, color, weight in ROAD_CLASSES:
            part = g[g["highway"].isin(values)]
            if len(part):
                lines.append({"kind": kind, "style": {"color": color, "weight": weight, "opacity": 0.9},
                              "geometry": _mapping(_lite(part.geometry.to_numpy()))})
        major = g[g["highway"].isin([v for k, vs, _, _ in ROAD_CLASSES if k not in MINOR_CLASSES for v in vs])]
        streets = _street_labels(major)
    seat_rows: list[dict[str, Any]] = []
    if seats is not None and len(seats):
        col = "name_zh" if "name_zh" in seats.columns else "name"
        for row in seats.to_crs(4326).itertuples():
            seat_rows.append({"name": str(getattr(row, col)), "lat": round(row.geometry.y, 5),
                              "lon": round(row.geometry.x, 5)})
        seat_rows.sort(key=lambda r: (r["name"], r["lat"], r["lon"]))
    return BasemapFeatures(lines, streets, seat_rows)


VECTOR_TEMPLATE = """
{% macro header(this, kwargs) %}
<style>
.hopt-street,.leaflet-hopt-base-minor-pane{display:none;}
.hopt-z12 .hopt-street,.hopt-z12 .leaflet-hopt-base-minor-pane{display:block;}
.hopt-street span,.hopt-seat span{display:inline-block;transform:translate(-50%,-50%);
 white-space:nowrap;pointer-events:none;font:11px/1.1 "Noto Sans CJK SC","Microsoft YaHei",
 "WenQuanYi Micro Hei",Arial,sans-serif;color:#5a4a36;
 text-shadow:0 0 3px #fff,0 0 3px #fff,0 0 2px #fff;}
.hopt-seat span{transform:translate(6px,-50%);color:#333;font-size:11px;}
.hopt-seat .hopt-seat-label{display:none;}
.hopt-z11 .hopt-seat .hopt-seat-label{display:inline-block;}
</style>
{% endmacro %}
{% macro script(this, kwargs) %}
(function() {
    var map = {{ this._parent.get_name() }};
    var data = {{ this.data|tojson }};
    [["hopt-base-minor", 405], ["hopt-base", 410], ["hopt-base-labels", 590]].forEach(function (p) {
        var pane = map.createPane(p[0]);
        pane.style.zIndex = p[1];
        pane.style.pointerEvents = "none";
    });
    var minor = {{ this.minor|tojson }};
    data.lines.forEach(function (line) {
        var s = line.style;
        var pane = minor.indexOf(line.kind) >= 0 ? "hopt-base-minor" : "hopt-base";
        if (line.kind !== "river" && line.kind !== "railway") {
            // a white casing under each road class keeps it readable on any fill
            L.geoJSON(line.geometry, {pane: pane, interactive: false,
                style: {color: "#ffffff", weight: s.weight + 2, opacity: 0.8}}).addTo(map);
        }
        L.geoJSON(line.geometry, {pane: pane, interactive: false, style: s}).addTo(map);
    });
    data.streets.forEach(function (p) {
        var span = document.createElement("span");
        span.textContent = p.name;
        L.marker([p.lat, p.lon], {pane: "hopt-base-labels", interactive: false, keyboard: false,
            icon: L.divIcon({html: span, className: "hopt-street", iconSize: [0, 0]})}).addTo(map);
    });
    data.seats.forEach(function (p) {
        L.circleMarker([p.lat, p.lon], {pane: "hopt-base", interactive: false, radius: 3,
            color: "#333", weight: 1, fillColor: "#ffffff", fillOpacity: 1}).addTo(map);
        var span = document.createElement("span");
        span.className = "hopt-seat-label";
        span.textContent = p.name + " 驻地";
        L.marker([p.lat, p.lon], {pane: "hopt-base-labels", interactive: false, keyboard: false,
            icon: L.divIcon({html: span, className: "hopt-seat", iconSize: [0, 0]})}).addTo(map);
    });
    function zoomClasses() {
        var c = map.getContainer(), z = map.getZoom();
        c.classList.toggle("hopt-z12", z >= {{ this.street_zoom }});
        c.classList.toggle("hopt-z11", z >= 11);
    }
    map.on("zoomend", zoomClasses);
    map.whenReady(zoomClasses);
})();
{% endmacro %}
"""


class VectorBasemap(MacroElement):
    """Draws :class:`BasemapFeatures` on its parent map (panes, casings, zoom-gated labels).

    Parameters
    ----------
    features : BasemapFeatures
    """

    _template = ENV.from_string(VECTOR_TEMPLATE)

    def __init__(self, features: BasemapFeatures) -> None:
        super().__init__()
        self._name = "VectorBasemap"
        self.data = json.loads(features.as_json())
        self.street_zoom = STREET_LABEL_ZOOM
        self.minor = sorted(MINOR_CLASSES)
        self.features = features


def embedded_seats(codes: list[str] | None = None) -> gpd.GeoDataFrame | None:
    """Return the embedded district/county seats (``name_zh``, points), optionally only ``codes``.

    Parameters
    ----------
    codes : list of str, optional
        District codes to keep (the study area).

    Returns
    -------
    GeoDataFrame or None
        ``None`` if the seats file is absent (e.g. another ``HEALTHOPT_GEODATA``).
    """
    import pandas as pd

    path = settings.GEODATA_DIR / "places" / "county_seats.csv"
    if not path.is_file():
        return None
    t = pd.read_csv(path, dtype={"adcode": str})
    if codes is not None:
        t = t[t["adcode"].isin([str(c) for c in codes])]
    return gpd.GeoDataFrame({"code": t["adcode"].to_numpy(), "name_zh": t["name"].to_numpy()},
                            geometry=gpd.points_from_xy(t["lon_wgs84"], t["lat_wgs84"]), crs=4326)
