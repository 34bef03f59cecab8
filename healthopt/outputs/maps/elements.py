"""The map's own page elements: stylesheet, title box, legend toggle, popups, view sync.

Every template is a constant below, compiled once at import by
:data:`healthopt.outputs._html.ENV`; data only enters
as a variable, and every string variable in a script goes through the ``js`` filter
(:func:`healthopt.outputs._html.js_string`).  Nothing is ever concatenated into template
source, and pages render under :func:`healthopt.outputs._html.literal_output`, so rendered
output is never parsed again either.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from branca.element import MacroElement

from healthopt.outputs._html import ENV

STYLE_TEMPLATE = """
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
.hopt-bed.district{border-radius:10px;border:1.5px solid #333;font-weight:normal;}
.leaflet-container .hopt-legend{max-height:42vh;overflow-y:auto;}
@media print{.leaflet-control-layers{display:none;}}
</style>
{% endmacro %}
{% macro html(this, kwargs) %}
<svg width="0" height="0" style="position:absolute" aria-hidden="true" focusable="false">
<defs><pattern id="{{ this.hatch }}" patternUnits="userSpaceOnUse" width="7" height="7"
 patternTransform="rotate(45)"><rect width="7" height="7" fill="#6baed6" fill-opacity="0.10"/>
<line x1="0" y1="0" x2="0" y2="7" stroke="#2171b5" stroke-width="2" stroke-opacity="0.55"/>
</pattern></defs></svg>
{% endmacro %}
"""

TITLE_TEMPLATE = """
{% macro script(this, kwargs) %}
(function() {
    var map = {{ this._parent.get_name() }};
    var box = L.control({position: "topleft"});
    box.onAdd = function () {
        var div = L.DomUtil.create("div", "hopt-title leaflet-control");
        div.innerHTML = {{ this.html|js }};
        L.DomEvent.disableClickPropagation(div);
        L.DomEvent.disableScrollPropagation(div);
        return div;
    };
    box.addTo(map);
    {% if this.zoom %}L.control.zoom({position: "topleft"}).addTo(map);{% endif %}
})();
{% endmacro %}
"""

TOGGLE_TEMPLATE = """
{% macro script(this, kwargs) %}
(function() {
    var map = {{ this._parent.get_name() }};
    var legends = [{% for layer, title in this.pairs %}[{{ layer }}, {{ title|js }}],{% endfor %}];
    var exclusive = [{% for layer in this.exclusive %}{{ layer }},{% endfor %}];
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

SYNC_TEMPLATE = """
{% macro script(this, kwargs) %}
(function() {
    var maps = [{{ this.a }}, {{ this.b }}];
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

POPUP_TEMPLATE = """
{% macro script(this, kwargs) %}
{{ this._parent.get_name() }}.bindPopup({{ this.html|js }}, {maxWidth: {{ this.width }}});
{% endmacro %}
"""

DIVIDER_TEMPLATE = """
{% macro header(this, kwargs) %}
<style>#{{ this._parent.get_name() }}{ {{- this.css -}} }</style>
{% endmacro %}
"""


class PageStyle(MacroElement):
    """The map's stylesheet and the SVG hatch pattern of estimated areas.

    Parameters
    ----------
    hatch : str
        Id of the hatch pattern (a constant, used in styles as ``url(#id)``).
    """

    _template = ENV.from_string(STYLE_TEMPLATE)

    def __init__(self, hatch: str) -> None:
        super().__init__()
        self._name = "Style"
        self.hatch = hatch


class TitleBox(MacroElement):
    """The title box (top-left) and, below it, the zoom buttons.

    Parameters
    ----------
    html : str
        Inner HTML, already escaped (made by :func:`healthopt.outputs.maps.title_html`).
    zoom : bool
        Add the zoom control after the title.
    """

    _template = ENV.from_string(TITLE_TEMPLATE)

    def __init__(self, html: str, *, zoom: bool = True) -> None:
        super().__init__()
        self._name = "Title"
        self.html = html
        self.zoom = zoom


class LegendToggle(MacroElement):
    """Show each legend only while its layer is on; keep exclusive overlays exclusive.

    Parameters
    ----------
    pairs : sequence of (str, str)
        JavaScript name of a layer and the title (``aria-label``) of its legend.
    exclusive : sequence of str
        JavaScript names of overlays of which at most one is shown.
    """

    _template = ENV.from_string(TOGGLE_TEMPLATE)

    def __init__(self, pairs: Sequence[tuple[str, str]], exclusive: Sequence[str]) -> None:
        super().__init__()
        self._name = "LegendToggle"
        self.pairs = list(pairs)
        self.exclusive = list(exclusive)


class SyncViews(MacroElement):
    """Keep two maps' views in step (each move or zoom sets the other's view).

    Parameters
    ----------
    a, b : str
        JavaScript names of the two maps.
    """

    _template = ENV.from_string(SYNC_TEMPLATE)

    def __init__(self, a: str, b: str) -> None:
        super().__init__()
        self._name = "Sync"
        self.a, self.b = a, b


class MarkerPopup(MacroElement):
    """A popup bound to its parent marker without folium's jQuery-based ``Popup``.

    Parameters
    ----------
    html : str
        Already-escaped HTML.
    width : int
        Maximum width in pixels.
    """

    _template = ENV.from_string(POPUP_TEMPLATE)

    def __init__(self, html: str, width: int = 320) -> None:
        super().__init__()
        self._name = "Popup"
        self.html = html
        self.width = int(width)


class DividerStyle(MacroElement):
    """A CSS rule for the parent map's container (e.g. the divider of a side-by-side page).

    Parameters
    ----------
    css : str
        Declarations (a constant of the calling module).
    """

    _template = ENV.from_string(DIVIDER_TEMPLATE)

    def __init__(self, css: str) -> None:
        super().__init__()
        self._name = "DividerStyle"
        self.css = css


def bind_popup(marker: Any, html: str, max_width: int = 320) -> None:
    """Bind a popup of (escaped) HTML to a marker.

    Parameters
    ----------
    marker : folium.Marker
    html : str
    max_width : int
        Pixels.
    """
    MarkerPopup(html, max_width).add_to(marker)


PANE_TEMPLATE = """
{% macro script(this, kwargs) %}
(function() {
    // folium adds the group to the map only after its members: set their pane before that
    var map = {{ this._parent._parent.get_name() }};
    if (!map.getPane({{ this.pane|js }})) {
        map.createPane({{ this.pane|js }}).style.zIndex = {{ this.z_index }};
    }
    {{ this._parent.get_name() }}.eachLayer(function (layer) {
        layer.options.pane = {{ this.pane|js }};
    });
})();
{% endmacro %}
"""


class InPane(MacroElement):
    """Draw the members of its parent layer group in a Leaflet pane (e.g. above markers).

    Add it as the *last* child of a group whose parent is the map, so every member exists
    when it runs (and the group is not yet on the map).

    Parameters
    ----------
    pane : str
        Pane name (a constant of the calling module).
    z_index : int
        CSS z-index of the pane (markers are 600, tooltips 650).
    """

    _template = ENV.from_string(PANE_TEMPLATE)

    def __init__(self, pane: str, z_index: int) -> None:
        super().__init__()
        self._name = "InPane"
        self.pane = pane
        self.z_index = int(z_index)


FIT_TEMPLATE = """
{% macro script(this, kwargs) %}
(function() {
    var map = {{ this._parent.get_name() }};
    var box = map.getContainer();
    var bounds = L.latLngBounds({{ this.bounds|tojson }});
    function visible(side) {
        return Array.prototype.filter.call(
            box.querySelectorAll(".leaflet-" + side + " .leaflet-control"),
            function (c) { return c.offsetParent !== null; });
    }
    function width(side) {
        // the attribution and scale are thin strips along the bottom edge: they do not count
        return visible(side).filter(function (c) {
            return !/leaflet-control-(attribution|scale)/.test(c.className);
        }).reduce(function (w, c) { return Math.max(w, c.offsetWidth + 12); }, 0);
    }
    function height(side) {
        return visible(side).reduce(function (h, c) { return h + c.offsetHeight + 10; }, 0);
    }
    function crowdedSide() {
        // the side whose controls do not fit: taller than the map, or both too wide
        var size = map.getSize();
        if (height("left") > size.y) { return "left"; }
        if (height("right") > size.y) { return "right"; }
        if (width("left") + width("right") > size.x * {{ this.max_share }}) {
            return width("left") >= width("right") ? "left" : "right";
        }
        return null;
    }
    function fit() {
        // fold the tallest open legend of the crowded side until the controls fit beside the area
        for (var guard = 0; guard < 20; guard++) {
            var side = crowdedSide();
            if (!side) { break; }
            var open = Array.prototype.slice.call(
                box.querySelectorAll(".leaflet-" + side + " details.hopt-legend-box[open]"))
                .filter(function (d) { return d.offsetParent !== null; })
                .sort(function (a, b) { return b.offsetHeight - a.offsetHeight; });
            if (!open.length) { break; }
            open[0].open = false;
        }
        map.fitBounds(bounds, {paddingTopLeft: [width("left"), 10],
                               paddingBottomRight: [width("right"), 10], animate: false});
    }
    fit();
})();
{% endmacro %}
"""

DECLUTTER_TEMPLATE = """
{% macro header(this, kwargs) %}
<style>.leaflet-marker-pane .hopt-label{z-index:100000 !important;}</style>
{% endmacro %}
{% macro script(this, kwargs) %}
(function() {
    var map = {{ this._parent.get_name() }};
    var box = map.getContainer();
    var offsets = {{ this.offsets|tojson }};
    function overlaps(a, list) {
        return list.some(function (b) {
            return !(a.right < b.left || a.left > b.right || a.bottom < b.top || a.top > b.bottom);
        });
    }
    function declutter() {
        var symbols = Array.prototype.map.call(
            box.querySelectorAll(".leaflet-marker-pane .hopt-icon"),
            function (e) { return e.getBoundingClientRect(); })
            .filter(function (r) { return r.width > 0; });
        var placed = [];
        box.querySelectorAll(".leaflet-marker-pane .hopt-label span").forEach(function (span) {
            for (var i = 0; i < offsets.length; i++) {
                span.style.marginLeft = offsets[i][0] + "px";
                span.style.marginTop = offsets[i][1] + "px";
                var r = span.getBoundingClientRect();
                if (!overlaps(r, symbols) && !overlaps(r, placed)) { placed.push(r); return; }
            }
            // nowhere free: keep the label on its district, above the symbols with its halo
            span.style.marginLeft = "0px";
            span.style.marginTop = "0px";
            placed.push(span.getBoundingClientRect());
        });
    }
    map.on("zoomend moveend overlayadd overlayremove", declutter);
    map.whenReady(function () { setTimeout(declutter, 0); });
})();
{% endmacro %}
"""


class FitStudyArea(MacroElement):
    """Fit the study area beside the controls (legends fold when the window is small).

    Add it last (after every legend and the layer control), so their sizes are known.

    Parameters
    ----------
    bounds : list of list of float
        ``[[south, west], [north, east]]``.
    max_share : float
        Largest share of the map width the two control columns may take before legends fold.
    """

    _template = ENV.from_string(FIT_TEMPLATE)

    def __init__(self, bounds: list[list[float]], max_share: float = 0.6) -> None:
        super().__init__()
        self._name = "FitStudyArea"
        self.bounds = [[float(v) for v in corner] for corner in bounds]
        self.max_share = float(max_share)


class DeclutterLabels(MacroElement):
    """Move district labels off station and facility symbols (tries offsets; labels stay on top).

    Parameters
    ----------
    offsets : sequence of (int, int)
        Pixel offsets tried in order (the first is the label's own place).
    """

    _template = ENV.from_string(DECLUTTER_TEMPLATE)

    def __init__(self, offsets: Sequence[tuple[int, int]] = ((0, 0), (0, -26), (0, 26), (-46, 0), (46, 0),
                                                              (0, -44), (0, 44), (-46, -26), (46, -26),
                                                              (-46, 26), (46, 26))) -> None:
        super().__init__()
        self._name = "DeclutterLabels"
        self.offsets = [list(o) for o in offsets]
