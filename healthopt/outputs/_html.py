"""HTML/JavaScript escaping and safe, deterministic rendering of folium/branca pages.

Why this module exists
----------------------
branca renders a page in two passes.  A ``MacroElement`` first renders its macros (user text
enters as template *variables*, which is safe), but then wraps the *output* in
``branca.element.Element(text)``, whose constructor compiles ``text`` as a new Jinja2
template that is rendered again when the page is assembled.  folium's ``Popup``,
``GeoJsonTooltip`` and class includes do the same.  So any text that reaches a folium page
(a station name in a tooltip, a district name in GeoJSON, a scenario description in the
title) was evaluated as Jinja2 source: ``{{7*7}}`` became ``49`` and
``{{ lipsum.__globals__... }}`` ran code; ``{% endfor %}`` crashed the run.
``html.escape`` does not help (it leaves ``{`` and ``}`` alone) and escaping braces per
context would have to be right in every field forever.

The fix is at the template layer: :func:`literal_output` makes ``Element(text)`` keep
``text`` verbatim while a page renders (its "template" is the already rendered output, so it
is never parsed), and :class:`LiteralFigure` renders every page under it, so a map is safe
however it is rendered (:func:`healthopt.outputs.maps.render_html`, ``m.save()``, a notebook's
``_repr_html_``).  Templates themselves are only ever written in the source code, and user
text only enters them as variables through :func:`js_string` / :func:`esc`.

The second patch, :func:`deterministic_ids`, replaces branca's random element ids with a
counter (same input, same bytes).  Both patches swap a class/module attribute for the length
of a ``with`` block under one re-entrant lock and restore it on exit; folium code rendering in
another thread at that moment would see the same behaviour (harmless: rendered output needs no
second pass).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import threading
from collections.abc import Iterator
from html import escape
from typing import Any

import branca.element
import jinja2
from branca.element import Element, Figure

#: One lock for both patches, so two renders in different threads never interleave them.
_LOCK = threading.RLock()


def esc(value: Any) -> str:
    """Escape text for HTML that folium may put inside a JavaScript template literal.

    Parameters
    ----------
    value : object

    Returns
    -------
    str
        ``html.escape`` plus the three characters a template literal treats specially
        (backtick, ``$`` and backslash), as character references.
    """
    return (escape(str(value)).replace("\\", "&#92;").replace("`", "&#96;")
            .replace("$", "&#36;"))


def js_string(text: str) -> str:
    """Return ``text`` as a JavaScript string literal that is safe inside ``<script>``.

    Parameters
    ----------
    text : str

    Returns
    -------
    str
        A double-quoted literal; ``</`` and ``<!--`` cannot end or confuse the script
        element, and U+2028/U+2029 are escaped (older engines end a string there).
    """
    return (json.dumps(str(text), ensure_ascii=False).replace("</", "<\\/")
            .replace("<!--", "\\u003c!--").replace("\u2028", "\\u2028")
            .replace("\u2029", "\\u2029"))


def _make_env() -> jinja2.Environment:
    env = jinja2.Environment(autoescape=False, undefined=jinja2.StrictUndefined)
    env.filters["js"] = js_string
    return env


#: The environment of every page-element template of the outputs (legend, base map, map
#: elements).  Not HTML-autoescaping: the templates are scripts, and every string variable
#: in them goes through the ``js`` filter (:func:`js_string`).
ENV = _make_env()


class LiteralText:
    """Stands in for ``jinja2.Template`` in ``branca.element`` while a page renders.

    The "source" is the already rendered output of an element, so it is returned as it is
    (without one trailing newline, exactly as Jinja2 would render plain text).

    Parameters
    ----------
    source : str
    """

    def __init__(self, source: str, *_args: Any, **_kwargs: Any) -> None:
        self._text = source[:-1] if source.endswith("\n") else source

    def render(self, *_args: Any, **_kwargs: Any) -> str:
        """Return the text unchanged."""
        return self._text


@contextlib.contextmanager
def literal_output() -> Iterator[None]:
    """Make ``branca.element.Element(text)`` keep ``text`` verbatim while the block runs.

    Yields
    ------
    None

    Notes
    -----
    During a render branca builds ``Element(text)`` only to hold output it has just
    rendered; nothing in folium or branca needs that text parsed again.  Templates compiled
    at import (every class-level ``_template``) are untouched.
    """
    with _LOCK:
        original = branca.element.Template
        branca.element.Template = LiteralText  # type: ignore[misc,assignment]
        try:
            yield
        finally:
            branca.element.Template = original  # type: ignore[misc]


class LiteralFigure(Figure):
    """A ``branca`` Figure that renders under :func:`literal_output` (see the module notes)."""

    def render(self, **kwargs: Any) -> str:
        """Render the page; element output is never evaluated as a template."""
        with literal_output():
            return str(super().render(**kwargs))


def adopt(root: Any) -> Any:
    """Put a folium map into a :class:`LiteralFigure` (its own figure is discarded).

    Parameters
    ----------
    root : folium.Map
        As created (folium gives every map a plain ``Figure``).

    Returns
    -------
    folium.Map
        The same map.
    """
    LiteralFigure().add_child(root)
    return root


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
    with _LOCK:
        original = Element.__dict__["_generate_id"]
        Element._generate_id = classmethod(lambda cls: f"{prefix}{next(counter):05d}")  # type: ignore[method-assign,assignment]
        try:
            yield
        finally:
            Element._generate_id = original  # type: ignore[method-assign]
