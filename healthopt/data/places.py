"""Stand-in locations for named facilities that no shipped file locates.

No public coordinates exist for Taiyuan's hospitals (``PROVENANCE.md``). A named hospital
whose district is known sits at that district's seat, flagged ``location_quality =
"proxy"`` in every output; one whose district is unknown gets no location at all
(``"unknown"``) rather than an invented one.
"""

from __future__ import annotations

import geopandas as gpd
import pandas as pd

from healthopt import settings


def proxy_points(frame: pd.DataFrame, seats: gpd.GeoDataFrame, district_col: str = "district_code"
                 ) -> gpd.GeoDataFrame:
    """Place each row at its district's seat (``proxy``), or nowhere (``unknown``).

    Parameters
    ----------
    frame : DataFrame
        Facilities with a district code column (may be empty).
    seats : GeoDataFrame
        District seats with ``code`` and point geometry (EPSG:4326).
    district_col : str
        Column of ``frame`` holding the district code.

    Returns
    -------
    GeoDataFrame
        ``frame`` plus ``location_quality`` and a point geometry (None when unknown).
    """
    seat = seats.set_index("code").geometry
    codes = frame[district_col].astype("string")
    geometry = [seat.get(c) if pd.notna(c) else None for c in codes]
    out = gpd.GeoDataFrame(frame.copy(), geometry=geometry, crs=settings.CRS_GEOGRAPHIC)
    out["location_quality"] = ["proxy" if g is not None else "unknown" for g in geometry]
    return out
