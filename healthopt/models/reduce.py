r"""Exact problem reductions for the covering models (LSCP, MCLP).

* **Dominated sites.** Site ``j`` is dominated by site ``k`` when every demand group
  ``j`` covers is covered by ``k`` too and ``k`` costs no more. Among equal sites the
  lowest index stays. The relation (cover subset, cost, then index) is a strict partial
  order, so every dominated site has an undominated dominator and swapping it in never
  loses coverage nor adds cost: closing dominated sites keeps an optimum. Sites that
  must open (fixed) are never removed, and the callers only reduce when no rule other
  than coverage, cost, the site count and district shares acts on the sites (no
  capacities, no plan extensions), and keep at least ``p`` sites.
* **Implied rows (LSCP).** A demand group whose set of covering sites contains another
  group's set is covered whenever that group is: its row ``Σ y ≥ 1`` is implied.
  Searched smallest rows first, in batches, within a deterministic work cap.

Both work on the group × sites incidence after identical demand rows were merged
(:func:`healthopt.milp.problem.group_identical_rows`).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

#: Batches of candidate subset rows the implied-row search takes at most (a work cap that
#: keeps the result deterministic; the marks are exact whenever it stops).
MAX_BATCHES = 64


def dominated_sites(inc: sp.csr_matrix, costs: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """Boolean mask of the sites dominated by another site (see the module docstring).

    Parameters
    ----------
    inc : scipy.sparse.csr_matrix
        Group × sites 0/1 incidence of the allowed sites within the standard (columns of
        sites that may not open are empty).
    costs : numpy.ndarray
        Opening cost of each site (use ones for "number of sites").
    keep : numpy.ndarray of bool
        Sites that may not be removed (fixed, or not allowed anyway).

    Returns
    -------
    numpy.ndarray of bool
        ``True`` where the site can be closed without losing an optimum.
    """
    inc = sp.csr_matrix(inc, dtype=np.float64)
    size = np.asarray(inc.sum(axis=0)).ravel()
    overlap = (inc.T @ inc).tocoo()
    j, k, ov = overlap.row, overlap.col, overlap.data
    subset = (j != k) & (np.abs(ov - size[j]) < 0.5)
    cj, ck = costs[j], costs[k]
    strict = (size[k] > size[j] + 0.5) | (ck < cj) | (k < j)
    dom_pair = subset & (cj >= ck) & strict
    dominated = np.zeros(inc.shape[1], dtype=bool)
    dominated[j[dom_pair]] = True
    # a site covering nothing is dominated by any site that covers something at no more cost
    useful = size > 0
    if useful.any():
        dominated |= ~useful & (costs >= costs[useful].min())
    return dominated & ~keep


def implied_rows(inc: sp.csr_matrix, batch: int = 64, max_batches: int = MAX_BATCHES) -> np.ndarray:
    """Boolean mask of rows implied by another row (their site set strictly contains another's).

    Rows are taken smallest first, ``batch`` at a time, as candidate subsets ``b``; every
    remaining row ``a`` with ``|a ∩ b| = |b| < |a|`` is marked. A row can only contain
    smaller rows, and every marked row contains a minimal row, which is never marked, so
    the marks are exact however early the search stops (after ``max_batches`` batches,
    a deterministic cap). Rows must be distinct (identical rows merged first).
    """
    inc = sp.csr_matrix(inc, dtype=np.float64)
    n_rows = inc.shape[0]
    size = np.diff(inc.indptr)
    implied = np.zeros(n_rows, dtype=bool)
    order = np.flatnonzero(size > 0)
    order = order[np.argsort(size[order], kind="stable")]
    done = np.zeros(n_rows, dtype=bool)
    pos = 0
    for _ in range(max_batches):
        while pos < order.size and (implied[order[pos]] or done[order[pos]]):
            pos += 1
        if pos >= order.size:
            break
        cand = order[pos:]
        b = cand[~implied[cand] & ~done[cand]][:batch]
        done[b] = True
        alive = np.flatnonzero(~implied & (size > size[b].min()))
        if alive.size == 0:
            break
        overlap = (inc[alive] @ inc[b].T).tocoo()
        a_idx, b_idx = alive[overlap.row], b[overlap.col]
        hit = (np.abs(overlap.data - size[b_idx]) < 0.5) & (size[a_idx] > size[b_idx])
        implied[a_idx[hit]] = True
    return implied


__all__ = ["MAX_BATCHES", "dominated_sites", "implied_rows"]
