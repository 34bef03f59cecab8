"""How much of each district's demand rests on road data and how much on estimates.

Calls are residents × a call rate that is the same within a district, so a district's share of
calls on estimated travel times equals its share of residents on demand points off the road
network (flag ``estimated``); the report's data-quality section and ``summary.json`` show it.
"""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import pandas as pd

__all__ = ["travel_time_quality", "travel_time_sentence"]


def travel_time_quality(*, points: gpd.GeoDataFrame, area: gpd.GeoDataFrame) -> list[dict[str, Any]]:
    """Return, per district of ``area`` (in its order), residents and the share on estimated times.

    Parameters
    ----------
    points : GeoDataFrame
        Demand points with ``district_code``, ``population`` and ``on_network``.
    area : GeoDataFrame
        The study area's districts (``code``, ``name_zh``).

    Returns
    -------
    list of dict
        ``{"code", "name", "residents", "estimated_share"}``; ``estimated_share`` is the share
        of the district's residents (and so of its calls) whose travel times are straight-line
        estimates.
    """
    pop = points["population"].astype(float)
    off = pop.where(~points["on_network"].astype(bool), 0.0)
    frame = pd.DataFrame({"code": points["district_code"].astype(str), "pop": pop, "off": off})
    sums = frame.groupby("code", sort=False)[["pop", "off"]].sum()
    rows = []
    for code, name in zip(area["code"].astype(str), area["name_zh"], strict=True):
        total = float(sums["pop"].get(code, 0.0))
        share = float(sums["off"].get(code, 0.0)) / total if total > 0 else 0.0
        rows.append({"code": code, "name": str(name), "residents": round(total), "estimated_share": round(share, 4)})
    return rows


def travel_time_sentence(rows: list[dict[str, Any]], *, network: Any) -> str:
    """One data-quality sentence: which districts are on road data, which on estimates."""
    total = sum(r["residents"] for r in rows)
    off = sum(r["residents"] * r["estimated_share"] for r in rows)
    estimated = [r for r in rows if r["estimated_share"] >= 0.005]
    if not estimated:
        return "Travel times: every demand point is on the road data (no straight-line estimates)."
    listed = ", ".join(f"{r['name']} {r['estimated_share']:.0%}" for r in estimated)
    share = off / total if total else 0.0
    by = network.terrain_circuity
    rule = (f"distance × circuity by terrain (plain {by.plain:g}, hilly {by.hilly:g}, mountain {by.mountain:g}; "
            "estimates, tables/terrain.csv)" if by is not None else f"distance × {network.circuity:g}")
    return (f"Travel times for {share:.0%} of residents (and so of calls) are straight-line estimates "
            f"({rule} at {network.fallback_speed_kph:g} km/h, no road data there): {listed}; "
            "the rest are road-network times.")
