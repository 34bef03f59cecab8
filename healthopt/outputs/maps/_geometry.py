"""Geometry plumbing of the map layers: valid points, light polygons, GeoJSON, bounds."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import geopandas as gpd
import shapely


def valid_points(gdf: gpd.GeoDataFrame | None) -> gpd.GeoDataFrame | None:
    """Return the rows with a non-empty point geometry (None if no layer or no rows)."""
    if gdf is None or len(gdf) == 0:
        return None
    ok = gdf.geometry.notna() & ~gdf.geometry.is_empty
    out = gdf[ok]
    return out if len(out) else None


def lite_polygons(gdf: gpd.GeoDataFrame, tolerance: float, coverage: bool) -> gpd.GeoSeries:
    """Simplify polygons (shared edges kept shared if ``coverage``) and round to ~1 m."""
    geoms = gdf.geometry.to_numpy()
    geoms = (shapely.coverage_simplify(geoms, tolerance) if coverage
             else shapely.simplify(geoms, tolerance, preserve_topology=True))
    geoms = shapely.set_precision(geoms, 1e-5)
    return gpd.GeoSeries(geoms, index=gdf.index, crs=gdf.crs)


def feature_collection(gdf: gpd.GeoDataFrame, props: Mapping[str, Sequence[Any]],
                       geoms: gpd.GeoSeries | None = None) -> dict[str, Any]:
    """Return a GeoJSON FeatureCollection with exactly the given properties (in row order)."""
    geoms = gdf.geometry if geoms is None else geoms
    features = []
    for i, geom in enumerate(geoms):
        features.append({"type": "Feature", "id": i,
                         "properties": {k: v[i] for k, v in props.items()},
                         "geometry": shapely.geometry.mapping(geom)})
    return {"type": "FeatureCollection", "features": features}


def study_bounds(results: dict[str, gpd.GeoDataFrame]) -> list[list[float]]:
    """Return Leaflet ``[[south, west], [north, east]]`` of the districts.

    Parameters
    ----------
    results : dict of str to GeoDataFrame

    Returns
    -------
    list of list of float
    """
    minx, miny, maxx, maxy = (float(v) for v in results["districts"].total_bounds)
    return [[miny, minx], [maxy, maxx]]
