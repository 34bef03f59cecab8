"""Coordinate systems used by Chinese planners, and conversion to WGS84.

Points copied from Amap (高德) or Tencent maps are in GCJ-02, points from Baidu maps in
BD-09; both are obfuscated versions of WGS84 that shift positions in Taiyuan by about
560 m (GCJ-02) and 1 km (BD-09). OpenStreetMap and every layer of this project are in
WGS84 (EPSG:4326), so every user layer must declare its coordinate system and is
converted with :func:`to_wgs84`.

The GCJ-02 and BD-09 formulas are the widely published ones (e.g. the
``wandergis/coordtransform`` library). The forward GCJ-02 transform has no closed-form
inverse; :func:`gcj02_to_wgs84` inverts it by fixed-point iteration to about 1e-9°
instead of the common one-step approximation, which leaves errors of 1-2 m. Points
outside mainland China's bounding box are left unchanged, as the obfuscation only
applies inside China.
"""

from __future__ import annotations

from collections.abc import Callable

import geopandas as gpd
import numpy as np
import pyproj
import shapely
from numpy.typing import ArrayLike, NDArray

from healthopt.errors import InputError
from healthopt.settings import CRS_GEOGRAPHIC

__all__ = [
    "BD09",
    "GCJ02",
    "WGS84",
    "bd09_to_gcj02",
    "bd09_to_wgs84",
    "check_declared_crs",
    "gcj02_to_bd09",
    "gcj02_to_wgs84",
    "normalize_crs",
    "out_of_china",
    "to_wgs84",
    "union_wgs84",
    "wgs84_to_bd09",
    "wgs84_to_gcj02",
]

WGS84 = "wgs84"
GCJ02 = "gcj02"
BD09 = "bd09"

#: Names accepted for the two Chinese obfuscated systems (lower case, no spaces).
_ALIASES: dict[str, str] = {
    "wgs84": WGS84,
    "wgs-84": WGS84,
    "wgs_84": WGS84,
    "gps": WGS84,
    "gcj02": GCJ02,
    "gcj-02": GCJ02,
    "gcj_02": GCJ02,
    "gcj": GCJ02,
    "amap": GCJ02,
    "gaode": GCJ02,
    "tencent": GCJ02,
    "mars": GCJ02,
    "bd09": BD09,
    "bd-09": BD09,
    "bd_09": BD09,
    "bd09ll": BD09,
    "baidu": BD09,
}

# Krasovsky 1940 ellipsoid, as used by the GCJ-02 algorithm.
_A = 6378245.0
_EE = 0.00669342162296594323
_X_PI = np.pi * 3000.0 / 180.0
_INVERSE_TOL_DEG = 1e-10
_INVERSE_MAX_ITER = 30

FloatArray = NDArray[np.float64]


def out_of_china(lon: ArrayLike, lat: ArrayLike) -> NDArray[np.bool_]:
    """Return True where a point lies outside the box in which GCJ-02 applies.

    Parameters
    ----------
    lon, lat : array_like
        Longitudes and latitudes in degrees.

    Returns
    -------
    numpy.ndarray of bool
    """
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    return (lon < 72.004) | (lon > 137.8347) | (lat < 0.8293) | (lat > 55.8271)


def _delta_lat(x: FloatArray, y: FloatArray) -> FloatArray:
    ret = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * np.sqrt(np.abs(x))
    ret += (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    ret += (20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
    ret += (160.0 * np.sin(y / 12.0 * np.pi) + 320.0 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0
    return ret


def _delta_lon(x: FloatArray, y: FloatArray) -> FloatArray:
    ret = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * np.sqrt(np.abs(x))
    ret += (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    ret += (20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
    ret += (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0
    return ret


def _gcj_offset(lon: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Return the GCJ-02 shift (dlon, dlat) in degrees at WGS84 ``lon, lat``."""
    dlat = _delta_lat(lon - 105.0, lat - 35.0)
    dlon = _delta_lon(lon - 105.0, lat - 35.0)
    radlat = lat / 180.0 * np.pi
    magic = 1.0 - _EE * np.sin(radlat) ** 2
    sqrtmagic = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1.0 - _EE)) / (magic * sqrtmagic) * np.pi)
    dlon = (dlon * 180.0) / (_A / sqrtmagic * np.cos(radlat) * np.pi)
    return dlon, dlat


def _as_arrays(lon: ArrayLike, lat: ArrayLike) -> tuple[FloatArray, FloatArray]:
    lon_a, lat_a = np.broadcast_arrays(np.asarray(lon, dtype=float), np.asarray(lat, dtype=float))
    return lon_a.astype(float, copy=True), lat_a.astype(float, copy=True)


def wgs84_to_gcj02(lon: ArrayLike, lat: ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Convert WGS84 longitudes/latitudes to GCJ-02 (Amap, Tencent).

    Parameters
    ----------
    lon, lat : array_like
        WGS84 coordinates in degrees (any broadcastable shapes).

    Returns
    -------
    tuple of numpy.ndarray
        GCJ-02 ``(lon, lat)``; points outside China are returned unchanged.
    """
    lon_a, lat_a = _as_arrays(lon, lat)
    dlon, dlat = _gcj_offset(lon_a, lat_a)
    outside = out_of_china(lon_a, lat_a)
    return np.where(outside, lon_a, lon_a + dlon), np.where(outside, lat_a, lat_a + dlat)


def _invert(
    forward: Callable[[FloatArray, FloatArray], tuple[FloatArray, FloatArray]],
    lon: FloatArray,
    lat: FloatArray,
    *,
    start: tuple[FloatArray, FloatArray],
) -> tuple[FloatArray, FloatArray]:
    """Solve ``forward(x, y) == (lon, lat)`` by fixed-point iteration from ``start``.

    The offsets are small and vary slowly with position, so subtracting the forward error
    converges to :data:`_INVERSE_TOL_DEG` in a few steps; :data:`_INVERSE_MAX_ITER` bounds
    the loop for input where it would not.
    """
    x, y = start[0].copy(), start[1].copy()
    for _ in range(_INVERSE_MAX_ITER):
        f_lon, f_lat = forward(x, y)
        e_lon, e_lat = f_lon - lon, f_lat - lat
        x -= e_lon
        y -= e_lat
        if x.size == 0 or max(np.nanmax(np.abs(e_lon)), np.nanmax(np.abs(e_lat))) < _INVERSE_TOL_DEG:
            break
    return x, y


def gcj02_to_wgs84(lon: ArrayLike, lat: ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Convert GCJ-02 longitudes/latitudes to WGS84 by iterative inversion.

    The forward transform is a smooth shift of a few hundred metres, so the fixed-point
    iteration ``w <- w - (forward(w) - g)`` converges in 3-5 steps to ~1e-10°.

    Parameters
    ----------
    lon, lat : array_like
        GCJ-02 coordinates in degrees.

    Returns
    -------
    tuple of numpy.ndarray
        WGS84 ``(lon, lat)``; points outside China are returned unchanged.
    """
    g_lon, g_lat = _as_arrays(lon, lat)
    w_lon, w_lat = _invert(wgs84_to_gcj02, g_lon, g_lat, start=(g_lon, g_lat))
    outside = out_of_china(g_lon, g_lat)
    return np.where(outside, g_lon, w_lon), np.where(outside, g_lat, w_lat)


def gcj02_to_bd09(lon: ArrayLike, lat: ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Convert GCJ-02 longitudes/latitudes to BD-09 (Baidu ``bd09ll``).

    Parameters
    ----------
    lon, lat : array_like
        GCJ-02 coordinates in degrees.

    Returns
    -------
    tuple of numpy.ndarray
        BD-09 ``(lon, lat)``.
    """
    x, y = _as_arrays(lon, lat)
    z = np.sqrt(x * x + y * y) + 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) + 0.000003 * np.cos(x * _X_PI)
    return z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006


def bd09_to_gcj02(lon: ArrayLike, lat: ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Convert BD-09 longitudes/latitudes to GCJ-02.

    Starts from the usual closed-form approximation and refines it by fixed-point
    iteration so that :func:`gcj02_to_bd09` of the result matches the input to ~1e-10°.

    Parameters
    ----------
    lon, lat : array_like
        BD-09 coordinates in degrees.

    Returns
    -------
    tuple of numpy.ndarray
        GCJ-02 ``(lon, lat)``.
    """
    b_lon, b_lat = _as_arrays(lon, lat)
    x, y = b_lon - 0.0065, b_lat - 0.006
    z = np.sqrt(x * x + y * y) - 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) - 0.000003 * np.cos(x * _X_PI)
    return _invert(gcj02_to_bd09, b_lon, b_lat, start=(z * np.cos(theta), z * np.sin(theta)))


def wgs84_to_bd09(lon: ArrayLike, lat: ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Convert WGS84 longitudes/latitudes to BD-09 (via GCJ-02).

    Parameters
    ----------
    lon, lat : array_like
        WGS84 coordinates in degrees.

    Returns
    -------
    tuple of numpy.ndarray
        BD-09 ``(lon, lat)``.
    """
    return gcj02_to_bd09(*wgs84_to_gcj02(lon, lat))


def bd09_to_wgs84(lon: ArrayLike, lat: ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Convert BD-09 longitudes/latitudes to WGS84 (via GCJ-02).

    Parameters
    ----------
    lon, lat : array_like
        BD-09 coordinates in degrees.

    Returns
    -------
    tuple of numpy.ndarray
        WGS84 ``(lon, lat)``.
    """
    return gcj02_to_wgs84(*bd09_to_gcj02(lon, lat))


def normalize_crs(declared: str | int | pyproj.CRS, source: str | None = None) -> str | pyproj.CRS:
    """Turn a user's coordinate-system declaration into ``"gcj02"``, ``"bd09"`` or a CRS.

    Parameters
    ----------
    declared : str or int or pyproj.CRS
        ``"wgs84"``, ``"gcj02"``/``"amap"``/``"tencent"``, ``"bd09"``/``"baidu"``, an
        EPSG code (``4490``, ``"EPSG:32649"``) or anything else :class:`pyproj.CRS`
        accepts.
    source : str or None
        File the declaration belongs to, for error messages.

    Returns
    -------
    str or pyproj.CRS
        ``"gcj02"`` or ``"bd09"`` for the obfuscated systems, else a ``pyproj.CRS``
        (``"wgs84"`` becomes EPSG:4326).

    Raises
    ------
    InputError
        If the declaration is missing or not understood.
    """
    if declared is None or (isinstance(declared, str) and not declared.strip()):
        raise InputError(
            source, "crs", "no coordinate system declared; use wgs84, gcj02, bd09 or EPSG:<code>"
        )
    if isinstance(declared, pyproj.CRS):
        return declared
    if isinstance(declared, str):
        key = declared.strip().lower().replace(" ", "")
        if key in _ALIASES:
            alias = _ALIASES[key]
            return pyproj.CRS.from_epsg(4326) if alias == WGS84 else alias
        if key in {"bd09mc", "baidumercator"}:
            raise InputError(
                source, "crs", "Baidu Mercator metres (bd09mc) are not supported; export bd09ll"
            )
    try:
        return pyproj.CRS.from_user_input(declared)
    except pyproj.exceptions.CRSError:
        raise InputError(
            source,
            "crs",
            f"unknown coordinate system {declared!r}; use wgs84, gcj02, bd09 or EPSG:<code>",
        ) from None


def _is_wgs84_like(crs: pyproj.CRS) -> bool:
    """Tell whether ``crs`` is EPSG:4326 or OGC:CRS84 (same datum, any axis order)."""
    return crs.equals(pyproj.CRS.from_epsg(4326), ignore_axis_order=True)


def check_declared_crs(
    file_crs: pyproj.CRS | str | None,
    declared: str | int | pyproj.CRS,
    source: str | None = None,
) -> str | pyproj.CRS:
    """Check a file's own CRS metadata against the user's declaration.

    GCJ-02 and BD-09 have no EPSG code: tools export them labelled as WGS84 (or with no
    label), so a geographic WGS84/CGCS2000 label is accepted for them; a projected label
    is not.

    Parameters
    ----------
    file_crs : pyproj.CRS or str or None
        CRS found in the file (``None`` when the file carries none).
    declared : str or int or pyproj.CRS
        The user's declaration, see :func:`normalize_crs`.
    source : str or None
        File name for the error message.

    Returns
    -------
    str or pyproj.CRS
        The normalised declaration.

    Raises
    ------
    InputError
        If the file's metadata disagrees with the declaration.
    """
    norm = normalize_crs(declared, source)
    if file_crs is None:
        return norm
    fcrs = pyproj.CRS.from_user_input(file_crs)
    if isinstance(norm, str):
        if fcrs.is_geographic and (
            _is_wgs84_like(fcrs) or fcrs.equals(pyproj.CRS.from_epsg(4490), ignore_axis_order=True)
        ):
            return norm
        agrees = False
    else:
        agrees = fcrs.equals(norm, ignore_axis_order=True)
    if not agrees:
        raise InputError(
            source,
            "crs",
            f"declared coordinate system {declared!r} disagrees with the file's own "
            f"{fcrs.to_string()!r}; fix the declaration or reproject the file",
        )
    return norm


def _lonlat_func(
    func: Callable[[FloatArray, FloatArray], tuple[FloatArray, FloatArray]],
) -> Callable[[FloatArray], FloatArray]:
    """Wrap a ``(lon, lat) -> (lon, lat)`` function for :func:`shapely.transform`."""

    def apply(coords: FloatArray) -> FloatArray:
        out = np.array(coords, dtype=float, copy=True)
        out[:, 0], out[:, 1] = func(coords[:, 0], coords[:, 1])
        return out

    return apply


def to_wgs84(
    gdf: gpd.GeoDataFrame,
    declared: str | int | pyproj.CRS,
    *,
    source: str | None = None,
) -> gpd.GeoDataFrame:
    """Return a copy of ``gdf`` in WGS84 (EPSG:4326), whatever the declared system.

    Parameters
    ----------
    gdf : geopandas.GeoDataFrame
        Any geometry types. Its own ``crs`` (if set) must agree with ``declared``
        (see :func:`check_declared_crs`).
    declared : str or int or pyproj.CRS
        ``"wgs84"``, ``"gcj02"``, ``"bd09"`` or an EPSG code / CRS string, e.g.
        ``"EPSG:32649"`` or ``4490`` (CGCS2000, taken as equal to WGS84 by PROJ).
    source : str or None
        File name for error messages.

    Returns
    -------
    geopandas.GeoDataFrame
        Copy with coordinates converted and ``crs`` EPSG:4326.
    """
    norm = check_declared_crs(gdf.crs, declared, source)
    out = gdf.copy()
    if isinstance(norm, pyproj.CRS):
        return out.set_crs(norm, allow_override=True).to_crs(CRS_GEOGRAPHIC)
    func = gcj02_to_wgs84 if norm == GCJ02 else bd09_to_wgs84
    geoms = shapely.transform(np.asarray(out.geometry.values), _lonlat_func(func), include_z=False)
    out[out.geometry.name] = gpd.GeoSeries(geoms, index=out.index, crs=CRS_GEOGRAPHIC)
    return out.set_crs(CRS_GEOGRAPHIC, allow_override=True)


def union_wgs84(boundary: gpd.GeoDataFrame | gpd.GeoSeries | shapely.Geometry | None) -> shapely.Geometry | None:
    """Return a study area as one WGS84 shapely geometry (``None`` stays ``None``).

    Parameters
    ----------
    boundary : GeoDataFrame, GeoSeries, shapely geometry or None
        Frames are converted to WGS84 (when they have a CRS) and their geometries united;
        a bare geometry is taken to be WGS84 already.

    Raises
    ------
    InputError
        For anything else.
    """
    if boundary is None:
        return None
    if isinstance(boundary, gpd.GeoDataFrame | gpd.GeoSeries):
        if boundary.crs is not None:
            boundary = boundary.to_crs(CRS_GEOGRAPHIC)
        return shapely.union_all(np.asarray(boundary.geometry.values))
    if isinstance(boundary, shapely.Geometry):
        return boundary
    raise InputError(None, "boundary", "study area must be a shapely polygon or a GeoDataFrame")
