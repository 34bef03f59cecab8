"""Every shipped scenario end to end (short solver limits): outputs, norms, browser check.

The baseline runs as shipped, all 10 units, with a 15 s solver limit (the session's
``baseline_run``, shared with tests/test_run.py). The other scenarios keep every setting they
ship with but plan a smaller study area with a 5 s limit (the greedy start makes every
ambulance plan feasible from the first second, so a limit only costs optimality): the units of
:data:`SMALL_AREA` they contain, which still has urban and county norms, road-timed and
straight-line travel times, and both cities for the green channel. The budget cut keeps its
shipped ratio of fleet budget to fleet norm (180 of 233) on the small area (43 of 56), so its
norms are still relaxed.
"""

import json
import tempfile
from pathlib import Path

import pandas as pd
import pyogrio
import pytest

from healthopt.pipeline.run import run_loaded
from healthopt.scenario import Scenario, load_scenario

SCENARIOS = sorted((Path(__file__).resolve().parent.parent / "scenarios").glob("*.yaml"))
TIME_LIMIT_S = 5.0
#: 迎泽区 and 杏花岭区 (urban, in the road extract), 娄烦县 (county, straight-line estimates),
#: 榆次区 (Jinzhong: only the green-channel scenario plans it).
SMALL_AREA = ("140106", "140107", "140123", "140702")
#: The budget cut's fleet budget on the small area (fleet norm there: 21 + 24 + 11 = 56).
SMALL_BUDGET = 43  # floor(56 x 180 / 233)
FULL_AREA = ("taiyuan_2025_baseline",)


def small(sc: Scenario) -> Scenario:
    """Return ``sc`` on the units of :data:`SMALL_AREA` it plans, with the e2e solver limit."""
    districts = [code for code in sc.area.districts if code in SMALL_AREA]
    overrides: dict = {"area.districts": districts, "area.urban": [c for c in sc.area.urban if c in districts],
                       "solver.time_limit_s": TIME_LIMIT_S}
    if sc.plans.ambulances.max_vehicles is not None:
        overrides["plans.ambulances.max_vehicles"] = SMALL_BUDGET
    if sc.data.stations is not None:  # a shipped layout covers all 10 units: keep its stations in the small area
        overrides["data.stations.path"] = str(_stations_in(sc.data.stations.path, districts))
    return sc.with_overrides(overrides)


def _stations_in(path: Path, districts: list[str]) -> Path:
    """Write the stations of a layout CSV (``district_code`` column) that lie in ``districts``."""
    rows = pd.read_csv(path, dtype=str, encoding="utf-8-sig", keep_default_na=False)
    out = Path(tempfile.mkdtemp(prefix="e2e-stations-")) / path.name
    rows[rows["district_code"].isin(districts)].to_csv(out, index=False)
    return out


def _param(path: Path):
    group = "baseline_run" if path.stem in FULL_AREA else f"e2e-{path.stem}"
    return pytest.param(path.stem, marks=pytest.mark.xdist_group(group), id=path.stem)


@pytest.fixture(scope="module", params=[_param(p) for p in SCENARIOS])
def run(request, tmp_path_factory):
    if request.param in FULL_AREA:
        return request.getfixturevalue("baseline_run")
    sc = small(load_scenario(next(p for p in SCENARIOS if p.stem == request.param)))
    return run_loaded(sc, tmp_path_factory.mktemp("e2e") / sc.name, lambda _m: None)


def test_shipped_scenarios():
    assert {p.stem for p in SCENARIOS} >= {
        "taiyuan_2025_baseline", "taiyuan_2025_peak_traffic", "taiyuan_infectious_surge",
        "taiyuan_jinzhong_green_channel", "taiyuan_2025_budget_cut"}


def test_small_variants_keep_what_each_scenario_tests():
    by_name = {p.stem: small(load_scenario(p)) for p in SCENARIOS}
    budget = by_name["taiyuan_2025_budget_cut"]
    assert budget.area.districts == ["140106", "140107", "140123"] and budget.plans.ambulances.max_vehicles == 43
    assert budget.solver.relax_norms_if_infeasible
    assert by_name["taiyuan_2025_peak_traffic"].network.congestion == 1.5
    assert by_name["taiyuan_infectious_surge"].plans.ambulances.negative_pressure_share == 0.6
    channel = by_name["taiyuan_jinzhong_green_channel"]
    assert channel.area.districts == list(SMALL_AREA) and channel.area.urban == ["140106", "140107", "140702"]
    assert channel.plans.green_channel.enabled
    assert all(sc.solver.time_limit_s == TIME_LIMIT_S for sc in by_name.values())


@pytest.mark.slow
def test_summary_against_norms(run):
    summary = json.loads((run.folder / "summary.json").read_text())
    k = summary["kpis"]
    assert k["fleet_norm"] > 0
    if "evaluated as given" in summary["solver"]["plans"]["ambulances"]["status"]:  # mode evaluate
        given = load_scenario(run.folder / "scenario.resolved.yaml").data.stations
        layout = pd.read_csv(given.path, encoding="utf-8-sig")
        assert k["fleet_planned"] == k["fleet_existing"] == layout["vehicles"].sum() and k["fleet_added"] == 0
        assert k["pop_covered"] + k["pop_beyond_capacity"] + k["pop_outside"] == k["pop_total"]
        return  # the norms are reported against the given layout, not imposed
    assert k["np_planned"] >= k["np_required_share"] * k["fleet_planned"] - 1e-9
    assert k["pop_covered"] + k["pop_beyond_capacity"] + k["pop_outside"] == k["pop_total"]
    districts = pyogrio.read_dataframe(run.folder / "results.gpkg", layer="districts")
    short = districts[districts["amb_planned"] < districts["amb_norm"]]
    if run.folder.name == "taiyuan_2025_budget_cut":  # its budget is below the norm: norms are relaxed
        assert summary.get("relaxed_norms")
    if summary.get("relaxed_norms"):  # the budget is below the norm: every shortfall is named
        assert k["fleet_planned"] < k["fleet_norm"] and "relaxed norms" in summary["status"]
        assert len(short) == sum("fleet norm" in r for r in summary["relaxed_norms"]) > 0
        for row in short.itertuples():
            assert f"{row.name_zh} ({row.code}): {row.amb_planned} ambulances against the fleet norm of " \
                   f"{row.amb_norm} (short {row.amb_norm - row.amb_planned})" in summary["relaxed_norms"]
        report = (run.folder / "report.html").read_text()
        assert "The budgets cannot meet every norm" in report and "budget allows" in report
        assert all(r in report for r in summary["relaxed_norms"])
        assert "Norms relaxed" in (run.folder / "map.html").read_text()
    else:
        assert k["fleet_planned"] >= k["fleet_norm"] and short.empty
    assert districts["residents"].sum() == k["pop_total"]
    if "chc_planned" in k:  # every required health centre is sited
        assert (k["chc_planned"], k["thc_planned"]) == (k["chc_required"], k["thc_required"])
    if not summary["optimal"]:
        assert "not proven optimal" in summary["status"]


@pytest.mark.slow
def test_green_channel_says_what_is_estimated(run):
    summary = json.loads((run.folder / "summary.json").read_text())
    if "green_channel" not in summary:
        pytest.skip("no green channel in this scenario")
    routes = summary["green_channel"]["routes"]
    assert routes and all(r["estimated"] for r in routes)  # Jinzhong has no road data
    assert any("straight-line estimates" in n for n in summary["data_quality"])
    assert "green_channel" in {name for name, _ in pyogrio.list_layers(run.folder / "results.gpkg")}


@pytest.mark.slow
@pytest.mark.parametrize("page", ["map.html", "report.html"])
def test_pages_load_offline_without_errors(run, page):
    browser = pytest.importorskip("browser")
    if browser.find_chromium() is None:
        pytest.skip("chromium is not installed (CI installs it in .ci/run)")
    report = browser.check_page(run.folder / page)
    assert not report.js_errors and not report.failed_requests, report.problems()
    if page == "map.html":
        assert report.ok, report.problems()
        assert report.legend_present and "OpenStreetMap" in report.attribution_text
