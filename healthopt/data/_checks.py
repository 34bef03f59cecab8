"""Checks of user layers: file limits before any reader opens a file, then field values.

Plumbing for :mod:`healthopt.data.layers` (which re-exports the limits and
:func:`check_layer_file`) and the road reader of :mod:`healthopt.network`:

- file checks: a regular file of a readable size (:data:`MAX_LAYER_BYTES`, uncompressed
  for a zip) holding at most :data:`MAX_FEATURES` features, counted from metadata or
  lines before anything is parsed;
- value checks on a read frame: required columns, counts (finite, >= 0, plausible),
  unique ids, finite coordinates, geometry type per layer kind (with repair of invalid
  polygons) and the study-area box.

Every problem raises :class:`~healthopt.errors.InputError` naming the file, the field and,
for CSV files, the line number (header = line 1).
"""

from __future__ import annotations

import errno
import os
import stat
import zipfile
from collections.abc import Sequence
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely

from healthopt.errors import InputError

#: Columns that count people or resources: must be numeric and non-negative.
COUNT_FIELDS: frozenset[str] = frozenset(
    {"population", "capacity", "vehicles", "beds", "ambulances", "staff"}
)

#: Largest plausible value of a count in one feature: a layer that says more is wrong (a
#: units mix-up, a cell of another column) and would overflow the integer arithmetic of
#: the plans (a capacity of 1e20 became "at most -9223372036854775544" vehicles).
#: Population: all of Taiyuan and Jinzhong hold 8.7 M residents.
COUNT_MAX: dict[str, float] = {"population": 100_000_000.0}

#: Default bound of the other count fields (vehicles, beds, capacity, staff, ...).
COUNT_MAX_DEFAULT = 1_000_000.0

#: Size budget of one user layer, in bytes on disk (and, for a ``.zip``, uncompressed).
#: 256 MB of CSV is ~5 M rows; the point-count limit below bites long before that.
MAX_LAYER_BYTES = 256 * 1024 * 1024

#: Feature budget of one user layer. Every demand point is a column of the travel-time
#: matrix and of the ambulance model: measured on 迎泽区 (140106) with ``time_limit_s: 20``
#: on a shared 2-core machine, 50 k points ran in 14 s (0.47 GB), 100 k in 10 s (0.72 GB),
#: 200 k were still building the ambulance model after 5 minutes (0.9 GB), and 1 M ran
#: more than 600 s at 3 GB. The default grid of all 21 districts has 34,011 cells.
MAX_FEATURES = 100_000

#: Geometry types allowed per layer kind.
KIND_GEOMS: dict[str, frozenset[str]] = {
    "facilities": frozenset({"Point"}),
    "sites": frozenset({"Point"}),
    "demand": frozenset({"Point", "Polygon"}),
    "boundaries": frozenset({"Polygon"}),
}


# --- files ---------------------------------------------------------------------------


def check_regular_file(path: Path, *, noun: str = "layer") -> os.stat_result:
    """Refuse a path that is not a regular file (a FIFO would hang a reader, a device fill memory).

    Parameters
    ----------
    path : Path
        The file (symbolic links are followed).
    noun : str
        What the file is, for the message ("layer", "road network").

    Returns
    -------
    os.stat_result
        The file's status, for further checks.

    Raises
    ------
    InputError
        Naming the file and ``path``.
    """
    source = str(path)
    try:
        info = path.stat()  # follows symbolic links
    except FileNotFoundError:
        raise InputError(source, "path", "file not found") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise InputError(source, "path", "symbolic link loop") from None
        raise InputError(source, "path", f"cannot read the file: {exc.strerror}") from None
    if stat.S_ISDIR(info.st_mode):
        raise InputError(source, "path", f"is a folder, not a {noun} file")
    if not stat.S_ISREG(info.st_mode):
        kind = "a FIFO (named pipe)" if stat.S_ISFIFO(info.st_mode) else "a device or special file"
        raise InputError(source, "path", f"is {kind}, not a regular file")
    return info


def check_layer_file(path: Path, *, max_bytes: int = MAX_LAYER_BYTES, noun: str = "layer") -> None:
    """Refuse what is not a regular file of a readable size, before any reader opens it.

    A FIFO or ``/dev/zero`` would hang or fill memory, a folder gives a bare OS error, and
    the size budget (:data:`MAX_LAYER_BYTES`, uncompressed for a zip) keeps a 2 MB archive
    holding a 1 GB CSV from being unpacked at all.

    Parameters
    ----------
    path : Path
        The layer file (symbolic links are followed).
    max_bytes : int
        Size limit of the file (uncompressed for a zip).
    noun : str
        What the file is, for the message ("layer", "road network").

    Raises
    ------
    InputError
        Naming the file and ``path`` (or ``format`` for an unreadable archive).
    """
    source = str(path)
    info = check_regular_file(path, noun=noun)
    if info.st_size > max_bytes:
        raise InputError(source, "path", f"file of {info.st_size / 2**20:,.0f} MB is larger than the "
                                         f"{max_bytes / 2**20:,.0f} MB a {noun} may have")
    if not os.access(path, os.R_OK):
        raise InputError(source, "path", "permission denied")
    if path.suffix.lower() == ".zip":
        _check_zip(path)


def _check_zip(path: Path) -> None:
    """Refuse an archive that unpacks to more than :data:`MAX_LAYER_BYTES` (from its directory)."""
    source = str(path)
    try:
        with zipfile.ZipFile(path) as archive:
            unpacked = sum(item.file_size for item in archive.infolist())
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise InputError(source, "format", f"not a readable zip archive: {exc}") from None
    if unpacked > MAX_LAYER_BYTES:
        raise InputError(source, "path", f"archive unpacks to {unpacked / 2**20:,.0f} MB, more than the "
                                         f"{MAX_LAYER_BYTES / 2**20:,.0f} MB a layer may have")


def _too_many(source: str, count: int) -> InputError:
    return InputError(source, "features", f"{count:,} features, more than the {MAX_FEATURES:,} a layer may have "
                                          "(aggregate points to a grid or to building blocks)")


def check_feature_count(path: Path, layer: str | int | None) -> None:
    """Count features from the file's metadata (no geometry read) and refuse too many."""
    try:
        count = int(pyogrio.read_info(path, layer=layer).get("features", -1))
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError, ValueError):
        return  # the reader names the problem
    if count > MAX_FEATURES:
        raise _too_many(str(path), count)


def check_csv_rows(path: Path) -> None:
    """Count the lines of a CSV in blocks before parsing it; refuse too many.

    The file is at most :data:`MAX_LAYER_BYTES` (checked before), which takes well under a
    second to scan, against minutes to parse into a frame.
    """
    lines = 0
    last = b"\n"
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            lines += block.count(b"\n")
            last = block[-1:]
    rows = lines - 1 + (last != b"\n")  # the header is no feature; the last line may lack its newline
    if rows > MAX_FEATURES:
        raise _too_many(str(path), rows)


# --- values --------------------------------------------------------------------------


def feature_error(source: str | None, field: str, message: str, *, pos: int, is_csv: bool) -> InputError:
    """Return the error for feature ``pos`` (0-based): CSV gets its line number, others a prefix.

    Parameters
    ----------
    source : str or None
        The file.
    field : str
        The column (or ``"geometry"``).
    message : str
        What is wrong.
    pos : int
        Row of the feature in the layer.
    is_csv : bool
        CSV files are located by line (header on line 1), other files by feature number.

    Returns
    -------
    InputError
        To be raised by the caller.
    """
    prefix = "" if is_csv else f"feature {pos + 1}: "
    return InputError(source, field, f"{prefix}{message}", line=pos + 2 if is_csv else None)


def check_required(gdf: gpd.GeoDataFrame, required: Sequence[str], source: str) -> None:
    for field in required:
        if field not in gdf.columns:
            have = ", ".join(c for c in gdf.columns if c != gdf.geometry.name)
            raise InputError(source, field, f"required column missing (columns: {have})")


def check_counts(values: pd.Series, field: str, source: str, is_csv: bool) -> pd.Series:
    """Check that counts (population, beds, ...) are finite numbers >= 0, without blanks."""
    num = pd.to_numeric(values, errors="coerce")
    blank = (values.isna() | (values.astype(str).str.strip() == "")).to_numpy()
    # "inf" parses as a number but would break every sum and rounding downstream.
    for bad, what in ((blank, "missing value"), (num.isna().to_numpy(), "not a number"),
                      (~np.isfinite(num.to_numpy(dtype=float)), "not a finite number")):
        if bad.any():
            pos = int(np.flatnonzero(bad)[0])
            shown = "" if what == "missing value" else f": {_show(values.iloc[pos])}"
            raise feature_error(source, field, f"{what}{shown}", pos=pos, is_csv=is_csv)
    neg = (num < 0).to_numpy()
    if neg.any():
        pos = int(np.flatnonzero(neg)[0])
        raise feature_error(
            source,
            field,
            f"negative count {num.iloc[pos]:g}",
            pos=pos, is_csv=is_csv,
        )
    # A column the scenario names (population_field, capacity_field) may count people or
    # vehicles: it gets the wider bound, which still refuses values that overflow.
    most = COUNT_MAX.get(field, COUNT_MAX_DEFAULT if field in COUNT_FIELDS else COUNT_MAX["population"])
    big = (num > most).to_numpy()
    if big.any():
        pos = int(np.flatnonzero(big)[0])
        raise feature_error(
            source,
            field,
            f"count {num.iloc[pos]:g} is beyond the plausible maximum {most:,.0f}",
            pos=pos, is_csv=is_csv,
        )
    return num


def _show(value: object) -> str:
    """Render a cell value as the user wrote it: numbers plain (``inf``, not ``np.float64(inf)``)."""
    return f"{float(value):g}" if isinstance(value, int | float | np.number) else repr(value)


def check_ids(gdf: gpd.GeoDataFrame, id_field: str, source: str, is_csv: bool) -> None:
    if id_field not in gdf.columns:
        raise InputError(source, id_field, "id column missing")
    ids = gdf[id_field]
    blank = (ids.isna() | (ids.astype(str).str.strip() == "")).to_numpy()
    if blank.any():
        pos = int(np.flatnonzero(blank)[0])
        raise feature_error(source, id_field, "empty id", pos=pos, is_csv=is_csv)
    dup = ids.astype(str).duplicated().to_numpy()
    if dup.any():
        pos = int(np.flatnonzero(dup)[0])
        raise feature_error(
            source,
            id_field,
            f"duplicate id {ids.iloc[pos]!r}",
            pos=pos, is_csv=is_csv,
        )


def check_finite(gdf: gpd.GeoDataFrame, source: str, is_csv: bool) -> None:
    """Refuse NaN or infinite coordinates: GEOS fails on them, and NaN passes every box test."""
    xy, owner = shapely.get_coordinates(np.asarray(gdf.geometry.values), return_index=True)
    bad = ~np.isfinite(xy).all(axis=1)
    if bad.any():
        pos = int(owner[np.flatnonzero(bad)[0]])
        x, y = xy[np.flatnonzero(bad)[0]]
        raise feature_error(source, "geometry", f"coordinate is not a finite number (x {x:g}, y {y:g})",
                            pos=pos, is_csv=is_csv)


def check_geometry(
    gdf: gpd.GeoDataFrame, kind: str, source: str, is_csv: bool
) -> gpd.GeoDataFrame:
    """Repair invalid geometries, reduce single-part multis and check the type."""
    geoms = np.asarray(gdf.geometry.values)
    missing = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    if missing.any():
        pos = int(np.flatnonzero(missing)[0])
        raise feature_error(source, "geometry", "empty geometry", pos=pos, is_csv=is_csv)
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
            raise feature_error(
                source,
                "geometry",
                "invalid geometry that cannot be repaired",
                pos=pos, is_csv=is_csv,
            )
    geoms = _explode_single_part(geoms)
    types = shapely.get_type_id(geoms)
    names = np.array(["Point" if t == 0 else "Polygon" if t in (3, 6) else "other" for t in types])
    allowed = KIND_GEOMS[kind]
    bad = ~np.isin(names, list(allowed))
    if bad.any():
        pos = int(np.flatnonzero(bad)[0])
        raise feature_error(
            source,
            "geometry",
            f"{kind} must be {' or '.join(sorted(allowed)).lower()}s, "
            f"found {geoms[pos].geom_type}",
            pos=pos, is_csv=is_csv,
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


def check_bbox(
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
    raise feature_error(
        source,
        "geometry",
        f"{outside.sum()} feature(s) outside the Taiyuan/Jinzhong "
        f"study area (first at lon {x:.5f}, lat {y:.5f}): {hint}",
        pos=pos, is_csv=is_csv,
    )
