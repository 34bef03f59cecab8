"""A start for the ambulance MIP: Daskin's greedy MEXCLP placement, then a local search.

:func:`greedy_vehicles` places ambulances one at a time where expected coverage grows most;
:class:`VehicleSearch` then moves vehicles and stations while that raises expected coverage;
:func:`greedy_negative_pressure` puts the negative-pressure share at the largest catchments.
With a solver time limit the ambulance plan is never worse than this start.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from healthopt.plans.ambulance_existing import start_floors
from healthopt.plans.ambulance_rules import AmbulanceRules


def coverage_table(plan: AmbulanceRules, groups: int) -> np.ndarray:
    """Coverage share of each MEXCLP group at 0, 1, ... vehicles within reach (the MIP's objective per unit weight).

    The model's build sets :attr:`AmbulanceRules.mexclp_phi`; without it, Daskin's table
    ``1 - q^k`` with the constant busy fraction and ``max_levels`` levels.
    """
    if plan.mexclp_phi is not None and plan.mexclp_phi.shape[0] == groups:
        return plan.mexclp_phi
    K = max(int(plan.max_levels or 4), 1)
    q = float(plan.busy_fraction if plan.busy_fraction is not None else 0.0)
    return np.broadcast_to(1.0 - q ** np.arange(K + 1), (groups, K + 1))


def greedy_vehicles(plan: AmbulanceRules, cover: sp.csr_matrix, weight: np.ndarray) -> np.ndarray | None:
    """Place ambulances one at a time where expected coverage grows most.

    Districts below their fleet norm are served first; a new station is opened only while
    the new-station budget still leaves enough stations for the districts' remaining needs.
    """
    sites = plan.sites
    cap = sites["max_vehicles"].to_numpy(int)
    district = sites["district_code"].to_numpy()
    need = dict(zip(plan.norms["code"], plan.norms["min_vehicles"].astype(int), strict=True))
    existing = plan.required_open()
    # The MIP's new-station row counts every open site that is not an existing station, county
    # seats it requires included: count the same, or the greedy plan breaks that row.
    old_station = sites["existing"].to_numpy(bool)
    phi = coverage_table(plan, cover.shape[0])
    top = phi.shape[1] - 1
    coverT = sp.csr_matrix(cover.T)
    by_site = sp.csc_matrix(cover)
    v = np.zeros(len(sites), dtype=int)
    level = np.zeros(cover.shape[0])
    budget = plan.max_new_stations if plan.max_new_stations is not None else len(sites)

    def place(j: int) -> None:
        v[j] += 1
        need[district[j]] = need.get(district[j], 0) - 1
        level[by_site.indices[by_site.indptr[j] : by_site.indptr[j + 1]]] += 1

    floor, _ = start_floors(plan)  # mode expand: the existing fleet is placed first
    for kept in np.flatnonzero(existing | (floor > 0)):
        for _ in range(max(int(floor[kept]), 1)):
            place(int(kept))
    for _ in range(plan.fleet_cap - int(v.sum())):
        open_new = int(((v > 0) & ~old_station).sum())
        spare = {d: int(cap[(district == d) & (v > 0)].sum() - v[district == d].sum()) for d in need}
        reserve = {d: max(0, -(-max(need[d] - spare[d], 0) // int(cap.max()))) for d in need}
        short = {d for d, r in need.items() if r > 0}
        lv = np.minimum(level, top).astype(np.int64)
        marginal = weight * (phi[np.arange(lv.size), np.minimum(lv + 1, top)] - phi[np.arange(lv.size), lv])
        gain = coverT @ marginal
        eligible = v < cap
        if short:
            eligible &= np.isin(district, list(short))
        new_site = v == 0
        room = budget - open_new - sum(reserve.values())
        own_reserve = np.array([reserve.get(d, 0) > 0 for d in district])
        eligible &= ~new_site | (room > 0) | own_reserve
        if not eligible.any():
            return None
        j = int(np.flatnonzero(eligible)[np.argmax(gain[eligible])])
        place(j)
    if any(r > 0 for r in need.values()):
        return None
    return v


class VehicleSearch:
    """Local search on the ambulances per site, from the greedy MEXCLP plan.

    Daskin's greedy places one vehicle at a time and never undoes a station it opened; on the
    Taiyuan baseline it spends the new-station budget on urban stations that the counties
    need more, 1.4 % below the proven bound, and HiGHS improves neither that start nor its
    bound within minutes. Four kinds of move repair that: shift one vehicle to another site
    of its district; relocate a whole station within its district; transfer a station (its
    vehicles go to the other open stations of its district, and a vehicle from a station
    with at least two opens a site elsewhere); reseat (close a station, then let shifts and
    relocations settle the plan). Every move keeps each district's fleet, the station
    capacities, the kept existing stations, the county centres and the new-station budget,
    and is taken only if it raises expected coverage less the MIP's station tie-break (0.5
    per new station) by more than :attr:`TOL`. So the search ends, and it is deterministic
    (no clock): a solve that finishes gives the same plan every time.
    """

    #: Smallest improvement (in objective units, i.e. residents) a move must bring.
    TOL = 1e-6
    #: Sites tried per closed station in a transfer (best estimates first, then exact).
    TRANSFER_TRIES = 3
    #: Stations tried for a reseat (those whose closing loses least first).
    RESEAT_TRIES = 15
    #: Moves the plan may take to settle after a reseat's closing.
    SETTLE_MOVES = 200

    def __init__(self, plan: AmbulanceRules, cover: sp.csr_matrix, weight: np.ndarray) -> None:
        self.cover = sp.csr_matrix(cover, dtype=np.int64)
        self.weight = np.asarray(weight, dtype=float)
        self.by_site = sp.csc_matrix(self.cover)
        self.coverT = coverT = sp.csr_matrix(self.cover.T, dtype=float)
        self.phi_table = coverage_table(plan, self.cover.shape[0])  # coverage share per group at level 0..K
        self.pen = plan.open_penalty()  # the MIP's cost of opening each site
        sites = plan.sites
        self.district = sites["district_code"].to_numpy()
        # Gains are needed only at the sites of one district: its rows of cover^T, kept apart.
        self.rows = {d: (idx, coverT[idx]) for d in pd.unique(self.district)
                     for idx in [np.flatnonzero(self.district == d)]}
        self.cap = sites["max_vehicles"].to_numpy(int)
        existing = sites["existing"].to_numpy(bool)
        self.new = ~existing
        self.floor = plan.required_open().astype(int)  # kept stations and county seats keep a vehicle
        if plan.relocate == "none" and not plan.allow_closing:  # mode expand: and their existing fleet
            self.floor = np.maximum(self.floor, start_floors(plan)[0])
        self.budget = np.inf if plan.max_new_stations is None else float(plan.max_new_stations)

    # ------------------------------------------------------------------ objective
    def _phi(self, level: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
        """Coverage share of each group (all, or ``rows``) at its (non-negative) level."""
        rows = np.arange(level.size) if rows is None else rows
        return self.phi_table[rows, np.minimum(level, self.phi_table.shape[1] - 1).astype(np.int64)]

    def score(self, v: np.ndarray) -> float:
        """Return the expected coverage of ``v`` less the MIP's cost of the stations opened."""
        v = np.rint(v).astype(np.int64)
        return float(self.weight @ self._phi(self.cover @ v)) - float(self.pen @ (v > 0))

    def _groups(self, j: int) -> np.ndarray:
        return self.by_site.indices[self.by_site.indptr[j] : self.by_site.indptr[j + 1]]

    def _gain(self, level: np.ndarray, k: int, district: Any = None) -> tuple[np.ndarray, np.ndarray]:
        """Sites (all, or those of ``district``) and the coverage that adding ``k`` vehicles there gains."""
        idx, M = (np.arange(self.cover.shape[1]), self.coverT) if district is None else self.rows[district]
        return idx, M @ (self.weight * (self._phi(level + k) - self._phi(level)))

    def _without(self, level: np.ndarray, j: int, k: int) -> tuple[np.ndarray, float]:
        """Levels after taking ``k`` vehicles from site ``j``, and the coverage that loses."""
        g = self._groups(j)
        after = level.copy()
        after[g] -= k
        return after, float(self.weight[g] @ (self._phi(level[g], g) - self._phi(after[g], g)))

    def _new_open(self, v: np.ndarray) -> int:
        return int(((v > 0) & self.new).sum())

    # ------------------------------------------------------------------ search
    def run(self, v: np.ndarray, max_moves: int) -> np.ndarray:
        """Apply the first kind of move that improves (shift, relocate, transfer, reseat) until none does."""
        return self._descend(v, (self._shift, self._relocate, self._transfer, self._reseat), max_moves)

    def _descend(self, v: np.ndarray, moves: tuple, max_moves: int) -> np.ndarray:
        v = np.asarray(v, dtype=np.int64).copy()
        for _ in range(max_moves):
            level = self.cover @ v
            move = next((m for find in moves if (m := find(v, level)) is not None), None)
            if move is None:
                break
            v = move
        return v

    def _shift(self, v: np.ndarray, level: np.ndarray) -> np.ndarray | None:
        """Best move of one vehicle to another site of the same district."""
        best, out, opened = self.TOL, None, self._new_open(v)
        for j in np.flatnonzero(v > self.floor).tolist():
            after, loss = self._without(level, j, 1)
            closes = bool(v[j] == 1 and self.new[j])
            idx, gain = self._gain(after, 1, self.district[j])
            opens = (v[idx] == 0) & self.new[idx]
            delta = gain - loss - self.pen[idx] * opens + self.pen[j] * closes
            ok = (v[idx] < self.cap[idx]) & (idx != j) & (~opens | (opened - closes < self.budget))
            t = _best(delta, ok)
            if t is not None and delta[t] > best:
                best, out = delta[t], _moved(v, j, idx[t], 1)
        return out

    def _relocate(self, v: np.ndarray, level: np.ndarray) -> np.ndarray | None:
        """Best move of a whole station to an empty site of the same district."""
        best, out, opened = self.TOL, None, self._new_open(v)
        for j in np.flatnonzero((v > 0) & (self.floor == 0)).tolist():
            after, loss = self._without(level, j, v[j])
            idx, gain = self._gain(after, v[j], self.district[j])
            delta = gain - loss - self.pen[idx] + self.pen[j]
            ok = (v[idx] == 0) & (self.cap[idx] >= v[j]) & (opened - self.new[j] + self.new[idx] <= self.budget)
            t = _best(delta, ok)
            if t is not None and delta[t] > best:
                best, out = delta[t], _moved(v, j, idx[t], v[j])
        return out

    def _transfer(self, v: np.ndarray, level: np.ndarray) -> np.ndarray | None:
        """Best closing of a station whose place another site (any district) takes."""
        base, best, out = self.score(v), self.TOL, None
        for j in np.flatnonzero((v > 0) & (self.floor == 0)).tolist():
            closed = self._close(v, level, j)
            if closed is None:
                continue
            for cand in self._openings(closed, v):
                delta = self.score(cand) - base
                if delta > best:
                    best, out = delta, cand
        return out

    def _reseat(self, v: np.ndarray, level: np.ndarray) -> np.ndarray | None:
        """First closing of a station after which shifts and relocations give a better plan.

        A transfer re-places the closed station's vehicles greedily and moves one vehicle; on
        the Taiyuan baseline an urban station can give way at almost no loss only when several
        vehicles of its district move, which this compound move lets the other moves do.
        """
        base = self.score(v)
        closings = [(self.score(c), j, c) for j in np.flatnonzero((v > 0) & (self.floor == 0)).tolist()
                    if (c := self._close(v, level, j)) is not None]
        for _, _, closed in sorted(closings, key=lambda t: (-t[0], t[1]))[: self.RESEAT_TRIES]:
            settled = self._descend(closed, (self._shift, self._relocate), self.SETTLE_MOVES)
            if self.score(settled) > base + self.TOL:
                return settled
        return None

    def _close(self, v: np.ndarray, level: np.ndarray, j: int) -> np.ndarray | None:
        """Close ``j``; its vehicles go one by one where they add most among its district's open stations."""
        idx = self.rows[self.district[j]][0]
        v2 = v.copy()
        v2[j] = 0
        if int((self.cap - v2)[idx][v2[idx] > 0].sum()) < v[j]:
            return None
        level, _ = self._without(level, j, v[j])
        for _ in range(int(v[j])):
            idx, gain = self._gain(level, 1, self.district[j])
            b = _best(gain, (v2[idx] > 0) & (v2[idx] < self.cap[idx]))
            assert b is not None  # the room check above leaves a place for every vehicle
            t = int(idx[b])
            v2[t] += 1
            level[self._groups(t)] += 1
        return v2

    def _openings(self, v2: np.ndarray, v: np.ndarray) -> list[np.ndarray]:
        """Plans opening an empty site with one vehicle from its district's cheapest station of 2 or more."""
        level = self.cover @ v2
        _, add = self._gain(level, 1)
        lose = self.coverT @ (self.weight * (self._phi(level) - self._phi(np.maximum(level - 1, 0))))
        donors = v2 >= 2  # the donor stays open
        cheapest = {d: ks[np.argmin(lose[ks])] for d, (idx, _) in self.rows.items()
                    if (ks := idx[donors[idx]]).size}
        ok = (v2 == 0) & (v == 0) & np.isin(self.district, list(cheapest))
        ok &= self._new_open(v2) + self.new <= self.budget
        donor = np.array([cheapest.get(d, 0) for d in self.district])
        estimate = np.where(ok, add - lose[donor] - self.pen, -np.inf)
        tries = [t for t in np.argsort(-estimate, kind="stable")[: self.TRANSFER_TRIES] if ok[t]]
        return [_moved(v2, donor[t], t, 1) for t in tries]


def _best(values: np.ndarray, ok: np.ndarray) -> int | None:
    """Index of the largest of ``values`` where ``ok`` (first on ties), or ``None``."""
    if not ok.any():
        return None
    idx = np.flatnonzero(ok)
    return int(idx[np.argmax(values[idx])])


def _moved(v: np.ndarray, source: int, target: int, k: int) -> np.ndarray:
    out = v.copy()
    out[source] -= k
    out[target] += k
    return out


def greedy_negative_pressure(plan: AmbulanceRules, v: np.ndarray) -> np.ndarray:
    """Negative-pressure vehicles at the stations with the largest catchments, just enough."""
    share = plan.negative_pressure_share
    n = np.zeros_like(v)
    order = np.argsort(-plan.catchment_population(), kind="stable")
    district = plan.sites["district_code"].to_numpy()
    if plan.per_district_negative_pressure:
        for d in np.unique(district[v > 0]):
            want = math.ceil(share * v[district == d].sum() - 1e-9)
            for j in order[district[order] == d]:
                take = min(v[j] - n[j], want)
                n[j] += take
                want -= take
    want = math.ceil(share * v.sum() - 1e-9) - int(n.sum())
    for j in order:
        if want <= 0:
            break
        take = min(v[j] - n[j], want)
        n[j] += take
        want -= take
    return n
