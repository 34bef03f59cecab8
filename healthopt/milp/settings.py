"""One solver-settings value for every plan of a run.

A scenario's ``solver`` section becomes one :class:`SolverSettings`, and every plan's
``solve()`` receives that same value unchanged. A plan that must deviate (for example a
per-district cap) says so in its own result, never by silently rewriting the settings.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any


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
        Relative MIP gap accepted; ``0`` means proven optimal.
    threads : int or None
        Solver threads; ``None`` is the solver's default.
    relax_norms_if_infeasible : bool
        When the budgets cannot meet the norms, plan the smallest shortfall instead of
        stopping.
    log_dir : Path or None
        Folder receiving one solver log per plan (``solver_<plan>.log``).

    Examples
    --------
    >>> SolverSettings(time_limit_s=20, gap=0.01).backend
    'auto'
    """

    name: str = "auto"
    time_limit_s: float | None = None
    gap: float = 0.0
    threads: int | None = None
    relax_norms_if_infeasible: bool = False
    log_dir: Path | None = None

    @property
    def backend(self) -> str:
        """Return the backend name as given (``"auto"`` resolved by the solver layer)."""
        return self.name

    @classmethod
    def from_scenario(cls, solver: Any, *, log_dir: Path | None = None) -> SolverSettings:
        """Build the settings from a scenario's ``solver`` section."""
        return cls(name=solver.name, time_limit_s=solver.time_limit_s, gap=solver.gap, threads=solver.threads,
                   relax_norms_if_infeasible=solver.relax_norms_if_infeasible, log_dir=log_dir)

    def log_path(self, plan: str) -> Path | None:
        """Return the solver log file of ``plan`` (``None`` when no log folder is set)."""
        return None if self.log_dir is None else self.log_dir / f"solver_{plan}.log"
