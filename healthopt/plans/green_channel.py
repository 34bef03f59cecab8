"""Taiyuan–Jinzhong critical-care referral green channel (seed 000).

Travel times from each sending hospital to each receiving hospital, and ICU beds the
receivers reserve for referred patients. Hospital locations are district-seat proxies
unless a user layer gives them; Jinzhong has no road data, so those legs are straight-line
estimates (flagged ``estimated``).
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
from shapely.geometry import LineString

from healthopt import settings, traveltime

#: Longest referral time kept (minutes); beyond it a pair is reported as unreachable.
MAX_REFERRAL_MINUTES = 240.0


def referral_routes(G, senders: gpd.GeoDataFrame, receivers: gpd.GeoDataFrame, *, circuity: float,
                    fallback_speed_kph: float, snap_tolerance_m: float) -> gpd.GeoDataFrame:
    """Return one line per sender -> receiver pair with its travel time (minutes).

    Only hospitals with a location (proxy or user) take part; the others are listed by
    :func:`unlocated`.
    """
    s = senders[senders.geometry.notna()].reset_index(drop=True)
    r = receivers[receivers.geometry.notna()].reset_index(drop=True)
    if s.empty or r.empty:
        return gpd.GeoDataFrame(columns=["sender", "receiver", "minutes", "estimated",
                                         "sender_location_quality", "receiver_location_quality",
                                         "geometry"], geometry="geometry", crs=settings.CRS_GEOGRAPHIC)
    tt = traveltime.travel_time_matrix(
        G, s.assign(site_id=s["name_zh"]), r.assign(demand_id=r["name_zh"]), MAX_REFERRAL_MINUTES,
        snap_tolerance_m=snap_tolerance_m, circuity=circuity, fallback_speed_kph=fallback_speed_kph)
    pairs = tt.to_frame().rename(columns={"site_id": "sender", "demand_id": "receiver"})
    quality_s = s.set_index("name_zh")["location_quality"]
    quality_r = r.set_index("name_zh")["location_quality"]
    point_s, point_r = s.set_index("name_zh").geometry, r.set_index("name_zh").geometry
    lines = [LineString([point_s[a], point_r[b]]) for a, b in zip(pairs["sender"], pairs["receiver"], strict=True)]
    out = gpd.GeoDataFrame({
        "sender": pairs["sender"], "receiver": pairs["receiver"],
        "minutes": pairs["minutes"].round(1), "estimated": pairs["estimated"].astype(bool),
        "sender_location_quality": pairs["sender"].map(quality_s),
        "receiver_location_quality": pairs["receiver"].map(quality_r),
    }, geometry=lines, crs=settings.CRS_GEOGRAPHIC)  # fmt: skip
    return out.sort_values(["sender", "receiver"]).reset_index(drop=True)


def unlocated(*frames: pd.DataFrame) -> list[str]:
    """Names of hospitals that have no location at all."""
    return [name for f in frames for name in f.loc[f.geometry.isna(), "name_zh"]]


def reserved_icu(receivers: list[str], hospital_names: pd.Series, beds: int) -> dict[str, int]:
    """Map each receiver to the municipal hospital it names (by name containment) -> ICU beds reserved.

    ``北京大学第一医院太原医院(太原市中心医院)`` is the same hospital as ``太原市中心医院``.
    """
    out = {}
    for receiver in receivers:
        match = [h for h in hospital_names if h in receiver or receiver in h]
        if match and beds > 0:
            out[match[0]] = int(beds)
    return out


def senders_and_receivers(names_s: list[str], names_r: list[str], table: pd.DataFrame,
                          seats: gpd.GeoDataFrame) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Locate the green-channel hospitals from ``tables/green_channel.csv`` (district-seat proxies)."""
    from healthopt.data.places import proxy_points

    known = table.set_index("name_zh")["district_code"]

    def frame(names: list[str]) -> gpd.GeoDataFrame:
        f = pd.DataFrame({"name_zh": names, "district_code": [known.get(n, np.nan) for n in names]})
        return proxy_points(f, seats)

    return frame(names_s), frame(names_r)
