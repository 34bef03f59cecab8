"""What a location model's ``solve()`` returns: :class:`LocationResult`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from healthopt.errors import InfeasiblePlanError


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

    def __repr__(self) -> str:
        obj = "None" if self.objective is None else f"{self.objective:.6g}"
        n_open = int(self.sites["open"].sum()) if "open" in self.sites else 0
        return f"LocationResult(status={self.status_code!r}, objective={obj}, open_sites={n_open})"

    def summary(self) -> str:
        """Return a few plain-text lines: status, objective, gap, open sites, reductions, start and coverage.

        ``reduced`` counts the rows (demand points merged into groups with identical
        coverage sets; for the LSCP, rows implied by others dropped) and columns
        (dominated sites closed) the solver saw; ``start`` is the heuristic plan handed to
        the solver (:mod:`healthopt.models.heuristics`).

        Examples
        --------
        >>> import numpy as np
        >>> from healthopt.models import MCLP
        >>> cost = np.array([[0.0, 9.0], [4.0, 5.0], [9.0, 0.0]])  # 3 demand × 2 sites
        >>> print(MCLP.from_cost_matrix(cost, [1, 1, 5], service_radius=4, p_facilities=1).solve().summary())
        status: optimal
        objective: 5
        gap: 0
        open sites: 1 of 2 (1)
        reduced: 3 demand points -> 2 rows, 2 candidate sites -> 2 columns
        start: greedy + 1-swap, objective 5
        covered demand: 1 of 3 points, weight 5 of 7 (71.4%)
        """
        lines = [f"status: {self.status}"]
        if self.objective is not None:
            lines.append(f"objective: {self.objective:.6g}")
        lines.append("gap: unknown" if self.gap is None else f"gap: {self.gap:.3g}")
        opened = self.open_sites
        shown = ", ".join(str(s) for s in opened[:10]) + (f" and {len(opened) - 10} more" if len(opened) > 10 else "")
        lines.append(f"open sites: {len(opened)} of {len(self.sites)}" + (f" ({shown})" if opened else ""))
        red = self.details.get("reduction")
        if red and "pairs" in red:
            lines.append(
                f"reduced: {red['pairs']:,} assignment pairs -> {red['pairs_after']:,} "
                f"(each point's {red['nearest_k']:,} nearest allowed sites)"
            )
        elif red:
            n_rows = red["demand_groups_after"]
            to_cover = "" if red.get("rows", n_rows) == n_rows else f" ({red['rows']:,} to cover)"
            lines.append(
                f"reduced: {red['demand_points']:,} demand points -> {n_rows:,} rows{to_cover}, "
                f"{red['sites']:,} candidate sites -> {red['sites_after']:,} columns"
            )
        heur = self.details.get("heuristic")
        if heur and "objective" in heur:
            kept = "; the solver found nothing better" if heur.get("kept") else ""
            lines.append(f"start: {heur['method']}, objective {heur['objective']:.6g}{kept}")
        if self.has_solution and len(self.coverage):
            cov = self.coverage
            w = cov["weight"].to_numpy(float)
            served = float((w * cov["served_share"].to_numpy(float)).sum())
            total = float(w.sum())
            share = f" ({100 * served / total:.1f}%)" if total > 0 else ""
            lines.append(
                f"covered demand: {int(cov['covered'].sum())} of {len(cov)} points, "
                f"weight {served:.6g} of {total:.6g}{share}"
            )
        return "\n".join(lines)


__all__ = ["LocationResult"]
