r"""Seeded discrete-event simulation of ambulance calls on a demand × station travel-time matrix.

The model, stated once:

* **Calls** arrive at demand point :math:`j` as a Poisson process with rate
  :math:`\lambda_j` (expected calls per year / minutes per year), optionally modulated by a
  24-hour profile :math:`f_h` (non-homogeneous Poisson, by thinning: candidates at rate
  :math:`\lambda_j \max_h f_h`, kept with probability :math:`f_{h(t)}/\max_h f_h`).
* **Dispatch** is nearest-available at the moment of the call: the station with a free
  vehicle and the shortest travel time (ties by station index). When every vehicle is busy
  the call waits in one FIFO queue and takes the first vehicle to become free, wherever it
  is stationed.
* **Service**: a vehicle is busy for the service time :math:`S` (dispatch to available
  again, which already covers travel, scene, transport, handover and return; exponential by
  default, lognormal optional) and then is free at its station.
* **Response time** = queue wait + dispatch delay + congestion × travel time from the
  station to the call (one factor, or one per hour of the day by the hour the vehicle
  leaves; a factor scales every station alike, so it never changes the dispatch order); a
  call is *reached within the standard* when that is at most the standard of its demand
  point (12 min urban / 20 min county by default elsewhere).

Randomness comes from one :class:`numpy.random.SeedSequence`: each replication spawns
separate streams for arrivals, service times and dispatch delays, so two fleets simulated
with the same seed see exactly the same calls (common random numbers). The event loop is a
plain ``heapq`` loop over station free-vehicle counts; ``benchmarks/bench_simulation.py``
compares it with a naive per-call search.
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import sparse, stats

from healthopt.queueing.calls import MINUTES_PER_YEAR, DispatchDelay, ServiceTime

__all__ = [
    "CallRecords",
    "CityWide",
    "SimulationResult",
    "dense_travel_minutes",
    "dispatch_loop",
    "poisson_arrivals",
    "simulate_calls",
    "station_preferences",
]


@dataclass(frozen=True)
class CallRecords:
    """Every simulated call after the warm-up (arrays of equal length).

    Attributes
    ----------
    replication, atom, station : ndarray of int
        Replication, demand point and serving station.
    time, wait, response : ndarray of float
        Arrival time within its replication, queue wait and response time (minutes).
    reached : ndarray of bool
        ``response <= standard`` of the demand point.
    """

    replication: np.ndarray
    atom: np.ndarray
    station: np.ndarray
    time: np.ndarray
    wait: np.ndarray
    response: np.ndarray
    reached: np.ndarray


@dataclass(frozen=True)
class CityWide:
    """City-wide figures of a simulation.

    Attributes
    ----------
    calls : int
        Calls counted (after the warm-up), all replications.
    reached_share, reached_share_ci : float, (float, float)
        Share of calls reached within their standard, and its ``confidence`` interval from
        the independent replications (Student t; NaN with one replication).
    wait_probability, wait_probability_ci : float, (float, float)
        Share of calls that found every vehicle busy, and its interval.
    mean_min, median_min, p90_min : float
        Response-time statistics (``inf`` when some call is unreachable).
    queued : int
        Calls that waited.
    replications : int
        Independent replications.
    simulated_minutes : float
        Counted simulated time, all replications.
    confidence : float
        Level of the intervals.
    """

    calls: int
    reached_share: float
    reached_share_ci: tuple[float, float]
    wait_probability: float
    wait_probability_ci: tuple[float, float]
    mean_min: float
    median_min: float
    p90_min: float
    queued: int
    replications: int
    simulated_minutes: float
    confidence: float


@dataclass(frozen=True)
class SimulationResult:
    """Per-district, per-station and city-wide results of :func:`simulate_calls`.

    Attributes
    ----------
    districts : DataFrame
        ``district, calls, reached, reached_share, mean_min, median_min, p90_min, queued``.
    stations : DataFrame
        ``station, vehicles, calls, utilisation`` (busy share of vehicle time).
    citywide : CityWide
        Share reached with its confidence interval, wait probability, response times.
    replication_shares : ndarray
        Share reached in each replication.
    calls : CallRecords
        The call log.
    """

    districts: pd.DataFrame
    stations: pd.DataFrame
    citywide: CityWide
    replication_shares: np.ndarray
    calls: CallRecords = field(repr=False)


def dense_travel_minutes(*, minutes: sparse.spmatrix | sparse.sparray, sites: Sequence[int] | np.ndarray) -> np.ndarray:
    """Turn sparse site × demand minutes into the dense demand × station matrix simulated here.

    Parameters
    ----------
    minutes : scipy sparse matrix
        ``(n_sites, n_demand)`` travel times where a missing entry means "slower than the
        cutoff" (as in :class:`healthopt.traveltime.TravelTimes`, whose stored values are
        never 0).
    sites : array-like of int
        Rows to keep, in station order.

    Returns
    -------
    ndarray
        ``(n_demand, len(sites))`` minutes, ``inf`` where the pair is missing: such a call is
        never reached within its standard, so the cutoff must be at least the largest
        standard (the queue may still send a vehicle from beyond it).
    """
    sub = sparse.csr_matrix(minutes)[np.asarray(sites, dtype=np.int64)].tocoo()
    out = np.full((sub.shape[1], sub.shape[0]), np.inf)
    out[sub.col, sub.row] = sub.data
    return out


def station_preferences(*, travel_minutes: np.ndarray, vehicles: np.ndarray) -> list[list[int]]:
    """Stations holding vehicles, for each demand point nearest first (ties by station index).

    Returns
    -------
    list of list of int
        Plain Python lists, which the event loop walks fastest.
    """
    t = np.asarray(travel_minutes, dtype=float)
    staffed = np.flatnonzero(np.asarray(vehicles) > 0)
    sub = t[:, staffed]
    order = np.argsort(sub, axis=1, kind="stable")  # stable: equal times keep station order
    out: list[list[int]] = staffed[order].tolist()
    return out


def dispatch_loop(
    times: list[float], atoms: list[int], service: list[float], prefs: list[list[int]], free: list[int]
) -> tuple[list[int], list[float]]:
    """Assign each call a station and a start time: nearest available, else one FIFO queue.

    Parameters
    ----------
    times : list of float
        Arrival times, sorted.
    atoms : list of int
        Demand point of each call.
    service : list of float
        Busy time of each call.
    prefs : list of list of int
        Stations by preference for each demand point (:func:`station_preferences`).
    free : list of int
        Free vehicles per station at time 0; updated in place.

    Returns
    -------
    (list of int, list of float)
        Serving station and service start of each call (start > arrival = the call queued).
    """
    n = len(times)
    station = [-1] * n
    start = [0.0] * n
    heap: list[tuple[float, int]] = []
    queue: deque[int] = deque()
    push, pop = heapq.heappush, heapq.heappop
    for i in range(n):
        t = times[i]
        while heap and heap[0][0] <= t:
            ft, s = pop(heap)
            if queue:
                c = queue.popleft()
                station[c] = s
                start[c] = ft
                push(heap, (ft + service[c], s))
            else:
                free[s] += 1
        for s in prefs[atoms[i]]:
            if free[s]:
                free[s] -= 1
                station[i] = s
                start[i] = t
                push(heap, (t + service[i], s))
                break
        else:
            queue.append(i)
    while queue:  # calls still waiting at the horizon are served after it
        ft, s = pop(heap)
        c = queue.popleft()
        station[c] = s
        start[c] = ft
        push(heap, (ft + service[c], s))
    return station, start


def poisson_arrivals(
    *, rng: np.random.Generator, rates: np.ndarray, horizon: float, profile: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Draw sorted arrival times and demand points of a (thinned) Poisson superposition.

    Parameters
    ----------
    rng : numpy.random.Generator
        Stream for the arrivals only (common random numbers across fleets).
    rates : ndarray
        Calls per minute at each demand point.
    horizon : float
        Minutes to simulate.
    profile : ndarray, optional
        24 hourly factors with mean 1 (thinning at the peak factor), or ``None``.

    Returns
    -------
    (ndarray, ndarray)
        Arrival times (sorted) and demand-point indices.
    """
    total = float(rates.sum())
    peak = 1.0 if profile is None else float(profile.max())
    n = int(rng.poisson(total * peak * horizon))
    times = np.sort(rng.uniform(0.0, horizon, n))
    atoms = rng.choice(rates.size, size=n, p=rates / total) if n else np.zeros(0, dtype=np.int64)
    if profile is not None:
        hour = ((times // 60.0) % 24).astype(np.int64)
        keep = rng.uniform(0.0, 1.0, n) < profile[hour] / peak
        times, atoms = times[keep], atoms[keep]
    return times, atoms.astype(np.int64)


def _quantiles(x: np.ndarray) -> tuple[float, float, float]:
    if x.size == 0:
        return math.nan, math.nan, math.nan
    mean = float(np.mean(x))
    med, p90 = np.quantile(x, [0.5, 0.9], method="inverted_cdf")  # no interpolation across inf
    return mean, float(med), float(p90)


def _ci(values: np.ndarray, confidence: float) -> tuple[float, float]:
    r = values.size
    if r < 2:
        return math.nan, math.nan
    mean = float(values.mean())
    half = float(stats.t.ppf(0.5 + confidence / 2.0, r - 1) * values.std(ddof=1) / math.sqrt(r))
    return mean - half, mean + half


def _validate(t: np.ndarray, v: np.ndarray, rates: np.ndarray, std: np.ndarray, reps: int, warmup: float,
              horizon: float, congestion: np.ndarray) -> None:  # fmt: skip
    if t.ndim != 2 or t.shape[0] != rates.size:
        raise ValueError("travel_minutes must be (demand points, stations) with one row per call rate")
    if v.shape != (t.shape[1],) or np.any(v < 0):
        raise ValueError("vehicles must give a count >= 0 for every station (column)")
    if v.sum() < 1:
        raise ValueError("the fleet has no vehicle")
    if np.any(rates < 0) or not np.all(np.isfinite(rates)) or rates.sum() <= 0:
        raise ValueError("call rates must be finite, >= 0 and not all zero")
    if np.any(np.isnan(t)) or np.any(t < 0):
        raise ValueError("travel times must be >= 0 (inf for unreachable)")
    if std.shape != (rates.size,):
        raise ValueError("standard_minutes must be a number or one value per demand point")
    if reps < 1 or not (0 <= warmup < horizon / reps):
        raise ValueError("need replications >= 1 and 0 <= warm-up < replication length")
    if congestion.shape not in ((), (24,)) or not np.all(congestion > 0) or not np.all(np.isfinite(congestion)):
        raise ValueError("congestion must be one factor > 0 or 24 hourly factors > 0")


def simulate_calls(
    *,
    travel_minutes: np.ndarray,
    vehicles: Sequence[int] | np.ndarray,
    calls_per_year: Sequence[float] | np.ndarray,
    standard_minutes: float | Sequence[float] | np.ndarray,
    district: Sequence[str] | np.ndarray | None = None,
    service: ServiceTime | None = None,
    delay: DispatchDelay | None = None,
    horizon_minutes: float = MINUTES_PER_YEAR,
    replications: int = 10,
    warmup_minutes: float = 0.0,
    hourly_profile: np.ndarray | None = None,
    congestion: float | Sequence[float] | np.ndarray = 1.0,
    seed: int = 0,
    confidence: float = 0.95,
) -> SimulationResult:
    """Simulate emergency calls, nearest-available dispatch and FIFO queueing (module docstring).

    Parameters
    ----------
    travel_minutes : ndarray
        ``(demand points, stations)`` free-flow travel times in minutes (``inf`` = unreachable).
    vehicles : array-like of int
        Vehicles at each station (0 = station closed).
    calls_per_year : array-like
        Expected calls per year at each demand point (:func:`~healthopt.queueing.calls.expected_calls`).
    standard_minutes : float or array-like
        Response standard of each demand point.
    district : array-like of str, optional
        District of each demand point (one ``"all"`` district when omitted).
    service : ServiceTime, optional
        Busy time per call (default: the norms table's mean, exponential).
    delay : DispatchDelay, optional
        Dispatch delay (default: the norms table's mean and 95th percentile, lognormal).
    horizon_minutes : float
        Simulated time in total, split into ``replications`` independent runs of equal length
        (default one year).
    replications : int
        Independent replications (each starts with every vehicle free); the confidence
        intervals come from their spread.
    warmup_minutes : float
        Calls arriving before this time in each replication are simulated but not counted.
    hourly_profile : ndarray, optional
        24 factors (:func:`~healthopt.queueing.calls.hourly_profile`); flat when omitted.
    congestion : float or 24 floats
        Multiplier on every travel time (1.5 = 50 % slower), or one per hour of the day
        (applied by the hour the vehicle leaves); dispatch order is unchanged.
    seed : int
        Seed of the :class:`numpy.random.SeedSequence`; equal seeds give equal results.
    confidence : float
        Level of the intervals (0.95).

    Returns
    -------
    SimulationResult
    """
    t = np.asarray(travel_minutes, dtype=float)
    v = np.asarray(vehicles, dtype=np.int64)
    rates_year = np.asarray(calls_per_year, dtype=float)
    std = np.broadcast_to(np.asarray(standard_minutes, dtype=float), rates_year.shape).copy() \
        if np.ndim(standard_minutes) == 0 else np.asarray(standard_minutes, dtype=float)  # fmt: skip
    jam = np.asarray(congestion, dtype=float)
    _validate(t, v, rates_year, std, replications, warmup_minutes, horizon_minutes, jam)
    labels = np.asarray(["all"] * rates_year.size if district is None else district, dtype=object)
    service = service or ServiceTime()
    delay = delay or DispatchDelay()
    length = horizon_minutes / replications
    rates = rates_year / MINUTES_PER_YEAR
    prefs = station_preferences(travel_minutes=t, vehicles=v)
    n_st = t.shape[1]
    busy = np.zeros(n_st)
    parts: list[dict[str, np.ndarray]] = []
    for r, child in enumerate(np.random.SeedSequence(seed).spawn(replications)):
        g_arr, g_srv, g_del = (np.random.default_rng(s) for s in child.spawn(3))
        times, atoms = poisson_arrivals(rng=g_arr, rates=rates, horizon=length, profile=hourly_profile)
        s_time = service.sample(rng=g_srv, size=times.size)
        d_time = delay.sample(rng=g_del, size=times.size)
        st_list, start_list = dispatch_loop(times.tolist(), atoms.tolist(), s_time.tolist(), prefs, v.tolist())
        st = np.asarray(st_list, dtype=np.int64)
        start = np.asarray(start_list, dtype=float)
        lo = np.clip(start, warmup_minutes, length)
        hi = np.clip(start + s_time, warmup_minutes, length)
        np.add.at(busy, st, hi - lo)
        keep = times >= warmup_minutes
        wait = start - times
        leave = start + d_time
        factor = jam if jam.ndim == 0 else jam[((leave // 60.0) % 24).astype(np.int64)]
        resp = wait + d_time + factor * t[atoms, st]
        parts.append({"replication": np.full(int(keep.sum()), r), "atom": atoms[keep], "station": st[keep],
                      "time": times[keep], "wait": wait[keep], "response": resp[keep]})  # fmt: skip
    cat = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    reached = cat["response"] <= std[cat["atom"]]
    log = CallRecords(replication=cat["replication"], atom=cat["atom"], station=cat["station"], time=cat["time"],
                      wait=cat["wait"], response=cat["response"], reached=reached)  # fmt: skip
    return _summarise(log, labels, v, busy, replications, length - warmup_minutes, confidence)


def _summarise(log: CallRecords, labels: np.ndarray, v: np.ndarray, busy: np.ndarray, reps: int,
               counted_minutes: float, confidence: float) -> SimulationResult:  # fmt: skip
    dist = labels[log.atom] if log.atom.size else np.zeros(0, dtype=object)
    queued = log.wait > 0
    rows = []
    for name in pd.unique(labels):
        m = dist == name
        mean, med, p90 = _quantiles(log.response[m])
        n = int(m.sum())
        rows.append({"district": name, "calls": n, "reached": int(log.reached[m].sum()),
                     "reached_share": float(log.reached[m].mean()) if n else math.nan,
                     "mean_min": mean, "median_min": med, "p90_min": p90, "queued": int(queued[m].sum())})  # fmt: skip
    served = np.bincount(log.station, minlength=v.size) if log.station.size else np.zeros(v.size, dtype=np.int64)
    with np.errstate(invalid="ignore", divide="ignore"):
        util = np.where(v > 0, busy / (v * reps * counted_minutes), np.nan)
    stations = pd.DataFrame({"station": np.arange(v.size), "vehicles": v, "calls": served, "utilisation": util})
    by_rep = np.array([log.reached[log.replication == r].mean() if np.any(log.replication == r) else math.nan
                       for r in range(reps)])  # fmt: skip
    wait_rep = np.array([queued[log.replication == r].mean() if np.any(log.replication == r) else math.nan
                         for r in range(reps)])  # fmt: skip
    mean, med, p90 = _quantiles(log.response)
    citywide = CityWide(
        calls=int(log.response.size),
        reached_share=float(log.reached.mean()) if log.reached.size else math.nan,
        reached_share_ci=_ci(by_rep, confidence),
        wait_probability=float(queued.mean()) if queued.size else math.nan,
        wait_probability_ci=_ci(wait_rep, confidence),
        mean_min=mean, median_min=med, p90_min=p90,
        queued=int(queued.sum()), replications=reps, simulated_minutes=reps * counted_minutes,
        confidence=confidence,
    )  # fmt: skip
    return SimulationResult(districts=pd.DataFrame(rows), stations=stations, citywide=citywide,
                            replication_shares=by_rep, calls=log)  # fmt: skip
