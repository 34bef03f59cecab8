"""Benchmark: a simulated year of Taiyuan-size ambulance calls, three event loops compared.

Run with ``.venv/bin/python benchmarks/bench_simulation.py [--points 4000] [--stations 80]``.

The city is synthetic but Taiyuan-sized: the 2020 census residents of the ten districts
(embedded table), the default call rates of the norms table (urban / county per 1,000
residents per year), the norm fleet (1 per 30,000 urban, 1 per 10,000 county) spread over
``--stations`` stations, and travel times from district clusters of points and stations (road distance 1.3 x the
straight line at 40 km/h). Three implementations of the same
model run on the same calls and must agree call for call before timings are printed:

* ``heapq`` — :func:`healthopt.queueing.simulate.simulate_calls` (station free counts,
  per-point preference lists, a heap of completions);
* ``naive`` — per call, a NumPy search over every vehicle's free time (the baseline);
* ``simpy`` — the same logic on SimPy's scheduler, when SimPy is installed.

Target: a year of calls in at most 5 s. The machine is shared; best of ``--repeat`` runs.
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from collections import deque
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from healthopt import settings
from healthopt.queueing.calls import MINUTES_PER_YEAR, ServiceTime, expected_calls
from healthopt.queueing.simulate import dispatch_loop, poisson_arrivals, simulate_calls, station_preferences

TARGET_S = 5.0


def taiyuan_like(points: int, stations: int, seed: int = 0) -> dict[str, np.ndarray]:
    tables = settings.GEODATA_DIR / "tables"
    with (tables / "districts.csv").open(encoding="utf-8") as fh:
        norm_class = {r["code"]: r["norm_class"] for r in csv.DictReader(fh) if r["city_code"] == "140100"}
    with (settings.GEODATA_DIR / "population" / "census2020_resident_population.csv").open(encoding="utf-8") as fh:
        rows = [r for r in csv.DictReader(fh) if r["adcode"] in norm_class]
    pop = {r["adcode"]: float(r["resident_population_2020"]) for r in rows}
    rng = np.random.default_rng(seed)
    codes = np.array(sorted(pop))
    district = codes[rng.integers(0, codes.size, points)]
    share = rng.lognormal(0.0, 1.0, points)
    residents = np.zeros(points)
    for c in codes:
        m = district == c
        residents[m] = share[m] / share[m].sum() * pop[c]
    classes = np.array([norm_class[c] for c in district])
    st_district = codes[np.arange(stations) % codes.size]
    per_vehicle = {"urban": 30_000.0, "county": 10_000.0}
    vehicles = np.zeros(stations, dtype=np.int64)
    for c in codes:
        idx = np.flatnonzero(st_district == c)
        need = int(np.ceil(pop[c] / per_vehicle[norm_class[c]]))
        vehicles[idx] = need // idx.size
        vehicles[idx[: need % idx.size]] += 1
    centre = {c: rng.uniform(0.0, 80.0, 2) for c in codes}  # district centres in an 80 km square
    spread = {c: (4.0 if norm_class[c] == "urban" else 15.0) for c in codes}  # km
    xy = np.array([centre[c] + rng.normal(0.0, spread[c], 2) for c in district])
    st_xy = np.array([centre[c] + rng.normal(0.0, spread[c] * 0.6, 2) for c in st_district])
    km = np.hypot(xy[:, None, 0] - st_xy[None, :, 0], xy[:, None, 1] - st_xy[None, :, 1])
    travel = km * 1.3 / 40.0 * 60.0
    return {"travel": travel, "vehicles": vehicles, "district": district,
            "calls": expected_calls(residents=residents, norm_class=classes),
            "standard": np.where(classes == "urban", 12.0, 20.0)}  # fmt: skip


def heap_loop(times: np.ndarray, atoms: np.ndarray, service: np.ndarray, prefs: list[list[int]],
              vehicles: np.ndarray) -> np.ndarray:  # fmt: skip
    """The package's loop, list conversion included, with fresh free counts every run."""
    station, _ = dispatch_loop(times.tolist(), atoms.tolist(), service.tolist(), prefs, vehicles.tolist())
    return np.asarray(station)


def naive_loop(times: np.ndarray, atoms: np.ndarray, service: np.ndarray, travel: np.ndarray,
               vehicles: np.ndarray) -> np.ndarray:  # fmt: skip
    """Per call: free vehicles by comparing every vehicle's free time, argmin of travel."""
    unit_station = np.repeat(np.arange(vehicles.size), vehicles)
    free_at = np.zeros(unit_station.size)
    unit_travel = travel[:, unit_station]
    station = np.empty(times.size, dtype=np.int64)
    for i in range(times.size):
        t = times[i]
        free = free_at <= t
        if free.any():
            row = np.where(free, unit_travel[atoms[i]], np.inf)
            u = int(np.argmin(row))
            if not np.isfinite(row[u]):  # only unreachable vehicles are free
                u = int(np.flatnonzero(free)[0])
            start = t
        else:
            u = int(np.argmin(free_at))  # FIFO: the earliest vehicle to free up
            start = free_at[u]
        free_at[u] = start + service[i]
        station[i] = unit_station[u]
    return station


def simpy_loop(times: np.ndarray, atoms: np.ndarray, service: np.ndarray, prefs: list[list[int]],
               vehicles: np.ndarray) -> np.ndarray | None:  # fmt: skip
    try:
        import simpy
    except ImportError:
        return None
    env = simpy.Environment()
    free = vehicles.tolist()
    queue: deque[int] = deque()
    station = [-1] * times.size
    t_list, a_list, s_list = times.tolist(), atoms.tolist(), service.tolist()

    def serve(i: int, s: int):  # type: ignore[no-untyped-def]
        yield env.timeout(s_list[i])
        if queue:
            c = queue.popleft()
            station[c] = s
            env.process(serve(c, s))
        else:
            free[s] += 1

    def source():  # type: ignore[no-untyped-def]
        for i, t in enumerate(t_list):
            yield env.timeout(t - env.now)
            for s in prefs[a_list[i]]:
                if free[s]:
                    free[s] -= 1
                    station[i] = s
                    env.process(serve(i, s))
                    break
            else:
                queue.append(i)

    env.process(source())
    env.run()
    return np.asarray(station)


def best_of(repeat: int, fn, *args):  # type: ignore[no-untyped-def]
    runs, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn(*args)
        runs.append(time.perf_counter() - t0)
    return min(runs), out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--points", type=int, default=4000)
    ap.add_argument("--stations", type=int, default=80)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    city = taiyuan_like(args.points, args.stations)
    print(f"city: {args.points:,} demand points, {args.stations} stations, {int(city['vehicles'].sum())} vehicles, "
          f"{city['calls'].sum():,.0f} expected calls a year")  # fmt: skip

    # the whole public function, a year as 10 replications (exponential service, lognormal delay)
    t_full, res = best_of(args.repeat, lambda: simulate_calls(
        travel_minutes=city["travel"], vehicles=city["vehicles"], calls_per_year=city["calls"],
        standard_minutes=city["standard"], district=city["district"], seed=1))  # fmt: skip
    cw = res.citywide
    print(f"simulate_calls, 1 year:  {t_full:7.3f} s  ({cw.calls:,} calls, reached {cw.reached_share:.4f} "
          f"CI {cw.reached_share_ci[0]:.4f}-{cw.reached_share_ci[1]:.4f}, p90 {cw.p90_min:.1f} min, "
          f"mean utilisation {res.stations['utilisation'].mean():.3f})  target <= {TARGET_S:.0f} s: "
          f"{'met' if t_full <= TARGET_S else 'MISSED'}")  # fmt: skip

    # the bare event loops on one year of identical calls; 10x the call rate to stress the queue too
    prefs = station_preferences(travel_minutes=city["travel"], vehicles=city["vehicles"])
    for label, scale in (("calls as planned", 1.0), ("10x calls (queueing)", 10.0)):
        rng = np.random.default_rng(7)
        rates = city["calls"] * scale / MINUTES_PER_YEAR
        times, atoms = poisson_arrivals(rng=rng, rates=rates, horizon=MINUTES_PER_YEAR)
        service = ServiceTime().sample(rng=rng, size=times.size)
        t_heap, st_heap = best_of(args.repeat, heap_loop, times, atoms, service, prefs, city["vehicles"])
        t_naive, st_naive = best_of(1, naive_loop, times, atoms, service, city["travel"], city["vehicles"])
        assert np.array_equal(np.asarray(st_heap), st_naive), "heapq and naive loops disagree"
        line = (f"{label:>22}: {times.size:>9,} calls  heapq {t_heap:7.3f} s   naive {t_naive:7.3f} s "
                f"({t_naive / t_heap:5.1f}x slower)")  # fmt: skip
        t_simpy, st_simpy = best_of(1, simpy_loop, times, atoms, service, prefs, city["vehicles"])
        if st_simpy is None:
            line += "   simpy not installed"
        else:
            assert np.array_equal(np.asarray(st_heap), st_simpy), "heapq and simpy loops disagree"
            line += f"   simpy {t_simpy:7.3f} s ({t_simpy / t_heap:5.1f}x slower)"
        print(line)


if __name__ == "__main__":
    main()
