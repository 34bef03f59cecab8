"""Demand points: where the residents of each district live.

Census populations are only known per county-level unit (see
``geodata/taiyuan/PROVENANCE.md``). :func:`population_grid` spreads each district's
total over a regular grid by a documented dasymetric model; :func:`demand_from_layer`
uses a planner's own layer instead. :func:`snap_flags` marks points far from the road
graph.

Dasymetric model of :func:`population_grid`
-------------------------------------------
1. Each district is covered by a grid aligned on multiples of the cell size in
   EPSG:32649 (500 m in urban-class districts, 1 km in county-class ones); cells are
   clipped to the district polygon, slivers under 1 % of a cell are dropped, and the
   demand point is the representative point of the clipped cell (always inside it).
2. Every cell gets a *decay mass* ``area_km2 * (exp(-d / decay_km) + floor)``, with
   ``d`` the distance in km from the cell to the district seat (government seat, the
   usual centre of population; the district's representative point when no seat is
   given). The floor keeps villages and suburbs populated.
3. A cell is *road-covered* when it lies entirely inside the footprint (convex hull) of
   the road extract: there, absence of roads means absence of buildings rather than
   missing data. The district population is split between covered and uncovered
   cells in proportion to their total decay mass.
4. Uncovered cells share their part by decay mass (``weight_method="seat_decay"``).
   Covered cells share theirs by drivable road length inside the cell plus a floor of
   ``road_floor`` times the district's mean covered road density times the cell area
   (``weight_method="road_length"``); road length is a good proxy of built-up density
   in Chinese cities where housing compounds sit between dense street grids.
5. Cell quotas are rounded to integers by the largest-remainder method per district,
   so district totals are preserved exactly. Every point is labelled
   ``population_quality="estimate"``.

User demand layers (:func:`demand_from_layer`): points are kept as they are; polygons
(e.g. streets 街道 or townships with their own counts) are by default distributed to the
same grid cells by area share, so that large rural townships do not collapse to one
point; ``polygons="point"`` keeps one representative point per polygon instead.
:func:`demand_from_file` reads such a layer from a file and snaps it like the grid, so
runs treat both kinds of demand alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely
from scipy.spatial import cKDTree

from healthopt.data.layers import read_demand_layer
from healthopt.errors import InputError
from healthopt.settings import (
    CRS_GEOGRAPHIC,
    CRS_METRIC,
    DEFAULT_CELL_COUNTY_M,
    DEFAULT_CELL_URBAN_M,
    DEFAULT_SNAP_TOLERANCE_M,
    DRIVABLE_HIGHWAYS,
)

__all__ = [
    "DEFAULT_DECAY_KM",
    "DEMAND_COLUMNS",
    "demand_from_file",
    "demand_from_layer",
    "grid_cells",
    "population_grid",
    "require_on_network",
    "snap_flags",
]

#: Distance (km) over which the seat-decay weight falls by a factor e. Chinese county
#: seats hold roughly half of a county's residents within a few km (urbanisation rates
#: of 40-70 % in Jinzhong, census 2020), which 5 km plus the floor reproduces.
DEFAULT_DECAY_KM: float = 5.0

#: Relative weight of the farthest cells, so every cell gets some residents.
DEFAULT_DECAY_FLOOR: float = 0.05

#: Floor of the road weight, as a share of the district's mean covered road density.
DEFAULT_ROAD_FLOOR: float = 0.05

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

_MIN_CELL_SHARE = 0.01


# --- grid ---------------------------------------------------------------------------


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
    _require_columns(districts, [code_field, class_field], "districts")
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
    cc, rr = np.meshgrid(cols, rows)
    cc, rr = cc.ravel(), rr.ravel()
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


# --- dasymetric weights ---------------------------------------------------------------


def population_grid(
    districts: gpd.GeoDataFrame,
    *,
    roads: gpd.GeoDataFrame | None = None,
    seats: gpd.GeoDataFrame | None = None,
    cell_urban_m: float = DEFAULT_CELL_URBAN_M,
    cell_county_m: float = DEFAULT_CELL_COUNTY_M,
    decay_km: float = DEFAULT_DECAY_KM,
    floor: float = DEFAULT_DECAY_FLOOR,
    road_floor: float = DEFAULT_ROAD_FLOOR,
    coverage: shapely.Geometry | None = None,
    snap: Any = None,
    snap_tolerance_m: float = DEFAULT_SNAP_TOLERANCE_M,
    code_field: str = "code",
    class_field: str = "norm_class",
    population_field: str = "population",
) -> gpd.GeoDataFrame:
    """Spread district populations over grid cells (dasymetric estimate).

    See the module docstring for the model.

    Parameters
    ----------
    districts : geopandas.GeoDataFrame
        District polygons (any CRS) with code, class (``"urban"``/``"county"``) and
        integer population columns.
    roads : geopandas.GeoDataFrame, optional
        Drivable road lines (any CRS). If a ``highway`` column is present, only
        :data:`healthopt.settings.DRIVABLE_HIGHWAYS` classes are used.
    seats : geopandas.GeoDataFrame, optional
        District seats as points with a ``code`` column; missing seats fall back to the
        district's representative point.
    cell_urban_m, cell_county_m : float
        Cell sizes in metres.
    decay_km : float
        Seat-decay distance (km).
    floor : float
        Decay floor relative to the seat cell's weight.
    road_floor : float
        Road-weight floor relative to the district's mean covered road density.
    coverage : shapely.Geometry, optional
        Footprint (EPSG:4326) of the road extract; default: convex hull of ``roads``.
    snap : array_like or networkx graph, optional
        If given, :func:`snap_flags` is applied with ``snap_tolerance_m``.
    snap_tolerance_m : float
        Off-network threshold in metres.
    code_field, class_field, population_field : str
        District column names.

    Returns
    -------
    geopandas.GeoDataFrame
        EPSG:4326 points with :data:`DEMAND_COLUMNS` (plus ``on_network``/``snap_m``
        when ``snap`` is given), sorted by district code, grid row and column.
    """
    _require_columns(districts, [code_field, class_field, population_field], "districts")
    totals = _district_totals(districts, code_field, population_field)
    cells = grid_cells(
        districts,
        cell_urban_m=cell_urban_m,
        cell_county_m=cell_county_m,
        code_field=code_field,
        class_field=class_field,
    )
    codes = np.array(sorted(totals))
    group = np.searchsorted(codes, cells["district_code"].to_numpy())
    mass = _decay_mass(cells, districts, seats, code_field, decay_km, floor)
    covered, length = _road_length(cells, roads, coverage)
    total = np.array([totals[c] for c in codes], dtype=np.int64)
    area = cells["area_km2"].to_numpy()
    quota, by_road = _quotas(mass, area, covered, length, group, total, road_floor)
    pop = _largest_remainder(quota, group, total)
    out = _assemble(cells, pop, "estimate", np.where(by_road, "road_length", "seat_decay"))
    if snap is not None:
        out = snap_flags(out, snap, snap_tolerance_m)
    return out


def _district_totals(
    districts: gpd.GeoDataFrame, code_field: str, population_field: str
) -> dict[str, int]:
    """District code -> integer population, checked."""
    pop = pd.to_numeric(districts[population_field], errors="coerce")
    codes = districts[code_field].astype(str)
    bad = pop.isna() | (pop < 0) | (pop != np.round(pop))
    if bad.any():
        code = codes[bad].iloc[0]
        raise InputError(
            None, population_field, f"district {code}: population must be a non-negative integer"
        )
    if codes.duplicated().any():
        dup = codes[codes.duplicated()].iloc[0]
        raise InputError(None, code_field, f"duplicate district code {dup}")
    return dict(zip(codes, pop.astype(np.int64), strict=True))


def _decay_mass(
    cells: gpd.GeoDataFrame,
    districts: gpd.GeoDataFrame,
    seats: gpd.GeoDataFrame | None,
    code_field: str,
    decay_km: float,
    floor: float,
) -> np.ndarray:
    """Area times exponential decay with distance to the district seat, plus a floor."""
    dm = districts.to_crs(CRS_METRIC)
    centre = dict(
        zip(dm[code_field].astype(str), shapely.point_on_surface(dm.geometry.values), strict=True)
    )
    if seats is not None and len(seats):
        sm = seats.to_crs(CRS_METRIC)
        centre.update(zip(sm["code"].astype(str), sm.geometry.values, strict=True))
    seat_pts = np.array([centre[c] for c in cells["district_code"]], dtype=object)
    d_km = shapely.distance(cells["point"].to_numpy(), seat_pts) / 1000.0
    return cells["area_km2"].to_numpy() * (np.exp(-d_km / decay_km) + floor)


def _road_length(
    cells: gpd.GeoDataFrame, roads: gpd.GeoDataFrame | None, coverage: shapely.Geometry | None
) -> tuple[np.ndarray, np.ndarray]:
    """Return (covered mask, drivable road metres inside each cell)."""
    n = len(cells)
    if roads is None or roads.empty:
        return np.zeros(n, bool), np.zeros(n)
    r = roads
    if "highway" in r.columns:
        r = r[r["highway"].isin(DRIVABLE_HIGHWAYS)]
    lines = np.asarray(r.to_crs(CRS_METRIC).geometry.values)
    lines = lines[~shapely.is_empty(lines) & ~shapely.is_missing(lines)]
    if len(lines) == 0:
        return np.zeros(n, bool), np.zeros(n)
    if coverage is None:
        footprint = shapely.convex_hull(shapely.multipoints(shapely.get_coordinates(lines)))
    else:
        footprint = gpd.GeoSeries([coverage], crs=CRS_GEOGRAPHIC).to_crs(CRS_METRIC).iloc[0]
    shapely.prepare(footprint)
    geoms = cells.geometry.to_numpy()
    covered = shapely.contains(footprint, geoms)
    tree = shapely.STRtree(lines)
    idx_cell, idx_line = tree.query(geoms, predicate="intersects")
    keep = covered[idx_cell]
    idx_cell, idx_line = idx_cell[keep], idx_line[keep]
    seg = shapely.length(shapely.intersection(geoms[idx_cell], lines[idx_line]))
    return covered, np.bincount(idx_cell, weights=seg, minlength=n)


def _quotas(
    mass: np.ndarray,
    area: np.ndarray,
    covered: np.ndarray,
    length: np.ndarray,
    group: np.ndarray,
    totals: np.ndarray,
    road_floor: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Fractional population per cell; also which cells were weighted by roads."""
    g = len(totals)
    road_all = np.bincount(group, weights=length * covered, minlength=g)
    # A covered part without any road is treated like an uncovered one.
    by_road = covered & (road_all[group] > 0)
    # Covered and uncovered parts split the district total by their decay mass.
    mass_all = np.bincount(group, weights=mass, minlength=g)
    mass_road = np.bincount(group, weights=mass * by_road, minlength=g)
    pop_road = totals * _safe_ratio(mass_road, mass_all)
    pop_decay = totals - pop_road
    # Within the covered part: road metres plus a floor proportional to cell area.
    area_road = np.bincount(group, weights=area * by_road, minlength=g)
    density = _safe_ratio(road_all, area_road)
    w_road = np.where(by_road, length + road_floor * density[group] * area, 0.0)
    w_decay = np.where(by_road, 0.0, mass)
    sum_road = np.bincount(group, weights=w_road, minlength=g)
    sum_decay = np.bincount(group, weights=w_decay, minlength=g)
    quota = np.where(
        by_road,
        pop_road[group] * _safe_ratio(w_road, sum_road[group]),
        pop_decay[group] * _safe_ratio(w_decay, sum_decay[group]),
    )
    return quota, by_road


def _safe_ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    return np.divide(num, den, out=np.zeros_like(num, dtype=float), where=den > 0)


def _largest_remainder(quota: np.ndarray, group: np.ndarray, totals: np.ndarray) -> np.ndarray:
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


def _assemble(
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


def _require_columns(
    gdf: pd.DataFrame, columns: Sequence[str], what: str, source: str | None = None
) -> None:
    """Raise an :class:`InputError` naming the first missing column."""
    for col in columns:
        if col not in gdf.columns:
            raise InputError(source, col, f"{what}: required column missing")


# --- user demand layers ---------------------------------------------------------------


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
    _require_columns(layer, [population_field], "demand layer", source)
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
    )
    for bad, what in checks:
        if bad.any():
            pos = int(np.flatnonzero(bad.to_numpy())[0])
            raise InputError(
                source,
                field,
                f"{'' if is_csv else f'feature {pos + 1}: '}{what}: {values.iloc[pos]!r}",
                line=pos + 2 if is_csv else None,
            )
    num = num.to_numpy(dtype=float)
    total = np.array([round(num.sum())], dtype=np.int64)
    return _largest_remainder(num, np.zeros(len(num), dtype=np.int64), total)


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
        raise InputError(
            source,
            "geometry",
            f"{'' if is_csv else f'feature {pos + 1}: '}{int(outside.sum())} demand "
            "feature(s) outside every district of the study area",
            line=pos + 2 if is_csv else None,
        )
    if id_field is not None:
        _require_columns(layer, [id_field], "demand layer", source)
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
        raise InputError(
            source,
            "geometry",
            f"{'' if is_csv else f'feature {pos + 1}: '}{int(lost.sum())} demand polygon(s) "
            "outside every district of the study area",
            line=pos + 2 if is_csv else None,
        )
    quota = pop[idx_poly] * inter / covered[idx_poly]
    share = _largest_remainder(quota, idx_poly, pop)
    cell_pop = np.bincount(idx_cell, weights=share, minlength=len(cells)).astype(np.int64)
    # Each cell takes the quality label of the polygon that gives it most residents.
    best = np.lexsort((-share, idx_cell))
    first = best[np.r_[True, idx_cell[best][1:] != idx_cell[best][:-1]]] if len(best) else best
    cell_quality = np.full(len(cells), "user", dtype=object)
    cell_quality[idx_cell[first]] = quality[idx_poly[first]]
    out = _assemble(cells, cell_pop, cell_quality, "user_area_share")
    return out[out["population"] > 0].reset_index(drop=True)


def demand_from_file(
    path: str | Path,
    crs: str | int,
    districts: gpd.GeoDataFrame,
    *,
    population_field: str = "population",
    layer: str | int | None = None,
    cell_urban_m: float = DEFAULT_CELL_URBAN_M,
    cell_county_m: float = DEFAULT_CELL_COUNTY_M,
    snap: Any = None,
    snap_tolerance_m: float = DEFAULT_SNAP_TOLERANCE_M,
) -> gpd.GeoDataFrame:
    """Read a user demand layer file and turn it into demand points like :func:`population_grid`.

    Parameters
    ----------
    path : str or Path
        Points or polygons with residents, see :func:`healthopt.data.layers.read_layer`.
    crs : str or int
        Declared coordinate system of the file.
    districts : geopandas.GeoDataFrame
        Study-area district polygons with ``code`` and ``norm_class`` columns.
    population_field : str
        Column of residents.
    layer : str or int, optional
        GeoPackage layer.
    cell_urban_m, cell_county_m : float
        Grid cell sizes over which polygons are spread.
    snap : array_like or networkx graph, optional
        If given, :func:`snap_flags` is applied with ``snap_tolerance_m``.
    snap_tolerance_m : float
        Off-network threshold in metres.

    Returns
    -------
    geopandas.GeoDataFrame
        As :func:`demand_from_layer` (``population_quality`` from the layer's
        ``population_quality`` column, else ``"user"``), plus ``on_network``/``snap_m``
        when ``snap`` is given.
    """
    gdf = read_demand_layer(path, crs, population_field=population_field, layer=layer)
    out = demand_from_layer(
        gdf, districts, population_field=population_field, cell_urban_m=cell_urban_m,
        cell_county_m=cell_county_m,
    )
    return out if snap is None else snap_flags(out, snap, snap_tolerance_m)


# --- network snapping -----------------------------------------------------------------


def snap_flags(
    demand: gpd.GeoDataFrame,
    nodes: Any,
    tolerance_m: float = DEFAULT_SNAP_TOLERANCE_M,
) -> gpd.GeoDataFrame:
    """Flag demand points farther than ``tolerance_m`` from the nearest graph node.

    Parameters
    ----------
    demand : geopandas.GeoDataFrame
        Demand points (any CRS).
    nodes : array_like of shape (n, 2) or networkx graph
        Node coordinates in EPSG:32649 metres, or a graph (e.g. an OSMnx
        ``MultiDiGraph``) whose nodes carry ``x``/``y`` in ``G.graph["crs"]``
        (EPSG:4326 when unset).
    tolerance_m : float
        Largest distance (m) still counted as on the network.

    Returns
    -------
    geopandas.GeoDataFrame
        Copy of ``demand`` with ``on_network`` (bool) and ``snap_m`` (float, metres to
        the nearest node; ``inf`` when there are no nodes).
    """
    xy = _node_xy_metric(nodes)
    pts = demand.geometry.to_crs(CRS_METRIC) if demand.crs else demand.geometry
    pxy = shapely.get_coordinates(pts.to_numpy())
    out = demand.copy()
    if len(xy) == 0:
        dist = np.full(len(out), np.inf)
    else:
        dist, _ = cKDTree(xy).query(pxy, k=1)
    out["snap_m"] = np.asarray(dist, dtype=float)
    out["on_network"] = out["snap_m"].to_numpy() <= tolerance_m
    return out


def require_on_network(demand: gpd.GeoDataFrame, source: str | Path, tolerance_m: float) -> None:
    """Refuse a road network that reaches none of the demand points.

    Off-network points get straight-line estimates, which is right for a few villages
    beyond the extract but means a wrong extract (another city, or roads so broken up
    that the kept strongly connected part lies elsewhere) when it applies to everyone.

    Parameters
    ----------
    demand : geopandas.GeoDataFrame
        Output of :func:`snap_flags` (``on_network`` column).
    source : str or Path
        Road network file, named in the error.
    tolerance_m : float
        The snap tolerance that was used, for the message.

    Raises
    ------
    InputError
        If no demand point is on the network.
    """
    if len(demand) == 0 or bool(demand["on_network"].any()):
        return
    codes = ", ".join(sorted(set(demand["district_code"].astype(str))))
    raise InputError(
        source, "geometry",
        f"the usable road network (its largest strongly connected part) passes within {tolerance_m:g} m "
        f"of none of the study area's residents (districts {codes}): is this the extract of another area?",
    )


def _node_xy_metric(nodes: Any) -> np.ndarray:
    """Node coordinates in EPSG:32649 from an array or a graph with x/y attributes."""
    if hasattr(nodes, "nodes") and hasattr(nodes, "graph"):
        data = list(nodes.nodes(data=True))
        xy = np.array([(d["x"], d["y"]) for _, d in data], dtype=float).reshape(-1, 2)
        crs = pyproj.CRS.from_user_input(nodes.graph.get("crs", CRS_GEOGRAPHIC))
        if not crs.equals(pyproj.CRS.from_user_input(CRS_METRIC)) and len(xy):
            tr = pyproj.Transformer.from_crs(crs, CRS_METRIC, always_xy=True)
            xy = np.column_stack(tr.transform(xy[:, 0], xy[:, 1]))
        return xy
    return np.asarray(nodes, dtype=float).reshape(-1, 2)
