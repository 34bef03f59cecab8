"""The effective-vehicle link (healthopt.plans.ambulance_strength): same plans, a tighter relaxation.

On seeded random ambulance plans where the new-station limit binds, the strengthened and the
plain MEXCLP formulation must reach the same proven optimum, and the strengthened LP
relaxation is never looser and on most instances strictly tighter.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from healthopt.milp.solve import solve_problem
from healthopt.plans.ambulances import AmbulancePlan


def _instance(seed: int, *, strengthen: bool) -> AmbulancePlan:
    rng = np.random.default_rng(seed)
    ns, nd = 8, 30
    reach = rng.random((ns, nd)) < 0.25
    minutes = sp.csr_matrix(np.where(reach, rng.uniform(1.0, 11.0, (ns, nd)), 0.0))
    sites = pd.DataFrame({"site_id": [f"s{j}" for j in range(ns)], "district_code": ["A"] * 5 + ["B"] * 3,
                          "existing": False, "max_vehicles": 6})
    demand = pd.DataFrame({"demand_id": [f"d{i}" for i in range(nd)], "district_code": "A",
                           "population": rng.integers(100, 5000, nd), "standard_minutes": 12.0})
    norms = pd.DataFrame({"code": ["A", "B"], "name_zh": ["甲区", "乙区"], "norm_class": "urban",
                          "residents": [150000, 30000], "residents_per_vehicle": 30000.0,
                          "min_vehicles": [5, 2], "min_negative_pressure": [0, 0]})
    return AmbulancePlan(minutes, sites, demand, norms, max_new_stations=3, max_levels=3, busy_fraction=0.4,
                         negative_pressure_share=0.0, strengthen=strengthen)


def _lp(p) -> float:
    q = p.copy()  # the LP relaxation: every variable continuous
    q._int = [np.zeros_like(a) for a in q._int]  # test-only: the relaxation
    q._flat = None
    return float(solve_problem(q, "highs").objective)


@pytest.mark.parametrize("seed", range(6))
def test_same_optimum_tighter_relaxation(seed: int) -> None:
    plain, strong = _instance(seed, strengthen=False), _instance(seed, strengthen=True)
    p0, p1 = plain.build(), strong.build()
    assert "e" in p1.blocks and "e" not in p0.blocks
    r0, r1 = plain.solve(solver="highs", gap=0.0), strong.solve(solver="highs", gap=0.0)
    assert r0.status_code == r1.status_code == "optimal"
    assert r1.objective == pytest.approx(r0.objective, rel=1e-9, abs=1e-6)
    lp0, lp1 = _lp(p0), _lp(p1)
    assert lp1 <= lp0 + 1e-6 * abs(lp0)
    assert lp1 >= r1.objective - 1e-6 * abs(lp1)  # still a bound


def test_relaxation_strictly_tighter_on_most_instances() -> None:
    tighter = 0
    for seed in range(6):
        lp0 = _lp(_instance(seed, strengthen=False).build())
        lp1 = _lp(_instance(seed, strengthen=True).build())
        tighter += lp1 < lp0 - 1e-6 * abs(lp0)
    assert tighter >= 3, tighter


def test_start_fills_the_effective_vehicles() -> None:
    plan = _instance(0, strengthen=True)
    p = plan.build()
    x = plan.greedy_start(p)
    assert x is not None and p.is_feasible(x)
    v, e = p.value(x, "v"), p.value(x, "e")
    assert np.array_equal(e, np.minimum(v, plan._effective_levels))
