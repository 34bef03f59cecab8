"""Every ambulance plan simulated: a year of calls on the plan's layout and the road travel times.

What a planner reads as the headline of the ambulance plan is computed here: the **share of
calls reached within the response standard** (12 min urban / 20 min county by default),
with a 95 % confidence interval, and the 90th-percentile response time, per district and
city-wide, from :func:`healthopt.queueing.simulate.simulate_calls` (Poisson calls per demand
point, nearest-available dispatch, one FIFO queue when every vehicle is busy).

Inputs, all scenario fields (``plans.ambulances.calls`` and ``plans.ambulances.simulation``):
calls per 1,000 residents per year (urban / county), the mean service time (dispatch to
available again), the dispatch delay (mean and 95th percentile), an optional 24-hour
profile, the number of replications and the seed. The call rates and the service time are
estimates (norms table), so every figure built here carries ``quality: "estimate"``.

The replications add up to one counted year: each runs ``1 / replications`` of a year
after a one-day warm-up that is simulated but not counted (every replication starts with
all vehicles free). Travel times are the scenario's own (its ``network.congestion`` is
already in them); :func:`free_flow_minutes` divides the road part by that factor for the
free-flow comparison of a congested scenario.

``summary.json`` keys (``ambulances.simulated`` and ``ambulances.simulated_free_flow``) are
those of :func:`simulated_section`; the district layer's columns (``summary.csv``,
``results.gpkg``) those of :data:`DISTRICT_COLUMNS`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy import sparse, stats

from healthopt.queueing.calls import (
    MINUTES_PER_YEAR,
    DispatchDelay,
    ServiceTime,
    call_rate_per_1000,
    call_rate_quality,
    expected_calls,
    hourly_profile,
)
from healthopt.queueing.simulate import SimulationResult, dense_travel_minutes, simulate_calls

if TYPE_CHECKING:
    from healthopt.plans.base import Inputs, PlanContext
    from healthopt.scenario import Scenario

__all__ = [
    "DISTRICT_COLUMNS",
    "WARMUP_MINUTES",
    "CallSettings",
    "SimulatedPlan",
    "citywide_columns",
    "district_columns",
    "free_flow_minutes",
    "simulate_layout",
    "simulated_layers",
    "simulated_section",
]

#: Simulated before each replication's counted time, so no replication starts with every vehicle free.
WARMUP_MINUTES = 1440.0

#: Columns the simulation adds to the ``districts`` layer (and so to ``summary.csv`` and ``results.gpkg``).
DISTRICT_COLUMNS: tuple[str, ...] = (
    "sim_calls", "sim_reached_share", "sim_reached_ci_low", "sim_reached_ci_high", "sim_mean_min",
    "sim_median_min", "sim_p90_min", "sim_queued",
)  # fmt: skip


@dataclass(frozen=True)
class CallSettings:
    """The simulation's parameters, from ``plans.ambulances.calls`` / ``.simulation``.

    Attributes
    ----------
    rates_per_1000 : dict
        Calls per 1,000 residents per year, ``{"urban": ..., "county": ...}``.
    service, delay : ServiceTime, DispatchDelay
        Busy time per call and call-to-departure delay.
    profile : ndarray or None
        24 hourly factors (mean 1) or ``None`` (flat).
    replications, seed : int
        Independent replications (adding up to a year) and the seed of their random streams.
    quality : str
        ``"estimate"`` while any rate or the service time is the norms table's estimate.
    """

    rates_per_1000: dict[str, float]
    service: ServiceTime
    delay: DispatchDelay
    profile: np.ndarray | None
    replications: int
    seed: int
    quality: str

    @classmethod
    def from_scenario(cls, scenario: Scenario) -> CallSettings:
        """Read ``plans.ambulances.calls`` and ``plans.ambulances.simulation``."""
        amb = scenario.plans.ambulances
        calls, sim = amb.calls, amb.simulation
        rates = {"urban": float(calls.per_1000_urban), "county": float(calls.per_1000_county)}
        service = ServiceTime(mean_minutes=float(calls.service_minutes), distribution=calls.service_distribution,
                              cv=float(calls.service_cv))  # fmt: skip
        delay = DispatchDelay(mean_minutes=float(calls.dispatch_delay_minutes),
                              p95_minutes=float(calls.dispatch_delay_p95_minutes),
                              distribution="lognormal" if calls.dispatch_delay_minutes > 0 else "constant")  # fmt: skip
        profile = None if calls.hourly_profile is None else hourly_profile(weights=calls.hourly_profile)
        return cls(rates, service, delay, profile, int(sim.replications), int(sim.seed), _quality(rates, service))


def _quality(rates: dict[str, float], service: ServiceTime) -> str:
    """``estimate`` unless the scenario replaced every estimated default (then ``scenario``)."""
    default_rates = any(rates[k] == call_rate_per_1000(norm_class=k) for k in rates)
    default_service = service.mean_minutes == ServiceTime().mean_minutes
    return call_rate_quality() if default_rates or default_service else "scenario"


def free_flow_minutes(*, minutes: sparse.spmatrix | sparse.sparray, estimated: np.ndarray,
                      congestion: float) -> sparse.csr_matrix:  # fmt: skip
    """Return the travel times without the scenario's congestion factor.

    Road times were built as free flow × ``congestion``; straight-line estimates (off the
    road network, ``estimated``, aligned with ``minutes.data``) never had it. Pairs beyond the
    matrix cutoff under congestion stay missing, so the free-flow figure is, if anything,
    low (a pair that free-flow traffic would bring within the standard is not in the matrix).
    """
    m = sparse.csr_matrix(minutes, copy=True)
    m.data = np.where(np.asarray(estimated, dtype=bool), m.data, m.data / float(congestion))
    return m


def simulate_layout(
    *,
    travel_minutes: np.ndarray,
    vehicles: Sequence[int] | np.ndarray,
    residents: Sequence[float] | np.ndarray,
    norm_class: Sequence[str] | np.ndarray,
    standard_minutes: Sequence[float] | np.ndarray,
    district: Sequence[str] | np.ndarray,
    settings: CallSettings,
    congestion: float = 1.0,
) -> SimulationResult:
    """Simulate one year of calls (in ``settings.replications`` parts) on a station layout.

    Parameters
    ----------
    travel_minutes : ndarray
        ``(demand points, stations)`` minutes, ``inf`` beyond the matrix cutoff.
    vehicles : array-like of int
        Ambulances per station (columns).
    residents, norm_class, standard_minutes, district : array-like
        Per demand point: residents, ``"urban"``/``"county"``, response standard, district code.
    settings : CallSettings
    congestion : float
        Extra factor on every travel time (1.0: the times as given).

    Returns
    -------
    SimulationResult
        Calls counted over exactly one year; same seed and layout give the same calls
        whatever the congestion (common random numbers).
    """
    calls = expected_calls(residents=residents, norm_class=norm_class, rates_per_1000=settings.rates_per_1000)
    reps = settings.replications
    return simulate_calls(
        travel_minutes=travel_minutes, vehicles=vehicles, calls_per_year=calls, standard_minutes=standard_minutes,
        district=district, service=settings.service, delay=settings.delay,
        horizon_minutes=MINUTES_PER_YEAR + reps * WARMUP_MINUTES, replications=reps, warmup_minutes=WARMUP_MINUTES,
        hourly_profile=settings.profile, congestion=congestion, seed=settings.seed,
    )  # fmt: skip


def layout_matrix(*, minutes: sparse.spmatrix | sparse.sparray, site_ids: np.ndarray,
                  stations: pd.DataFrame) -> np.ndarray:  # fmt: skip
    """Dense demand × station minutes for the plan's open stations (rows of ``stations``)."""
    row = pd.Series(np.arange(len(site_ids)), index=pd.Index(site_ids))
    return dense_travel_minutes(minutes=minutes, sites=row.loc[stations["site_id"]].to_numpy())


def _ci(values: np.ndarray, confidence: float) -> tuple[float, float]:
    v = values[np.isfinite(values)]
    if v.size < 2:
        return math.nan, math.nan
    half = float(stats.t.ppf(0.5 + confidence / 2.0, v.size - 1) * v.std(ddof=1) / math.sqrt(v.size))
    return float(v.mean()) - half, float(v.mean()) + half


def district_columns(res: SimulationResult, *, district: np.ndarray, codes: Sequence[str]) -> pd.DataFrame:
    """Per district (``code`` plus :data:`DISTRICT_COLUMNS`), with a 95 % CI from the replications.

    Parameters
    ----------
    res : SimulationResult
    district : ndarray
        District code of each demand point (as simulated).
    codes : sequence of str
        Districts to report, in order (a district without calls gets NaN shares).
    """
    log = res.calls
    pos = {c: k for k, c in enumerate(codes)}
    of_atom = np.array([pos.get(str(c), -1) for c in np.asarray(district, dtype=object)], dtype=np.int64)
    dist = of_atom[log.atom]
    reps = res.citywide.replications
    # calls and calls reached per (district, replication), in one pass over the call log
    cell = np.where(dist >= 0, dist * reps + log.replication, len(codes) * reps)
    n = np.bincount(cell, minlength=len(codes) * reps + 1)[:-1].reshape(len(codes), reps)
    hit = np.bincount(cell, weights=log.reached, minlength=len(codes) * reps + 1)[:-1].reshape(len(codes), reps)
    with np.errstate(invalid="ignore", divide="ignore"):
        shares = np.where(n > 0, hit / np.maximum(n, 1), math.nan)
    by = res.districts.set_index("district")
    rows = []
    for k, code in enumerate(codes):
        m = dist == k
        lo, hi = _ci(shares[k], res.citywide.confidence)
        have = code in by.index
        get = (lambda col, c=code: by.at[c, col]) if have else (lambda _col: math.nan)
        rows.append({"code": code, "sim_calls": int(get("calls")) if have else 0,
                     "sim_reached_share": float(get("reached_share")), "sim_reached_ci_low": lo,
                     "sim_reached_ci_high": hi, "sim_mean_min": _finite_mean(log.response[m]),
                     "sim_median_min": float(get("median_min")), "sim_p90_min": float(get("p90_min")),
                     "sim_queued": int(get("queued")) if have else 0})  # fmt: skip
    return pd.DataFrame(rows, columns=["code", *DISTRICT_COLUMNS])


def _finite_mean(x: np.ndarray) -> float:
    """Mean of the response times known (those beyond the matrix cutoff are ``inf`` and left out)."""
    f = x[np.isfinite(x)]
    return float(f.mean()) if f.size else math.nan


def _num(x: Any, digits: int = 6) -> float | None:
    """JSON-safe number: ``None`` for NaN, ``inf`` stays out of JSON as ``None`` too."""
    v = float(x)
    return round(v, digits) if math.isfinite(v) else None


def simulated_section(
    res: SimulationResult,
    *,
    districts: pd.DataFrame,
    stations: pd.DataFrame,
    settings: CallSettings,
    congestion: float,
    standard: dict[str, float],
) -> dict[str, Any]:
    """Return the ``summary.json`` entry of one simulation (``ambulances.simulated``).

    Keys: ``reached_share`` and ``reached_share_ci`` (share of calls reached within the
    standard and its 95 % interval), ``p90_min``, ``median_min``, ``mean_min`` (response
    time, call to arrival, minutes; the mean over calls whose time is within the matrix),
    ``calls`` (counted in one year), ``queued`` (calls that found every vehicle busy),
    ``beyond_matrix`` (calls served from a station farther than the travel-time matrix),
    ``congestion`` (factor on free-flow road times), ``quality``, ``inputs`` (call rates,
    service time, dispatch delay, replications, seed), ``by_district`` (the
    :data:`DISTRICT_COLUMNS` per district code, names without ``sim_``) and ``by_station``
    (``site_id, vehicles, calls, utilisation``).
    """
    cw = res.citywide
    finite = np.isfinite(res.calls.response)
    by_district = [{k.removeprefix("sim_"): (_num(v) if isinstance(v, float) else v) for k, v in row.items()}
                   for row in districts.to_dict(orient="records")]  # fmt: skip
    st = res.stations
    by_station = [{"site_id": str(sid), "vehicles": int(v), "calls": int(c), "utilisation": _num(u, 4)}
                  for sid, v, c, u in zip(stations["site_id"], st["vehicles"], st["calls"], st["utilisation"],
                                          strict=True)]  # fmt: skip
    lo, hi = cw.reached_share_ci
    return {
        "measure": (f"share of calls reached within {standard_text(standard)} "
                    "(simulated: call to arrival, one year of calls)"),
        "reached_share": _num(cw.reached_share), "reached_share_ci": [_num(lo), _num(hi)],
        "confidence": cw.confidence,
        "p90_min": _num(cw.p90_min, 3), "median_min": _num(cw.median_min, 3),
        "mean_min": _num(_finite_mean(res.calls.response), 3),
        "calls": cw.calls, "queued": cw.queued, "beyond_matrix": int((~finite).sum()),
        "congestion": float(congestion), "quality": settings.quality,
        "inputs": {
            "calls_per_1000": dict(settings.rates_per_1000), "service_minutes": settings.service.mean_minutes,
            "service_distribution": settings.service.distribution,
            "dispatch_delay_minutes": settings.delay.mean_minutes,
            "dispatch_delay_p95_minutes": settings.delay.p95_minutes,
            "hourly_profile": settings.profile is not None,
            "replications": cw.replications, "seed": settings.seed,
        },
        "by_district": by_district, "by_station": by_station,
    }  # fmt: skip


def standard_text(standard: dict[str, float]) -> str:
    """``"12 min urban / 20 min county"`` from ``{"urban": 12, "county": 20}``."""
    return " / ".join(f"{standard[k]:g} min {k}" for k in sorted(standard, key=lambda k: (k != "urban", k)))


@dataclass(frozen=True)
class SimulatedPlan:
    """What the simulation adds to a run's outputs.

    Attributes
    ----------
    districts : DataFrame
        ``code`` and :data:`DISTRICT_COLUMNS` (scenario conditions).
    stations : DataFrame
        ``site_id, sim_calls, sim_utilisation``.
    section : dict
        ``summary["ambulances"]``: ``simulated`` (scenario conditions) and, for a scenario
        with a congestion factor other than 1, ``simulated_free_flow`` (same layout, same calls).
    notes : list of str
        Data-quality notes (the inputs are estimates).
    """

    districts: pd.DataFrame
    stations: pd.DataFrame
    section: dict[str, Any]
    notes: list[str]


def simulated_layers(*, scenario: Scenario, inputs: Inputs, context: PlanContext,
                     stations: pd.DataFrame) -> SimulatedPlan | None:  # fmt: skip
    """Simulate the plan's layout (``stations``: ``site_id, vehicles``) under the scenario's conditions.

    Returns ``None`` when ``plans.ambulances.simulation.enabled`` is false or the plan has no
    vehicle.
    """
    if not scenario.plans.ambulances.simulation.enabled or int(stations["vehicles"].sum()) < 1:
        return None
    settings = CallSettings.from_scenario(scenario)
    tt, points = context.travel_times, context.points
    area = inputs.area.set_index("code")["norm_class"]
    codes = [str(c) for c in inputs.area["code"]]
    point_args = {
        "residents": points["population"].to_numpy(float),
        "norm_class": points["district_code"].map(area).fillna("county").to_numpy(object),
        "standard_minutes": points["standard_minutes"].to_numpy(float),
        "district": points["district_code"].astype(str).to_numpy(object),
        "vehicles": stations["vehicles"].to_numpy(np.int64), "settings": settings,
    }  # fmt: skip
    standard = scenario.response_minutes.model_dump()
    congestion = float(scenario.network.congestion)

    def run(minutes: Any, factor: float) -> tuple[SimulationResult, pd.DataFrame, dict[str, Any]]:
        t = layout_matrix(minutes=minutes, site_ids=tt.site_ids, stations=stations)
        res = simulate_layout(travel_minutes=t, **point_args)
        by_d = district_columns(res, district=point_args["district"], codes=codes)
        return res, by_d, simulated_section(res, districts=by_d, stations=stations, settings=settings,
                                            congestion=factor, standard=standard)  # fmt: skip

    res, by_d, section = run(tt.minutes, congestion)
    out: dict[str, Any] = {"simulated": section}
    if congestion != 1.0:
        free = free_flow_minutes(minutes=tt.minutes, estimated=tt.pair_estimated, congestion=congestion)
        out["simulated_free_flow"] = run(free, 1.0)[2]
    st = pd.DataFrame({"site_id": stations["site_id"].to_numpy(), "sim_calls": res.stations["calls"].to_numpy(),
                       "sim_utilisation": res.stations["utilisation"].round(4).to_numpy()})  # fmt: skip
    notes = [f"Calls reached in time are simulated ({res.citywide.replications} replications adding up to one "
             f"year, seed {settings.seed}): call rates of {settings.rates_per_1000['urban']:g} (urban) / "
             f"{settings.rates_per_1000['county']:g} (county) per 1,000 residents a year and a "
             f"{settings.service.mean_minutes:g}-minute service time are "
             f"{'estimates' if settings.quality == 'estimate' else 'scenario values'}."]
    return SimulatedPlan(by_d, st, out, notes)


def citywide_columns(summary: Mapping[str, Any]) -> dict[str, Any]:
    """Return the city-wide simulated figures under the district layer's names (``summary.csv`` total row).

    Empty when the run has no ``ambulances.simulated``.
    """
    section = summary.get("ambulances")
    sim = section.get("simulated") if isinstance(section, Mapping) else None
    if not isinstance(sim, Mapping):
        return {}
    lo, hi = (sim.get("reached_share_ci") or [None, None])[:2]
    return {"sim_calls": sim.get("calls"), "sim_reached_share": sim.get("reached_share"), "sim_reached_ci_low": lo,
            "sim_reached_ci_high": hi, "sim_mean_min": sim.get("mean_min"), "sim_median_min": sim.get("median_min"),
            "sim_p90_min": sim.get("p90_min"), "sim_queued": sim.get("queued")}  # fmt: skip
