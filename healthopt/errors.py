"""Exceptions that carry planning-level explanations.

Every error a user can cause names the file and the field it comes from, so the CLI can
print it on one line and exit with code 2 (see ``healthopt.cli``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


class HealthoptError(Exception):
    """Base class of all errors the CLI reports without a traceback."""

    exit_code: int = 2


class InputError(HealthoptError):
    """Bad input data or scenario: names the file, the field and what is wrong.

    Parameters
    ----------
    source : str or Path or None
        File the problem was found in (``None`` for in-memory input).
    field : str or None
        Field, column or key at fault (e.g. ``"population"``, ``"plans.ambulances.budget"``).
    message : str
        What is wrong, in planning terms.
    line : int or None
        1-based line number in ``source`` where known.
    """

    def __init__(
        self,
        source: str | Path | None,
        field: str | None,
        message: str,
        line: int | None = None,
    ) -> None:
        self.source = str(source) if source is not None else None
        self.field = field
        self.message = message
        self.line = line
        super().__init__(self.one_line())

    def __reduce__(self) -> tuple[Any, ...]:  # pickles with its own arguments (a plan solved alongside)
        # a subclass with another signature comes back as the InputError it printed as
        cls = type(self) if type(self).__init__ is InputError.__init__ else InputError
        return (cls, (self.source, self.field, self.message, self.line))

    def one_line(self) -> str:
        """Return ``file:line: field: message`` with the parts that are known."""
        where = self.source or "<input>"
        if self.line is not None:
            where = f"{where}:{self.line}"
        # Messages may quote library errors that span lines; the promise is one line.
        message = " ".join(part.strip() for part in self.message.splitlines())
        return f"{where}: {self.field}: {message}" if self.field else f"{where}: {message}"


class InfeasiblePlanError(HealthoptError):
    """A plan cannot meet its norms within its budgets; ``reasons`` are planning sentences."""

    exit_code = 3

    def __init__(self, reasons: list[str]) -> None:
        self.reasons = list(reasons)
        super().__init__("; ".join(self.reasons))

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.reasons,))


class SolverLimitError(HealthoptError):
    """The solver stopped at its time limit before it found any feasible plan.

    Exit code 2, like bad input: the fix is a scenario setting (``solver.time_limit_s``),
    not the norms or budgets, which exit code 3 is about.

    Parameters
    ----------
    plan : str
        The plan in words, e.g. ``"ambulance plan"``.
    time_limit : float
        The limit that was hit, in seconds.
    """

    exit_code = 2

    def __init__(self, plan: str, time_limit: float) -> None:
        self.plan = plan
        self.time_limit = time_limit
        super().__init__(f"solver.time_limit_s: the solver found no feasible {plan} within the {time_limit:g} s "
                         "time limit; raise solver.time_limit_s")

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.plan, self.time_limit))


class UnprovenPlanError(HealthoptError):
    """A plan's solve stopped with a proven gap above ``solver.max_gap_to_report``.

    Exit code 3, like an infeasible plan: no briefing is written, because its figures could
    be far from what the norms and budgets allow. The message names the fixes: a longer
    time limit, a smaller area, another model, or ``solver.accept_gap: true``.

    Parameters
    ----------
    plan : str
        The plan in words, e.g. ``"ambulance plan"``.
    gap : float
        Its proven relative gap.
    threshold : float
        ``solver.max_gap_to_report``.
    """

    exit_code = 3

    def __init__(self, plan: str, gap: float, threshold: float) -> None:
        self.plan, self.gap, self.threshold = plan, gap, threshold
        super().__init__(
            f"solver.max_gap_to_report: the {plan} stopped at its time limit only proven within {100 * gap:.3g} % "
            f"of the best possible plan (more than the {100 * threshold:.3g} % a briefing allows), so nothing was "
            "written; raise solver.time_limit_s, plan a smaller area, choose another model, or set "
            "solver.accept_gap: true to write it with its gap stated")

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.plan, self.gap, self.threshold))
