"""User demand layers: a planner's own points or polygons with residents, as demand points.

Plumbing for :mod:`healthopt.demand`, which re-exports :func:`demand_from_layer`. Points
are kept as they are and joined to the district that contains them; polygons (e.g.
streets 街道 or townships with their own counts) are by default distributed to the grid
cells of :func:`healthopt._demand_cells.grid_cells` by area share, so that large rural
townships do not collapse to one point.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from healthopt._demand_cells import DEMAND_COLUMNS, assemble_cells, grid_cells, largest_remainder, require_columns
from healthopt.data._checks import COUNT_MAX, feature_error
from healthopt.errors import InputError
from healthopt.settings import CRS_GEOGRAPHIC, CRS_METRIC, DEFAULT_CELL_COUNTY_M, DEFAULT_CELL_URBAN_M


def demand_from_layer(
    layer: gpd.GeoDataFrame,
    districts: gpd.GeoDataFrame,
    *,
    population_field: str = "population",
    quality_field: str = "population_quality",
    id_field: str | None = None,
    polygons: str = "grid",
    cell_urban_m: float = DEFAULT_CELL_URBAN_M,
    cell_county_m: float = DEFAULT_CELL_COUNTY_M,
    code_field: str = "code",
    class_field: str = "norm_class",
    source: str | None = None,
) -> gpd.GeoDataFrame:
    """Turn a user demand layer (points or polygons with a population) into demand points.

    Points are assigned to the district that contains them. Polygons are distributed
    to the :func:`grid_cells` they overlap in proportion to the overlapping area
    (``polygons="grid"``, the default; each polygon's total is kept exactly and the
    part of a polygon outside every district goes to its inside part), or kept as one
    representative point each (``polygons="point"``). Non-integer populations are
    rounded by the largest-remainder method over the whole layer.

    Parameters
    ----------
    layer : geopandas.GeoDataFrame
        E.g. from :func:`healthopt.data.layers.read_demand_layer` (EPSG:4326 when no
        CRS is set). ``layer.attrs["source"]`` names the file in errors.
    districts : geopandas.GeoDataFrame
        District polygons with code and class columns.
    population_field : str
        Column of residents.
    quality_field : str
        Optional column copied to ``population_quality`` (default value ``"user"``).
    id_field : str, optional
        Column used as ``demand_id`` for point layers (default ``"<code>-u<n>"``,
        ``n`` the 1-based feature number).
    polygons : {"grid", "point"}
        How polygons are turned into points.
    cell_urban_m, cell_county_m : float
        Grid cell sizes used with ``polygons="grid"``.
    code_field, class_field : str
        District column names.
    source : str, optional
        File name for errors (default ``layer.attrs["source"]``).

    Returns
    -------
    geopandas.GeoDataFrame
        EPSG:4326 points with :data:`DEMAND_COLUMNS`; ``weight_method`` is
        ``"user_point"`` or ``"user_area_share"``, ``cell_m`` is NaN for points.
        Grid cells that receive no resident are dropped.

    Raises
    ------
    InputError
        Missing or negative populations, features outside every district.
    """
    source = source or layer.attrs.get("source")
    is_csv = layer.attrs.get("format") == "csv"
    layer = layer.reset_index(drop=True)
    layer = layer if layer.crs is None else layer.to_crs(CRS_GEOGRAPHIC)
    layer = layer.set_crs(CRS_GEOGRAPHIC, allow_override=True)
    require_columns(layer, [population_field], "demand layer", source)
    pop = _user_population(layer[population_field], population_field, source, is_csv)
    quality = (
        layer[quality_field].fillna("user").astype(str).to_numpy()
        if quality_field in layer.columns
        else np.full(len(layer), "user", dtype=object)
    )
    types = set(shapely.get_type_id(layer.geometry.to_numpy()).tolist())
    if types <= {0} or polygons == "point":
        return _demand_points(layer, pop, quality, districts, id_field, code_field, source, is_csv)
    if not types <= {3, 6}:
        raise InputError(source, "geometry", "demand layer must hold only points or polygons")
    if polygons != "grid":
        raise ValueError(f"polygons must be 'grid' or 'point', not {polygons!r}")
    cells = grid_cells(
        districts,
        cell_urban_m=cell_urban_m,
        cell_county_m=cell_county_m,
        code_field=code_field,
        class_field=class_field,
    )
    return _demand_area_share(layer, pop, quality, cells, source, is_csv)


def _user_population(values: pd.Series, field: str, source: str | None, is_csv: bool) -> np.ndarray:
    """Check populations (numeric, >= 0) and round them to integers keeping the total."""
    num = pd.to_numeric(values, errors="coerce")
    infinite = num.notna() & ~np.isfinite(num.astype(float))
    checks = (
        (num.isna(), "not a number"),
        (infinite, "not a finite number"),
        (num < 0, "negative population"),
        (num > COUNT_MAX["population"], f"more than {COUNT_MAX['population']:,.0f} residents"),
    )
    for bad, what in checks:
        if bad.any():
            pos = int(np.flatnonzero(bad.to_numpy())[0])
            raise feature_error(
                source,
                field,
                f"{what}: {values.iloc[pos]!r}",
                pos=pos, is_csv=is_csv,
            )
    num = num.to_numpy(dtype=float)
    if not num.sum() > 0:
        raise InputError(source, field, "every feature has 0 residents: there is no demand to plan for")
    total = np.array([round(num.sum())], dtype=np.int64)
    return largest_remainder(num, np.zeros(len(num), dtype=np.int64), total)


def _demand_points(
    layer: gpd.GeoDataFrame,
    pop: np.ndarray,
    quality: np.ndarray,
    districts: gpd.GeoDataFrame,
    id_field: str | None,
    code_field: str,
    source: str | None,
    is_csv: bool,
) -> gpd.GeoDataFrame:
    """Point demand (polygons reduced to representative points), joined to districts."""
    pts = shapely.point_on_surface(layer.geometry.to_numpy())
    code = _district_of(pts, districts, code_field)
    outside = pd.isna(code)
    if outside.any():
        pos = int(np.flatnonzero(outside)[0])
        raise feature_error(
            source,
            "geometry",
            f"{int(outside.sum())} demand "
            "feature(s) outside every district of the study area",
            pos=pos, is_csv=is_csv,
        )
    if id_field is not None:
        require_columns(layer, [id_field], "demand layer", source)
        ids = layer[id_field].astype(str).to_numpy()
    else:
        ids = np.array([f"{c}-u{i + 1}" for i, c in enumerate(code)], dtype=object)
    out = gpd.GeoDataFrame(
        {
            "demand_id": ids,
            "district_code": code.astype(str),
            "population": pop,
            "population_quality": quality,
            "weight_method": "user_point",
            "cell_m": np.nan,
        },
        geometry=pts,
        crs=CRS_GEOGRAPHIC,
    )
    order = np.lexsort((np.arange(len(out)), out["district_code"].to_numpy()))
    return out.iloc[order].reset_index(drop=True)[DEMAND_COLUMNS]


def _district_of(pts: np.ndarray, districts: gpd.GeoDataFrame, code_field: str) -> np.ndarray:
    """Code of the district containing each point (lowest code on shared borders)."""
    dist = districts.to_crs(CRS_GEOGRAPHIC)
    dcodes = dist[code_field].astype(str).to_numpy()
    tree = shapely.STRtree(dist.geometry.to_numpy())
    idx_pt, idx_d = tree.query(pts, predicate="intersects")
    code = np.full(len(pts), None, dtype=object)
    # Reverse lexicographic fill: the lowest code is written last and wins.
    order = np.lexsort((dcodes[idx_d], idx_pt))[::-1]
    code[idx_pt[order]] = dcodes[idx_d[order]]
    return code


def _demand_area_share(
    layer: gpd.GeoDataFrame,
    pop: np.ndarray,
    quality: np.ndarray,
    cells: gpd.GeoDataFrame,
    source: str | None,
    is_csv: bool,
) -> gpd.GeoDataFrame:
    """Distribute polygon populations to grid cells by overlapping area."""
    polys = np.asarray(layer.to_crs(CRS_METRIC).geometry.values)
    geoms = cells.geometry.to_numpy()
    idx_poly, idx_cell = shapely.STRtree(geoms).query(polys, predicate="intersects")
    inter = shapely.area(shapely.intersection(polys[idx_poly], geoms[idx_cell]))
    keep = inter > 0
    idx_poly, idx_cell, inter = idx_poly[keep], idx_cell[keep], inter[keep]
    covered = np.bincount(idx_poly, weights=inter, minlength=len(polys))
    lost = (covered <= 0) & (pop > 0)
    if lost.any():
        pos = int(np.flatnonzero(lost)[0])
        raise feature_error(
            source,
            "geometry",
            f"{int(lost.sum())} demand polygon(s) "
            "outside every district of the study area",
            pos=pos, is_csv=is_csv,
        )
    quota = pop[idx_poly] * inter / covered[idx_poly]
    share = largest_remainder(quota, idx_poly, pop)
    cell_pop = np.bincount(idx_cell, weights=share, minlength=len(cells)).astype(np.int64)
    # Each cell takes the quality label of the polygon that gives it most residents.
    best = np.lexsort((-share, idx_cell))
    first = best[np.r_[True, idx_cell[best][1:] != idx_cell[best][:-1]]] if len(best) else best
    cell_quality = np.full(len(cells), "user", dtype=object)
    cell_quality[idx_cell[first]] = quality[idx_poly[first]]
    out = assemble_cells(cells, cell_pop, cell_quality, "user_area_share")
    return out[out["population"] > 0].reset_index(drop=True)
