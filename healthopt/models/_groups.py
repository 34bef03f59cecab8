"""Demand groups and pre-solve checks shared by the coverage-type models.

Demand points with identical coverage sets (and the same district) are merged into one
*demand group* (see :mod:`healthopt.models.coverage`); the checks explain, in planning
terms, why a plan cannot be met before any solver runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp

from healthopt.milp.problem import group_identical_rows
from healthopt.models.base import LocationOptions, site_table_options
from healthopt.models.spec import CoverageSpec

if TYPE_CHECKING:  # pragma: no cover
    from healthopt.models.base import LocationModel


def district_codes(model: LocationModel) -> np.ndarray | None:
    """Integer code of each demand point's district (``None`` without districts)."""
    if model.districts is None:
        return None
    return np.unique(model.districts.astype(str), return_inverse=True)[1]


def coverage_groups(
    model: LocationModel, masks: list[np.ndarray], sites: np.ndarray | None = None
) -> dict[str, Any]:
    """Merge demand points with identical coverage sets (one set per mask) and district.

    Returns ``group`` (demand -> group), ``reps``, ``weight`` per group and, for each mask,
    the group × sites incidence of allowed sites (only of ``sites`` when given: a
    reduction closed the others, which can make more rows identical).
    """
    usable = model.allowed if sites is None else model.allowed & sites
    allowed_pair = usable[model.pairs.site]
    incs = [model.pairs.incidence(m & allowed_pair) for m in masks]
    key_matrix = incs[0] if len(incs) == 1 else sp.hstack(incs, format="csr")
    group, reps = group_identical_rows(key_matrix, district_codes(model))
    weight = np.bincount(group, weights=model.weights, minlength=reps.size)
    return {"group": group, "reps": reps, "weight": weight, "inc": [inc[reps] for inc in incs]}


def unreachable_reasons(model: LocationModel, inc_points: sp.csr_matrix, radius: float | None) -> list[str]:
    """Say which demand points no allowed site reaches (``inc_points``: demand × sites)."""
    counts = np.diff(inc_points.indptr)
    bad = np.flatnonzero(counts == 0)
    if bad.size == 0:
        return []
    w = float(model.weights[bad].sum())
    ids = ", ".join(str(v) for v in model.demand_ids[bad[:5]].tolist())
    more = f" and {bad.size - 5} more" if bad.size > 5 else ""
    within = "" if radius is None else f" within {radius:g} minutes"
    return [
        f"{bad.size} demand points (weight {w:g}) cannot be reached{within} from any allowed "
        f"site (e.g. demand {ids}{more}); add candidate sites near them, allow forbidden "
        "sites, or relax the standard"
    ]


def capacity_reasons(model: LocationModel, inc_points: sp.csr_matrix) -> list[str]:
    """Say where demand exceeds the capacity that can reach it."""
    if model.capacities is None:
        return []
    cap = np.where(model.allowed, model.capacities, 0.0)
    reasons = []
    total_w, total_c = float(model.weights.sum()), float(cap.sum())
    if total_w > total_c + 1e-9:
        reasons.append(
            f"total demand {total_w:g} exceeds the total capacity {total_c:g} of all "
            "allowed sites; add capacity or candidate sites"
        )
    reach = inc_points @ cap
    bad = np.flatnonzero(model.weights > reach + 1e-9)
    if bad.size:
        ids = ", ".join(str(v) for v in model.demand_ids[bad[:5]].tolist())
        reasons.append(
            f"{bad.size} demand points need more than the combined capacity of the "
            f"sites within the standard (e.g. demand {ids})"
        )
    return reasons


def coverage_spec(
    model: LocationModel, grp: dict[str, Any], C: sp.csr_matrix, c0: np.ndarray, inc: sp.csr_matrix
) -> CoverageSpec:
    """Coverage expression ``C x + c0`` of the groups of :func:`coverage_groups`, with their site pairs."""
    coo = inc.tocoo()
    return CoverageSpec(
        sp.csr_matrix(C),
        c0,
        grp["group"],
        grp["weight"],
        coo.row.astype(np.int64),
        coo.col.astype(np.int64),
    )


def cost_matrix_options(
    options: LocationOptions,
    *,
    name: str,
    fixed: Any = None,
    capacities: Any = None,
) -> LocationOptions:
    """Fold spopt's positional site arguments of a ``from_cost_matrix`` into the model options.

    ``fixed`` (a mask of predefined sites) and ``capacities`` fill ``fixed_sites`` and
    ``capacities`` and ``name`` names the model, each only where ``options`` does not set it
    already (explicit keywords win). Returns ``options``, changed in place.
    """
    if fixed is not None:
        options.setdefault("fixed_sites", np.asarray(fixed).astype(bool))
    if capacities is not None:
        options.setdefault("capacities", capacities)
    options.setdefault("name", name)
    return options


def travel_time_options(tt: Any, demand_districts: Any, site_table: Any, kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """Model options from a travel-time object's ids, a site table and explicit keywords (these win)."""
    out = dict(site_table_options(site_table, getattr(tt, "site_ids", None)))
    out.update(kwargs)
    if getattr(tt, "site_ids", None) is not None:
        out.setdefault("site_ids", tt.site_ids)
    if getattr(tt, "demand_ids", None) is not None:
        out.setdefault("demand_ids", tt.demand_ids)
    if demand_districts is not None:
        out["districts"] = demand_districts
    return out
