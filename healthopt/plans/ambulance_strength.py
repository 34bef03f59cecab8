r"""A tighter MEXCLP link for the ambulance plan: effective vehicles per station.

Why: the ambulance MIP's LP relaxation charges a station only :math:`v_j / cap_j`
(``open_j >= v_j / 8``), so it spreads fractions of stations over ~105 sites and never feels
the new-station limit; the proof then stalls (0.045 % after 120 s on the Taiyuan baseline).

What: a demand group has at most :math:`K_g` coverage levels, so the vehicles of station
``j`` beyond :math:`K_j = \max_{g \ni j} K_g` add nothing to any group it reaches. With
effective vehicles :math:`e_j \le v_j`, :math:`e_j \le K_j \cdot open_j`, the link
:math:`\sum_k u_{gk} \le \sum_{j \in N_g} v_j` becomes :math:`\sum_k u_{gk} \le \sum_{j \in N_g} e_j`.
Integer plans are the same (take :math:`e_j = \min(v_j, K_j)`: a group's levels never
exceed :math:`\min(K_g, \sum_j v_j) \le \sum_j \min(v_j, K_j)`), but the relaxation now
pays :math:`v_j / K_j` of a station for coverage instead of :math:`v_j / cap_j`.

Measured (``benchmarks/bench_ambulances.py``): on the baseline (K = 4, 8 vehicles per
station) the gap proven within 120 s falls from 0.045 % to 0.037 %; 0.01 % is still not
proven by either formulation within 120 s.

A second family, :func:`add_first_level_cut`, says a group's first coverage level needs an
open station within reach: :math:`u_{g1} \le \sum_{j \in N_g} open_j`. Valid for every
integer plan (a group with a vehicle within reach has an open station within reach), it
stops the relaxation from buying first-level coverage with a sixth of a station; the first
level carries ~93 % of the objective, so the relaxation becomes the maximal covering LP
with the station limit. Measured on the baseline (10 / 18 min travel, 60 new stations):
without it the root bound is 0.53 % above the start and 0.17 % remains after 120 s; with it
the root bound is 0.11 % above and HiGHS proves 0.05 % in 39 s.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import scipy.sparse as sp

from healthopt.milp.problem import MilpProblem
from healthopt.models.expected import level_layout

__all__ = ["add_effective_vehicles", "add_first_level_cut"]


def add_effective_vehicles(p: MilpProblem, cap: np.ndarray, *, link: str = "expected_coverage",
                           vehicles: str = "v", levels: str = "y", opened: str = "open",
                           block: str = "e") -> np.ndarray | None:
    r"""Rewrite the MEXCLP link rows of ``p`` on effective vehicles; return :math:`\min(cap_j, K_j)`.

    Parameters
    ----------
    p : MilpProblem
        Problem holding the vehicle, level and station blocks and the link group.
    cap : numpy.ndarray
        Vehicles each station can hold.
    link, vehicles, levels, opened, block : str
        Names of the link group, the blocks it uses, and the new block.

    Returns
    -------
    numpy.ndarray or None
        The upper bound of each effective-vehicle variable (a start sets
        ``e = min(v, bound)``), or ``None`` when nothing changed: no link group, a block
        already there, or a row not of the kernel's form (+1 on levels, -1 on vehicles).
    """
    group = p.groups.get(link)
    if group is None or block in p.blocks or not group.blocks:
        return None
    vb, yb = p.blocks[vehicles], p.blocks[levels]
    rows, cols, vals = (np.concatenate([getattr(b, f) for b in group.blocks]) for f in ("rows", "cols", "vals"))
    offsets = np.cumsum([0] + [b.n_rows for b in group.blocks])
    rows = rows + np.repeat(offsets[:-1], [b.rows.size for b in group.blocks])
    on_v = (cols >= vb.start) & (cols < vb.start + vb.size)
    on_y = (cols >= yb.start) & (cols < yb.start + yb.size)
    if not (np.all(on_v | on_y) and np.all(vals[on_v] == -1.0) and np.all(vals[on_y] == 1.0)):
        return None
    if not all(np.all(b.ub == 0.0) and np.all(np.isinf(b.lb)) for b in group.blocks):
        return None
    per_row = np.bincount(rows[on_y], minlength=int(offsets[-1]))
    k_site = np.zeros(vb.size)
    np.maximum.at(k_site, cols[on_v] - vb.start, per_row[rows[on_v]])
    bound = np.minimum(np.asarray(cap, dtype=float), k_site)
    e = p.add_variables(block, vb.size, ub=bound)
    for b in group.blocks:
        b.cols = np.where((b.cols >= vb.start) & (b.cols < vb.start + vb.size), b.cols - vb.start + e.start, b.cols)
    eye = sp.identity(vb.size, format="csr")
    p.add_constraints("effective_le_v", {block: eye, vehicles: -eye}, ub=0.0, relaxable=False,
                      description="coverage counts only vehicles that are there")
    p.add_constraints("effective_le_levels", {block: eye, opened: -sp.diags(bound)}, ub=0.0, relaxable=False,
                      description="coverage counts at most as many vehicles of a station as a group has levels")
    return bound


def with_effective_bound(p: MilpProblem, bound: np.ndarray, *, block: str = "e", opened: str = "open",
                         group: str = "effective_le_levels") -> MilpProblem:
    """Return a copy of ``p`` whose effective vehicles are bounded by ``bound`` (bounds and rows, as built).

    A fixed-point round's LP restarts from the last round's basis through this copy with the
    last round's bounds (:class:`healthopt.milp.lp_first.LpWarm`).
    """
    q = p.copy()
    q.set_bounds(block, ub=bound)
    ob = p.blocks[opened]
    rows = []
    for b in q.groups[group].blocks:
        on_open = (b.cols >= ob.start) & (b.cols < ob.start + ob.size)
        vals = b.vals.copy()
        vals[on_open] = -np.asarray(bound, dtype=float)[b.cols[on_open] - ob.start]
        rows.append(replace(b, vals=vals))
    q.groups[group].blocks = rows
    return q


def add_first_level_cut(p: MilpProblem, cover: sp.csr_matrix, levels: np.ndarray, *, level_block: str = "y",
                        opened: str = "open") -> None:
    r"""Add :math:`u_{g1} \le \sum_{j \in N_g} open_j` for every group ``g`` (rows of ``cover``).

    Parameters
    ----------
    p : MilpProblem
        Problem holding the level and station blocks.
    cover : scipy.sparse.csr_matrix
        Groups × sites incidence (1 where the site reaches the group).
    levels : numpy.ndarray
        Coverage levels of each group, in the order of the level block.
    level_block, opened : str
        Names of the level and station blocks.
    """
    G = cover.shape[0]
    first = level_layout(levels)[0]
    Y = sp.csr_matrix((np.ones(G), (np.arange(G), first)), shape=(G, p.blocks[level_block].size))
    p.add_constraints("first_level_open", {level_block: Y, opened: -sp.csr_matrix(cover, dtype=float)}, ub=0.0,
                      relaxable=False, description="a group's first coverage level needs an open station within reach")
