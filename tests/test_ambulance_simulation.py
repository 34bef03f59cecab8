"""Every ambulance plan simulated: direction of the headline and its agreement across outputs (issue 12).

The headline is the simulated share of calls reached within the standard
(:mod:`healthopt.plans.ambulance_simulation`). These tests check that it moves the way a
planner expects — worse traffic never improves it, a plan better by the model objective is
better by it, more vehicles do not lower it beyond its confidence interval — and that the
report, map, ``summary.json``, ``summary.csv``, GeoPackage and the sweep chart show the same
numbers for one run.
"""

from __future__ import annotations

import html
import itertools
import json
import math
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from scipy import sparse

from healthopt.outputs import batch as batch_out
from healthopt.outputs import charts
from healthopt.outputs.maps.title import headline_line
from healthopt.outputs.report import share_ci_text
from healthopt.plans.ambulance_simulation import (
    DISTRICT_COLUMNS,
    CallSettings,
    district_columns,
    free_flow_minutes,
    simulate_layout,
    simulated_layers,
)
from healthopt.queueing.calls import MINUTES_PER_YEAR, DispatchDelay, ServiceTime
from healthopt.queueing.simulate import simulate_calls
from healthopt.scenario import Scenario

NO_DELAY = DispatchDelay(mean_minutes=0.0, distribution="constant")


def _settings(replications: int = 4, seed: int = 3, service: float = 60.0) -> CallSettings:
    return CallSettings({"urban": 20.0, "county": 12.0}, ServiceTime(mean_minutes=service), DispatchDelay(),
                        None, replications, seed, "estimate")  # fmt: skip


def _city(seed: int = 0, atoms: int = 40, stations: int = 6) -> dict[str, Any]:
    """A small city: 30 urban points (12 min) and 10 county points (20 min), random road times."""
    rng = np.random.default_rng(seed)
    urban = np.arange(atoms) < 30
    return {
        "travel_minutes": rng.uniform(0.5, 25.0, (atoms, stations)),
        "residents": rng.uniform(5_000, 60_000, atoms),
        "norm_class": np.where(urban, "urban", "county"),
        "standard_minutes": np.where(urban, 12.0, 20.0),
        "district": np.where(urban, "u", "c"),
    }


# --- direction ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_worse_traffic_never_improves_the_headline(seed: int) -> None:
    # Same layout, same calls (common random numbers): congestion scales travel only, and the
    # dispatch order and queue never depend on it, so every call's response time can only grow.
    city = _city(seed)
    v = np.array([2, 1, 0, 1, 3, 1])
    runs = {c: simulate_layout(vehicles=v, settings=_settings(), congestion=c, **city) for c in (1.0, 1.2, 1.5)}
    for slow, fast in ((1.2, 1.0), (1.5, 1.2)):
        a, b = runs[slow], runs[fast]
        assert np.array_equal(a.calls.station, b.calls.station) and np.array_equal(a.calls.wait, b.calls.wait)
        assert np.all(a.calls.response >= b.calls.response)
        assert a.citywide.reached_share <= b.citywide.reached_share
        assert a.citywide.p90_min >= b.citywide.p90_min
        da, db = (district_columns(r, district=city["district"], codes=["u", "c"]) for r in (a, b))
        assert np.all(da["sim_reached_share"] <= db["sim_reached_share"])
    assert runs[1.5].citywide.reached_share < runs[1.0].citywide.reached_share  # and it does bite here


def test_peak_traffic_reports_free_flow_and_congested_for_the_same_layout() -> None:
    # A scenario with a congestion factor gets both figures; free flow divides the road times
    # (not the straight-line estimates) by the factor, so it is never worse.
    city = _city(4, atoms=12, stations=3)
    free = city["travel_minutes"]
    est = np.zeros(free.shape, dtype=bool)
    est[:, 2] = True  # station 2 is off the road network: its times never had the factor
    jammed = np.where(est, free, free * 1.5)
    minutes = sparse.csr_matrix(jammed.T)  # sites x demand, as the travel-time matrix stores it
    pair_estimated = est.T[minutes.nonzero()]  # aligned with minutes.data (row-major, every time > 0)
    back = free_flow_minutes(minutes=minutes, estimated=pair_estimated, congestion=1.5)
    assert np.allclose(back.toarray().T, free)
    sc = Scenario.from_dict({"name": "peak", "network": {"congestion": 1.5},
                             "plans": {"ambulances": {"simulation": {"replications": 3, "seed": 1}}}})
    codes = ["140105", "140121"]
    context = SimpleNamespace(
        travel_times=SimpleNamespace(minutes=minutes, site_ids=np.array(["a", "b", "c"]),
                                     pair_estimated=pair_estimated),
        points=pd.DataFrame({"population": city["residents"], "standard_minutes": city["standard_minutes"][:12],
                             "district_code": np.where(city["norm_class"] == "urban", codes[0], codes[1])}),
    )  # fmt: skip
    inputs = SimpleNamespace(area=pd.DataFrame({"code": codes, "norm_class": ["urban", "county"]}))
    stations = pd.DataFrame({"site_id": ["a", "b", "c"], "vehicles": [2, 1, 1]})
    out = simulated_layers(scenario=sc, inputs=inputs, context=context, stations=stations)  # type: ignore[arg-type]
    assert out is not None
    peak, flow = out.section["simulated"], out.section["simulated_free_flow"]
    assert peak["congestion"] == 1.5 and flow["congestion"] == 1.0
    assert peak["calls"] == flow["calls"] > 0  # the same calls
    assert peak["reached_share"] <= flow["reached_share"] and peak["p90_min"] >= flow["p90_min"]
    assert [d["code"] for d in peak["by_district"]] == codes
    assert list(out.districts.columns) == ["code", *DISTRICT_COLUMNS]
    assert out.stations["sim_calls"].sum() == peak["calls"] == sum(s["calls"] for s in peak["by_station"])
    # without congestion there is nothing to compare: no free-flow entry
    base = simulated_layers(scenario=Scenario.from_dict({"name": "b"}), inputs=inputs, context=context,
                            stations=stations)  # type: ignore[arg-type]
    assert base is not None and "simulated_free_flow" not in base.section


def _mexclp(cover: np.ndarray, w: np.ndarray, v: np.ndarray, q: float) -> float:
    """Daskin's expected coverage ``Σ w (1 - q^n)``, ``n`` = vehicles within the standard."""
    return float((w * (1 - q ** (cover @ v))).sum())


def test_a_plan_better_by_the_model_is_better_by_the_headline() -> None:
    # Two clusters of demand, four candidate stations: 0 and 1 sit in the clusters, 2 and 3
    # between them (within reach of neither cluster's standard for most points).
    rng = np.random.default_rng(7)
    a = rng.uniform(1.0, 6.0, (20, 1))
    b = rng.uniform(1.0, 6.0, (20, 1))
    t = np.block([[a, a + 25.0, a + 13.0, a + 14.0], [b + 25.0, b, b + 13.0, b + 14.0]])
    residents = rng.uniform(2_000, 8_000, 40)  # 4,000 calls a year: 4 vehicles busy ~12 % of the time
    std = np.full(40, 12.0)
    args = {"travel_minutes": t, "residents": residents, "norm_class": np.full(40, "urban"),
            "standard_minutes": std, "district": np.where(np.arange(40) < 20, "a", "b")}  # fmt: skip
    good, bad = np.array([2, 2, 0, 0]), np.array([1, 0, 2, 1])
    cover = (t <= std[:, None]).astype(float)
    assert _mexclp(cover, residents, good, 0.3) > _mexclp(cover, residents, bad, 0.3)
    g = simulate_layout(vehicles=good, settings=_settings(), **args).citywide
    w = simulate_layout(vehicles=bad, settings=_settings(), **args).citywide
    assert g.reached_share_ci[0] > w.reached_share_ci[1]  # better beyond both confidence intervals
    assert g.p90_min < w.p90_min


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_more_vehicles_in_the_same_layout_do_not_lower_the_share(seed: int) -> None:
    # Nearest-available dispatch is not monotone in the fleet on every sample path (see the
    # next test), so the check is: never lower by more than the confidence interval. Measured
    # on 30 such cities x 5 additions: no drop at all.
    city = _city(seed)
    v = np.ones(6, dtype=int)
    shares = []
    for k in range(5):
        res = simulate_layout(vehicles=v, settings=_settings(replications=4, service=90.0), **city)
        lo, hi = res.citywide.reached_share_ci
        shares.append((res.citywide.reached_share, (hi - lo) / 2))
        v[k] += 1
    for (before, half), (after, _) in itertools.pairwise(shares):
        assert after >= before - half
    assert shares[-1][0] > shares[0][0]


def test_a_far_vehicle_can_lower_the_share_under_nearest_available_dispatch() -> None:
    # One demand point, a station 2 min away and one 30 min away. Without the far vehicle a
    # call arriving while the near one is busy waits (usually < 10 min: 5-minute jobs) and is
    # still reached in 12 min; with it, nearest-available sends the far vehicle (30 min).
    args = {"travel_minutes": np.array([[2.0, 30.0]]), "calls_per_year": [0.5 * 24 * 365], "standard_minutes": 12.0,
            "service": ServiceTime(mean_minutes=5.0), "delay": NO_DELAY, "horizon_minutes": MINUTES_PER_YEAR,
            "replications": 4, "seed": 1}  # fmt: skip
    alone = simulate_calls(vehicles=[1, 0], **args).citywide
    more = simulate_calls(vehicles=[1, 1], **args).citywide
    assert more.reached_share_ci[1] < alone.reached_share_ci[0]


# --- the same numbers everywhere -----------------------------------------------------------------------


def _close(a: Any, b: Any, rel: float = 1e-5) -> bool:
    if a is None or b is None or (isinstance(a, float) and math.isnan(a)):
        return a is None or b is None or math.isnan(float(b))
    return math.isclose(float(a), float(b), rel_tol=rel, abs_tol=1e-9)


@pytest.mark.slow
def test_the_headline_agrees_across_every_output(baseline_run: Any) -> None:
    folder = Path(baseline_run.folder)
    summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    sim = summary["ambulances"]["simulated"]
    assert sim["quality"] == "estimate" and sim["calls"] > 50_000
    assert 0 < sim["reached_share_ci"][0] <= sim["reached_share"] <= sim["reached_share_ci"][1] <= 1
    by = {d["code"]: d for d in sim["by_district"]}
    assert sum(d["calls"] for d in by.values()) == sim["calls"]
    # the city-wide share is the calls-weighted district shares (one call log)
    assert _close(sum(d["reached_share"] * d["calls"] for d in by.values()) / sim["calls"], sim["reached_share"])

    csv = pd.read_csv(folder / "summary.csv", dtype={"code": str}).set_index("code")
    gpkg = gpd.read_file(folder / "results.gpkg", layer="districts").set_index("code")
    layer = baseline_run.layers["districts"].set_index("code")
    for code, d in by.items():
        for table in (csv, gpkg, layer):
            assert _close(table.at[code, "sim_reached_share"], d["reached_share"])
            assert _close(table.at[code, "sim_reached_ci_low"], d["reached_ci_low"])
            assert _close(table.at[code, "sim_p90_min"], d["p90_min"])
            assert int(table.at[code, "sim_calls"]) == d["calls"]
    total = csv.loc["total"]
    assert _close(total["sim_reached_share"], sim["reached_share"]) and _close(total["sim_p90_min"], sim["p90_min"])
    assert int(total["sim_calls"]) == sim["calls"]

    report = (folder / "report.html").read_text(encoding="utf-8")
    lead = report[report.index('id="calls-reached"'):report.index("Headline indicators")]
    assert html.escape(share_ci_text(sim)) in lead and f"{sim['p90_min']:.1f} min" in lead
    for d in by.values():
        row = share_ci_text({"reached_share": d["reached_share"],
                             "reached_share_ci": [d["reached_ci_low"], d["reached_ci_high"]]})
        assert html.escape(row) in lead
    assert "beyond capacity" not in report.lower() and "not reached in" not in report

    page = (folder / "map.html").read_text(encoding="utf-8").replace("\\/", "/")
    line = headline_line(summary)
    assert line is not None and f"{100 * sim['reached_share']:.1f} %" in line
    assert html.escape(line) in page or html.escape(line).replace('"', '\\"') in page
    assert "not served in time" not in page

    # the sweep chart's y value for this run is the same share
    row = batch_out._simulated_columns(summary)
    assert row["sim_reached_share"] == sim["reached_share"]
    frame = pd.DataFrame([{"scenario": "b", "fleet_planned": summary["kpis"]["fleet_planned"],
                           "response_urban_min": 12.0, "congestion": 1.0, "norms_met": True, **row}])
    plotted = charts._prepared(frame)
    assert _close(plotted["covered_pct"].iloc[0], 100 * sim["reached_share"])
    assert _close(plotted["err_low"].iloc[0], 100 * (sim["reached_share"] - sim["reached_share_ci"][0]))


@pytest.mark.slow
def test_sweep_chart_rises_with_the_fleet_budget(tmp_path: Path) -> None:
    # A real sweep: one urban district (迎泽, fleet norm 20), the budget cut to 8 / 14 / 20 under
    # relaxed norms; each member re-optimises its layout (MEXCLP), then is simulated. The chart's
    # y must not fall as the budget grows (tolerance: the members' 95 % intervals overlap at worst).
    from healthopt.batch import run_batch

    base = Path(__file__).resolve().parent.parent / "scenarios" / "taiyuan_2025_baseline.yaml"
    fixed = {"area.districts": ["140106"], "area.urban": ["140106"], "plans.primary_care.enabled": False,
             "plans.beds.enabled": False, "outputs.report": False, "outputs.map": False, "outputs.gpkg": False,
             "solver.time_limit_s": 20, "solver.gap": 1e-3, "solver.threads": 1,
             "solver.relax_norms_if_infeasible": True, "plans.ambulances.simulation.replications": 4}
    lines = ["sweep:", "  name: fleet", f"  base: {base}", "  set:"]
    lines += [f"    {k}: {json.dumps(v)}" for k, v in fixed.items()]
    lines += ["  grid:", "    plans.ambulances.max_vehicles: [8, 14, 20]"]
    path = tmp_path / "fleet.yaml"
    path.write_text("\n".join(lines) + "\n")
    run = run_batch(path, tmp_path / "runs")
    assert [r["status"] for r in run.records] == ["ok"] * 3
    frame = batch_out.summary_frame(run)
    plotted = charts._prepared(frame).sort_values("fleet_planned")
    assert plotted["fleet_planned"].tolist() == [8, 14, 20]
    pct, low, high = (plotted[c].to_numpy() for c in ("covered_pct", "err_low", "err_high"))
    for i in range(len(pct) - 1):
        assert pct[i + 1] + high[i + 1] >= pct[i] - low[i]  # upper bound of the larger fleet >= lower of the smaller
    assert pct[-1] > pct[0]
