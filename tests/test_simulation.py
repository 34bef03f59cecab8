"""The call simulation, validated against Erlang C and the exact hypercube model."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from healthopt.queueing.calls import MINUTES_PER_YEAR, DispatchDelay, ServiceTime, hourly_profile
from healthopt.queueing.erlang import erlang_c
from healthopt.queueing.hypercube import hypercube_exact, preference_lists
from healthopt.queueing.simulate import dense_travel_minutes, simulate_calls, station_preferences

NO_DELAY = DispatchDelay(mean_minutes=0.0, distribution="constant")


@pytest.mark.parametrize(("calls_per_hour", "service_min", "c"), [(3.0, 60.0, 5), (10.0, 30.0, 6), (1.5, 60.0, 2)])
def test_one_station_wait_probability_matches_erlang_c(calls_per_hour: float, service_min: float, c: int) -> None:
    res = simulate_calls(
        travel_minutes=np.zeros((1, 1)), vehicles=[c], calls_per_year=[calls_per_hour * 24 * 365],
        standard_minutes=10.0, service=ServiceTime(mean_minutes=service_min), delay=NO_DELAY,
        horizon_minutes=2 * MINUTES_PER_YEAR, replications=20, warmup_minutes=1440.0, seed=11, confidence=0.99,
    )  # fmt: skip
    load = calls_per_hour * service_min / 60.0
    lo, hi = res.citywide.wait_probability_ci
    assert lo <= erlang_c(servers=c, offered_load=load) <= hi
    assert hi - lo < 0.08  # the interval is informative, not vacuous
    assert res.stations.loc[0, "utilisation"] == pytest.approx(load / c, abs=0.015)
    # with no travel and no delay the response time is the wait alone
    assert np.array_equal(res.calls.response, res.calls.wait)


@pytest.mark.parametrize("n", [3, 4, 5])
def test_unit_utilisation_matches_the_exact_hypercube(n: int) -> None:
    rng = np.random.default_rng(n)
    atoms = 12
    travel = rng.uniform(1.0, 30.0, (atoms, n))
    w = rng.uniform(0.2, 1.0, atoms)
    mu = 1.0 / 45.0
    lam = w / w.sum() * 0.55 * n * mu  # calls per minute, average utilisation 0.55
    exact = hypercube_exact(call_rates=lam, preferences=preference_lists(travel_minutes=travel), service_rate=mu)
    res = simulate_calls(
        travel_minutes=travel, vehicles=np.ones(n, dtype=int), calls_per_year=lam * MINUTES_PER_YEAR,
        standard_minutes=12.0, service=ServiceTime(mean_minutes=45.0), delay=NO_DELAY,
        horizon_minutes=3 * MINUTES_PER_YEAR, replications=6, warmup_minutes=720.0, seed=5,
    )  # fmt: skip
    assert np.max(np.abs(res.stations["utilisation"].to_numpy() - exact.busy)) < 0.015
    assert res.citywide.wait_probability == pytest.approx(exact.queued, abs=0.015)


def _small_city(seed: int = 0) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    atoms, stations = 40, 6
    calls = rng.uniform(0.0, 1.0, atoms)
    return {
        "travel_minutes": rng.uniform(0.0, 25.0, (atoms, stations)),
        "calls_per_year": calls / calls.sum() * 6 * 0.6 * MINUTES_PER_YEAR / 60.0,  # 6 vehicles 60 % busy
        "standard_minutes": np.where(np.arange(atoms) < 30, 12.0, 20.0),
        "district": np.where(np.arange(atoms) < 30, "urban", "county"),
        "service": ServiceTime(mean_minutes=60.0),
        "horizon_minutes": MINUTES_PER_YEAR / 4,
        "replications": 4,
    }


def test_seeded_runs_are_reproducible_bit_for_bit() -> None:
    city = _small_city()
    a = simulate_calls(vehicles=[1] * 6, seed=3, **city)
    b = simulate_calls(vehicles=[1] * 6, seed=3, **city)
    c = simulate_calls(vehicles=[1] * 6, seed=4, **city)
    for field in ("time", "atom", "station", "wait", "response"):
        assert np.array_equal(getattr(a.calls, field), getattr(b.calls, field)), field
    assert a.districts.equals(b.districts) and a.stations.equals(b.stations)
    assert a.citywide == b.citywide
    assert not np.array_equal(a.calls.time, c.calls.time)


def test_common_random_numbers_across_fleets() -> None:
    city = _small_city()
    a = simulate_calls(vehicles=[1] * 6, seed=8, **city)
    b = simulate_calls(vehicles=[3] * 6, seed=8, **city)
    assert np.array_equal(a.calls.time, b.calls.time) and np.array_equal(a.calls.atom, b.calls.atom)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_more_vehicles_never_lower_the_share_reached(seed: int) -> None:
    city = _small_city(seed)
    base = np.array([1, 1, 1, 1, 1, 0])  # last station closed
    s0 = simulate_calls(vehicles=base, seed=seed, **city).citywide.reached_share
    assert 0.0 < s0 < 1.0  # congested enough that the comparison means something
    for k in range(base.size):
        more = base.copy()
        more[k] += 1
        s1 = simulate_calls(vehicles=more, seed=seed, **city).citywide.reached_share
        assert s1 >= s0, (k, s0, s1)


def test_congestion_never_raises_the_share_reached() -> None:
    city = _small_city(1)
    free = simulate_calls(vehicles=[1] * 6, seed=2, **city)
    slow = simulate_calls(vehicles=[1] * 6, seed=2, congestion=1.5, **city)
    assert slow.citywide.reached_share <= free.citywide.reached_share
    assert np.all(slow.calls.response >= free.calls.response)
    travel = city["travel_minutes"][free.calls.atom, free.calls.station]
    assert np.allclose(slow.calls.response - free.calls.response, 0.5 * travel)
    assert slow.districts["p90_min"].ge(free.districts["p90_min"]).all()


def test_district_and_station_tables_add_up() -> None:
    city = _small_city(2)
    res = simulate_calls(vehicles=[2, 1, 1, 0, 1, 1], seed=1, **city)
    d = res.districts.set_index("district")
    assert set(d.index) == {"urban", "county"}
    assert d["calls"].sum() == res.citywide.calls == res.stations["calls"].sum()
    assert d["reached"].sum() / d["calls"].sum() == pytest.approx(res.citywide.reached_share)
    assert (d["p90_min"] >= d["median_min"]).all()
    assert res.stations.loc[3, "calls"] == 0 and np.isnan(res.stations.loc[3, "utilisation"])
    # utilisation x vehicles x time = calls served x mean service time, within noise
    busy = (res.stations["utilisation"].fillna(0) * res.stations["vehicles"]).sum() * res.citywide.simulated_minutes
    assert busy == pytest.approx(res.citywide.calls * 60.0, rel=0.05)
    lo, hi = res.citywide.reached_share_ci
    assert lo <= res.citywide.reached_share <= hi
    # a call is reached exactly when its response is within its point's standard
    std = city["standard_minutes"][res.calls.atom]
    assert np.array_equal(res.calls.reached, res.calls.response <= std)


def test_nearest_available_dispatch_and_tie_order() -> None:
    t = np.array([[4.0, 2.0, 2.0]])
    assert station_preferences(travel_minutes=t, vehicles=np.array([1, 1, 1])) == [[1, 2, 0]]
    assert station_preferences(travel_minutes=t, vehicles=np.array([1, 0, 1])) == [[2, 0]]
    # light load: almost every call is served by the nearest station
    res = simulate_calls(travel_minutes=t, vehicles=[1, 1, 1], calls_per_year=[50.0], standard_minutes=12.0,
                         service=ServiceTime(mean_minutes=10.0), seed=0)  # fmt: skip
    assert np.mean(res.calls.station == 1) > 0.99


def test_hourly_profile_shapes_the_arrivals() -> None:
    w = np.zeros(24)
    w[8:20] = 1.0  # calls only in daytime
    res = simulate_calls(travel_minutes=np.ones((1, 1)), vehicles=[3], calls_per_year=[20_000.0],
                         standard_minutes=12.0, service=ServiceTime(mean_minutes=20.0), seed=0,
                         hourly_profile=hourly_profile(weights=w))  # fmt: skip
    hours = (res.calls.time // 60) % 24
    assert np.all((hours >= 8) & (hours < 20))
    assert res.citywide.calls == pytest.approx(20_000, rel=0.03)  # profile keeps the yearly total


def test_unreachable_points_are_never_reached() -> None:
    t = np.array([[3.0], [np.inf]])
    res = simulate_calls(travel_minutes=t, vehicles=[2], calls_per_year=[500.0, 500.0], standard_minutes=12.0,
                         district=["a", "b"], seed=0)  # fmt: skip
    d = res.districts.set_index("district")
    assert d.loc["b", "reached"] == 0 and d.loc["b", "p90_min"] == np.inf
    assert d.loc["a", "reached_share"] > 0.9


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(ValueError, match="vehicles"):
        simulate_calls(travel_minutes=np.ones((1, 2)), vehicles=[1], calls_per_year=[1.0], standard_minutes=1.0)
    with pytest.raises(ValueError, match="no vehicle"):
        simulate_calls(travel_minutes=np.ones((1, 1)), vehicles=[0], calls_per_year=[1.0], standard_minutes=1.0)
    with pytest.raises(ValueError, match="travel"):
        simulate_calls(travel_minutes=-np.ones((1, 1)), vehicles=[1], calls_per_year=[1.0], standard_minutes=1.0)


def test_dense_travel_minutes_from_sparse_site_rows() -> None:
    from scipy import sparse

    m = sparse.csr_matrix(np.array([[1.5, 0.0, 4.0], [0.0, 2.0, 0.0], [3.0, 3.0, 3.0]]))  # sites x demand
    out = dense_travel_minutes(minutes=m, sites=[2, 0])
    assert out.tolist() == [[3.0, 1.5], [3.0, np.inf], [3.0, 4.0]]


def test_hourly_congestion_slows_only_its_hours() -> None:
    city = _small_city(0)
    jam = np.ones(24)
    jam[7:10] = 2.0  # morning rush
    free = simulate_calls(vehicles=[1] * 6, seed=4, **city)
    rush = simulate_calls(vehicles=[1] * 6, seed=4, congestion=jam, **city)
    extra = rush.calls.response - free.calls.response
    travel = city["travel_minutes"][free.calls.atom, free.calls.station]
    # free flow: response - wait - travel is the call's dispatch delay, so it leaves at start + delay
    leave_hour = ((free.calls.time + free.calls.wait + (free.calls.response - free.calls.wait - travel)) // 60) % 24
    in_rush = (leave_hour >= 7) & (leave_hour < 10)
    assert np.allclose(extra[in_rush], travel[in_rush]) and np.allclose(extra[~in_rush], 0.0)
    assert in_rush.any() and (~in_rush).any()
    assert rush.citywide.reached_share <= free.citywide.reached_share
    with pytest.raises(ValueError, match="24 hourly"):
        simulate_calls(vehicles=[1] * 6, congestion=[1.0, 2.0], **city)
