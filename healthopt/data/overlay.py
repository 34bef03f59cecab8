"""The embedded dataset as one scenario sees it: its own district boundaries and hospital points.

A scenario may give ``data.boundaries`` (district polygons that replace the embedded ones,
e.g. a health commission's own survey) and ``data.hospitals`` (points for the named
hospitals, which the embedded tables list without coordinates). Both change only *where*
things are: names, census population and bed figures stay those of the embedded tables,
so every figure keeps its source and quality flag.

Hospitals are matched by name, exactly after normalising character width and whitespace
(``太原市第三人民医院　`` is ``太原市第三人民医院``, ``（`` is ``(``); a name written ``A(B)``
also answers to ``A`` and to ``B``, because the green channel names ``太原市中心医院`` as
``北京大学第一医院太原医院(太原市中心医院)``.

Public API
----------
with_boundaries(data, path, crs, codes=...) -> TaiyuanData
with_hospitals(data, path, crs) -> TaiyuanData
relocate(frame, layer) -> GeoDataFrame
require_in_area(data, codes)
hospital_notes(data, used) -> list[str]
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import replace
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from healthopt import settings
from healthopt.data.dataset import HospitalLayer, TaiyuanData
from healthopt.data.layers import read_facilities, read_layer
from healthopt.errors import InputError

__all__ = [
    "MIN_BOUNDARY_OVERLAP",
    "HospitalLayer",
    "district_at",
    "hospital_notes",
    "match_hospitals",
    "normalise_name",
    "relocate",
    "require_in_area",
    "with_boundaries",
    "with_hospitals",
]

#: Least overlap (intersection over union) of a user boundary with the embedded one of the
#: same code. More precise surveys overlap far above this; a wrong code column or a district
#: given the code of its neighbour overlaps hardly at all.
MIN_BOUNDARY_OVERLAP = 0.5

_SHOWN = 6  # names or codes listed in one message before "..."


# --- names -------------------------------------------------------------------------------


def normalise_name(name: object) -> str:
    """Return ``name`` with full-width characters made half-width and all whitespace removed."""
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", str(name)))


def _aliases(key: str) -> tuple[str, ...]:
    """Return the other names a normalised ``A(B)`` answers to: ``B`` and ``A``."""
    match = re.fullmatch(r"(.+?)\((.+)\)", key)
    return (match.group(2), match.group(1)) if match else ()


def match_hospitals(layer: HospitalLayer, names: Iterable[object]) -> list[int | None]:
    """Return, for each name, the row position of the layer feature naming it (None when none does).

    An exact (normalised) match wins over an alias match.
    """
    keys = list(layer.points["key"])
    index = {key: pos for pos, key in enumerate(keys)}
    for pos, key in enumerate(keys):
        for alias in _aliases(key):
            index.setdefault(alias, pos)
    out: list[int | None] = []
    for name in names:
        key = normalise_name(name)
        hits = [index[k] for k in (key, *_aliases(key)) if k in index]
        out.append(hits[0] if hits else None)
    return out


def _listed(items: Sequence[str]) -> str:
    shown = ", ".join(items[:_SHOWN])
    return shown + (f", ... ({len(items)} in all)" if len(items) > _SHOWN else "")


def _where(pos: int, is_csv: bool) -> tuple[str, int | None]:
    """Return the message prefix and line of feature ``pos``, as :mod:`healthopt.data.layers` gives them."""
    return ("", pos + 2) if is_csv else (f"feature {pos + 1}: ", None)


def _name_keys(names: pd.Series, source: str, field: str, is_csv: bool) -> list[str]:
    """Return the normalised names; a blank or repeated name is an error since names are the join key."""
    keys: list[str] = []
    first: dict[str, int] = {}
    for pos, name in enumerate(names):
        prefix, line = _where(pos, is_csv)
        key = "" if pd.isna(name) else normalise_name(name)
        if not key:
            raise InputError(source, field, f"{prefix}empty hospital name", line)
        if key in first:
            also = _where(first[key], is_csv)
            seen = f"line {also[1]}" if is_csv else f"feature {first[key] + 1}"
            raise InputError(source, field, f"{prefix}duplicate hospital name {str(name)!r} (also on {seen}): "
                                            "hospitals are matched by name, so each may appear once", line)
        first[key] = pos
        keys.append(key)
    return keys


# --- districts ------------------------------------------------------------------------------


def district_at(points: Iterable[shapely.Geometry], districts: gpd.GeoDataFrame) -> list[str | None]:
    """Return the code of the first district (in ``districts`` order) covering each point, None beyond all."""
    shapes = list(zip(districts["code"], districts.geometry, strict=True))
    for _, shape in shapes:
        shapely.prepare(shape)
    return [next((code for code, shape in shapes if shape.covers(pt)), None) for pt in points]


def _code_text(value: object) -> str:
    """Return a district code as 6-digit text (GeoJSON and Shapefiles often store 140105 as 140105.0)."""
    text = str(value).strip()
    return text[:-2] if re.fullmatch(r"\d{6}\.0", text) else text


def _overlap(a: shapely.Geometry, b: shapely.Geometry) -> float:
    """Return the intersection over union of two WGS84 polygons (computed in metres)."""
    metric = gpd.GeoSeries([a, b], crs=settings.CRS_GEOGRAPHIC).to_crs(settings.CRS_METRIC)
    union = metric.iloc[0].union(metric.iloc[1]).area
    return metric.iloc[0].intersection(metric.iloc[1]).area / union if union else 0.0


def _boundary_checks(given: pd.Series, data: TaiyuanData, codes: Sequence[str], source: str, field: str) -> None:
    """Check that every study-area district is present, each roughly where the embedded one is."""
    missing = [c for c in codes if c not in given.index]
    if missing:
        names = data.districts.set_index("code")["name_zh"]
        shown = [f"{c} {names[c]}" if c in names.index else c for c in missing]
        found = sorted({str(c) for c in given.index})
        raise InputError(source, field, f"no boundary for {len(missing)} district(s) of area.districts: "
                                        f"{_listed(shown)} (codes in the layer: {_listed(found) or 'none'})")
    embedded = data.districts.set_index("code")
    for code in codes:
        share = _overlap(given[code], embedded.geometry[code])
        if share < MIN_BOUNDARY_OVERLAP:
            name = embedded.loc[code, "name_zh"]
            raise InputError(source, field, f"the boundary given for {code} ({name}) shares only {share:.0%} of "
                                            f"its area with the embedded {name}: is '{field}' the district code "
                                            "and the declared crs right?")


def _name_notes(layer: gpd.GeoDataFrame, codes: Sequence[str], data: TaiyuanData, code_col: str,
                name_field: str, file: str) -> list[str]:
    """Note study-area districts whose name in the layer is neither census name (those still win)."""
    if name_field not in layer.columns:
        return []
    given = dict(zip(layer[code_col], layer[name_field], strict=True))
    differ = []
    for row in data.districts[data.districts["code"].isin(codes)].itertuples():
        known = {normalise_name(row.name_zh).casefold(), normalise_name(row.name_en).casefold()}
        if normalise_name(given[row.code]).casefold() not in known:
            differ.append(f"{row.code} '{given[row.code]}' (census: {row.name_zh})")
    if not differ:
        return []
    return [f"Boundaries layer {file}: names in '{name_field}' differ from the census names for "
            f"{_listed(differ)}; the census names are used."]


def with_boundaries(data: TaiyuanData, path: str | Path, crs: str | int, *, codes: Sequence[str],
                    code_field: str = "adcode", name_field: str = "name",
                    layer: str | int | None = None) -> TaiyuanData:
    """Return ``data`` with the study area's district polygons taken from a user layer.

    Parameters
    ----------
    data : TaiyuanData
        The embedded dataset.
    path : str or Path
        Polygon layer (GeoPackage, GeoJSON, Shapefile), see :func:`healthopt.data.layers.read_layer`.
    crs : str or int
        Declared coordinate system.
    codes : sequence of str
        The study area's district codes: each must have one polygon in the layer.
    code_field : str
        Column with the 6-digit district code.
    name_field : str
        Column with the district name; only compared with the census names (a note when they differ).
    layer : str or int, optional
        GeoPackage layer.

    Returns
    -------
    TaiyuanData
        A copy whose ``districts`` hold the user polygons for ``codes`` (the other districts,
        names and population unchanged) and whose ``warnings`` say so.

    Raises
    ------
    InputError
        Unreadable layer, a study-area district without a polygon, or a polygon that hardly
        overlaps the embedded district of its code.
    """
    source, codes = str(path), [str(c) for c in codes]
    gdf = read_layer(path, crs=crs, kind="boundaries", required=[code_field], layer=layer,
                     id_field=code_field, count_fields=())
    gdf["_code"] = [_code_text(v) for v in gdf[code_field]]
    given = gpd.GeoSeries(gdf.geometry.to_numpy(), index=gdf["_code"].to_numpy(), crs=settings.CRS_GEOGRAPHIC)
    _boundary_checks(given, data, codes, source, code_field)
    districts = data.districts.copy()
    wanted = set(codes)
    shapes = [given[c] if c in wanted else g for c, g in zip(districts["code"], districts.geometry, strict=True)]
    districts["geometry"] = gpd.GeoSeries(shapes, index=districts.index, crs=districts.crs)
    file = Path(source).name
    notes = [f"District boundaries of {len(codes)} district(s) come from the boundaries layer {file}; "
             "district names and census populations are the embedded ones."]
    notes += _name_notes(gdf, codes, data, "_code", name_field, file)
    return replace(data, districts=districts, warnings=[*data.warnings, *notes])


# --- hospitals ------------------------------------------------------------------------------


def _read_hospitals(data: TaiyuanData, path: str | Path, crs: str | int, *, name_field: str, id_field: str,
                    capacity_field: str | None, layer: str | int | None) -> HospitalLayer:
    """Read the layer, key it by normalised name and find each point's district in ``data``."""
    gdf = read_facilities(path, crs, id_field=id_field, name_field=name_field, capacity_field=capacity_field,
                          layer=layer)
    source, is_csv = str(path), gdf.attrs.get("format") == "csv"
    keys = _name_keys(gdf["name"], source, name_field, is_csv)
    points = gpd.GeoDataFrame({
        "id": gdf["id"].to_numpy(), "name": gdf["name"].astype(str).str.strip().to_numpy(), "key": keys,
        "line": [_where(pos, is_csv)[1] for pos in range(len(gdf))],
        "district_code": district_at(gdf.geometry, data.districts),
    }, geometry=gdf.geometry.to_numpy(), crs=settings.CRS_GEOGRAPHIC)  # fmt: skip
    for column, (low, high) in EFFICIENCY_FIELDS.items():
        if column in gdf:
            points[column] = _efficiency_values(gdf[column], source, column, low, high, is_csv)
    return HospitalLayer(points, source, name_field)


#: Optional columns of a hospitals layer for the bed plan's efficiency rule (001 §四(一)2), with
#: their accepted range: bed occupancy as a share (0.82, not 82) and average stay in days.
EFFICIENCY_FIELDS: dict[str, tuple[float, float]] = {"occupancy": (0.0, 1.5), "avg_stay_days": (0.1, 365.0)}


def _efficiency_values(values: pd.Series, source: str, field: str, low: float, high: float,
                       is_csv: bool) -> np.ndarray:
    """Return a layer's occupancy or average-stay column as floats (blank: not given), checked against its range."""
    out = np.full(len(values), np.nan)
    for pos, value in enumerate(values):
        if value is None or (isinstance(value, str) and not value.strip()) or (
                isinstance(value, float) and np.isnan(value)):
            continue
        try:
            number = float(value)
        except (TypeError, ValueError):
            number = np.nan
        if not np.isfinite(number) or not low <= number <= high:
            prefix, line = _where(pos, is_csv)
            raise InputError(source, field, f"{prefix}{value!r} is not a number from {low:g} to {high:g}", line)
        out[pos] = number
    return out


def _moved_notes(table: pd.DataFrame, positions: list[int | None], layer: HospitalLayer,
                 names: pd.Series) -> list[str]:
    """Say where the layer puts a hospital in another district than the embedded table."""
    notes = []
    for row, pos in zip(table.itertuples(), positions, strict=True):
        new = None if pos is None else layer.points["district_code"].iloc[pos]
        if pos is not None and pd.notna(row.district_code) and new is not None and new != row.district_code:
            notes.append(f"{row.name_zh}: the hospitals layer puts it in {names.get(new, new)} ({new}), the "
                         f"embedded table in {names.get(row.district_code, row.district_code)} "
                         f"({row.district_code}); the bed plan uses the layer's district.")
    return notes


def with_hospitals(data: TaiyuanData, path: str | Path, crs: str | int, *, name_field: str = "name",
                   id_field: str = "id", capacity_field: str | None = None,
                   layer: str | int | None = None) -> TaiyuanData:
    """Return ``data`` with the points of a user hospitals layer, matched to the embedded hospitals by name.

    Parameters
    ----------
    data : TaiyuanData
        The embedded dataset (user boundaries already applied, if any: they decide districts).
    path : str or Path
        Point layer, see :func:`healthopt.data.layers.read_facilities` (GCJ-02 and BD-09 are converted).
    crs : str or int
        Declared coordinate system.
    name_field, id_field : str
        Columns with the hospital name (the join key: each name once) and a unique identifier.
    capacity_field : str, optional
        Beds column; checked, but the bed plan keeps the annex-2 figures (a note says so).
    layer : str or int, optional
        GeoPackage layer.

    Returns
    -------
    TaiyuanData
        A copy with ``hospital_layer`` set and, for every embedded hospital the layer names,
        ``district_code`` taken from the district holding its point (``district_quality``
        ``"user"``) and, where the layer has ``occupancy`` (share) and ``avg_stay_days``
        columns, those figures for the bed plan's efficiency rule (``efficiency_source``
        ``"layer"``).

    Raises
    ------
    InputError
        Unreadable layer, missing name column, a blank or repeated name.
    """
    found = _read_hospitals(data, path, crs, name_field=name_field, id_field=id_field,
                            capacity_field=capacity_field, layer=layer)
    table = data.hospitals.copy()
    positions = match_hospitals(found, table["name_zh"])
    names = data.districts.set_index("code")["name_zh"]
    notes = _moved_notes(table, positions, found, names)
    matched = np.array([p is not None for p in positions], dtype=bool)
    table["district_code"] = table["district_code"].astype(object)
    table.loc[matched, "district_code"] = [found.points["district_code"].iloc[p] for p in positions if p is not None]
    table.loc[matched, "district_quality"] = "user"
    for column, target in (("occupancy", "occupancy_2022"), ("avg_stay_days", "avg_stay_days_2022")):
        if column in found.points:  # the layer's own figures for the efficiency rule, where it gives them
            given = pd.Series([found.points[column].iloc[p] if p is not None else np.nan for p in positions],
                              index=table.index, dtype=float)
            old = pd.to_numeric(table[target], errors="coerce") if target in table else given * np.nan
            table[target] = given.where(given.notna(), old)
            table.loc[given.notna(), "efficiency_source"] = "layer"
    if capacity_field:
        notes.append(f"Hospitals layer {Path(found.source).name}: its bed counts ('{capacity_field}') are not used; "
                     "the bed plan starts from the 2022 beds of annex 2 (tables/hospitals.csv).")
    return replace(data, hospitals=table, hospital_layer=found, warnings=[*data.warnings, *notes])


def relocate(frame: gpd.GeoDataFrame, layer: HospitalLayer | None, name_col: str = "name_zh") -> gpd.GeoDataFrame:
    """Put the hospitals of ``frame`` that the layer names at their layer point (``location_quality`` "user").

    Parameters
    ----------
    frame : GeoDataFrame
        Hospitals placed by :func:`healthopt.data.places.proxy_points` (``location_quality``
        "proxy" or "unknown").
    layer : HospitalLayer or None
        The scenario's hospitals layer; None leaves ``frame`` as it is.
    name_col : str
        Column of ``frame`` with the hospital names.

    Returns
    -------
    GeoDataFrame
        Same rows and columns.
    """
    if layer is None or frame.empty:
        return frame
    positions = match_hospitals(layer, frame[name_col])
    points = layer.points.geometry.to_numpy()
    out = frame.copy()
    out[out.geometry.name] = gpd.GeoSeries(
        [points[p] if p is not None else g for p, g in zip(positions, frame.geometry, strict=True)],
        index=frame.index, crs=frame.crs)
    out["location_quality"] = [
        "user" if p is not None else q for p, q in zip(positions, frame["location_quality"], strict=True)]
    return out


def require_in_area(data: TaiyuanData, codes: Iterable[str]) -> None:
    """Raise when the layer puts a hospital of the bed plan outside the study area.

    The bed plan counts a located hospital's new beds in its district, so one outside the
    area would silently count for nobody (as stations outside it would serve nobody).

    Raises
    ------
    InputError
        Naming the layer, the ``geometry`` field and the first such hospital.
    """
    layer = data.hospital_layer
    if layer is None:
        return
    area = set(codes)
    positions = match_hospitals(layer, data.hospitals["name_zh"])
    outside = [p for p in positions if p is not None and layer.points["district_code"].iloc[p] not in area]
    if not outside:
        return
    first = layer.points.iloc[outside[0]]
    names = data.districts.set_index("code")["name_zh"]
    where = f"in {names[first.district_code]} {first.district_code}" if first.district_code else "in no district"
    line = None if pd.isna(first.line) else int(first.line)
    raise InputError(layer.source, "geometry", f"{len(outside)} hospitals of the bed plan lie outside the study "
                                               f"area (first: {first['name']}, {where})", line)


def hospital_notes(data: TaiyuanData, used: Sequence[str] = ()) -> list[str]:
    """Data-quality notes on the hospitals layer: hospitals it misses, features nothing uses.

    Parameters
    ----------
    data : TaiyuanData
        With ``hospital_layer`` (no notes without one).
    used : sequence of str
        Other hospital names the run looks up (the green channel's senders and receivers).

    Returns
    -------
    list of str
    """
    layer = data.hospital_layer
    if layer is None:
        return []
    file, names = Path(layer.source).name, list(data.hospitals["name_zh"])
    positions = match_hospitals(layer, names)
    missing = [n for n, p in zip(names, positions, strict=True) if p is None]
    notes = [f"Hospitals layer {file}: {len(names) - len(missing)} of {len(names)} municipal hospitals located "
             "there (location 'user')."]
    if missing:
        notes.append(f"Hospitals layer {file}: no feature named {_listed(missing)}; they keep a district-seat "
                     "proxy, or no location where their district is unknown.")
    hit = {p for p in positions + match_hospitals(layer, used) if p is not None}
    unused = [name for pos, name in enumerate(layer.points["name"]) if pos not in hit]
    if unused:
        notes.append(f"Hospitals layer {file}: {len(unused)} feature(s) match no hospital of the plans by "
                     f"'{layer.name_field}' and are not used: {_listed(unused)}.")
    return notes
