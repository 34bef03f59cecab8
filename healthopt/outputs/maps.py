"""The scenario map: one self-explaining Folium map of a run for the health commission.

Layers (names as shown in the layer control, see :data:`LAYERS`):

* two district choropleths, *coverage within the standard* (shown) and *ambulance norm gap*
  (hidden); they are mutually exclusive (ticking one unticks the other);
* coverage areas (isochrones at the standard response time; off-network, estimated ones are
  hatched with a dashed outline);
* uncovered population (demand points outside every catchment or beyond capacity);
* ambulance stations (size = vehicles, colour = negative-pressure share, circle = existing,
  square = new, dashed outline = proxy location);
* health centres (C / T / S badges) and hospital bed changes (hidden by default);
* bilingual district labels.

Every layer has its own categorical legend (:mod:`healthopt.outputs.legend`) that is shown
only while the layer is on.  A title box names the scenario and the solver status (a plan
that is not proven optimal is flagged prominently).  Offline maps use the boundaries-only
base map (:mod:`healthopt.outputs.basemap`) and have every script and stylesheet inlined
(:mod:`healthopt.outputs.assets`).

Determinism
-----------
Folium/branca name every element ``<type>_<32 random hex digits>`` (``os.urandom`` in
``branca.element.Element._generate_id``), so two renders of the same map differ.  Maps are
therefore built and rendered inside :func:`deterministic_ids`, a context manager that
temporarily replaces that class method with a counter (``h00001``, ``h00002``, ...) under a
lock; the original method is restored on exit, so other code in the process is unaffected.
Everything else (GeoJSON, styles, popups) is produced from the data in a fixed order, so the
same input gives byte-identical HTML.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import math
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Any

import folium
import geopandas as gpd
import pandas as pd
import shapely
from branca.element import Element, MacroElement
from jinja2 import Template

from healthopt.outputs import assets, basemap
from healthopt.outputs.legend import Legend, LegendEntry, LegendSpec

# --- layer names, colours -----------------------------------------------------------------

LAYER_COVERAGE_SHARE = "覆盖率 Coverage within the standard"
LAYER_NORM_GAP = "救护车缺口 Ambulance norm gap"
LAYER_CATCHMENTS = "覆盖范围 Coverage areas"
LAYER_UNCOVERED = "未覆盖人口 Uncovered population"
LAYER_STATIONS = "急救站 Ambulance stations"
LAYER_CENTRES = "基层医疗 Health centres"
LAYER_BEDS = "床位变化 Hospital bed changes"
LAYER_GREEN = "绿色通道 Critical-care green channel"
LAYER_LABELS = "区县名称 District names"
LAYER_DISTRICTS = "区县 Districts"
LAYER_CITIES = "地市 Cities"

#: Result layer -> map layer names it feeds (used to say what is missing).
LAYERS: dict[str, tuple[str, ...]] = {
    "districts": (LAYER_COVERAGE_SHARE, LAYER_NORM_GAP, LAYER_LABELS),
    "coverage_areas": (LAYER_CATCHMENTS,),
    "demand": (LAYER_UNCOVERED,),
    "stations": (LAYER_STATIONS,),
    "health_centres": (LAYER_CENTRES,),
    "beds": (LAYER_BEDS,),
}

ESTIMATE_NOTE = "⚠ / 虚线 dashed = 估算 estimated values"
PROXY_LABEL = "proxy location 代用位置"
ESTIMATED_TT_LABEL = "estimated travel time 估算行程时间"

#: Coverage-share classes: (upper bound, colour, label).  Low coverage is the darkest.
COVERAGE_CLASSES: tuple[tuple[float, str, str], ...] = (
    (0.50, "#a50f15", "< 50 %"),
    (0.70, "#de2d26", "50–70 %"),
    (0.85, "#fb6a4a", "70–85 %"),
    (0.95, "#fcae91", "85–95 %"),
    (math.inf, "#fee5d9", "≥ 95 %"),
)
#: Norm-gap classes (planned − norm): (upper bound, colour, label).
GAP_CLASSES: tuple[tuple[float, str, str], ...] = (
    (-10, "#b2182b", "≤ −10 vehicles short 缺 10 辆以上"),
    (-1, "#ef8a62", "−9 to −1 short 略缺"),
    (0, "#f7f7f7", "0 meets the norm 达标"),
    (math.inf, "#67a9cf", "+1 or more above 超出"),
)
#: Negative-pressure share classes: (upper bound, fill, text colour, label).
NP_CLASSES: tuple[tuple[float, str, str, str], ...] = (
    (0.40, "#ffffff", "#111111", "负压 NP share < 40 % (below norm)"),
    (0.60, "#6baed6", "#08306b", "NP share 40–59 %"),
    (math.inf, "#08519c", "#ffffff", "NP share ≥ 60 %"),
)
NO_DATA = "#d9d9d9"
CATCHMENT_COLOR = "#2171b5"
CATCHMENT_FILL = "#6baed6"
HATCH_ID = "hopt-hatch"
OUTSIDE_COLOR = "#1a1a1a"
BEYOND_COLOR = "#7b3294"
CENTRE_COLOR = "#238b45"
BED_UP, BED_DOWN = "#1a9850", "#d73027"
CENTRE_KINDS = {"chc": ("C", "社区卫生服务中心 CHC"), "thc": ("T", "乡镇卫生院 THC"),
                "subcentre": ("S", "县域医疗次中心 Sub-centre")}

# --- deterministic element ids ------------------------------------------------------------

_ID_LOCK = threading.RLock()


@contextlib.contextmanager
def deterministic_ids(prefix: str = "h") -> Iterator[None]:
    """Make folium/branca element ids a counter while the block runs.

    Parameters
    ----------
    prefix : str
        Start of every id (a letter, so names stay valid JavaScript identifiers).

    Yields
    ------
    None

    Notes
    -----
    Replaces the class method ``branca.element.Element._generate_id`` (which draws 16 random
    bytes) with ``prefix`` + a 5-digit counter, under a re-entrant lock so concurrent
    builds in other threads wait; the original method is restored on exit.
    """
    counter = itertools.count(1)
    with _ID_LOCK:
        original = Element.__dict__["_generate_id"]
        Element._generate_id = classmethod(lambda cls: f"{prefix}{next(counter):05d}")
        try:
            yield
        finally:
            Element._generate_id = original


# --- formatting ---------------------------------------------------------------------------

def esc(value: Any) -> str:
    """Escape text for HTML that folium puts inside a JS template literal.

    Parameters
    ----------
    value : object

    Returns
    -------
    str
    """
    return escape(str(value)).replace("`", "&#96;").replace("$", "&#36;")


def is_missing(value: Any) -> bool:
    """Return whether ``value`` is None/NaN."""
    return value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA


def fmt_int(value: Any) -> str:
    """Format a count with thousands separators (``—`` if missing)."""
    return "—" if is_missing(value) else f"{round(float(value)):,}"


def fmt_signed(value: Any) -> str:
    """Format a signed count with a real minus sign (``+2``, ``−2``, ``0``)."""
    if is_missing(value):
        return "—"
    v = round(float(value))
    return f"+{v:,}" if v > 0 else (f"−{abs(v):,}" if v < 0 else "0")


def fmt_pct(value: Any, digits: int = 0) -> str:
    """Format a 0–1 share as a percentage (``68 %``)."""
    return "—" if is_missing(value) else f"{100 * float(value):.{digits}f} %"


def fmt_gap(gap: float) -> str:
    """Format an optimality gap with enough digits that a small gap never reads as ``0.0 %``."""
    digits = 1 if gap >= 0.01 else 2 if gap >= 0.0001 else 3
    return fmt_pct(gap, digits)


def fmt_num(value: Any, digits: int = 2) -> str:
    """Format a decimal number (``—`` if missing)."""
    return "—" if is_missing(value) else f"{float(value):.{digits}f}"


def district_label(row: Any) -> str:
    """Return ``"小店区 Xiaodian"`` from a row with ``name_zh`` / ``name_en``."""
    parts = [str(getattr(row, c, "") or "") for c in ("name_zh", "name_en")]
    return " ".join(p for p in parts if p and p != "nan") or str(getattr(row, "code", ""))


def _classify(value: Any, classes: Sequence[tuple]) -> tuple:
    """Return the first class whose upper bound ``value`` does not exceed (None if missing)."""
    if is_missing(value):
        return ()
    for cls in classes:
        if float(value) < cls[0] or (cls[0] == math.inf):
            return cls
    return classes[-1]


def _classify_upto(value: Any, classes: Sequence[tuple]) -> tuple:
    """Like :func:`_classify` but with inclusive upper bounds (for integer gaps)."""
    if is_missing(value):
        return ()
    return next((c for c in classes if float(value) <= c[0]), classes[-1])


def _table(rows: Sequence[tuple[str, str]], title: str = "") -> str:
    """Return a small HTML table (already-escaped cells) for popups and tooltips."""
    head = f'<div class="hopt-tip-title">{title}</div>' if title else ""
    body = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows)
    return f'{head}<table class="hopt-tip">{body}</table>'


# --- small elements -----------------------------------------------------------------------

class _Snippet(MacroElement):
    """A MacroElement with header/html/script parts given as text (context: ``this.ctx``)."""

    def __init__(self, template: str, name: str, **ctx: Any) -> None:
        super().__init__()
        self._name = name
        self._template = Template(template)
        self.ctx = ctx


_STYLE = """
{% macro header(this, kwargs) %}
<style>
.hopt-tip{border-collapse:collapse;font-size:12px;}
.hopt-tip th{text-align:left;font-weight:normal;color:#555;padding:1px 8px 1px 0;}
.hopt-tip td{text-align:right;font-weight:bold;padding:1px 0;}
.hopt-tip-title{font-weight:bold;font-size:13px;margin-bottom:3px;}
.hopt-warn{color:#8a4b00;font-weight:bold;}
.hopt-title{background:rgba(255,255,255,0.95);border:1px solid #888;border-radius:4px;
 padding:6px 10px;max-width:340px;font:12px/1.4 "Noto Sans CJK SC","Microsoft YaHei",
 "WenQuanYi Micro Hei",Arial,sans-serif;box-shadow:0 1px 4px rgba(0,0,0,.3);}
.hopt-title h1{font-size:15px;margin:0 0 2px 0;}
.hopt-title .hopt-sub{color:#444;}
.hopt-status{margin-top:4px;padding:3px 6px;border-radius:3px;font-weight:bold;}
.hopt-status.ok{background:#e5f5e0;color:#1b5e20;border:1px solid #74c476;}
.hopt-status.bad{background:#fff3cd;color:#7a4100;border:2px solid #e08214;font-size:13px;}
.hopt-note{margin-top:3px;color:#555;font-size:11px;}
.hopt-label span{display:inline-block;transform:translate(-50%,-50%);text-align:center;
 white-space:nowrap;font:bold 11px/1.15 "Noto Sans CJK SC","Microsoft YaHei",
 "WenQuanYi Micro Hei",Arial,sans-serif;color:#333;
 text-shadow:0 0 3px #fff,0 0 3px #fff,0 0 2px #fff;pointer-events:none;}
.hopt-label small{font-weight:normal;font-size:10px;color:#555;}
.hopt-icon{background:none;border:none;}
.hopt-icon svg{overflow:visible;display:block;}
.hopt-bed{display:inline-block;transform:translate(-50%,-50%);padding:0 4px;border-radius:8px;
 font:bold 11px/16px Arial,sans-serif;color:#fff;white-space:nowrap;border:1.5px solid #fff;
 box-shadow:0 0 2px rgba(0,0,0,.6);}
.hopt-bed.proxy{border:1.5px dashed #111;}
.leaflet-container .hopt-legend{max-height:42vh;overflow-y:auto;}
@media print{.leaflet-control-layers{display:none;}}
</style>
{% endmacro %}
{% macro html(this, kwargs) %}
<svg width="0" height="0" style="position:absolute" aria-hidden="true" focusable="false">
<defs><pattern id="{{ this.ctx.hatch }}" patternUnits="userSpaceOnUse" width="7" height="7"
 patternTransform="rotate(45)"><rect width="7" height="7" fill="#6baed6" fill-opacity="0.10"/>
<line x1="0" y1="0" x2="0" y2="7" stroke="#2171b5" stroke-width="2" stroke-opacity="0.55"/>
</pattern></defs></svg>
{% endmacro %}
"""

_TITLE = """
{% macro script(this, kwargs) %}
(function() {
    var map = {{ this._parent.get_name() }};
    var box = L.control({position: "topleft"});
    box.onAdd = function () {
        var div = L.DomUtil.create("div", "hopt-title leaflet-control");
        div.innerHTML = {{ this.ctx.html }};
        L.DomEvent.disableClickPropagation(div);
        L.DomEvent.disableScrollPropagation(div);
        return div;
    };
    box.addTo(map);
    {% if this.ctx.zoom %}L.control.zoom({position: "topleft"}).addTo(map);{% endif %}
})();
{% endmacro %}
"""

_TOGGLE = """
{% macro script(this, kwargs) %}
(function() {
    var map = {{ this._parent.get_name() }};
    var legends = [{% for layer, title in this.ctx.pairs %}[{{ layer }}, {{ title }}],{% endfor %}];
    var exclusive = [{% for layer in this.ctx.exclusive %}{{ layer }},{% endfor %}];
    function sync() {
        var boxes = map.getContainer().querySelectorAll(".hopt-legend");
        legends.forEach(function (pair) {
            for (var i = 0; i < boxes.length; i++) {
                if (boxes[i].getAttribute("aria-label") === pair[1]) {
                    boxes[i].style.display = map.hasLayer(pair[0]) ? "" : "none";
                }
            }
        });
    }
    map.on("overlayadd", function (e) {
        if (exclusive.indexOf(e.layer) >= 0) {
            // after the layer control finished its click, so it redraws its checkboxes
            setTimeout(function () {
                exclusive.forEach(function (other) {
                    if (other !== e.layer && map.hasLayer(other)) { map.removeLayer(other); }
                });
                sync();
            }, 0);
        }
        sync();
    });
    map.on("overlayremove", sync);
    sync();
})();
{% endmacro %}
"""

_SYNC = """
{% macro script(this, kwargs) %}
(function() {
    var maps = [{{ this.ctx.a }}, {{ this.ctx.b }}];
    var busy = false;
    function follow(src, dst) {
        src.on("move zoom", function () {
            if (busy) { return; }
            busy = true;
            dst.setView(src.getCenter(), src.getZoom(), {animate: false});
            busy = false;
        });
    }
    follow(maps[0], maps[1]);
    follow(maps[1], maps[0]);
})();
{% endmacro %}
"""


_POPUP = """
{% macro script(this, kwargs) %}
{{ this._parent.get_name() }}.bindPopup({{ this.ctx.html }}, {maxWidth: {{ this.ctx.width }}});
{% endmacro %}
"""


def bind_popup(marker: Any, html: str, max_width: int = 320) -> None:
    """Bind a popup of (escaped) HTML to a marker without folium's jQuery-based ``Popup``.

    Parameters
    ----------
    marker : folium.Marker
    html : str
    max_width : int
        Pixels.
    """
    _Snippet(_POPUP, "Popup", html=_js(html), width=int(max_width)).add_to(marker)


def _js(text: str) -> str:
    """Return a JS string literal safe inside ``<script>``."""
    return json.dumps(text, ensure_ascii=False).replace("</", "<\\/")


# --- geometry helpers ---------------------------------------------------------------------

def _valid_points(gdf: gpd.GeoDataFrame | None) -> gpd.GeoDataFrame | None:
    """Return the rows with a non-empty point geometry (None if no layer or no rows)."""
    if gdf is None or len(gdf) == 0:
        return None
    ok = gdf.geometry.notna() & ~gdf.geometry.is_empty
    out = gdf[ok]
    return out if len(out) else None


def _lite_polygons(gdf: gpd.GeoDataFrame, tolerance: float, coverage: bool) -> gpd.GeoSeries:
    """Simplify polygons (shared edges kept shared if ``coverage``) and round to ~1 m."""
    geoms = gdf.geometry.to_numpy()
    geoms = (shapely.coverage_simplify(geoms, tolerance) if coverage
             else shapely.simplify(geoms, tolerance, preserve_topology=True))
    geoms = shapely.set_precision(geoms, 1e-5)
    return gpd.GeoSeries(geoms, index=gdf.index, crs=gdf.crs)


def _feature_collection(gdf: gpd.GeoDataFrame, props: dict[str, Sequence[Any]],
                        geoms: gpd.GeoSeries | None = None) -> dict[str, Any]:
    """Return a GeoJSON FeatureCollection with exactly the given properties (in row order)."""
    geoms = gdf.geometry if geoms is None else geoms
    features = []
    for i, geom in enumerate(geoms):
        features.append({"type": "Feature", "id": i,
                         "properties": {k: v[i] for k, v in props.items()},
                         "geometry": shapely.geometry.mapping(geom)})
    return {"type": "FeatureCollection", "features": features}


def study_bounds(results: dict[str, gpd.GeoDataFrame]) -> list[list[float]]:
    """Return Leaflet ``[[south, west], [north, east]]`` of the districts.

    Parameters
    ----------
    results : dict of str to GeoDataFrame

    Returns
    -------
    list of list of float
    """
    minx, miny, maxx, maxy = (float(v) for v in results["districts"].total_bounds)
    return [[miny, minx], [maxy, maxx]]


# --- districts ----------------------------------------------------------------------------

def _district_tip(row: Any) -> str:
    """Return the KPI tooltip of one district."""
    rows: list[tuple[str, str]] = []

    def add(label: str, cols: Sequence[str], text: Callable[[], str]) -> None:
        if all(hasattr(row, c) for c in cols):
            rows.append((label, esc(text())))

    est = " ⚠" if getattr(row, "population_quality", "") in {"estimate", "proxy"} else ""
    add("常住人口 Residents", ["residents"], lambda: fmt_int(row.residents) + est)
    add("救护车 Fleet planned / norm", ["amb_planned", "amb_norm"],
        lambda: f"{fmt_int(row.amb_planned)} / {fmt_int(row.amb_norm)}")
    add("缺口 Gap vs norm", ["amb_gap"], lambda: fmt_signed(row.amb_gap))
    add("负压 Negative pressure", ["amb_np_planned"], lambda: fmt_int(row.amb_np_planned))
    add("标准时间内覆盖 Covered", ["coverage_share"], lambda: fmt_pct(row.coverage_share))
    add("社区中心 CHC planned / required", ["chc_planned", "chc_required"],
        lambda: f"{fmt_int(row.chc_planned)} / {fmt_int(row.chc_required)}")
    add("乡镇卫生院 THC planned / required", ["thc_planned", "thc_required"],
        lambda: f"{fmt_int(row.thc_planned)} / {fmt_int(row.thc_required)}")
    add("每千人床位 Beds / 1,000 (target)", ["beds_per_1000_planned", "beds_per_1000_target"],
        lambda: f"{fmt_num(row.beds_per_1000_planned)} ({fmt_num(row.beds_per_1000_target)})")
    return _table(rows, esc(district_label(row)))


def _district_data(districts: gpd.GeoDataFrame) -> dict[str, Any]:
    """Return the district FeatureCollection with tooltip and both choropleth colours."""
    d = districts.reset_index(drop=True)
    rows = list(d.itertuples())
    cov = [(_classify(getattr(r, "coverage_share", None), COVERAGE_CLASSES) or (0, NO_DATA))[1]
           for r in rows]
    gap = [(_classify_upto(getattr(r, "amb_gap", None), GAP_CLASSES) or (0, NO_DATA))[1]
           for r in rows]
    props = {"code": [str(r.code) for r in rows], "tip": [_district_tip(r) for r in rows],
             "fill_cov": cov, "fill_gap": gap}
    return _feature_collection(d, props, _lite_polygons(d, 0.001, coverage=True))


def _choropleth(data: dict[str, Any], name: str, fill_key: str, show: bool) -> folium.GeoJson:
    """Return one district choropleth layer."""
    def style(feature: dict[str, Any]) -> dict[str, Any]:
        return {"fillColor": feature["properties"][fill_key], "fillOpacity": 0.5,
                "color": "#555555", "weight": 1.2}

    return folium.GeoJson(
        data, name=name, show=show, style_function=style,
        highlight_function=lambda _f: {"weight": 3, "color": "#222222"},
        tooltip=folium.GeoJsonTooltip(fields=["tip"], labels=False, sticky=True),
    )


def _label_layer(districts: gpd.GeoDataFrame) -> folium.FeatureGroup:
    """Return two-line bilingual district labels at representative points."""
    group = folium.FeatureGroup(name=LAYER_LABELS, show=True)
    points = districts.geometry.representative_point()
    for row, pt in zip(districts.itertuples(), points, strict=True):
        zh, en = esc(getattr(row, "name_zh", "") or ""), esc(getattr(row, "name_en", "") or "")
        html = f"<span>{zh}<br><small>{en}</small></span>"
        folium.Marker([round(pt.y, 5), round(pt.x, 5)], interactive=False,
                      icon=folium.DivIcon(html=html, icon_size=(0, 0),
                                          class_name="hopt-label")).add_to(group)
    return group


def coverage_legend() -> LegendSpec:
    """Return the legend of the coverage-share choropleth."""
    entries = [LegendEntry(label, color, "square", 14, opacity=0.8)
               for _, color, label in COVERAGE_CLASSES]
    return LegendSpec("标准时间内覆盖人口 Population covered within the standard", entries,
                      note="12 min urban districts / 20 min counties (response standard)")


def gap_legend() -> LegendSpec:
    """Return the legend of the ambulance norm-gap choropleth."""
    entries = [LegendEntry(label, color, "square", 14, opacity=0.8)
               for _, color, label in GAP_CLASSES]
    return LegendSpec("救护车缺口 Ambulances planned − norm", entries,
                      note="norm: 1 per 30,000 residents (urban), 1 per 10,000 (counties)")


# --- stations -----------------------------------------------------------------------------

def station_size(vehicles: Any) -> int:
    """Return the symbol size (px) of a station with ``vehicles`` ambulances."""
    v = 0.0 if is_missing(vehicles) else max(float(vehicles), 0.0)
    return round(min(16 + 3.0 * math.sqrt(v), 48))


def _np_class(share: Any) -> tuple[float, str, str, str]:
    """Return the negative-pressure class of a share (the lowest if missing)."""
    return _classify(share, NP_CLASSES) or NP_CLASSES[0]


def _station_svg(row: Any) -> tuple[str, int]:
    """Return the SVG symbol of a station and its size."""
    s = station_size(getattr(row, "vehicles", 0))
    _, fill, text, _ = _np_class(getattr(row, "np_share", None))
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


def _quality_text(quality: Any) -> str:
    """Return a plain-language location quality, flagging proxies."""
    names = {"user": "given by the user", "network_node": "road-network node",
             "district_seat": "district seat", "proxy": "⚠ " + PROXY_LABEL}
    return names.get(str(quality), str(quality))


def _station_popup(row: Any) -> str:
    """Return the popup HTML of one station."""
    rows = [("状态 Status", esc("new 新建" if getattr(row, "status", "") == "new"
                                else "existing 现有"))]
    if hasattr(row, "vehicles"):
        rows.append(("救护车 Vehicles", esc(fmt_int(row.vehicles))))
    if hasattr(row, "negative_pressure"):
        share = f" ({fmt_pct(row.np_share)})" if hasattr(row, "np_share") else ""
        rows.append(("负压 Negative pressure", esc(fmt_int(row.negative_pressure) + share)))
    for col, label in (("physicians", "医师 Physicians"), ("nurses", "护士 Nurses"),
                       ("drivers", "驾驶员 Drivers")):
        if hasattr(row, col):
            rows.append((label, esc(fmt_int(getattr(row, col)))))
    if hasattr(row, "pop_covered"):
        rows.append(("覆盖人口 Population covered", esc(fmt_int(row.pop_covered))))
    rows.append(("位置 Location", esc(_quality_text(getattr(row, "location_quality", "")))))
    if bool(getattr(row, "estimated", False)):
        rows.append(("行程时间 Travel time", f'<span class="hopt-warn">⚠ {esc(ESTIMATED_TT_LABEL)}'
                                            "</span>"))
    return _table(rows, esc(getattr(row, "name", getattr(row, "site_id", ""))))


def _station_tooltip(row: Any) -> str:
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
        svg, s = _station_svg(row)
        marker = folium.Marker(
            [round(row.geometry.y, 6), round(row.geometry.x, 6)],
            icon=folium.DivIcon(html=svg, icon_size=(s, s), icon_anchor=(s // 2, s // 2),
                                class_name="hopt-icon"),
            tooltip=folium.Tooltip(_station_tooltip(row)),
        ).add_to(group)
        bind_popup(marker, _station_popup(row))
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


# --- coverage areas and uncovered population ----------------------------------------------

def _catchment_style(feature: dict[str, Any]) -> dict[str, Any]:
    """Style of one coverage area: hatched and dashed if estimated."""
    if feature["properties"]["estimated"]:
        return {"color": CATCHMENT_COLOR, "weight": 1.5, "dashArray": "6 4",
                "fillColor": f"url(#{HATCH_ID})", "fillOpacity": 1.0}
    return {"color": CATCHMENT_COLOR, "weight": 1.2, "fillColor": CATCHMENT_FILL,
            "fillOpacity": 0.18}


def catchment_layer(areas: gpd.GeoDataFrame, name: str = LAYER_CATCHMENTS) -> folium.GeoJson:
    """Return the coverage-area polygons.

    Parameters
    ----------
    areas : GeoDataFrame
        The ``coverage_areas`` result layer.
    name : str
        Layer name.

    Returns
    -------
    folium.GeoJson
    """
    a = areas.reset_index(drop=True)
    a = a[a.geometry.notna() & ~a.geometry.is_empty].reset_index(drop=True)
    est = [bool(v) for v in a.get("estimated", pd.Series(False, index=a.index))]
    tips = []
    for row, e in zip(a.itertuples(), est, strict=True):
        mins = getattr(row, "minutes", None)
        text = esc(f"{getattr(row, 'site_id', '')}: ≤ {fmt_num(mins, 0)} min")
        tips.append(text + (f'<br><span class="hopt-warn">⚠ {esc(ESTIMATED_TT_LABEL)}</span>'
                            if e else ""))
    data = _feature_collection(a, {"tip": tips, "estimated": est},
                               _lite_polygons(a, 0.0004, coverage=False))
    return folium.GeoJson(data, name=name, show=True, style_function=_catchment_style,
                          tooltip=folium.GeoJsonTooltip(fields=["tip"], labels=False))


def catchment_legend() -> LegendSpec:
    """Return the coverage-area legend."""
    hatch = (f"repeating-linear-gradient(45deg,{CATCHMENT_COLOR} 0 2px,"
             f"rgba(107,174,214,0.15) 2px 6px)")
    return LegendSpec("覆盖范围 Coverage areas", [
        LegendEntry("路网行程时间 Reached within the standard (road network)", CATCHMENT_FILL,
                    "square", 14, border=CATCHMENT_COLOR, opacity=0.5),
        LegendEntry("⚠ 估算 Estimated travel time (off-network, hatched)", hatch, "square", 14,
                    border=CATCHMENT_COLOR),
        LegendEntry("估算范围边界 Estimated area outline", CATCHMENT_COLOR, "dashed", 18),
    ])


def demand_radius(population: Any) -> float:
    """Return the circle radius (px) of a demand point: area proportional to population."""
    p = 0.0 if is_missing(population) else max(float(population), 0.0)
    return round(min(max(2.5 + math.sqrt(p) / 32.0, 3.0), 16.0), 1)


def _demand_tip(row: Any, names: dict[str, str]) -> str:
    """Return the (compact) tooltip of one uncovered demand point."""
    status = ("outside every catchment 不在任何覆盖范围" if row.status == "outside"
              else "in a catchment, beyond capacity 超出站点能力")
    est = getattr(row, "population_quality", "") == "estimate"
    pop = fmt_int(getattr(row, "population", None)) + (" ⚠ estimate 估算" if est else "")
    mins = getattr(row, "minutes", None)
    mins_text = "no open station" if is_missing(mins) else f"{fmt_num(mins, 1)} min"
    if bool(getattr(row, "estimated", False)) and not is_missing(mins):
        mins_text += " ⚠ estimated"
    district = names.get(str(getattr(row, "district_code", "")), "")
    return (f"<b>{esc(district)}</b><br>{esc(pop)} residents 人<br>{esc(status)}<br>"
            f"nearest station 最近站点: {esc(mins_text)}")


#: More uncovered demand points than this are merged onto a coarser display grid.
MAX_DEMAND_POINTS = 800


def aggregate_demand(demand: gpd.GeoDataFrame, max_points: int = MAX_DEMAND_POINTS
                     ) -> tuple[gpd.GeoDataFrame, float | None]:
    """Merge demand points onto a square display grid until at most ``max_points`` remain.

    Points are grouped by grid cell, district and status; population is summed and the
    position is the population-weighted mean.  A cell is flagged ``estimate`` if any of
    its points is, and ``estimated`` (travel time) likewise.

    Parameters
    ----------
    demand : GeoDataFrame
        Demand points (EPSG:4326) with ``population``, ``status``, ``district_code``.
    max_points : int

    Returns
    -------
    tuple of (GeoDataFrame, float or None)
        The (possibly merged) points and the cell size in km (``None`` if unchanged).
    """
    if len(demand) <= max_points:
        return demand, None
    df = pd.DataFrame({
        "x": demand.geometry.x.to_numpy(), "y": demand.geometry.y.to_numpy(),
        "population": demand.population.astype(float).to_numpy(),
        "status": demand.status.to_numpy(),
        "district_code": demand.get("district_code", pd.Series("", index=demand.index)).to_numpy(),
        "est_pop": (demand.get("population_quality", pd.Series("", index=demand.index))
                    == "estimate").to_numpy(),
        "estimated": demand.get("estimated", pd.Series(False, index=demand.index)).astype(bool)
        .to_numpy(),
        "minutes": demand.get("minutes", pd.Series(math.nan, index=demand.index)).to_numpy(),
    })
    cell = 0.01
    while True:
        df["kx"], df["ky"] = (df.x // cell).astype(int), (df.y // cell).astype(int)
        keys = ["district_code", "status", "kx", "ky"]
        if df.groupby(keys).ngroups <= max_points:
            break
        cell *= 1.5
    w = df.population.clip(lower=1e-9)
    df["wx"], df["wy"] = df.x * w, df.y * w
    df["w"] = w
    g = df.groupby(keys, sort=True).agg(
        population=("population", "sum"), wx=("wx", "sum"), wy=("wy", "sum"), w=("w", "sum"),
        est_pop=("est_pop", "any"), estimated=("estimated", "any"), minutes=("minutes", "min"),
    ).reset_index()
    out = gpd.GeoDataFrame(
        {"district_code": g.district_code, "status": g.status, "population": g.population,
         "population_quality": g.est_pop.map({True: "estimate", False: "user"}),
         "estimated": g.estimated, "minutes": g.minutes},
        geometry=gpd.points_from_xy(g.wx / g.w, g.wy / g.w), crs=demand.crs)
    return out, round(cell * 111.0, 1)


def uncovered_layer(demand: gpd.GeoDataFrame | None, names: dict[str, str] | None = None,
                    name: str = LAYER_UNCOVERED) -> folium.GeoJson | None:
    """Return circles for demand outside every catchment or beyond capacity.

    Parameters
    ----------
    demand : GeoDataFrame
        The ``demand`` result layer.
    names : dict, optional
        District code -> label, for the tooltips.
    name : str
        Layer name.

    Returns
    -------
    folium.GeoJson or None
        ``None`` if every demand point is covered.
    """
    d = _valid_points(demand)
    if d is None or "status" not in d.columns:
        return None
    d = d[d.status.isin(["outside", "beyond_capacity"])]
    if len(d) == 0:
        return None
    d, _ = aggregate_demand(d)
    d = d.sort_values("population", ascending=False).reset_index(drop=True)
    geoms = gpd.GeoSeries(shapely.set_precision(d.geometry.to_numpy(), 1e-5), crs=d.crs)
    props = {"tip": [_demand_tip(r, names or {}) for r in d.itertuples()], "status": list(d.status),
             "r": [demand_radius(p) for p in d.population]}
    data = _feature_collection(d, props, geoms)

    def style(feature: dict[str, Any]) -> dict[str, Any]:
        outside = feature["properties"]["status"] == "outside"
        color = OUTSIDE_COLOR if outside else BEYOND_COLOR
        return {"radius": feature["properties"]["r"], "fill": True,
                "color": "#ffffff" if outside else color,
                "weight": 1 if outside else 2, "fillColor": color,
                "fillOpacity": 0.55 if outside else 0.15}

    return folium.GeoJson(data, name=name, show=True, style_function=style,
                          marker=folium.CircleMarker(),
                          tooltip=folium.GeoJsonTooltip(fields=["tip"], labels=False))


def uncovered_legend() -> LegendSpec:
    """Return the uncovered-population legend."""
    return LegendSpec("未覆盖人口 Population not served in time", [
        LegendEntry("不在任何覆盖范围 Outside every catchment", OUTSIDE_COLOR, "circle", 12,
                    border="#ffffff", opacity=0.7),
        LegendEntry("超出站点能力 In a catchment, beyond capacity", "#e7d4e8", "circle", 12,
                    border=BEYOND_COLOR),
        *[LegendEntry(f"{p:,} residents 人", "#9e9e9e", "circle",
                      int(2 * demand_radius(p)), border="#555", opacity=0.7)
          for p in (10_000, 50_000)],
    ], note="circle area ∝ population; ⚠ population within districts is an estimate")


# --- health centres and beds --------------------------------------------------------------

def _centre_icon(row: Any) -> folium.DivIcon:
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


def _centre_tip(row: Any) -> str:
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
    rows.append(("位置 Location", esc(_quality_text(getattr(row, "location_quality", "")))))
    return _table(rows, esc(getattr(row, "name", getattr(row, "site_id", ""))))


def centre_layer(centres: gpd.GeoDataFrame) -> folium.FeatureGroup | None:
    """Return the health-centre badges (hidden by default), or None if there are none."""
    c = _valid_points(centres)
    if c is None:
        return None
    group = folium.FeatureGroup(name=LAYER_CENTRES, show=False)
    for row in c.itertuples():
        folium.Marker([round(row.geometry.y, 6), round(row.geometry.x, 6)], icon=_centre_icon(row),
                      tooltip=folium.Tooltip(_centre_tip(row))).add_to(group)
    return group


def centre_legend() -> LegendSpec:
    """Return the health-centre legend."""
    entries = [LegendEntry(f"{letter} — {label}", CENTRE_COLOR, "square", 14, border="#0b3d1e")
               for letter, label in CENTRE_KINDS.values()]
    entries += [LegendEntry("新建 New (white badge)", "#ffffff", "square", 14, border=CENTRE_COLOR),
                LegendEntry("代用位置 Proxy location (dashed)", CENTRE_COLOR, "dashed", 18)]
    return LegendSpec("基层医疗 Health centres", entries)


def _bed_tip(row: Any) -> str:
    """Return the tooltip of one hospital's bed change."""
    rows = [("2022 床位 Beds 2022", esc(fmt_int(getattr(row, "beds_2022", None)))),
            ("变化 Change", esc(fmt_signed(getattr(row, "beds_change", None)))),
            ("规划 Beds planned", esc(fmt_int(getattr(row, "beds_2025", None))))]
    if hasattr(row, "icu_min") and hasattr(row, "icu_max"):
        rows.append(("重症 ICU beds", esc(f"{fmt_int(row.icu_min)}–{fmt_int(row.icu_max)}")))
    if hasattr(row, "infectious_beds"):
        rows.append(("传染病 Infectious-disease beds", esc(fmt_int(row.infectious_beds))))
    rows.append(("位置 Location", esc(_quality_text(getattr(row, "location_quality", "")))))
    return _table(rows, esc(getattr(row, "name", "")))


def bed_layer(beds: gpd.GeoDataFrame | None) -> folium.FeatureGroup | None:
    """Return +/− bed-change badges at hospitals (hidden by default), or None if none."""
    b = _valid_points(beds)
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
                      tooltip=folium.Tooltip(_bed_tip(row))).add_to(group)
    return group


def bed_legend(unmapped: int) -> LegendSpec:
    """Return the bed-change legend (``unmapped`` = hospitals without a location)."""
    note = f"{unmapped} hospital(s) without a location are not drawn" if unmapped else ""
    return LegendSpec("床位变化 Bed change 2022 → plan", [
        LegendEntry("+ 增加 Beds added", BED_UP, "square", 14),
        LegendEntry("− 减少 Beds reduced", BED_DOWN, "square", 14),
        LegendEntry("代用位置 Proxy location: district seat (dashed)", "#111111", "dashed", 18),
    ], note=note)


GREEN_COLOR = "#0b7a3e"


def green_channel_layer(routes: gpd.GeoDataFrame | None) -> folium.FeatureGroup | None:
    """Return sender -> receiver referral lines with their travel times, or None if none."""
    if routes is None or routes.empty:
        return None
    group = folium.FeatureGroup(name=LAYER_GREEN, show=True)
    for row in routes.itertuples():
        coords = [[round(y, 6), round(x, 6)] for x, y in row.geometry.coords]
        est = bool(row.estimated)
        tip = _table([("转出 From", esc(row.sender)), ("转入 To", esc(row.receiver)),
                      ("时间 Time", esc(f"{row.minutes:.0f} min" + (" ⚠ estimated" if est else ""))),
                      ("位置 Locations", esc(f"{row.sender_location_quality} / {row.receiver_location_quality}"))])
        folium.PolyLine(coords, color=GREEN_COLOR, weight=3, opacity=0.85,
                        dash_array="8 6" if est else None, tooltip=folium.Tooltip(tip)).add_to(group)
        for (lat, lon), name, quality in ((coords[0], row.sender, row.sender_location_quality),
                                          (coords[-1], row.receiver, row.receiver_location_quality)):
            folium.CircleMarker([lat, lon], radius=6, color=GREEN_COLOR, fill=True, fill_color="#ffffff",
                                fill_opacity=1, weight=2, dash_array="3 3" if quality == "proxy" else None,
                                tooltip=folium.Tooltip(esc(f"{name} ({_quality_text(quality)})"))).add_to(group)
    return group


def green_channel_legend() -> LegendSpec:
    """Return the green-channel legend."""
    return LegendSpec("绿色通道 Green channel", [
        LegendEntry("转诊路线 Referral route (road network time)", GREEN_COLOR, "line", 18),
        LegendEntry("⚠ 估算时间 Estimated time (no road data)", GREEN_COLOR, "dashed", 18),
        LegendEntry("医院 Hospital (dashed: proxy location)", "#ffffff", "circle", 12, border=GREEN_COLOR),
    ])


# --- title --------------------------------------------------------------------------------

def status_line(summary: dict[str, Any]) -> tuple[bool, str]:
    """Return ``(proven_optimal, text)`` for the solver status of a run.

    Parameters
    ----------
    summary : dict

    Returns
    -------
    tuple of (bool, str)
    """
    status = str(summary.get("status", "unknown"))
    optimal = bool(summary.get("optimal", status == "optimal"))
    gap = summary.get("gap")
    gap_text = "" if is_missing(gap) or optimal else f" (optimality gap ≤ {fmt_gap(gap)})"
    relaxed = summary.get("relaxed_norms") or []
    if relaxed:
        return False, (f"⚠ 规范未满足 Norms relaxed: the budgets cannot meet {len(relaxed)} norm"
                       f"{'s' if len(relaxed) > 1 else ''}; best plan under relaxed norms{gap_text}")
    if optimal:
        return True, "✓ 最优 Optimal plan (proven)"
    if "not proven optimal" in status.lower():
        return False, f"⚠ 未证明最优 {status}{gap_text}"
    return False, f"⚠ 未证明最优 Not proven optimal — {status}{gap_text}"


def title_html(summary: dict[str, Any], extra: Sequence[str] = ()) -> str:
    """Return the (escaped) HTML of the map title box.

    Parameters
    ----------
    summary : dict
        Run summary (scenario name/year, status, gap).
    extra : sequence of str
        Additional short notes (plain text, escaped here).

    Returns
    -------
    str
    """
    sc = summary.get("scenario", {}) or {}
    ok, status = status_line(summary)
    year = f" · {esc(sc['year'])}" if sc.get("year") else ""
    parts = [f"<h1>{esc(sc.get('name', 'Scenario'))}{year}</h1>"]
    if sc.get("description"):
        parts.append(f'<div class="hopt-sub">{esc(sc["description"])}</div>')
    parts.append(f'<div class="hopt-status {"ok" if ok else "bad"}">{esc(status)}</div>')
    parts += [f'<div class="hopt-note">{esc(e)}</div>' for e in extra]
    parts.append(f'<div class="hopt-note">{esc(ESTIMATE_NOTE)}</div>')
    return "".join(parts)


def add_title(m: folium.Map, html: str, *, zoom: bool = True) -> None:
    """Add the title box (top-left) and, below it, the zoom buttons.

    Parameters
    ----------
    m : folium.Map
        Created with ``zoom_control=False``.
    html : str
        Inner HTML (already escaped).
    zoom : bool
        Add the zoom control after the title.
    """
    _Snippet(_TITLE, "Title", html=_js(html), zoom=zoom).add_to(m)


# --- map assembly -------------------------------------------------------------------------

@dataclass
class _Layer:
    """A map layer with its legend (the legend is shown while the layer is on)."""

    layer: Any
    legend: LegendSpec | None = None
    position: str = "bottomright"


def new_map(results: dict[str, gpd.GeoDataFrame], *, offline: bool, **kwargs: Any) -> folium.Map:
    """Create an empty map on the study area with the base map (tiles or boundaries).

    Parameters
    ----------
    results : dict of str to GeoDataFrame
        Needs ``districts``.
    offline : bool
        Boundaries-only background (no tiles) or OpenStreetMap tiles.
    **kwargs
        Extra ``folium.Map`` arguments (e.g. ``width``/``left`` for a side-by-side map).

    Returns
    -------
    folium.Map
    """
    (s, w), (n, e) = study_bounds(results)
    m = folium.Map(location=[round((s + n) / 2, 5), round((w + e) / 2, 5)], zoom_start=9,
                   tiles=None, control_scale=True, zoom_control=False, zoomSnap=0.25,
                   font_size="13px", **kwargs)
    # Only Leaflet is used (no awesome-markers, Bootstrap, jQuery, Font Awesome): drop them
    # from this map's asset lists, which keeps offline pages ~1 MB smaller.
    m.default_js = [(k, u) for k, u in m.default_js if k == "leaflet"]
    m.default_css = [(k, u) for k, u in m.default_css if k == "leaflet_css"]
    d = results["districts"]
    base = gpd.GeoDataFrame({"label": [district_label(r) for r in d.itertuples()]},
                            geometry=_lite_polygons(d.reset_index(drop=True), 0.001, True),
                            crs=d.crs)
    city = base.assign(city="study area").dissolve("city").reset_index()
    opts = {"cities_gdf": city, "name_field": "label", "labels": False, "fit_bounds": False}
    if offline:
        basemap.offline_basemap(m, base, **opts)
    else:
        folium.TileLayer("OpenStreetMap", name="OpenStreetMap",
                         attr=basemap.OSM_ATTRIBUTION).add_to(m)
        basemap.online_basemap(m, base, **opts)
    for child in m._children.values():  # base-map internals need no switch in the control
        if getattr(child, "layer_name", None) in {LAYER_DISTRICTS, LAYER_CITIES}:
            child.control = False
    _Snippet(_STYLE, "Style", hatch=HATCH_ID).add_to(m)
    return m


def _layers(results: dict[str, gpd.GeoDataFrame]) -> list[_Layer]:
    """Build every available result layer, bottom to top."""
    d = results["districts"]
    data = _district_data(d)
    out = [_Layer(_choropleth(data, LAYER_COVERAGE_SHARE, "fill_cov", True), coverage_legend(),
                  "bottomleft"),
           _Layer(_choropleth(data, LAYER_NORM_GAP, "fill_gap", False), gap_legend(),
                  "bottomleft")]
    if (areas := results.get("coverage_areas")) is not None and len(areas):
        out.append(_Layer(catchment_layer(areas), catchment_legend(), "bottomleft"))
    names = {str(r.code): district_label(r) for r in d.itertuples()}
    if (layer := uncovered_layer(results.get("demand"), names)) is not None:
        out.append(_Layer(layer, uncovered_legend(), "bottomleft"))
    if (layer := centre_layer(results.get("health_centres"))) is not None:
        out.append(_Layer(layer, centre_legend(), "topright"))
    beds = results.get("beds")
    if (layer := bed_layer(beds)) is not None:
        unmapped = len(beds) - len(_valid_points(beds) if _valid_points(beds) is not None else [])
        out.append(_Layer(layer, bed_legend(unmapped), "topright"))
    if (layer := green_channel_layer(results.get("green_channel"))) is not None:
        out.append(_Layer(layer, green_channel_legend(), "topright"))
    if (stations := _valid_points(results.get("stations"))) is not None:
        out.append(_Layer(station_layer(stations), station_legend()))
    out.append(_Layer(_label_layer(d)))
    return out


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
        if _valid_points(gdf) is None:
            out.append(f"No {what} in this run (plan disabled or no data): layer not drawn")
    return out


def add_legend_toggle(m: folium.Map, layers: Sequence[_Layer], exclusive: Sequence[Any]) -> None:
    """Add the legends and the script that shows each only while its layer is on.

    Parameters
    ----------
    m : folium.Map
    layers : sequence of _Layer
    exclusive : sequence of folium layers
        Overlays of which at most one is shown (ticking one unticks the others).
    """
    pairs = []
    for item in layers:
        if item.legend is not None:
            Legend(item.legend, position=item.position).add_to(m)
            pairs.append((item.layer.get_name(), _js(item.legend.title or "legend")))
    _Snippet(_TOGGLE, "LegendToggle", pairs=pairs,
             exclusive=[x.get_name() for x in exclusive]).add_to(m)


def _build(results: dict[str, gpd.GeoDataFrame], summary: dict[str, Any],
           offline: bool) -> folium.Map:
    """Assemble the scenario map (ids must already be deterministic)."""
    if "districts" not in results or len(results["districts"]) == 0:
        raise ValueError("results['districts'] is required to draw the scenario map")
    m = new_map(results, offline=offline)
    missing = missing_layers(results)
    add_title(m, title_html(summary, [f"Not shown: {len(missing)} layer(s) absent from this run"]
                            if missing else []))
    layers = _layers(results)
    for item in layers:
        item.layer.add_to(m)
    folium.LayerControl(collapsed=False, position="topright").add_to(m)
    add_legend_toggle(m, layers, [layers[0].layer, layers[1].layer])
    m.fit_bounds(study_bounds(results), padding=(10, 10))
    return m


def build_map(results: dict[str, gpd.GeoDataFrame], summary: dict[str, Any], *, offline: bool,
              assets_dir: str | Path | None = None) -> folium.Map:
    """Build the scenario map of a run.

    Parameters
    ----------
    results : dict of str to GeoDataFrame
        Run layers in EPSG:4326 (``districts`` required; ``stations``, ``health_centres``,
        ``beds``, ``demand`` and ``coverage_areas`` are drawn when present).
    summary : dict
        Run summary (scenario, status, gap, kpis, ...).
    offline : bool
        Boundaries-only background instead of OpenStreetMap tiles.  Assets are inlined when
        the map is rendered with :func:`render_map` / :func:`write_map`.
    assets_dir : str or Path, optional
        Kept on the map (``m.healthopt_assets_dir``) for :func:`render_map`.

    Returns
    -------
    folium.Map
        With ``m.healthopt_offline`` set; render it with :func:`render_map` for
        deterministic, self-contained HTML.
    """
    with deterministic_ids("h"):
        m = _build(results, summary, offline)
    m.healthopt_offline = offline
    m.healthopt_assets_dir = assets_dir
    return m


def render_html(root: Any, *, offline: bool, assets_dir: str | Path | None = None) -> str:
    """Render a folium Map/Figure deterministically; inline its assets if ``offline``.

    Parameters
    ----------
    root : folium.Map or branca.element.Figure
    offline : bool
    assets_dir : str or Path, optional
        Folder of fetched assets (default ``build/assets``).

    Returns
    -------
    str

    Raises
    ------
    healthopt.outputs.assets.OfflineAssetError
        If ``offline`` and an asset is not available locally.
    """
    with deterministic_ids("r"):
        html = root.get_root().render()
    return assets.inline_html(html, assets_dir) if offline else html


def render_map(m: folium.Map) -> str:
    """Return the HTML of a map made by :func:`build_map` (self-contained if offline).

    Parameters
    ----------
    m : folium.Map

    Returns
    -------
    str
    """
    return render_html(m, offline=getattr(m, "healthopt_offline", False),
                       assets_dir=getattr(m, "healthopt_assets_dir", None))


def write_map(path: str | Path, results: dict[str, gpd.GeoDataFrame], summary: dict[str, Any], *,
              offline: bool, assets_dir: str | Path | None = None) -> str:
    """Build the scenario map and write it to ``path`` (UTF-8).

    Parameters
    ----------
    path : str or Path
    results : dict of str to GeoDataFrame
    summary : dict
    offline : bool
    assets_dir : str or Path, optional

    Returns
    -------
    str
        The HTML written (for embedding in the report).
    """
    html = render_map(build_map(results, summary, offline=offline, assets_dir=assets_dir))
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(html, encoding="utf-8")
    return html
