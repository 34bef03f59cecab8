"""Tabular outputs of a run: ``results.gpkg``, ``summary.json``, ``summary.csv``.

Everything is written in a stable order with stable number formatting so that the same
scenario and data give byte-identical ``summary.json`` and ``results.gpkg`` (its
``last_change`` stamps are fixed, :func:`gpkg_timestamp`). Folders are written atomically
(:func:`atomic_folder`).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from healthopt._files import atomic_folder as atomic_folder  # re-exported: callers use tables.atomic_folder
from healthopt.outputs.summary import RunSummary

#: Layer order in ``results.gpkg``.
LAYERS: tuple[str, ...] = (
    "districts", "stations", "health_centres", "beds", "green_channel", "demand", "coverage_areas",
)  # fmt: skip


def _plain(value: object) -> Any:
    """Convert numpy/pandas scalars to JSON-safe Python values (NaN -> None)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        return round(value, 6)
    if isinstance(value, Path):
        return str(value)
    return value


def json_ready(value: object) -> Any:
    """Return ``value`` as ``summary.json`` stores it: Python scalars, floats to 6 places, NaN as None."""
    return _plain(value)


def write_summary_json(path: Path, summary: RunSummary) -> None:
    """Write ``summary`` as indented, key-sorted JSON (stable bytes)."""
    text = json.dumps(_plain(summary), ensure_ascii=False, indent=2, sort_keys=True)
    Path(path).write_text(text + "\n", encoding="utf-8")


#: Columns that are rates, shares or quality flags: a total row cannot add them.
_NOT_ADDITIVE = ("share", "per_1000", "per_10000", "_target_rate", "_quality", "rate_2022", "rate_2025")


def write_summary_csv(path: Path, districts: pd.DataFrame, summary: RunSummary | None = None, *,
                      totals: Mapping[str, Any] | None = None) -> None:
    """Write the per-district KPI table (no geometry) with a total row that adds only what can be added.

    Counts (residents, beds, vehicles, staff, simulated calls) are summed; rates per 1,000,
    shares and the simulation's statistics (``sim_*`` but calls and queued) are not: the total
    row gives the city-wide rate recomputed from the totals where both counts are in the table
    (``beds_per_1000_planned`` = total planned beds / total residents × 1,000),
    ``beds_per_1000_target`` the city-wide target from ``summary``, and the city-wide figures of
    ``totals`` (e.g. the simulated share of calls reached in time) where given. When the bed
    plan has new beds at municipal hospitals of unknown district, they get a row of their own
    (``code`` ``municipal_unlocated``) so that the total row equals ``summary.json``'s
    ``kpis.beds_planned_per_1000``. Whole numbers stay whole (no ``5.23665e+06``).
    """
    frame = pd.DataFrame(districts.drop(columns="geometry", errors="ignore"))
    whole = [c for c in frame.select_dtypes("number").columns if pd.api.types.is_integer_dtype(frame[c])]
    rows = [frame]
    city = (summary.get("beds") or {}).get("citywide") or {} if summary is not None else {}
    unlocated = int(city.get("municipal_beds_unlocated") or 0)
    if unlocated and "beds_planned" in frame:
        extra = {"code": "municipal_unlocated", "name_zh": "市属医院(区县未知)",
                 "name_en": "Municipal hospitals, district unknown", "beds_planned": unlocated}
        if "beds_change" in frame:
            extra["beds_change"] = unlocated
        rows.append(pd.DataFrame([extra]))
    body = pd.concat(rows, ignore_index=True)
    numeric = frame.select_dtypes("number").columns
    total: dict[str, Any] = {c: body[c].sum() for c in numeric if not any(k in c for k in _NOT_ADDITIVE)
                             and (not c.startswith("sim_") or c in ("sim_calls", "sim_queued"))}
    if {"beds_planned", "residents"} <= set(total) and total["residents"]:
        total["beds_per_1000_planned"] = total["beds_planned"] / total["residents"] * 1000
    if city.get("target_per_1000") is not None and "beds_per_1000_target" in frame:
        total["beds_per_1000_target"] = float(city["target_per_1000"])
    total.update({k: v for k, v in (totals or {}).items() if k in frame.columns})
    total.update({"code": "total", "name_zh": "合计", "name_en": "Total"})
    # a blank total (None) adds nothing to the column's type; pandas would otherwise warn on every table
    out = pd.concat([body, pd.DataFrame([total]).dropna(axis=1, how="all")], ignore_index=True)
    for c in out.select_dtypes("number").columns:
        # Counts stay whole with the added rows' blanks; a float count of persons (>= 100,000) is
        # written to the person, never as 5.23665e+06 (float_format %.6g is for rates and shares).
        values = out[c].dropna()
        finite = bool(np.isfinite(values.to_numpy(dtype=float)).all())  # inf (e.g. a p90 never reached) stays
        if finite and (c in whole or (len(values) and float(values.abs().max()) >= 1e5)):
            out[c] = out[c].round().astype("Int64")
    write_csv(path, out, float_format="%.6g")


#: First characters that make a spreadsheet read a text cell as a formula (OWASP "CSV
#: injection"); tab and carriage return too, as some spreadsheets strip them before looking.
FORMULA_PREFIXES: tuple[str, ...] = ("=", "+", "-", "@", "\t", "\r")

#: Text that is a plain decimal number ("-3", "+1.5e3"): a spreadsheet reads it as a number,
#: never as a formula, so it is left as it is.
_NUMBER_TEXT = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


def safe_csv_cell(value: Any) -> Any:
    """Return ``value`` with a leading ``'`` if it is text a spreadsheet would run as a formula.

    Only strings are changed, and only when they start with one of :data:`FORMULA_PREFIXES`
    and are not a plain number: numbers (``-3``, ``-0.5``) and other values pass unchanged.

    Parameters
    ----------
    value : object
        A cell value or column name.

    Returns
    -------
    object

    Examples
    --------
    >>> safe_csv_cell("=1+1"), safe_csv_cell("@SUM(A1)"), safe_csv_cell("-3"), safe_csv_cell(-3)
    ("'=1+1", "'@SUM(A1)", '-3', -3)
    """
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES) and not _NUMBER_TEXT.fullmatch(value):
        return "'" + value
    return value


def write_csv(path: str | Path, frame: pd.DataFrame, *, float_format: str | None = None) -> None:
    """Write ``frame`` (no index, Unix line ends) with every text cell passed through :func:`safe_csv_cell`.

    The one CSV writer of the tool: run, comparison and batch tables all go through it, so no
    cell of any input (a scenario name, a sweep value, a layer attribute) reaches a
    spreadsheet as a formula.

    Parameters
    ----------
    path : str or Path
    frame : DataFrame
        Numeric and boolean columns are written as they are.
    float_format : str, optional
        As :meth:`pandas.DataFrame.to_csv`.
    """
    out = pd.DataFrame(frame).copy()
    for col in out.columns:
        dtype = out[col].dtype
        if pd.api.types.is_object_dtype(dtype) or isinstance(dtype, pd.CategoricalDtype | pd.StringDtype):
            # Built as object on purpose: Series.map would re-infer the dtype and change number formatting.
            out[col] = pd.Series([safe_csv_cell(v) for v in out[col]], index=out.index, dtype=object)
    out.columns = [safe_csv_cell(c) for c in out.columns]
    out.to_csv(path, index=False, float_format=float_format, lineterminator="\n")


def plain_columns(frame: pd.DataFrame, *, bool_as_int: bool = True) -> pd.DataFrame:
    """Return a copy of ``frame`` whose attribute columns hold plain, writable values.

    Object columns keep ``str`` and ``None`` and turn anything else into ``str``; with
    ``bool_as_int`` (GeoPackage, which has no boolean type) ``bool`` columns become ``int8``.
    Geometry columns are left alone. Shared by :func:`write_gpkg` and
    :mod:`healthopt.outputs.postgis`.
    """
    out = frame.copy()
    for col in out.columns:
        if isinstance(out[col].dtype, gpd.array.GeometryDtype):
            continue
        if out[col].dtype == bool and bool_as_int:
            out[col] = out[col].astype("int8")
        elif out[col].dtype == object:
            out[col] = out[col].map(lambda v: v if v is None or isinstance(v, str) else str(v))
    return out


def _gpkg_ready(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    return plain_columns(frame, bool_as_int=True)


def write_gpkg(path: Path, layers: dict[str, gpd.GeoDataFrame]) -> list[str]:
    """Write the result layers (EPSG:4326) to one GeoPackage, in :data:`LAYERS` order.

    Layers of plans not in :data:`LAYERS` (a newly registered plan) follow, in the order given.

    Returns
    -------
    list of str
        Names of the layers written (empty layers are skipped).
    """
    written = []
    for name in [*LAYERS, *(n for n in layers if n not in LAYERS)]:
        frame = layers.get(name)
        if frame is None or len(frame) == 0:
            continue
        write_gpkg_layer(path, name, frame)
        written.append(name)
    return written


def write_gpkg_layer(path: Path, name: str, frame: gpd.GeoDataFrame) -> None:
    """Write one layer to a GeoPackage (booleans as 0/1, mixed objects as text).

    ``gpkg_contents.last_change`` gets :func:`gpkg_timestamp` instead of the clock, so the
    same layers give a byte-identical file.
    """
    with _gdal_option("OGR_CURRENT_DATE", gpkg_timestamp()):
        _gpkg_ready(frame).to_file(path, layer=name, driver="GPKG", engine="pyogrio")


def gpkg_timestamp() -> str:
    """Return the GeoPackage ``last_change`` stamp: ``SOURCE_DATE_EPOCH`` if set, else 1970-01-01.

    The reproducible-builds convention: the same inputs give the same bytes.
    """
    epoch = int(os.environ.get("SOURCE_DATE_EPOCH", "0") or 0)
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(epoch))


@contextlib.contextmanager
def _gdal_option(key: str, value: str) -> Iterator[None]:
    """Set a GDAL config option for the block, then restore it (GDAL options are process-wide)."""
    import pyogrio

    old = pyogrio.get_gdal_config_option(key)
    pyogrio.set_gdal_config_options({key: value})
    try:
        yield
    finally:
        pyogrio.set_gdal_config_options({key: old})
