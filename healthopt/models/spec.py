"""How a location model states "demand group g is covered": :class:`CoverageSpec`.

The lowest module of :mod:`healthopt.models`: the model base
(:mod:`healthopt.models.base`), the shared capacity and district rules
(:mod:`healthopt.models.rules`) and the result tables (:mod:`healthopt.models._tables`)
all read it, so it imports none of them (imports go one way only).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp


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


__all__ = ["CoverageSpec"]
