"""Excel workbook of a run (``results.xlsx``) and of a batch (``batch_summary.xlsx``).

The format district offices and briefings use: one sheet per table (KPIs, districts,
stations, health centres, beds, green channel, staff), the resolved scenario parameters with
where each value came from, notes and sources, and a field catalogue
(:mod:`healthopt.outputs.fields`). Every table has two header rows: ``中文 / English`` labels,
then the field name as it is in ``results.gpkg`` and ``summary.csv``.

Numbers are written as numbers with a number format, never as text. Text that a
spreadsheet would run as a formula (``=``, ``+``, ``-``, ``@`` first) is stored as a string
cell with Excel's quote prefix, so it is shown as typed and stays text when edited (the
workbook counterpart of :func:`healthopt.outputs.tables.safe_csv_cell`). KPIs are read
generically from ``summary.json`` (every scalar of ``kpis`` and of any plan section), so a
plan's new figures appear without a change here.

The file is deterministic: document properties carry the ``SOURCE_DATE_EPOCH`` time (else
1970-01-01) and the zip members a fixed 1980-01-01 stamp, so the same run gives the same
bytes.
"""

from __future__ import annotations

import datetime
import functools
import json
import math
import os
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from healthopt._files import write_atomic
from healthopt.outputs.fields import FieldInfo, field_info, flatten, is_number
from healthopt.outputs.tables import FORMULA_PREFIXES, json_ready

if TYPE_CHECKING:
    from openpyxl import Workbook
    from openpyxl.worksheet.worksheet import Worksheet
    from pydantic import BaseModel

    from healthopt.outputs.summary import RunSummary

__all__ = ["BATCH_WORKBOOK_NAME", "WORKBOOK_NAME", "build_workbook", "parameter_rows", "save_workbook",
           "write_batch_workbook", "write_workbook"]

WORKBOOK_NAME = "results.xlsx"
BATCH_WORKBOOK_NAME = "batch_summary.xlsx"

#: Result layers written as sheets: layer name, sheet title.
LAYER_SHEETS: tuple[tuple[str, str], ...] = (
    ("districts", "区县 Districts"), ("stations", "急救站 Stations"),
    ("health_centres", "基层 Health centres"), ("beds", "床位 Beds"), ("green_channel", "绿色通道 Green channel"),
)  # fmt: skip

#: Top-level ``summary.json`` keys that are not figures (metadata, notes, or shown elsewhere).
NOT_FIGURES = frozenset({
    "scenario", "status", "optimal", "gap", "solver", "kpis", "baseline", "response_minutes", "data_quality",
    "sources", "inputs", "versions", "green_channel", "norms_met", "relaxed_norms", "infeasible_reasons",
})  # fmt: skip

#: Zip member stamp (the earliest a zip can hold).
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)
_HEAD_FILL = "F1F4F7"


# --------------------------------------------------------------------------- cell values


def _clean_text(text: str) -> str:
    """Drop control characters that an .xlsx cannot hold (openpyxl refuses them)."""
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    return ILLEGAL_CHARACTERS_RE.sub("", text)


def _cell_value(value: Any) -> Any:
    """Return ``value`` as a plain Python value a cell can hold (``None`` for missing)."""
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return None
    if isinstance(value, bool | int | float):
        return value
    if isinstance(value, pd.Timestamp | datetime.datetime | datetime.date):
        return str(value)
    if isinstance(value, dict | list | tuple):
        return _clean_text(json.dumps(json_ready(value), ensure_ascii=False, sort_keys=True))
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    return _clean_text(str(value))


def _number_format(field: str, value: Any) -> str | None:
    """Return the Excel number format of a numeric cell of ``field``."""
    if not is_number(value):
        return None
    name = field.rsplit(".", 1)[-1]
    unit = field_info(field).unit
    if unit == "share" or name.endswith("share") or name in {"gap"}:
        return "0.0%"
    if name in {"lon", "lat"}:
        return "0.000000"
    if isinstance(value, int):
        return "#,##0"
    if "per_1000" in name or unit == "beds per 1,000":
        return "0.00"
    if unit == "minutes" or "minutes" in name:
        return "0.0"
    return "#,##0.######" if float(value).is_integer() else "#,##0.0#####"


def _put(ws: Worksheet, row: int, col: int, value: Any, field: str = "") -> None:
    """Write one cell: numbers with a format, formula-like text as quoted text."""
    cell = ws.cell(row=row, column=col)
    value = _cell_value(value)
    if isinstance(value, str):
        cell.value = value
        cell.data_type = "s"  # never "f": openpyxl would store "=..." as a formula
        if value.startswith(FORMULA_PREFIXES):
            cell.quotePrefix = True
        return
    cell.value = value
    fmt = _number_format(field, value)
    if fmt:
        cell.number_format = fmt


def _label(info: FieldInfo, field: str) -> str:
    return f"{info.zh} / {info.en}" if info.en else field


# --------------------------------------------------------------------------- sheets


def _table_sheet(wb: Workbook, title: str, frame: pd.DataFrame, *, total: dict[str, Any] | None = None,
                 note: str = "") -> Worksheet:
    """Add a sheet with two header rows (labels, field names), the rows and an optional total row."""
    from openpyxl.styles import Alignment, Font, PatternFill

    ws = wb.create_sheet(title)
    fields = [str(c) for c in frame.columns]
    bold, grey = Font(bold=True), Font(color="666666", size=9)
    fill = PatternFill("solid", fgColor=_HEAD_FILL)
    for j, field in enumerate(fields, start=1):
        _put(ws, 1, j, _label(field_info(field), field))
        _put(ws, 2, j, field)
        ws.cell(row=1, column=j).font, ws.cell(row=1, column=j).fill = bold, fill
        ws.cell(row=1, column=j).alignment = Alignment(wrap_text=True, vertical="bottom")
        ws.cell(row=2, column=j).font = grey
    rows = frame.to_dict(orient="records")
    for i, rec in enumerate(rows, start=3):
        for j, field in enumerate(fields, start=1):
            _put(ws, i, j, rec[field], field)
    end = len(rows) + 3
    if total is not None:
        for j, field in enumerate(fields, start=1):
            if field in total:
                _put(ws, end, j, total[field], field)
                ws.cell(row=end, column=j).font = bold
        end += 1
    if note:
        _put(ws, end + 1, 1, note)
    ws.freeze_panes = "A3"
    if rows:
        ws.auto_filter.ref = f"A2:{_col(len(fields))}{len(rows) + 2}"
    _widths(ws, [[_label(field_info(f), f) if len(_label(field_info(f), f)) < 24 else f, *frame[f].tolist()]
                 for f in fields])
    return ws


def _col(n: int) -> str:
    from openpyxl.utils import get_column_letter

    return get_column_letter(max(n, 1))


def _widths(ws: Worksheet, columns: Iterable[Sequence[Any]]) -> None:
    """Set column widths from the longest text (CJK characters count double), capped."""
    for j, values in enumerate(columns, start=1):
        longest = max((sum(2 if ord(ch) > 0x2E80 else 1 for ch in str(v)) for v in values[:200]), default=8)
        ws.column_dimensions[_col(j)].width = min(max(longest + 2, 8), 48)


def _key_value_sheet(wb: Workbook, title: str, head: Sequence[tuple[str, str]],
                     rows: Sequence[Sequence[Any]], *, number_field: int | None = None) -> Worksheet:
    """Add a sheet of rows under two header rows ``(label, field)``.

    ``number_field`` is the column whose numbers (and the next column's) are formatted as
    the field named in column 0.
    """
    frame = pd.DataFrame([list(r) for r in rows], columns=[f for _, f in head])
    ws = wb.create_sheet(title)
    from openpyxl.styles import Font, PatternFill

    fill = PatternFill("solid", fgColor=_HEAD_FILL)
    for j, (label, field) in enumerate(head, start=1):
        _put(ws, 1, j, label)
        _put(ws, 2, j, field)
        ws.cell(row=1, column=j).font, ws.cell(row=1, column=j).fill = Font(bold=True), fill
        ws.cell(row=2, column=j).font = Font(color="666666", size=9)
    for i, row in enumerate(rows, start=3):
        key = str(row[0])
        for j, value in enumerate(row, start=1):
            _put(ws, i, j, value, key if number_field is not None and j - 1 in (number_field, number_field + 1)
                 else "")
    ws.freeze_panes = "A3"
    _widths(ws, [[label, *frame[f].tolist()] for label, f in head])
    return ws


def kpi_rows(summary: Mapping[str, Any]) -> list[list[Any]]:
    """Return one row per headline figure: key, 中文, English, value, baseline, unit, source.

    Every scalar of ``summary["kpis"]`` (nested keys dotted: ``staff.nurse``) and of each plan
    section that is not metadata (e.g. ``ambulances.simulated.share``), then the run's status.
    """
    baseline = dict(summary.get("baseline") or {})
    rows = []
    sections = [("", summary.get("kpis") or {})]
    sections += [(f"{key}.", value) for key, value in sorted(summary.items())
                 if key not in NOT_FIGURES and isinstance(value, Mapping)]
    for prefix, section in sections:
        for key, value in flatten(section, prefix):
            info = field_info(key)
            base = baseline.get(key) if not prefix else None
            rows.append([key, info.zh if info.en else key, info.en, value, base, info.unit, info.source])
    rows.append(["status", "求解状态", "Solver status of the run", summary.get("status"), None, "", "solver"])
    rows.append(["gap", "最优性差距", "Relative MIP gap of the headline plan", summary.get("gap"), None, "share",
                 "solver"])
    return rows


def _kpi_sheet(wb: Workbook, summary: Mapping[str, Any]) -> None:
    head = [("字段 Field", "key"), ("中文", "zh"), ("English", "en"), ("数值 Value", "value"),
            ("基线 Baseline", "baseline"), ("单位 Unit", "unit"), ("来源 Source", "source")]
    _key_value_sheet(wb, "指标 KPIs", head, kpi_rows(summary), number_field=3)


def _districts_total(frame: pd.DataFrame) -> dict[str, Any]:
    """Return the total row: sums of counts; shares and rates recomputed from the sums."""
    total: dict[str, Any] = {"code": "合计 Total"}
    for col in frame.select_dtypes("number").columns:
        if not any(part in col for part in ("share", "per_1000", "rate", "minutes")):
            total[col] = json_ready(frame[col].sum())
    pop = [c for c in ("pop_covered", "pop_beyond_capacity", "pop_outside") if c in frame]
    if "coverage_share" in frame and len(pop) == 3 and frame[pop].to_numpy().sum():
        total["coverage_share"] = round(float(frame["pop_covered"].sum() / frame[pop].to_numpy().sum()), 6)
    if "beds_per_1000_planned" in frame and {"beds_planned", "residents"} <= set(frame) and frame.residents.sum():
        total["beds_per_1000_planned"] = round(float(frame.beds_planned.sum() / frame.residents.sum() * 1000), 6)
    return total


def layer_frame(layer: pd.DataFrame) -> pd.DataFrame:
    """Return a layer's attributes; point geometries as ``lon`` / ``lat`` columns (WGS84)."""
    frame = pd.DataFrame(layer.drop(columns="geometry", errors="ignore"))
    geom = getattr(layer, "geometry", None) if "geometry" in layer else None
    if geom is not None and len(layer):
        points = geom.geom_type == "Point"
        if points.any():
            frame["lon"] = np.where(points, geom.x.where(points).round(6), np.nan)
            frame["lat"] = np.where(points, geom.y.where(points).round(6), np.nan)
    return frame.reset_index(drop=True)


def _staff_sheet(wb: Workbook, layers: Mapping[str, pd.DataFrame], summary: Mapping[str, Any]) -> None:
    """Staff: ambulance crews (KPIs and by district) and any workforce section of the summary."""
    rows: list[list[Any]] = []
    for key, value in flatten({"staff": (summary.get("kpis") or {}).get("staff") or {}}):
        info = field_info(key)
        rows.append([key, info.zh, info.en, value, info.unit, info.source])
    for section in ("workforce", "staff"):
        if isinstance(summary.get(section), Mapping):
            for key, value in flatten(summary[section], f"{section}."):
                info = field_info(key)
                rows.append([key, info.zh if info.en else key, info.en, value, info.unit, info.source])
    districts = layers.get("districts")
    by_district = [c for c in ("physicians", "nurses", "drivers") if districts is not None and c in districts]
    if not rows and not by_district:
        return
    head = [("字段 Field", "key"), ("中文", "zh"), ("English", "en"), ("数值 Value", "value"), ("单位 Unit", "unit"),
            ("来源 Source", "source")]
    ws = _key_value_sheet(wb, "人员 Staff", head, rows, number_field=3)
    if by_district and districts is not None:
        start = len(rows) + 5
        cols = ["code", "name_zh", *by_district]
        frame = pd.DataFrame(districts[cols])
        for j, field in enumerate(cols, start=1):
            _put(ws, start, j, _label(field_info(field), field))
            _put(ws, start + 1, j, field)
        for i, rec in enumerate(frame.to_dict(orient="records"), start=start + 2):
            for j, field in enumerate(cols, start=1):
                _put(ws, i, j, rec[field], field)


def _notes_sheet(wb: Workbook, summary: Mapping[str, Any]) -> None:
    """Status, data-quality notes (estimates), relaxed norms and sources with their quality flags."""
    rows: list[list[Any]] = []
    scenario = summary.get("scenario") or {}
    rows += [["scenario", scenario.get("name")], ["description", scenario.get("description")],
             ["year", scenario.get("year")], ["status", summary.get("status")]]
    rows += [[f"response_minutes.{k}", v] for k, v in (summary.get("response_minutes") or {}).items()]
    rows += [["data_quality", n] for n in summary.get("data_quality") or []]
    rows += [["relaxed_norms", n] for n in summary.get("relaxed_norms") or []]
    rows += [["infeasible_reasons", n] for n in summary.get("infeasible_reasons") or []]
    rows += [["sources", n] for n in summary.get("sources") or []]
    rows += [["versions." + k, v] for k, v in sorted((summary.get("versions") or {}).items())]
    _key_value_sheet(wb, "说明 Notes", [("类别 Kind", "kind"), ("内容 Text", "text")], rows)


def _fields_sheet(wb: Workbook, catalogue: Sequence[tuple[str, str]]) -> None:
    """Add the field catalogue: one row per (sheet, field) written."""
    rows = []
    for sheet, field in catalogue:
        info = field_info(field)
        rows.append([sheet, field, info.zh if info.en else "", info.en, info.unit, info.source])
    head = [("工作表 Sheet", "sheet"), ("字段 Field", "field"), ("中文", "zh"), ("含义 Meaning", "en"),
            ("单位 Unit", "unit"), ("来源 Source", "source")]
    _key_value_sheet(wb, "字段说明 Fields", head, rows)


# --------------------------------------------------------------------------- parameters


def _norm_key(factory: Any) -> str | None:
    """Return the norms-table key a field's ``default_factory`` reads, if it is a norm lookup."""
    from healthopt.scenario import defaults

    if isinstance(factory, functools.partial) and factory.func in (defaults.norm_float, defaults.norm_int):
        return str(factory.args[0])
    return None


def _default(info: Any) -> tuple[Any, str | None, bool]:
    """Return ``(default value, norm key, known)`` of a pydantic field."""
    from pydantic_core import PydanticUndefined

    if info.default_factory is not None:
        try:
            return info.default_factory(), _norm_key(info.default_factory), True
        except TypeError:  # a factory that wants the validated data
            return None, None, False
    if info.default is PydanticUndefined:
        return None, None, False
    return info.default, None, True


#: Defaults that come from an embedded table rather than one norms row: path prefix ->
#: (norms key template with ``{key}`` for the last path part, or the table and its quality).
_TABLE_DEFAULTS: dict[str, tuple[str | None, str, str]] = {
    "plans.beds.infectious_min.": ("beds.infectious_min.{key}", "", ""),
    "plans.beds.icu_share.": ("beds.icu_share.{key}_min", "", ""),
    "plans.beds.targets.": (None, "beds_district.csv beds_per_1000_2025: seed 001 annex 1", "official"),
    "plans.beds.strategy.": (None, "beds_district.csv strategy: seed 001 annex 1", "official"),
    "plans.green_channel.senders": (None, "green_channel.csv: seed 000 §(五)", "official"),
    "plans.green_channel.receivers": (None, "green_channel.csv: seed 000 §(五)", "official"),
    "area.districts": (None, "districts.csv: the embedded study area (Taiyuan's 10 units)", "official"),
    "area.urban": (None, "districts.csv norm_class: seed 001 §四(三)1 (城六区)", "official"),
}


def _default_source(path: str, norm_key: str | None) -> tuple[str, str, str, str, str]:
    """Return ``(origin, source, quality, unit, note)`` of a value equal to its default."""
    from healthopt.scenario import defaults

    for prefix, (template, source, quality) in _TABLE_DEFAULTS.items():
        if path.startswith(prefix):
            if template is None:
                return "默认: 数据表 default: data table", source, quality, "", ""
            norm_key = template.format(key=path.rsplit(".", 1)[-1])
    norm = defaults.norm_rows().get(norm_key) if norm_key else None
    if norm is not None:
        return ("默认: 规范表 default: norms table", f"norms.csv {norm.key}: seed {norm.seed} {norm.section}",
                norm.quality, norm.unit, norm.note)
    return "默认 default", "healthopt built-in setting", "setting", "", ""


def parameter_rows(scenario: BaseModel, *, scenario_file: str = "scenario file") -> list[list[Any]]:
    """Return the resolved scenario, one row per value: parameter, value, origin, source, quality, unit, note.

    A value equal to its default is labelled with the default's origin: the norms-table row
    (seed document, section, quality flag) or embedded table it comes from, or the tool's
    built-in setting; any other value is the scenario's own. Mappings of plain values (bed
    targets by district) give one row per key.

    Parameters
    ----------
    scenario : healthopt.scenario.Scenario
    scenario_file : str
        How the scenario's own values are sourced (its file name).

    Returns
    -------
    list of list
    """
    rows: list[list[Any]] = []

    def walk(model: BaseModel, dumped: Mapping[str, Any], prefix: str) -> None:
        for name, info in type(model).model_fields.items():
            value, path = getattr(model, name), f"{prefix}{name}"
            if hasattr(type(value), "model_fields"):
                walk(value, dumped.get(name) or {}, path + ".")
                continue
            default, key, known = _default(info)
            same = known and value == default
            shown = dumped.get(name)
            items: list[tuple[str, Any]] = [("", shown)]
            if isinstance(shown, Mapping) and shown and not any(isinstance(v, Mapping | list) for v in shown.values()):
                items = sorted(shown.items())
            for sub, cell in items:
                where = f"{path}.{sub}" if sub else path
                if same:
                    origin, source, quality, unit, note = _default_source(where, key)
                else:
                    origin, source, quality, unit, note = "情景 scenario", scenario_file, "as given", "", ""
                rows.append([where, cell, origin, source, quality, unit, note])

    walk(scenario, scenario.model_dump(mode="json"), "")
    return rows


def _parameters_sheet(wb: Workbook, scenario: BaseModel) -> None:
    source = getattr(scenario, "source", None)
    rows = parameter_rows(scenario, scenario_file=f"scenario file {Path(source).name}" if source else "scenario")
    head = [("参数 Parameter", "parameter"), ("取值 Value", "value"), ("来源类型 Origin", "origin"),
            ("来源 Source", "source"), ("质量 Quality", "quality"), ("单位 Unit", "unit"), ("说明 Note", "note")]
    _key_value_sheet(wb, "参数 Parameters", head, rows)


# --------------------------------------------------------------------------- assembly and saving


def build_workbook(*, layers: Mapping[str, pd.DataFrame], summary: RunSummary | Mapping[str, Any],
                   scenario: BaseModel | None = None) -> Workbook:
    """Return the run workbook (not saved).

    Parameters
    ----------
    layers : mapping of str to DataFrame
        The run's result layers (``districts`` required; the others when present).
    summary : RunSummary
        As in ``summary.json`` (numbers are rounded as there).
    scenario : healthopt.scenario.Scenario, optional
        Adds the ``Parameters`` sheet (the resolved scenario with sources).

    Returns
    -------
    openpyxl.Workbook
    """
    from openpyxl import Workbook

    plain: dict[str, Any] = json_ready(dict(summary))
    wb = Workbook()
    wb.remove(wb.active)
    _kpi_sheet(wb, plain)
    catalogue: list[tuple[str, str]] = [("指标 KPIs", r[0]) for r in kpi_rows(plain)]
    for name, title in LAYER_SHEETS:
        layer = layers.get(name)
        if layer is None or not len(layer):
            continue
        frame = layer_frame(layer)
        total = _districts_total(frame) if name == "districts" else None
        note = ("Figures flagged 'estimated' or with a proxy location quality are estimates."
                if name != "districts" else "Total: sums of counts; shares and per-1,000 rates from the sums.")
        _table_sheet(wb, title, frame, total=total, note=note)
        catalogue += [(title, str(c)) for c in frame.columns]
    _staff_sheet(wb, layers, plain)
    if scenario is not None:
        _parameters_sheet(wb, scenario)
    _notes_sheet(wb, plain)
    _fields_sheet(wb, catalogue)
    _fixed_properties(wb, title=str((plain.get("scenario") or {}).get("name", "")))
    return wb


def _fixed_properties(wb: Workbook, *, title: str) -> None:
    epoch = int(os.environ.get("SOURCE_DATE_EPOCH", "0") or 0)
    stamp = datetime.datetime.fromtimestamp(epoch, tz=datetime.UTC).replace(tzinfo=None)
    props = wb.properties
    props.creator, props.lastModifiedBy = "healthopt", "healthopt"
    props.title = _clean_text(title)
    props.created = props.modified = stamp


class _FixedTimeZip(zipfile.ZipFile):
    """A zip whose members get a fixed time stamp and mode (reproducible bytes)."""

    def writestr(self, zinfo_or_arcname: Any, data: Any, compress_type: int | None = None,
                 compresslevel: int | None = None) -> None:
        if not isinstance(zinfo_or_arcname, zipfile.ZipInfo):
            zinfo_or_arcname = zipfile.ZipInfo(str(zinfo_or_arcname), date_time=_ZIP_TIME)
            zinfo_or_arcname.compress_type = zipfile.ZIP_DEFLATED
            zinfo_or_arcname.external_attr = 0o644 << 16
        super().writestr(zinfo_or_arcname, data, compress_type, compresslevel)

    def write(self, filename: Any, arcname: Any = None, compress_type: int | None = None,
              compresslevel: int | None = None) -> None:
        # openpyxl writes each worksheet to a temporary file first: its mtime would be the stamp.
        self.writestr(str(arcname or filename), Path(filename).read_bytes(), compress_type, compresslevel)


def save_workbook(wb: Workbook, path: str | Path) -> None:
    """Save ``wb`` to ``path`` with fixed time stamps (openpyxl's own save stamps the clock)."""
    from openpyxl.writer.excel import ExcelWriter

    created = wb.properties.created
    with _FixedTimeZip(path, "w", zipfile.ZIP_DEFLATED, allowZip64=True) as archive:
        wb.properties.modified = created
        ExcelWriter(wb, archive).save()


def write_workbook(path: str | Path, *, layers: Mapping[str, pd.DataFrame],
                   summary: RunSummary | Mapping[str, Any], scenario: BaseModel | None = None) -> Path:
    """Write ``results.xlsx`` atomically (a temporary file renamed) and return its path.

    Parameters
    ----------
    path : str or Path
    layers, summary, scenario
        See :func:`build_workbook`.

    Returns
    -------
    Path
    """
    wb = build_workbook(layers=layers, summary=summary, scenario=scenario)
    out = Path(path)
    write_atomic(out, lambda p: save_workbook(wb, p))
    return out


def write_batch_workbook(path: str | Path, frame: pd.DataFrame, *, title: str = "") -> Path:
    """Write the batch workbook: one row per member (parameters, status, KPIs) and a field catalogue.

    Parameters
    ----------
    path : str or Path
    frame : DataFrame
        :func:`healthopt.outputs.batch.summary_frame` (geometry dropped here).
    title : str
        The batch name.

    Returns
    -------
    Path
    """
    from openpyxl import Workbook

    members = pd.DataFrame(frame.drop(columns="geometry", errors="ignore"))
    wb = Workbook()
    wb.remove(wb.active)
    sheet = "成员 Members"
    _table_sheet(wb, sheet, members)
    _fields_sheet(wb, [(sheet, str(c)) for c in members.columns])
    _fixed_properties(wb, title=title)
    out = Path(path)
    write_atomic(out, lambda p: save_workbook(wb, p))
    return out
