"""Brute-force optima of the location models, for tests on small instances.

Every function enumerates all site subsets (or all vehicle allocations) of a
**demand × sites** matrix ``D`` in which ``inf`` marks a missing pair, and returns the
optimal objective, or ``None`` when no plan satisfies the rules. ``forbidden`` and
``fixed`` are boolean site masks (``None``: no such sites). Shared by
``test_models_bruteforce.py`` and ``test_properties_models.py``.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import numpy as np
from hypothesis import strategies as st


def subsets(n: int, k: int | None = None) -> Iterator[tuple[int, ...]]:
    """Yield the subsets of ``range(n)`` (all sizes, smallest first, or only size ``k``)."""
    sizes = range(0, n + 1) if k is None else [k]
    for size in sizes:
        yield from itertools.combinations(range(n), size)


def allowed_subsets(
    n: int,
    k: int | None = None,
    forbidden: np.ndarray | None = None,
    fixed: np.ndarray | None = None,
    max_size: int | None = None,
) -> Iterator[list[int]]:
    """Yield the site subsets (as lists) that avoid ``forbidden`` and contain ``fixed``.

    ``k`` asks for exactly ``k`` sites, ``max_size`` for at most ``max_size``.
    """
    bad = set() if forbidden is None else set(np.flatnonzero(forbidden).tolist())
    need = set() if fixed is None else set(np.flatnonzero(fixed).tolist())
    for S in subsets(n, k):
        if (max_size is None or len(S) <= max_size) and not bad & set(S) and need <= set(S):
            yield list(S)


def allocations(
    caps: np.ndarray, total: int, fixed: np.ndarray | None = None
) -> Iterator[np.ndarray]:
    """Yield the vehicle vectors ``y`` with ``sum(y) == total``, ``y <= caps`` and ``y >= 1`` on ``fixed``."""
    low = np.zeros(len(caps), dtype=int) if fixed is None else fixed.astype(int)
    ranges = [range(int(lo), int(hi) + 1) for lo, hi in zip(low, caps, strict=True)]
    for alloc in itertools.product(*ranges):
        if sum(alloc) == total:
            yield np.asarray(alloc, dtype=int)


def nearest(D: np.ndarray, S: list[int]) -> np.ndarray:
    """Travel time from every demand point to its nearest site of ``S`` (``inf``: none)."""
    return D[:, S].min(axis=1) if S else np.full(D.shape[0], np.inf)


def lscp(
    D: np.ndarray,
    T: float,
    costs: np.ndarray | None = None,
    forbidden: np.ndarray | None = None,
    fixed: np.ndarray | None = None,
) -> float | None:
    """Fewest sites (or least total cost) reaching every demand point within ``T``."""
    cost = np.ones(D.shape[1]) if costs is None else costs
    plans = [
        float(cost[S].sum())
        for S in allowed_subsets(D.shape[1], None, forbidden, fixed)
        if (nearest(D, S) <= T).all()
    ]
    return min(plans, default=None)


def mclp(
    D: np.ndarray,
    w: np.ndarray,
    T: float,
    p: int | None,
    forbidden: np.ndarray | None = None,
    fixed: np.ndarray | None = None,
    costs: np.ndarray | None = None,
    budget: float | None = None,
) -> float | None:
    """Most weight within ``T`` of exactly ``p`` sites (``p=None``: any number within ``budget``)."""
    plans = [
        float(w[nearest(D, S) <= T].sum())
        for S in allowed_subsets(D.shape[1], p, forbidden, fixed)
        if budget is None or costs is None or costs[S].sum() <= budget + 1e-9
    ]
    return max(plans, default=None)


def pmedian(
    D: np.ndarray,
    w: np.ndarray,
    p: int,
    forbidden: np.ndarray | None = None,
    fixed: np.ndarray | None = None,
) -> float | None:
    """Least weighted travel time with exactly ``p`` sites, every demand point assigned."""
    plans = []
    for S in allowed_subsets(D.shape[1], p, forbidden, fixed):
        t = nearest(D, S)
        if np.isfinite(t).all():
            plans.append(float((w * t).sum()))
    return min(plans, default=None)


def pcenter(
    D: np.ndarray,
    p: int,
    forbidden: np.ndarray | None = None,
    fixed: np.ndarray | None = None,
) -> float | None:
    """Smallest worst travel time with at most ``p`` sites, every demand point assigned."""
    plans = []
    for S in allowed_subsets(D.shape[1], None, forbidden, fixed, max_size=p):
        t = nearest(D, S).max()
        if np.isfinite(t):
            plans.append(float(t))
    return min(plans, default=None)


def _vehicle_caps(n: int, p: int, max_vehicles: int | np.ndarray | None, forbidden: np.ndarray | None) -> np.ndarray:
    caps = np.broadcast_to(np.asarray(p if max_vehicles is None else max_vehicles), (n,)).astype(int)
    caps = np.minimum(caps, p)
    return np.where(forbidden, 0, caps) if forbidden is not None else caps


def mexclp(
    D: np.ndarray,
    w: np.ndarray,
    T: float,
    p: int,
    q: float,
    max_vehicles: int | np.ndarray | None = None,
    forbidden: np.ndarray | None = None,
    fixed: np.ndarray | None = None,
) -> float | None:
    """Most expected covered weight ``Σ w (1 - q^n)`` with ``p`` vehicles (``n``: vehicles within ``T``)."""
    cover = (D <= T).astype(float)
    caps = _vehicle_caps(D.shape[1], p, max_vehicles, forbidden)
    plans = [float((w * (1 - q ** (cover @ y))).sum()) for y in allocations(caps, p, fixed)]
    return max(plans, default=None)


def dsm(
    D: np.ndarray,
    w: np.ndarray,
    r1: float,
    r2: float,
    p: int,
    alpha: float,
    max_vehicles: int | np.ndarray | None = 2,
    forbidden: np.ndarray | None = None,
    fixed: np.ndarray | None = None,
) -> float | None:
    """Double standard model: most weight covered twice within ``r1`` with ``p`` vehicles.

    Every demand point must have a vehicle within ``r2``, and a share ``alpha`` of the
    weight one within ``r1``.
    """
    c1, c2 = np.less_equal(D, r1).astype(float), np.less_equal(D, r2).astype(float)
    caps = _vehicle_caps(D.shape[1], p, max_vehicles, forbidden)
    plans = []
    for y in allocations(caps, p, fixed):
        n1, n2 = c1 @ y, c2 @ y
        if (n2 >= 1).all() and w[n1 >= 1].sum() >= alpha * w.sum() - 1e-9:
            plans.append(float(w[n1 >= 2].sum()))
    return max(plans, default=None)



def ambulance_mexclp(
    D: np.ndarray,
    w: np.ndarray,
    T: float,
    q: float,
    caps: np.ndarray,
    district: np.ndarray,
    norms: dict[str, int],
    max_new: int | None = None,
    existing: np.ndarray | None = None,
    levels: int = 4,
) -> float | None:
    """Best ambulance-plan score: ``Σ w (1 - q^min(n, levels))`` less 0.5 per open new station.

    Every district gets exactly its norm of vehicles (the fleet budget equals the norm total),
    ``existing`` sites stay open (at least one vehicle) and at most ``max_new`` other sites
    open. This is the MEXCLP plan objective without the negative-pressure tie-break.
    """
    cover = (D <= T).astype(float)
    new = np.ones(len(caps), dtype=bool) if existing is None else ~existing
    plans = []
    for y in allocations(caps, sum(norms.values()), existing):
        opened = int(((y > 0) & new).sum())
        over = max_new is not None and opened > max_new
        if over or any(int(y[district == d].sum()) != n for d, n in norms.items()):
            continue
        plans.append(float((w * (1 - q ** np.minimum(cover @ y, levels))).sum()) - 0.5 * opened)
    return max(plans, default=None)

@st.composite
def instances(
    draw: st.DrawFn, max_sites: int = 8, max_demand: int = 12
) -> tuple[np.ndarray, np.ndarray, int, float]:
    """Dense instances ``(D, w, p, T)``: every pair exists, integer minutes (ties, zeros)."""
    n_s = draw(st.integers(2, max_sites))
    n_d = draw(st.integers(1, max_demand))
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    # integer minutes make ties (and 0-minute pairs) common: the hard cases
    D = rng.integers(0, 15, (n_d, n_s)).astype(float)
    w = rng.integers(0, 10, n_d).astype(float)
    p = draw(st.integers(1, n_s))
    T = float(draw(st.integers(0, 14)))
    return D, w, p, T
