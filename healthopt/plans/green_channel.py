"""Taiyuan–Jinzhong critical-care referral green channel (seed 000).

Travel times from each sending hospital to each receiving hospital, and ICU beds the
receivers reserve for referred patients. Hospital locations are district-seat proxies
unless a user layer gives them; Jinzhong has no road data, so those legs are straight-line
estimates (flagged ``estimated``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import geopandas as gpd
import numpy as np
import pandas as pd
from shapely.geometry import LineString

from healthopt import settings, traveltime
from healthopt._terrain import point_circuity
from healthopt.data import overlay
from healthopt.plans.base import Inputs, PlanContext, PlanLayers, PlanSummary

if TYPE_CHECKING:
    from healthopt.milp.settings import SolverSettings
    from healthopt.scenario import Scenario

#: Longest referral time kept (minutes); beyond it a pair is reported as unreachable.
MAX_REFERRAL_MINUTES = 240.0


def referral_routes(G, senders: gpd.GeoDataFrame, receivers: gpd.GeoDataFrame, *, circuity: float,
                    fallback_speed_kph: float, snap_tolerance_m: float,
                    sender_circuity: np.ndarray | None = None,
                    receiver_circuity: np.ndarray | None = None) -> gpd.GeoDataFrame:
    """Return one line per sender -> receiver pair with its travel time (minutes).

    Only hospitals with a location (proxy or user) take part; the others are listed by
    :func:`unlocated`.
    """
    s_ok, r_ok = senders.geometry.notna().to_numpy(), receivers.geometry.notna().to_numpy()
    s = senders[s_ok].reset_index(drop=True)
    r = receivers[r_ok].reset_index(drop=True)
    if s.empty or r.empty:
        return gpd.GeoDataFrame(columns=["sender", "receiver", "minutes", "estimated",
                                         "sender_location_quality", "receiver_location_quality",
                                         "geometry"], geometry="geometry", crs=settings.CRS_GEOGRAPHIC)
    tt = traveltime.travel_time_matrix(
        G, s.assign(site_id=s["name_zh"]), r.assign(demand_id=r["name_zh"]), MAX_REFERRAL_MINUTES,
        snap_tolerance_m=snap_tolerance_m, circuity=circuity, fallback_speed_kph=fallback_speed_kph,
        site_circuity=None if sender_circuity is None else np.asarray(sender_circuity)[s_ok],
        demand_circuity=None if receiver_circuity is None else np.asarray(receiver_circuity)[r_ok])
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


def _spread(values: np.ndarray | None, frame: gpd.GeoDataFrame, fill: float) -> np.ndarray:
    """Values computed for the located rows of ``frame``, put back in place (``fill`` elsewhere)."""
    out = np.full(len(frame), float(fill))
    if values is not None:
        out[frame.geometry.notna().to_numpy()] = values
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


def hospital_records(senders: gpd.GeoDataFrame, receivers: gpd.GeoDataFrame,
                     table: pd.DataFrame) -> list[dict[str, Any]]:
    """Return one record per named hospital: role, name, district, location quality and the table's note.

    The note of ``tables/green_channel.csv`` says why a hospital has no location (e.g. its
    district is not in the seeds), so the report can say why a receiver has no route.
    """
    notes = table.set_index("name_zh")["note"] if "note" in table else pd.Series(dtype=object)
    out = []
    for role, frame in (("sender", senders), ("receiver", receivers)):
        for rec in frame.itertuples():
            code = rec.district_code
            note = notes.get(rec.name_zh)
            out.append({"role": role, "name": rec.name_zh,
                        "district_code": None if pd.isna(code) else str(code),
                        "location_quality": str(rec.location_quality),
                        "note": "" if note is None or pd.isna(note) else str(note)})
    return out


# --------------------------------------------------------------------------- the plan as the pipeline runs it


@dataclass
class GreenChannelResult:
    """Referral routes, hospitals without a location, ICU beds reserved, hospitals still at a proxy location."""

    routes: gpd.GeoDataFrame
    unlocated: list[str]
    reserved_icu: dict[str, int]
    proxies: list[str]
    #: Every sender and receiver the scenario names, located or not (for the report's section).
    hospitals: list[dict[str, Any]] = field(default_factory=list)
    #: How estimated times are made and the ICU beds each receiver is asked to reserve.
    settings: dict[str, Any] = field(default_factory=dict)


class GreenChannel:
    """The green channel as the pipeline runs it: travel times only, no optimisation.

    The bed plan reads :attr:`GreenChannelResult.reserved_icu` (``context.results``), so it
    comes before the beds in the registry.
    """

    name: ClassVar[str] = "green_channel"
    step: ClassVar[str] = "green channel"

    def __init__(self, scenario: Scenario, inputs: Inputs, context: PlanContext) -> None:
        self.scenario, self.inputs = scenario, inputs

    @classmethod
    def enabled(cls, scenario: Scenario) -> bool:
        """``plans.green_channel.enabled``."""
        return bool(scenario.plans.green_channel.enabled)

    @classmethod
    def from_scenario(cls, scenario: Scenario, inputs: Inputs, context: PlanContext) -> GreenChannel:
        """Read ``plans.green_channel``."""
        return cls(scenario, inputs, context)

    def solve(self, settings: SolverSettings) -> GreenChannelResult:
        """Locate the hospitals and time every referral route (no solver: ``settings`` is not used)."""
        sc, data, G = self.scenario, self.inputs.data, self.inputs.graph
        gc = sc.plans.green_channel
        proxies = senders_and_receivers(list(gc.senders), list(gc.receivers), data.green_channel, data.seats)
        senders, receivers = (overlay.relocate(f, data.hospital_layer) for f in proxies)
        by_terrain = [point_circuity(f[f.geometry.notna()], districts=data.districts, network=sc.network)
                      if f.geometry.notna().any() else None for f in (senders, receivers)]
        routes = referral_routes(G, senders, receivers, circuity=sc.network.circuity,
                                 fallback_speed_kph=sc.network.fallback_speed_kph,
                                 snap_tolerance_m=sc.network.snap_tolerance_m,
                                 sender_circuity=_spread(by_terrain[0], senders, sc.network.circuity),
                                 receiver_circuity=_spread(by_terrain[1], receivers, sc.network.circuity))
        reserved = reserved_icu(list(gc.receivers), data.hospitals["name_zh"], gc.reserved_icu_beds)
        still = [n for f in (senders, receivers) for n in f.loc[f["location_quality"] == "proxy", "name_zh"]]
        hospitals = hospital_records(senders, receivers, data.green_channel)
        how = {"circuity": sc.network.circuity, "fallback_speed_kph": sc.network.fallback_speed_kph,
               "reserved_icu_beds_per_receiver": gc.reserved_icu_beds}
        return GreenChannelResult(routes, unlocated(senders, receivers), reserved, still, hospitals, how)

    def layers(self, result: GreenChannelResult) -> PlanLayers:
        """Return the ``green_channel`` layer (one line per route)."""
        return PlanLayers(layers={"green_channel": result.routes})

    def summary(self, result: GreenChannelResult) -> PlanSummary:
        """Return the ``green_channel`` section (routes, unlocated, reserved ICU) and the location notes."""
        routes = result.routes.drop(columns="geometry")
        section: dict[str, Any] = {"routes": routes.to_dict(orient="records"), "unlocated": result.unlocated,
                                   "reserved_icu": result.reserved_icu, "hospitals": result.hospitals,
                                   "settings": result.settings}
        return PlanSummary(section=section, notes=_notes(result))


def _notes(gc: GreenChannelResult) -> list[str]:
    notes = []
    if gc.proxies:
        notes.append("Green channel: locations of " + ", ".join(gc.proxies) + " are district-seat proxies "
                     "(no published coordinates).")
    routes = gc.routes
    if len(routes) and routes["estimated"].any():
        notes.append(f"Green channel: {int(routes['estimated'].sum())} of {len(routes)} referral times are "
                     "straight-line estimates (no road data in Jinzhong).")
    if gc.unlocated:
        notes.append("Green channel: no location known for " + ", ".join(gc.unlocated)
                     + "; add them to a hospitals layer (data.hospitals) to include them.")
    return notes
