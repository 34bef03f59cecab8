"""Text formatting for the map: numbers, labels, class lookups and small tooltip tables.

Everything returned here that holds data is already escaped with :func:`esc` (from
:mod:`healthopt.outputs._html`), so layer modules can put it into HTML as it is.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import pandas as pd

from healthopt.outputs._html import esc
from healthopt.outputs.maps.names import PROXY_LABEL

__all__ = ["classify", "classify_upto", "district_label", "esc", "fmt_gap", "fmt_int",
           "fmt_num", "fmt_pct", "fmt_signed", "is_missing", "quality_text", "tip_table"]


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


def classify(value: Any, classes: Sequence[tuple]) -> tuple:
    """Return the first class whose upper bound ``value`` does not exceed (``()`` if missing)."""
    if is_missing(value):
        return ()
    for cls in classes:
        if float(value) < cls[0] or (cls[0] == math.inf):
            return cls
    return classes[-1]


def classify_upto(value: Any, classes: Sequence[tuple]) -> tuple:
    """Like :func:`classify` but with inclusive upper bounds (for integer gaps)."""
    if is_missing(value):
        return ()
    return next((c for c in classes if float(value) <= c[0]), classes[-1])


def tip_table(rows: Sequence[tuple[str, str]], title: str = "") -> str:
    """Return a small HTML table (already-escaped cells) for popups and tooltips."""
    head = f'<div class="hopt-tip-title">{title}</div>' if title else ""
    body = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows)
    return f'{head}<table class="hopt-tip">{body}</table>'


def quality_text(quality: Any) -> str:
    """Return a plain-language location quality, flagging proxies."""
    names = {"user": "given by the user", "network_node": "road-network node",
             "district_seat": "district seat", "proxy": "⚠ " + PROXY_LABEL}
    return names.get(str(quality), str(quality))
