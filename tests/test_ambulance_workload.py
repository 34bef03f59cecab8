"""The ambulance model on workload: busy fractions, calibrated MEXCLP, spare vehicles, equity.

Hand-checkable instances; optima checked by enumerating every vehicle allocation.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from healthopt.errors import InfeasiblePlanError
from healthopt.milp.solve import solve_problem
from healthopt.models.expected import levels_needed
from healthopt.plans.ambulance_response import ResponseModel, place_spare_vehicles
from healthopt.plans.ambulances import AmbulancePlan
from healthopt.queueing.hypercube import correction_factors, hypercube_approx, preference_lists

YEAR_MIN = 525_600.0


def _norms(codes, classes, residents, vehicles):
    return pd.DataFrame({"code": codes, "name_zh": [f"区{c}" for c in codes], "norm_class": classes,
                         "residents": residents, "residents_per_vehicle": [30000.0] * len(codes),
                         "min_vehicles": vehicles, "min_negative_pressure": [0] * len(codes)})


def _plan(minutes, site_district, demand_district, pop, norms, *, standard=12.0, cap=3, **kw):
    m = sp.csr_matrix(np.asarray(minutes, float))
    ns, nd = m.shape
    sites = pd.DataFrame({"site_id": [f"s{j}" for j in range(ns)], "district_code": site_district,
                          "existing": [False] * ns, "max_vehicles": [cap] * ns})
    demand = pd.DataFrame({"demand_id": [f"d{i}" for i in range(nd)], "district_code": demand_district,
                           "population": np.asarray(pop, float), "standard_minutes": [standard] * nd})
    return AmbulancePlan(m, sites, demand, norms, **kw)


# ------------------------------------------------------------------ busy fraction arithmetic


def test_district_busy_fraction_is_calls_times_service_over_vehicles_and_year():
    # Urban A: 300,000 residents at 20 calls per 1,000 per year = 6,000 calls; county B:
    # 50,000 at 12 per 1,000 = 600 calls. Service 60 min; fleet norm A 10, B 5 vehicles.
    minutes = [[1.0, 5.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, 3.0]]
    plan = _plan(minutes, ["A", "A", "B"], ["A", "A", "B"], [100_000, 200_000, 50_000],
                 _norms(["A", "B"], ["urban", "county"], [300_000, 50_000], [10, 5]), cap=10,
                 busy_fraction=None, max_levels=None, call_rates={"urban": 20.0, "county": 12.0},
                 service_minutes=60.0, hypercube_rounds=0, county_codes=["B"])
    r = plan.solve(solver="highs")
    d = r.districts.set_index("code")
    assert d.loc["A", "calls_expected"] == pytest.approx(6000.0)
    assert d.loc["B", "calls_expected"] == pytest.approx(600.0)
    assert d.loc["A", "busy_fraction"] == pytest.approx(6000 * 60 / (10 * YEAR_MIN), abs=1e-6)  # 0.068493
    assert d.loc["B", "busy_fraction"] == pytest.approx(600 * 60 / (5 * YEAR_MIN), abs=1e-6)  # 0.013699
    # the stations' hypercube busy probabilities average to the region's busy fraction
    s = r.stations.set_index("site_id")
    a = s[s["district_code"] == "A"]
    # (Larson's approximation: within 1 % of the exact M/M/N mean, calls x service / vehicles)
    assert (a["busy_probability"] * a["vehicles"]).sum() / a["vehicles"].sum() == pytest.approx(
        6000 * 60 / (10 * YEAR_MIN), rel=1e-2)
    assert r.totals["calls_expected"] == pytest.approx(6600.0)
    assert "busy" in r.totals["model_sentence"] and r.totals["model_sentence"].endswith(".")


# ------------------------------------------------------------------ calibrated MEXCLP, brute force


def _brute_expected(minutes, weight, standard, fleet, site_district, q, corr, levels_of):
    """Best expected coverage over every allocation meeting the district fleets exactly."""
    m = np.asarray(minutes, float)
    within = (m > 0) & (m <= standard)  # sites x demand
    within[m == 0] = False
    ns = m.shape[0]
    best = -1.0
    for v in itertools.product(range(4), repeat=ns):
        v = np.array(v)
        ok = all(v[[j for j in range(ns) if site_district[j] == d]].sum() == n for d, n in fleet.items())
        if not ok:
            continue
        value = 0.0
        for i, w in enumerate(weight):
            n = int(v[within[:, i]].sum())
            L = levels_of[i]
            value += w * sum(corr[i][k] * (1 - q[i]) * q[i] ** k for k in range(min(n, L)))
        best = max(best, value)
    return best


def test_calibrated_mexclp_matches_brute_force_with_region_busy_fractions():
    # One urban region: 3 sites, 4 demand points, 4 vehicles; calls = residents x 50/1000,
    # so q = calls x 60 / (4 x year) is large enough for several levels to matter.
    minutes = [[2.0, 5.0, 0.0, 0.0],
               [0.0, 3.0, 9.0, 0.0],
               [0.0, 0.0, 4.0, 6.0]]
    pop = [48_000, 24_000, 40_000, 32_000]
    rate = 50.0
    plan = _plan(minutes, ["A"] * 3, ["A"] * 4, pop, _norms(["A"], ["urban"], [144_000], [4]),
                 busy_fraction=None, max_levels=None, call_rates={"urban": rate, "county": rate},
                 service_minutes=60.0, hypercube_rounds=0, spare_to_calls=False, max_new_stations=3)
    r = plan.solve(solver="highs", gap=0.0)
    calls = np.array(pop) * rate / 1000.0
    q = calls.sum() * 60.0 / (4 * YEAR_MIN)  # 0.205
    assert 0.2 < q < 0.21
    L = int(levels_needed(q))
    assert q ** L <= 1e-6 < q ** (L - 1)
    corr = correction_factors(units=4, utilisation=q)
    corr = np.concatenate([corr, np.full(max(L - corr.size, 0), corr[-1])])
    hold = [3, 6, 6, 3]  # vehicles the sites within reach can hold (3 per site)
    levels = [min(L, h) for h in hold]
    best = _brute_expected(minutes, calls, 12.0, {"A": 4}, ["A"] * 3, [q] * 4, [corr] * 4, levels)
    assert r.totals["calls_covered_expected"] == pytest.approx(best, abs=0.05)  # tie-breaks < 0.05 calls


def test_fixed_point_rounds_stop_and_busy_probabilities_are_the_hypercube_of_the_plan():
    minutes = [[2.0, 5.0, 0.0, 0.0], [0.0, 3.0, 9.0, 0.0], [0.0, 0.0, 4.0, 6.0]]
    pop = [48_000, 24_000, 40_000, 32_000]
    plan = _plan(minutes, ["A"] * 3, ["A"] * 4, pop, _norms(["A"], ["urban"], [144_000], [4]),
                 busy_fraction=None, max_levels=None, call_rates={"urban": 50.0, "county": 50.0},
                 service_minutes=60.0, hypercube_rounds=4, spare_to_calls=False)
    r = plan.solve(solver="highs", gap=0.0)
    assert 1 <= len(plan.rounds) <= 4
    assert plan.converged or len(plan.rounds) == 4
    s = r.stations
    v = np.zeros(3, int)
    v[s["site_id"].str[1:].astype(int)] = s["vehicles"]
    st = np.flatnonzero(v > 0)
    units = np.repeat(np.arange(st.size), v[st])
    t = np.asarray(minutes, float)[st].T
    t[t == 0] = 1e6
    lam = np.array(pop) * 50.0 / 1000.0 / YEAR_MIN
    hc = hypercube_approx(call_rates=lam, preferences=preference_lists(travel_minutes=t, unit_station=units),
                          service_rate=1 / 60.0)
    busy = np.bincount(units, weights=hc.busy) / v[st]
    assert s.sort_values("site_id")["busy_probability"].to_numpy() == pytest.approx(busy, abs=1e-6)


# ------------------------------------------------------------------ spare vehicles toward calls


def test_a_spare_vehicle_moves_toward_the_calls():
    # Two stations that both reach both points; point 0 has 9x the calls of point 1.
    # Station 0 is 1 min from point 0, station 1 is 1 min from point 1 (10 min to the other).
    minutes = sp.csr_matrix(np.array([[1.0, 10.0], [10.0, 1.0]]))
    calls = np.array([900.0, 100.0])
    response = ResponseModel(minutes=minutes, calls=calls, standard=np.array([12.0, 12.0]),
                             stations=np.array([True, True]), busy=np.array([0.3, 0.3]))

    def hand(v):  # calls x expected minutes written out: nearest free, else the other, else 24
        b0, b1 = 0.3 ** v[0], 0.3 ** v[1]
        return (900 * ((1 - b0) * 1 + b0 * (1 - b1) * 10 + b0 * b1 * 24)
                + 100 * ((1 - b1) * 1 + b1 * (1 - b0) * 10 + b1 * b0 * 24))

    assert response.total(np.array([1, 3])) == pytest.approx(hand([1, 3]))
    v, moves = place_spare_vehicles(v=np.array([1, 3]), district=np.array(["A", "A"]), cap=np.array([4, 4]),
                                    floor=np.zeros(2, int), response=response, coverage=lambda w: 1.0, tol=0.0,
                                    max_moves=10)
    best = min(([a, 4 - a] for a in range(1, 4)), key=hand)
    assert v.tolist() == best == [3, 1]
    assert [m["to"] for m in moves] == [0, 0]
    assert sum(m["minutes_saved"] for m in moves) == pytest.approx(hand([1, 3]) - hand([3, 1]))
    # a coverage that any move would lower keeps the plan as it is
    v2, moves2 = place_spare_vehicles(v=np.array([1, 3]), district=np.array(["A", "A"]), cap=np.array([4, 4]),
                                      floor=np.zeros(2, int), response=response,
                                      coverage=lambda w: -abs(float(w[1]) - 3.0), tol=0.5, max_moves=10)
    assert v2.tolist() == [1, 3] and moves2 == []


def test_the_plan_puts_its_spare_vehicles_near_the_calls():
    # Both stations reach both points within 12 min, 4 vehicles: coverage is indifferent
    # (q is tiny), so only the response time decides: most vehicles 1 min from the busy point.
    # Both are existing stations (kept open), so the question is only where the 2 spare go.
    minutes = [[1.0, 10.0], [10.0, 1.0]]
    plan = _plan(minutes, ["A", "A"], ["A", "A"], [90_000, 10_000], _norms(["A"], ["urban"], [100_000], [4]),
                 cap=4, busy_fraction=None, max_levels=None, hypercube_rounds=1)
    plan.sites["existing"] = True
    r = plan.solve(solver="highs")
    v = r.stations.set_index("site_id")["vehicles"]
    assert v["s0"] == 3 and v["s1"] == 1


# ------------------------------------------------------------------ equity


def _equity_instance(**kw):
    # A (urban, 2 vehicles): a0 reaches dA (heavy) only, a1 reaches dB2 only. B (county, 1
    # vehicle): b0 reaches dB1 only. Constant q = 0.5, 2 levels.
    minutes = [[2.0, 0.0, 0.0],
               [0.0, 0.0, 3.0],
               [0.0, 4.0, 0.0]]
    return _plan(minutes, ["A", "A", "B"], ["A", "B", "B"], [1000.0, 100.0, 300.0],
                 _norms(["A", "B"], ["urban", "county"], [1000, 400], [2, 1]), busy_fraction=0.5, max_levels=2,
                 county_codes=["B"], **kw)


def _equity_brute(share_floor=None, maxmin=False):
    pop = np.array([1000.0, 100.0, 300.0])
    reach = [[0], [2], [1]]  # demand -> sites within the standard
    best = None
    for v in itertools.product(range(3), range(3), [1]):
        if v[0] + v[1] != 2:
            continue
        cov = np.array([1 - 0.5 ** min(sum(v[j] for j in r), 2) for r in reach]) * pop
        share = {"A": cov[0] / 1000.0, "B": (cov[1] + cov[2]) / 400.0}
        if share_floor is not None and min(share.values()) < share_floor - 1e-9:
            continue
        key = (min(share.values()), cov.sum()) if maxmin else (0.0, cov.sum())
        best = key if best is None or key > best else best
    return best


def test_equity_floor_is_honoured_and_optimal():
    # allocations of A's 2 vehicles (a0, a1): (2, 0) covers 750 + 50 = 800 residents, B's
    # share 50/400 = 0.125; (1, 1) covers 500 + 50 + 150 = 700, shares A 0.5, B 0.5.
    free = _equity_instance().solve(solver="highs", gap=0.0)
    assert free.totals["pop_covered_expected"] == pytest.approx(_equity_brute()[1], abs=0.05) == 800.0
    floor = 0.45
    r = _equity_instance(min_share_reached=floor).solve(solver="highs", gap=0.0)
    assert r.totals["pop_covered_expected"] == pytest.approx(_equity_brute(share_floor=floor)[1], abs=0.05)
    assert r.totals["pop_covered_expected"] == pytest.approx(700.0, abs=0.05)
    v = r.stations.set_index("site_id")["vehicles"]
    assert (v.get("s0", 0), v.get("s1", 0)) == (1, 1)


def test_maximise_worst_district_matches_brute_force():
    r = _equity_instance(maximise_worst_district=True).solve(solver="highs", gap=0.0)
    worst, total = _equity_brute(maxmin=True)
    assert r.totals["pop_covered_expected"] == pytest.approx(total, abs=0.05)
    v = r.stations.set_index("site_id")["vehicles"]
    alloc = (int(v.get("s0", 0)), int(v.get("s1", 0)))
    cov_b = (1 - 0.5 ** alloc[1] if alloc[1] else 0.0) * 100 + 0.5 * 300
    cov_a = (1 - 0.5 ** min(alloc[0], 2)) * 1000
    assert min(cov_a / 1000, cov_b / 400) == pytest.approx(worst)


def test_equity_floor_out_of_reach_is_explained():
    with pytest.raises(InfeasiblePlanError, match="expected 95% of residents covered in every district"):
        _equity_instance(min_share_reached=0.95).solve(solver="highs")


def test_levels_stop_where_the_tail_is_below_a_millionth():
    for q in (0.01, 0.07, 0.3, 0.6):
        L = int(levels_needed(q))
        assert q ** L <= 1e-6 * (1 + 1e-9) and q ** (L - 1) > 1e-6
        assert math.isclose(sum((1 - q) * q ** k for k in range(L)), 1 - q ** L)


# ------------------------------------------------------------------ budget cut shared in proportion


def test_a_budget_cut_is_shared_in_proportion_to_the_norms():
    # Norms 5 + 4 + 3 = 12 ambulances, budget 6: short 6, in proportion 2.5, 2, 1.5, so A is
    # short 2 or 3, B exactly 2, C 1 or 2. B's residents gain most from their ambulances:
    # capping shortfalls only at the rounded-up share let coverage keep B short by 1 (A 3, C 2).
    minutes = np.diag([2.0, 2.0, 2.0, 2.0, 2.0, 2.0])
    plan = _plan(minutes, ["A", "A", "B", "B", "C", "C"], ["A", "A", "B", "B", "C", "C"],
                 [50_000, 50_000, 200_000, 200_000, 10_000, 10_000],
                 _norms(["A", "B", "C"], ["urban", "county", "county"], [150_000, 40_000, 30_000], [5, 4, 3]),
                 cap=4, max_vehicles=6, county_codes=["B", "C"])
    r = plan.solve(solver="highs", relax_norms=True)
    got = r.districts.set_index("code")["amb_planned"].to_dict()
    assert got["B"] == 4 - 2
    assert 5 - 3 <= got["A"] <= 5 - 2 and 3 - 2 <= got["C"] <= 3 - 1
    assert sum(got.values()) == 6
    assert "in proportion to their fleet norms" in r.totals["relaxed_shortfall_rule"]


def test_relaxed_plan_starts_from_a_greedy_plan_at_the_fair_shares():
    # Same instance: shortfall 6 in proportion 2.5 / 2 / 1.5, so fleets 5-3 = 2, 4-2 = 2, 3-2 = 1
    # and the 1 vehicle left goes to the district whose share was rounded most (A or C, 0.5 each:
    # A first, by order). That start is feasible for the fair-share problem (shortfall variables
    # filled in) and the solve is never worse than it.
    minutes = np.diag([2.0, 2.0, 2.0, 2.0, 2.0, 2.0])
    plan = _plan(minutes, ["A", "A", "B", "B", "C", "C"], ["A", "A", "B", "B", "C", "C"],
                 [50_000, 50_000, 200_000, 200_000, 10_000, 10_000],
                 _norms(["A", "B", "C"], ["urban", "county", "county"], [150_000, 40_000, 30_000], [5, 4, 3]),
                 cap=4, max_vehicles=6, county_codes=["B", "C"])
    p = plan.build(relax_norms=True)
    first = p.copy()
    first.set_objective({name: 1.0 for name in p.blocks if name.startswith("short_")}, sense="min")
    x1 = solve_problem(first, "highs").x
    fair, _ = plan._proportional(p, x1)
    start = plan._fair_start(fair, x1)
    assert start is not None and fair.is_feasible(start)
    D, _codes = plan._district_matrix()
    assert (D @ fair.value(start, "v")).tolist() == [3, 2, 1]
    assert fair.value(start, "short_fleet").tolist() == [2, 2, 2]
    r = plan.solve(solver="highs", relax_norms=True)
    assert r.objective >= float(fair.obj @ start) - 1e-6


def test_seats_and_hospitals_cost_least_to_open_grid_cells_most():
    minutes = np.full((4, 1), 2.0)
    plan = _plan(minutes, ["B"] * 4, ["B"], [10_000], _norms(["B"], ["county"], [10_000], [1]),
                 county_codes=["B"])
    plan.sites["kind"] = ["district_seat", "hospital", "network_node", "user"]
    plan.sites["location_quality"] = ["secondary", "given", "network_node", "grid_cell"]
    pen = plan.open_penalty()
    assert pen[0] == pen[1] == 0.5 and pen[0] < pen[2] < pen[3]
    assert plan.required_open().tolist() == [True, False, False, False]  # the county seat keeps a station
    r = plan.solve(solver="highs")
    assert r.stations["site_id"].tolist() == ["s0"]
    plan.sites.loc[3, "existing"] = True  # an existing county station stands for the centre
    assert plan.required_open().tolist() == [False, False, False, True]


def test_scenario_fields_reach_the_plan():
    from healthopt.plans.ambulances import _workload_options
    from healthopt.scenario import Scenario

    fields = {"equity": {"min_share_reached": 0.9, "maximise_worst_district": True}, "hypercube_rounds": 2}
    amb = Scenario.from_dict({"name": "x", "plans": {"ambulances": fields}}).plans.ambulances
    opts = _workload_options(amb)
    assert (opts["min_share_reached"], opts["maximise_worst_district"], opts["hypercube_rounds"]) == (0.9, True, 2)
    assert amb.busy_fraction == "workload"
    constant = Scenario.from_dict({"name": "x", "plans": {"ambulances": {"busy_fraction": 0.3}}}).plans.ambulances
    assert constant.busy_fraction == 0.3


def test_fixed_point_rounds_restart_their_lp_from_the_last_basis_and_reach_the_cold_optimum(monkeypatch, tmp_path):
    # Room for 8 vehicles a station and few levels (10 calls per 1,000 residents a year, 60-minute
    # services): the rounds' station busy probabilities add coverage levels, which raises
    # effective-vehicle bounds too, so the restart goes through the old bounds (LpWarm.via).
    import healthopt.plans.ambulances as amb
    from healthopt.milp.lp_first import solve_lp_first

    rng = np.random.default_rng(0)
    minutes = np.where(rng.random((6, 40)) < 0.45, rng.uniform(1.0, 11.0, (6, 40)), 0.0)
    pop = rng.integers(5_000, 40_000, 40)
    plan = _plan(minutes, ["A"] * 6, ["A"] * 40, pop, _norms(["A"], ["urban"], [int(pop.sum())], [9]), cap=8,
                 busy_fraction=None, max_levels=None, call_rates={"urban": 10.0, "county": 10.0},
                 service_minutes=60.0, hypercube_rounds=3, spare_to_calls=False)
    seen = []

    def spy(p, **kw):
        out = solve_lp_first(p, **kw)
        seen.append((p, kw.get("warm"), out))
        return out

    monkeypatch.setattr(amb, "solve_lp_first", spy)
    plan.solve(solver="highs", gap=0.0)
    warm = [(p, w) for p, w, _ in seen if w is not None]
    assert warm, "no round restarted from a basis"
    assert any(w.via is not None for _, w in warm), "no round needed the old bounds"
    for k, (p, w) in enumerate(warm):
        log = tmp_path / f"lp{k}.log"
        again = solve_lp_first(p, start=None, fix="open", time_limit=None, gap=0.0, threads=1, log_path=log, warm=w)
        cold = solve_problem(p, "highs", gap=0.0)
        assert again.objective == pytest.approx(cold.objective, rel=1e-9)
        assert "useful basis" in log.read_text()  # HiGHS took the basis (no interior point)
