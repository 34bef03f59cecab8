"""Rules every location model can carry, as kernels on a :class:`~healthopt.milp.problem.MilpProblem`.

Both act on a model's :class:`~healthopt.models.spec.CoverageSpec` (its "demand group g is
covered" expression ``C x + c0``) and the site block ``y``:

* :func:`add_capacity` — covered demand is assigned to open sites within the standard, up
  to each site's capacity;
* :func:`add_district_rules` — a minimum covered share per district, and max-min equity.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import scipy.sparse as sp

from healthopt.errors import InputError
from healthopt.milp.problem import INF, MilpProblem, VarBlock, split_blocks
from healthopt.models._validate import maybe_int
from healthopt.models.spec import CoverageSpec


def add_capacity(
    prob: MilpProblem,
    spec: CoverageSpec,
    capacities: np.ndarray,
    *,
    sites: str = "y",
    capacity_relaxable: bool = True,
    capacity_description: str = "site capacities",
) -> VarBlock:
    """Add assignment variables z on (group, site) pairs within the standard (site block ``y``).

    ``Σ_j z_gj = covered_g`` and ``Σ_g w_g z_gj <= cap_j · y_j``; zero-weight groups
    additionally get ``z_gj <= y_j`` so nothing is ever assigned to a closed site.
    ``sites`` names the site block (``cap_j`` is then per unit of it, e.g. per vehicle).
    Returns the ``z`` block (one share per (group, site) pair of ``spec``).
    """
    G = spec.C.shape[0]
    npair = spec.pair_group.size
    z = prob.add_variables("z", npair, lb=0.0, ub=1.0)
    S = sp.csr_matrix((np.ones(npair), (spec.pair_group, np.arange(npair))), shape=(G, npair))
    prob.add_constraints(
        "assignment",
        {"z": S, **split_blocks(prob, -spec.C, exclude="z")},
        spec.c0,
        spec.c0,
        relaxable=False,
        description="covered demand is assigned to open sites within the standard",
    )
    cap = np.asarray(capacities, dtype=float)
    n_sites = cap.size
    W = sp.csr_matrix(
        (spec.weight[spec.pair_group], (spec.pair_site, np.arange(npair))),
        shape=(n_sites, npair),
    )
    prob.add_constraints(
        "capacity",
        {"z": W, sites: sp.diags(-cap)},
        -INF,
        0.0,
        relaxable=capacity_relaxable,
        description=capacity_description,
    )
    zero = spec.weight[spec.pair_group] <= 0
    if zero.any():
        k = np.flatnonzero(zero)
        Z = sp.csr_matrix((np.ones(k.size), (np.arange(k.size), k)), shape=(k.size, npair))
        Y = sp.csr_matrix(
            (-np.ones(k.size), (np.arange(k.size), spec.pair_site[k])),
            shape=(k.size, n_sites),
        )
        prob.add_constraints(
            "assignment_open",
            {"z": Z, sites: Y},
            -INF,
            0.0,
            relaxable=False,
            description="assignment only to open sites",
        )
    return z


def district_matrix(
    spec: CoverageSpec, districts: np.ndarray, weights: np.ndarray
) -> tuple[np.ndarray, sp.csr_matrix, np.ndarray]:
    """Districts, district × group weight matrix, total weight per district."""
    labels, dcode = np.unique(np.asarray(districts).astype(str), return_inverse=True)
    total = np.bincount(dcode, weights=weights, minlength=labels.size)
    gd = np.zeros(spec.weight.size, dtype=np.int64)
    gd[spec.group] = dcode  # groups never mix districts
    D = sp.csr_matrix((spec.weight, (gd, np.arange(spec.weight.size))), shape=(labels.size, spec.weight.size))
    return labels, D, total


def add_district_rules(
    prob: MilpProblem,
    spec: CoverageSpec,
    districts: np.ndarray,
    weights: np.ndarray,
    *,
    min_share: float | Mapping[Any, float] | None,
    equity: bool,
) -> None:
    """Add the minimum covered share per district and/or the max-min equity level.

    ``covered share of d = Σ_{g in d} w_g (C_g x + c0_g) / Σ_{i in d} w_i``; equity adds one
    variable ``equity_level`` bounded by every district's share.
    """
    labels, D, total = district_matrix(spec, districts, weights)
    rows = D @ spec.C
    const = D @ spec.c0
    if min_share is not None:
        msd = min_share
        if isinstance(msd, Mapping):
            share = np.array([float(msd.get(lab, msd.get(maybe_int(lab), 0.0))) for lab in labels])
        else:
            share = np.full(labels.size, float(msd))
        if (share < 0).any() or (share > 1).any():
            raise InputError(None, "min_district_share", "shares must be between 0 and 1")
        prob.add_constraints(
            "district_minimum",
            split_blocks(prob, rows),
            share * total - const,
            INF,
            description="the minimum covered share in every district",
        )
    if equity:
        t = prob.add_variables("equity_level", 1, lb=0.0, ub=1.0)
        del t
        pos = total > 0
        terms = split_blocks(prob, rows[pos], exclude="equity_level")
        terms["equity_level"] = -total[pos][:, None]
        prob.add_constraints(
            "equity",
            terms,
            -const[pos],
            INF,
            relaxable=False,
            description="the equity level (worst district share)",
        )


__all__ = ["add_capacity", "add_district_rules", "district_matrix"]
