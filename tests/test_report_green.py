"""The report's green-channel section: every receiver of seed 000, labelled times, reserved ICU beds."""

from __future__ import annotations

import copy
import re
import sys
from pathlib import Path

import pandas as pd

from healthopt.outputs.report import render_report
from healthopt.outputs.report_green import green_channel_section

sys.path.insert(0, str(Path(__file__).parent))
from fixtures.run_fixture import make_run

RECEIVERS = ("北京大学第一医院太原医院(太原市中心医院)", "太原市第三人民医院", "太原市第四人民医院",
             "太原钢铁(集团)有限公司总医院")  # seed 000 §(五), NORMS.md "Taiyuan–Jinzhong integration"
SENDERS = ("晋中市第一人民医院", "晋中市传染病医院")


def section() -> dict:
    """A green-channel summary section as the plan writes it (shape of plans/green_channel.py)."""
    located = {RECEIVERS[0]: "140107", RECEIVERS[3]: "140108"}
    routes = []
    for sender in SENDERS:
        routes.append({"sender": sender, "receiver": RECEIVERS[0], "minutes": 51.9, "estimated": True,
                       "sender_location_quality": "proxy", "receiver_location_quality": "proxy"})
        routes.append({"sender": sender, "receiver": RECEIVERS[3], "minutes": 70.7, "estimated": True,
                       "sender_location_quality": "proxy", "receiver_location_quality": "user"})
    routes.append({"sender": SENDERS[0], "receiver": "road-only test hospital", "minutes": 12.5,
                   "estimated": False, "sender_location_quality": "proxy", "receiver_location_quality": "user"})
    hospitals = [{"role": "sender", "name": n, "district_code": "140702", "location_quality": "proxy", "note": ""}
                 for n in SENDERS]
    hospitals += [{"role": "receiver", "name": n, "district_code": located.get(n),
                   "location_quality": "proxy" if n == RECEIVERS[0] else ("user" if n in located else "unknown"),
                   "note": "" if n in located else "district not in the seeds"} for n in RECEIVERS]
    return {"routes": routes, "unlocated": [RECEIVERS[1], RECEIVERS[2]],
            "reserved_icu": {"太原市中心医院": 2, "太原市第三人民医院": 2, "太原市第四人民医院": 2},
            "hospitals": hospitals,
            "settings": {"circuity": 1.35, "fallback_speed_kph": 40.0, "reserved_icu_beds_per_receiver": 2}}


def districts() -> pd.DataFrame:
    return pd.DataFrame({"code": ["140107", "140108", "140702"], "name_zh": ["杏花岭区", "尖草坪区", "榆次区"]})


def test_every_receiver_listed_with_why_one_is_missing():
    out = green_channel_section({"green_channel": section()}, districts())
    assert out is not None
    rows = {r["name"]: r for r in out["receivers"]}
    assert tuple(rows) == RECEIVERS  # all four, in the scenario's order, located or not
    for name in RECEIVERS[1:3]:
        assert rows[name]["missing"] and rows[name]["fastest"] == "—"
        assert "no location known (district not in the seeds)" in rows[name]["why"]
        assert "data.hospitals" in rows[name]["why"]
    assert rows[RECEIVERS[0]]["where"] == "district-seat proxy ⚠ · 杏花岭区"
    assert rows[RECEIVERS[3]]["where"] == "hospitals layer (user)"
    # fastest of the two senders' 51.9-minute routes; estimated, so flagged
    assert rows[RECEIVERS[0]]["fastest"] == "51.9 min ⚠ from 晋中市传染病医院"
    assert out["intro"].startswith("4 receiving hospitals named in seed 000")
    assert "2 with a route, 2 without a location" in out["intro"]


def test_reserved_icu_beds_per_receiver():
    rows = {r["name"]: r for r in green_channel_section({"green_channel": section()}, districts())["receivers"]}
    assert rows[RECEIVERS[0]]["beds"].startswith("2 (assumption ⚠; counted at 太原市中心医院")
    assert rows[RECEIVERS[1]]["beds"].startswith("2 (assumption ⚠; counted at 太原市第三人民医院")
    # TISCO's hospital is not in the municipal bed table: its 2 beds are asked but not in the bed plan
    assert rows[RECEIVERS[3]]["beds"] == "2 asked, not counted: not in the municipal bed table (seed 001 annex 2)"
    none = section()
    none["settings"]["reserved_icu_beds_per_receiver"], none["reserved_icu"] = 0, {}
    rows = green_channel_section({"green_channel": none}, districts())["receivers"]
    assert all(r["beds"] == "none set (plans.green_channel.reserved_icu_beds = 0)" for r in rows)


def test_times_say_road_or_estimate():
    routes = green_channel_section({"green_channel": section()}, districts())["routes"]
    road = [r for r in routes if not r["estimated"]]
    assert [(r["time"], r["how"]) for r in road] == [("12.5 min", "道路网络 road network (OSM)")]
    est = [r for r in routes if r["estimated"]]
    assert len(est) == 4 and all(r["time"].endswith("⚠") for r in est)
    assert all(r["how"] == "估算 estimate: straight line × 1.35 at 40 km/h" for r in est)


def test_no_section_without_a_green_channel_and_old_summaries_still_work():
    assert green_channel_section({}, None) is None
    old = section()
    del old["hospitals"], old["settings"]
    out = green_channel_section({"green_channel": old}, None)
    assert {r["name"] for r in out["receivers"]} >= {RECEIVERS[0], RECEIVERS[1], RECEIVERS[2], RECEIVERS[3]}
    assert "straight-line distance (no road data)" in out["routes"][0]["how"] or not out["routes"][0]["estimated"]


def test_section_in_the_report_escaped():
    results, plain = make_run("a")
    summary = copy.deepcopy(plain)
    gc = section()
    gc["hospitals"][2]["name"] = gc["routes"][0]["sender"] = "<b>x</b>"
    summary["green_channel"] = gc
    page = render_report(results, summary, map_html=None)
    body = page[page.index('id="green-channel"'):]
    body = body[:body.index("</section>")]
    assert "Critical-care referral green channel" in body and "&lt;b&gt;x&lt;/b&gt;" in body and "<b>x" not in body
    for name in RECEIVERS[1:]:
        assert name in body
    assert len(re.findall(r"估算 estimate", body)) == 4
    assert 'id="green-channel"' not in render_report(results, plain, map_html=None)
