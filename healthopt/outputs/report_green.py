"""The report's green-channel section: referral routes, how each time was made, reserved ICU beds.

Seed 000 §(五) names two sending hospitals in Jinzhong and four receiving hospitals in
Taiyuan that book beds in advance for referred patients. The section lists every receiver
the scenario names, located or not, and says why one has no route (no location known) or
why its reserved beds are not counted in the bed plan (not in the municipal bed table).
Times are labelled: road-network time, or an estimate (straight line × circuity at the
fallback speed) where an end lies outside the road extract.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from healthopt.outputs.maps import fmt_num

__all__ = ["green_channel_section"]

_QUALITY_TEXT = {"user": "hospitals layer (user)", "proxy": "district-seat proxy ⚠",
                 "unknown": "no location known"}


def _reserved_at(receiver: str, reserved: Mapping[str, int]) -> tuple[str, int] | None:
    """Return the bed-plan hospital that holds ``receiver``'s reserved beds (name containment)."""
    for hospital, beds in reserved.items():
        if hospital in receiver or receiver in hospital:
            return hospital, int(beds)
    return None


def _hospitals(section: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Return the section's hospital records (older summaries: rebuilt from routes and unlocated)."""
    if section.get("hospitals"):
        return [dict(h) for h in section["hospitals"]]
    routes = list(section.get("routes") or [])
    senders = sorted({r["sender"] for r in routes})
    receivers = sorted({r["receiver"] for r in routes})
    out = [{"role": "sender", "name": n, "district_code": None,
            "location_quality": next(r["sender_location_quality"] for r in routes if r["sender"] == n),
            "note": ""} for n in senders]
    out += [{"role": "receiver", "name": n, "district_code": None,
             "location_quality": next(r["receiver_location_quality"] for r in routes if r["receiver"] == n),
             "note": ""} for n in receivers]
    out += [{"role": "receiver", "name": n, "district_code": None, "location_quality": "unknown", "note": ""}
            for n in section.get("unlocated") or [] if n not in senders]
    return out


def _time_text(route: Mapping[str, Any], how: str) -> tuple[str, str]:
    """Return ``(time, how it was timed)`` of one route."""
    minutes = route.get("minutes")
    shown = "—" if minutes is None else f"{fmt_num(minutes, 1)} min"
    if route.get("estimated"):
        return shown + " ⚠", f"估算 estimate: {how}"
    return shown, "道路网络 road network (OSM)"


def green_channel_section(summary: Mapping[str, Any], districts: pd.DataFrame | None) -> dict[str, Any] | None:
    """Return the green-channel section of the report, or None if the run has no green channel.

    Parameters
    ----------
    summary : RunSummary
        Reads ``summary["green_channel"]`` (routes, unlocated, reserved_icu, hospitals,
        settings).
    districts : DataFrame, optional
        For district names (``code``, ``name_zh``).

    Returns
    -------
    dict or None
        ``intro``, ``senders`` (text), ``receivers`` and ``routes`` (rows of cell texts),
        ``notes``.
    """
    section = summary.get("green_channel")
    if not isinstance(section, Mapping):
        return None
    names: dict[str, str] = {}
    if districts is not None and {"code", "name_zh"} <= set(districts.columns):
        names = dict(zip(districts["code"].astype(str), districts["name_zh"].astype(str), strict=True))
    settings = dict(section.get("settings") or {})
    circuity, speed = settings.get("circuity"), settings.get("fallback_speed_kph")
    how = (f"straight line × {fmt_num(circuity, 2)} at {fmt_num(speed, 0)} km/h"
           if circuity is not None and speed is not None else "straight-line distance (no road data)")
    routes = list(section.get("routes") or [])
    reserved = {str(k): int(v) for k, v in (section.get("reserved_icu") or {}).items()}
    asked = settings.get("reserved_icu_beds_per_receiver")
    hospitals = _hospitals(section)

    def where(h: Mapping[str, Any]) -> str:
        quality = str(h.get("location_quality") or "unknown")
        district = names.get(str(h.get("district_code")), h.get("district_code") or "")
        text = _QUALITY_TEXT.get(quality, quality)
        return f"{text}{' · ' + district if district and quality == 'proxy' else ''}"

    receivers = []
    for h in (h for h in hospitals if h["role"] == "receiver"):
        mine = [r for r in routes if r["receiver"] == h["name"] and r.get("minutes") is not None]
        fastest = min(mine, key=lambda r: (r["minutes"], r["sender"])) if mine else None  # ties: by name
        at = _reserved_at(h["name"], reserved)
        if at is not None:
            beds = f"{at[1]} (assumption ⚠; counted at {at[0]} in the bed plan)"
        elif asked == 0:
            beds = "none set (plans.green_channel.reserved_icu_beds = 0)"
        else:
            beds = (f"{asked} asked, " if asked else "") + \
                "not counted: not in the municipal bed table (seed 001 annex 2)"
        why = []
        if not mine:
            why.append("No route: no location known"
                       + (f" ({h['note']})" if h.get("note") else "")
                       + ". Give its point in a hospitals layer (data.hospitals).")
        receivers.append({
            "name": h["name"], "where": where(h),
            "fastest": (f"{_time_text(fastest, how)[0]} from {fastest['sender']}" if fastest else "—"),
            "beds": beds, "why": " ".join(why), "missing": not mine,
        })
    rows = []
    for r in sorted(routes, key=lambda r: (r["sender"], r.get("minutes") or 0.0, r["receiver"])):
        time, timed = _time_text(r, how)
        rows.append({"sender": r["sender"], "receiver": r["receiver"], "time": time, "how": timed,
                     "estimated": bool(r.get("estimated"))})
    # a sender placed at an assumed district says so (tables/green_channel.csv note)
    senders = [f"{h['name']} ({where(h)}{'; ' + h['note'] if 'assumed' in str(h.get('note')) else ''})"
               for h in hospitals if h["role"] == "sender"]
    located = sum(1 for r in receivers if not r["missing"])
    n_est = sum(1 for r in rows if r["estimated"])
    intro = (f"{len(receivers)} receiving hospitals named in seed 000 §(五); {located} with a route, "
             f"{len(receivers) - located} without a location. {len(rows)} routes, "
             f"{n_est} of them estimated ({how}).")
    return {"intro": intro, "senders": senders, "receivers": receivers, "routes": rows}
