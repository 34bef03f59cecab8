"""A run on the planner's own demand layer (street polygons in GCJ-02, or points) instead of the grid."""

import json
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest

from healthopt.pipeline.run import run_scenario

LAYERS = Path(__file__).resolve().parent / "fixtures" / "user_layers"

#: One small urban district (迎泽区) and no map/report keep the run to a few seconds.
SCENARIO = """\
name: yingze_user_demand
area: {{districts: [140106], urban: [140106]}}
data:
  demand: {{path: {path}, crs: {crs}, population_field: pop}}
solver: {{time_limit_s: 15}}
outputs: {{map: false, report: false}}
"""


def _layer_total(path: Path) -> int:
    frame = pd.read_csv(path) if path.suffix == ".csv" else gpd.read_file(path)
    return int(frame["pop"].sum())


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "crs", "method"),
    [("yingze_streets_gcj02.geojson", "gcj02", "user_area_share"), ("yingze_points_wgs84.csv", "wgs84", "user_point")],
)
def test_user_demand_layer_replaces_the_grid(tmp_path, name, crs, method):
    scenario = tmp_path / "scenario.yaml"
    scenario.write_text(SCENARIO.format(path=LAYERS / name, crs=crs), encoding="utf-8")
    out = run_scenario(scenario, tmp_path / "runs")
    total = _layer_total(LAYERS / name)
    demand = out.layers["demand"]
    assert int(demand["population"].sum()) == total
    assert set(demand["district_code"]) == {"140106"}
    # Where figures come from: the layer's own quality column, "user" where it is blank.
    assert set(demand["population_quality"]) == {"survey", "user"}
    assert out.summary["kpis"]["pop_total"] == total
    assert out.summary["kpis"]["pop_covered"] + out.summary["kpis"]["pop_beyond_capacity"] \
        + out.summary["kpis"]["pop_outside"] == total
    written = json.loads((out.folder / "summary.json").read_text(encoding="utf-8"))
    assert written["kpis"]["pop_total"] == total
    assert written["data_quality"][0].startswith("Population points come from the user layer ")
    if method == "user_point":
        assert len(demand) == 4 and demand["estimated"].dtype == bool
