"""Circuity of off-network travel legs by the terrain of the district a point lies in.

Plumbing for the callers of :func:`healthopt.traveltime.travel_time_matrix`: a point in a
district whose terrain class is known (``tables/terrain.csv``) gets that class's circuity
(``network.terrain_circuity``); every other point, and every point when
``network.terrain_circuity`` is ``null``, gets ``network.circuity``.
"""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import numpy as np

from healthopt import settings

__all__ = ["class_circuity", "point_circuity"]


def point_circuity(points: gpd.GeoDataFrame, *, districts: gpd.GeoDataFrame, network: Any) -> np.ndarray:
    """Return the circuity of each point's off-network legs.

    Parameters
    ----------
    points : GeoDataFrame
        Points in any CRS.
    districts : GeoDataFrame
        District polygons with ``terrain`` (``plain`` / ``hilly`` / ``mountain`` or missing).
    network : healthopt.scenario.schema.Network
        ``circuity`` (fallback) and ``terrain_circuity`` (per class, or ``None``).

    Returns
    -------
    ndarray
        One factor per point, in order.
    """
    out = np.full(len(points), float(network.circuity))
    by_class = network.terrain_circuity
    if by_class is None or len(points) == 0 or "terrain" not in districts.columns:
        return out
    shapes = districts.loc[districts["terrain"].notna(), ["terrain", "geometry"]]
    if shapes.empty:
        return out
    wgs84 = settings.CRS_GEOGRAPHIC
    pts = gpd.GeoDataFrame(geometry=points.geometry.to_crs(wgs84).to_numpy(), crs=wgs84)
    hits = gpd.sjoin(pts, shapes.to_crs(settings.CRS_GEOGRAPHIC), how="inner", predicate="intersects")
    hits = hits[~hits.index.duplicated(keep="first")]  # a point on a shared border: the first district
    factor = hits["terrain"].map(lambda t: class_circuity(t, network=network))
    out[hits.index.to_numpy()] = factor.to_numpy(dtype=float)
    return out


def class_circuity(terrain: str | None, *, network: Any) -> float:
    """Return the circuity for a terrain class (``network.circuity`` when unknown or switched off)."""
    by_class = network.terrain_circuity
    if by_class is None or not isinstance(terrain, str) or terrain not in settings.TERRAIN_CLASSES:
        return float(network.circuity)
    return float(getattr(by_class, terrain))
