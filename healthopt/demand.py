"""Demand points: where the residents of each district live.

Census populations are only known per county-level unit (see
``healthopt/geodata/taiyuan/PROVENANCE.md``). :func:`population_grid` spreads each district's
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

from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely
from scipy.spatial import cKDTree

# grid_cells, DEMAND_COLUMNS and demand_from_layer are re-exported (see __all__)
from healthopt._demand_cells import DEMAND_COLUMNS, assemble_cells, grid_cells, largest_remainder, require_columns
from healthopt._demand_layers import demand_from_layer
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
    require_columns(districts, [code_field, class_field, population_field], "districts")
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
    pop = largest_remainder(quota, group, total)
    out = assemble_cells(cells, pop, "estimate", np.where(by_road, "road_length", "seat_decay"))
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


# --- user demand files ----------------------------------------------------------------


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
