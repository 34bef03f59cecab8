"""Critical-care green channel: sender -> receiver referral lines with their travel times.

The lines are drawn above the station markers (their own pane) with a white halo, so they
stay visible at the default zoom; the legend says "road network time" only for routes timed
on the road network and "straight-line estimate" for the others.
"""

from __future__ import annotations

import folium
import geopandas as gpd

from healthopt.outputs.legend import LegendEntry, LegendSpec
from healthopt.outputs.maps._format import esc, quality_text, tip_table
from healthopt.outputs.maps.elements import InPane
from healthopt.outputs.maps.names import LAYER_GREEN

GREEN_COLOR = "#0b7a3e"
GREEN_PANE = "hopt-green"
#: Above markers (600), below tooltips (650) and popups (700).
GREEN_Z = 640


def green_channel_layer(routes: gpd.GeoDataFrame | None) -> folium.FeatureGroup | None:
    """Return sender -> receiver referral lines with their travel times, or None if none."""
    if routes is None or routes.empty:
        return None
    group = folium.FeatureGroup(name=LAYER_GREEN, show=True)
    for row in routes.itertuples():
        coords = [[round(y, 6), round(x, 6)] for x, y in row.geometry.coords]
        est = bool(row.estimated)
        how = "straight-line estimate 直线估算" if est else "road network time 路网时间"
        tip = tip_table([
            ("转出 From", esc(row.sender)), ("转入 To", esc(row.receiver)),
            ("时间 Time", esc(f"{row.minutes:.0f} min — {how}" + (" ⚠" if est else ""))),
            ("位置 Locations", esc(f"{quality_text(row.sender_location_quality)} / "
                                   f"{quality_text(row.receiver_location_quality)}")),
        ])
        folium.PolyLine(coords, color="#ffffff", weight=9, opacity=0.9, interactive=False).add_to(group)
        folium.PolyLine(coords, color=GREEN_COLOR, weight=5, opacity=0.95,
                        dash_array="10 6" if est else None, tooltip=folium.Tooltip(tip)).add_to(group)
        for (lat, lon), name, quality in ((coords[0], row.sender, row.sender_location_quality),
                                          (coords[-1], row.receiver, row.receiver_location_quality)):
            folium.CircleMarker([lat, lon], radius=7, color=GREEN_COLOR, fill=True, fill_color="#ffffff",
                                fill_opacity=1, weight=3, dash_array="3 3" if quality == "proxy" else None,
                                tooltip=folium.Tooltip(esc(f"{name} ({quality_text(quality)})"))).add_to(group)
    InPane(GREEN_PANE, GREEN_Z).add_to(group)
    return group


def green_channel_legend(routes: gpd.GeoDataFrame | None = None) -> LegendSpec:
    """Return the green-channel legend: one line entry per kind of time actually drawn.

    Parameters
    ----------
    routes : GeoDataFrame, optional
        The drawn routes (``estimated`` column); ``None`` lists both kinds.

    Returns
    -------
    LegendSpec
    """
    if routes is None or routes.empty or "estimated" not in routes.columns:
        kinds = {True, False}
    else:
        kinds = {bool(v) for v in routes["estimated"]}
    entries = []
    if False in kinds:
        entries.append(LegendEntry("转诊路线 Referral route (road network time 路网时间)", GREEN_COLOR, "line", 18))
    if True in kinds:
        entries.append(LegendEntry("⚠ 转诊路线 Referral route (straight-line estimate 直线估算, no road data)",
                                   GREEN_COLOR, "dashed", 18))
    proxy = routes is None or routes.empty or bool(
        (routes.get("sender_location_quality") == "proxy").any()
        or (routes.get("receiver_location_quality") == "proxy").any())
    entries.append(LegendEntry("医院 Hospital" + (" (dashed: proxy location)" if proxy else ""),
                               "#ffffff", "circle", 12, border=GREEN_COLOR))
    return LegendSpec("绿色通道 Green channel", entries,
                      note="lines drawn straight between the hospitals; times in the tooltips")
