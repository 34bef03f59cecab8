"""Per-district share of residents (and so of calls) on straight-line travel-time estimates."""

from __future__ import annotations

import geopandas as gpd
import pytest
from shapely.geometry import Point

from healthopt.pipeline.quality import travel_time_quality, travel_time_sentence
from healthopt.scenario.schema import Network, TerrainCircuity


def _points() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({
        "district_code": ["140105", "140105", "140105", "140122"],
        "population": [100.0, 50.0, 150.0, 80.0],
        "on_network": [True, False, True, False],
    }, geometry=[Point(0, 0)] * 4, crs=4326)  # fmt: skip


def test_shares_are_residents_off_the_network_over_residents():
    area = gpd.GeoDataFrame({"code": ["140105", "140122", "140106"], "name_zh": ["小店区", "阳曲县", "迎泽区"]},
                            geometry=[Point(0, 0)] * 3, crs=4326)  # fmt: skip
    rows = travel_time_quality(points=_points(), area=area)
    # 小店区: 50 of 100 + 50 + 150 = 300 residents off the network; 阳曲县: all 80; 迎泽区: no points.
    assert rows == [
        {"code": "140105", "name": "小店区", "residents": 300, "estimated_share": pytest.approx(50 / 300, abs=1e-4)},
        {"code": "140122", "name": "阳曲县", "residents": 80, "estimated_share": 1.0},
        {"code": "140106", "name": "迎泽区", "residents": 0, "estimated_share": 0.0},
    ]
    text = travel_time_sentence(rows, network=Network(terrain_circuity=TerrainCircuity()))
    # (50 + 80) / 380 = 34 % of residents; both districts named with their own shares.
    assert "plain 1.31, hilly 1.43, mountain 1.54" in text
    assert "distance × 1.35 at 40 km/h" in travel_time_sentence(rows, network=Network(terrain_circuity=None))
    assert "34% of residents" in text and "小店区 17%" in text and "阳曲县 100%" in text and "迎泽区" not in text


def test_baseline_summary_lists_every_district_and_the_note_agrees(baseline_run):
    summary = baseline_run.summary
    rows = summary["travel_time_quality"]
    assert [r["code"] for r in rows] == list(baseline_run.layers["districts"]["code"].astype(str))
    # Demand points carry every resident of the area.
    assert sum(r["residents"] for r in rows) == pytest.approx(summary["kpis"]["pop_total"], abs=len(rows))
    demand = baseline_run.layers["demand"]
    for r in rows:
        d = demand[demand["district_code"].astype(str) == r["code"]]
        share = float(d.loc[d["estimated"], "population"].sum() / d["population"].sum())
        assert r["estimated_share"] == pytest.approx(share, abs=1e-4)
    counties = {r["name"]: r["estimated_share"] for r in rows}
    assert counties["娄烦县"] == 1.0  # no road data in the embedded extract outside central Taiyuan
    assert any("straight-line estimates" in n and "娄烦县 100%" in n for n in summary["data_quality"])
