"""Uncovered population: demand points outside every open station's catchment.

(The residents-per-ambulance ratio is a fleet-size norm, not a service capacity: residents
"beyond" it are within reach and are not drawn as unserved; the simulated calls reached in
time are the service figure.)

Many points are merged onto a display grid (:func:`aggregate_demand`).
"""

from __future__ import annotations

import math
from typing import Any

import folium
import geopandas as gpd
import pandas as pd
import shapely

from healthopt.outputs.legend import LegendEntry, LegendSpec
from healthopt.outputs.maps._format import esc, fmt_int, fmt_num, is_missing
from healthopt.outputs.maps._geometry import feature_collection, valid_points
from healthopt.outputs.maps.names import LAYER_UNCOVERED

OUTSIDE_COLOR = "#1a1a1a"
BEYOND_COLOR = "#7b3294"
#: More uncovered demand points than this are merged onto a coarser display grid.
MAX_DEMAND_POINTS = 800


def demand_radius(population: Any) -> float:
    """Return the circle radius (px) of a demand point: area proportional to population."""
    p = 0.0 if is_missing(population) else max(float(population), 0.0)
    return round(min(max(2.5 + math.sqrt(p) / 32.0, 3.0), 16.0), 1)


def demand_tip(row: Any, names: dict[str, str]) -> str:
    """Return the (compact) tooltip of one uncovered demand point."""
    status = ("outside every catchment 不在任何覆盖范围" if row.status == "outside"
              else "in a catchment, beyond capacity 超出站点能力")
    est = getattr(row, "population_quality", "") == "estimate"
    pop = fmt_int(getattr(row, "population", None)) + (" ⚠ estimate 估算" if est else "")
    mins = getattr(row, "minutes", None)
    mins_text = "no open station" if is_missing(mins) else f"{fmt_num(mins, 1)} min"
    if bool(getattr(row, "estimated", False)) and not is_missing(mins):
        mins_text += " ⚠ estimated"
    district = names.get(str(getattr(row, "district_code", "")), "")
    return (f"<b>{esc(district)}</b><br>{esc(pop)} residents 人<br>{esc(status)}<br>"
            f"nearest station 最近站点: {esc(mins_text)}")


def aggregate_demand(demand: gpd.GeoDataFrame, max_points: int = MAX_DEMAND_POINTS
                     ) -> tuple[gpd.GeoDataFrame, float | None]:
    """Merge demand points onto a square display grid until at most ``max_points`` remain.

    Points are grouped by grid cell, district and status; population is summed and the
    position is the population-weighted mean.  A cell is flagged ``estimate`` if any of
    its points is, and ``estimated`` (travel time) likewise.

    Parameters
    ----------
    demand : GeoDataFrame
        Demand points (EPSG:4326) with ``population``, ``status``, ``district_code``.
    max_points : int

    Returns
    -------
    tuple of (GeoDataFrame, float or None)
        The (possibly merged) points and the cell size in km (``None`` if unchanged).
    """
    if len(demand) <= max_points:
        return demand, None
    df = pd.DataFrame({
        "x": demand.geometry.x.to_numpy(), "y": demand.geometry.y.to_numpy(),
        "population": demand.population.astype(float).to_numpy(),
        "status": demand.status.to_numpy(),
        "district_code": demand.get("district_code", pd.Series("", index=demand.index)).to_numpy(),
        "est_pop": (demand.get("population_quality", pd.Series("", index=demand.index))
                    == "estimate").to_numpy(),
        "estimated": demand.get("estimated", pd.Series(False, index=demand.index)).astype(bool)
        .to_numpy(),
        "minutes": demand.get("minutes", pd.Series(math.nan, index=demand.index)).to_numpy(),
    })
    cell = 0.01
    while True:
        df["kx"], df["ky"] = (df.x // cell).astype(int), (df.y // cell).astype(int)
        keys = ["district_code", "status", "kx", "ky"]
        if df.groupby(keys).ngroups <= max_points:
            break
        cell *= 1.5
    w = df.population.clip(lower=1e-9)
    df["wx"], df["wy"] = df.x * w, df.y * w
    df["w"] = w
    g = df.groupby(keys, sort=True).agg(
        population=("population", "sum"), wx=("wx", "sum"), wy=("wy", "sum"), w=("w", "sum"),
        est_pop=("est_pop", "any"), estimated=("estimated", "any"), minutes=("minutes", "min"),
    ).reset_index()
    out = gpd.GeoDataFrame(
        {"district_code": g.district_code, "status": g.status, "population": g.population,
         "population_quality": g.est_pop.map({True: "estimate", False: "user"}),
         "estimated": g.estimated, "minutes": g.minutes},
        geometry=gpd.points_from_xy(g.wx / g.w, g.wy / g.w), crs=demand.crs)
    return out, round(cell * 111.0, 1)


def uncovered_layer(demand: gpd.GeoDataFrame | None, names: dict[str, str] | None = None,
                    name: str = LAYER_UNCOVERED) -> folium.GeoJson | None:
    """Return circles for demand outside every open station's catchment.

    Parameters
    ----------
    demand : GeoDataFrame
        The ``demand`` result layer.
    names : dict, optional
        District code -> label, for the tooltips.
    name : str
        Layer name.

    Returns
    -------
    folium.GeoJson or None
        ``None`` if every demand point is covered.
    """
    d = valid_points(demand)
    if d is None or "status" not in d.columns:
        return None
    d = d[d.status == "outside"]
    if len(d) == 0:
        return None
    d, _ = aggregate_demand(d)
    d = d.sort_values("population", ascending=False).reset_index(drop=True)
    geoms = gpd.GeoSeries(shapely.set_precision(d.geometry.to_numpy(), 1e-5), crs=d.crs)
    props = {"tip": [demand_tip(r, names or {}) for r in d.itertuples()], "status": list(d.status),
             "r": [demand_radius(p) for p in d.population]}
    data = feature_collection(d, props, geoms)

    def style(feature: dict[str, Any]) -> dict[str, Any]:
        outside = feature["properties"]["status"] == "outside"
        color = OUTSIDE_COLOR if outside else BEYOND_COLOR
        return {"radius": feature["properties"]["r"], "fill": True,
                "color": "#ffffff" if outside else color,
                "weight": 1 if outside else 2, "fillColor": color,
                "fillOpacity": 0.55 if outside else 0.15}

    return folium.GeoJson(data, name=name, show=True, style_function=style,
                          marker=folium.CircleMarker(),
                          tooltip=folium.GeoJsonTooltip(fields=["tip"], labels=False))


def uncovered_legend() -> LegendSpec:
    """Return the uncovered-population legend."""
    return LegendSpec("范围外人口 Residents outside every catchment", [
        LegendEntry("不在任何覆盖范围 Outside every catchment", OUTSIDE_COLOR, "circle", 12,
                    border="#ffffff", opacity=0.7),
        *[LegendEntry(f"{p:,} residents 人", "#9e9e9e", "circle",
                      int(2 * demand_radius(p)), border="#555", opacity=0.7)
          for p in (10_000, 50_000)],
    ], note="no open station within the response standard; circle area ∝ population; "
            "⚠ population within districts is an estimate")
