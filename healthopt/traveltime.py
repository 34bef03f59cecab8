"""Sparse travel-time matrices between sites and demand points on the road graph.

:func:`travel_time_matrix` snaps both layers to graph nodes and runs the multi-source
Dijkstra of :mod:`healthopt._routing` with a cutoff, so only reachable pairs are kept;
points too far from the network get a straight-line estimate (distance x circuity /
fallback speed), flagged ``estimated``. The engine's public functions
(:func:`network_times`, :func:`nearest_nodes`, :func:`service_areas`, ...) are re-exported
here, where callers have always found them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
from scipy import sparse
from scipy.spatial import cKDTree

from healthopt import settings
from healthopt._routing import (
    MIN_MINUTES,
    graph_csr,
    metric_xy,
    nearest_nodes,
    network_times,
    node_order,
    node_positions,
    node_tree,
    service_areas,
)
from healthopt.errors import InputError

__all__ = [
    "MIN_MINUTES",
    "TravelTimes",
    "graph_csr",
    "nearest_nodes",
    "network_times",
    "node_order",
    "node_positions",
    "node_tree",
    "service_areas",
    "travel_time_matrix",
]


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
        site_id = np.where(site_index >= 0, self.site_ids[np.maximum(site_index, 0)], np.array(None, dtype=object))
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
    site_circuity: np.ndarray | None = None,
    demand_circuity: np.ndarray | None = None,
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
    site_circuity, demand_circuity : ndarray, optional
        One circuity per site / demand point (by terrain: :func:`healthopt._terrain.point_circuity`)
        instead of ``circuity``. An access leg uses its own point's factor; an off-network
        pair uses the factor of its off-network end (the demand point's when both are off).

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
    per_m = 1.0 / (fallback_speed_kph / 3.6)
    site_spm = per_m * (np.full(len(site_snap), float(circuity)) if site_circuity is None
                        else np.asarray(site_circuity, dtype=float))  # fmt: skip
    dem_spm = per_m * (np.full(len(dem_snap), float(circuity)) if demand_circuity is None
                       else np.asarray(demand_circuity, dtype=float))  # fmt: skip
    if site_spm.shape != site_snap.shape or dem_spm.shape != dem_snap.shape:
        raise InputError(None, "circuity", "site_circuity / demand_circuity need one value per point")
    site_access, dem_access = site_snap * site_spm, dem_snap * dem_spm

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
    site_xy, dem_xy = metric_xy(sites_gdf, "sites"), metric_xy(demand_gdf, "demand")
    # The ball query uses the smallest factor (longest reach); pairs beyond the cutoff at their
    # own factor are dropped with the others below.
    smallest = min(site_spm.min(initial=np.inf), dem_spm.min(initial=np.inf))
    radius = cutoff_s / smallest if np.isfinite(smallest) else 0.0
    s1, d1, m1 = _estimated_pairs(site_xy, dem_xy, np.flatnonzero(dem_off), radius, 1.0)
    d2, s2, m2 = _estimated_pairs(dem_xy, site_xy, np.flatnonzero(site_off), radius, 1.0)
    t1, t2 = m1 * dem_spm[d1], m2 * site_spm[s2]
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
