"""Every shipped scenario end to end (short solver limit): outputs, norms, browser check."""

import json
from pathlib import Path

import pyogrio
import pytest

from healthopt.pipeline.run import run_loaded
from healthopt.scenario import load_scenario

SCENARIOS = sorted((Path(__file__).resolve().parent.parent / "scenarios").glob("*.yaml"))


@pytest.fixture(scope="module", params=[p.stem for p in SCENARIOS])
def run(request, tmp_path_factory):
    path = next(p for p in SCENARIOS if p.stem == request.param)
    sc = load_scenario(path).with_overrides({"solver.time_limit_s": 15.0})
    return run_loaded(sc, tmp_path_factory.mktemp("e2e") / sc.name, lambda _m: None)


def test_shipped_scenarios():
    assert {p.stem for p in SCENARIOS} >= {
        "taiyuan_2025_baseline", "taiyuan_2025_peak_traffic", "taiyuan_infectious_surge",
        "taiyuan_jinzhong_green_channel", "taiyuan_2025_budget_cut"}


def test_summary_against_norms(run):
    summary = json.loads((run.folder / "summary.json").read_text())
    k = summary["kpis"]
    assert k["fleet_norm"] > 0
    assert k["np_planned"] >= k["np_required_share"] * k["fleet_planned"] - 1e-9
    assert k["pop_covered"] + k["pop_beyond_capacity"] + k["pop_outside"] == k["pop_total"]
    districts = pyogrio.read_dataframe(run.folder / "results.gpkg", layer="districts")
    short = districts[districts["amb_planned"] < districts["amb_norm"]]
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


def test_green_channel_says_what_is_estimated(run):
    summary = json.loads((run.folder / "summary.json").read_text())
    if "green_channel" not in summary:
        pytest.skip("no green channel in this scenario")
    routes = summary["green_channel"]["routes"]
    assert routes and all(r["estimated"] for r in routes)  # Jinzhong has no road data
    assert any("straight-line estimates" in n for n in summary["data_quality"])
    assert "green_channel" in {name for name, _ in pyogrio.list_layers(run.folder / "results.gpkg")}


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

