"""Solver layer: send a matrix-form :class:`~healthopt.milp.problem.MilpProblem` to a MILP solver.

Backends
--------
``"highs"``
    HiGHS through ``highspy`` directly: the CSR constraint matrix, bounds and integrality
    arrays are passed in one ``Highs.passModel`` call (no per-element Python work).
``"cbc"``
    COIN-OR CBC bundled with PuLP (``PULP_CBC_CMD``). The matrix is converted to PuLP
    objects row by row with ``LpAffineExpression(zip(variables, coefficients))``.
``"highs-pulp"``
    PuLP's ``HiGHS`` API class (same PuLP conversion; PuLP then adds rows to HiGHS one by one).
``"auto"`` / ``None``
    :data:`DEFAULT_SOLVER`.
a PuLP solver object
    e.g. ``pulp.HiGHS(msg=False)`` or ``pulp.PULP_CBC_CMD(msg=False, timeLimit=60)``, as
    spopt users pass one: the model is converted to PuLP and solved with that object as
    configured (its own time limit, gap and messages; ``time_limit``/``gap``/``threads``
    arguments do not change it).

Console output
--------------
Nothing reaches stdout. highspy prints a two-line banner ("Running HiGHS ... Copyright")
from C the first time a ``Highs`` object is made in a process, before any option can be
set, so every ``Highs`` is made with file descriptor 1 pointed at the null device
(:func:`new_highs`); the solver log goes to ``log_path`` only (``log_to_console`` off).

Choice of the default (measured, not assumed)
---------------------------------------------
``benchmarks/bench_models.py`` on the project's 2-core machine (shared with other jobs, so
±30 % noise). Seconds = model build + conversion + solve; all objectives equal::

    instance (seeded, 40 km square)                    highs    cbc    highs-pulp
    MCLP  3,000 x 1,000, 9-min walk, p=300             0.19     0.43   0.32
    LSCP  3,000 x 1,000, 9-min walk                    0.05     0.09   0.15
    MCLP 20,000 x 2,000, 9-min walk, p=800             4.19     5.39   4.78
    LSCP 20,000 x 2,000, 9-min walk                    0.36     0.58   0.72
    MCLP  3,000 x 1,000, 4 min at 30 km/h, p=100       56.8     72.9   44.3
    MCLP  3,000 x 1,000, 5 min at 30 km/h, p=60,       gap 0.32%  gap ?  gap 0.34%
          90 s limit (incumbent)                       2,488,130  2,486,547  2,487,679

Direct ``highspy`` is fastest or tied wherever the model is easy (the PuLP routes spend
their time building Python objects), and HiGHS (either route) beats CBC on the hard
instances (the HiGHS-vs-HiGHS difference there is run-to-run variance from row order).
So ``auto`` means ``"highs"``. The team's earlier note (PuLP's HiGHS slower than CBC on a
3,000 x 1,000 MCLP) reflects PuLP's per-element ``addRow`` conversion, which the direct
route avoids; CBC via PuLP also reports no bound, so its gap is unknown on time limits.

Exactness: unless ``gap`` is given, the relative MIP gap is set to 0 for every backend
(HiGHS' own default is 1e-4), so "optimal" means proven optimal.

Limits, Ctrl-C and reproducibility
----------------------------------
A time-limited status names the limit ("time limit reached (120 s) — best plan found, not
proven optimal"). HiGHS runs in highspy's solver thread (``Highs.startSolve``) because
``Highs.run()`` in the main thread defers Python's SIGINT handling until the solve ends,
i.e. until the time limit; on Ctrl-C the solve is cancelled through HiGHS' interrupt
callbacks and :class:`KeyboardInterrupt` is raised again, never a partial result. HiGHS
checks the flag between the LP solves of its branch and bound but not inside one (its LP
relaxation has no callback), so it stops within one LP solve: 0.6–3.6 s measured on the
full Taiyuan baseline, 7–10 s during its root LP on a loaded 2-core machine. After
:data:`INTERRUPT_GRACE_S` the run stops without it (the solver thread is a daemon and
ends with the process). CBC runs as a child process, which is killed on Ctrl-C (with its
temporary files). ``highs-pulp`` calls ``Highs.run()`` itself, so Ctrl-C waits for its end.

HiGHS gets a fixed ``random_seed`` (:data:`RANDOM_SEED`), so a solve that finishes (optimal
or within the gap) gives the same plan every time, with 1 or 2 threads alike. A solve
stopped by its wall-clock time limit does not: where it stops depends on machine speed
and load. HiGHS 1.15 has no deterministic work limit; its node limit ``mip_max_nodes`` stops
at the same plan every time (1 or 2 threads), but 30 nodes of the Taiyuan baseline took
120–210 s here, so it cannot stand in for a time budget.

Size: about 680 lines, a fifth of it this docstring (the measured reasons for the
defaults); the three backends share the status and gap logic (and
:func:`keep_better_start`, which makes every backend's answer at least its start), so
they stay in one module.
"""

from __future__ import annotations

import contextlib
import ctypes
import math
import os
import shutil
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from healthopt.errors import InputError
from healthopt.milp.problem import MilpProblem

if TYPE_CHECKING:  # pragma: no cover
    from pulp import LpSolver

#: Backends understood by :func:`solve_problem`.
SOLVERS: tuple[str, ...] = ("highs", "cbc", "highs-pulp")

#: Backend used for ``solver=None`` / ``"auto"`` (chosen by measurement, see module docstring).
DEFAULT_SOLVER: str = "highs"

#: HiGHS ``random_seed``: fixed (it is also HiGHS' default) so that no global option change
#: or future default can make two runs of the same scenario differ.
RANDOM_SEED: int = 0

#: Seconds to wait after Ctrl-C for HiGHS to stop before the run ends without it.
INTERRUPT_GRACE_S: float = 5.0

#: Status codes and their plain-words descriptions.
STATUS_WORDS: dict[str, str] = {
    "optimal": "optimal",
    "optimal_within_gap": "optimal within the requested gap",
    "time_limit_feasible": "time limit reached — best plan found, not proven optimal",
    "time_limit_no_solution": "time limit reached — no feasible plan found yet",
    "infeasible": "infeasible",
    "unbounded": "unbounded (the objective can grow without limit: a constraint is missing)",
    "error": "solver error",
}


@dataclass(frozen=True)
class LpBasis:
    """A simplex basis: HiGHS's status per column and per row (0 lower, 1 basic, 2 upper, 3 zero, 4 nonbasic).

    :func:`healthopt.milp.lp_first.solve_lp_first` returns the optimal basis of its LP
    relaxation and restarts from one: the basis of a problem with the same rows, new
    columns nonbasic at zero, is re-solved by simplex in a fraction of the interior point
    method's time when only the objective (and a few bounds) changed.
    """

    col: np.ndarray
    row: np.ndarray


@dataclass
class SolverOutput:
    """What a backend returns: status, solution vector and quality figures.

    Attributes
    ----------
    status_code : str
        One of the keys of :data:`STATUS_WORDS`.
    status : str
        Plain-words status.
    x : numpy.ndarray or None
        Variable values (``None`` when no feasible solution is known).
    objective : float or None
        Objective of ``x`` in the problem's own sense.
    bound : float or None
        Best proven bound on the objective (``None`` when the backend does not report it).
    gap : float or None
        Relative gap ``|objective - bound| / max(|objective|, 1e-9)``; ``None`` when unknown.
    seconds : float
        Wall time spent in the backend, conversion included.
    solver : str
        Backend name.
    message : str
        Raw solver status text.
    lp_basis : LpBasis or None
        The LP relaxation's optimal basis, where the solve computed one (LP first).
    """

    status_code: str
    status: str
    x: np.ndarray | None
    objective: float | None
    bound: float | None
    gap: float | None
    seconds: float
    solver: str
    message: str = ""
    lp_basis: LpBasis | None = None

    @property
    def has_solution(self) -> bool:
        """Whether a feasible solution vector is available."""
        return self.x is not None


def resolve_solver(solver: str | None) -> str:
    """Return the backend name for ``solver`` (``None``/``"auto"`` -> :data:`DEFAULT_SOLVER`)."""
    if solver is None or solver == "auto":
        return DEFAULT_SOLVER
    name = str(solver).lower()
    if name not in SOLVERS:
        raise InputError(None, "solver", f"unknown solver {solver!r}; choose one of {', '.join(SOLVERS)} or auto")
    return name


def _check_params(time_limit: float | None, gap: float | None, threads: int | None) -> None:
    if time_limit is not None and not (time_limit > 0 and math.isfinite(time_limit)):
        raise InputError(None, "time_limit", f"must be a positive number of seconds, got {time_limit}")
    if gap is not None and not (0 <= gap < 1):
        raise InputError(None, "gap", f"relative gap must be in [0, 1), got {gap}")
    if threads is not None and int(threads) < 1:
        raise InputError(None, "threads", f"must be at least 1, got {threads}")


def _gap(objective: float | None, bound: float | None) -> float | None:
    if objective is None or bound is None or not math.isfinite(bound):
        return None
    return abs(objective - bound) / max(abs(objective), 1e-9)


def solve_problem(
    problem: MilpProblem,
    solver: str | LpSolver | None = None,
    time_limit: float | None = None,
    gap: float | None = None,
    threads: int | None = None,
    log_path: str | Path | None = None,
    start: np.ndarray | None = None,
) -> SolverOutput:
    """Solve ``problem`` with the chosen backend.

    Parameters
    ----------
    problem : MilpProblem
        Matrix-form model.
    solver : {"highs", "cbc", "highs-pulp", "auto"}, pulp.LpSolver or None
        Backend; ``None``/``"auto"`` uses :data:`DEFAULT_SOLVER`. A PuLP solver object
        (``pulp.HiGHS(msg=False)``, ``pulp.PULP_CBC_CMD(msg=False)``) is used as configured.
    time_limit : float or None
        Wall-clock limit in seconds; the best feasible incumbent is returned when it hits.
    gap : float or None
        Relative MIP gap at which to stop (``None``: 0, i.e. prove optimality).
    threads : int or None
        Solver threads (``None``: solver default).
    log_path : str or Path or None
        File receiving the solver log. Nothing is ever printed to the console.
    start : numpy.ndarray or None
        A feasible solution to start from (HiGHS only; ignored by the PuLP backends).
        With a time limit, the answer is never worse than this start.

    Returns
    -------
    SolverOutput
    """
    _check_params(time_limit, gap, threads)
    if log_path is not None:
        Path(log_path).parent.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    if solver is not None and not isinstance(solver, str):
        out = _solve_pulp_object(problem, solver)
        time_limit = solver.timeLimit  # the object's own limit names the status
    elif (name := resolve_solver(solver)) == "highs":
        model = highs_model(problem, time_limit, gap, threads, log_path, start)
        if isinstance(model, SolverOutput):  # HiGHS rejected the model
            out = model
        else:
            _run_interruptible(model)
            out = highs_output(problem, model, gap)
    else:
        out = _solve_pulp(problem, name, time_limit, gap, threads, log_path)
    out.seconds = time.perf_counter() - t0
    return named_limit(out, time_limit)


def status_words(code: str, gap: float | None) -> str:
    """Return the planner's words for status ``code``; a solve stopped within its gap says how far from the bound."""
    words = STATUS_WORDS[code]
    if code == "optimal_within_gap" and gap is not None:
        words = f"{words} ({100 * gap:.3g}% from the proven bound)"
    return words


def is_native_highs(solver: Any) -> bool:
    """Whether ``solver`` (a name, ``None``/``"auto"`` or a PuLP solver object) means HiGHS through highspy."""
    return isinstance(solver, str | None) and resolve_solver(solver) == "highs"


def named_limit(out: SolverOutput, time_limit: float | None) -> SolverOutput:
    """``out`` with a time-limited status naming ``time_limit`` (the caller's limit, not a step's share of it)."""
    if not out.status_code.startswith("time_limit"):
        return out
    words = STATUS_WORDS[out.status_code]
    if time_limit is not None:
        words = words.replace("time limit reached", f"time limit reached ({time_limit:g} s)", 1)
    return replace(out, status=words)


def keep_better_start(
    prob: MilpProblem, out: SolverOutput, x0: np.ndarray, obj0: float, details: dict[str, Any]
) -> SolverOutput:
    """Return ``out``, or the feasible start ``x0`` (objective ``obj0``) when the solver ended with nothing better.

    So a solve is never worse than its start, whichever backend ran (the PuLP backends
    ignore starts). The solver's proven bound (if any) still holds, so the gap is
    recomputed for the start; ``details["heuristic"]["kept"]`` records it.
    """
    if out.status_code in ("infeasible", "unbounded"):
        return out
    if out.x is not None and out.objective is not None:
        worse = out.objective < obj0 - 1e-9 * max(1.0, abs(obj0))
        if prob.sense == "min":
            worse = out.objective > obj0 + 1e-9 * max(1.0, abs(obj0))
        if not worse:
            return out
    details.setdefault("heuristic", {})["kept"] = True
    gap = None
    if out.bound is not None and math.isfinite(out.bound):
        gap = abs(obj0 - out.bound) / max(abs(obj0), 1e-9)
    code, words = out.status_code, out.status
    if code in ("time_limit_no_solution", "error"):
        code = "time_limit_feasible"
        # keep the limit the status names ("time limit reached (60 s) — ...")
        tail_none = STATUS_WORDS["time_limit_no_solution"].split("— ")[-1]
        tail_plan = STATUS_WORDS[code].split("— ")[-1]
        words = out.status.replace(tail_none, tail_plan) if tail_none in out.status else STATUS_WORDS[code]
    return SolverOutput(code, words, x0.copy(), obj0, out.bound, gap, out.seconds, out.solver, out.message)



def tighten_bound(prob: MilpProblem, out: SolverOutput, bound: float) -> SolverOutput:
    """Use ``bound`` (a proven bound found outside the solver) when it beats the solver's own.

    Only the reported bound and gap change, never the plan or its status.
    """
    if out.x is None or out.objective is None or out.status_code == "optimal" or not math.isfinite(bound):
        return out
    own = out.bound if out.bound is not None and math.isfinite(out.bound) else None
    if prob.sense == "max":
        best = bound if own is None else min(own, bound)
    else:
        best = bound if own is None else max(own, bound)
    if own is not None and best == own:
        return out
    out.bound = best
    out.gap = max(0.0, abs(best - out.objective)) / max(abs(out.objective), 1e-9)
    return out


# --------------------------------------------------------------------------- HiGHS direct


def _flush_c_stdout() -> None:
    """Flush the C library's stdout buffer (where HiGHS' banner waits when stdout is a pipe)."""
    with contextlib.suppress(Exception):
        ctypes.CDLL(None).fflush(None)


@contextlib.contextmanager
def _stdout_to_null() -> Iterator[None]:
    """Point file descriptor 1 at the null device for the duration (C-level output included).

    Python's ``sys.stdout`` is flushed first so that nothing already printed is lost or
    reordered; C's buffer is flushed before fd 1 is restored so that nothing written in
    between reaches the real stdout later. Without a usable fd 1 it does nothing.
    """
    if sys.stdout is not None:
        sys.stdout.flush()
    _flush_c_stdout()
    try:
        saved = os.dup(1)
    except OSError:
        yield
        return
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 1)
        yield
    finally:
        _flush_c_stdout()
        os.dup2(saved, 1)
        os.close(saved)
        os.close(null)


def new_highs() -> Any:
    """Return a silent ``highspy.Highs`` (``output_flag`` off), its banner kept off stdout.

    highspy prints "Running HiGHS ... Copyright ..." from C when the first ``Highs`` of a
    process is made, before any option can be set; fd 1 is redirected around construction.
    """
    import highspy

    with _stdout_to_null():
        h = highspy.Highs()
        h.setOptionValue("output_flag", False)
    return h


#: Whether HiGHS's worker threads exist in a process (by process id). They outlive the solve
#: that started them (measured: one more OS thread after a 2-thread solve, none after a
#: 1-thread one), so such a process must not fork: a child would inherit a pool without threads.
_THREAD_POOL: dict[int, bool] = {}


def highs_threads_alive() -> bool:
    """Return whether a HiGHS solve in this process has left worker threads running."""
    return _THREAD_POOL.get(os.getpid(), False)


def _note_highs_threads(threads: int | None, *, reset: bool) -> None:
    """Record the thread pool an in-process HiGHS solve leaves (see :func:`highs_threads_alive`).

    ``reset``: the pool was just resized to ``threads`` (:func:`highs_model`), so one thread
    leaves none besides the caller's; otherwise (PuLP's HiGHS) an earlier pool may remain.
    """
    pid = os.getpid()
    _THREAD_POOL[pid] = threads != 1 or (not reset and _THREAD_POOL.get(pid, False))


def highs_model(
    problem: MilpProblem,
    time_limit: float | None,
    gap: float | None,
    threads: int | None,
    log_path: str | Path | None,
    start: np.ndarray | None = None,
) -> Any:
    """Return a ``highspy.Highs`` holding ``problem`` with its options set, or the error output if HiGHS rejects it.

    :func:`start_highs` / :func:`wait_highs` then run it in highspy's solver thread, so the
    caller may compute meanwhile (:mod:`healthopt.milp.lp_first` builds its start so).
    """
    import highspy

    A, row_lb, row_ub = problem.assemble()
    n, m = problem.n_vars, A.shape[0]
    inf = highspy.kHighsInf
    h = new_highs()
    if log_path is not None:
        h.setOptionValue("log_to_console", False)
        h.setOptionValue("log_file", str(log_path))
        h.setOptionValue("output_flag", True)
    h.setOptionValue("mip_rel_gap", float(gap) if gap is not None else 0.0)
    h.setOptionValue("random_seed", RANDOM_SEED)
    if time_limit is not None:
        h.setOptionValue("time_limit", float(time_limit))
    if threads is not None:
        # HiGHS keeps one thread pool per process and fails every later run() that asks
        # for a different size ("Not Set" status), so resize the pool explicitly.
        highspy.Highs.resetGlobalScheduler(True)
        h.setOptionValue("threads", int(threads))
    _note_highs_threads(threads, reset=threads is not None)
    for option, value in problem.solver_options.items():  # a model's own measured choice
        h.setOptionValue(option, value)

    lb = np.where(np.isfinite(problem.lb), problem.lb, -inf)
    ub = np.where(np.isfinite(problem.ub), problem.ub, inf)
    rlb = np.where(np.isfinite(row_lb), row_lb, -inf)
    rub = np.where(np.isfinite(row_ub), row_ub, inf)
    sense = -1 if problem.sense == "max" else 1
    integrality = problem.integer.astype(np.int32)
    status = h.passModel(
        int(n),
        int(m),
        int(A.nnz),
        2,  # row-wise (CSR)
        sense,
        float(problem.offset),
        np.ascontiguousarray(problem.obj, dtype=np.float64),
        np.ascontiguousarray(lb, dtype=np.float64),
        np.ascontiguousarray(ub, dtype=np.float64),
        np.ascontiguousarray(rlb, dtype=np.float64),
        np.ascontiguousarray(rub, dtype=np.float64),
        A.indptr.astype(np.int32),
        A.indices.astype(np.int32),
        A.data.astype(np.float64),
        integrality,
    )
    if status == highspy.HighsStatus.kError:
        return SolverOutput(
            "error",
            STATUS_WORDS["error"],
            None,
            None,
            None,
            None,
            0.0,
            "highs",
            "HiGHS rejected the model",
        )
    if start is not None:
        sol = highspy.HighsSolution()
        sol.col_value = np.asarray(start, dtype=float).tolist()
        sol.value_valid = True
        h.setSolution(sol)
    return h


def set_basis(h: Any, basis: LpBasis) -> bool:
    """Start ``h``'s next simplex solve from ``basis``; return whether HiGHS accepted it."""
    import highspy

    b = highspy.HighsBasis()
    b.col_status = [highspy.HighsBasisStatus(int(k)) for k in basis.col]
    b.row_status = [highspy.HighsBasisStatus(int(k)) for k in basis.row]
    b.valid = True
    return bool(h.setBasis(b) != highspy.HighsStatus.kError)


def get_basis(h: Any) -> LpBasis | None:
    """Return the basis of ``h``'s last LP solve, or ``None`` when it has no valid one."""
    b = h.getBasis()
    if not b.valid:
        return None
    return LpBasis(np.array([int(k) for k in b.col_status], dtype=np.int8),
                   np.array([int(k) for k in b.row_status], dtype=np.int8))


def highs_output(problem: MilpProblem, h: Any, gap: float | None) -> SolverOutput:
    """Read the status, plan, bound and gap of a finished HiGHS solve of ``problem``."""
    import highspy

    ms = h.getModelStatus()
    message = h.modelStatusToString(ms)
    info = h.getInfo()
    has_sol = int(info.primal_solution_status) == 2  # kSolutionStatusFeasible
    x = None
    objective = None
    if has_sol:
        x = np.array(h.getSolution().col_value, dtype=float)
        x[problem.integer] = np.round(x[problem.integer])
        objective = float(problem.obj @ x + problem.offset)
    is_mip = bool(problem.integer.any())
    bound = float(info.mip_dual_bound) if is_mip else objective
    MS = highspy.HighsModelStatus
    if ms == MS.kOptimal:
        g = _gap(objective, bound) if is_mip else 0.0
        code = "optimal" if (gap is None or not g or g <= 1e-9) else "optimal_within_gap"
    elif ms in (MS.kTimeLimit, MS.kIterationLimit, MS.kSolutionLimit, MS.kInterrupt):
        code = "time_limit_feasible" if has_sol else "time_limit_no_solution"
        g = _gap(objective, bound)
    elif ms == MS.kInfeasible:
        code, g, x, objective = "infeasible", None, None, None
    elif ms in (MS.kUnbounded, MS.kUnboundedOrInfeasible):
        # HiGHS presolve cannot always tell the two apart; our models are bounded, so
        # "unbounded or infeasible" is reported as infeasible.
        code = "unbounded" if ms == MS.kUnbounded else "infeasible"
        g, x, objective = None, None, None
    else:
        code, g = ("time_limit_feasible" if has_sol else "error"), _gap(objective, bound)
    words = status_words(code, g)
    return SolverOutput(
        code,
        words,
        x,
        objective,
        bound if x is not None else None,
        g if x is not None else None,
        0.0,
        "highs",
        message,
    )


def _run_interruptible(h) -> None:
    """Run ``h`` in highspy's solver thread; on Ctrl-C cancel it and raise KeyboardInterrupt.

    ``highspy.Highs.solve()`` does the same but prints to stdout, exits the process after
    five Ctrl-C and returns the interrupted incumbent, which a run must not write.
    """
    start_highs(h)
    wait_highs(h)


def start_highs(h: Any) -> None:
    """Start ``h`` in highspy's solver thread and return at once (then :func:`wait_highs`)."""
    h.HandleUserInterrupt = True  # HiGHS polls cancelSolve() through its interrupt callbacks
    h.startSolve()


def wait_highs(h: Any) -> None:
    """Wait for a solve :func:`start_highs` started; on Ctrl-C cancel it and raise KeyboardInterrupt."""
    try:
        while not h.wait(0.1)[0]:
            pass
    except KeyboardInterrupt:
        cancel_highs(h)
        raise


def cancel_highs(h: Any) -> None:
    """Cancel a started solve and give it :data:`INTERRUPT_GRACE_S` to stop (before the caller raises)."""
    h.cancelSolve()
    deadline = time.monotonic() + INTERRUPT_GRACE_S
    # A second Ctrl-C ends this wait too: the solver thread is a daemon and dies with the process.
    while time.monotonic() < deadline and not h.wait(0.1)[0]:
        pass


# --------------------------------------------------------------------------- PuLP (CBC / HiGHS)


def to_pulp(problem: MilpProblem):
    """Convert ``problem`` to a ``pulp.LpProblem`` (vectorised per row; returns (lp, vars))."""
    import pulp

    A, row_lb, row_ub = problem.assemble()
    n = problem.n_vars
    sense = pulp.LpMaximize if problem.sense == "max" else pulp.LpMinimize
    lp = pulp.LpProblem(_safe_name(problem.name or "healthopt"), sense)
    lb = [None if not math.isfinite(v) else float(v) for v in problem.lb]
    ub = [None if not math.isfinite(v) else float(v) for v in problem.ub]
    cats = np.where(problem.integer, pulp.LpInteger, pulp.LpContinuous)
    if hasattr(lp, "add_variable"):  # PuLP >= 3.3 (4.0 style)
        variables = [lp.add_variable(f"x{k}", lb[k], ub[k], cats[k]) for k in range(n)]
    else:  # pragma: no cover - older PuLP
        variables = [pulp.LpVariable(f"x{k}", lb[k], ub[k], cats[k]) for k in range(n)]
    nz = np.flatnonzero(problem.obj)
    objective = pulp.LpAffineExpression(
        zip([variables[k] for k in nz], problem.obj[nz].tolist(), strict=True),
        constant=float(problem.offset),
    )
    lp.setObjective(objective)
    indptr, indices, data = A.indptr, A.indices, A.data.tolist()
    idx_list = indices.tolist()
    GE, LE, EQ = pulp.LpConstraintGE, pulp.LpConstraintLE, pulp.LpConstraintEQ
    constraints = {}
    for r in range(A.shape[0]):
        s, e = indptr[r], indptr[r + 1]
        terms = list(zip([variables[k] for k in idx_list[s:e]], data[s:e], strict=True))
        lo, hi = row_lb[r], row_ub[r]
        if math.isfinite(lo) and math.isfinite(hi) and lo == hi:
            constraints[f"r{r}"] = pulp.LpConstraint(pulp.LpAffineExpression(terms), EQ, rhs=lo)
            continue
        if math.isfinite(lo):
            constraints[f"r{r}"] = pulp.LpConstraint(pulp.LpAffineExpression(terms), GE, rhs=lo)
        if math.isfinite(hi):
            constraints[f"r{r}u"] = pulp.LpConstraint(pulp.LpAffineExpression(terms), LE, rhs=hi)
    lp.extend(constraints)
    return lp, variables


def _cbc_cmd(pulp, time_limit, rel_gap, threads, log_path, tmp_dir: str | None = None):
    cmd = pulp.PULP_CBC_CMD(
        msg=False,
        timeLimit=time_limit,
        gapRel=rel_gap,
        threads=threads,
        logPath=str(log_path) if log_path is not None else None,
    )
    if tmp_dir is not None:
        cmd.tmpDir = tmp_dir
    return cmd


@contextlib.contextmanager
def _solver_processes() -> Iterator[str]:
    """Yield a private folder for PuLP's solver files; on Ctrl-C kill the solver it started.

    PuLP waits for CBC with ``Popen.wait()`` and has no cleanup for an interrupted wait, so
    the child would run on to its time limit and its model files stay in the temp folder.
    PuLP's reference to ``subprocess`` is swapped for one that records the children.
    """
    from pulp.apis import coin_api

    started = []
    real = coin_api.subprocess

    class _Recording:
        def __getattr__(self, name):
            return getattr(real, name)

        @staticmethod
        def Popen(*args, **kwargs):  # noqa: N802 - the name PuLP calls
            proc = real.Popen(*args, **kwargs)
            started.append(proc)
            return proc

    folder = tempfile.mkdtemp(prefix="healthopt-pulp-")
    coin_api.subprocess = _Recording()
    try:
        yield folder
    except BaseException:
        for proc in started:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        raise
    finally:
        coin_api.subprocess = real
        shutil.rmtree(folder, ignore_errors=True)


def _safe_name(name: str) -> str:
    return "".join(ch if ch.isalnum() else "_" for ch in name) or "healthopt"


def _solve_pulp(
    problem: MilpProblem,
    name: str,
    time_limit: float | None,
    gap: float | None,
    threads: int | None,
    log_path: str | Path | None,
) -> SolverOutput:
    import pulp

    lp, variables = to_pulp(problem)
    rel_gap = float(gap) if gap is not None else 0.0
    if name == "cbc":
        with _solver_processes() as tmp_dir:
            with warnings.catch_warnings():  # PuLP 3.3 flags the bundled CBC for PuLP 4.0
                warnings.simplefilter("ignore", DeprecationWarning)
                cmd = _cbc_cmd(pulp, time_limit, rel_gap, threads, log_path, tmp_dir)
            lp.solve(cmd)
    else:
        if not pulp.HiGHS().available():  # pragma: no cover - highspy is a dependency
            raise InputError(None, "solver", "PuLP cannot find HiGHS (install highspy)")
        extra: dict[str, Any] = {"random_seed": RANDOM_SEED}
        if log_path is not None:
            extra.update({"log_file": str(log_path), "log_to_console": False})
        cmd = pulp.HiGHS(msg=log_path is not None, timeLimit=time_limit, gapRel=rel_gap, threads=threads, **extra)
        new_highs()  # PuLP makes its Highs itself: the first one of a process prints a banner
        # PuLP calls Highs.run() in this thread: Ctrl-C takes effect only when the solve ends.
        _note_highs_threads(threads, reset=False)
        lp.solve(cmd)
    return _pulp_output(problem, lp, variables, name, time_limit, gap, isinstance(cmd, pulp.HiGHS))


def _solve_pulp_object(problem: MilpProblem, solver: Any) -> SolverOutput:
    """Solve with a PuLP solver object exactly as the caller configured it."""
    import pulp

    if not isinstance(solver, pulp.LpSolver):
        raise InputError(
            None,
            "solver",
            f"expected a backend name ({', '.join(SOLVERS)}, auto) or a PuLP solver object, "
            f"got {type(solver).__name__}",
        )
    lp, variables = to_pulp(problem)
    is_highs = isinstance(solver, pulp.HiGHS)
    if is_highs:
        new_highs()  # keep highspy's first-construction banner off stdout
        _note_highs_threads(getattr(solver, "threads", None), reset=False)
    with _solver_processes():
        lp.solve(solver)
    gap = solver.optionsDict.get("gapRel")
    return _pulp_output(problem, lp, variables, f"pulp:{type(solver).__name__}", solver.timeLimit, gap, is_highs)


def _pulp_output(
    problem: MilpProblem,
    lp: Any,
    variables: list[Any],
    name: str,
    time_limit: float | None,
    gap: float | None,
    is_highs: bool,
) -> SolverOutput:
    """Read status, solution and (HiGHS) bound back from a solved ``pulp.LpProblem``."""
    import pulp

    sol_status = lp.sol_status
    message = pulp.LpStatus.get(lp.status, str(lp.status))
    x = None
    objective = None
    if sol_status in (pulp.LpSolutionOptimal, pulp.LpSolutionIntegerFeasible):
        x = np.array([v.varValue if v.varValue is not None else 0.0 for v in variables], dtype=float)
        x[problem.integer] = np.round(x[problem.integer])
        objective = float(problem.obj @ x + problem.offset)
    bound = None
    if is_highs and x is not None and problem.integer.any():
        try:
            bound = float(lp.solverModel.getInfo().mip_dual_bound)
            if problem.sense == "max":  # PuLP hands HiGHS the negated objective
                bound = -bound
        except Exception:  # pragma: no cover - depends on PuLP internals
            bound = None
    if sol_status == pulp.LpSolutionOptimal:
        code = "optimal" if gap is None or gap == 0 else "optimal_within_gap"
        g = 0.0 if code == "optimal" else _gap(objective, bound)
    elif sol_status == pulp.LpSolutionIntegerFeasible:
        code, g = "time_limit_feasible", _gap(objective, bound)
    elif sol_status == pulp.LpSolutionInfeasible or lp.status == pulp.LpStatusInfeasible:
        code, g = "infeasible", None
    elif sol_status == pulp.LpSolutionUnbounded:
        code, g = "unbounded", None
    elif time_limit is not None:
        code, g = "time_limit_no_solution", None
    else:
        code, g = "error", None
    words = status_words(code, g)
    return SolverOutput(code, words, x, objective, bound, g, 0.0, name, message)
