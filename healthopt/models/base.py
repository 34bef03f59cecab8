"""Shared machinery of the location models.

Three pieces:

* :class:`TravelPairs` — the sparse site–demand pairs that exist (site index, demand index,
  minutes). Pairs that are not listed are beyond reach. A 0-minute pair is a real pair:
  explicit zeros of sparse input are kept (``tocoo`` keeps them; ``nonzero`` would not).
* :class:`MilpProblem` — a matrix-form MILP (objective vector, variable bounds and
  integrality, constraint rows in named *groups* with lower/upper bounds). Models build it
  from scipy.sparse blocks; plans can add variables and constraints before solving;
  :mod:`healthopt.milp.solve` sends it to HiGHS (directly) or to PuLP (CBC / HiGHS).
* :class:`LocationModel` — common options (fixed and forbidden sites, capacities with
  assignment variables, site costs and a budget, per-district minimum coverage and max-min
  equity), the solve loop, result tables and :meth:`LocationModel.diagnose_infeasibility`.

Orientation: ``from_cost_matrix`` takes spopt's **demand × facilities** matrix;
``from_travel_times`` takes an object whose ``.matrix`` is **sites × demand** (as written by
``healthopt.traveltime``). Internally everything is a list of pairs, so both end up equal.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import scipy.sparse as sp

from healthopt.errors import InfeasiblePlanError, InputError
from healthopt.milp.solve import STATUS_WORDS, SolverOutput, solve_problem

INF = math.inf

# =========================================================================== travel pairs


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
        if _tt_matrix(cost_matrix) is not None:
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
        M = _tt_matrix(tt)
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


def _tt_matrix(obj: Any) -> Any:
    """Return the sites × demand matrix of a travel-time object (``.matrix``/``.minutes``)."""
    if sp.issparse(obj) or isinstance(obj, np.ndarray):
        return None
    for attr in ("matrix", "minutes"):
        M = getattr(obj, attr, None)
        if M is not None and (sp.issparse(M) or isinstance(M, np.ndarray)):
            return M
    return None


# =========================================================================== MILP problem


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


Terms = Mapping[str, Any] | sp.spmatrix | sp.sparray | np.ndarray


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
            Whether :meth:`LocationModel.diagnose_infeasibility` may drop this group.
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
        other.blocks = dict(self.blocks)
        other._lb = [a.copy() for a in self._lb]
        other._ub = [a.copy() for a in self._ub]
        other._obj = [a.copy() for a in self._obj]
        other._int = [a.copy() for a in self._int]
        other.groups = {
            k: ConstraintGroup(g.name, g.description, g.relaxable, list(g.blocks)) for k, g in self.groups.items()
        }
        return other

    def value(self, x: np.ndarray, name: str) -> np.ndarray:
        """Values of block ``name`` in solution vector ``x``."""
        return x[self.blocks[name].slice]

    def stats(self) -> dict[str, int]:
        """Sizes: variables, integer variables, rows and non-zeros."""
        A, _, _ = self.assemble()
        return {
            "variables": self.n_vars,
            "integers": int(self.integer.sum()),
            "rows": int(A.shape[0]),
            "nonzeros": int(A.nnz),
        }


# =========================================================================== helpers


def _as_vector(
    values: Any, n: int, field_name: str, *, allow_none: bool = True, nonneg: bool = True
) -> np.ndarray | None:
    if values is None:
        if allow_none:
            return None
        raise InputError(None, field_name, "is required")
    arr = np.asarray(values, dtype=float).ravel()
    if arr.size != n:
        raise InputError(None, field_name, f"has {arr.size} values, expected {n}")
    if not np.all(np.isfinite(arr)):
        raise InputError(None, field_name, "contains missing or infinite values")
    if nonneg and arr.size and arr.min() < 0:
        raise InputError(None, field_name, "contains negative values")
    return arr


def _check_radius(value: Any, field_name: str) -> float:
    try:
        r = float(value)
    except (TypeError, ValueError):
        raise InputError(None, field_name, f"must be a number of minutes, got {value!r}") from None
    if not math.isfinite(r) or r < 0:
        raise InputError(None, field_name, f"must be a non-negative finite number, got {value!r}")
    return r


def _check_count(value: Any, field_name: str, *, allow_none: bool = False) -> int | None:
    if value is None and allow_none:
        return None
    try:
        p = int(value)
    except (TypeError, ValueError):
        raise InputError(None, field_name, f"must be a whole number, got {value!r}") from None
    if p != value or p < 0:
        raise InputError(None, field_name, f"must be a non-negative whole number, got {value!r}")
    return p


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


# =========================================================================== results


@dataclass
class LocationResult:
    """Solution of a location model.

    Attributes
    ----------
    objective : float or None
        Objective value in the model's own units (covered weight, number of sites, ...).
    status : str
        Plain-words status (``"optimal"``, ``"time limit reached — best plan found, not
        proven optimal"``, ``"infeasible"``, ...).
    status_code : str
        Machine-readable status (keys of :data:`healthopt.milp.solve.STATUS_WORDS`).
    gap : float or None
        Relative optimality gap of the returned plan (0 when proven optimal; ``None`` unknown).
    solve_seconds, build_seconds : float
        Time spent in the solver (conversion included) and building the model.
    solver : str
        Backend used.
    sites : pandas.DataFrame
        One row per candidate site: ``site_id, open, fixed, forbidden, vehicles,
        assigned_demand, assigned_points`` (+ ``capacity``, ``cost`` when given).
    assignments : pandas.DataFrame
        One row per demand point reached by an open site: ``demand_id, site_id,
        travel_time, covered, share`` (``share`` = fraction served by that site).
    coverage : pandas.DataFrame
        One row per demand point: ``demand_id, weight, covered, times_covered,
        served_share`` (+ ``district``).
    districts : pandas.DataFrame or None
        Per district: ``district, demand_weight, covered_weight, share``.
    x : numpy.ndarray or None
        Raw solution vector of :attr:`LocationModel.problem`.
    details : dict
        Model-specific extras (e.g. p-center search steps, equity level).
    """

    objective: float | None
    status: str
    status_code: str
    gap: float | None
    solve_seconds: float
    build_seconds: float
    solver: str
    sites: pd.DataFrame
    assignments: pd.DataFrame
    coverage: pd.DataFrame
    districts: pd.DataFrame | None
    x: np.ndarray | None = None
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def has_solution(self) -> bool:
        """Whether a feasible plan is available."""
        return self.x is not None

    @property
    def is_optimal(self) -> bool:
        """Whether the plan is proven optimal (within the requested gap)."""
        return self.status_code in ("optimal", "optimal_within_gap")

    @property
    def open_sites(self) -> list[Any]:
        """Ids of the open sites."""
        return self.sites.loc[self.sites["open"], "site_id"].tolist()

    def raise_if_no_plan(self) -> None:
        """Raise :class:`InfeasiblePlanError` when no feasible plan was found."""
        if not self.has_solution:
            reasons = self.details.get("reasons") or [f"the model has no plan: {self.status}"]
            raise InfeasiblePlanError(list(reasons))


# =========================================================================== base model


@dataclass
class CoverageSpec:
    """How a model expresses "demand group g is covered" (for districts and capacity).

    ``covered_g = C[g] · x + c0[g]`` (a fraction in [0, 1]); ``group`` maps each demand
    point to its group, ``weight`` is the group's total weight, ``pairs_*`` are the
    (group, site) pairs within the standard that capacity assignment may use.
    """

    C: sp.csr_matrix
    c0: np.ndarray
    group: np.ndarray
    weight: np.ndarray
    pair_group: np.ndarray
    pair_site: np.ndarray


class LocationModel:
    """Base class of the location models.

    Subclasses implement :meth:`_build_core` (adds their variables, constraints and
    objective to :attr:`problem` and returns a :class:`CoverageSpec`). The base adds the
    shared rules: site bounds (fixed / forbidden / maximum vehicles), cardinality ``p``,
    budget, capacities, district minimum shares and max-min equity, and any extension a
    plan registered with :meth:`extend`.

    Plans can customise a model two ways before solving:

    * ``model.build()`` then ``model.problem.add_variables(...)`` /
      ``model.problem.add_constraints(...)``; ``solve()`` keeps that problem;
    * ``model.extend(fn)``: ``fn(model, problem)`` is called at every build (needed for
      :class:`~healthopt.models.center.PCenter`, which builds one problem per radius).
    """

    #: Objective sense of the main problem.
    sense: ClassVar[str] = "min"
    #: Whether site variables count vehicles (integers > 1 allowed).
    integer_sites: ClassVar[bool] = False
    #: Name used in messages.
    label: ClassVar[str] = "location model"
    #: Whether the subclass handles capacities itself (p-median's own assignment variables).
    own_capacity: ClassVar[bool] = False

    def __init__(
        self,
        pairs: TravelPairs,
        weights: Any = None,
        *,
        p_facilities: int | None = None,
        site_ids: Any = None,
        demand_ids: Any = None,
        fixed_sites: Any = None,
        forbidden_sites: Any = None,
        capacities: Any = None,
        site_costs: Any = None,
        budget: float | None = None,
        districts: Any = None,
        min_district_share: float | Mapping[Any, float] | None = None,
        equity: bool = False,
        max_vehicles: Any = None,
        service_radius: float | None = None,
        name: str | None = None,
    ) -> None:
        t0 = time.perf_counter()
        self.pairs = pairs
        self.n_sites, self.n_demand = pairs.n_sites, pairs.n_demand
        self.name = name or self.label
        self.site_ids = self._ids(site_ids, self.n_sites, "site_ids")
        self.demand_ids = self._ids(demand_ids, self.n_demand, "demand_ids")
        self._explicit_site_ids = site_ids is not None
        w = _as_vector(weights, self.n_demand, "weights")
        self.weights = np.ones(self.n_demand) if w is None else w
        self.p_facilities = _check_count(p_facilities, "p_facilities", allow_none=True)
        self.fixed = self._site_mask(fixed_sites, "fixed_sites")
        self.forbidden = self._site_mask(forbidden_sites, "forbidden_sites")
        both = self.fixed & self.forbidden
        if both.any():
            raise InputError(
                None,
                "fixed_sites",
                f"sites {self._names(both)} are both fixed (must open) and forbidden",
            )
        self.capacities = _as_vector(capacities, self.n_sites, "capacities")
        self.site_costs = _as_vector(site_costs, self.n_sites, "site_costs")
        if budget is not None:
            budget = _check_radius(budget, "budget")
            if self.site_costs is None:
                raise InputError(None, "budget", "a budget needs site_costs")
        self.budget = budget
        self.max_vehicles = None
        if max_vehicles is not None:
            mv = np.broadcast_to(np.asarray(max_vehicles, dtype=float), (self.n_sites,)).copy()
            if (mv < 0).any() or not np.all(mv == np.round(mv)):
                raise InputError(None, "max_vehicles", "must be non-negative whole numbers")
            self.max_vehicles = mv
        self.service_radius = None if service_radius is None else _check_radius(service_radius, "service_radius")
        self.districts = None
        if districts is not None:
            d = np.asarray(districts, dtype=object).ravel()
            if d.size != self.n_demand:
                raise InputError(None, "districts", f"has {d.size} labels, expected {self.n_demand}")
            self.districts = d
        self.min_district_share = min_district_share
        self.equity = bool(equity)
        if (min_district_share is not None or self.equity) and self.districts is None:
            raise InputError(
                None,
                "districts",
                "district coverage rules need a district label for every demand point",
            )
        self._extensions: list[Callable[[LocationModel, MilpProblem], None]] = []
        self.problem: MilpProblem | None = None
        self.spec: CoverageSpec | None = None
        self.build_seconds = time.perf_counter() - t0
        self.result: LocationResult | None = None

    # ------------------------------------------------------------------ input helpers
    @staticmethod
    def _ids(ids: Any, n: int, field_name: str) -> np.ndarray:
        if ids is None:
            return np.arange(n)
        arr = np.asarray(list(ids) if not isinstance(ids, np.ndarray) else ids)
        if arr.size != n:
            raise InputError(None, field_name, f"has {arr.size} ids, expected {n}")
        return arr

    def _site_mask(self, value: Any, field_name: str) -> np.ndarray:
        """Boolean site mask from a mask, site ids (if given) or positions."""
        if value is None:
            return np.zeros(self.n_sites, dtype=bool)
        arr = np.asarray(value)
        if arr.dtype == bool:
            if arr.size != self.n_sites:
                raise InputError(None, field_name, f"mask has {arr.size} entries, expected {self.n_sites}")
            return arr.ravel().copy()
        mask = np.zeros(self.n_sites, dtype=bool)
        if arr.size == 0:
            return mask
        if self._explicit_site_ids:
            pos = {sid: k for k, sid in enumerate(self.site_ids.tolist())}
            unknown = [v for v in arr.ravel().tolist() if v not in pos]
            if unknown:
                raise InputError(None, field_name, f"unknown site ids {unknown[:5]}")
            mask[[pos[v] for v in arr.ravel().tolist()]] = True
            return mask
        idx = arr.astype(np.int64).ravel()
        if idx.min() < 0 or idx.max() >= self.n_sites:
            raise InputError(None, field_name, f"site positions must be in 0..{self.n_sites - 1}")
        mask[idx] = True
        return mask

    def _names(self, mask_or_idx: np.ndarray, limit: int = 5, ids: np.ndarray | None = None) -> str:
        ids = self.site_ids if ids is None else ids
        idx = np.flatnonzero(mask_or_idx) if mask_or_idx.dtype == bool else mask_or_idx
        shown = ", ".join(str(v) for v in ids[idx[:limit]].tolist())
        return shown + (f" and {idx.size - limit} more" if idx.size > limit else "")

    @property
    def allowed(self) -> np.ndarray:
        """Sites that may open (not forbidden, and with vehicles allowed)."""
        ok = ~self.forbidden
        if self.max_vehicles is not None:
            ok &= self.max_vehicles > 0
        return ok

    # ------------------------------------------------------------------ extension API
    def extend(self, fn: Callable[[LocationModel, MilpProblem], None]) -> LocationModel:
        """Register ``fn(model, problem)`` to add plan-specific variables/constraints."""
        self._extensions.append(fn)
        self.problem = None
        return self

    # ------------------------------------------------------------------ build
    def check(self) -> None:
        """Pre-solve checks that explain, in planning terms, why a plan cannot be met.

        Raises
        ------
        InfeasiblePlanError
        """
        reasons = self._check_reasons()
        if reasons:
            raise InfeasiblePlanError(reasons)

    def _check_reasons(self) -> list[str]:
        reasons: list[str] = []
        nf = int(self.fixed.sum())
        p = self.p_facilities
        if p is not None and not self.integer_sites and nf > p:
            reasons.append(f"{nf} existing sites must stay open but the plan allows only {p} sites")
        if p is not None and not self.integer_sites and p > int(self.allowed.sum()):
            reasons.append(
                f"the plan asks for {p} sites but only {int(self.allowed.sum())} candidate sites are allowed"
            )
        if self.budget is not None and self.site_costs is not None:
            fixed_cost = float(self.site_costs[self.fixed].sum())
            if fixed_cost > self.budget + 1e-9:
                reasons.append(
                    f"the existing sites that must stay open already cost {fixed_cost:g}, "
                    f"above the budget of {self.budget:g}"
                )
        return reasons

    def build(self) -> MilpProblem:
        """Build (or rebuild) :attr:`problem` and return it."""
        t0 = time.perf_counter()
        prob = MilpProblem(self.name, self.sense)
        ub = np.where(self.allowed, 1.0, 0.0)
        if self.integer_sites:
            mv = self.max_vehicles if self.max_vehicles is not None else np.full(self.n_sites, INF)
            if self.p_facilities is not None:
                mv = np.minimum(mv, self.p_facilities)
            ub = np.where(self.allowed, mv, 0.0)
        lb = np.where(self.fixed, 1.0, 0.0)
        prob.add_variables("y", self.n_sites, lb=lb, ub=ub, integer=True)
        self._district_spec = None
        spec = self._build_core(prob)
        self.spec = spec
        self._add_site_rules(prob)
        if self.capacities is not None and spec is not None and not self.own_capacity:
            self._add_capacity(prob, spec)
        dspec = self._district_spec or spec
        if dspec is not None and self.districts is not None and (self.min_district_share is not None or self.equity):
            self._add_district_rules(prob, dspec)
        for fn in self._extensions:
            fn(self, prob)
        self.problem = prob
        self.build_seconds += time.perf_counter() - t0
        return prob

    def _build_core(self, prob: MilpProblem) -> CoverageSpec | None:  # pragma: no cover
        raise NotImplementedError

    def _cardinality_sense(self) -> str:
        """``"eq"`` (exactly p, spopt's convention) or ``"le"``."""
        return "eq"

    def _add_site_rules(self, prob: MilpProblem) -> None:
        ones = np.ones((1, self.n_sites))
        if self.p_facilities is not None:
            p = float(self.p_facilities)
            lo = p if self._cardinality_sense() == "eq" else -INF
            what = "vehicles" if self.integer_sites else "sites"
            prob.add_constraints(
                "site_count",
                {"y": ones},
                lo,
                p,
                description=f"exactly {self.p_facilities} {what}" if lo == p else f"at most {self.p_facilities} {what}",
            )
        if self.budget is not None and self.site_costs is not None:
            prob.add_constraints(
                "budget",
                {"y": self.site_costs[None, :]},
                -INF,
                self.budget,
                description=f"the budget of {self.budget:g}",
            )

    def _add_capacity(self, prob: MilpProblem, spec: CoverageSpec) -> None:
        """Add assignment variables z on (group, site) pairs within the standard.

        ``Σ_j z_gj = covered_g`` and ``Σ_g w_g z_gj <= cap_j · y_j``; zero-weight groups
        additionally get ``z_gj <= y_j`` so nothing is ever assigned to a closed site.
        """
        G = spec.C.shape[0]
        npair = spec.pair_group.size
        z = prob.add_variables("z", npair, lb=0.0, ub=1.0)
        del z
        S = sp.csr_matrix((np.ones(npair), (spec.pair_group, np.arange(npair))), shape=(G, npair))
        prob.add_constraints(
            "assignment",
            {"z": S, **_split_blocks(prob, -spec.C, exclude="z")},
            spec.c0,
            spec.c0,
            relaxable=False,
            description="covered demand is assigned to open sites within the standard",
        )
        W = sp.csr_matrix(
            (spec.weight[spec.pair_group], (spec.pair_site, np.arange(npair))),
            shape=(self.n_sites, npair),
        )
        cap = self.capacities
        prob.add_constraints("capacity", {"z": W, "y": sp.diags(-cap)}, -INF, 0.0, description="site capacities")
        zero = spec.weight[spec.pair_group] <= 0
        if zero.any():
            k = np.flatnonzero(zero)
            Z = sp.csr_matrix((np.ones(k.size), (np.arange(k.size), k)), shape=(k.size, npair))
            Y = sp.csr_matrix(
                (-np.ones(k.size), (np.arange(k.size), spec.pair_site[k])),
                shape=(k.size, self.n_sites),
            )
            prob.add_constraints(
                "assignment_open",
                {"z": Z, "y": Y},
                -INF,
                0.0,
                relaxable=False,
                description="assignment only to open sites",
            )

    def _district_matrix(self, spec: CoverageSpec) -> tuple[np.ndarray, sp.csr_matrix, np.ndarray]:
        """Districts, district × group weight matrix, total weight per district."""
        labels, dcode = np.unique(self.districts.astype(str), return_inverse=True)
        total = np.bincount(dcode, weights=self.weights, minlength=labels.size)
        gd = np.zeros(spec.weight.size, dtype=np.int64)
        gd[spec.group] = dcode  # groups never mix districts
        D = sp.csr_matrix((spec.weight, (gd, np.arange(spec.weight.size))), shape=(labels.size, spec.weight.size))
        return labels, D, total

    def _add_district_rules(self, prob: MilpProblem, spec: CoverageSpec) -> None:
        labels, D, total = self._district_matrix(spec)
        rows = D @ spec.C
        const = D @ spec.c0
        if self.min_district_share is not None:
            msd = self.min_district_share
            if isinstance(msd, Mapping):
                share = np.array([float(msd.get(lab, msd.get(_maybe_int(lab), 0.0))) for lab in labels])
            else:
                share = np.full(labels.size, float(msd))
            if (share < 0).any() or (share > 1).any():
                raise InputError(None, "min_district_share", "shares must be between 0 and 1")
            prob.add_constraints(
                "district_minimum",
                _split_blocks(prob, rows),
                share * total - const,
                INF,
                description="the minimum covered share in every district",
            )
        if self.equity:
            t = prob.add_variables("equity_level", 1, lb=0.0, ub=1.0)
            del t
            pos = total > 0
            terms = _split_blocks(prob, rows[pos], exclude="equity_level")
            terms["equity_level"] = -total[pos][:, None]
            prob.add_constraints(
                "equity",
                terms,
                -const[pos],
                INF,
                relaxable=False,
                description="the equity level (worst district share)",
            )

    # ------------------------------------------------------------------ solve
    def solve(
        self,
        solver: str | None = None,
        time_limit: float | None = None,
        gap: float | None = None,
        threads: int | None = None,
        log_path: str | Path | None = None,
    ) -> LocationResult:
        """Solve the model and return a :class:`LocationResult`.

        Parameters
        ----------
        solver : {"highs", "cbc", "highs-pulp", "auto"} or None
            Backend (see :mod:`healthopt.milp.solve`).
        time_limit : float or None
            Seconds; on expiry the best plan found is returned with an honest status/gap.
        gap : float or None
            Relative MIP gap to stop at (default: prove optimality).
        threads : int or None
            Solver threads.
        log_path : str or Path or None
            Solver log file (the console stays quiet).

        Raises
        ------
        InfeasiblePlanError
            When a pre-solve check shows the plan cannot be met (explained in words).
        """
        self.check()
        if self.problem is None:
            self.build()
        prob = self.problem
        t_start = time.perf_counter()
        details: dict[str, Any] = {}
        if self.equity and "equity_level" in prob.blocks:
            out = self._solve_equity(prob, solver, time_limit, gap, threads, log_path, details)
        else:
            out = solve_problem(prob, solver, time_limit, gap, threads, log_path)
            out = self._polish(prob, out)
        out.seconds = time.perf_counter() - t_start
        self.result = self._make_result(out, details)
        return self.result

    def _solve_equity(
        self, prob: MilpProblem, solver, time_limit, gap, threads, log_path, details: dict[str, Any]
    ) -> SolverOutput:
        """Lexicographic max-min: maximise the worst district share, then the objective."""
        stage1 = prob.copy()
        stage1.set_objective({"equity_level": [1.0]}, sense="max")
        t0 = time.perf_counter()
        out1 = solve_problem(stage1, solver, time_limit, gap, threads, log_path)
        if not out1.has_solution:
            return out1
        level = float(out1.x[prob.blocks["equity_level"].start])
        details["equity_level"] = level
        stage2 = prob.copy()
        stage2.set_bounds("equity_level", lb=max(0.0, level - 1e-7))
        remaining = None
        if time_limit is not None:
            remaining = max(1.0, time_limit - (time.perf_counter() - t0))
        out2 = solve_problem(stage2, solver, remaining, gap, threads, log_path)
        if out1.status_code != "optimal" and out2.status_code == "optimal":
            out2.status_code, out2.status = out1.status_code, out1.status
            out2.gap = out1.gap
        return out2 if out2.has_solution else out1

    def _polish_x(self, x: np.ndarray) -> np.ndarray | None:
        """Return ``x`` with demand-side variables raised to what the open sites allow."""
        return None

    def _polish(self, prob: MilpProblem, out: SolverOutput) -> SolverOutput:
        """Improve a not-proven-optimal incumbent by saturating coverage variables.

        A time-limited incumbent may leave a covered demand group's coverage variable below
        1; raising it keeps every row satisfied (checked) and only improves the objective,
        so the reported objective matches the plan's real coverage.
        """
        if out.x is None or out.status_code in ("optimal",) or prob.integer.size == 0:
            return out
        x2 = self._polish_x(out.x.copy())
        if x2 is None:
            return out
        obj = float(prob.obj @ x2 + prob.offset)
        better = obj > out.objective + 1e-9 if prob.sense == "max" else obj < out.objective - 1e-9
        if not better:
            return out
        A, lo, hi = prob.assemble()
        ax = A @ x2
        tol = 1e-6
        ok = (
            np.all(ax >= lo - tol)
            and np.all(ax <= hi + tol)
            and np.all(x2 >= prob.lb - tol)
            and np.all(x2 <= prob.ub + tol)
        )
        if not ok:
            return out
        out.x, out.objective = x2, obj
        if out.bound is not None and math.isfinite(out.bound):
            out.gap = abs(obj - out.bound) / max(abs(obj), 1e-9)
        return out

    # ------------------------------------------------------------------ diagnosis
    def diagnose_infeasibility(
        self,
        solver: str | None = None,
        time_limit: float | None = 60.0,
        threads: int | None = None,
    ) -> list[str]:
        """Return the constraint groups whose removal alone restores feasibility.

        Each relaxable group of :attr:`problem` (budget, site count, district minimum,
        capacity, coverage of all demand, ...) is dropped in turn and the problem re-solved
        as a feasibility check. The answer names the culprits (empty if the model is
        feasible, or if no single group explains the infeasibility). Descriptions in
        planning terms are in ``model.problem.groups[name].description``.
        """
        if self.problem is None:
            self.build()
        return relaxation_culprits(self.problem, solver, time_limit, threads)

    def explain_infeasibility(self, solver: str | None = None) -> list[str]:
        """Planning-terms sentences for :meth:`diagnose_infeasibility`."""
        names = self.diagnose_infeasibility(solver)
        return [f"the plan becomes feasible without {self.problem.groups[n].description}" for n in names]

    # ------------------------------------------------------------------ results
    def _site_values(self, x: np.ndarray) -> np.ndarray:
        return np.round(self.problem.value(x, "y")).astype(int)

    def _result_radius(self) -> float | None:
        return self.service_radius

    def _coverage_mask(self) -> np.ndarray | None:
        r = self._result_radius()
        return None if r is None else self.pairs.within(r)

    def _served_share(self, x: np.ndarray) -> np.ndarray | None:
        """Covered fraction per demand point from the model's coverage expression."""
        if self.spec is None or self.capacities is None or self.own_capacity:
            return None
        g = self.spec.C @ x[: self.spec.C.shape[1]] + self.spec.c0
        return np.clip(g[self.spec.group], 0.0, 1.0)

    def _make_result(self, out: SolverOutput, details: dict[str, Any]) -> LocationResult:
        sites = pd.DataFrame(
            {
                "site_id": self.site_ids,
                "open": False,
                "fixed": self.fixed,
                "forbidden": self.forbidden,
                "vehicles": 0,
                "assigned_demand": 0.0,
                "assigned_points": 0,
            }
        )
        if self.capacities is not None:
            sites["capacity"] = self.capacities
        if self.site_costs is not None:
            sites["cost"] = self.site_costs
        empty_assign = pd.DataFrame(columns=["demand_id", "site_id", "travel_time", "covered", "share"])
        coverage = pd.DataFrame(
            {
                "demand_id": self.demand_ids,
                "weight": self.weights,
                "covered": False,
                "times_covered": 0,
                "served_share": 0.0,
            }
        )
        if self.districts is not None:
            coverage["district"] = self.districts
        if out.x is None:
            details.setdefault("reasons", [f"{self.label}: {out.status}"])
            return LocationResult(
                None,
                out.status,
                out.status_code,
                None,
                out.seconds,
                self.build_seconds,
                out.solver,
                sites,
                empty_assign,
                coverage,
                None,
                None,
                details,
            )
        x = out.x
        veh = self._site_values(x)
        is_open = veh > 0
        sites["open"] = is_open
        sites["vehicles"] = veh
        pairs = self.pairs
        cov_mask = self._coverage_mask()
        # times covered (vehicles within the standard)
        if cov_mask is not None:
            m = cov_mask & is_open[pairs.site]
            times = np.bincount(pairs.demand[m], weights=veh[pairs.site[m]], minlength=self.n_demand)
        else:
            times = None
        assign = self._assignments(x, is_open, cov_mask)
        served = self._served_share(x)
        if times is not None:
            covered = times > 0
            coverage["times_covered"] = times.astype(int)
        else:
            covered = np.zeros(self.n_demand, dtype=bool)
            covered[assign["demand_index"].to_numpy()] = True
            coverage["times_covered"] = covered.astype(int)
        if served is not None:
            coverage["served_share"] = served
        else:
            coverage["served_share"] = covered.astype(float)
        coverage["covered"] = covered
        # site loads
        w_assigned = self.weights[assign["demand_index"].to_numpy()] * assign["share"].to_numpy()
        sidx = assign["site_index"].to_numpy()
        sites["assigned_demand"] = np.bincount(sidx, weights=w_assigned, minlength=self.n_sites)
        sites["assigned_points"] = np.bincount(sidx, minlength=self.n_sites)
        assignments = assign.drop(columns=["demand_index", "site_index"])
        districts = None
        if self.districts is not None:
            served_w = self.weights * coverage["served_share"].to_numpy()
            districts = (
                pd.DataFrame(
                    {
                        "district": self.districts,
                        "demand_weight": self.weights,
                        "covered_weight": served_w,
                    }
                )
                .groupby("district", sort=True, as_index=False)
                .sum()
            )
            dw = districts["demand_weight"].to_numpy()
            districts["share"] = np.where(dw > 0, districts["covered_weight"] / np.where(dw > 0, dw, 1), 1.0)
        return LocationResult(
            out.objective,
            out.status,
            out.status_code,
            out.gap,
            out.seconds,
            self.build_seconds,
            out.solver,
            sites,
            assignments,
            coverage,
            districts,
            x,
            details,
        )

    def _assignments(self, x: np.ndarray, is_open: np.ndarray, cov_mask: np.ndarray | None) -> pd.DataFrame:
        """Demand -> site table (z shares if capacitated, else the nearest open site)."""
        pairs = self.pairs
        if self.capacities is not None and self.spec is not None and "z" in self.problem.blocks:
            z = self.problem.value(x, "z")
            spec = self.spec
            # expand group shares to demand points: point i in group g gets z_gj for each j
            pg = spec.pair_group
            order = np.argsort(spec.group, kind="stable")
            gstart = np.searchsorted(spec.group[order], np.arange(spec.weight.size))
            gcount = np.bincount(spec.group, minlength=spec.weight.size)
            keep = z > 1e-7
            pg, ps, zz = pg[keep], spec.pair_site[keep], z[keep]
            reps = gcount[pg]
            d_idx = (
                np.concatenate([order[gstart[g] : gstart[g] + gcount[g]] for g in pg])
                if pg.size
                else np.zeros(0, dtype=np.int64)
            )
            s_idx = np.repeat(ps, reps)
            share = np.repeat(zz, reps)
            t_lookup = _pair_time_lookup(pairs, d_idx, s_idx)
            covered = np.ones(d_idx.size, dtype=bool)
        else:
            m = is_open[pairs.site]
            if self._assignment_mask() is not None:
                m &= self._assignment_mask()
            d, s, t = pairs.demand[m], pairs.site[m], pairs.time[m]
            # pairs are sorted by (demand, time, site): first per demand = nearest open site
            first = np.ones(d.size, dtype=bool)
            first[1:] = d[1:] != d[:-1]
            d_idx, s_idx, t_lookup = d[first], s[first], t[first]
            share = np.ones(d_idx.size)
            if cov_mask is not None:
                covered = cov_mask[m][first]
            else:
                covered = np.ones(d_idx.size, dtype=bool)
        frame = pd.DataFrame(
            {
                "demand_id": self.demand_ids[d_idx],
                "site_id": self.site_ids[s_idx],
                "travel_time": t_lookup,
                "covered": covered,
                "share": share,
                "demand_index": d_idx,
                "site_index": s_idx,
            }
        )
        return frame

    def _assignment_mask(self) -> np.ndarray | None:
        """Pairs a demand point may be assigned to (``None``: any reachable pair)."""
        return None


def relaxation_culprits(
    problem: MilpProblem,
    solver: str | None = None,
    time_limit: float | None = 60.0,
    threads: int | None = None,
) -> list[str]:
    """Return the relaxable constraint groups whose removal alone makes ``problem`` feasible.

    The objective is dropped (a feasibility check); an empty list means the problem is
    feasible as it stands, or that no single group explains its infeasibility.
    """
    base = problem.copy()
    base.set_objective({}, sense="min")
    if solve_problem(base, solver, time_limit, None, threads).has_solution:
        return []
    culprits = []
    for name, grp in problem.groups.items():
        if not grp.relaxable:
            continue
        trial = base.copy()
        trial.remove_group(name)
        if solve_problem(trial, solver, time_limit, None, threads).has_solution:
            culprits.append(name)
    return culprits


def _pair_time_lookup(pairs: TravelPairs, d_idx: np.ndarray, s_idx: np.ndarray) -> np.ndarray:
    keys = pairs.keys()
    order = np.argsort(keys)
    q = s_idx.astype(np.int64) * np.int64(pairs.n_demand) + d_idx.astype(np.int64)
    pos = np.searchsorted(keys[order], q)
    pos = np.clip(pos, 0, max(keys.size - 1, 0))
    found = keys[order][pos] == q if keys.size else np.zeros(q.size, dtype=bool)
    return np.where(found, pairs.time[order][pos] if keys.size else 0.0, np.nan)


def _maybe_int(v: Any) -> Any:
    try:
        return int(v)
    except (TypeError, ValueError):
        return v


def _split_blocks(prob: MilpProblem, M: sp.spmatrix, exclude: str | None = None) -> dict[str, Any]:
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


def weights_or_ones(weights: Any, n: int) -> np.ndarray:
    """Return validated weights (ones when ``None``)."""
    w = _as_vector(weights, n, "weights")
    return np.ones(n) if w is None else w


def site_table_options(site_table: Any, site_ids: Iterable[Any] | None) -> dict[str, Any]:
    """Read per-site options from a table aligned with ``site_ids``.

    Recognised columns: ``fixed`` (or ``existing``), ``forbidden``, ``capacity``, ``cost``,
    ``max_vehicles``. The table is aligned on a ``site_id`` column if present, else on its
    index.
    """
    if site_table is None:
        return {}
    df = pd.DataFrame(site_table)
    if site_ids is None:
        site_ids = df["site_id"].tolist() if "site_id" in df.columns else list(df.index)
    ids = list(site_ids)
    if "site_id" in df.columns:
        df = df.set_index("site_id")
    missing = [s for s in ids if s not in df.index]
    if missing:
        raise InputError(None, "site_table", f"has no row for sites {missing[:5]}")
    df = df.loc[ids]
    opts: dict[str, Any] = {}
    for col, key in (
        ("fixed", "fixed_sites"),
        ("existing", "fixed_sites"),
        ("forbidden", "forbidden_sites"),
    ):
        if col in df.columns and key not in opts:
            opts[key] = df[col].fillna(False).astype(bool).to_numpy()
    for col, key in (
        ("capacity", "capacities"),
        ("cost", "site_costs"),
        ("max_vehicles", "max_vehicles"),
    ):
        if col in df.columns:
            opts[key] = df[col].to_numpy(dtype=float)
    return opts


__all__ = [
    "STATUS_WORDS",
    "CoverageSpec",
    "LocationModel",
    "LocationResult",
    "MilpProblem",
    "TravelPairs",
    "VarBlock",
    "group_identical_rows",
    "relaxation_culprits",
    "site_table_options",
]
