"""The location-model base: shared options, the solve loop and result tables.

* :class:`LocationModel` — common options (fixed and forbidden sites, capacities with
  assignment variables, site costs and a budget, per-district minimum coverage and max-min
  equity), the solve loop, result tables and :meth:`LocationModel.diagnose_infeasibility`.
* :class:`LocationResult` — what :meth:`LocationModel.solve` returns.
* :class:`CoverageSpec` — how a model states "demand group g is covered", which the
  shared capacity and district rules build on (defined in :mod:`healthopt.models.spec`,
  re-exported here).

Models build a :class:`~healthopt.milp.problem.MilpProblem` from
:class:`~healthopt.models.pairs.TravelPairs`; :mod:`healthopt.milp.solve` solves it.

Orientation: every ``from_cost_matrix`` takes a **demand × sites** matrix (rows are demand
points, columns candidate sites, as in spopt); ``from_travel_times`` takes an object whose
``.matrix`` is **sites × demand** (as written by ``healthopt.traveltime``).

Primal side: :meth:`LocationModel.solve` asks the model for a heuristic plan
(:meth:`LocationModel.heuristic_plan`, see :mod:`healthopt.models.heuristics`), turns it
into a checked solution vector (:meth:`LocationModel.start_vector`), hands it to HiGHS as
a MIP start and keeps it if the solver ends with nothing better
(:func:`healthopt.milp.solve.keep_better_start`). With the start's objective and the
model's Lagrangian bound, :meth:`LocationModel.fix_by_bound` fixes the sites every optimum
opens or closes (reduced-cost fixing) before the solver sees the problem. Reductions applied at build are undone
when a plan adds rows after :meth:`LocationModel.build` (the problem is rebuilt and the
rows replayed, :func:`healthopt.milp.problem.replay_added`).

Size: about 730 lines, half of it docstrings; the one solve loop every model shares
(options, checks, equity, start, polish, diagnosis, result hooks), and splitting it would
scatter the order of those steps over several files.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, TypedDict

import numpy as np
import numpy.typing as npt
import pandas as pd

from healthopt.errors import InfeasiblePlanError, InputError
from healthopt.milp.diagnose import relaxation_culprits
from healthopt.milp.problem import INF, MilpProblem, problem_shape, replay_added
from healthopt.milp.solve import SolverOutput, keep_better_start, solve_problem, tighten_bound
from healthopt.models._tables import assignments, location_result
from healthopt.models._validate import as_vector, check_count, check_radius
from healthopt.models.heuristics import HeuristicPlan, LagrangianBound, lagrangian_fixing
from healthopt.models.pairs import TravelPairs
from healthopt.models.result import LocationResult
from healthopt.models.rules import add_capacity, add_district_rules
from healthopt.models.spec import CoverageSpec

if TYPE_CHECKING:  # pragma: no cover
    from pulp import LpSolver

#: Rounds of Lagrangian site fixing (:meth:`LocationModel.fix_by_bound`).
FIXING_ROUNDS = 3

#: Seconds the local search of a start heuristic, and then its outside bound, may use at most
#: (each a tenth of a time limit if that is smaller).
HEURISTIC_SECONDS = 10.0

# =========================================================================== base model


class LocationOptions(TypedDict, total=False):
    """Keyword-only options every location model accepts (``**options`` of each model).

    Site arguments are aligned with the columns of the cost matrix (the candidate sites),
    demand arguments with its rows (the demand points).

    Attributes
    ----------
    site_ids, demand_ids : array-like
        Labels used in result tables (default: positions).
    fixed_sites, forbidden_sites : array-like
        Sites that must open / may not open: a boolean mask, site ids (when ``site_ids``
        is given) or positions.
    capacities : array-like
        Demand each site can serve (per vehicle for MEXCLP and the DSM); adds assignment
        variables so that covered demand is served within the standard, up to capacity.
    site_costs : array-like
        Cost of opening each site (LSCP: the objective; others: with ``budget``).
    budget : float
        Upper bound on ``Σ site_costs · y``.
    districts : array-like
        District label of each demand point (for the per-district KPIs and rules).
    min_district_share : float or mapping
        Minimum covered share of every district (or per district label).
    equity : bool
        Max-min fairness: first maximise the worst district share, then the objective.
    reduce : bool
        Exact reductions before solving (default on; :mod:`healthopt.models.reduce`):
        dominated sites closed (LSCP, MCLP), implied rows dropped (LSCP), assignment
        pairs beyond each point's ``n_allowed - p + 1`` nearest sites dropped (p-median).
    name : str
        Model name used in messages and solver files.
    """

    site_ids: npt.ArrayLike | None
    demand_ids: npt.ArrayLike | None
    fixed_sites: npt.ArrayLike | None
    forbidden_sites: npt.ArrayLike | None
    capacities: npt.ArrayLike | None
    site_costs: npt.ArrayLike | None
    budget: float | None
    districts: npt.ArrayLike | None
    min_district_share: float | Mapping[Any, float] | None
    equity: bool
    reduce: bool
    name: str | None


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
        weights: npt.ArrayLike | None = None,
        *,
        p_facilities: int | None = None,
        site_ids: npt.ArrayLike | None = None,
        demand_ids: npt.ArrayLike | None = None,
        fixed_sites: npt.ArrayLike | None = None,
        forbidden_sites: npt.ArrayLike | None = None,
        capacities: npt.ArrayLike | None = None,
        site_costs: npt.ArrayLike | None = None,
        budget: float | None = None,
        districts: npt.ArrayLike | None = None,
        min_district_share: float | Mapping[Any, float] | None = None,
        equity: bool = False,
        max_vehicles: npt.ArrayLike | None = None,
        service_radius: float | None = None,
        reduce: bool = True,
        name: str | None = None,
    ) -> None:
        t0 = time.perf_counter()
        self.reduce = bool(reduce)
        #: What the exact reductions of the last build removed (filled by the models).
        self.reduction: dict[str, Any] = {}
        self._reduced_build = False
        self._built_shape: tuple[tuple[str, ...], dict[str, int]] | None = None
        #: Seconds the local search of the start heuristic may use (set by :meth:`solve`).
        self.heuristic_seconds = HEURISTIC_SECONDS
        #: Lagrangian site costs stored by :meth:`dual_bound` (for :meth:`fix_by_bound`).
        self._lagrangian: LagrangianBound | None = None
        self.pairs = pairs
        self.n_sites, self.n_demand = pairs.n_sites, pairs.n_demand
        self.name = name or self.label
        self.site_ids = self._ids(site_ids, self.n_sites, "site_ids")
        self.demand_ids = self._ids(demand_ids, self.n_demand, "demand_ids")
        self._explicit_site_ids = site_ids is not None
        w = as_vector(weights, self.n_demand, "weights")
        self.weights = np.ones(self.n_demand) if w is None else w
        self.p_facilities = check_count(p_facilities, "p_facilities", allow_none=True)
        self.fixed = self._site_mask(fixed_sites, "fixed_sites")
        self.forbidden = self._site_mask(forbidden_sites, "forbidden_sites")
        both = self.fixed & self.forbidden
        if both.any():
            raise InputError(
                None,
                "fixed_sites",
                f"sites {self._names(both)} are both fixed (must open) and forbidden",
            )
        self.capacities = as_vector(capacities, self.n_sites, "capacities")
        self.site_costs = as_vector(site_costs, self.n_sites, "site_costs")
        if budget is not None:
            budget = check_radius(budget, "budget")
            if self.site_costs is None:
                raise InputError(None, "budget", "a budget needs site_costs")
        self.budget = budget
        self.max_vehicles = None
        if max_vehicles is not None:
            mv = np.broadcast_to(np.asarray(max_vehicles, dtype=float), (self.n_sites,)).copy()
            if (mv < 0).any() or not np.all(mv == np.round(mv)):
                raise InputError(None, "max_vehicles", "must be non-negative whole numbers")
            self.max_vehicles = mv
        self.service_radius = None if service_radius is None else check_radius(service_radius, "service_radius")
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
        self._district_spec: CoverageSpec | None = None
        self.build_seconds = time.perf_counter() - t0
        self.result: LocationResult | None = None

    def __repr__(self) -> str:
        p = "" if self.p_facilities is None else f", p_facilities={self.p_facilities}"
        r = "" if self.service_radius is None else f", service_radius={self.service_radius:g}"
        return f"{type(self).__name__}(n_demand={self.n_demand}, n_sites={self.n_sites}{p}{r})"

    def built_problem(self) -> MilpProblem:
        """Return :attr:`problem`, building it first if needed."""
        if self.problem is None:
            return self.build()
        return self.problem

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
        self.reduction = {}
        self._reduced_build = False
        ub = np.where(self.allowed, 1.0, 0.0)
        if self.integer_sites:
            mv = self.max_vehicles if self.max_vehicles is not None else np.full(self.n_sites, INF)
            if self.p_facilities is not None:
                mv = np.minimum(mv, self.p_facilities)
            ub = np.where(self.allowed, mv, 0.0)
        lb = np.where(self.fixed, 1.0, 0.0)
        prob.add_variables("y", self.n_sites, lb=lb, ub=ub, integer=True)
        self._district_spec = None  # a model may set its own district spec in _build_core
        spec = self._build_core(prob)
        self.spec = spec
        self._add_site_rules(prob)
        if self.capacities is not None and spec is not None and not self.own_capacity:
            add_capacity(prob, spec, self.capacities)
        dspec = self._district_spec or spec
        if dspec is not None and self.districts is not None and (self.min_district_share is not None or self.equity):
            add_district_rules(
                prob, dspec, self.districts, self.weights, min_share=self.min_district_share, equity=self.equity
            )
        for fn in self._extensions:
            fn(self, prob)
        self.problem = prob
        self._built_shape = problem_shape(prob)
        self.build_seconds += time.perf_counter() - t0
        return prob

    def mark_reduced(self, reduced: bool) -> None:
        """Record that the build applied reductions (rows added later then trigger a rebuild)."""
        self._reduced_build = bool(reduced)

    def reductions_allowed(self) -> bool:
        """Whether exact site/row reductions may be applied at build.

        Only when asked (``reduce=True``) and no rule beyond coverage, cost, site count
        and district shares acts on the sites: no capacities, no plan extensions.
        """
        return self.reduce and self.capacities is None and not self._extensions

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

    # ------------------------------------------------------------------ solve
    def solve(
        self,
        solver: str | LpSolver | None = None,
        time_limit: float | None = None,
        gap: float | None = None,
        threads: int | None = None,
        log_path: str | Path | None = None,
        *,
        heuristic: bool = True,
    ) -> LocationResult:
        """Solve the model and return a :class:`LocationResult`.

        Parameters
        ----------
        solver : {"highs", "cbc", "highs-pulp", "auto"}, pulp.LpSolver or None
            Backend (see :mod:`healthopt.milp.solve`), or a PuLP solver object such as
            ``pulp.HiGHS(msg=False)`` or ``pulp.PULP_CBC_CMD(msg=False)`` (used as configured).
        time_limit : float or None
            Seconds; on expiry the best plan found is returned with an honest status/gap.
        gap : float or None
            Relative MIP gap to stop at (default: prove optimality).
        threads : int or None
            Solver threads.
        log_path : str or Path or None
            Solver log file (the console stays quiet).
        heuristic : bool
            Start from the model's constructive heuristic plus local search
            (:mod:`healthopt.models.heuristics`), handed to HiGHS as a MIP start; the
            answer is never worse than that plan (``details["heuristic"]``). Models or
            options without a heuristic (capacities, budgets, district rules) ignore it.

        Raises
        ------
        InfeasiblePlanError
            When a pre-solve check shows the plan cannot be met (explained in words).
        """
        self.check()
        prob = self._unreduce_if_modified(self.built_problem())
        t_start = time.perf_counter()
        details: dict[str, Any] = {}
        if self.reduction:
            details["reduction"] = dict(self.reduction)
        if self.equity and "equity_level" in prob.blocks:
            out = self._solve_equity(prob, solver, time_limit, gap, threads, log_path, details)
        else:
            limit = time_limit
            self.heuristic_seconds = HEURISTIC_SECONDS
            if time_limit is not None:
                self.heuristic_seconds = min(HEURISTIC_SECONDS, 0.1 * time_limit)
            start = self._start(prob, details) if heuristic else None
            solve_prob = prob
            if start is not None:
                self._lagrangian = None
                dual = self.dual_bound(start[1])
                if dual is not None:
                    details["lagrangian_bound"] = dual
                solve_prob = self.fix_by_bound(prob, start[1], details) or prob
            if start is not None and time_limit is not None:  # the heuristic's time counts against the limit
                limit = max(0.5, time_limit - (time.perf_counter() - t_start))
            out = solve_problem(
                solve_prob, solver, limit, gap, threads, log_path, start=None if start is None else start[0]
            )
            if start is not None:
                out = keep_better_start(prob, out, start[0], start[1], details)
            out = self._polish(prob, out)
            if "lagrangian_bound" in details:
                out = tighten_bound(prob, out, details["lagrangian_bound"])
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
        if out1.x is None:
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

    # ------------------------------------------------------------------ primal side
    def heuristic_plan(self) -> HeuristicPlan | None:
        """Return a constructive heuristic + local search plan (``None``: the model has none).

        Called after :meth:`build`; models override it (see :mod:`healthopt.models.heuristics`).
        """
        return None

    def dual_bound(self, incumbent: float) -> float | None:
        """Return a proven bound on the optimum computed outside the solver (``None``: none).

        Models override it (the MCLP: a Lagrangian bound); the solve reports the better
        of it and the solver's own bound, so a time-limited gap is honest and tight.
        """
        return None

    def fix_by_bound(self, prob: MilpProblem, incumbent: float, details: dict[str, Any]) -> MilpProblem | None:
        """Return a copy of ``prob`` with the sites the Lagrangian bound decides fixed (``None``: nothing fixed).

        :func:`~healthopt.models.heuristics.lagrangian_fixing` with the multipliers that
        :meth:`dual_bound` stored in ``self._lagrangian``: a site whose forced opening (or
        closing) makes the bound worse than the start's objective ``incumbent`` is open (or
        closed) in every optimum, so the solver gets the smaller problem and the same optimum
        (the variable layout is unchanged; the solver's presolve drops what is fixed). Only
        where the exact reductions are allowed (:meth:`reductions_allowed`), the model has
        a site count and no budget, and nothing was added to the problem after :meth:`build`;
        :meth:`_fix_more` lets a model tighten more.
        ``details["bound_fixing"]`` records the counts.
        """
        lag = self._lagrangian
        if lag is None or not self.reductions_allowed() or self.p_facilities is None or self.budget is not None:
            return None
        if problem_shape(prob) != self._built_shape:  # a plan added variables or rows: its objective may differ
            return None
        fixed: MilpProblem | None = None
        info: dict[str, Any] = {"free_before": int(lag.free.sum()), "closed": 0, "opened": 0, "rounds": 0}
        for _ in range(FIXING_ROUNDS):  # each round's smaller problem has a tighter bound
            must_close, must_open = lagrangian_fixing(lag, incumbent)
            if not (must_close.any() or must_open.any()):
                break
            fixed = prob.copy() if fixed is None else fixed
            fixed.set_bounds("y", ub=0.0, index=must_close)
            fixed.set_bounds("y", lb=1.0, index=must_open)
            info["closed"] += int(must_close.sum())
            info["opened"] += int(must_open.sum())
            info["rounds"] += 1
            info |= self._fix_more(fixed)
            lag = self._relax(fixed, incumbent)
            if lag is None:
                break
            # the smaller problem keeps every optimum, so its bound bounds the optimum too
            if "lagrangian_bound" in details and math.isfinite(lag.bound):
                old = details["lagrangian_bound"]
                details["lagrangian_bound"] = max(old, lag.bound) if self.sense == "min" else min(old, lag.bound)
        if fixed is None:
            return None
        details["bound_fixing"] = info
        return fixed

    def _relax(self, prob: MilpProblem, incumbent: float) -> LagrangianBound | None:
        """Lagrangian relaxation of ``prob`` (its current site bounds) for :meth:`fix_by_bound` (``None``: none)."""
        return None

    def _fix_more(self, prob: MilpProblem) -> dict[str, Any]:
        """Tighten ``prob`` further after sites were fixed by the bound (default: nothing); returns counts."""
        return {}

    def start_vector(self, prob: MilpProblem, sites: np.ndarray) -> np.ndarray | None:
        """Full solution vector of ``prob`` for site vector ``sites`` (``None`` if infeasible)."""
        x = np.clip(np.zeros(prob.n_vars), prob.lb, prob.ub)
        x[prob.blocks["y"].slice] = sites
        filled = self._fill_start(x)
        if filled is None or not prob.is_feasible(filled):
            return None
        return filled

    def _fill_start(self, x: np.ndarray) -> np.ndarray | None:
        """Set the demand-side variables of a start from its site block (default: :meth:`_polish_x`)."""
        filled = self._polish_x(x.copy())
        return x if filled is None else filled

    def _start(self, prob: MilpProblem, details: dict[str, Any]) -> tuple[np.ndarray, float] | None:
        t0 = time.perf_counter()
        plan = self.heuristic_plan()
        if plan is None:
            return None
        x = self.start_vector(prob, plan.sites)
        info: dict[str, Any] = {
            "method": plan.method,
            "greedy_objective": plan.greedy_objective,
            "swaps": plan.swaps,
            "seconds": time.perf_counter() - t0,
            "feasible": x is not None,
        }
        details["heuristic"] = info
        if x is None:
            return None
        obj = float(prob.obj @ x + prob.offset)
        info["objective"] = obj
        return x, obj

    def _polish(self, prob: MilpProblem, out: SolverOutput) -> SolverOutput:
        """Improve a not-proven-optimal incumbent by saturating coverage variables.

        A time-limited incumbent may leave a covered demand group's coverage variable below
        1; raising it keeps every row satisfied (checked) and only improves the objective,
        so the reported objective matches the plan's real coverage.
        """
        if out.x is None or out.status_code in ("optimal",) or prob.integer.size == 0:
            return out
        x2 = self._polish_x(out.x.copy())
        if x2 is None or out.objective is None:
            return out
        obj = float(prob.obj @ x2 + prob.offset)
        better = obj > out.objective + 1e-9 if prob.sense == "max" else obj < out.objective - 1e-9
        if not better or not prob.is_feasible(x2):
            return out
        out.x, out.objective = x2, obj
        if out.bound is not None and math.isfinite(out.bound):
            out.gap = abs(obj - out.bound) / max(abs(obj), 1e-9)
        return out

    def _unreduce_if_modified(self, prob: MilpProblem) -> MilpProblem:
        """Rebuild without reductions if rows or variables were added after :meth:`build`.

        A plan's own rule may open a site that a reduction closed; the unreduced problem
        is rebuilt and the added blocks and rows are replayed on it (by block name).
        """
        if not self._reduced_build or self._built_shape is None or problem_shape(prob) == self._built_shape:
            return prob
        saved = self.reduce
        self.reduce = False
        try:
            new = self.build()
        finally:
            self.reduce = saved
        # rows on the model's own demand-side blocks depend on the reduced grouping
        replay_added(prob, new, self._built_shape, fixed_size=[b for b in self._built_shape[0] if b != "y"])
        self.problem = new
        return new

    # ------------------------------------------------------------------ diagnosis
    def diagnose_infeasibility(
        self,
        solver: str | LpSolver | None = None,
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
        return relaxation_culprits(self.built_problem(), solver, time_limit, threads)

    # ------------------------------------------------------------------ results
    # Hooks that decide the result tables (healthopt.models._tables); models override them.
    def site_values(self, x: np.ndarray) -> np.ndarray:
        """Vehicles (or 0/1 open) per site in solution ``x``."""
        return np.round(self.built_problem().value(x, "y")).astype(int)

    def result_radius(self) -> float | None:
        """Return the standard that defines "covered" in the result tables (``None``: none)."""
        return self.service_radius

    def coverage_mask(self) -> np.ndarray | None:
        """Pairs within :meth:`result_radius` (``None`` without a standard)."""
        r = self.result_radius()
        return None if r is None else self.pairs.within(r)

    def served_share(self, x: np.ndarray) -> np.ndarray | None:
        """Covered fraction per demand point from the model's coverage expression."""
        if self.spec is None or self.capacities is None or self.own_capacity:
            return None
        g = self.spec.C @ x[: self.spec.C.shape[1]] + self.spec.c0
        return np.clip(g[self.spec.group], 0.0, 1.0)

    def _make_result(self, out: SolverOutput, details: dict[str, Any]) -> LocationResult:
        return location_result(self, out, details)

    def assignment_table(self, x: np.ndarray, is_open: np.ndarray, cov_mask: np.ndarray | None) -> pd.DataFrame:
        """Demand -> site table (z shares if capacitated, else the nearest open site)."""
        return assignments(self, x, is_open, cov_mask)

    def assignment_mask(self) -> np.ndarray | None:
        """Pairs a demand point may be assigned to (``None``: any reachable pair)."""
        return None


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
    "CoverageSpec",
    "LocationModel",
    "LocationOptions",
    "site_table_options",
]
