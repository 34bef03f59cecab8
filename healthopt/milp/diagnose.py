"""Infeasibility diagnosis: which constraint group, dropped alone, makes a problem feasible."""

from __future__ import annotations

from typing import TYPE_CHECKING

from healthopt.milp.problem import MilpProblem
from healthopt.milp.solve import solve_problem

if TYPE_CHECKING:  # pragma: no cover
    from pulp import LpSolver


def relaxation_culprits(
    problem: MilpProblem,
    solver: str | LpSolver | None = None,
    time_limit: float | None = 60.0,
    threads: int | None = None,
) -> list[str]:
    """Return the relaxable constraint groups whose removal alone makes ``problem`` feasible.

    The objective is dropped (a feasibility check); an empty list means the problem is
    feasible as it stands, or that no single group explains its infeasibility.

    Examples
    --------
    Two sites, at least 2 must open, but the budget pays for one:

    >>> import numpy as np
    >>> p = MilpProblem("demo", "min")
    >>> _ = p.add_variables("y", 2, ub=1, integer=True)
    >>> p.add_constraints("count", {"y": np.ones((1, 2))}, lb=2, description="at least 2 sites")
    >>> p.add_constraints("budget", {"y": np.ones((1, 2))}, ub=1, description="the budget")
    >>> relaxation_culprits(p)
    ['count', 'budget']
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


__all__ = ["relaxation_culprits"]
