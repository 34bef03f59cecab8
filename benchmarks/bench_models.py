"""Benchmark: healthopt location models against the plain greedy, their own "before", and spopt.

Run with ``.venv/bin/python benchmarks/bench_models.py`` (``--time-limit 60`` applies to
every solve, spopt's included; ``--spopt-cap 60`` stops a spopt child process, build
included; ``--only hard pmedian orlib taiyuan small walk backends`` picks sections;
``--with-before`` adds the solves without start, reductions and fixing). The default set
is timed to finish in about 8-9 minutes on an idle 2-core machine (60 s per solve, 60 s
per spopt run).

Sections
--------
hard
    Issue 16's hard random MCLP: 20,000 demand x 2,000 sites uniform in a 50 km square,
    Euclidean metres, radius giving ~28 sites per demand, p = 50; plain greedy, greedy +
    1-swap, the project (start + reductions) and the project without either (what the
    code did before issue 16), objective, proven gap, seconds and the ratio to the greedy.
    Then the LSCP on the same points. spopt + CBC in a child process when installed
    (capped at ``--spopt-cap``; it needs the dense 20,000 x 2,000 matrix).
pmedian
    Random p-median 3,000 x 300, p = 20: greedy, greedy + fast swap, the project with and
    without its start.
orlib
    OR-Library pmed1 and pmed5 (tests/data/orlib): published p-median optima.
taiyuan
    LSCP on the embedded Taiyuan roads (6 urban districts), with and without reductions.
small, walk, backends
    The earlier instances (random points, 9-minute walk at 5 km/h, dense matrices, where
    spopt's model build dominates) and the solver-backend comparison behind
    ``healthopt.milp.solve.DEFAULT_SOLVER``.

Every figure depends on machine load: the machine is shared, so seconds are indicative.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from healthopt.models import LSCP, MCLP, PMedian
from healthopt.models.heuristics import (
    coverage_value,
    greedy_coverage,
    mclp_marginal,
    pmedian_cost,
    pmedian_greedy,
    pmedian_swap,
    swap_coverage,
)

LOAD_NOTE = "(2-core machine shared with other jobs: seconds are indicative, ±30 % or worse)"


# --------------------------------------------------------------------------- hard random instances (issue 16)


def hard_points(n_demand: int, n_sites: int, side_m: float, seed: int):
    """Uniform demand points and sites in a square of ``side_m`` metres; weights 1..999."""
    rng = np.random.default_rng(seed)
    dem = rng.uniform(0, side_m, (n_demand, 2))
    sit = rng.uniform(0, side_m, (n_sites, 2))
    w = rng.integers(1, 1000, n_demand).astype(float)
    return dem, sit, w


def hard_mclp_instance(n_demand=20_000, n_sites=2_000, side_m=50_000.0, per_demand=29.8, seed=16):
    """Issue 16's hard MCLP: the radius gives ``per_demand`` sites within reach on average.

    Returns a sparse demand × sites matrix of the Euclidean metres within the radius (the
    pairs beyond it are never needed), the weights and the radius.
    """
    from scipy.spatial import cKDTree

    dem, sit, w = hard_points(n_demand, n_sites, side_m, seed)
    radius = side_m * np.sqrt(per_demand / (np.pi * n_sites))
    S = cKDTree(dem).sparse_distance_matrix(cKDTree(sit), radius, output_type="coo_matrix").tocsr()
    return S, w, float(radius), dem, sit


def plain_greedy_mclp(S, w, radius, p, swap=False):
    """The baseline of issue 16: greedy (+ optional 1-swap) on the raw demand-point incidence."""
    t0 = time.perf_counter()
    inc = S.copy()
    inc.data = (inc.data <= radius).astype(float)
    inc.eliminate_zeros()
    lo, hi = np.zeros(S.shape[1]), np.ones(S.shape[1])
    y = greedy_coverage(inc, w, mclp_marginal, p, lo, hi)
    if swap:
        y, _ = swap_coverage(inc, w, mclp_marginal, y, lo, hi, max_seconds=60.0)
    return coverage_value(inc, w, mclp_marginal, y, 1), time.perf_counter() - t0


def _ours_timed(build, time_limit, **solve_kw):
    t0 = time.perf_counter()
    model = build()
    res = model.solve(time_limit=time_limit, **solve_kw)
    return model, res, time.perf_counter() - t0


def _fmt(res, seconds, ref):
    gap = "unknown" if res.gap is None else f"{100 * res.gap:.2f} %"
    ratio = "" if ref is None or res.objective is None else f"  ratio vs greedy {res.objective / ref:.4f}"
    return f"objective {res.objective:,.6g}  gap {gap}  {seconds:.1f} s  [{res.status_code}]{ratio}"


def run_hard(time_limit: float, with_nostart: bool = True, use_spopt: bool = False, spopt_cap: float = 300.0):
    """Hard random MCLP and LSCP (20,000 × 2,000, ~28 sites per demand, p = 50)."""
    t0 = time.perf_counter()
    S, w, radius, _dem, _sit = hard_mclp_instance()
    print(
        f"== hard random MCLP 20,000 demand x 2,000 sites, 50 km square, radius {radius:,.0f} m "
        f"({S.nnz / S.shape[0]:.1f} sites per demand), p = 50, limit {time_limit:g} s  {LOAD_NOTE}"
    )
    print(f"  instance: {time.perf_counter() - t0:.1f} s; total weight {w.sum():,.0f}")
    g, tg = plain_greedy_mclp(S, w, radius, 50)
    print(f"  plain greedy:           objective {g:,.6g}  {tg:.2f} s")
    gs, tgs = plain_greedy_mclp(S, w, radius, 50, swap=True)
    print(f"  greedy + 1-swap:        objective {gs:,.6g}  {tgs:.2f} s")
    _model, res, sec = _ours_timed(lambda: MCLP.from_cost_matrix(S, w, radius, 50), time_limit)
    print(f"  healthopt (start+red.): {_fmt(res, sec, g)}")
    for line in res.summary().splitlines()[4:6]:
        print(f"      {line}")
    if with_nostart:
        _m, res0, sec0 = _ours_timed(
            lambda: MCLP.from_cost_matrix(S, w, radius, 50, reduce=False), time_limit, heuristic=False
        )
        print(f"  healthopt, no start, no reductions (the code before issue 16): {_fmt(res0, sec0, g)}")
    if use_spopt:
        dense = S.toarray()
        dense[dense == 0] = 10 * radius
        for solver in ("cbc", "highs"):
            s, note = spopt_run("MCLP", dense, w, radius, 50, spopt_cap, solver, time_limit)
            if s is not None and s.get("objective") is not None:
                note = (f"objective {s['objective']:,.6g}  build {s['build']:.1f} s  total {s['total']:.1f} s "
                        f"[{s['status']}]  ratio vs greedy {s['objective'] / g:.4f}; healthopt "
                        f"{sec:.1f} s: {s['total'] / sec:.1f}x faster end to end")
            print(f"  spopt + {solver.upper()} (limit {time_limit:g} s, stopped after {spopt_cap:g} s): {note}")
    # LSCP on the same points
    reach = np.flatnonzero(np.diff(S.indptr) > 0)
    S = S[reach]
    _m2, r2, sec2 = _ours_timed(lambda: LSCP.from_cost_matrix(S, radius), time_limit)
    print(f"== hard random LSCP on the same points ({len(w) - reach.size} points beyond every site dropped)")
    print(f"  healthopt (start+red.): {_fmt(r2, sec2, None)}  start {r2.details.get('heuristic', {}).get('objective')}")
    for line in r2.summary().splitlines()[4:6]:
        print(f"      {line}")
    if with_nostart:
        _m, r3, sec3 = _ours_timed(lambda: LSCP.from_cost_matrix(S, radius, reduce=False), time_limit, heuristic=False)
        print(f"  healthopt, no start, no reductions: {_fmt(r3, sec3, None)}")


def run_pmedian(time_limit: float, n_demand=3_000, n_sites=300, p=20, *, with_before=False, use_spopt=False,
                spopt_cap=60.0):
    """Random p-median 3,000 × 300 (issue 16), Euclidean metres in a 50 km square."""
    from scipy.spatial.distance import cdist

    dem, sit, w = hard_points(n_demand, n_sites, 50_000.0, 17)
    D = cdist(dem, sit)
    print(f"== random p-median {n_demand:,} x {n_sites:,}, p = {p}, limit {time_limit:g} s  {LOAD_NOTE}")
    t0 = time.perf_counter()
    d, s = np.divmod(np.arange(D.size), n_sites)
    t = D.ravel()
    order = np.lexsort((s, t, d))  # the heuristics need pairs sorted by (demand, time)
    d, s, t = d[order], s[order], t[order]
    big = (t.max() + 1) * 1e4
    y = pmedian_greedy(d, s, t, w, n_sites, p, np.zeros(n_sites), np.ones(n_sites, bool), big)
    g = pmedian_cost(d, s, t, w, y, big)
    tg = time.perf_counter() - t0
    y, _ = pmedian_swap(d, s, t, w, y, np.zeros(n_sites), np.ones(n_sites, bool), big, max_seconds=10)
    gs = pmedian_cost(d, s, t, w, y, big)
    print(
        f"  plain greedy: objective {g:,.6g}  {tg:.2f} s; greedy + fast swap {gs:,.6g}  "
        f"{time.perf_counter() - t0:.2f} s"
    )
    _m, res, sec = _ours_timed(lambda: PMedian.from_cost_matrix(D, w, p), time_limit)
    print(f"  healthopt: {_fmt(res, sec, g)}  fixing {res.details.get('bound_fixing')}")
    if with_before:
        _m, res0, sec0 = _ours_timed(lambda: PMedian.from_cost_matrix(D, w, p), time_limit, heuristic=False)
        print(f"  healthopt, no start: {_fmt(res0, sec0, g)}")
    if use_spopt:
        for solver in ("cbc", "highs"):
            s, note = spopt_run("PMedian", D, w, None, p, spopt_cap, solver, time_limit)
            if s is not None and s.get("objective") is not None:
                note = (f"objective {s['objective']:,.6g}  build {s['build']:.1f} s  total {s['total']:.1f} s "
                        f"[{s['status']}]  ratio vs greedy {s['objective'] / g:.4f}")
            print(f"  spopt + {solver.upper()} (limit {time_limit:g} s, stopped after {spopt_cap:g} s): {note}")


def synthetic(n_demand: int, n_sites: int, speed_kph: float, radius: float, seed: int = 7):
    """Seeded demand points and sites in a 40 km square; dense demand × sites minutes.

    Demand points with no candidate site within ``radius`` are redrawn, so every point can
    be covered (spopt's LSCP would otherwise just be infeasible).
    """
    rng = np.random.default_rng(seed)
    sites = rng.uniform(0, 40.0, (n_sites, 2))
    parts, have = [], 0
    while have < n_demand:
        dem = rng.uniform(0, 40.0, (n_demand, 2))
        km = np.sqrt(((dem[:, None, :] - sites[None, :, :]) ** 2).sum(-1))
        minutes = km / speed_kph * 60.0
        minutes = minutes[(minutes <= radius).any(axis=1)]
        parts.append(minutes[: n_demand - have])
        have += parts[-1].shape[0]
    weights = rng.integers(50, 2000, n_demand).astype(float)
    return np.vstack(parts), weights


def ours(kind: str, D, w, radius: float, p: int, solver: str = "highs", time_limit: float | None = 60.0):
    t0 = time.perf_counter()
    if kind == "LSCP":
        model = LSCP.from_cost_matrix(D, radius)
    else:
        model = MCLP.from_cost_matrix(D, w, radius, p)
    model.build()
    t_build = time.perf_counter() - t0
    res = model.solve(solver=solver, time_limit=time_limit)
    total = time.perf_counter() - t0
    stats = model.problem.stats()
    return {
        "objective": res.objective,
        "build": t_build,
        "solve": total - t_build,
        "total": total,
        "status": res.status,
        "stats": stats,
    }


def _spopt_child(kind, D, w, radius, p, queue, solver="cbc", time_limit=None):
    import pulp
    from spopt.locate import LSCP as SLSCP
    from spopt.locate import MCLP as SMCLP
    from spopt.locate import PMedian as SPMedian

    t0 = time.perf_counter()
    if kind == "LSCP":
        m = SLSCP.from_cost_matrix(D, radius)
    elif kind == "PMedian":
        m = SPMedian.from_cost_matrix(D, w, p)
    else:
        m = SMCLP.from_cost_matrix(D, w, radius, p)
    t_build = time.perf_counter() - t0
    queue.put(("build", t_build))
    if solver == "highs":
        backend = pulp.HiGHS(msg=False, timeLimit=time_limit)
    else:
        backend = pulp.PULP_CBC_CMD(msg=False, timeLimit=time_limit)
    m.solve(backend, results=False)
    total = time.perf_counter() - t0
    status = pulp.LpStatus.get(m.problem.status, str(m.problem.status))
    value = pulp.value(m.problem.objective)
    queue.put(
        (
            "done",
            {
                "objective": None if value is None else float(value),
                "status": status,
                "build": t_build,
                "solve": total - t_build,
                "total": total,
            },
        )
    )


def spopt_run(kind, D, w, radius, p, cap, solver="cbc", time_limit=None):
    """spopt (+ CBC or HiGHS through PuLP) in a child process, stopped after ``cap`` seconds."""
    try:
        import spopt  # noqa: F401
    except ImportError:
        return None, "spopt not installed (pip install '.[benchmark]')"
    ctx = mp.get_context("fork")
    q = ctx.Queue()
    proc = ctx.Process(target=_spopt_child, args=(kind, D, w, radius, p, q, solver, time_limit))
    t0 = time.perf_counter()
    proc.start()
    build = None
    result = None
    while time.perf_counter() - t0 < cap:
        try:
            tag, val = q.get(timeout=1.0)
        except Exception:
            if not proc.is_alive():
                break
            continue
        if tag == "build":
            build = val
        else:
            result = val
            break
    if result is None:
        proc.kill()
        proc.join()
        note = f"spopt did not finish within {cap:.0f} s"
        if build is not None:
            note += f"; its build phase alone took {build:.1f} s"
        else:
            note += "; its build phase alone did not finish"
        return {"build": build}, note
    proc.join()
    return result, ""


def compare(kind, D, w, radius, p, cap, use_spopt, time_limit=60.0):
    r = ours(kind, D, w, radius, p, time_limit=time_limit)
    st = r["stats"]
    print(
        f"  {kind}: healthopt (highs) objective {r['objective']:.6g}  build {r['build']:.2f} s"
        f"  solve {r['solve']:.2f} s  total {r['total']:.2f} s  [{r['status']}; "
        f"{st['variables']:,} vars, {st['rows']:,} rows, {st['nonzeros']:,} nz]"
    )
    if not use_spopt:
        return
    for solver in ("cbc", "highs"):
        tag = f"spopt+{solver.upper()}"
        s, note = spopt_run(kind, D, w, radius, p, cap, solver, time_limit)
        if s is None or s.get("objective") is None:
            print(f"  {kind}: {tag}: {note}")
            if s and s.get("build"):
                print(
                    f"  {kind}: build-phase ratio {tag}/healthopt total: {s['build'] / r['total']:.1f}x "
                    "(lower bound on the full ratio)"
                )
            continue
        same = abs(s["objective"] - r["objective"]) <= 1e-6 * max(1.0, abs(r["objective"]))
        print(
            f"  {kind}: {tag:<11} objective {s['objective']:.6g}  build {s['build']:.2f} s"
            f"  solve {s['solve']:.2f} s  total {s['total']:.2f} s  [{s['status']}]"
        )
        print(
            f"  {kind}: objectives equal: {same};  speed-up (total) {s['total'] / r['total']:.1f}x,"
            f"  build {s['build'] / r['build']:.1f}x"
        )
        if not same:
            print(f"  {kind}: objectives differ (a time limit hit on one side?)")


def backends(D, w, radius, p, label, time_limit=60.0):
    print(f"  backend comparison ({label}):")
    objs = {}
    for kind in ("MCLP", "LSCP"):
        for solver in ("highs", "cbc", "highs-pulp"):
            r = ours(kind, D, w, radius, p, solver, time_limit)
            objs.setdefault(kind, []).append(r["objective"])
            print(
                f"    {kind:4s} {solver:10s} objective {r['objective']:.6g}  total {r['total']:7.2f} s"
                f"  (build {r['build']:.2f} s, solver incl. conversion {r['solve']:.2f} s)"
            )
        vals = objs[kind]
        if max(vals) - min(vals) > 1e-6 * max(1.0, abs(vals[0])):
            print(f"    {kind}: backends disagree (time limit?): {vals}")


def run_orlib(time_limit: float) -> None:
    """OR-Library pmed instances shipped with the tests: published p-median optima."""
    from scipy.sparse.csgraph import shortest_path

    from healthopt.models import PCenter

    print(f"== OR-Library p-median (tests/data/orlib), limit {time_limit:g} s  {LOAD_NOTE}")
    folder = Path(__file__).resolve().parent.parent / "tests" / "data" / "orlib"
    for name, optimum in (("pmed1.txt", 5819.0), ("pmed5.txt", 1355.0)):
        lines = (folder / name).read_text().split("\n")
        n, m, p = (int(v) for v in lines[0].split())
        W = np.zeros((n, n))
        for row in lines[1 : 1 + m]:
            i, j, c = (int(v) for v in row.split())
            W[i - 1, j - 1] = W[j - 1, i - 1] = c
        D = shortest_path(W, directed=False)
        _m, res, sec = _ours_timed(lambda D=D, n=n, p=p: PMedian.from_cost_matrix(D, np.ones(n), p), time_limit)
        heur = res.details.get("heuristic", {}).get("objective")
        print(
            f"  {name} (n={n}, p={p}): p-median {res.objective:g} (published {optimum:g}) {sec:.2f} s "
            f"[{res.status_code}], start {heur:g}"
        )
        _m, pc, sec = _ours_timed(lambda D=D, p=p: PCenter.from_cost_matrix(D, p), time_limit)
        print(f"  {name}: p-center {pc.objective:g} {sec:.2f} s [{pc.status_code}]")


def taiyuan_lscp(time_limit: float, radius: float = 10.0) -> None:
    """LSCP on the embedded Taiyuan core roads (6 urban districts, 300 m grid, 400 m candidates)."""
    try:
        from healthopt import demand, network, sites, traveltime
        from healthopt.data import load_taiyuan
    except Exception as exc:  # pragma: no cover - depends on the other modules
        print(f"  skipped: {exc}")
        return
    t0 = time.perf_counter()
    data = load_taiyuan()
    area = data.study_area(["140105", "140106", "140107", "140108", "140109", "140110"])
    G = network.load_graph(data.roads_path)
    points = demand.population_grid(area, roads=network.edges_gdf(G), seats=data.seats, snap=G, cell_urban_m=300)
    cand = sites.candidate_sites(G, spacing_m=400, districts=area, boundary=area.union_all())
    tt = traveltime.travel_time_matrix(G, cand, points, radius)
    reached = np.asarray(tt.coverage(radius).sum(axis=0)).ravel() > 0
    points = points[reached].reset_index(drop=True)
    tt = traveltime.travel_time_matrix(G, cand, points, radius)
    w = points["population"].to_numpy(float)
    print(
        f"== Taiyuan LSCP {len(points):,} demand x {len(cand):,} sites, {radius:g} min on the roads "
        f"(instance {time.perf_counter() - t0:.1f} s)  {LOAD_NOTE}"
    )
    for label, kw, skw in (
        ("healthopt (start + reductions)", {}, {}),
        ("healthopt, no start, no reductions", {"reduce": False}, {"heuristic": False}),
    ):
        _m, res, sec = _ours_timed(lambda kw=kw: LSCP.from_travel_times(tt, w, radius, **kw), time_limit, **skw)
        print(f"  {label}: {_fmt(res, sec, None)}")
        for line in res.summary().splitlines()[4:6]:
            if line.startswith(("reduced", "start")):
                print(f"      {line}")


def taiyuan_baseline_lscp(time_limit: float) -> None:
    """LSCP on the shipped baseline's own ambulance instance: every demand point within its standard.

    The demand points and candidate sites of ``scenarios/taiyuan_2025_baseline.yaml`` (all ten
    units), covered when the road (or estimated) travel time plus the mean dispatch delay is
    within 12 min urban / 20 min county: the instance issue 16 timed at 35 s (spopt + CBC 163 s).
    Points no site reaches are dropped (they make any cover impossible).
    """
    from healthopt.pipeline.run import plan_context, prepare_inputs
    from healthopt.plans.ambulances import Ambulances
    from healthopt.scenario import load_scenario

    t0 = time.perf_counter()
    sc = load_scenario(Path(__file__).resolve().parent.parent / "scenarios" / "taiyuan_2025_baseline.yaml")
    inputs = prepare_inputs(sc)
    context = plan_context(sc, inputs)
    plan = Ambulances.from_scenario(sc, inputs, context).plan
    points = context.points
    site, dem = plan.pairs
    n_all = len(points)
    keep = np.unique(dem)
    pos = np.full(n_all, -1)
    pos[keep] = np.arange(keep.size)
    cost = np.full((keep.size, len(plan.sites)), np.inf)
    cost[pos[dem], site] = 0.0  # covered pairs; the radius 0.5 below admits exactly these
    w = points["population"].to_numpy(float)[keep]
    print(f"== Taiyuan baseline LSCP {keep.size:,} demand (of {n_all:,}; the rest out of every reach) x "
          f"{len(plan.sites):,} sites, 12 / 20 min with the dispatch delay (instance {time.perf_counter() - t0:.1f} s)"
          f"  {LOAD_NOTE}")
    for label, skw in (("healthopt (start + reductions)", {}), ("healthopt, no start", {"heuristic": False})):
        _m, res, sec = _ours_timed(lambda: LSCP.from_cost_matrix(cost, 0.5, demand_quantity_arr=w), time_limit, **skw)
        print(f"  {label}: {_fmt(res, sec, None)}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--time-limit", type=float, default=60.0, help="seconds per solve (every solve has one)")
    ap.add_argument(
        "--only",
        nargs="+",
        default=["hard", "pmedian", "orlib", "taiyuan", "small"],
        choices=["hard", "pmedian", "orlib", "taiyuan", "small", "walk", "backends"],
        help="sections to run (walk = the old 20,000 x 2,000 walking instance; backends = solver comparison)",
    )
    ap.add_argument("--demand", type=int, default=20000)
    ap.add_argument("--sites", type=int, default=2000)
    ap.add_argument("--radius", type=float, default=9.0, help="service standard of the walk instances, minutes")
    ap.add_argument("--speed", type=float, default=5.0, help="km/h (walking to a health centre)")
    ap.add_argument("--p", type=int, default=800)
    ap.add_argument("--p-small", type=int, default=300)
    ap.add_argument("--spopt-cap", type=float, default=60.0,
                    help="seconds before a spopt run is stopped, build included (its 20,000 x 2,000 build alone "
                         "takes 165-567 s: give 600 to see it finish)")
    ap.add_argument("--no-spopt", action="store_true")
    ap.add_argument("--with-before", action="store_true",
                    help="also solve without start, reductions and fixing (the code before issue 16)")
    args = ap.parse_args()
    try:
        import spopt  # noqa: F401

        use_spopt = not args.no_spopt
    except ImportError:
        use_spopt = False
        print("spopt not installed: spopt columns skipped (pip install spopt)")
    tl = args.time_limit
    t_all = time.perf_counter()
    if "hard" in args.only:
        run_hard(tl, with_nostart=args.with_before, use_spopt=use_spopt, spopt_cap=args.spopt_cap)
    if "pmedian" in args.only:
        run_pmedian(tl, with_before=args.with_before, use_spopt=use_spopt, spopt_cap=args.spopt_cap)
    if "orlib" in args.only:
        run_orlib(tl)
    if "taiyuan" in args.only:
        taiyuan_lscp(tl)
        taiyuan_baseline_lscp(tl)
    if "small" in args.only:
        print(f"== small instance 3,000 demand x 1,000 sites (radius {args.radius:g} min, p={args.p_small})")
        D, w = synthetic(3000, 1000, args.speed, args.radius, seed=11)
        compare("LSCP", D, w, args.radius, args.p_small, args.spopt_cap, use_spopt, tl)
        compare("MCLP", D, w, args.radius, args.p_small, args.spopt_cap, use_spopt, tl)
        if "backends" in args.only:
            backends(D, w, args.radius, args.p_small, "3,000 x 1,000", tl)
    if "walk" in args.only:
        print(f"== walk instance {args.demand:,} x {args.sites:,} (radius {args.radius:g} min, p={args.p})")
        D, w = synthetic(args.demand, args.sites, args.speed, args.radius)
        compare("LSCP", D, w, args.radius, args.p, args.spopt_cap, use_spopt, tl)
        compare("MCLP", D, w, args.radius, args.p, args.spopt_cap, use_spopt, tl)
        if "backends" in args.only:
            backends(D, w, args.radius, args.p, f"{args.demand:,} x {args.sites:,}", tl)
    print(f"== all sections: {time.perf_counter() - t_all:.0f} s  {LOAD_NOTE}")


if __name__ == "__main__":
    main()
