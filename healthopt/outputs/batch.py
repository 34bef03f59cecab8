"""Outputs of a batch: ``batch_summary.csv`` / ``.gpkg``, trade-off charts and ``index.html``.

``batch_summary.csv`` holds only what the plans decide (parameters, KPIs, status), so two
runs of the same batch give the same bytes whatever the number of workers; wall times go
to ``batch_timings.csv``.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd

from healthopt import settings
from healthopt._files import write_atomic
from healthopt.batch.runner import STATUS_DIR, BatchRun
from healthopt.batch.sweep import Member
from healthopt.data import load_taiyuan, overlay
from healthopt.outputs import tables
from healthopt.outputs.summary import RunSummary, check_summary

if TYPE_CHECKING:
    from healthopt.scenario import Scenario

#: KPI columns taken from each scenario's summary (``kpis``), in this order.
KPI_COLUMNS: tuple[str, ...] = (
    "fleet_norm", "fleet_planned", "np_planned", "stations_planned", "stations_new", "pop_total", "pop_covered",
    "pop_beyond_capacity", "pop_outside", "calls_expected", "calls_covered_expected", "chc_planned", "thc_planned",
    "beds_planned_per_1000",
)  # fmt: skip
CHART_NAME = "tradeoff"


def summary_frame(run: BatchRun) -> gpd.GeoDataFrame:
    """Return one row per member: parameters, settings, status and KPIs, with its study area.

    Parameters
    ----------
    run : BatchRun

    Returns
    -------
    geopandas.GeoDataFrame
        EPSG:4326; ``geometry`` is the member's study area (union of its districts).
    """
    rows = [_row(member, record, run.batch.parameters, source=run.folder / STATUS_DIR / f"{member.name}.json")
            for member, record in zip(run.batch.members, run.records, strict=True)]
    frame = pd.DataFrame(rows)
    geometry = _areas([m.scenario for m in run.batch.members])
    return gpd.GeoDataFrame(frame, geometry=geometry, crs=settings.CRS_GEOGRAPHIC)


def _row(member: Member, record: dict[str, Any], parameters: Sequence[str], *, source: Path) -> dict[str, Any]:
    """One row of the batch summary; ``source`` is the status record ``record`` was read from."""
    sc = member.scenario
    # A member's summary may come back from disk (a finished member of an earlier batch run):
    # a record edited or damaged since is a one-line error naming it, not a traceback.
    summary: RunSummary | None = (check_summary(record["summary"], source=source)
                                  if record.get("summary") is not None else None)
    kpis: dict[str, Any] = dict(summary["kpis"]) if summary else {}
    row: dict[str, Any] = {"scenario": member.name, "status": record.get("status", "not run"),
                           "message": _one_line(record.get("message", ""))}
    row.update({_column(key): member.params.get(key) for key in parameters})
    row.update({
        "response_urban_min": sc.response_minutes.urban, "response_county_min": sc.response_minutes.county,
        "congestion": sc.network.congestion, "fleet_budget": sc.plans.ambulances.max_vehicles,
        "np_share_required": sc.plans.ambulances.negative_pressure_share,
    })
    row.update({k: kpis.get(k) for k in KPI_COLUMNS})
    total, covered = kpis.get("pop_total"), kpis.get("pop_covered")
    row["coverage_share"] = round(covered / total, 6) if total and covered is not None else None
    row.update(_simulated_columns(summary))
    row["norms_met"] = None if not summary else not summary.get("relaxed_norms")
    row["norms_relaxed"] = "; ".join(summary.get("relaxed_norms", []) if summary else [])
    row["optimal"] = summary["optimal"] if summary else None
    row["gap"] = summary["gap"] if summary else None
    ok = row["status"] == "ok"
    row["map"] = f"{member.name}/map.html" if ok and sc.outputs.map else None
    row["report"] = f"{member.name}/report.html" if ok and sc.outputs.report else None
    return row


#: The simulated headline (``summary["ambulances"]["simulated"]``) as batch columns: the sweep chart's y.
SIMULATED_COLUMNS: tuple[str, ...] = ("sim_reached_share", "sim_reached_ci_low", "sim_reached_ci_high", "sim_p90_min")


def _simulated_columns(summary: RunSummary | None) -> dict[str, Any]:
    """Share of calls reached in time (with its 95 % CI) and p90 response of a member, None if not simulated."""
    section = summary.get("ambulances") if summary else None
    sim = section.get("simulated") if isinstance(section, dict) else None
    if not isinstance(sim, dict):
        return dict.fromkeys(SIMULATED_COLUMNS)
    lo, hi = (sim.get("reached_share_ci") or [None, None])[:2]
    return {"sim_reached_share": sim.get("reached_share"), "sim_reached_ci_low": lo, "sim_reached_ci_high": hi,
            "sim_p90_min": sim.get("p90_min")}


def _column(dotted: str) -> str:
    return "p_" + dotted.replace(".", "_")


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _areas(scenarios: list[Scenario]) -> list[Any]:
    """Return each scenario's study area outline (its own boundaries layer if it has one).

    Only the boundaries shape the outline (a hospitals layer moves hospitals, not districts),
    so the embedded dataset with the scenario's boundaries applied is enough.
    """
    cache: dict[tuple[Any, ...], Any] = {}
    out = []
    for sc in scenarios:
        spec = sc.data.boundaries
        key = (tuple(sc.area.districts), None if spec is None else (str(spec.path), str(spec.crs)))
        if key not in cache:
            data = load_taiyuan()
            if spec is not None:
                data = overlay.with_boundaries(data, spec.path, spec.crs, codes=list(sc.area.districts),
                                               code_field=spec.code_field, name_field=spec.name_field,
                                               layer=spec.layer)
            cache[key] = data.study_area(list(sc.area.districts)).union_all()
        out.append(cache[key])
    return out


def timings_frame(run: BatchRun) -> pd.DataFrame:
    """Return wall seconds per member (not reproducible, hence kept apart from the summary)."""
    return pd.DataFrame({"scenario": [m.name for m in run.batch.members],
                         "seconds": [r.get("seconds") for r in run.records],
                         "ran_now": [m.name in set(run.ran) for m in run.batch.members]})


def write_batch_outputs(run: BatchRun) -> dict[str, Path]:
    """Write the batch summary, timings, charts and index into the batch folder.

    Parameters
    ----------
    run : BatchRun

    Returns
    -------
    dict of str to Path
        ``summary_csv``, ``summary_gpkg``, ``summary_xlsx``, ``timings_csv``, ``chart_png``, ``chart_html``,
        ``index``.
    """
    folder = run.folder
    frame = summary_frame(run)
    out = {"summary_csv": folder / "batch_summary.csv", "summary_gpkg": folder / "batch_summary.gpkg",
           "timings_csv": folder / "batch_timings.csv", "chart_png": folder / "charts" / f"{CHART_NAME}.png",
           "chart_html": folder / "charts" / f"{CHART_NAME}.html", "index": folder / "index.html"}
    write_atomic(out["summary_csv"], lambda p: tables.write_csv(p, frame.drop(columns="geometry"), float_format="%.6g"))
    write_atomic(out["summary_gpkg"], lambda p: tables.write_gpkg_layer(p, "batch_summary", frame))
    write_atomic(out["timings_csv"], lambda p: tables.write_csv(p, timings_frame(run)))
    from healthopt.outputs.workbook import BATCH_WORKBOOK_NAME, write_batch_workbook

    out["summary_xlsx"] = write_batch_workbook(folder / BATCH_WORKBOOK_NAME, frame, title=run.batch.name)
    from healthopt.outputs.charts import tradeoff_html, tradeoff_png

    ok = frame[frame["status"] == "ok"]
    write_atomic(out["chart_png"], lambda p: tradeoff_png(ok, p, title=run.batch.name))
    write_atomic(out["chart_html"], lambda p: tradeoff_html(ok, p, title=run.batch.name))
    write_atomic(out["index"], lambda p: Path(p).write_text(index_html(run, frame), encoding="utf-8"))
    return out


# --- index.html ---------------------------------------------------------------------------

_STYLE = """
body{font-family:"Noto Sans CJK SC","WenQuanYi Micro Hei",Arial,sans-serif;margin:24px;color:#222}
h1{font-size:22px;margin:0 0 4px} .sub{color:#555;margin-bottom:12px}
table{border-collapse:collapse;font-size:13px} th,td{border:1px solid #ddd;padding:3px 6px;text-align:right}
th{background:#f3f3f3;cursor:pointer;position:sticky;top:0} td.l,th.l{text-align:left}
td{vertical-align:top} td.l{max-width:340px;font-size:12px}
tr.ok td.s{color:#1b5e20} tr.bad td.s{color:#b71c1c;font-weight:bold} tr.relaxed td.s{color:#a65c00}
.warn{background:#fff3cd;border:1px solid #e08214;padding:6px 10px;margin:8px 0;display:inline-block}
img{max-width:100%;border:1px solid #ddd}
"""
_SORT_JS = """
document.querySelectorAll('th').forEach((th,i)=>th.addEventListener('click',()=>{
 const tb=th.closest('table').tBodies[0];const rows=[...tb.rows];const asc=th.dataset.asc!=='1';
 th.dataset.asc=asc?'1':'0';const v=r=>{const t=r.cells[i].innerText.replace(/[,%]/g,'');
 const n=parseFloat(t);return isNaN(n)?t:n};
 rows.sort((a,b)=>{const x=v(a),y=v(b);return (x>y?1:x<y?-1:0)*(asc?1:-1)});rows.forEach(r=>tb.appendChild(r));}));
"""
_INDEX_COLUMNS = (
    ("scenario", "Scenario", "l"), ("status", "Status", "l"), ("response_urban_min", "Urban std (min)", ""),
    ("response_county_min", "County std (min)", ""), ("congestion", "Congestion", ""),
    ("fleet_budget", "Fleet budget", ""), ("fleet_norm", "Fleet norm", ""), ("fleet_planned", "Fleet", ""),
    ("np_planned", "Neg.-pressure", ""), ("stations_planned", "Stations", ""),
    ("sim_reached_share", "Calls reached in time (sim.)", ""),
    ("sim_p90_min", "p90 response (sim., min)", ""),
    ("pop_outside", "Outside catchment", ""), ("gap", "Gap", ""),
)  # fmt: skip


def index_html(run: BatchRun, frame: pd.DataFrame) -> str:
    """Return the batch's ``index.html``: chart, then a sortable table linking every map and report."""
    esc = html.escape
    counts = frame["status"].value_counts()
    head = "".join(f'<th class="{cls}">{esc(label)}</th>' for _key, label, cls in _INDEX_COLUMNS)
    head += '<th class="l">Parameters</th><th class="l">Map / report</th><th class="l">Note</th>'
    body = "".join(_index_row(row, run.batch.parameters) for row in frame.to_dict(orient="records"))
    chart = (f'<p><a href="charts/{CHART_NAME}.html">Interactive chart</a> · '
             f'<a href="batch_summary.csv">batch_summary.csv</a> · '
             f'<a href="batch_summary.xlsx">batch_summary.xlsx</a> · '
             f'<a href="batch_summary.gpkg">batch_summary.gpkg</a></p>'
             f'<img src="charts/{CHART_NAME}.png" alt="simulated calls reached in time against fleet size">')
    return (f'<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>{esc(run.batch.name)}'
            f"</title><style>{_STYLE}</style></head><body><h1>{esc(run.batch.name)}</h1>"
            f'<div class="sub">{esc(run.batch.description)} {len(frame)} scenarios: '
            f"{int(counts.get('ok', 0))} planned, {len(frame) - int(counts.get('ok', 0))} without a plan. "
            "Population figures are estimates (grid model); see each report for sources and quality flags. "
            "Road data © OpenStreetMap contributors (ODbL).</div>"
            f'{chart}<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'
            f"<script>{_SORT_JS}</script></body></html>\n")


def _index_row(row: dict[str, Any], parameters: Sequence[str]) -> str:
    esc = html.escape
    status = row["status"]
    relaxed = status == "ok" and row.get("norms_met") is False
    cls = "relaxed" if relaxed else ("ok" if status == "ok" else "bad")
    cells = []
    for key, _label, align in _INDEX_COLUMNS:
        value = row.get(key)
        text = "norms relaxed" if key == "status" and relaxed else _fmt(key, value)
        cells.append(f'<td class="{align}{" s" if key == "status" else ""}">{esc(text)}</td>')
    params = ", ".join(f"{p}={row.get(_column(p))}" for p in parameters)
    links = " · ".join(f'<a href="{esc(row[k])}">{k}</a>' for k in ("map", "report") if row.get(k))
    note = row.get("norms_relaxed") or ("" if status == "ok" else row.get("message", ""))
    cells += [f'<td class="l">{esc(params)}</td>', f'<td class="l">{links}</td>', f'<td class="l">{esc(note)}</td>']
    return f'<tr class="{cls}">{"".join(cells)}</tr>'


def _fmt(key: str, value: Any) -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return ""
    if key in ("coverage_share", "sim_reached_share", "gap"):
        return f"{value:.1%}"
    if isinstance(value, float) and value.is_integer() and key not in ("congestion",):
        return f"{int(value):,}"
    if isinstance(value, int | np.integer) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


# --- PostGIS ------------------------------------------------------------------------------


def write_database(url: str, run: BatchRun) -> str:
    """Write the batch summary and every planned scenario's result layers to PostGIS.

    Parameters
    ----------
    url : str
        ``postgresql://user:password@host:port/database``.
    run : BatchRun

    Returns
    -------
    str
        The schema written (one per batch, replaced on rerun).
    """
    import pyogrio

    from healthopt.outputs import postgis

    layers: dict[str, dict[str, gpd.GeoDataFrame]] = {}
    for member, record in zip(run.batch.members, run.records, strict=True):
        gpkg = run.folder / member.name / "results.gpkg"
        if record.get("status") == "ok" and gpkg.exists():
            names = [str(row[0]) for row in pyogrio.list_layers(gpkg)]
            layers[member.name] = {name: gpd.read_file(gpkg, layer=name, engine="pyogrio") for name in names}
    schema = postgis.schema_name(run.batch.name)
    postgis.write_batch(url, schema, summary_frame(run), layers, batch_name=run.batch.name)
    return schema
