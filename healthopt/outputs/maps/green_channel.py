"""Critical-care green channel: sender -> receiver referral lines with their travel times."""

from __future__ import annotations

import folium
import geopandas as gpd

from healthopt.outputs.legend import LegendEntry, LegendSpec
from healthopt.outputs.maps._format import esc, quality_text, tip_table
from healthopt.outputs.maps.names import LAYER_GREEN

GREEN_COLOR = "#0b7a3e"


def green_channel_layer(routes: gpd.GeoDataFrame | None) -> folium.FeatureGroup | None:
    """Return sender -> receiver referral lines with their travel times, or None if none."""
    if routes is None or routes.empty:
        return None
    group = folium.FeatureGroup(name=LAYER_GREEN, show=True)
    for row in routes.itertuples():
        coords = [[round(y, 6), round(x, 6)] for x, y in row.geometry.coords]
        est = bool(row.estimated)
        tip = tip_table([
            ("转出 From", esc(row.sender)), ("转入 To", esc(row.receiver)),
            ("时间 Time", esc(f"{row.minutes:.0f} min" + (" ⚠ estimated" if est else ""))),
            ("位置 Locations", esc(f"{row.sender_location_quality} / {row.receiver_location_quality}")),
        ])
        folium.PolyLine(coords, color=GREEN_COLOR, weight=3, opacity=0.85,
                        dash_array="8 6" if est else None, tooltip=folium.Tooltip(tip)).add_to(group)
        for (lat, lon), name, quality in ((coords[0], row.sender, row.sender_location_quality),
                                          (coords[-1], row.receiver, row.receiver_location_quality)):
            folium.CircleMarker([lat, lon], radius=6, color=GREEN_COLOR, fill=True, fill_color="#ffffff",
                                fill_opacity=1, weight=2, dash_array="3 3" if quality == "proxy" else None,
                                tooltip=folium.Tooltip(esc(f"{name} ({quality_text(quality)})"))).add_to(group)
    return group


def green_channel_legend() -> LegendSpec:
    """Return the green-channel legend."""
    return LegendSpec("绿色通道 Green channel", [
        LegendEntry("转诊路线 Referral route (road network time)", GREEN_COLOR, "line", 18),
        LegendEntry("⚠ 估算时间 Estimated time (no road data)", GREEN_COLOR, "dashed", 18),
        LegendEntry("医院 Hospital (dashed: proxy location)", "#ffffff", "circle", 12, border=GREEN_COLOR),
    ])
