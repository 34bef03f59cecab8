"""Categorical (and continuous-colour) map legends for Folium maps.

Folium has no built-in legend.  :class:`Legend` is a branca ``MacroElement`` that adds a
Leaflet control (bottom-left by default) holding a title, one row per category (colour, shape,
size, label) and optional colour-ramp notes.  Labels may be Chinese or bilingual; the HTML is
escaped, has no external resources, prints with its colours, and is deterministic: the same
entries always give byte-identical legend HTML (the element id is derived from the content).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from html import escape

from branca.element import MacroElement

from healthopt.outputs._html import ENV

SHAPES = ("circle", "square", "line", "dashed", "outline", "marker")
POSITIONS = ("bottomleft", "bottomright", "topleft", "topright")
LEGEND_CLASS = "hopt-legend"
FONT_STACK = (
    '"Noto Sans CJK SC","Source Han Sans SC","PingFang SC","Microsoft YaHei",'
    '"WenQuanYi Micro Hei","Helvetica Neue",Arial,sans-serif'
)


@dataclass(frozen=True)
class LegendEntry:
    """One row of a categorical legend.

    Parameters
    ----------
    label : str
        Text shown next to the symbol (e.g. ``"三甲医院 Tertiary hospital"``).
    color : str
        CSS colour of the symbol (fill for filled shapes, stroke otherwise).
    shape : str
        One of ``SHAPES``: ``circle``, ``square``, ``line``, ``dashed``, ``outline``
        (unfilled square, for boundaries) or ``marker`` (pin).
    size : int
        Symbol size in pixels (diameter / side / line length).
    border : str or None
        Stroke colour for filled shapes; ``None`` uses a darker grey.
    opacity : float
        Fill opacity, 0–1.
    size_key : bool
        The row explains symbol *size* (e.g. "8 vehicles"), in a neutral colour: it matches
        the drawn symbols by size, not by colour.
    """

    label: str
    color: str
    shape: str = "square"
    size: int = 12
    border: str | None = None
    opacity: float = 1.0
    size_key: bool = False

    def __post_init__(self) -> None:
        if self.shape not in SHAPES:
            raise ValueError(f"legend shape {self.shape!r} is not one of {SHAPES}")
        if not 2 <= self.size <= 64:
            raise ValueError(f"legend symbol size {self.size} must be within 2..64 px")
        if not 0.0 <= self.opacity <= 1.0:
            raise ValueError(f"legend opacity {self.opacity} must be within 0..1")


@dataclass(frozen=True)
class ColorRamp:
    """A continuous-colour note: a gradient bar with end labels.

    Parameters
    ----------
    colors : sequence of str
        Colours from low to high (at least two).
    low, high : str
        End labels (e.g. ``"0"`` and ``"≥ 60 分钟"``).
    caption : str
        Text above the bar (e.g. ``"出行时间 Travel time (min)"``).
    """

    colors: Sequence[str]
    low: str
    high: str
    caption: str = ""

    def __post_init__(self) -> None:
        if len(self.colors) < 2:
            raise ValueError("a colour ramp needs at least two colours")


@dataclass(frozen=True)
class LegendSpec:
    """Everything a legend shows.

    Parameters
    ----------
    title : str
        Heading (may be bilingual, e.g. ``"图例 Legend"``).
    entries : sequence of LegendEntry
    ramps : sequence of ColorRamp
    note : str
        Small print under the entries (source, date, …).
    scale : bool
        The entries are a classification scale (a choropleth's classes): every drawn colour
        is one of them, but a class may have no feature in this run.
    """

    title: str
    entries: Sequence[LegendEntry] = field(default_factory=tuple)
    ramps: Sequence[ColorRamp] = field(default_factory=tuple)
    note: str = ""
    scale: bool = False


def _symbol_style(e: LegendEntry) -> str:
    """Return the inline CSS of an entry's symbol box."""
    border = e.border or "#555"
    s = e.size
    base = f"display:inline-block;vertical-align:middle;width:{s}px;height:{s}px;"
    if e.shape == "circle":
        return base + f"background:{e.color};opacity:{e.opacity};border:1px solid {border};" \
            "border-radius:50%;box-sizing:border-box;"
    if e.shape == "square":
        return base + f"background:{e.color};opacity:{e.opacity};border:1px solid {border};" \
            "box-sizing:border-box;"
    if e.shape == "outline":
        return base + f"border:2px solid {e.color};box-sizing:border-box;background:transparent;"
    if e.shape == "marker":
        return base + f"background:{e.color};border:1px solid {border};box-sizing:border-box;" \
            "border-radius:50% 50% 50% 0;transform:rotate(-45deg);"
    style = "dashed" if e.shape == "dashed" else "solid"
    return (f"display:inline-block;vertical-align:middle;width:{max(s, 18)}px;height:0;"
            f"border-top:3px {style} {e.color};")


def _entry_html(e: LegendEntry) -> str:
    """Return one legend row."""
    return (
        f'<div class="{LEGEND_CLASS}-row">'
        f'<span class="{LEGEND_CLASS}-sym" style="{escape(_symbol_style(e))}"></span>'
        f'<span class="{LEGEND_CLASS}-label">{escape(e.label)}</span></div>'
    )


def _ramp_html(r: ColorRamp) -> str:
    """Return a colour-ramp block (caption, gradient bar, end labels)."""
    gradient = f"linear-gradient(to right,{','.join(r.colors)})"
    caption = f'<div class="{LEGEND_CLASS}-caption">{escape(r.caption)}</div>' if r.caption else ""
    return (
        f'<div class="{LEGEND_CLASS}-ramp">{caption}'
        f'<div class="{LEGEND_CLASS}-bar" style="{escape("background:" + gradient + ";")}"></div>'
        f'<div class="{LEGEND_CLASS}-ends"><span>{escape(r.low)}</span>'
        f"<span>{escape(r.high)}</span></div></div>"
    )


def legend_css() -> str:
    """Return the legend stylesheet (screen and print).

    Returns
    -------
    str
    """
    c = LEGEND_CLASS
    return (
        f".{c}{{background:rgba(255,255,255,0.94);border:1px solid #999;border-radius:4px;"
        f"padding:6px 9px;font:12px/1.45 {FONT_STACK};color:#222;max-width:260px;"
        "box-shadow:0 1px 4px rgba(0,0,0,0.3);-webkit-print-color-adjust:exact;"
        "print-color-adjust:exact;}\n"
        f".{c}-title{{font-weight:bold;font-size:13px;margin-bottom:4px;cursor:pointer;}}\n"
        f".{c}-box:not([open]) .{c}-title{{margin-bottom:0;}}\n"
        f".{c}-row{{white-space:nowrap;margin:2px 0;}}\n"
        f".{c}-sym{{margin-right:6px;}}\n"
        f".{c}-label{{vertical-align:middle;white-space:normal;}}\n"
        f".{c}-ramp{{margin-top:6px;}}\n"
        f".{c}-bar{{height:10px;width:180px;border:1px solid #777;}}\n"
        f".{c}-ends{{display:flex;justify-content:space-between;width:182px;font-size:11px;}}\n"
        f".{c}-note{{margin-top:4px;font-size:10px;color:#555;white-space:normal;}}\n"
        f"@media print{{.{c}{{box-shadow:none;border-color:#000;}}}}\n"
    )


def legend_html(spec: LegendSpec) -> str:
    """Return the legend's inner HTML (deterministic, escaped, no external resources).

    Parameters
    ----------
    spec : LegendSpec

    Returns
    -------
    str
    """
    parts = [_entry_html(e) for e in spec.entries]
    parts += [_ramp_html(r) for r in spec.ramps]
    if spec.note:
        parts.append(f'<div class="{LEGEND_CLASS}-note">{escape(spec.note)}</div>')
    if not spec.title:
        return "".join(parts)
    # <details>: the title folds the legend away (a click, no script), so a legend never has
    # to cover the map; the page may also fold it when the window is small.
    return (f'<details class="{LEGEND_CLASS}-box" open><summary class="{LEGEND_CLASS}-title">'
            f'{escape(spec.title)}</summary>{"".join(parts)}</details>')


_TEMPLATE = ENV.from_string("""
{% macro header(this, kwargs) %}
<style>{{ this.css }}</style>
{% endmacro %}
{% macro script(this, kwargs) %}
(function() {
    var legend = L.control({position: {{ this.position|js }}});
    legend.onAdd = function () {
        var div = L.DomUtil.create("div", {{ this.css_class|js }});
        div.setAttribute("role", "region");
        div.setAttribute("aria-label", {{ this.title|js }});
        div.innerHTML = {{ this.html|js }};
        L.DomEvent.disableClickPropagation(div);
        L.DomEvent.disableScrollPropagation(div);
        return div;
    };
    legend.addTo({{ this._parent.get_name() }});
})();
{% endmacro %}
""")


class Legend(MacroElement):
    """A legend control to add to a ``folium.Map``.

    Parameters
    ----------
    spec : LegendSpec
        What to show.
    position : str
        Leaflet corner: ``bottomleft`` (default), ``bottomright``, ``topleft``, ``topright``.

    Examples
    --------
    >>> spec = LegendSpec("图例 Legend", [LegendEntry("医院 Hospital", "#d62728", "circle")])
    >>> Legend(spec).add_to(m)  # doctest: +SKIP
    """

    _template = _TEMPLATE

    def __init__(self, spec: LegendSpec, position: str = "bottomleft") -> None:
        super().__init__()
        if position not in POSITIONS:
            raise ValueError(f"legend position {position!r} is not one of {POSITIONS}")
        self._name = "Legend"
        self.spec = spec
        self.html = legend_html(spec)
        self.css = legend_css()
        digest = hashlib.sha1(f"{position}|{self.html}".encode()).hexdigest()[:16]
        self._id = f"{digest}"
        self.position = position
        self.css_class = f"{LEGEND_CLASS} leaflet-control"
        self.title = spec.title or "legend"


def add_legend(
    m: MacroElement,
    title: str,
    entries: Sequence[LegendEntry] = (),
    *,
    ramps: Sequence[ColorRamp] = (),
    note: str = "",
    position: str = "bottomleft",
) -> Legend:
    """Add a legend to a map and return it.

    Parameters
    ----------
    m : folium.Map
    title : str
    entries : sequence of LegendEntry
    ramps : sequence of ColorRamp
        Continuous-colour notes shown under the entries.
    note : str
        Small print at the bottom.
    position : str
        Leaflet corner (default bottom-left).

    Returns
    -------
    Legend
    """
    legend = Legend(LegendSpec(title, tuple(entries), tuple(ramps), note), position=position)
    legend.add_to(m)
    return legend
