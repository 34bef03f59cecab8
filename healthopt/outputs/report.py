"""The one-page HTML briefing of a run (Jinja2 template ``templates/report.html.j2``).

The lead: the share of emergency calls reached within the response standard and the
90th-percentile response time, simulated on the plan (city-wide with its 95 % interval and
per district; :mod:`healthopt.plans.ambulance_simulation`); then headline indicators against
the norms (✓/✗ cards), what changed from the baseline, a by-district table, residents
within reach of some station (travel time only) against those outside every catchment,
data-quality notes, the solver status, sources and the
scenario map embedded with ``<iframe srcdoc=…>`` — one self-contained file that works offline.
Layers missing from a run (a plan that was disabled) are skipped and named in the notes.

Size: one function per report section turns summary.json into the template's rows; the
sections share the formatting helpers and the headline, so they stay together.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import jinja2
import pandas as pd

from healthopt.outputs.maps import (
    district_label,
    fmt_int,
    fmt_num,
    fmt_pct,
    fmt_signed,
    is_missing,
    missing_layers,
    status_line,
)
from healthopt.outputs.offline import find_external_refs, inline_html
from healthopt.outputs.report_green import green_channel_section
from healthopt.outputs.summary import Kpis, RunSummary

TEMPLATE_DIR = Path(__file__).parent / "templates"
TEMPLATE_NAME = "report.html.j2"


def _env() -> jinja2.Environment:
    """Return the template environment (autoescaping on, strict undefined)."""
    return jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATE_DIR)),
                              autoescape=True, undefined=jinja2.StrictUndefined,
                              keep_trailing_newline=True)


def _get(d: Mapping[str, object] | None, key: str) -> Any:
    """Return ``d[key]`` or None (missing dict, key or NaN)."""
    v = (d or {}).get(key)
    return None if is_missing(v) else v


# --- KPI cards ----------------------------------------------------------------------------

def _card(label: str, value: str, norm: str, ok: bool | None) -> dict[str, str]:
    """Return one KPI card (``ok=None``: no verdict, data missing)."""
    state = "na" if ok is None else ("ok" if ok else "bad")
    mark = {"na": "—", "ok": "✓", "bad": "✗"}[state]
    return {"label": label, "value": value, "norm": norm, "state": state, "mark": mark}


def _fleet_card(k: Kpis) -> dict[str, str]:
    """Fleet planned vs norm."""
    planned, norm = _get(k, "fleet_planned"), _get(k, "fleet_norm")
    if planned is None or norm is None:
        return _card("救护车 Ambulances planned / norm", "n/a", "ambulance plan not in this run",
                     None)
    short = f"{fmt_int(norm - planned)} short of the norm" if planned < norm else "meets the norm"
    return _card("救护车 Ambulances planned / norm", f"{fmt_int(planned)} / {fmt_int(norm)}",
                 short, planned >= norm)


def _np_card(k: Kpis) -> dict[str, str]:
    """Negative-pressure share vs the required share."""
    share, req = _get(k, "np_share"), _get(k, "np_required_share")
    if share is None:
        return _card("负压救护车 Negative-pressure share", "n/a", "not in this run", None)
    req = 0.40 if req is None else req
    count = f"{fmt_int(_get(k, 'np_planned'))} vehicles; " if _get(k, "np_planned") else ""
    return _card("负压救护车 Negative-pressure share", fmt_pct(share),
                 f"{count}norm ≥ {fmt_pct(req)}", share >= req - 1e-9)


#: Label of the headline card: the simulated share of calls reached within the standard.
CALLS_CARD = "呼叫及时到达 Calls reached in time (simulated)"


def simulated(summary: RunSummary, key: str = "simulated") -> dict[str, Any] | None:
    """Return ``summary["ambulances"][key]`` (the call simulation), or None if the run has none."""
    section = summary.get("ambulances")  # a plan's own section
    value = section.get(key) if isinstance(section, dict) else None
    return value if isinstance(value, dict) and value.get("reached_share") is not None else None


def share_ci_text(sim: Mapping[str, Any], digits: int = 1) -> str:
    """``"93.4 % (95 % CI 92.8–94.0 %)"`` of a simulated share (the interval when it has one)."""
    text = fmt_pct(sim["reached_share"], digits)
    ci = sim.get("reached_share_ci") or [None, None]
    if all(v is not None for v in ci):
        text += f" (95 % CI {100 * ci[0]:.{digits}f}–{100 * ci[1]:.{digits}f} %)"
    return text


def p90_text(sim: Mapping[str, Any]) -> str:
    """90th-percentile response time in words (``None`` = beyond the travel-time matrix)."""
    p90 = sim.get("p90_min")
    return "beyond the travel-time matrix" if p90 is None else f"{fmt_num(p90, 1)} min"


def _calls_card(summary: RunSummary, response: str) -> dict[str, str]:
    """Return the headline card: share of calls reached within the standard (simulated)."""
    sim = simulated(summary)
    if sim is None:
        return _card(CALLS_CARD, "n/a", "no call simulation in this run", None)
    return _card(CALLS_CARD, fmt_pct(sim["reached_share"], 1),
                 f"within {response}; 90 % of calls reached in {p90_text(sim)}; "
                 f"⚠ {sim.get('quality', 'estimate')} call rates", None)


def headline(summary: RunSummary, districts: pd.DataFrame | None = None) -> dict[str, Any] | None:
    """Return the report's lead: simulated calls reached in time, city-wide and per district.

    Parameters
    ----------
    summary : RunSummary
    districts : DataFrame, optional
        The districts layer, for the district names.

    Returns
    -------
    dict or None
        ``text`` (the city-wide sentence), ``rows`` (per district: name, calls, share with
        CI, p90, median, mean, queued), ``free_flow`` (sentence or ""), ``secondary``
        (within reach of a station; residents per ambulance against the norm); ``None``
        if the run has no simulation.
    """
    sim = simulated(summary)
    if sim is None:
        return None
    response = response_text(summary)
    text = (f"{share_ci_text(sim)} of emergency calls reached within {response} (simulated: "
            f"{fmt_int(sim['calls'])} calls in one year, call to arrival); 90 % of calls reached in "
            f"{p90_text(sim)}; {fmt_int(sim['queued'])} calls waited for a free ambulance.")
    names = {} if districts is None else {str(r.code): district_label(r) for r in districts.itertuples()}
    rows = [{"name": names.get(str(d["code"]), str(d["code"])), "calls": fmt_int(d.get("calls")),
             "share": share_ci_text({"reached_share": d.get("reached_share"),
                                     "reached_share_ci": [d.get("reached_ci_low"), d.get("reached_ci_high")]})
             if d.get("reached_share") is not None else "—",
             "p90": p90_text(d), "median": fmt_num(d.get("median_min"), 1),
             "mean": fmt_num(d.get("mean_min"), 1), "queued": fmt_int(d.get("queued"))}
            for d in sim.get("by_district", []) if d.get("calls")]
    free = simulated(summary, "simulated_free_flow")
    free_text = ""
    if free is not None:
        free_text = (f"Same stations and calls at free flow: {share_ci_text(free)} reached in time, 90 % in "
                     f"{p90_text(free)} (this scenario's travel times are × {fmt_num(sim.get('congestion'), 2)}).")
    k = summary.get("kpis", {}) or {}
    total, outside = _get(k, "pop_total"), _get(k, "pop_outside")
    secondary = []
    if total and outside is not None:
        secondary.append(f"Within reach of some open station ({reach_text(summary)}, busy vehicles "
                         f"ignored): {fmt_pct((total - outside) / total, 1)} of residents; "
                         f"{fmt_int(outside)} outside every catchment.")
    planned, norm = _get(k, "fleet_planned"), _get(k, "fleet_norm")
    if planned is not None and norm is not None and total:
        secondary.append(f"Residents per ambulance: {fmt_int(total / planned) if planned else '—'} "
                         f"(fleet {fmt_int(planned)} against the fleet-size norm of {fmt_int(norm)}).")
    return {"text": text, "rows": rows, "free_flow": free_text, "secondary": secondary,
            "quality": (f"⚠ Simulated with {sim.get('quality', 'estimate')} inputs: call rates "
                        f"{_rates(sim)} per 1,000 residents a year, "
                        f"{fmt_num(sim.get('inputs', {}).get('service_minutes'), 0)} min per call; "
                        f"{sim.get('inputs', {}).get('replications')} replications, seed "
                        f"{sim.get('inputs', {}).get('seed')}.")}


def _rates(sim: Mapping[str, Any]) -> str:
    rates = (sim.get("inputs") or {}).get("calls_per_1000") or {}
    return " / ".join(f"{fmt_num(v, 0)} {k}" for k, v in rates.items())


def _centre_card(k: Kpis) -> dict[str, str]:
    """Community health centres (and township centres) planned vs required."""
    chc_p, chc_r = _get(k, "chc_planned"), _get(k, "chc_required")
    thc_p, thc_r = _get(k, "thc_planned"), _get(k, "thc_required")
    if chc_p is None or chc_r is None:
        return _card("社区卫生服务中心 CHCs planned / required", "n/a",
                     "health-centre plan not in this run", None)
    ok = chc_p >= chc_r and (thc_p is None or thc_r is None or thc_p >= thc_r)
    thc = f"township centres {fmt_int(thc_p)} / {fmt_int(thc_r)}" if thc_p is not None else ""
    return _card("社区卫生服务中心 CHCs planned / required", f"{fmt_int(chc_p)} / {fmt_int(chc_r)}",
                 thc, ok)


def _bed_card(k: Kpis) -> dict[str, str]:
    """Beds per 1,000 residents (the one city-wide figure) vs the city-wide target (001 §二(三))."""
    planned = _get(k, "beds_planned_per_1000")
    target = _get(k, "citywide_target_per_1000") or _get(k, "beds_target_per_1000")
    if planned is None or target is None:
        return _card("每千人床位 Beds per 1,000", "n/a", "beds plan not in this run", None)
    guidelines = _get(k, "beds_target_per_1000")
    extra = f"; district guidelines sum to {fmt_num(guidelines)}" if guidelines is not None else ""
    return _card("每千人床位 Beds per 1,000", fmt_num(planned), f"city-wide target {fmt_num(target)}{extra}",
                 planned >= target - 1e-9)


def kpi_cards(summary: RunSummary) -> list[dict[str, str]]:
    """Return the five headline cards (value, norm, ✓/✗).

    Parameters
    ----------
    summary : RunSummary

    Returns
    -------
    list of dict
        Keys ``label``, ``value``, ``norm``, ``state`` (ok/bad/na), ``mark``.
    """
    k = summary.get("kpis", {}) or {}
    return [_fleet_card(k), _np_card(k), _calls_card(summary, response_text(summary)),
            _centre_card(k), _bed_card(k)]


def response_text(summary: RunSummary) -> str:
    """Return e.g. ``"12 min urban / 20 min county"``."""
    r = summary.get("response_minutes") or {}
    order = sorted(r, key=lambda k: (k != "urban", k))  # urban first, as the norms state it (JSON sorts keys)
    parts = [f"{fmt_num(r[k], 0)} min {k}" for k in order if not is_missing(r[k])]
    return " / ".join(parts) or "the response standard"


def reach_text(summary: RunSummary) -> str:
    """Return what "within reach" counts, e.g. ``"travel ≤ 10 min urban / 18 min county: ..."``.

    The ambulance model covers a point when travel leaves the mean dispatch delay inside the
    standard (``kpis.reach_delay_minutes``), as a simulated call's response is delay + travel.
    """
    raw = (summary.get("kpis", {}) or {}).get("reach_delay_minutes")
    if is_missing(raw) or not raw:
        return f"{response_text(summary)}, travel time only"
    delay = float(raw)  # type: ignore[arg-type]
    r = summary.get("response_minutes") or {}
    order = sorted(r, key=lambda k: (k != "urban", k))
    parts = [f"{fmt_num(float(r[k]) - delay, 0)} min {k}" for k in order if not is_missing(r[k])]
    return (f"travel ≤ {' / '.join(parts)}: the standard {response_text(summary)} less the "
            f"{fmt_num(delay, 0)}-min mean dispatch delay")


# --- baseline comparison ------------------------------------------------------------------

def _change_row(label: str, base: Any, planned: Any, fmt: Callable[[Any], str],
                diff: Callable[[Any], str] = fmt_signed) -> dict[str, str] | None:
    """Return one baseline → planned row (None if the planned value is unknown)."""
    if planned is None:
        return None
    change = "—" if base is None else diff(planned - base)
    return {"label": label, "baseline": fmt(base), "planned": fmt(planned), "change": change}


def change_rows(results: dict[str, gpd.GeoDataFrame],
                summary: RunSummary) -> list[dict[str, str]]:
    """Return the "what changed from the baseline" rows.

    Parameters
    ----------
    results : dict of str to GeoDataFrame
    summary : RunSummary

    Returns
    -------
    list of dict
    """
    k, b = summary.get("kpis", {}) or {}, summary.get("baseline", {}) or {}
    stations = results.get("stations")
    n_stations = len(stations) if stations is not None else _get(k, "stations_planned")
    beds = results.get("beds")
    pct_diff = lambda v: f"{'+' if v >= 0 else '−'}{abs(100 * v):.1f} pts"  # noqa: E731
    rows = [
        _change_row("救护车 Ambulances", _get(k, "fleet_baseline") or _get(b, "fleet_planned"),
                    _get(k, "fleet_planned"), fmt_int),
        _change_row("负压救护车 Negative-pressure ambulances", _get(b, "np_planned"),
                    _get(k, "np_planned"), fmt_int),
        _change_row("负压占比 Negative-pressure share", _get(b, "np_share"), _get(k, "np_share"),
                    fmt_pct, pct_diff),
        _change_row("急救站 Ambulance stations", _get(b, "stations"), n_stations, fmt_int),
        _change_row("社区卫生服务中心 CHCs", _get(b, "chc_planned"), _get(k, "chc_planned"),
                    fmt_int),
        _change_row("每千人床位 Beds per 1,000", _get(b, "beds_planned_per_1000"),
                    _get(k, "beds_planned_per_1000"), fmt_num,
                    lambda v: ("+" if v >= 0 else "−") + fmt_num(abs(v))),
    ]
    if beds is not None and {"beds_2022", "beds_2025"} <= set(beds.columns):
        rows.append(_change_row(f"医院床位 Hospital beds ({len(beds)} hospitals in the plan)",
                                float(beds.beds_2022.sum()), float(beds.beds_2025.sum()), fmt_int))
    return [r for r in rows if r is not None]


# --- district tables ----------------------------------------------------------------------

@dataclass(frozen=True)
class _Col:
    """A by-district table column: header, needed columns, cell text, cell class, total."""

    head: str
    needs: tuple[str, ...]
    text: Callable[[Any], str]
    cls: Callable[[Any], str] = lambda _r: ""
    total: Callable[[pd.DataFrame], str] = lambda _d: ""


def _ratio(a: str, b: str) -> Callable[[Any], str]:
    """Return a cell function ``"a / b"``."""
    return lambda r: f"{fmt_int(getattr(r, a))} / {fmt_int(getattr(r, b))}"


def _ratio_total(a: str, b: str) -> Callable[[pd.DataFrame], str]:
    """Return a total function ``"sum(a) / sum(b)"``."""
    return lambda d: f"{fmt_int(d[a].sum())} / {fmt_int(d[b].sum())}"


def _shortfall_cls(a: str, b: str) -> Callable[[Any], str]:
    """Return a class function: ``bad`` if ``a < b``."""
    return lambda r: "bad" if float(getattr(r, a)) < float(getattr(r, b)) else "ok"


def _residents(r: Any) -> str:
    """Residents with ⚠ if estimated."""
    est = getattr(r, "population_quality", "") in {"estimate", "proxy"}
    return fmt_int(r.residents) + (" ⚠" if est else "")


def _calls_total(d: pd.DataFrame) -> str:
    """Share of all districts' simulated calls reached in time (= the city-wide headline)."""
    calls = d.sim_calls.fillna(0).to_numpy(float)
    reached = (d.sim_reached_share.fillna(0).to_numpy(float) * calls).sum()
    return fmt_pct(reached / calls.sum(), 1) if calls.sum() else "—"


def _bed_total(d: pd.DataFrame) -> str:
    """Beds per 1,000 of all districts together."""
    if not {"beds_planned", "residents"} <= set(d.columns) or not d.residents.sum():
        return ""
    return fmt_num(d.beds_planned.sum() / d.residents.sum() * 1000)


DISTRICT_COLUMNS: tuple[_Col, ...] = (
    _Col("常住人口 Residents", ("residents",), _residents,
         total=lambda d: fmt_int(d.residents.sum())),
    _Col("救护车 规划/标准 Fleet planned / norm", ("amb_planned", "amb_norm"),
         _ratio("amb_planned", "amb_norm"), _shortfall_cls("amb_planned", "amb_norm"),
         _ratio_total("amb_planned", "amb_norm")),
    _Col("缺口 Gap", ("amb_gap",), lambda r: fmt_signed(r.amb_gap),
         lambda r: "bad" if r.amb_gap < 0 else "", lambda d: fmt_signed(d.amb_gap.sum())),
    _Col("负压 NP", ("amb_np_planned",), lambda r: fmt_int(r.amb_np_planned),
         total=lambda d: fmt_int(d.amb_np_planned.sum())),
    _Col("呼叫及时率 Calls reached in time (sim.)", ("sim_reached_share", "sim_calls"),
         lambda r: fmt_pct(r.sim_reached_share, 1), total=_calls_total),
    _Col("P90 响应 p90 response (sim., min)", ("sim_p90_min",), lambda r: fmt_num(r.sim_p90_min, 1)),
    _Col("社区中心 CHC planned / req.", ("chc_planned", "chc_required"),
         _ratio("chc_planned", "chc_required"), _shortfall_cls("chc_planned", "chc_required"),
         _ratio_total("chc_planned", "chc_required")),
    _Col("乡镇卫生院 THC planned / req.", ("thc_planned", "thc_required"),
         _ratio("thc_planned", "thc_required"), _shortfall_cls("thc_planned", "thc_required"),
         _ratio_total("thc_planned", "thc_required")),
    _Col("床位/千人 Beds /1,000 planned", ("beds_per_1000_planned", "beds_per_1000_target"),
         lambda r: fmt_num(r.beds_per_1000_planned),
         _shortfall_cls("beds_per_1000_planned", "beds_per_1000_target"), _bed_total),
    _Col("目标 Target", ("beds_per_1000_target",), lambda r: fmt_num(r.beds_per_1000_target)),
    _Col("床位缺口 Bed shortfall", ("bed_shortfall",), lambda r: fmt_int(r.bed_shortfall),
         lambda r: "bad" if r.bed_shortfall > 0 else "", lambda d: fmt_int(d.bed_shortfall.sum())),
)


def district_table(districts: gpd.GeoDataFrame,
                   summary: RunSummary | None = None) -> tuple[list[str], list[dict[str, Any]]]:
    """Return the by-district table (headers, rows with a total row), skipping absent columns.

    With the bed plan's new beds at municipal hospitals of unknown district (``summary``'s
    ``beds.citywide.municipal_beds_unlocated``), a row of their own comes before the total,
    and the total's beds per 1,000 is the run's one city-wide figure (all planned beds over
    all residents), the number of the headline card, ``summary.json`` and ``summary.csv``.

    Parameters
    ----------
    districts : GeoDataFrame
    summary : RunSummary, optional

    Returns
    -------
    tuple of (list of str, list of dict)
        Rows are ``{"cells": [{"text", "cls"}], "total": bool}``.
    """
    cols = [c for c in DISTRICT_COLUMNS if set(c.needs) <= set(districts.columns)]
    head = ["区县 District", *[c.head for c in cols]]
    rows = []
    for r in districts.itertuples():
        cells = [{"text": district_label(r), "cls": "l"}]
        cells += [{"text": c.text(r), "cls": c.cls(r)} for c in cols]
        rows.append({"cells": cells, "total": False})
    city = (summary.get("beds") or {}).get("citywide") or {} if summary is not None else {}
    unlocated = int(city.get("municipal_beds_unlocated") or 0)
    bed_col = next((i for i, c in enumerate(cols) if c.needs[0] == "beds_per_1000_planned"), None)
    if unlocated and bed_col is not None:
        cells = [{"text": "市属医院(区县未知) Municipal hospitals, district unknown", "cls": "l"}]
        cells += [{"text": f"+{fmt_int(unlocated)} beds" if i == bed_col else "", "cls": ""}
                  for i in range(len(cols))]
        rows.append({"cells": cells, "total": False})
    total = [{"text": "合计 Total", "cls": "l"}] + [{"text": c.total(districts), "cls": ""}
                                                   for c in cols]
    if bed_col is not None and city.get("planned_per_1000") is not None:
        total[bed_col + 1]["text"] = fmt_num(city["planned_per_1000"])
        target_col = next((i for i, c in enumerate(cols) if c.needs == ("beds_per_1000_target",)), None)
        if target_col is not None and city.get("target_per_1000") is not None:
            total[target_col + 1]["text"] = fmt_num(city["target_per_1000"])
    rows.append({"cells": total, "total": True})
    return head, rows


# --- bed categories, efficiency rule and staff --------------------------------------------

def bed_sections(summary: RunSummary) -> dict[str, Any] | None:
    """Return the bed plan's categories, ICU/infectious hospital rows and efficiency verdicts (None: no bed plan).

    Every figure is read from ``summary["beds"]`` (the bed plan's own section), so the report
    shows the numbers of ``summary.json``.
    """
    beds = summary.get("beds")
    if not isinstance(beds, dict):
        return None
    city = beds.get("citywide") or {}
    cats = [{"label": c["label"], "norm": c["norm"], "source": c["source"], "need": fmt_int(c["need"]),
             "planned": fmt_int(c["planned"]), "hospitals": c.get("municipal_hospitals") or "—",
             "gap": fmt_int(c["gap"]), "cls": "bad" if c["gap"] > 0 else "ok"} for c in beds.get("categories") or []]
    hosp = [{"name": h["name"], "kind": h["kind"], "beds": fmt_int(h["beds_2025"]),
             "icu": f"{fmt_int(h['icu_min'])}–{fmt_int(h['icu_max'])}" if h["icu_max"] else "— (not applied)",
             "icu_planned": fmt_int(h["icu_planned"]), "infectious": fmt_int(h["infectious_beds"])}
            for h in beds.get("hospitals") or []]
    eff = beds.get("efficiency") or {}
    stopped = [f"{r['name']}: occupancy {fmt_pct(r['occupancy'], 2)}, average stay {r['avg_stay_days']:g} "
               f"days, {fmt_int(r['beds_forgone'])} annex-2 beds forgone"
               + (" (⚠ city 2022 average, estimate)" if r["quality"] == "estimate" else "")
               for r in eff.get("no_new_beds") or []]
    rule = (f"occupancy ≥ {fmt_pct(eff.get('min_occupancy', 0), 0)} and average stay ≤ "
            f"{eff.get('max_avg_stay_days', 0):g} days (001 §四(一)2), applied to the public general "
            f"hospitals: {', '.join(eff.get('applies_to') or []) or 'none in the table'}")
    return {"reconciliation": city.get("reconciliation", ""), "categories": cats, "hospitals": hosp,
            "rule": rule, "stopped": stopped}


def workforce_section(summary: RunSummary, districts: gpd.GeoDataFrame) -> dict[str, Any] | None:
    """Return the staff norms per district and the ambulance crews by shift (None: no workforce figures)."""
    wf = summary.get("workforce")
    if not isinstance(wf, dict):
        return None
    roles = ("physicians", "nurses", "pharmacists", "public_health", "gps")
    names = {str(r.code): district_label(r) for r in districts.itertuples()} if "code" in districts else {}
    rows = [{"name": names.get(str(d["code"]), str(d["code"])), "residents": fmt_int(d["residents"]),
             "cells": [fmt_int(d[f"{r}_needed"]) for r in roles]} for d in wf.get("districts") or []]
    k = summary.get("kpis", {}) or {}
    total = [fmt_int(_get(k, f"{r}_needed")) for r in roles]
    rates = wf.get("rates") or {}
    crews = wf.get("crews") or {}
    crew_rows = [{"role": role, "per_shift": fmt_int(n), "total": fmt_int((crews.get("total") or {}).get(role))}
                 for role, n in (crews.get("per_shift") or {}).items()]
    now = wf.get("taiyuan_2022_estimate") or {}
    now_row = [fmt_int((now.get("staff") or {}).get(r)) for r in roles] if now.get("residents") else []
    return {"rows": rows, "total": total, "rates": rates, "crews": crew_rows, "now": now_row,
            "now_residents": fmt_int(now.get("residents")),
            "shifts": crews.get("shifts_per_day"), "vehicles": crews.get("vehicles"),
            "nurses_by_rate": fmt_int(wf.get("nurses_by_rate")), "nurses_by_ratio": fmt_int(wf.get("nurses_by_ratio"))}


def _population_row(name: str, covered: float, beyond: float, outside: float, *,
                    total_row: bool = False) -> dict[str, Any]:
    """Return one row: residents within reach of some open station and outside every catchment.

    ``covered + beyond`` is "within reach": the split by the residents-per-ambulance ratio is
    a fleet-size norm, not a service capacity, and is not shown as coverage.
    """
    reach = covered + beyond
    total = reach + outside
    widths = [(c, round(100 * v / total, 1) if total else 0) for c, v in (("c-cov", reach), ("c-out", outside))]
    return {"name": name, "total_pop": fmt_int(total), "within": fmt_int(reach), "outside": fmt_int(outside),
            "share": fmt_pct(reach / total, 1) if total else "—", "bar": widths, "total": total_row}


def population_rows(districts: gpd.GeoDataFrame, summary: RunSummary) -> list[dict[str, Any]]:
    """Return residents within reach of some open station / outside every catchment, per district and in total.

    Parameters
    ----------
    districts : GeoDataFrame
    summary : RunSummary

    Returns
    -------
    list of dict
        Empty if the run has no coverage figures.
    """
    cols = ["pop_covered", "pop_beyond_capacity", "pop_outside"]
    if not set(cols) <= set(districts.columns):
        return []
    rows = [_population_row(district_label(r), *[float(getattr(r, c)) for c in cols])
            for r in districts.itertuples()]
    k = summary.get("kpis", {}) or {}
    stored = [_get(k, c) for c in cols]
    totals = ([float(districts[c].sum()) for c in cols] if any(v is None for v in stored)
              else [float(v) for v in stored])
    rows.append(_population_row("合计 Total", *totals, total_row=True))
    return rows


# --- assembly -----------------------------------------------------------------------------

def report_context(results: dict[str, gpd.GeoDataFrame], summary: RunSummary,
                   map_html: str | None) -> dict[str, Any]:
    """Return everything the template shows.

    Parameters
    ----------
    results : dict of str to GeoDataFrame
    summary : RunSummary
    map_html : str or None

    Returns
    -------
    dict
    """
    districts = results["districts"]
    ok, text = status_line(summary)
    head, rows = district_table(districts, summary)
    gap = _get(summary, "gap")
    scenario: dict[str, Any] = {"name": "Scenario", "description": "", "year": ""}
    scenario.update({k: v for k, v in (summary.get("scenario") or {}).items() if v is not None})
    return {
        "scenario": scenario,
        "status": {"ok": ok, "text": text, "raw": str(summary.get("status", "unknown")),
                   "gap": fmt_pct(gap, 2) if gap is not None else ""},
        "cards": kpi_cards(summary),
        "headline": headline(summary, districts),
        "changes": change_rows(results, summary),
        "district_head": head, "district_rows": rows,
        "population_rows": population_rows(districts, summary),
        "response": response_text(summary),
        "reach": reach_text(summary),
        "quality": list(summary.get("data_quality") or []),
        "missing": missing_layers(results) + _missing_plans(summary),
        "sources": list(summary.get("sources") or []),
        "relaxed": list(summary.get("relaxed_norms") or []),
        "infeasible_reasons": list(summary.get("infeasible_reasons") or []),
        "map_html": map_html,
        "beds": bed_sections(summary),
        "workforce": workforce_section(summary, districts),
        "green_channel": green_channel_section(summary, districts),
        "phasing": phasing_rows(summary),
        "stations": station_rows(results, summary),
    }


def phasing_rows(summary: RunSummary) -> list[dict[str, str]]:
    """Return the year table of a phased ambulance plan (``summary["ambulances"]["phasing"]``), else ``[]``."""
    section: Any = summary.get("ambulances")
    ph = section.get("phasing") if isinstance(section, dict) else None
    if not isinstance(ph, dict):
        return []

    def budget(value: Any) -> str:
        return "no limit" if value is None else fmt_int(value)

    return [{"year": str(y.get("year")), "stations": fmt_int(y.get("stations")),
             "opened": fmt_int(y.get("stations_opened")), "vehicles": fmt_int(y.get("vehicles")),
             "added": fmt_int(y.get("vehicles_added")), "np": fmt_int(y.get("negative_pressure")),
             "np_added": fmt_int(y.get("np_added")), "vehicles_budget": budget(y.get("vehicles_budget")),
             "stations_budget": budget(y.get("new_stations_budget")),
             "milestone": "—" if y.get("milestone") is None else fmt_pct(y.get("milestone"), 0)}
            for y in ph.get("years") or []]  # fmt: skip


def station_rows(results: dict[str, gpd.GeoDataFrame], summary: RunSummary) -> list[dict[str, str]]:
    """Return one row per station of the plan: its name (as on the map), district, fleet, utilisation."""
    st = results.get("stations")
    if st is None or len(st) == 0 or "name" not in st.columns:
        return []
    sim = simulated(summary) or {}
    use = {str(r.get("site_id")): r.get("utilisation") for r in sim.get("by_station") or []}
    names = {str(r.code): district_label(r) for r in results["districts"].itertuples()}
    order = st.sort_values(["district_code", "vehicles", "name"], ascending=[True, False, True])
    return [{"name": str(r.name), "district": names.get(str(r.district_code), str(r.district_code)),
             "status": str(getattr(r, "status", "")), "vehicles": fmt_int(r.vehicles),
             "np": fmt_int(getattr(r, "negative_pressure", None)),
             "utilisation": "—" if use.get(str(r.site_id)) is None else fmt_pct(use[str(r.site_id)], 0),
             "opened": "" if pd.isna(getattr(r, "opened", None)) else str(int(r.opened))}
            for r in order.itertuples()]  # fmt: skip


def _missing_plans(summary: RunSummary) -> list[str]:
    """Return sentences for KPI groups absent from the summary (disabled plans)."""
    k = summary.get("kpis", {}) or {}
    groups: Sequence[tuple[str, str]] = (
        ("fleet_planned", "ambulance"), ("chc_planned", "health-centre"),
        ("beds_planned_per_1000", "beds"))
    return [f"No {what} plan in this run: its indicators are shown as n/a"
            for key, what in groups if _get(k, key) is None]


#: Print rules for the embedded map page: the controls that only work on screen are left off paper.
MAP_PRINT_CSS = ("<style>@media print { .leaflet-control-layers, .leaflet-control-zoom "
                 "{ display: none !important; } }</style>")


def printable_map(map_html: str) -> str:
    """Return the map page with :data:`MAP_PRINT_CSS` added to its head (the report embeds this)."""
    at = map_html.find("</head>")
    return map_html[:at] + MAP_PRINT_CSS + map_html[at:] if at >= 0 else MAP_PRINT_CSS + map_html


def render_report(results: dict[str, gpd.GeoDataFrame], summary: RunSummary, *,
                  map_html: str | None, offline: bool = True,
                  assets_dir: str | Path | None = None) -> str:
    """Return the briefing HTML.

    Parameters
    ----------
    results : dict of str to GeoDataFrame
    summary : RunSummary
    map_html : str or None
        The scenario map page (e.g. from :func:`healthopt.outputs.maps.write_map`), embedded
        with ``<iframe srcdoc>``; ``None`` leaves the map out.
    offline : bool
        Make sure the embedded map loads nothing from the network (its CDN assets are
        inlined if it still references any).
    assets_dir : str or Path, optional
        Vendored assets for inlining (default: the copy shipped in the package).

    Returns
    -------
    str

    Raises
    ------
    healthopt.outputs.offline.OfflineAssetError
        If ``offline`` and the map needs assets that are not vendored.
    """
    if offline and map_html and find_external_refs(map_html):
        map_html = inline_html(map_html, assets_dir)
    ctx = report_context(results, summary, printable_map(map_html) if map_html else None)
    return _env().get_template(TEMPLATE_NAME).render(**ctx)


def write_report(path: str | Path, results: dict[str, gpd.GeoDataFrame], summary: RunSummary,
                 *, map_html: str | None, offline: bool = True,
                 assets_dir: str | Path | None = None) -> str:
    """Write the one-page briefing to ``path`` (UTF-8) and return its HTML.

    Parameters
    ----------
    path : str or Path
    results : dict of str to GeoDataFrame
    summary : RunSummary
    map_html : str or None
        See :func:`render_report`.
    offline : bool
    assets_dir : str or Path, optional

    Returns
    -------
    str
    """
    html = render_report(results, summary, map_html=map_html, offline=offline,
                         assets_dir=assets_dir)
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(html, encoding="utf-8")
    return html
