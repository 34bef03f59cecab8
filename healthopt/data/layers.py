"""Reading and validating user layers (facilities, candidate sites, demand, boundaries).

Every user layer must declare its coordinate system (``crs=``): Chinese data is often in
GCJ-02 or BD-09 and nothing in a file tells them apart from WGS84, so this module never
guesses. Layers are converted to WGS84 (EPSG:4326) with :func:`healthopt.data.crs.to_wgs84`
and checked against a box around Taiyuan and Jinzhong, which catches swapped lon/lat
columns and projected coordinates declared as degrees.

Every problem raises :class:`~healthopt.errors.InputError` naming the file, the column
and, for CSV files, the line number (header = line 1). The returned frame keeps the
source in ``gdf.attrs["source"]`` and its format in ``gdf.attrs["format"]`` so that later
steps (e.g. :func:`healthopt.demand.demand_from_layer`) can report errors the same way.

This module reads; the file limits and the checks of field values live in
:mod:`healthopt.data._checks`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pyproj

# the limits, check_layer_file and check_regular_file are re-exported (see __all__): callers find them here
from healthopt.data._checks import (
    COUNT_FIELDS,
    COUNT_MAX,
    KIND_GEOMS,
    MAX_FEATURES,
    MAX_LAYER_BYTES,
    check_bbox,
    check_counts,
    check_csv_rows,
    check_feature_count,
    check_finite,
    check_geometry,
    check_ids,
    check_layer_file,
    check_regular_file,
    check_required,
    feature_error,
)
from healthopt.data.crs import check_declared_crs, to_wgs84
from healthopt.errors import InputError

__all__ = [
    "COUNT_FIELDS",
    "COUNT_MAX",
    "MAX_FEATURES",
    "MAX_LAYER_BYTES",
    "STUDY_AREA_BBOX",
    "check_layer_file",
    "check_regular_file",
    "read_demand_layer",
    "read_facilities",
    "read_layer",
]

#: Plausible (lon_min, lat_min, lon_max, lat_max) of the study area in WGS84: Taiyuan and
#: Jinzhong span lon 111.41-114.13, lat 36.65-38.42; the margin (~40 km) admits facilities
#: just across the border (e.g. in Lüliang or Yangquan) that serve the area.
STUDY_AREA_BBOX: tuple[float, float, float, float] = (111.0, 36.3, 114.6, 38.8)

_LON_NAMES = ("lon", "lng", "long", "longitude", "x")
_LAT_NAMES = ("lat", "latitude", "y")
_VECTOR_SUFFIXES = {".gpkg", ".geojson", ".json", ".shp", ".zip"}


def read_layer(
    path: str | Path,
    *,
    crs: str | int,
    kind: str,
    required: Sequence[str] = (),
    layer: str | int | None = None,
    id_field: str | None = None,
    count_fields: Sequence[str] | None = None,
    bbox: tuple[float, float, float, float] = STUDY_AREA_BBOX,
) -> gpd.GeoDataFrame:
    """Read a user layer, convert it to WGS84 and validate it.

    Parameters
    ----------
    path : str or Path
        GeoPackage, GeoJSON, Shapefile (``.shp`` or zipped) or CSV with lon/lat columns
        (``lon``/``lng``/``longitude``/``x`` and ``lat``/``latitude``/``y``, any case).
    crs : str or int
        Declared coordinate system: ``"wgs84"``, ``"gcj02"``, ``"bd09"`` or an EPSG code.
        Mandatory; must agree with the file's own CRS metadata where it has any.
    kind : {"facilities", "sites", "demand", "boundaries"}
        Layer role: facilities and sites must be points, demand points or polygons,
        boundaries polygons.
    required : sequence of str
        Columns that must be present (matched exactly).
    layer : str or int, optional
        Layer name/index inside a GeoPackage.
    id_field : str, optional
        Column whose values must be present and unique.
    count_fields : sequence of str, optional
        Columns that must be numeric and non-negative where present; defaults to
        :data:`COUNT_FIELDS`.
    bbox : tuple of float
        Plausible WGS84 box of the study area.

    Returns
    -------
    geopandas.GeoDataFrame
        In EPSG:4326, one row per feature in file order (index 0..n-1).

    Raises
    ------
    InputError
        On any problem, naming the file and the field.
    """
    path = Path(path)
    source = str(path)
    if kind not in KIND_GEOMS:
        raise ValueError(f"unknown layer kind {kind!r}; expected one of {sorted(KIND_GEOMS)}")
    if crs is None:
        raise InputError(source, "crs", "every layer must declare its coordinate system")
    is_csv = path.suffix.lower() in {".csv", ".txt"}
    check_layer_file(path)
    gdf, file_crs = _read_csv(path) if is_csv else _read_vector(path, layer)
    declared = check_declared_crs(file_crs, crs, source)
    gdf = gdf.set_crs(None, allow_override=True) if gdf.crs is not None else gdf
    gdf = gdf.reset_index(drop=True)
    if gdf.empty:
        raise InputError(source, "features", "layer has no features")
    check_required(gdf, required, source)
    fields = COUNT_FIELDS if count_fields is None else count_fields
    for field in fields:
        if field in gdf.columns:
            gdf[field] = check_counts(gdf[field], field, source, is_csv)
    if id_field is not None:
        check_ids(gdf, id_field, source, is_csv)
    check_finite(gdf, source, is_csv)
    gdf = check_geometry(gdf, kind, source, is_csv)
    gdf = to_wgs84(gdf, declared, source=source)
    check_bbox(gdf, bbox, crs, source, is_csv)
    gdf.attrs.update({"source": source, "format": "csv" if is_csv else "vector"})
    return gdf


def read_facilities(
    path: str | Path,
    crs: str | int,
    *,
    id_field: str = "id",
    name_field: str = "name",
    capacity_field: str | None = None,
    layer: str | int | None = None,
    count_fields: Sequence[str] = (),
) -> gpd.GeoDataFrame:
    """Read existing facilities (120 stations, hospitals, health centres).

    Parameters
    ----------
    path : str or Path
        Layer file, see :func:`read_layer`.
    crs : str or int
        Declared coordinate system.
    id_field, name_field : str
        Columns with a unique identifier and a display name (required).
    capacity_field : str, optional
        Column with vehicles or beds (required when given, numeric, non-negative);
        copied to ``capacity``.
    layer : str or int, optional
        GeoPackage layer.
    count_fields : sequence of str
        More columns checked as counts where present (e.g. a stations layer's vehicles).

    Returns
    -------
    geopandas.GeoDataFrame
        EPSG:4326 points with ``id`` (str) and ``name`` plus any optional ``capacity``,
        ``vehicles``, ``beds`` and ``kind`` columns as found in the file.
    """
    required = [id_field, name_field] + ([capacity_field] if capacity_field else [])
    gdf = read_layer(
        path,
        crs=crs,
        kind="facilities",
        required=required,
        layer=layer,
        id_field=id_field,
        count_fields=sorted(COUNT_FIELDS | set(required[2:]) | set(count_fields)),
    )
    if capacity_field:
        gdf["capacity"] = gdf[capacity_field]
    gdf = gdf.rename(columns={id_field: "id", name_field: "name"})
    gdf["id"] = gdf["id"].astype(str)
    return gdf


def read_demand_layer(
    path: str | Path,
    crs: str | int,
    *,
    population_field: str = "population",
    id_field: str | None = None,
    layer: str | int | None = None,
) -> gpd.GeoDataFrame:
    """Read a user demand layer: points or polygons carrying a population count.

    Parameters
    ----------
    path : str or Path
        Layer file, see :func:`read_layer`.
    crs : str or int
        Declared coordinate system.
    population_field : str
        Column with residents (numeric, non-negative, required).
    id_field : str, optional
        Column with unique identifiers, if any.
    layer : str or int, optional
        GeoPackage layer.

    Returns
    -------
    geopandas.GeoDataFrame
        EPSG:4326 points or polygons, columns as in the file.
    """
    gdf = read_layer(
        path,
        crs=crs,
        kind="demand",
        required=[population_field],
        layer=layer,
        id_field=id_field,
        count_fields=sorted(COUNT_FIELDS | {population_field}),
    )
    if not gdf[population_field].sum() > 0:
        raise InputError(str(path), population_field, "every feature has 0 residents: there is no demand to plan for")
    return gdf


# --- reading -------------------------------------------------------------------------


def _read_vector(path: Path, layer: str | int | None) -> tuple[gpd.GeoDataFrame, pyproj.CRS | None]:
    """Read a vector file; return it and its own CRS (None when it has none)."""
    source = str(path)
    if not path.exists():
        raise InputError(source, "path", "file not found")
    if path.suffix.lower() not in _VECTOR_SUFFIXES:
        raise InputError(
            source, "format", "unsupported format; use .gpkg, .geojson, .shp or .csv with lon/lat"
        )
    check_feature_count(path, layer)
    try:
        gdf = gpd.read_file(path, layer=layer, engine="pyogrio")
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError, ValueError) as exc:
        _check_layer_name(path, layer)
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputError(source, "format", f"cannot read file: {first}") from None
    if "geometry" not in gdf or not isinstance(gdf, gpd.GeoDataFrame):
        raise InputError(source, "geometry", "file has no geometry column")
    file_crs = gdf.crs
    # GeoJSON without a "crs" member is reported as WGS84 by GDAL (RFC 7946), even for
    # old files written in projected metres: treat that label as absent metadata.
    if path.suffix.lower() in {".geojson", ".json"} and not _geojson_has_crs_member(path):
        file_crs = None
    return gdf, file_crs


def _check_layer_name(path: Path, layer: str | int | None) -> None:
    """Name the layers a file does have when the requested one is not among them."""
    if layer is None:
        return
    try:
        names = [str(n) for n in pyogrio.list_layers(path)[:, 0]]
    except (pyogrio.errors.DataSourceError, ValueError):
        return  # the file itself is unreadable: the caller says so
    missing = layer not in names if isinstance(layer, str) else not 0 <= layer < len(names)
    if missing:
        raise InputError(
            str(path), "layer", f"no layer {layer!r} in the file (layers: {', '.join(names) or 'none'})"
        )


def _geojson_has_crs_member(path: Path) -> bool:
    """Tell whether a GeoJSON file carries an explicit (pre-RFC 7946) ``crs`` member."""
    with path.open("rb") as fh:
        head = fh.read(65536).decode("utf-8", errors="ignore")
    return re.search(r'"crs"\s*:\s*\{', head) is not None


def _read_csv(path: Path) -> tuple[gpd.GeoDataFrame, None]:
    """Read a CSV with lon/lat columns into points; CSV carries no CRS metadata."""
    source = str(path)
    if not path.exists():
        raise InputError(source, "path", "file not found")
    check_csv_rows(path)
    try:
        df = pd.read_csv(path, encoding="utf-8-sig", dtype=str, keep_default_na=False)
    except pd.errors.EmptyDataError:
        raise InputError(source, "format", "file is empty (not even a header line)") from None
    except UnicodeDecodeError as exc:
        # Excel saves Chinese CSVs as GBK unless told otherwise ("CSV UTF-8").
        raise InputError(
            source, "encoding",
            f"cannot read CSV (UTF-8 expected): byte 0x{exc.object[exc.start]:02x} at position {exc.start} "
            "is not UTF-8; save the file as 'CSV UTF-8'",
        ) from None
    except pd.errors.ParserError as exc:
        first = str(exc).splitlines()[0]
        raise InputError(source, "format", f"cannot read CSV: {first}") from None
    df.columns = [str(c).strip() for c in df.columns]
    lon_col = _find_column(df.columns, _LON_NAMES, source, "longitude")
    lat_col = _find_column(df.columns, _LAT_NAMES, source, "latitude")
    lon = _numeric_column(df[lon_col], lon_col, source, allow_blank=False)
    lat = _numeric_column(df[lat_col], lat_col, source, allow_blank=False)
    rest = df.drop(columns=[lon_col, lat_col])
    rest = rest.where(rest != "", np.nan)  # blank cells are missing (replace() warns on all-blank columns)
    # Columns that are entirely numbers become numbers; ids stay text when mixed.
    for col in rest.columns:
        converted = pd.to_numeric(rest[col], errors="coerce")
        if converted.notna().sum() == rest[col].notna().sum() and rest[col].notna().any():
            rest[col] = converted if not _looks_like_id(col) else rest[col]
    return gpd.GeoDataFrame(rest, geometry=gpd.points_from_xy(lon, lat), crs=None), None


def _looks_like_id(col: str) -> bool:
    """Tell whether a column holds identifiers, kept as text (adcodes, leading zeros)."""
    low = col.lower()
    return low in {"id", "code", "adcode", "fid"} or low.endswith(("_id", "_code"))


def _find_column(columns: Sequence[str], names: Sequence[str], source: str, what: str) -> str:
    """Return the single column matching one of ``names`` (case-insensitive)."""
    found = [c for c in columns if c.lower() in names]
    if not found:
        raise InputError(
            source, what, f"no {what} column; expected one of {', '.join(names)} (any case)"
        )
    if len(found) > 1:
        raise InputError(source, what, f"ambiguous {what} columns {found}; keep only one")
    return found[0]


def _numeric_column(values: pd.Series, field: str, source: str, *, allow_blank: bool) -> pd.Series:
    """Parse a CSV column as float; report the first bad cell with its line number."""
    text = values.astype(str).str.strip()
    num = pd.to_numeric(text.where(text != ""), errors="coerce")
    bad = num.isna() & ((text != "") | (not allow_blank))
    if bad.any():
        pos = int(np.flatnonzero(bad.to_numpy())[0])
        raise feature_error(source, field, f"not a number: {values.iloc[pos]!r}", pos=pos, is_csv=True)
    return num
