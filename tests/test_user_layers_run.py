"""A run with the planner's own existing stations (Amap / GCJ-02 coordinates)."""

from pathlib import Path

import pytest

from healthopt.errors import InputError
from healthopt.pipeline.run import run_loaded
from healthopt.scenario import Scenario, load_scenario

ROOT = Path(__file__).resolve().parent.parent
BASELINE = ROOT / "scenarios" / "taiyuan_2025_baseline.yaml"
LAYERS = Path(__file__).resolve().parent / "fixtures" / "user_layers"


def _with_stations(csv: str) -> Scenario:
    data = load_scenario(BASELINE).resolved_dict()
    data["data"]["stations"] = {"path": str(LAYERS / csv), "crs": "gcj02", "capacity_field": "vehicles"}
    data["solver"]["time_limit_s"] = 15.0
    data["plans"]["primary_care"]["enabled"] = False
    # 小店 and 迎泽 hold both test stations; the other eight units only make the run slower
    data["area"]["districts"] = data["area"]["urban"] = ["140105", "140106"]
    return Scenario.from_dict(data, source=BASELINE, base_dir=BASELINE.parent)


@pytest.mark.slow
def test_existing_stations_are_kept_and_converted_to_wgs84(tmp_path):
    out = run_loaded(_with_stations("stations_gcj02.csv"), tmp_path / "run", lambda _m: None)
    stations = out.layers["stations"].set_index("site_id")
    kept = stations.loc[["user-stations-S1", "user-stations-S2"]]
    assert (kept["status"] == "existing").all() and (kept["vehicles"] >= 1).all()
    assert (kept["location_quality"] == "user").all()
    # GCJ-02 (112.558851, 37.855804) is 迎泽区's seat at WGS84 (112.552562, 37.855284)
    s1 = kept.loc["user-stations-S1"].geometry
    assert abs(s1.x - 112.552562) < 1e-5 and abs(s1.y - 37.855284) < 1e-5
    assert kept.loc["user-stations-S1", "vehicles"] <= 10  # its capacity from the layer


def test_station_outside_study_area_is_named(tmp_path):
    with pytest.raises(InputError, match=r"stations_outside\.csv: geometry: 1 existing facilities lie outside"):
        run_loaded(_with_stations("stations_outside.csv"), tmp_path / "run", lambda _m: None)
    assert not (tmp_path / "run").exists()
