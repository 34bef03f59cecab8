"""Matrix-form mixed-integer linear problems.

:class:`MilpProblem` holds an objective vector, variable bounds and integrality, and
constraint rows in named *groups* (``lb <= A x <= ub``). Models build it from
scipy.sparse blocks; plans may add their own variables and rows before solving;
:func:`healthopt.milp.solve.solve_problem` sends it to a solver and
:func:`healthopt.milp.diagnose.relaxation_culprits` names the groups that make it
infeasible. This module knows nothing of location models or solvers.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeAlias

import numpy as np
import scipy.sparse as sp

from healthopt.errors import InputError

INF = math.inf


def _cat(parts: list[np.ndarray], dtype: Any) -> np.ndarray:
    return np.concatenate(parts) if parts else np.zeros(0, dtype)


@dataclass
class VarBlock:
    """A named block of consecutive variables in a :class:`MilpProblem`."""

    name: str
    start: int
    size: int

    @property
    def slice(self) -> slice:
        """Slice of the block in the variable vector."""
        return slice(self.start, self.start + self.size)

    @property
    def indices(self) -> np.ndarray:
        """Global variable indices of the block."""
        return np.arange(self.start, self.start + self.size)


@dataclass
class RowBlock:
    """Constraint rows of one group: ``lb <= A x <= ub`` with ``A`` in COO (global columns)."""

    rows: np.ndarray
    cols: np.ndarray
    vals: np.ndarray
    n_rows: int
    lb: np.ndarray
    ub: np.ndarray


@dataclass
class ConstraintGroup:
    """Named constraint group; ``relaxable`` groups are candidates in infeasibility diagnosis."""

    name: str
    description: str
    relaxable: bool
    blocks: list[RowBlock] = field(default_factory=list)

    @property
    def n_rows(self) -> int:
        """Number of rows in the group."""
        return sum(b.n_rows for b in self.blocks)


#: Constraint coefficients: ``{block: matrix}`` or one full-width matrix.
Terms: TypeAlias = Mapping[str, Any] | sp.spmatrix | np.ndarray


class MilpProblem:
    """Matrix-form mixed-integer linear problem.

    ``sense`` is ``"min"`` or ``"max"``. Variables come in named blocks
    (:meth:`add_variables`); constraints in named groups (:meth:`add_constraints`), each row
    ``lb <= a·x <= ub``. Constraint coefficients are given per block as sparse or dense
    matrices, e.g. ``{"y": costs[None, :]}`` for a one-row budget over the site block.

    Examples
    --------
    >>> p = MilpProblem("demo", "max")
    >>> y = p.add_variables("y", 3, ub=1, integer=True, obj=[1, 2, 3])
    >>> p.add_constraints("count", {"y": np.ones((1, 3))}, ub=2)
    >>> p.n_vars, p.n_rows
    (3, 1)
    """

    def __init__(self, name: str = "", sense: str = "min") -> None:
        if sense not in ("min", "max"):
            raise InputError(None, "sense", f"must be 'min' or 'max', got {sense!r}")
        self.name = name
        self.sense = sense
        self.offset = 0.0
        self.blocks: dict[str, VarBlock] = {}
        self._lb: list[np.ndarray] = []
        self._ub: list[np.ndarray] = []
        self._obj: list[np.ndarray] = []
        self._int: list[np.ndarray] = []
        self.groups: dict[str, ConstraintGroup] = {}
        self._cache: tuple[sp.csr_matrix, np.ndarray, np.ndarray] | None = None
        self._flat: tuple[np.ndarray, ...] | None = None
        #: HiGHS options a model asks for (name -> value), set after the run's own settings
        #: (e.g. the p-median's light presolve, :class:`healthopt.models.median.PMedian`).
        self.solver_options: dict[str, Any] = {}

    # ------------------------------------------------------------------ variables
    @property
    def n_vars(self) -> int:
        """Number of variables."""
        return sum(b.size for b in self.blocks.values())

    @property
    def n_rows(self) -> int:
        """Number of constraint rows."""
        return sum(g.n_rows for g in self.groups.values())

    def add_variables(
        self,
        name: str,
        size: int,
        lb: Any = 0.0,
        ub: Any = INF,
        integer: bool | np.ndarray = False,
        obj: Any = 0.0,
    ) -> VarBlock:
        """Append a block of ``size`` variables and return it."""
        if name in self.blocks:
            raise InputError(None, "variables", f"block {name!r} already exists")
        size = int(size)
        block = VarBlock(name, self.n_vars, size)
        self.blocks[name] = block
        self._lb.append(np.broadcast_to(np.asarray(lb, dtype=float), (size,)).copy())
        self._ub.append(np.broadcast_to(np.asarray(ub, dtype=float), (size,)).copy())
        self._int.append(np.broadcast_to(np.asarray(integer, dtype=bool), (size,)).copy())
        self._obj.append(np.broadcast_to(np.asarray(obj, dtype=float), (size,)).copy())
        self._flat = None
        self._cache = None
        return block

    def block(self, name: str) -> VarBlock:
        """Return the variable block ``name``."""
        return self.blocks[name]

    def _arrays(self) -> tuple[np.ndarray, ...]:
        if self._flat is None:
            cat = _cat
            self._flat = (
                cat(self._lb, float),
                cat(self._ub, float),
                cat(self._obj, float),
                cat(self._int, bool),
            )
        return self._flat

    @property
    def lb(self) -> np.ndarray:
        """Variable lower bounds."""
        return self._arrays()[0]

    @property
    def ub(self) -> np.ndarray:
        """Variable upper bounds."""
        return self._arrays()[1]

    @property
    def obj(self) -> np.ndarray:
        """Objective coefficients."""
        return self._arrays()[2]

    @property
    def integer(self) -> np.ndarray:
        """Integrality flags."""
        return self._arrays()[3]

    def set_bounds(self, name: str, lb: Any = None, ub: Any = None, index: Any = None) -> None:
        """Change bounds of block ``name`` (optionally only at positions ``index``)."""
        k = list(self.blocks).index(name)
        sel = slice(None) if index is None else index
        if lb is not None:
            self._lb[k][sel] = lb
        if ub is not None:
            self._ub[k][sel] = ub
        self._flat = None

    def set_objective(self, coefs: Mapping[str, Any], sense: str | None = None, offset: float = 0.0) -> None:
        """Replace the objective by ``Σ_block coefs[block] · x[block] + offset``."""
        for k, name in enumerate(self.blocks):
            self._obj[k] = np.zeros(self.blocks[name].size)
            if name in coefs:
                self._obj[k] = np.broadcast_to(np.asarray(coefs[name], dtype=float), (self.blocks[name].size,)).copy()
        unknown = set(coefs) - set(self.blocks)
        if unknown:
            raise InputError(None, "objective", f"unknown variable blocks {sorted(unknown)}")
        if sense is not None:
            if sense not in ("min", "max"):
                raise InputError(None, "sense", f"must be 'min' or 'max', got {sense!r}")
            self.sense = sense
        self.offset = float(offset)
        self._flat = None

    # ------------------------------------------------------------------ constraints
    def add_constraints(
        self,
        group: str,
        terms: Terms,
        lb: Any = -INF,
        ub: Any = INF,
        *,
        description: str = "",
        relaxable: bool = True,
    ) -> None:
        """Add rows ``lb <= A x <= ub`` to ``group`` (created on first use).

        Parameters
        ----------
        group : str
            Group name (used by infeasibility diagnosis and for naming rows).
        terms : mapping or matrix
            ``{block_name: matrix (k × block.size)}`` or a full-width ``k × n_vars`` matrix.
            1-D arrays are one row.
        lb, ub : float or array
            Row bounds (broadcast to ``k``).
        description : str
            Planning-terms sentence for the group, used in infeasibility reports.
        relaxable : bool
            Whether :func:`healthopt.milp.diagnose.relaxation_culprits` may drop this group.
        """
        rows_l, cols_l, vals_l = [], [], []
        k = None
        items = terms.items() if isinstance(terms, Mapping) else [(None, terms)]
        for name, mat in items:
            if name is not None and name not in self.blocks:
                raise InputError(None, "constraints", f"unknown variable block {name!r}")
            offset = 0 if name is None else self.blocks[name].start
            width = self.n_vars if name is None else self.blocks[name].size
            if not sp.issparse(mat):
                mat = np.asarray(mat, dtype=float)
                if mat.ndim == 1:
                    mat = mat[None, :]
            coo = sp.coo_matrix(mat)
            if coo.shape[1] != width:
                raise InputError(
                    None,
                    "constraints",
                    f"group {group!r}: block {name!r} has {width} columns, got {coo.shape[1]}",
                )
            if k is None:
                k = coo.shape[0]
            elif k != coo.shape[0]:
                raise InputError(None, "constraints", f"group {group!r}: blocks disagree on the row count")
            rows_l.append(coo.row.astype(np.int64))
            cols_l.append(coo.col.astype(np.int64) + offset)
            vals_l.append(coo.data.astype(float))
        if k is None:
            return
        lbv = np.broadcast_to(np.asarray(lb, dtype=float), (k,)).copy()
        ubv = np.broadcast_to(np.asarray(ub, dtype=float), (k,)).copy()
        g = self.groups.get(group)
        if g is None:
            g = self.groups[group] = ConstraintGroup(group, description or group, relaxable)
        elif description:
            g.description = description
        g.blocks.append(RowBlock(np.concatenate(rows_l), np.concatenate(cols_l), np.concatenate(vals_l), k, lbv, ubv))
        self._cache = None

    def remove_group(self, group: str) -> None:
        """Drop constraint group ``group``."""
        self.groups.pop(group)
        self._cache = None

    def row_names(self) -> list[str]:
        """Return names ``group[i]`` of every row in assembly order."""
        return [f"{g.name}[{i}]" for g in self.groups.values() for i in range(g.n_rows)]

    def var_names(self) -> list[str]:
        """Return names ``block[i]`` of every variable."""
        return [f"{b.name}[{i}]" for b in self.blocks.values() for i in range(b.size)]

    def assemble(self) -> tuple[sp.csr_matrix, np.ndarray, np.ndarray]:
        """Return the constraint matrix (csr, rows in group order) and row bounds."""
        if self._cache is not None and self._cache[0].shape[1] == self.n_vars:
            return self._cache
        rows, cols, vals, lbs, ubs = [], [], [], [], []
        base = 0
        for g in self.groups.values():
            for b in g.blocks:
                rows.append(b.rows + base)
                cols.append(b.cols)
                vals.append(b.vals)
                lbs.append(b.lb)
                ubs.append(b.ub)
                base += b.n_rows
        cat = _cat
        A = sp.csr_matrix(
            (cat(vals, float), (cat(rows, np.int64), cat(cols, np.int64))),
            shape=(base, self.n_vars),
        )
        A.sum_duplicates()
        self._cache = (A, cat(lbs, float), cat(ubs, float))
        return self._cache

    def copy(self) -> MilpProblem:
        """Shallow structural copy (blocks and groups copied; arrays shared until modified)."""
        other = MilpProblem(self.name, self.sense)
        other.offset = self.offset
        other.solver_options = dict(self.solver_options)
        other.blocks = dict(self.blocks)
        other._lb = [a.copy() for a in self._lb]
        other._ub = [a.copy() for a in self._ub]
        other._obj = [a.copy() for a in self._obj]
        other._int = [a.copy() for a in self._int]
        other.groups = {
            k: ConstraintGroup(g.name, g.description, g.relaxable, list(g.blocks)) for k, g in self.groups.items()
        }
        return other

    def relaxation(self) -> MilpProblem:
        """Return a copy with every integrality dropped (the LP relaxation)."""
        other = self.copy()
        other._int = [np.zeros_like(a) for a in self._int]
        return other

    def value(self, x: np.ndarray, name: str) -> np.ndarray:
        """Values of block ``name`` in solution vector ``x``."""
        return x[self.blocks[name].slice]

    def block_arrays(self, name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Return copies of ``(lb, ub, integer, obj)`` of block ``name``."""
        k = list(self.blocks).index(name)
        return self._lb[k].copy(), self._ub[k].copy(), self._int[k].copy(), self._obj[k].copy()

    def is_feasible(self, x: np.ndarray, tol: float = 1e-6) -> bool:
        """Whether ``x`` meets every bound, row and integrality (within ``tol``)."""
        x = np.asarray(x, dtype=float)
        if x.shape != (self.n_vars,) or not np.all(np.isfinite(x)):
            return False
        if np.any(x < self.lb - tol) or np.any(x > self.ub + tol):
            return False
        xi = x[self.integer]
        if np.any(np.abs(xi - np.round(xi)) > tol):
            return False
        A, lo, hi = self.assemble()
        ax = A @ x
        return bool(np.all(ax >= lo - tol) and np.all(ax <= hi + tol))

    def stats(self) -> dict[str, int]:
        """Sizes: variables, integer variables, rows and non-zeros."""
        A, _, _ = self.assemble()
        return {
            "variables": self.n_vars,
            "integers": int(self.integer.sum()),
            "rows": int(A.shape[0]),
            "nonzeros": int(A.nnz),
        }


def group_identical_rows(M: sp.csr_matrix, extra_key: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Group rows of csr ``M`` with identical sparsity patterns (and equal ``extra_key``).

    Returns ``(group_of_row, representative_rows)``. Exact: rows are compared by their
    column-index bytes, not by a hash.
    """
    M = M.tocsr()
    M.sort_indices()
    idx, ptr = M.indices, M.indptr
    ek = None if extra_key is None else np.asarray(extra_key).tolist()
    seen: dict[Any, int] = {}
    group = np.empty(M.shape[0], dtype=np.int64)
    reps: list[int] = []
    for i in range(M.shape[0]):
        key = idx[ptr[i] : ptr[i + 1]].tobytes()
        if ek is not None:
            key = (key, ek[i])
        g = seen.get(key)
        if g is None:
            g = seen[key] = len(reps)
            reps.append(i)
        group[i] = g
    return group, np.asarray(reps, dtype=np.int64)


def split_blocks(prob: MilpProblem, M: sp.spmatrix, exclude: str | None = None) -> dict[str, Any]:
    """Split a matrix over the current variable vector into ``{block: columns}``.

    ``M`` may be narrower than the problem (blocks added after it was formed are zero).
    """
    M = sp.csc_matrix(M)
    out: dict[str, Any] = {}
    for name, b in prob.blocks.items():
        if name == exclude:
            continue
        if b.start >= M.shape[1]:
            continue
        stop = min(b.start + b.size, M.shape[1])
        sub = M[:, b.start : stop]
        if sub.nnz == 0:
            continue
        if stop - b.start < b.size:
            sub = sp.hstack([sub, sp.csc_matrix((M.shape[0], b.size - (stop - b.start)))])
        out[name] = sub
    if not out:
        first = next(iter(prob.blocks))
        out[first] = sp.csc_matrix((M.shape[0], prob.blocks[first].size))
    return out


#: What a problem holds at some moment: its variable blocks and the row blocks per group.
Shape: TypeAlias = tuple[tuple[str, ...], dict[str, int]]


def problem_shape(prob: MilpProblem) -> Shape:
    """Variable block names and the number of row blocks per group of ``prob``."""
    return tuple(prob.blocks), {name: len(g.blocks) for name, g in prob.groups.items()}


def replay_added(old: MilpProblem, new: MilpProblem, shape: Shape, *, fixed_size: list[str]) -> None:
    """Copy onto ``new`` the variable blocks and rows that ``old`` gained after ``shape``.

    Columns are matched by block name. Rows on a block named in ``fixed_size`` whose size
    differs between the two problems cannot be mapped: that raises
    :class:`~healthopt.errors.InputError` (field ``reduce``).
    """
    own_blocks, own_groups = shape
    for name in old.blocks:
        if name not in own_blocks:
            lb, ub, integer, obj = old.block_arrays(name)
            new.add_variables(name, old.blocks[name].size, lb=lb, ub=ub, integer=integer, obj=obj)
    names = list(old.blocks)
    starts = np.array([old.blocks[n].start for n in names])
    for gname, grp in old.groups.items():
        for rb in grp.blocks[own_groups.get(gname, 0) :]:
            k = np.searchsorted(starts, rb.cols, side="right") - 1
            cols = np.empty_like(rb.cols)
            for b in np.unique(k):
                bname = names[b]
                if bname in fixed_size and new.blocks[bname].size != old.blocks[bname].size:
                    raise InputError(
                        None,
                        "reduce",
                        f"rows added after build() use the model's {bname!r} variables; "
                        "build the model with reduce=False to add such rules",
                    )
                sel = k == b
                cols[sel] = rb.cols[sel] - old.blocks[bname].start + new.blocks[bname].start
            M = sp.csr_matrix((rb.vals, (rb.rows, cols)), shape=(rb.n_rows, new.n_vars))
            new.add_constraints(gname, M, rb.lb, rb.ub, description=grp.description, relaxable=grp.relaxable)


__all__ = [
    "INF",
    "ConstraintGroup",
    "MilpProblem",
    "RowBlock",
    "Shape",
    "Terms",
    "VarBlock",
    "group_identical_rows",
    "problem_shape",
    "replay_added",
    "split_blocks",
]
