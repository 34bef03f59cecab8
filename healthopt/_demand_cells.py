"""Grid cells and the demand-point frame shared by the demand models.

Plumbing for :mod:`healthopt.demand` (the dasymetric grid) and
:mod:`healthopt._demand_layers` (user layers spread over the same cells): the district
grid, the integer rounding that keeps totals exact, and the output frame with
:data:`DEMAND_COLUMNS`.
"""

from __future__ import annotations

from collections.abc import Sequence

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from healthopt.errors import InputError
from healthopt.settings import CRS_GEOGRAPHIC, CRS_METRIC, DEFAULT_CELL_COUNTY_M, DEFAULT_CELL_URBAN_M

#: Output columns, in order.
DEMAND_COLUMNS: list[str] = [
    "demand_id",
    "district_code",
    "population",
    "population_quality",
    "weight_method",
    "cell_m",
    "geometry",
]

#: Clipped cells smaller than this share of a full cell are slivers and dropped.
_MIN_CELL_SHARE = 0.01


def grid_cells(
    districts: gpd.GeoDataFrame,
    *,
    cell_urban_m: float = DEFAULT_CELL_URBAN_M,
    cell_county_m: float = DEFAULT_CELL_COUNTY_M,
    code_field: str = "code",
    class_field: str = "norm_class",
) -> gpd.GeoDataFrame:
    """Build the grid cells of every district, clipped to the district polygon.

    Parameters
    ----------
    districts : geopandas.GeoDataFrame
        District polygons with a code and a ``"urban"``/``"county"`` class column.
    cell_urban_m, cell_county_m : float
        Cell sizes (metres) for urban-class and other districts.
    code_field, class_field : str
        Column names of the district code and class.

    Returns
    -------
    geopandas.GeoDataFrame
        In EPSG:32649, sorted by district code, row, column; columns ``district_code``,
        ``row``, ``col`` (global grid indices), ``cell_m``, ``area_km2``, ``point``
        (representative point) and the clipped cell ``geometry``.
    """
    require_columns(districts, [code_field, class_field], "districts")
    dm = districts.to_crs(CRS_METRIC)
    dm = dm.assign(_code=dm[code_field].astype(str)).sort_values("_code", kind="stable")
    parts = []
    for code, cls, poly in zip(dm["_code"], dm[class_field], dm.geometry, strict=True):
        if poly is None or poly.is_empty:
            raise InputError(None, "geometry", f"district {code}: empty geometry")
        size = float(cell_urban_m if str(cls) == "urban" else cell_county_m)
        parts.append(_district_cells(code, poly, size))
    cells = pd.concat(parts, ignore_index=True)
    return gpd.GeoDataFrame(cells, geometry="geometry", crs=CRS_METRIC)


def _district_cells(code: str, poly: shapely.Geometry, size: float) -> pd.DataFrame:
    """Clip the grid of one district (vectorised over cells)."""
    minx, miny, maxx, maxy = poly.bounds
    cols = np.arange(np.floor(minx / size), np.floor(maxx / size) + 1).astype(np.int64)
    rows = np.arange(np.floor(miny / size), np.floor(maxy / size) + 1).astype(np.int64)
    grid_c, grid_r = np.meshgrid(cols, rows)
    cc, rr = grid_c.ravel(), grid_r.ravel()
    boxes = shapely.box(cc * size, rr * size, (cc + 1) * size, (rr + 1) * size)
    shapely.prepare(poly)
    inside = shapely.contains_properly(poly, boxes)
    edge = ~inside & shapely.intersects(poly, boxes)
    clipped = boxes.copy()
    # Only boundary cells need the (costly) intersection with the district outline.
    clipped[edge] = _polygonal(shapely.intersection(boxes[edge], poly))
    keep = inside | edge
    cc, rr, clipped = cc[keep], rr[keep], clipped[keep]
    area = shapely.area(clipped)
    big = area >= _MIN_CELL_SHARE * size * size
    if not big.any():  # a district smaller than a sliver: keep its largest piece
        big = area == area.max()
    cc, rr, clipped, area = cc[big], rr[big], clipped[big], area[big]
    order = np.lexsort((cc, rr))
    clipped = clipped[order]
    return pd.DataFrame(
        {
            "district_code": code,
            "row": rr[order],
            "col": cc[order],
            "cell_m": size,
            "area_km2": area[order] / 1e6,
            "point": shapely.point_on_surface(clipped),
            "geometry": clipped,
        }
    )


def _polygonal(geoms: np.ndarray) -> np.ndarray:
    """Drop the line/point parts that clipping can leave in a GeometryCollection."""
    geoms = np.asarray(geoms, dtype=object).copy()
    coll = np.flatnonzero(shapely.get_type_id(geoms) == 7)
    for i in coll:  # rare: only cells touching the outline along an edge
        parts = [g for g in shapely.get_parts(geoms[i]) if g.geom_type == "Polygon"]
        geoms[i] = shapely.MultiPolygon(parts) if parts else shapely.Polygon()
    return geoms


def largest_remainder(quota: np.ndarray, group: np.ndarray, totals: np.ndarray) -> np.ndarray:
    """Round ``quota`` to integers whose per-group sums equal ``totals`` exactly.

    Ties are broken by position, so the result is deterministic.
    """
    quota = np.clip(np.asarray(quota, dtype=float), 0.0, None)
    base = np.floor(quota).astype(np.int64)
    short = totals - np.bincount(group, weights=base, minlength=len(totals)).astype(np.int64)
    frac = quota - base
    order = np.lexsort((np.arange(len(quota)), -frac, group))
    sg = group[order]
    rank = np.arange(len(quota)) - np.searchsorted(sg, sg, side="left")
    bonus = np.zeros(len(quota), dtype=np.int64)
    bonus[order] = (rank < short[sg]).astype(np.int64)
    return base + bonus


def assemble_cells(
    cells: gpd.GeoDataFrame,
    population: np.ndarray,
    quality: str | np.ndarray,
    method: str | np.ndarray,
) -> gpd.GeoDataFrame:
    """Output frame in EPSG:4326 with :data:`DEMAND_COLUMNS`."""
    code = cells["district_code"].astype(str)
    ids = code + "-" + cells["row"].astype(str) + "-" + cells["col"].astype(str)
    points = gpd.GeoSeries(cells["point"].to_numpy(), crs=CRS_METRIC).to_crs(CRS_GEOGRAPHIC)
    out = gpd.GeoDataFrame(
        {
            "demand_id": ids.to_numpy(),
            "district_code": code.to_numpy(),
            "population": np.asarray(population, dtype=np.int64),
            "population_quality": quality,
            "weight_method": method,
            "cell_m": cells["cell_m"].to_numpy(dtype=float),
        },
        geometry=points.to_numpy(),
        crs=CRS_GEOGRAPHIC,
    )
    return out[DEMAND_COLUMNS]


def require_columns(
    gdf: pd.DataFrame, columns: Sequence[str], what: str, source: str | None = None
) -> None:
    """Raise an :class:`InputError` naming the first missing column."""
    for col in columns:
        if col not in gdf.columns:
            raise InputError(source, col, f"{what}: required column missing")
