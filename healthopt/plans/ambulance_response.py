r"""Spare ambulances where they cut the expected response time most.

Expected coverage counts a call as reached once enough ambulances are within the standard;
beyond the levels that matter (:data:`healthopt.plans.ambulances.LEVEL_TAIL`) further
vehicles add nothing to it, so the solver may leave them anywhere within their district.
:func:`place_spare_vehicles` then moves such vehicles, one at a time, between the plan's
stations of a district to where they cut the calls' expected response time most, as long
as the expected coverage stays within ``tol`` of the plan's.

Expected response time of demand point :math:`i`, its stations sorted by travel time
:math:`t_1 \le t_2 \le \dots` with :math:`v_m` vehicles each busy with probability
:math:`b_m` (the plan's hypercube busy probabilities, independent):

.. math::

    E[T_i] = \sum_m \Big(\prod_{l<m} b_l^{v_l}\Big)(1 - b_m^{v_m})\, t_m
             + \Big(\prod_m b_m^{v_m}\Big)\, 2 S_i

with :math:`S_i` the point's response standard (a call with no free ambulance within the
travel-time cutoff is counted at twice the standard).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import scipy.sparse as sp

__all__ = ["ResponseModel", "place_spare_vehicles"]


class ResponseModel:
    """Calls × expected response minutes of a plan's vehicle vector, on a fixed set of stations.

    Parameters
    ----------
    minutes : scipy.sparse.csr_matrix
        Sites × demand travel times (stored entries within the travel-time cutoff).
    calls : ndarray
        Expected calls per demand point.
    standard : ndarray
        Response standard of each demand point (minutes).
    stations : ndarray of bool
        Sites of the plan (the set stays fixed).
    busy : ndarray
        Busy probability of each site's vehicles.
    """

    def __init__(self, *, minutes: sp.csr_matrix, calls: np.ndarray, standard: np.ndarray,
                 stations: np.ndarray, busy: np.ndarray) -> None:
        coo = sp.coo_matrix(minutes)
        keep = stations[coo.row] & (calls[coo.col] > 0)
        site, dem, t = coo.row[keep], coo.col[keep], coo.data[keep]
        order = np.lexsort((site, t, dem))
        self.site, self.dem, self.t = site[order], dem[order], t[order]
        self.calls = np.asarray(calls, float)
        self.penalty = 2.0 * np.asarray(standard, float)
        self.log_busy = np.log(np.clip(np.asarray(busy, float), 1e-12, 1.0))
        n = self.calls.size
        self.by_site = sp.csc_matrix((np.ones(self.site.size), (self.dem, self.site)), shape=(n, minutes.shape[0]))
        self.points = np.flatnonzero(self.calls > 0)

    def total(self, v: np.ndarray, points: np.ndarray | None = None) -> float:
        """Return the calls × expected response minutes of ``v`` (over ``points``, default all with calls)."""
        return self.part(self.points if points is None else points).total(v)

    def part(self, points: np.ndarray) -> _Part:
        """Return the model restricted to ``points`` (their pairs with every station)."""
        sel = np.isin(self.dem, points)
        return _Part(self.site[sel], self.dem[sel], self.t[sel], self.calls, self.penalty, self.log_busy,
                     np.asarray(points, dtype=np.int64))

    def touched(self, sites: np.ndarray) -> np.ndarray:
        """Return the demand points with one of ``sites`` within the cutoff."""
        idx = [self.by_site.indices[self.by_site.indptr[j] : self.by_site.indptr[j + 1]] for j in sites]
        return np.unique(np.concatenate(idx)) if idx else np.zeros(0, np.int64)


class _Part:
    """The response model on some demand points (sorted pairs, exclusive products per point)."""

    def __init__(self, site: np.ndarray, dem: np.ndarray, t: np.ndarray, calls: np.ndarray, penalty: np.ndarray,
                 log_busy: np.ndarray, points: np.ndarray) -> None:
        self.site, self.t, self.log_busy = site, t, log_busy
        self.start = np.r_[0, np.flatnonzero(np.diff(dem)) + 1] if dem.size else np.zeros(0, np.int64)
        self.size = np.diff(np.r_[self.start, dem.size])
        self.ends = self.start + self.size - 1
        self.owner = dem
        reached = np.zeros(calls.size, dtype=bool)
        reached[dem] = True
        self.reached_calls = calls[dem[self.start]] if dem.size else np.zeros(0)
        self.reached_penalty = penalty[dem[self.start]] if dem.size else np.zeros(0)
        unreached = points[~reached[points]]
        self.unreached = float(calls[unreached] @ penalty[unreached])  # no station within the cutoff
        self.calls = calls

    def total(self, v: np.ndarray) -> float:
        """Return the calls × expected response minutes of ``v`` on these points."""
        if self.site.size == 0:
            return self.unreached
        lb = v[self.site] * self.log_busy[self.site]  # log P(all vehicles of the station busy)
        cs = np.cumsum(lb)
        base = np.repeat(cs[self.start] - lb[self.start], self.size)
        before = cs - lb - base  # exclusive cumulative sum within each point
        contrib = np.exp(before) * (1.0 - np.exp(lb)) * self.t
        reach = np.add.reduceat(contrib, self.start)
        p_none = np.exp(cs[self.ends] - base[self.ends])
        return float(self.reached_calls @ (reach + p_none * self.reached_penalty)) + self.unreached


def place_spare_vehicles(*, v: np.ndarray, district: np.ndarray, cap: np.ndarray, floor: np.ndarray,
                         response: ResponseModel, coverage: Callable[[np.ndarray], float], tol: float,
                         max_moves: int) -> tuple[np.ndarray, list[dict[str, float]]]:
    """Move single vehicles between a district's stations while the expected response time falls.

    Parameters
    ----------
    v : ndarray
        Vehicles per site (the solved plan); stations keep at least one vehicle (and
        ``floor``), so the station set and each district's fleet stay as solved.
    district, cap, floor : ndarray
        District, vehicle capacity and least vehicles of each site.
    response : ResponseModel
        Calls × expected response minutes.
    coverage : callable
        Expected coverage of a vehicle vector (the model's objective without tie-breaks).
    tol : float
        How much expected coverage a move may lose at most (in the objective's units).
    max_moves : int
        Cap on the moves.

    Returns
    -------
    v : ndarray
        The new vehicle vector.
    moves : list of dict
        ``from``, ``to`` (site positions) and ``minutes_saved`` (calls × minutes) per move.
    """
    v = np.asarray(v, dtype=np.int64).copy()
    base_cover = coverage(v)
    moves: list[dict[str, float]] = []
    parts = {d: response.part(response.touched(np.flatnonzero((district == d) & (v > 0))))
             for d in np.unique(district[v > 0])}
    for _ in range(max_moves):
        best: tuple[float, int, int] | None = None
        for d, part in parts.items():
            st = np.flatnonzero((district == d) & (v > 0))
            if st.size < 2:
                continue
            now = part.total(v)
            # one vehicle less at a / more at b: the estimate ranks pairs, the exact total decides
            lose = {int(a): part.total(_plus(v, a, -1)) - now for a in st[v[st] > np.maximum(floor[st], 1)]}
            gain = {int(b): now - part.total(_plus(v, b, 1)) for b in st[v[st] < cap[st]]}
            pairs = sorted(((gain[b] - lose[a], a, b) for a in lose for b in gain if a != b), reverse=True)
            for est, a, b in pairs[:TRIES]:
                if est <= 1e-9:
                    break
                w = _plus(_plus(v, a, -1), b, 1)
                saved = now - part.total(w)
                if saved > 1e-9 and (best is None or saved > best[0]) and coverage(w) >= base_cover - tol:
                    best = (saved, a, b)
        if best is None:
            break
        saved, a, b = best
        v = _plus(_plus(v, a, -1), b, 1)
        moves.append({"from": a, "to": b, "minutes_saved": saved})
    return v, moves


#: Station pairs of a district tried exactly per move (best estimates first).
TRIES = 5


def _plus(v: np.ndarray, j: int, k: int) -> np.ndarray:
    out = v.copy()
    out[j] += k
    return out
