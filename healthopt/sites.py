"""Candidate facility sites: thinned network nodes, district seats and user sites.

Every candidate carries a stable ``site_id`` and the graph node it is served from, so
travel-time matrices and model results can be joined back reproducibly.
"""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import shapely

from healthopt import settings
from healthopt.data.crs import union_wgs84
from healthopt.errors import InputError
from healthopt.network import HIGHWAY_RANK
from healthopt.traveltime import nearest_nodes, node_order, node_tree

#: Output columns, in order.
SITE_COLUMNS: list[str] = [
    "site_id",
    "kind",
    "name",
    "node",
    "snap_m",
    "district_code",
    "location_quality",
    "geometry",
]


def _node_scores(G: nx.MultiDiGraph, nodes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return (best road-class rank of incident edges, undirected degree) per node.

    Facilities on main roads with many links reach more of the city quickly, so such
    nodes are preferred when thinning.
    """
    best = {n: -1 for n in nodes}
    for u, v, hw in G.edges(data="highway"):
        classes = hw if isinstance(hw, list) else [hw]
        rank = max(HIGHWAY_RANK.get(h, -1) for h in classes)
        for n in (u, v):
            if n in best:  # nodes outside the study area are not scored
                best[n] = max(best[n], rank)
    degree = np.fromiter((len(set(G.successors(n)) | set(G.predecessors(n))) for n in nodes), int)
    return np.fromiter((best[n] for n in nodes), int, len(nodes)), degree


def thin_nodes(
    G: nx.MultiDiGraph, spacing_m: float, *, boundary: Any = None
) -> tuple[np.ndarray, np.ndarray]:
    """Pick graph nodes at least ``spacing_m`` apart, best-connected first.

    Greedy selection in a fixed order (road class, then degree, then node id, all
    deterministic) with a grid hash of cell size ``spacing_m`` so each check only looks
    at the 3 x 3 neighbouring cells.

    Parameters
    ----------
    G : networkx.MultiDiGraph
        Road graph.
    spacing_m : float
        Minimum distance between chosen nodes, metres.
    boundary : shapely geometry (WGS84), GeoDataFrame or GeoSeries, optional
        Only nodes inside are considered.

    Returns
    -------
    nodes : ndarray
        Chosen node ids, in selection order.
    xy : ndarray of shape (k, 2)
        Their metric coordinates.
    """
    if not spacing_m > 0:
        raise InputError(None, "spacing_m", f"must be positive, got {spacing_m!r}")
    nodes = node_order(G)
    _, xy = node_tree(G)
    if boundary is not None:
        polygon = union_wgs84(boundary)
        lon = np.fromiter((G.nodes[n]["x"] for n in nodes), float, len(nodes))
        lat = np.fromiter((G.nodes[n]["y"] for n in nodes), float, len(nodes))
        inside = shapely.contains_xy(polygon, lon, lat)
        nodes, xy = nodes[inside], xy[inside]
    rank, degree = _node_scores(G, nodes)
    ids = np.array([str(n) for n in nodes])
    order = np.lexsort((ids, -degree, -rank))
    cells: dict[tuple[int, int], list[int]] = {}
    chosen: list[int] = []
    limit2 = spacing_m * spacing_m
    for i in order:
        cx, cy = int(xy[i, 0] // spacing_m), int(xy[i, 1] // spacing_m)
        near = (
            j for dx in (-1, 0, 1) for dy in (-1, 0, 1) for j in cells.get((cx + dx, cy + dy), ())
        )
        if all(((xy[i] - xy[j]) ** 2).sum() >= limit2 for j in near):
            cells.setdefault((cx, cy), []).append(i)
            chosen.append(i)
    idx = np.asarray(chosen, dtype=np.int64)
    return nodes[idx], xy[idx]


def _point_sites(
    gdf: gpd.GeoDataFrame, kind: str, id_column: str, prefix: str, quality: str
) -> gpd.GeoDataFrame:
    """Normalise a point layer (seats or user sites) to the candidate columns."""
    if gdf.crs is None:
        raise InputError(None, f"{kind}.geometry", "layer has no CRS")
    out = gpd.GeoDataFrame(geometry=gdf.geometry.to_crs(settings.CRS_GEOGRAPHIC).to_numpy())
    out.crs = settings.CRS_GEOGRAPHIC
    if id_column in gdf.columns:
        raw = gdf[id_column].astype(str).to_numpy()
    else:
        raw = np.arange(len(gdf)).astype(str)
    out["site_id"] = [f"{prefix}{v}" for v in raw]
    out["kind"] = kind
    out["name"] = gdf["name"].to_numpy() if "name" in gdf.columns else None
    if "location_quality" in gdf.columns:
        out["location_quality"] = gdf["location_quality"].to_numpy()
    elif "quality" in gdf.columns:
        out["location_quality"] = gdf["quality"].to_numpy()
    else:
        out["location_quality"] = quality
    code = _code_column(gdf)
    if kind == "district_seat" and code is not None:
        out["district_code"] = gdf[code].astype(str).to_numpy()
    return out


def _code_column(gdf: pd.DataFrame) -> str | None:
    """Name of the district-code column: ``code`` (embedded loader) or ``adcode`` (raw files)."""
    return next((c for c in ("code", "adcode") if c in gdf.columns), None)


def _attach_districts(sites: gpd.GeoDataFrame, districts: gpd.GeoDataFrame) -> pd.Series:
    """Return the code of the district polygon containing each site (first match)."""
    code = _code_column(districts)
    if code is None:
        raise InputError(None, "districts.code", "column missing in the districts layer")
    polys = districts.to_crs(settings.CRS_GEOGRAPHIC)[[code, "geometry"]].rename(columns={code: "adcode"})
    joined = gpd.sjoin(sites[["geometry"]], polys, how="left", predicate="within")
    first = joined[~joined.index.duplicated(keep="first")]
    codes = first["adcode"].reindex(sites.index)
    return codes.where(codes.isna(), codes.astype(str).str.replace(r"\.0$", "", regex=True))


def candidate_sites(
    G: nx.MultiDiGraph,
    *,
    spacing_m: float = settings.DEFAULT_CANDIDATE_SPACING_M,
    seats: gpd.GeoDataFrame | None = None,
    extra: gpd.GeoDataFrame | None = None,
    boundary: Any = None,
    districts: gpd.GeoDataFrame | None = None,
) -> gpd.GeoDataFrame:
    """Return candidate facility sites, deterministic in content and order.

    Parameters
    ----------
    G : networkx.MultiDiGraph
        Road graph.
    spacing_m : float
        Minimum spacing between network-node candidates, metres.
    seats : GeoDataFrame, optional
        District/county seats (points with ``adcode`` and ``name``).
    extra : GeoDataFrame, optional
        User-supplied sites (points; ids from a ``site_id`` column, else row numbers).
    boundary : shapely geometry (WGS84), GeoDataFrame or GeoSeries, optional
        Study area for network-node candidates (seats and user sites are kept as given).
    districts : GeoDataFrame, optional
        District polygons with ``adcode``; fills ``district_code``.

    Returns
    -------
    GeoDataFrame
        EPSG:4326 points with columns ``site_id`` (``node-<id>``, ``seat-<adcode>``,
        ``user-<id>``), ``kind`` (``network_node``/``district_seat``/``user``), ``name``,
        ``node`` (nearest graph node), ``snap_m``, ``district_code`` and
        ``location_quality``; network nodes first (selection order), then seats, then
        user sites.

    Raises
    ------
    InputError
        On duplicate site ids, layers without CRS or a bad spacing.
    """
    nodes, _ = thin_nodes(G, spacing_m, boundary=boundary)
    lon = [G.nodes[n]["x"] for n in nodes]
    lat = [G.nodes[n]["y"] for n in nodes]
    net = gpd.GeoDataFrame(
        {
            "site_id": [f"node-{n}" for n in nodes],
            "kind": "network_node",
            "name": None,
            "location_quality": "network_node",
        },
        geometry=gpd.points_from_xy(lon, lat),
        crs=settings.CRS_GEOGRAPHIC,
    )
    parts = [net]
    if seats is not None and len(seats):
        parts.append(_point_sites(seats, "district_seat", _code_column(seats) or "adcode", "seat-", "given"))
    if extra is not None and len(extra):
        parts.append(_point_sites(extra, "user", "site_id", "user-", "given"))
    sites = gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), crs=settings.CRS_GEOGRAPHIC)
    dupes = sites["site_id"][sites["site_id"].duplicated()].unique()
    if len(dupes):
        raise InputError(None, "site_id", f"duplicate candidate site ids: {', '.join(dupes[:5])}")
    sites["node"], sites["snap_m"] = nearest_nodes(G, sites)
    if "district_code" not in sites.columns:
        sites["district_code"] = None
    if districts is not None:
        codes = _attach_districts(sites, districts)
        sites["district_code"] = sites["district_code"].where(sites["district_code"].notna(), codes)
    return sites[SITE_COLUMNS]
