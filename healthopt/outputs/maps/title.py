"""The title box: scenario name and year, description, solver status and short notes.

A plan that is not proven optimal is flagged prominently.
"""

from __future__ import annotations

from collections.abc import Sequence

import folium

from healthopt.outputs.maps._format import esc, fmt_gap, is_missing
from healthopt.outputs.maps.elements import TitleBox
from healthopt.outputs.maps.names import ESTIMATE_NOTE
from healthopt.outputs.summary import RunSummary


def status_line(summary: RunSummary) -> tuple[bool, str]:
    """Return ``(proven_optimal, text)`` for the solver status of a run.

    Parameters
    ----------
    summary : RunSummary

    Returns
    -------
    tuple of (bool, str)
    """
    status = str(summary.get("status", "unknown"))
    optimal = bool(summary.get("optimal", status == "optimal"))
    gap = summary.get("gap")
    gap_text = ("" if gap is None or is_missing(gap) or optimal
                else f" (optimality gap ≤ {fmt_gap(float(gap))})")
    relaxed = summary.get("relaxed_norms") or []
    if relaxed:
        return False, (f"⚠ 规范未满足 Norms relaxed: the budgets cannot meet {len(relaxed)} norm"
                       f"{'s' if len(relaxed) > 1 else ''}; best plan under relaxed norms{gap_text}")
    if status.startswith("evaluated as given"):  # plans.ambulances.mode evaluate: nothing was optimised
        return True, "✓ 现有布局评估 Given layout evaluated (not optimised)"
    if optimal:
        return True, "✓ 最优 Optimal plan (proven)"
    if "not proven optimal" in status.lower():
        return False, f"⚠ 未证明最优 {status}{gap_text}"
    return False, f"⚠ 未证明最优 Not proven optimal — {status}{gap_text}"


def title_html(summary: RunSummary, extra: Sequence[str] = ()) -> str:
    """Return the (escaped) HTML of the map title box.

    Parameters
    ----------
    summary : RunSummary
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
    TitleBox(html, zoom=zoom).add_to(m)
