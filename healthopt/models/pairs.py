"""Sparse site–demand travel pairs: the one input form every location model builds from.

:class:`TravelPairs` lists the pairs that exist (site index, demand index, minutes);
pairs that are not listed are beyond reach. A 0-minute pair is a real pair: explicit
zeros of sparse input are kept (``tocoo`` keeps them; ``nonzero`` would not).

Orientation: :meth:`TravelPairs.from_cost_matrix` takes spopt's **demand × sites** matrix
(rows are demand points, columns candidate sites); :meth:`TravelPairs.from_travel_times`
takes an object whose ``.matrix`` is **sites × demand** (as written by
``healthopt.traveltime``). Both end up as the same list of pairs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from healthopt.errors import InputError


@dataclass
class TravelPairs:
    """Reachable site–demand pairs in coordinate form.

    Attributes
    ----------
    site, demand : numpy.ndarray of int64
        Site and demand index of each pair.
    time : numpy.ndarray of float64
        Travel time (minutes, or the cost unit of the input) of each pair.
    n_sites, n_demand : int
        Problem dimensions.
    coverage_fn : callable or None
        ``coverage_fn(minutes)`` -> sites × demand boolean csr of pairs within the standard
        (taken from a travel-time object's ``.coverage``); used instead of ``time <= minutes``.
    """

    site: np.ndarray
    demand: np.ndarray
    time: np.ndarray
    n_sites: int
    n_demand: int
    coverage_fn: Callable[[float], Any] | None = None

    # ------------------------------------------------------------------ constructors
    @classmethod
    def from_cost_matrix(cls, cost_matrix: Any, reachable: Any = None, cutoff: float | None = None) -> TravelPairs:
        """Pairs from a spopt-style **demand × facilities** matrix.

        ``cost_matrix`` may be a dense array (``inf``/``nan`` = unreachable), a scipy sparse
        matrix (stored entries are the reachable pairs, explicit zeros included), or an
        object with a ``.matrix`` attribute (then it is a travel-time object, **sites ×
        demand**; see :meth:`from_travel_times`). ``reachable`` (boolean, same shape as
        ``cost_matrix``) names the pairs that exist explicitly — use it when a sparse matrix
        had its zeros eliminated. ``cutoff`` drops pairs slower than it (models that only
        use pairs within a standard pass it, so a dense matrix is never expanded in full).
        """
        if travel_time_matrix(cost_matrix) is not None:
            return cls.from_travel_times(cost_matrix, cutoff)
        if reachable is not None:
            mask = sp.coo_matrix(reachable)
            keep = mask.data.astype(bool)
            d, s = mask.row[keep].astype(np.int64), mask.col[keep].astype(np.int64)
            if sp.issparse(cost_matrix):
                t = np.asarray(sp.csr_matrix(cost_matrix)[d, s], dtype=float).ravel()
            else:
                t = np.asarray(cost_matrix, dtype=float)[d, s]
            n_d, n_s = mask.shape
        elif sp.issparse(cost_matrix):
            coo = sp.coo_matrix(cost_matrix)
            coo.sum_duplicates()
            d, s = coo.row.astype(np.int64), coo.col.astype(np.int64)
            t = coo.data.astype(float)
            n_d, n_s = coo.shape
        else:
            arr = np.asarray(cost_matrix, dtype=float)
            if arr.ndim != 2:
                raise InputError(None, "cost_matrix", f"must be 2-D (demand × facilities), got shape {arr.shape}")
            ok = np.isfinite(arr) if cutoff is None else arr <= cutoff
            d, s = np.nonzero(ok)
            t = arr[d, s]
            d, s = d.astype(np.int64), s.astype(np.int64)
            n_d, n_s = arr.shape
        keep = np.isfinite(t) if cutoff is None else t <= cutoff
        pairs = cls(s[keep], d[keep], t[keep], int(n_s), int(n_d))
        pairs._validate("cost_matrix")
        return pairs.sorted()

    @classmethod
    def from_travel_times(cls, tt: Any, cutoff: float | None = None) -> TravelPairs:
        """Pairs from a travel-time object: csr ``.matrix`` (sites × demand, minutes).

        ``healthopt.traveltime.TravelTimes`` (attribute ``.minutes``) is accepted too.

        Explicit zeros of ``.matrix`` are real 0-minute pairs. If the object has
        ``.coverage(minutes)``, coverage tests use it (and pairs it reports that are missing
        from ``.matrix`` — eliminated zeros — are added with time 0).
        """
        M = travel_time_matrix(tt)
        if M is None:
            raise InputError(None, "travel_times", "expected an object with a sparse `.matrix` (sites × demand)")
        if sp.issparse(M):
            coo = sp.coo_matrix(M)
            coo.sum_duplicates()
            s, d, t = coo.row.astype(np.int64), coo.col.astype(np.int64), coo.data.astype(float)
        else:
            arr = np.asarray(M, dtype=float)
            s, d = np.nonzero(np.isfinite(arr))
            t = arr[s, d]
        n_s, n_d = M.shape
        for attr, n in (("site_ids", n_s), ("demand_ids", n_d)):
            ids = getattr(tt, attr, None)
            if ids is not None and len(ids) != n:
                raise InputError(
                    None,
                    f"travel_times.{attr}",
                    f"has {len(ids)} entries but the matrix has {n} "
                    f"{attr.split('_')[0]} rows/columns (the matrix must be sites × demand)",
                )
        keep = np.isfinite(t) if cutoff is None else t <= cutoff
        cov = getattr(tt, "coverage", None)
        pairs = cls(s[keep], d[keep], t[keep], int(n_s), int(n_d), cov if callable(cov) else None)
        pairs._validate("travel_times.matrix")
        return pairs.sorted()

    def _validate(self, field_name: str) -> None:
        if self.time.size and self.time.min() < 0:
            raise InputError(None, field_name, "travel times must not be negative")

    # ------------------------------------------------------------------ helpers
    def sorted(self) -> TravelPairs:
        """Return the pairs sorted by (demand, time, site) — nearest site first per demand."""
        order = np.lexsort((self.site, self.time, self.demand))
        return TravelPairs(
            self.site[order],
            self.demand[order],
            self.time[order],
            self.n_sites,
            self.n_demand,
            self.coverage_fn,
        )

    def keys(self) -> np.ndarray:
        """Return one int64 key per pair (``site * n_demand + demand``)."""
        return self.site * np.int64(self.n_demand) + self.demand

    def within(self, minutes: float) -> np.ndarray:
        """Boolean mask of the pairs within ``minutes`` (uses ``coverage_fn`` when present)."""
        if self.coverage_fn is None:
            return self.time <= minutes
        cov = sp.coo_matrix(self.coverage_fn(minutes))
        ck = cov.row[cov.data.astype(bool)].astype(np.int64) * np.int64(self.n_demand) + cov.col[
            cov.data.astype(bool)
        ].astype(np.int64)
        return np.isin(self.keys(), ck)

    def add_covered_pairs(self, minutes: float) -> TravelPairs:
        """Add pairs that ``coverage_fn(minutes)`` reports but the matrix lost (time 0)."""
        if self.coverage_fn is None:
            return self
        cov = sp.coo_matrix(self.coverage_fn(minutes))
        keep = cov.data.astype(bool)
        ck = cov.row[keep].astype(np.int64) * np.int64(self.n_demand) + cov.col[keep].astype(np.int64)
        missing = ck[~np.isin(ck, self.keys())]
        if missing.size == 0:
            return self
        s, d = np.divmod(missing, np.int64(self.n_demand))
        return TravelPairs(
            np.concatenate([self.site, s]),
            np.concatenate([self.demand, d]),
            np.concatenate([self.time, np.zeros(missing.size)]),
            self.n_sites,
            self.n_demand,
            self.coverage_fn,
        ).sorted()

    def subset(self, mask: np.ndarray) -> TravelPairs:
        """Pairs where ``mask`` is true (order kept)."""
        return TravelPairs(
            self.site[mask],
            self.demand[mask],
            self.time[mask],
            self.n_sites,
            self.n_demand,
            self.coverage_fn,
        )

    def incidence(self, mask: np.ndarray | None = None) -> sp.csr_matrix:
        """Demand × sites 0/1 csr of the pairs (optionally only where ``mask``)."""
        d = self.demand if mask is None else self.demand[mask]
        s = self.site if mask is None else self.site[mask]
        M = sp.csr_matrix((np.ones(d.size), (d, s)), shape=(self.n_demand, self.n_sites))
        M.sum_duplicates()
        M.data[:] = 1.0
        return M


def travel_time_matrix(obj: Any) -> Any:
    """Return the sites × demand matrix of a travel-time object (``.matrix``/``.minutes``)."""
    if sp.issparse(obj) or isinstance(obj, np.ndarray):
        return None
    for attr in ("matrix", "minutes"):
        M = getattr(obj, attr, None)
        if M is not None and (sp.issparse(M) or isinstance(M, np.ndarray)):
            return M
    return None


def pair_time_lookup(pairs: TravelPairs, d_idx: np.ndarray, s_idx: np.ndarray) -> np.ndarray:
    """Travel time of each (demand, site) pair in ``d_idx``/``s_idx`` (``nan`` where no pair)."""
    keys = pairs.keys()
    order = np.argsort(keys)
    q = s_idx.astype(np.int64) * np.int64(pairs.n_demand) + d_idx.astype(np.int64)
    pos = np.searchsorted(keys[order], q)
    pos = np.clip(pos, 0, max(keys.size - 1, 0))
    found = keys[order][pos] == q if keys.size else np.zeros(q.size, dtype=bool)
    return np.where(found, pairs.time[order][pos] if keys.size else 0.0, np.nan)


__all__ = ["TravelPairs", "pair_time_lookup", "travel_time_matrix"]
