"""One solver-settings value for every plan of a run.

A scenario's ``solver`` section becomes one :class:`SolverSettings`, and every plan's
``solve()`` receives that same value unchanged. A plan that must deviate (for example a
per-district cap) says so in its own result, never by silently rewriting the settings.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: Relative MIP gap of a run when the scenario does not set ``solver.gap``: 0.05 %.
#: Measured on the Taiyuan baseline (233 ambulances, 60 new stations): the greedy +
#: local-search start is within 0.048 % of the root LP bound, so the ambulance solve stops
#: at its root node in seconds and reruns give the same plan; 0.01 % is not proven within
#: 600 s (``benchmarks/bench_ambulances.py``). The gap is passed to the solver unchanged.
DEFAULT_GAP: float = 0.0005

#: Largest proven gap (relative) a plan may have and still be written as a briefing
#: (``solver.max_gap_to_report``); above it the run ends with exit code 3 unless
#: ``solver.accept_gap`` is set.
DEFAULT_MAX_GAP_TO_REPORT: float = 0.05


@dataclass(frozen=True, kw_only=True)
class SolverSettings:
    """How every MILP of a run is solved.

    Parameters
    ----------
    name : {"auto", "highs", "cbc", "highs-pulp"}
        Backend; ``"auto"`` is :data:`healthopt.milp.solve.DEFAULT_SOLVER`.
    time_limit_s : float or None
        Wall-clock limit per solve (seconds); ``None`` means no limit.
    gap : float
        Relative MIP gap at which a solve stops, passed to the solver exactly as given (no
        floor); ``0`` means prove optimality. Default :data:`DEFAULT_GAP`.
    threads : int or None
        Solver threads; ``None`` is the solver's default.
    relax_norms_if_infeasible : bool
        When the budgets cannot meet the norms, plan the smallest shortfall instead of
        stopping.
    log_dir : Path or None
        Folder receiving one solver log per plan (``solver_<plan>.log``).
    max_gap_to_report : float
        A plan stopped by its time limit with a proven gap above this is not written
        (:class:`healthopt.errors.UnprovenPlanError`, exit code 3).
    accept_gap : bool
        Write such a plan anyway (its gap is stated in every output).

    Examples
    --------
    >>> SolverSettings(time_limit_s=20, gap=0.01).backend
    'auto'
    """

    name: str = "auto"
    time_limit_s: float | None = None
    gap: float = DEFAULT_GAP
    threads: int | None = None
    relax_norms_if_infeasible: bool = False
    log_dir: Path | None = None
    max_gap_to_report: float = DEFAULT_MAX_GAP_TO_REPORT
    accept_gap: bool = False

    @property
    def backend(self) -> str:
        """Return the backend name as given (``"auto"`` resolved by the solver layer)."""
        return self.name

    @classmethod
    def from_scenario(cls, solver: Any, *, log_dir: Path | None = None) -> SolverSettings:
        """Build the settings from a scenario's ``solver`` section."""
        return cls(name=solver.name, time_limit_s=solver.time_limit_s, gap=solver.gap, threads=solver.threads,
                   relax_norms_if_infeasible=solver.relax_norms_if_infeasible, log_dir=log_dir,
                   max_gap_to_report=solver.max_gap_to_report, accept_gap=solver.accept_gap)

    def reportable(self, gap: float | None, *, optimal: bool) -> bool:
        """Tell whether a plan that ended with ``gap`` may be written as a briefing.

        A finished solve (optimal or within :attr:`gap`) always may; an unfinished one only
        if its proven gap is at most :attr:`max_gap_to_report` or :attr:`accept_gap` is set.
        A plan that reports no gap (no bound known) is not judged here.

        Examples
        --------
        >>> s = SolverSettings(max_gap_to_report=0.05)
        >>> s.reportable(0.2, optimal=False), s.reportable(0.05, optimal=False), s.reportable(None, optimal=False)
        (False, True, True)
        """
        return optimal or self.accept_gap or gap is None or gap <= self.max_gap_to_report

    def log_path(self, plan: str) -> Path | None:
        """Return the solver log file of ``plan`` (``None`` when no log folder is set)."""
        return None if self.log_dir is None else self.log_dir / f"solver_{plan}.log"
