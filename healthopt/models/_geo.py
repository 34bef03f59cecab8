"""GeoDataFrame input for the models: a Euclidean demand × sites cost matrix in metres.

Distances are measured between geometry centroids in a metric CRS: projected input is used
as it is (both layers in the demand layer's CRS), geographic input (degrees) is reprojected
to the UTM zone of the demand layer first. A layer without a CRS is refused, since its
coordinates could be degrees or metres and the distances would silently be wrong.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy.spatial.distance import cdist

from healthopt.errors import InputError

if TYPE_CHECKING:  # pragma: no cover
    from healthopt.models.base import LocationOptions


@dataclass(frozen=True)
class GeoInputs:
    """Arrays read from a demand and a site layer, aligned with the cost matrix."""

    cost: np.ndarray
    weights: np.ndarray | None
    demand_ids: np.ndarray
    site_ids: np.ndarray
    fixed: np.ndarray | None
    capacities: np.ndarray | None

    def ids(self, options: LocationOptions) -> LocationOptions:
        """Return ``options`` with ``site_ids``/``demand_ids`` from the layers unless given."""
        out = options.copy()
        out.setdefault("site_ids", self.site_ids)
        out.setdefault("demand_ids", self.demand_ids)
        return out


def _metric_points(frame: Any, field_name: str, crs: Any) -> np.ndarray:
    if getattr(frame, "crs", None) is None:
        raise InputError(
            None,
            f"{field_name}.crs",
            "is missing: set the layer's CRS (e.g. gdf.set_crs('EPSG:4326')) so distances can be measured",
        )
    if len(frame) == 0:
        raise InputError(None, field_name, "has no rows")
    geom = frame.geometry.to_crs(crs)
    if geom.is_empty.any() or geom.isna().any():
        raise InputError(None, f"{field_name}.geometry", "has empty or missing geometries")
    pts = geom.centroid
    xy = np.column_stack([pts.x.to_numpy(float), pts.y.to_numpy(float)])
    if not np.isfinite(xy).all():
        raise InputError(None, f"{field_name}.geometry", "has coordinates that are not finite numbers")
    return xy


def metric_crs(demand: Any) -> Any:
    """Return the demand layer's CRS if projected, else its estimated UTM zone."""
    if getattr(demand, "crs", None) is None:
        raise InputError(
            None,
            "demand.crs",
            "is missing: set the layer's CRS (e.g. gdf.set_crs('EPSG:4326')) so distances can be measured",
        )
    return demand.crs if demand.crs.is_projected else demand.estimate_utm_crs()


def euclidean_cost_matrix(demand: Any, sites: Any) -> np.ndarray:
    """Return the **demand × sites** matrix of Euclidean centroid distances in metres."""
    crs = metric_crs(demand)
    return cdist(_metric_points(demand, "demand", crs), _metric_points(sites, "sites", crs))


def _column(frame: Any, col: str | None, field_name: str) -> np.ndarray | None:
    if col is None:
        return None
    if col not in frame.columns:
        raise InputError(None, field_name, f"names column {col!r}, which the layer does not have")
    return frame[col].to_numpy()


def geo_inputs(
    demand: Any,
    sites: Any,
    *,
    weights_col: str | None = None,
    demand_id_col: str | None = None,
    site_id_col: str | None = None,
    fixed_col: str | None = None,
    capacity_col: str | None = None,
) -> GeoInputs:
    """Read the cost matrix and the named columns of a demand and a site GeoDataFrame."""
    cost = euclidean_cost_matrix(demand, sites)
    weights = _column(demand, weights_col, "weights_col")
    dids = _column(demand, demand_id_col, "demand_id_col")
    sids = _column(sites, site_id_col, "site_id_col")
    fixed = _column(sites, fixed_col, "predefined_facility_col")
    caps = _column(sites, capacity_col, "facility_capacity_col")
    return GeoInputs(
        cost,
        None if weights is None else weights.astype(float),
        np.asarray(demand.index) if dids is None else dids,
        np.asarray(sites.index) if sids is None else sids,
        None if fixed is None else fixed.astype(bool),
        None if caps is None else caps.astype(float),
    )


__all__ = ["GeoInputs", "euclidean_cost_matrix", "geo_inputs", "metric_crs"]
