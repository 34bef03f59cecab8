"""The title box: scenario name and year, description, the simulated headline, solver status and short notes.

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


def headline_line(summary: RunSummary) -> str | None:
    """Return the map's lead line: simulated share of calls reached in time and the p90 response.

    ``None`` if the run has no call simulation (``summary["ambulances"]["simulated"]``).
    """
    section = summary.get("ambulances")  # the ambulance plan's own section
    sim = section.get("simulated") if isinstance(section, dict) else None
    if not isinstance(sim, dict) or sim.get("reached_share") is None:
        return None
    ci = sim.get("reached_share_ci") or [None, None]
    ci_text = (f" (95 % CI {100 * ci[0]:.1f}–{100 * ci[1]:.1f} %)" if all(v is not None for v in ci) else "")
    r = summary.get("response_minutes") or {}
    std = " / ".join(f"{r[k]:g} min {k}" for k in sorted(r, key=lambda k: (k != "urban", k))
                     if not is_missing(r[k]))  # urban first (JSON sorts the keys)
    p90 = sim.get("p90_min")
    p90_text = "beyond the travel-time matrix" if p90 is None else f"{p90:.1f} min"
    free = section.get("simulated_free_flow") if isinstance(section, dict) else None
    free_text = (f"; at free flow {100 * free['reached_share']:.1f} %"
                 if isinstance(free, dict) and free.get("reached_share") is not None else "")
    return (f"呼叫及时到达 {100 * sim['reached_share']:.1f} %{ci_text} of calls reached within {std} "
            f"(simulated, ⚠ {sim.get('quality', 'estimate')} call rates); 90 % reached in {p90_text}{free_text}")


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
    if (lead := headline_line(summary)) is not None:
        parts.append(f'<div class="hopt-headline"><b>{esc(lead)}</b></div>')
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
