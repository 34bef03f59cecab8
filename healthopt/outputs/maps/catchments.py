"""Coverage areas: isochrones at each station's own response standard (urban or county district).

Off-network (estimated) areas are hatched with a dashed outline.
"""

from __future__ import annotations

from typing import Any

import folium
import geopandas as gpd
import pandas as pd

from healthopt.outputs.legend import LegendEntry, LegendSpec
from healthopt.outputs.maps._format import esc, fmt_num
from healthopt.outputs.maps._geometry import feature_collection, lite_polygons
from healthopt.outputs.maps.names import ESTIMATED_TT_LABEL, HATCH_ID, LAYER_CATCHMENTS

CATCHMENT_COLOR = "#2171b5"
CATCHMENT_FILL = "#6baed6"


def catchment_style(feature: dict[str, Any]) -> dict[str, Any]:
    """Style of one coverage area: hatched and dashed if estimated."""
    if feature["properties"]["estimated"]:
        return {"color": CATCHMENT_COLOR, "weight": 1.5, "dashArray": "6 4",
                "fillColor": f"url(#{HATCH_ID})", "fillOpacity": 1.0}
    return {"color": CATCHMENT_COLOR, "weight": 1.2, "fillColor": CATCHMENT_FILL,
            "fillOpacity": 0.18}


def catchment_layer(areas: gpd.GeoDataFrame, name: str = LAYER_CATCHMENTS, *,
                    station_names: dict[str, str] | None = None) -> folium.GeoJson:
    """Return the coverage-area polygons.

    Parameters
    ----------
    areas : GeoDataFrame
        The ``coverage_areas`` result layer.
    name : str
        Layer name.
    station_names : dict, optional
        Site id -> station name (tooltips name the station, not its id).

    Returns
    -------
    folium.GeoJson
    """
    a = areas.reset_index(drop=True)
    a = a[a.geometry.notna() & ~a.geometry.is_empty].reset_index(drop=True)
    est = [bool(v) for v in a.get("estimated", pd.Series(False, index=a.index))]
    tips = []
    for row, e in zip(a.itertuples(), est, strict=True):
        mins = getattr(row, "minutes", None)
        sid = str(getattr(row, "site_id", ""))
        text = esc(f"{(station_names or {}).get(sid, sid)}: ≤ {fmt_num(mins, 0)} min")
        tips.append(text + (f'<br><span class="hopt-warn">⚠ {esc(ESTIMATED_TT_LABEL)}</span>'
                            if e else ""))
    data = feature_collection(a, {"tip": tips, "estimated": est},
                              lite_polygons(a, 0.0004, coverage=False))
    return folium.GeoJson(data, name=name, show=True, style_function=catchment_style,
                          tooltip=folium.GeoJsonTooltip(fields=["tip"], labels=False))


def catchment_legend(areas: gpd.GeoDataFrame | None = None) -> LegendSpec:
    """Return the coverage-area legend (only the kinds of area drawn; ``None``: both)."""
    kinds = {True, False} if areas is None or "estimated" not in areas.columns \
        else {bool(v) for v in areas["estimated"]}
    hatch = (f"repeating-linear-gradient(45deg,{CATCHMENT_COLOR} 0 2px,"
             f"rgba(107,174,214,0.15) 2px 6px)")
    entries = []
    if False in kinds:
        entries.append(LegendEntry("路网行程时间 Travel within the standard less the dispatch delay (road network)",
                                   CATCHMENT_FILL, "square", 14, border=CATCHMENT_COLOR, opacity=0.5))
    if True in kinds:
        entries += [LegendEntry("⚠ 估算 Estimated travel time (off-network, hatched)", hatch, "square", 14,
                                border=CATCHMENT_COLOR),
                    LegendEntry("估算范围边界 Estimated area outline", CATCHMENT_COLOR, "dashed", 18)]
    return LegendSpec("覆盖范围 Coverage areas", entries)
