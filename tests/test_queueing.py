"""Erlang B/C, call defaults and the hypercube model (exact and Larson's approximation)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from healthopt.queueing.calls import (
    DispatchDelay,
    ServiceTime,
    call_rate_per_1000,
    call_rate_quality,
    expected_calls,
    hourly_profile,
)
from healthopt.queueing.erlang import erlang_b, erlang_c, mmc_mean_wait, mmc_state_probabilities, mmc_wait_exceeds
from healthopt.queueing.hypercube import (
    busy_fraction,
    correction_factors,
    hypercube_approx,
    hypercube_exact,
    preference_lists,
)
from healthopt.scenario.defaults import norm_row


def _erlang_c_factorial(c: int, a: float) -> float:
    """Textbook formula, fine for small c."""
    top = a**c / math.factorial(c) * c / (c - a)
    return top / (sum(a**k / math.factorial(k) for k in range(c)) + top)


# ---------------------------------------------------------------- Erlang


def test_erlang_b_hand_values() -> None:
    assert erlang_b(servers=1, offered_load=1.0) == pytest.approx(0.5)
    assert erlang_b(servers=2, offered_load=1.0) == pytest.approx(0.2)  # (1/2) / (1 + 1 + 1/2)
    assert erlang_b(servers=3, offered_load=0.0) == 0.0


@pytest.mark.parametrize(("c", "a"), [(1, 0.5), (2, 1.0), (5, 3.0), (10, 8.5), (20, 19.0)])
def test_erlang_c_matches_the_factorial_formula(c: int, a: float) -> None:
    assert erlang_c(servers=c, offered_load=a) == pytest.approx(_erlang_c_factorial(c, a), rel=1e-12)


def test_erlang_c_is_stable_for_200_servers() -> None:
    values = [erlang_c(servers=200, offered_load=a) for a in (100.0, 180.0, 195.0, 199.9)]
    assert all(0.0 <= x <= 1.0 and math.isfinite(x) for x in values)
    assert values == sorted(values)  # more load, more waiting
    # same figure from the log-space state probabilities
    p = mmc_state_probabilities(servers=200, offered_load=180.0)
    assert p.sum() == pytest.approx(1.0)
    assert p[-1] == pytest.approx(erlang_c(servers=200, offered_load=180.0), rel=1e-9)
    assert erlang_c(servers=200, offered_load=200.0) == 1.0


def test_mm1_wait_formulas() -> None:
    lam, mu = 0.5, 1.0
    assert mmc_mean_wait(servers=1, arrival_rate=lam, service_rate=mu) == pytest.approx(lam / (mu * (mu - lam)))
    assert mmc_wait_exceeds(servers=1, arrival_rate=lam, service_rate=mu, t=2.0) == pytest.approx(0.5 * math.exp(-1.0))
    assert mmc_mean_wait(servers=1, arrival_rate=1.0, service_rate=1.0) == math.inf


def test_erlang_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="servers"):
        erlang_c(servers=0, offered_load=1.0)
    with pytest.raises(ValueError, match="offered load"):
        erlang_b(servers=2, offered_load=-1.0)


# ---------------------------------------------------------------- calls


def test_call_defaults_come_from_the_norms_table() -> None:
    assert call_rate_per_1000(norm_class="urban") == norm_row("ambulance.calls_per_1000.urban").value == 20.0
    assert call_rate_per_1000(norm_class="county") == 12.0
    assert call_rate_quality() == "estimate"
    assert ServiceTime().mean_minutes == norm_row("ambulance.service_minutes.mean").value
    assert DispatchDelay().p95_minutes == norm_row("ambulance.dispatch_delay_minutes.p95").value == 3.0
    assert norm_row("ambulance.dispatch_delay_minutes.p95").quality == "official"


def test_expected_calls_by_class() -> None:
    out = expected_calls(residents=[30_000, 10_000, 0], norm_class=["urban", "county", "urban"])
    assert out.tolist() == [600.0, 120.0, 0.0]
    half = expected_calls(residents=[1000], norm_class=["x"], rates_per_1000={"x": 50.0}, years=0.5)
    assert half.tolist() == [25.0]
    with pytest.raises(ValueError, match="same length"):
        expected_calls(residents=[1, 2], norm_class=["urban"])


def test_hourly_profile_keeps_the_daily_total() -> None:
    w = np.arange(24, dtype=float)
    f = hourly_profile(weights=w)
    assert f.mean() == pytest.approx(1.0)
    assert f[0] == 0.0 and f[23] / f[1] == pytest.approx(23.0)
    assert hourly_profile().tolist() == [1.0] * 24
    with pytest.raises(ValueError, match="24"):
        hourly_profile(weights=[1.0] * 23)


def test_dispatch_delay_lognormal_matches_mean_and_p95() -> None:
    d = DispatchDelay(mean_minutes=2.0, p95_minutes=3.0)
    mu, sigma = d.lognormal_parameters()
    assert math.exp(mu + sigma**2 / 2) == pytest.approx(2.0)
    assert math.exp(mu + 1.6448536269514722 * sigma) == pytest.approx(3.0)
    x = d.sample(rng=np.random.default_rng(0), size=200_000)
    assert np.mean(x <= 3.0) == pytest.approx(0.95, abs=0.005)
    assert DispatchDelay(mean_minutes=2.0, distribution="constant").sample(rng=np.random.default_rng(0),
                                                                           size=3).tolist() == [2.0] * 3
    with pytest.raises(ValueError, match="95th percentile"):
        DispatchDelay(mean_minutes=1.0, p95_minutes=100.0)


def test_lognormal_service_time_has_its_mean_and_cv() -> None:
    x = ServiceTime(mean_minutes=60.0, distribution="lognormal", cv=0.5).sample(rng=np.random.default_rng(1),
                                                                               size=400_000)
    assert x.mean() == pytest.approx(60.0, rel=0.01)
    assert x.std() / x.mean() == pytest.approx(0.5, rel=0.02)
    with pytest.raises(ValueError, match="distribution"):
        ServiceTime(mean_minutes=1.0, distribution="gamma")  # type: ignore[arg-type]


def test_busy_fraction_hand_value() -> None:
    # 100,000 calls x 60 min over 230 vehicles x a year
    assert busy_fraction(calls=100_000, service_minutes=60, vehicles=230, period_minutes=525_600) == pytest.approx(
        6_000_000 / (230 * 525_600))


# ---------------------------------------------------------------- hypercube


def _instance(n: int, atoms: int, rho: float, seed: int) -> tuple[np.ndarray, np.ndarray, float]:
    rng = np.random.default_rng(seed)
    prefs = preference_lists(travel_minutes=rng.uniform(1, 30, (atoms, n)))
    mu = 1.0 / 60.0
    w = rng.uniform(0.1, 1.0, atoms)
    return w / w.sum() * rho * n * mu, prefs, mu


def test_preference_lists_break_ties_by_station_then_unit() -> None:
    t = np.array([[5.0, 3.0, 3.0], [1.0, 1.0, 0.0]])
    assert preference_lists(travel_minutes=t).tolist() == [[1, 2, 0], [2, 0, 1]]
    # two units at station 1, one at station 0
    assert preference_lists(travel_minutes=t, unit_station=np.array([1, 0, 1])).tolist() == [[0, 2, 1], [1, 0, 2]]


def test_exact_hypercube_single_unit_is_mm1() -> None:
    res = hypercube_exact(call_rates=np.array([0.2, 0.1]), preferences=np.zeros((2, 1), int), service_rate=0.5)
    assert res.busy[0] == pytest.approx(0.6)
    assert res.queued == pytest.approx(0.6)  # M/M/1: P(wait) = rho
    assert res.dispatch[:, 0] == pytest.approx([0.4, 0.4])


@pytest.mark.parametrize(("n", "rho"), [(3, 0.3), (4, 0.6), (5, 0.85)])
def test_exact_hypercube_agrees_with_erlang_c(n: int, rho: float) -> None:
    lam, prefs, mu = _instance(n, 25, rho, seed=n)
    res = hypercube_exact(call_rates=lam, preferences=prefs, service_rate=mu)
    assert res.queued == pytest.approx(erlang_c(servers=n, offered_load=rho * n), rel=1e-9)
    assert res.busy.sum() == pytest.approx(rho * n, rel=1e-9)  # total workload lambda / mu
    assert res.dispatch.sum(axis=1) + res.queued == pytest.approx(np.ones(25))
    assert res.unit_workload(call_rates=lam).sum() == pytest.approx(lam.sum() * (1 - res.queued))


def test_exact_hypercube_hand_checked_two_units() -> None:
    # every call prefers unit 0; states (busy units): {}, {0}, {1}, {0,1} + queue tail
    lam, mu = 1.0, 1.0
    res = hypercube_exact(call_rates=np.array([lam]), preferences=np.array([[0, 1]]), service_rate=mu)
    # loss chain balance: p0 = p00, p1 = {0}, p2 = {1}, p3 = full:
    #   {}: lam p0 = mu (p1 + p2); {1}: (lam + mu) p2 = mu p3; full: 2 mu p3 = lam (p1 + p2)
    # with lam = mu = 1: p1 + p2 = p0, p3 = p0 / 2, p2 = p0 / 4, p1 = 3 p0 / 4; tail: p3 / (1 - 1/2)
    p = np.array([1.0, 0.75, 0.25, 1.0])
    p /= p.sum()
    assert res.busy == pytest.approx([p[1] + p[3], p[2] + p[3]])
    assert res.queued == pytest.approx(p[3])


def test_approximation_is_exact_for_a_symmetric_system() -> None:
    # every preference order equally likely: the M/M/N correction makes Larson's formula exact
    n = 3
    prefs = np.array(list(itertools.permutations(range(n))))
    lam = np.full(len(prefs), 0.7 * n / 60.0 / len(prefs))
    ex = hypercube_exact(call_rates=lam, preferences=prefs, service_rate=1 / 60.0)
    ap = hypercube_approx(call_rates=lam, preferences=prefs, service_rate=1 / 60.0)
    assert ap.busy == pytest.approx(ex.busy, abs=1e-9)
    assert ap.dispatch == pytest.approx(ex.dispatch, abs=1e-9)


#: Stated tolerance of Larson's approximation against the exact model (absolute).
BUSY_TOL, DISPATCH_TOL = 0.01, 0.02


@pytest.mark.parametrize("n", [3, 5, 8])
@pytest.mark.parametrize("rho", [0.2, 0.5, 0.8])
def test_approximation_close_to_exact(n: int, rho: float) -> None:
    lam, prefs, mu = _instance(n, 30, rho, seed=100 + n)
    ex = hypercube_exact(call_rates=lam, preferences=prefs, service_rate=mu)
    ap = hypercube_approx(call_rates=lam, preferences=prefs, service_rate=mu)
    assert np.max(np.abs(ap.busy - ex.busy)) <= BUSY_TOL
    assert np.max(np.abs(ap.dispatch - ex.dispatch)) <= DISPATCH_TOL
    assert ap.queued == pytest.approx(ex.queued, rel=1e-9)
    assert ap.busy.sum() == pytest.approx(rho * n, rel=0.01)  # the approximation conserves workload only nearly


def test_approximation_scales_to_many_units() -> None:
    lam, prefs, mu = _instance(150, 400, 0.3, seed=7)
    ap = hypercube_approx(call_rates=lam, preferences=prefs, service_rate=mu)
    assert np.all((ap.busy > 0) & (ap.busy < 1))
    assert ap.busy.sum() == pytest.approx(0.3 * 150, rel=0.01)
    assert np.all(np.isfinite(correction_factors(units=200, utilisation=0.9)))
    with pytest.raises(ValueError, match="2\\^150"):
        hypercube_exact(call_rates=lam, preferences=prefs, service_rate=mu)


def test_hypercube_rejects_an_unstable_system() -> None:
    with pytest.raises(ValueError, match="unstable"):
        hypercube_approx(call_rates=np.array([2.0]), preferences=np.array([[0, 1]]), service_rate=1.0)


def test_docstring_examples_run() -> None:
    import doctest

    from healthopt.queueing import calls, erlang, hypercube

    for module in (calls, erlang, hypercube):
        result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
        assert result.failed == 0 and result.attempted > 0, module.__name__
