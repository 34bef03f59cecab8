"""Sparse travel-time matrices on the road graph (multi-source Dijkstra with a cutoff).

The graph is turned once into a ``scipy.sparse`` CSR matrix of edge travel times and
searched with :func:`scipy.sparse.csgraph.dijkstra` from many sources at once, with
``limit`` set to the largest standard of interest, so only reachable pairs are kept.
Points are snapped to graph nodes with a ``cKDTree`` in the metric CRS; points too far
from the network get a straight-line estimate (distance x circuity / fallback speed),
flagged ``estimated``.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import shapely
from pyproj import Transformer
from scipy import sparse
from scipy.sparse import csgraph
from scipy.spatial import cKDTree

from healthopt import settings
from healthopt.errors import InputError

#: Stored minutes never go below this, so a genuine 0-minute pair (site and demand on
#: the same node) stays an explicit entry: sparse matrices silently drop zeros in most
#: operations, and a missing entry means "beyond the cutoff". 1e-6 min = 0.06 ms.
MIN_MINUTES: float = 1e-6

#: Bytes of Dijkstra output (float64, sources x nodes) computed per chunk.
_CHUNK_BYTES: int = 256 * 2**20

_TO_METRIC = Transformer.from_crs(settings.CRS_GEOGRAPHIC, settings.CRS_METRIC, always_xy=True)

# Per-graph derived structures (CSR matrix, node order, KD-tree). Keyed weakly so they
# vanish with the graph and never end up in the pickled graph cache.
_DERIVED: weakref.WeakKeyDictionary[nx.MultiDiGraph, dict[str, Any]] = weakref.WeakKeyDictionary()


# --------------------------------------------------------------------------- graph arrays


def _derived(G: nx.MultiDiGraph) -> dict[str, Any]:
    """Return the cache of derived arrays for ``G``, reset if the graph changed size."""
    stamp = (len(G), G.number_of_edges())
    entry = _DERIVED.get(G)
    if entry is None or entry["stamp"] != stamp:
        nodes = np.fromiter(G.nodes, dtype=object, count=len(G))
        entry = {"stamp": stamp, "nodes": nodes, "index": {n: i for i, n in enumerate(nodes)}}
        _DERIVED[G] = entry
    return entry


def graph_csr(G: nx.MultiDiGraph, weight: str = "travel_time") -> sparse.csr_matrix:
    """Return the node-to-node matrix of ``weight`` (min over parallel edges), cached.

    Row/column ``i`` is node ``node_order(G)[i]``. Zero weights are raised to a tiny
    positive value because csgraph treats explicit zeros in CSR input as "no edge".

    Parameters
    ----------
    G : networkx.MultiDiGraph
        Road graph with ``weight`` on every edge.
    weight : str
        Edge attribute in seconds (or any additive cost).

    Returns
    -------
    scipy.sparse.csr_matrix
        Square matrix of shape ``(len(G), len(G))``.
    """
    entry = _derived(G)
    key = f"csr:{weight}"
    if key not in entry:
        index = entry["index"]
        m = G.number_of_edges()
        rows, cols, vals = np.empty(m, np.int64), np.empty(m, np.int64), np.empty(m)
        for i, (u, v, w) in enumerate(G.edges(data=weight)):
            rows[i], cols[i], vals[i] = index[u], index[v], w
        vals = np.maximum(vals, 1e-9)
        # keep the fastest of parallel edges: sort by value so the first of each pair wins
        order = np.lexsort((vals, cols, rows))
        rows, cols, vals = rows[order], cols[order], vals[order]
        first = np.ones(m, bool)
        first[1:] = (rows[1:] != rows[:-1]) | (cols[1:] != cols[:-1])
        n = len(G)
        entry[key] = sparse.csr_matrix((vals[first], (rows[first], cols[first])), shape=(n, n))
    return entry[key]


def node_order(G: nx.MultiDiGraph) -> np.ndarray:
    """Return graph node ids in CSR row order."""
    return _derived(G)["nodes"]


def node_positions(G: nx.MultiDiGraph, nodes: Sequence[Any]) -> np.ndarray:
    """Return the CSR row numbers of ``nodes``."""
    index = _derived(G)["index"]
    return np.fromiter((index[n] for n in nodes), dtype=np.int64, count=len(nodes))


def _node_tree(G: nx.MultiDiGraph) -> tuple[cKDTree, np.ndarray]:
    """Return a KD-tree over node positions in the metric CRS, and those positions."""
    entry = _derived(G)
    if "tree" not in entry:
        nodes = entry["nodes"]
        lon = np.fromiter((G.nodes[n]["x"] for n in nodes), float, len(nodes))
        lat = np.fromiter((G.nodes[n]["y"] for n in nodes), float, len(nodes))
        xy = np.column_stack(_TO_METRIC.transform(lon, lat))
        entry["tree"], entry["xy"] = cKDTree(xy), xy
    return entry["tree"], entry["xy"]


def _metric_xy(points: gpd.GeoDataFrame | gpd.GeoSeries, name: str) -> np.ndarray:
    """Return ``(n, 2)`` metric coordinates of point geometries (centroids otherwise)."""
    if points.crs is None:
        raise InputError(None, f"{name}.geometry", "layer has no CRS")
    geoms = points.geometry.to_crs(settings.CRS_METRIC)
    if geoms.isna().any() or geoms.is_empty.any():
        raise InputError(None, f"{name}.geometry", "missing or empty geometries")
    geoms = geoms.where(geoms.geom_type == "Point", geoms.centroid)
    return shapely.get_coordinates(geoms.to_numpy())


def nearest_nodes(
    G: nx.MultiDiGraph, points: gpd.GeoDataFrame | gpd.GeoSeries
) -> tuple[np.ndarray, np.ndarray]:
    """Snap points to their nearest graph node, measured in the metric CRS.

    Parameters
    ----------
    G : networkx.MultiDiGraph
        Road graph with ``x``/``y`` in EPSG:4326.
    points : GeoDataFrame or GeoSeries
        Points in any CRS (polygons are replaced by their centroids).

    Returns
    -------
    node_ids : ndarray of object
        Nearest node id per point.
    snap_distance_m : ndarray of float
        Straight-line distance to that node, metres.
    """
    tree, _ = _node_tree(G)
    dist, idx = tree.query(_metric_xy(points, "points"))
    return node_order(G)[idx], dist


# --------------------------------------------------------------------------- engine


def _chunk_size(n_nodes: int) -> int:
    """Return how many sources to search at once so the dense output stays bounded."""
    return max(1, min(1024, _CHUNK_BYTES // (8 * max(n_nodes, 1))))


def network_times(
    G: nx.MultiDiGraph,
    sources: Sequence[Any],
    cutoff_seconds: float,
    *,
    targets: Sequence[Any] | None = None,
    reverse: bool = False,
    weight: str = "travel_time",
) -> sparse.csr_matrix:
    """Multi-source shortest travel times within a cutoff, as a sparse matrix.

    Parameters
    ----------
    G : networkx.MultiDiGraph
        Road graph.
    sources : sequence
        Source node ids (rows of the result).
    cutoff_seconds : float
        Pairs slower than this are left out (``np.inf`` for all pairs).
    targets : sequence, optional
        Target node ids (columns); all nodes in :func:`node_order` order by default.
    reverse : bool
        Times *to* the sources instead of *from* them (searches the transposed graph).
    weight : str
        Edge attribute to sum.

    Returns
    -------
    scipy.sparse.csr_matrix
        Seconds, shape ``(len(sources), len(targets))``; a source's own node is stored
        as :data:`MIN_MINUTES` * 60 so it is not lost as a zero.
    """
    A = graph_csr(G, weight)
    if reverse:
        A = A.T.tocsr()
    src = node_positions(G, sources)
    tgt = None if targets is None else node_positions(G, targets)
    ncols = A.shape[0] if tgt is None else len(tgt)
    limit = np.inf if cutoff_seconds is None else float(cutoff_seconds)
    counts, cols, vals = [], [], []
    step = _chunk_size(A.shape[0])
    for start in range(0, len(src), step):
        chunk = src[start : start + step]
        # unique sources per chunk: many sites often share a node
        chunk_nodes, back = np.unique(chunk, return_inverse=True)
        dist = csgraph.dijkstra(A, directed=True, indices=chunk_nodes, limit=limit)
        if len(chunk_nodes) != len(chunk) or np.any(chunk_nodes != chunk):
            dist = dist[back]
        if tgt is not None:
            dist = dist[:, tgt]
        # build CSR pieces straight from the dense block (row-major = canonical order)
        # unreached nodes are inf, which only an infinite limit would let through
        within = dist <= limit if np.isfinite(limit) else np.isfinite(dist)
        flat = np.flatnonzero(within)
        counts.append(within.sum(axis=1))
        cols.append(flat % ncols)
        vals.append(np.maximum(dist.ravel()[flat], MIN_MINUTES * 60))
    indptr = np.zeros(len(src) + 1, np.int64)
    if counts:
        np.cumsum(np.concatenate(counts), out=indptr[1:])
    M = sparse.csr_matrix(
        (
            np.concatenate(vals) if vals else np.empty(0),
            np.concatenate(cols) if cols else np.empty(0, np.int64),
            indptr,
        ),
        shape=(len(src), ncols),
    )
    M.has_canonical_format = True
    return M


# --------------------------------------------------------------------------- matrices


@dataclass
class TravelTimes:
    """Sparse site-by-demand travel times in minutes, up to a cutoff.

    A stored entry means "reachable within ``cutoff_minutes``"; a missing entry means
    slower than the cutoff (or unreachable). Stored values are at least
    :data:`MIN_MINUTES`, so 0-minute pairs survive sparse operations.

    Attributes
    ----------
    minutes : scipy.sparse.csr_matrix
        Shape ``(n_sites, n_demand)``, travel time site -> demand (or demand -> site,
        see ``direction``).
    site_ids, demand_ids : ndarray
        Row and column labels.
    estimated : ndarray of bool
        Per demand point: farther than the snap tolerance from the network, so its
        times are straight-line estimates.
    site_estimated : ndarray of bool
        Per site: off the network, likewise.
    pair_estimated : ndarray of bool
        Aligned with ``minutes.data``: the pair's time is an estimate.
    cutoff_minutes : float
        Largest time stored.
    site_nodes, demand_nodes : ndarray
        Graph nodes the points were snapped to.
    site_snap_m, demand_snap_m : ndarray of float
        Snap distances, metres.
    direction : str
        ``"from_sites"`` (ambulance dispatch) or ``"to_sites"`` (patients travelling).
    """

    minutes: sparse.csr_matrix
    site_ids: np.ndarray
    demand_ids: np.ndarray
    estimated: np.ndarray
    site_estimated: np.ndarray
    pair_estimated: np.ndarray
    cutoff_minutes: float
    site_nodes: np.ndarray
    demand_nodes: np.ndarray
    site_snap_m: np.ndarray
    demand_snap_m: np.ndarray
    direction: str = "from_sites"

    @property
    def shape(self) -> tuple[int, int]:
        """Return ``(n_sites, n_demand)``."""
        return self.minutes.shape

    def _site_mask(self, open_sites: Any) -> np.ndarray:
        """Return a boolean row mask from ``None``, a boolean mask or row indices."""
        if open_sites is None:
            return np.ones(self.shape[0], bool)
        arr = np.asarray(open_sites)
        if arr.dtype == bool:
            return arr
        mask = np.zeros(self.shape[0], bool)
        mask[arr.astype(np.int64)] = True
        return mask

    def coverage(self, minutes: float) -> sparse.csr_matrix:
        """Return a boolean ``(n_sites, n_demand)`` matrix of pairs within ``minutes``.

        Parameters
        ----------
        minutes : float
            Service standard; must not exceed ``cutoff_minutes``.

        Returns
        -------
        scipy.sparse.csr_matrix of bool
            Explicit ``True`` for every covered pair (including 0-minute pairs).
        """
        if minutes > self.cutoff_minutes + 1e-9:
            raise InputError(
                None,
                "minutes",
                f"standard of {minutes} min exceeds the matrix cutoff of "
                f"{self.cutoff_minutes} min; rebuild the matrix with a larger cutoff",
            )
        M = self.minutes.tocoo()
        keep = M.data <= minutes
        return sparse.csr_matrix(
            (np.ones(keep.sum(), bool), (M.row[keep], M.col[keep])), shape=self.shape
        )

    def within(self, minutes: float) -> TravelTimes:
        """Return the matrix cut down to ``minutes``, as if it had been built with that cutoff.

        Batch runs build one matrix at the largest response standard of a sweep and cut it
        per scenario, so every scenario sees exactly the matrix a single run would build.

        Parameters
        ----------
        minutes : float
            New cutoff; at most ``cutoff_minutes``.

        Returns
        -------
        TravelTimes
            ``self`` when ``minutes`` is not smaller than the cutoff.
        """
        if minutes > self.cutoff_minutes + 1e-9:
            raise InputError(None, "minutes", f"cannot extend a {self.cutoff_minutes} min matrix to {minutes} min")
        if minutes >= self.cutoff_minutes:
            return self
        M = self.minutes
        keep = M.data <= minutes
        rows = np.repeat(np.arange(M.shape[0]), np.diff(M.indptr))[keep]
        indptr = np.zeros(M.shape[0] + 1, np.int64)
        np.cumsum(np.bincount(rows, minlength=M.shape[0]), out=indptr[1:])
        cut = sparse.csr_matrix((M.data[keep], M.indices[keep], indptr), shape=M.shape)
        cut.has_canonical_format = True
        return replace(self, minutes=cut, pair_estimated=self.pair_estimated[keep], cutoff_minutes=float(minutes))

    def estimated_pairs(self) -> sparse.csr_matrix:
        """Return a boolean matrix of the pairs whose time is a straight-line estimate."""
        M = self.minutes.tocoo()
        keep = self.pair_estimated
        return sparse.csr_matrix(
            (np.ones(keep.sum(), bool), (M.row[keep], M.col[keep])), shape=self.shape
        )

    def min_time_per_demand(self, open_sites: Any = None) -> np.ndarray:
        """Return each demand point's fastest time from the (open) sites, ``inf`` if none.

        Parameters
        ----------
        open_sites : None, boolean mask or row indices
            Sites to consider; all by default.

        Returns
        -------
        ndarray of float
            Minutes per demand point.
        """
        return self.nearest(open_sites)["minutes"].to_numpy()

    def nearest(self, open_sites: Any = None) -> pd.DataFrame:
        """Return each demand point's fastest (open) site.

        Parameters
        ----------
        open_sites : None, boolean mask or row indices
            Sites to consider; all by default.

        Returns
        -------
        pandas.DataFrame
            One row per demand point: ``demand_id``, ``site_index`` (-1 if none within
            the cutoff), ``site_id`` (None), ``minutes`` (inf) and ``estimated``.
        """
        M = self.minutes.tocoo()
        keep = self._site_mask(open_sites)[M.row]
        row, col, val = M.row[keep], M.col[keep], M.data[keep]
        est = self.pair_estimated[keep]
        # sort by (demand, time, site) and take the first per demand: ties go to the
        # lowest site index, so results are reproducible
        order = np.lexsort((row, val, col))
        col, row, val, est = col[order], row[order], val[order], est[order]
        first = np.ones(len(col), bool)
        first[1:] = col[1:] != col[:-1]
        n = self.shape[1]
        site_index = np.full(n, -1, np.int64)
        minutes = np.full(n, np.inf)
        estimated = self.estimated.copy()
        site_index[col[first]] = row[first]
        minutes[col[first]] = val[first]
        estimated[col[first]] = est[first]
        site_id = np.where(site_index >= 0, self.site_ids[np.maximum(site_index, 0)], None)
        return pd.DataFrame(
            {
                "demand_id": self.demand_ids,
                "site_index": site_index,
                "site_id": site_id,
                "minutes": minutes,
                "estimated": estimated,
            }
        )

    def to_frame(self) -> pd.DataFrame:
        """Return the long table ``site_id, demand_id, minutes, estimated`` (row-major)."""
        M = self.minutes.tocoo()
        return pd.DataFrame(
            {
                "site_id": self.site_ids[M.row],
                "demand_id": self.demand_ids[M.col],
                "minutes": M.data,
                "estimated": self.pair_estimated,
            }
        )


def _ids(gdf: gpd.GeoDataFrame, column: str | None) -> np.ndarray:
    """Return labels from ``column`` if present, else the index."""
    if column is not None and column in gdf.columns:
        return gdf[column].to_numpy()
    return gdf.index.to_numpy()


def _estimated_pairs(
    from_xy: np.ndarray,
    to_xy: np.ndarray,
    to_subset: np.ndarray,
    radius_m: float,
    seconds_per_m: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Straight-line estimates from every ``from`` point to the ``to_subset`` points.

    Uses a KD-tree ball query so only pairs within ``radius_m`` are ever formed.
    Returns ``(from_index, to_index, seconds)``.
    """
    if len(to_subset) == 0 or len(from_xy) == 0:
        empty = np.empty(0, np.int64)
        return empty, empty, np.empty(0)
    tree = cKDTree(from_xy)
    hits = tree.query_ball_point(to_xy[to_subset], r=radius_m)
    lengths = np.fromiter((len(h) for h in hits), np.int64, len(hits))
    to_idx = np.repeat(to_subset, lengths)
    from_idx = np.fromiter((i for h in hits for i in h), np.int64, int(lengths.sum()))
    dist = np.hypot(*(from_xy[from_idx] - to_xy[to_idx]).T)
    return from_idx, to_idx, dist * seconds_per_m


def travel_time_matrix(
    G: nx.MultiDiGraph,
    sites_gdf: gpd.GeoDataFrame,
    demand_gdf: gpd.GeoDataFrame,
    cutoff_minutes: float,
    *,
    snap_tolerance_m: float = settings.DEFAULT_SNAP_TOLERANCE_M,
    circuity: float = settings.DEFAULT_CIRCUITY,
    fallback_speed_kph: float = settings.DEFAULT_FALLBACK_SPEED_KPH,
    direction: str = "from_sites",
    site_id_column: str | None = "site_id",
    demand_id_column: str | None = "demand_id",
) -> TravelTimes:
    """Compute site-to-demand travel times up to ``cutoff_minutes`` (sparse).

    Both layers are snapped to their nearest graph node. For points on the network the
    time is access leg + network time + access leg; points farther than
    ``snap_tolerance_m`` from any node get a straight-line estimate
    (distance x ``circuity`` / ``fallback_speed_kph``) to every counterpart within
    range and are flagged ``estimated``.

    Parameters
    ----------
    G : networkx.MultiDiGraph
        Road graph with ``travel_time`` (s) on edges.
    sites_gdf, demand_gdf : GeoDataFrame
        Points (any CRS). Ids come from ``site_id_column`` / ``demand_id_column`` when
        present, else from the index.
    cutoff_minutes : float
        Largest travel time kept.
    snap_tolerance_m : float
        Farther than this from the network means off-network (estimated).
    circuity : float
        Network distance / straight-line distance for unmapped legs.
    fallback_speed_kph : float
        Speed on unmapped legs.
    direction : {"from_sites", "to_sites"}
        Dispatch from sites to demand (ambulances) or travel from demand to sites.
    site_id_column, demand_id_column : str or None
        Columns holding ids.

    Returns
    -------
    TravelTimes
        Sparse minutes with rows = sites and columns = demand points.
    """
    if direction not in {"from_sites", "to_sites"}:
        raise InputError(
            None, "direction", f"must be 'from_sites' or 'to_sites', got {direction!r}"
        )
    if not cutoff_minutes > 0:
        raise InputError(None, "cutoff_minutes", f"must be positive, got {cutoff_minutes!r}")
    site_nodes, site_snap = nearest_nodes(G, sites_gdf)
    dem_nodes, dem_snap = nearest_nodes(G, demand_gdf)
    site_off, dem_off = site_snap > snap_tolerance_m, dem_snap > snap_tolerance_m
    cutoff_s = cutoff_minutes * 60.0
    # Access legs (point -> nearest node) run on lanes and compound roads that are not in
    # the graph: they get the same straight-line x circuity / fallback-speed rule as
    # off-network points, so times do not jump when a point crosses the tolerance.
    seconds_per_m = circuity / (fallback_speed_kph / 3.6)
    site_access, dem_access = site_snap * seconds_per_m, dem_snap * seconds_per_m

    on_sites, on_dem = np.flatnonzero(~site_off), np.flatnonzero(~dem_off)
    net = network_times(
        G,
        site_nodes[on_sites],
        cutoff_s,
        targets=dem_nodes[on_dem],
        reverse=direction == "to_sites",
    ).tocoo()
    net_rows, net_cols = on_sites[net.row], on_dem[net.col]
    net_secs = net.data + site_access[net_rows] + dem_access[net_cols]
    # pairs with at least one off-network end: demand off (all sites), site off (demand on)
    site_xy, dem_xy = _metric_xy(sites_gdf, "sites"), _metric_xy(demand_gdf, "demand")
    radius = cutoff_s / seconds_per_m
    s1, d1, t1 = _estimated_pairs(site_xy, dem_xy, np.flatnonzero(dem_off), radius, seconds_per_m)
    d2, s2, t2 = _estimated_pairs(dem_xy, site_xy, np.flatnonzero(site_off), radius, seconds_per_m)
    site_on_dem = ~dem_off[d2]
    rows = np.concatenate([net_rows, s1, s2[site_on_dem]])
    cols = np.concatenate([net_cols, d1, d2[site_on_dem]])
    secs = np.concatenate([net_secs, t1, t2[site_on_dem]])
    n_est = len(s1) + int(site_on_dem.sum())
    est = np.concatenate([np.zeros(len(net_rows), bool), np.ones(n_est, bool)])
    keep = secs <= cutoff_s
    return _assemble(
        rows[keep],
        cols[keep],
        secs[keep] / 60.0,
        est[keep],
        shape=(len(sites_gdf), len(demand_gdf)),
        site_ids=_ids(sites_gdf, site_id_column),
        demand_ids=_ids(demand_gdf, demand_id_column),
        estimated=dem_off,
        site_estimated=site_off,
        cutoff_minutes=float(cutoff_minutes),
        site_nodes=site_nodes,
        demand_nodes=dem_nodes,
        site_snap_m=site_snap,
        demand_snap_m=dem_snap,
        direction=direction,
    )


def _assemble(
    rows: np.ndarray,
    cols: np.ndarray,
    minutes: np.ndarray,
    est: np.ndarray,
    *,
    shape: tuple[int, int],
    **fields: Any,
) -> TravelTimes:
    """Build a :class:`TravelTimes` in canonical CSR order with ``pair_estimated`` aligned."""
    order = np.lexsort((cols, rows))
    rows, cols, minutes, est = rows[order], cols[order], minutes[order], est[order]
    indptr = np.zeros(shape[0] + 1, np.int64)
    np.add.at(indptr, rows + 1, 1)
    M = sparse.csr_matrix(
        (np.maximum(minutes, MIN_MINUTES), cols.astype(np.int64), np.cumsum(indptr)),
        shape=shape,
    )
    M.has_canonical_format = True
    return TravelTimes(minutes=M, pair_estimated=est, **fields)


def site_to_site_matrix(
    G: nx.MultiDiGraph,
    sites_gdf: gpd.GeoDataFrame,
    cutoff_minutes: float = 120.0,
    **kwargs: Any,
) -> TravelTimes:
    """Compute travel times between sites (rows and columns are the same sites).

    Parameters
    ----------
    G : networkx.MultiDiGraph
        Road graph.
    sites_gdf : GeoDataFrame
        Site points.
    cutoff_minutes : float
        Largest time kept.
    **kwargs
        Passed to :func:`travel_time_matrix` (tolerance, circuity, speed, id column).

    Returns
    -------
    TravelTimes
        Square matrix; ``demand_ids`` equal ``site_ids``.
    """
    id_col = kwargs.pop("site_id_column", "site_id")
    return travel_time_matrix(
        G,
        sites_gdf,
        sites_gdf,
        cutoff_minutes,
        site_id_column=id_col,
        demand_id_column=id_col,
        **kwargs,
    )


def service_areas(
    G: nx.MultiDiGraph,
    source_nodes: Sequence[Any],
    minutes: float | Sequence[float],
    *,
    buffer_m: float = 120.0,
    reverse: bool = False,
) -> gpd.GeoDataFrame:
    """Return isochrone polygons: roads reachable from each source within ``minutes``.

    Reachable edges (both ends within the time) are buffered by ``buffer_m`` in the
    metric CRS and unioned, which follows the street pattern rather than drawing a
    convex hull across rivers and rail yards.

    Parameters
    ----------
    G : networkx.MultiDiGraph
        Road graph.
    source_nodes : sequence
        Graph node ids.
    minutes : float or sequence of float
        One or more thresholds; one polygon per (source, threshold).
    buffer_m : float
        Half-width of the drawn corridor, metres.
    reverse : bool
        Areas from which the source is reachable, instead of reachable from it.

    Returns
    -------
    GeoDataFrame
        Columns ``source_node``, ``minutes``, ``geometry`` in EPSG:4326.
    """
    thresholds = sorted(np.atleast_1d(np.asarray(minutes, float)).tolist())
    times = network_times(G, list(source_nodes), max(thresholds) * 60.0, reverse=reverse)
    entry = _derived(G)
    if "edge_buffers" not in entry or entry["edge_buffers"][0] != buffer_m:
        entry["edge_buffers"] = (buffer_m, *_edge_buffers(G, buffer_m))
    _, u_pos, v_pos, buffers = entry["edge_buffers"]
    _, xy = _node_tree(G)
    # The union is the slow part (~1 s per area); batch runs ask for the same stations again.
    memo = entry.setdefault("service_areas", {})
    records = []
    for i, source in enumerate(source_nodes):
        row = times.getrow(i)
        secs = np.full(len(G), np.inf)
        secs[row.indices] = row.data
        for limit in thresholds:
            key = (source, limit, buffer_m, reverse)
            if key not in memo:
                reach = secs <= limit * 60.0
                sel = reach[u_pos] & reach[v_pos]
                geom = shapely.union_all(buffers[sel]) if sel.any() else None
                if geom is None or geom.is_empty:
                    geom = shapely.Point(xy[node_positions(G, [source])[0]]).buffer(buffer_m)
                memo[key] = geom
            records.append({"source_node": source, "minutes": limit, "geometry": memo[key]})
    gdf = gpd.GeoDataFrame(records, geometry="geometry", crs=settings.CRS_METRIC)
    return gdf.to_crs(settings.CRS_GEOGRAPHIC)


def _edge_buffers(G: nx.MultiDiGraph, buffer_m: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return edge end positions and their metric buffered geometries (computed once)."""
    _, xy = _node_tree(G)
    u_pos, v_pos, lines = [], [], []
    index = _derived(G)["index"]
    for u, v, d in G.edges(data=True):
        u_pos.append(index[u])
        v_pos.append(index[v])
        geom = d.get("geometry")
        if geom is None:
            lines.append(shapely.LineString([xy[index[u]], xy[index[v]]]))
        else:
            coords = shapely.get_coordinates(geom)
            lines.append(shapely.LineString(np.column_stack(_TO_METRIC.transform(*coords.T))))
    buffers = shapely.buffer(np.asarray(lines, dtype=object), buffer_m, quad_segs=4)
    return np.asarray(u_pos), np.asarray(v_pos), buffers
