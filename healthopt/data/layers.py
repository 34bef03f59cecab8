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
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely

from healthopt.data.crs import check_declared_crs, to_wgs84
from healthopt.errors import InputError

__all__ = [
    "COUNT_FIELDS",
    "STUDY_AREA_BBOX",
    "read_demand_layer",
    "read_facilities",
    "read_layer",
    "read_sites",
]

#: Plausible (lon_min, lat_min, lon_max, lat_max) of the study area in WGS84: Taiyuan and
#: Jinzhong span lon 111.41-114.13, lat 36.65-38.42; the margin (~40 km) admits facilities
#: just across the border (e.g. in Lüliang or Yangquan) that serve the area.
STUDY_AREA_BBOX: tuple[float, float, float, float] = (111.0, 36.3, 114.6, 38.8)

#: Columns that count people or resources: must be numeric and non-negative.
COUNT_FIELDS: frozenset[str] = frozenset(
    {"population", "capacity", "vehicles", "beds", "ambulances", "staff"}
)

#: Geometry types allowed per layer kind.
_KIND_GEOMS: dict[str, frozenset[str]] = {
    "facilities": frozenset({"Point"}),
    "sites": frozenset({"Point"}),
    "demand": frozenset({"Point", "Polygon"}),
    "boundaries": frozenset({"Polygon"}),
}

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
    if kind not in _KIND_GEOMS:
        raise ValueError(f"unknown layer kind {kind!r}; expected one of {sorted(_KIND_GEOMS)}")
    if crs is None:
        raise InputError(source, "crs", "every layer must declare its coordinate system")
    is_csv = path.suffix.lower() in {".csv", ".txt"}
    gdf, file_crs = _read_csv(path) if is_csv else _read_vector(path, layer)
    declared = check_declared_crs(file_crs, crs, source)
    gdf = gdf.set_crs(None, allow_override=True) if gdf.crs is not None else gdf
    gdf = gdf.reset_index(drop=True)
    if gdf.empty:
        raise InputError(source, "features", "layer has no features")
    _check_required(gdf, required, source)
    fields = COUNT_FIELDS if count_fields is None else count_fields
    for field in fields:
        if field in gdf.columns:
            gdf[field] = _check_counts(gdf[field], field, source, is_csv)
    if id_field is not None:
        _check_ids(gdf, id_field, source, is_csv)
    gdf = _check_geometry(gdf, kind, source, is_csv)
    gdf = to_wgs84(gdf, declared, source=source)
    _check_bbox(gdf, bbox, crs, source, is_csv)
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
        count_fields=sorted(COUNT_FIELDS | set(required[2:])),
    )
    if capacity_field:
        gdf["capacity"] = gdf[capacity_field]
    gdf = gdf.rename(columns={id_field: "id", name_field: "name"})
    gdf["id"] = gdf["id"].astype(str)
    return gdf


def read_sites(
    path: str | Path,
    crs: str | int,
    *,
    id_field: str = "id",
    layer: str | int | None = None,
) -> gpd.GeoDataFrame:
    """Read candidate sites for new facilities.

    Parameters
    ----------
    path : str or Path
        Layer file, see :func:`read_layer`.
    crs : str or int
        Declared coordinate system.
    id_field : str
        Column with a unique site identifier (required).
    layer : str or int, optional
        GeoPackage layer.

    Returns
    -------
    geopandas.GeoDataFrame
        EPSG:4326 points with ``id`` (str) and the file's other columns.
    """
    gdf = read_layer(
        path, crs=crs, kind="sites", required=[id_field], layer=layer, id_field=id_field
    )
    gdf = gdf.rename(columns={id_field: "id"})
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
    return read_layer(
        path,
        crs=crs,
        kind="demand",
        required=[population_field],
        layer=layer,
        id_field=id_field,
        count_fields=sorted(COUNT_FIELDS | {population_field}),
    )


# --- reading -------------------------------------------------------------------------


def _read_vector(path: Path, layer: str | int | None) -> tuple[gpd.GeoDataFrame, object | None]:
    """Read a vector file; return it and its own CRS (None when it has none)."""
    source = str(path)
    if not path.exists():
        raise InputError(source, "path", "file not found")
    if path.suffix.lower() not in _VECTOR_SUFFIXES:
        raise InputError(
            source, "format", "unsupported format; use .gpkg, .geojson, .shp or .csv with lon/lat"
        )
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
    rest = df.drop(columns=[lon_col, lat_col]).replace("", np.nan)
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
        raise InputError(
            source, field, f"not a number: {values.iloc[pos]!r}", line=_line(pos, True)
        )
    return num


# --- validation ----------------------------------------------------------------------


def _line(pos: int, is_csv: bool) -> int | None:
    """CSV line number of row ``pos`` (0-based, header on line 1); None for other files."""
    return pos + 2 if is_csv else None


def _where(pos: int, is_csv: bool) -> str:
    """Message prefix locating a feature in non-CSV files (CSV uses the line number)."""
    return "" if is_csv else f"feature {pos + 1}: "


def _check_required(gdf: gpd.GeoDataFrame, required: Sequence[str], source: str) -> None:
    for field in required:
        if field not in gdf.columns:
            have = ", ".join(c for c in gdf.columns if c != gdf.geometry.name)
            raise InputError(source, field, f"required column missing (columns: {have})")


def _check_counts(values: pd.Series, field: str, source: str, is_csv: bool) -> pd.Series:
    """Check that counts (population, beds, ...) are finite numbers >= 0, without blanks."""
    num = pd.to_numeric(values, errors="coerce")
    blank = (values.isna() | (values.astype(str).str.strip() == "")).to_numpy()
    # "inf" parses as a number but would break every sum and rounding downstream.
    for bad, what in ((blank, "missing value"), (num.isna().to_numpy(), "not a number"),
                      (~np.isfinite(num.to_numpy(dtype=float)), "not a finite number")):
        if bad.any():
            pos = int(np.flatnonzero(bad)[0])
            shown = "" if what == "missing value" else f": {_show(values.iloc[pos])}"
            raise InputError(
                source, field, f"{_where(pos, is_csv)}{what}{shown}", line=_line(pos, is_csv)
            )
    neg = (num < 0).to_numpy()
    if neg.any():
        pos = int(np.flatnonzero(neg)[0])
        raise InputError(
            source,
            field,
            f"{_where(pos, is_csv)}negative count {num.iloc[pos]:g}",
            line=_line(pos, is_csv),
        )
    return num


def _show(value: object) -> str:
    """Render a cell value as the user wrote it: numbers plain (``inf``, not ``np.float64(inf)``)."""
    return f"{float(value):g}" if isinstance(value, int | float | np.number) else repr(value)


def _check_ids(gdf: gpd.GeoDataFrame, id_field: str, source: str, is_csv: bool) -> None:
    if id_field not in gdf.columns:
        raise InputError(source, id_field, "id column missing")
    ids = gdf[id_field]
    blank = (ids.isna() | (ids.astype(str).str.strip() == "")).to_numpy()
    if blank.any():
        pos = int(np.flatnonzero(blank)[0])
        raise InputError(
            source, id_field, f"{_where(pos, is_csv)}empty id", line=_line(pos, is_csv)
        )
    dup = ids.astype(str).duplicated().to_numpy()
    if dup.any():
        pos = int(np.flatnonzero(dup)[0])
        raise InputError(
            source,
            id_field,
            f"{_where(pos, is_csv)}duplicate id {ids.iloc[pos]!r}",
            line=_line(pos, is_csv),
        )


def _check_geometry(
    gdf: gpd.GeoDataFrame, kind: str, source: str, is_csv: bool
) -> gpd.GeoDataFrame:
    """Repair invalid geometries, reduce single-part multis and check the type."""
    geoms = np.asarray(gdf.geometry.values)
    missing = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    if missing.any():
        pos = int(np.flatnonzero(missing)[0])
        raise InputError(
            source, "geometry", f"{_where(pos, is_csv)}empty geometry", line=_line(pos, is_csv)
        )
    invalid = ~shapely.is_valid(geoms)
    if invalid.any():
        # make_valid may return a GeometryCollection: keep only the polygonal part.
        fixed = shapely.make_valid(geoms[invalid])
        fixed = np.array([_polygonal_part(g) for g in fixed], dtype=object)
        geoms = geoms.copy()
        geoms[invalid] = fixed
        empty = shapely.is_empty(geoms)
        if empty.any():
            pos = int(np.flatnonzero(empty)[0])
            raise InputError(
                source,
                "geometry",
                f"{_where(pos, is_csv)}invalid geometry that cannot be repaired",
                line=_line(pos, is_csv),
            )
    geoms = _explode_single_part(geoms)
    types = shapely.get_type_id(geoms)
    names = np.array(["Point" if t == 0 else "Polygon" if t in (3, 6) else "other" for t in types])
    allowed = _KIND_GEOMS[kind]
    bad = ~np.isin(names, list(allowed))
    if bad.any():
        pos = int(np.flatnonzero(bad)[0])
        raise InputError(
            source,
            "geometry",
            f"{_where(pos, is_csv)}{kind} must be {' or '.join(sorted(allowed)).lower()}s, "
            f"found {geoms[pos].geom_type}",
            line=_line(pos, is_csv),
        )
    if len(set(names)) > 1:
        raise InputError(source, "geometry", f"{kind} layer mixes points and polygons")
    out = gdf.copy()
    out[gdf.geometry.name] = gpd.GeoSeries(geoms, index=gdf.index)
    return out


def _polygonal_part(geom: shapely.Geometry) -> shapely.Geometry:
    """Return the polygons of a repaired geometry (empty when none are left).

    A polygon without area (all corners on one line) "repairs" to lines: that is a
    different feature, not a fixed one, so it counts as unrepairable.
    """
    if geom.geom_type in ("Polygon", "MultiPolygon"):
        return geom
    parts = shapely.get_parts(geom)
    polys = [g for g in parts if g.geom_type in ("Polygon", "MultiPolygon")]
    return shapely.union_all(polys) if polys else shapely.Polygon()


def _explode_single_part(geoms: np.ndarray) -> np.ndarray:
    """MultiPoints with one point become Points (common in Shapefile/GPKG exports)."""
    geoms = geoms.copy()
    multi_point = shapely.get_type_id(geoms) == 4
    single = multi_point & (shapely.get_num_geometries(geoms) == 1)
    geoms[single] = shapely.get_geometry(geoms[single], 0)
    return geoms


def _check_bbox(
    gdf: gpd.GeoDataFrame,
    bbox: tuple[float, float, float, float],
    declared: str | int,
    source: str,
    is_csv: bool,
) -> None:
    """Every feature must fall in the study-area box; hint at the likely cause."""
    b = gdf.geometry.bounds.to_numpy()
    outside = (b[:, 0] < bbox[0]) | (b[:, 1] < bbox[1]) | (b[:, 2] > bbox[2]) | (b[:, 3] > bbox[3])
    if not outside.any():
        return
    pos = int(np.flatnonzero(outside)[0])
    x, y = float(b[pos, 0]), float(b[pos, 1])
    if bbox[1] <= x <= bbox[3] and bbox[0] <= y <= bbox[2]:
        hint = "longitude and latitude look swapped"
    elif abs(x) > 180 or abs(y) > 90:
        hint = f"coordinates look projected (metres); is crs={declared!r} right?"
    else:
        hint = f"check the declared crs={declared!r} and the lon/lat columns"
    raise InputError(
        source,
        "geometry",
        f"{_where(pos, is_csv)}{outside.sum()} feature(s) outside the Taiyuan/Jinzhong "
        f"study area (first at lon {x:.5f}, lat {y:.5f}): {hint}",
        line=_line(pos, is_csv),
    )
