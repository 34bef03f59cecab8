r"""Multi-period problems: one copy of a single-period problem per period, linked by monotone stocks.

A phased plan (stations and vehicles added year by year, never taken away) is the
single-year problem repeated once per period :math:`t = 1..T`, with every period's rows kept
and, for each *stock* block :math:`x` (stations open, vehicles per station),

.. math:: x^{(t)} \ge x^{(t-1)}, \qquad t = 2..T,

and the objective :math:`\sum_t w_t \, c_t^\top x^{(t)}` (each period's own objective
vector, weighted). Period budgets are the periods' own rows: a per-year budget on what is
*added* is a cumulative cap in each period's copy, because stocks only grow.

Solving the periods one after the other, each starting from the last (myopic phasing), gives
a plan that is feasible for the stacked problem, so the stacked optimum is never worse; it is
also the MIP start (:func:`sequential_start`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from healthopt.errors import InputError
from healthopt.milp.problem import ConstraintGroup, MilpProblem, RowBlock

__all__ = ["StackedProblem", "sequential_start", "stack_periods"]


def _name(block: str, t: int) -> str:
    return f"{block}@{t}"


@dataclass
class StackedProblem:
    """A stacked problem and where each period's variables sit in it.

    Attributes
    ----------
    problem : MilpProblem
        Variables of period ``t`` are the blocks ``"<name>@<t>"``; rows likewise.
    periods : list of MilpProblem
        The single-period problems, in order (unchanged).
    offsets : list of int
        Start of period ``t``'s variables in the stacked vector.
    """

    problem: MilpProblem
    periods: list[MilpProblem]
    offsets: list[int]

    def period_x(self, x: np.ndarray, t: int) -> np.ndarray:
        """Return the part of a stacked solution ``x`` that is period ``t``'s (a vector for ``periods[t]``)."""
        return np.asarray(x)[self.offsets[t]: self.offsets[t] + self.periods[t].n_vars]

    def stacked_x(self, parts: Sequence[np.ndarray]) -> np.ndarray:
        """Join one vector per period into a stacked vector."""
        return np.concatenate([np.asarray(p, dtype=float) for p in parts])


def stack_periods(periods: Sequence[MilpProblem], *, stocks: Sequence[str],
                  weights: Sequence[float] | None = None, name: str = "") -> StackedProblem:  # fmt: skip
    """Stack single-period problems into one, with ``stocks`` never decreasing.

    Parameters
    ----------
    periods : sequence of MilpProblem
        One problem per period, all with the same sense and with the ``stocks`` blocks of
        equal size in each (their other blocks may differ).
    stocks : sequence of str
        Blocks that may only grow from one period to the next.
    weights : sequence of float, optional
        Weight of each period's objective (default 1 each).
    name : str
        Name of the stacked problem.

    Returns
    -------
    StackedProblem
    """
    periods = list(periods)
    if not periods:
        raise InputError(None, "periods", "need at least one period")
    sense = periods[0].sense
    if any(p.sense != sense for p in periods):
        raise InputError(None, "periods", "every period must have the same objective sense")
    w = np.ones(len(periods)) if weights is None else np.asarray(weights, dtype=float)
    if w.shape != (len(periods),) or not np.all(np.isfinite(w)) or np.any(w < 0):
        raise InputError(None, "weights", "need one finite weight >= 0 per period")
    for s in stocks:
        sizes = {p.blocks[s].size if s in p.blocks else -1 for p in periods}
        if len(sizes) != 1 or -1 in sizes:
            raise InputError(None, "stocks", f"block {s!r} must exist with one size in every period")
    out = MilpProblem(name or f"{periods[0].name} × {len(periods)} periods", sense)
    offsets = []
    for t, p in enumerate(periods):
        offsets.append(out.n_vars)
        for b in p.blocks.values():
            lb, ub, integer, obj = p.block_arrays(b.name)
            out.add_variables(_name(b.name, t), b.size, lb=lb, ub=ub, integer=integer, obj=w[t] * obj)
        for g in p.groups.values():
            shifted = [RowBlock(rb.rows, rb.cols + offsets[t], rb.vals, rb.n_rows, rb.lb, rb.ub) for rb in g.blocks]
            # Rows are copied as they are, shifted to the period's columns (no re-validation).
            out.groups[f"{g.name}@{t}"] = ConstraintGroup(f"{g.name}@{t}", f"{g.description} (period {t + 1})",
                                                         g.relaxable, shifted)  # fmt: skip
        out.offset += w[t] * p.offset
    for t in range(1, len(periods)):
        for s in stocks:
            size = periods[t].blocks[s].size
            eye = sp.identity(size, format="csr")
            out.add_constraints(f"monotone_{s}@{t}", {_name(s, t): eye, _name(s, t - 1): -eye}, lb=0.0,
                                relaxable=False, description=f"{s} never decreases from one period to the next")
    return StackedProblem(out, periods, offsets)


def sequential_start(stacked: StackedProblem, *, stocks: Sequence[str],
                     solve: Callable[[MilpProblem], np.ndarray | None]) -> np.ndarray | None:  # fmt: skip
    """Solve the periods one by one, each with the previous period's stocks as floors.

    Parameters
    ----------
    stacked : StackedProblem
        From :func:`stack_periods`.
    stocks : sequence of str
        The stock blocks (as given to :func:`stack_periods`).
    solve : callable
        ``solve(problem) -> x or None`` for one period.

    Returns
    -------
    ndarray or None
        The myopic plan as a stacked vector, feasible for ``stacked.problem``; ``None`` when
        a period has no plan on top of the previous one.
    """
    parts: list[np.ndarray] = []
    for t, p in enumerate(stacked.periods):
        q = p.copy()
        if parts:
            prev = stacked.periods[t - 1]
            for s in stocks:
                floor = prev.value(parts[-1], s)
                lb, _, _, _ = q.block_arrays(s)
                q.set_bounds(s, lb=np.maximum(lb, np.round(floor)))
        x = solve(q)
        if x is None:
            return None
        parts.append(np.asarray(x, dtype=float))
    return stacked.stacked_x(parts)
