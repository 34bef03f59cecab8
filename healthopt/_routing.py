"""The sparse shortest-path engine under :mod:`healthopt.traveltime`.

The graph is turned once into a ``scipy.sparse`` CSR matrix of edge travel times and
searched with :func:`scipy.sparse.csgraph.dijkstra` from many sources at once, with
``limit`` set to the largest standard of interest, so only reachable pairs are kept.
Points are snapped to graph nodes with a ``cKDTree`` in the metric CRS. The CSR matrix,
node order, KD-tree and edge buffers are derived once per graph and kept beside it.
:func:`service_areas` draws isochrones from the same searches.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from typing import Any

import geopandas as gpd
import networkx as nx
import numpy as np
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
# vanish with the graph, and kept off G.graph so they never reach the on-disk graph cache
# (healthopt._graph_cache writes the graph's own attributes as NumPy arrays and JSON).
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


def node_positions(G: nx.MultiDiGraph, nodes: Sequence[Any] | np.ndarray) -> np.ndarray:
    """Return the CSR row numbers of ``nodes``."""
    index = _derived(G)["index"]
    return np.fromiter((index[n] for n in nodes), dtype=np.int64, count=len(nodes))


def node_tree(G: nx.MultiDiGraph) -> tuple[cKDTree, np.ndarray]:
    """Return a KD-tree over node positions in the metric CRS, and those positions."""
    entry = _derived(G)
    if "tree" not in entry:
        nodes = entry["nodes"]
        lon = np.fromiter((G.nodes[n]["x"] for n in nodes), float, len(nodes))
        lat = np.fromiter((G.nodes[n]["y"] for n in nodes), float, len(nodes))
        xy = np.column_stack(_TO_METRIC.transform(lon, lat))
        entry["tree"], entry["xy"] = cKDTree(xy), xy
    return entry["tree"], entry["xy"]


def metric_xy(points: gpd.GeoDataFrame | gpd.GeoSeries, name: str) -> np.ndarray:
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
    tree, _ = node_tree(G)
    dist, idx = tree.query(metric_xy(points, "points"))
    return node_order(G)[idx], dist


# --------------------------------------------------------------------------- engine


def _chunk_size(n_nodes: int) -> int:
    """Return how many sources to search at once so the dense output stays bounded."""
    return max(1, min(1024, _CHUNK_BYTES // (8 * max(n_nodes, 1))))


def network_times(
    G: nx.MultiDiGraph,
    sources: Sequence[Any] | np.ndarray,
    cutoff_seconds: float,
    *,
    targets: Sequence[Any] | np.ndarray | None = None,
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


# --------------------------------------------------------------------------- service areas


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
    _, xy = node_tree(G)
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
    _, xy = node_tree(G)
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
