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


def test_first_level_cut_tightens_the_relaxation_and_keeps_the_optimum() -> None:
    # Two sites of one district reach disjoint halves of the demand; one new station allowed,
    # 4 vehicles (the norm), levels at q = 0.4: (1-q) = 0.6, then 0.24, 0.096.
    # Integer optimum: all 4 vehicles at the site reaching the larger half (3,000 residents):
    #   3000 * (0.6 + 0.24 + 0.096) = 2808, less 0.5 for the station = 2807.5.
    # Without the cut, open_j >= e_j / 3 lets the LP put 1.5 effective vehicles at each site
    # with half a station each; the cut u_g1 <= open_j caps each half's first level at its
    # station's fraction, so the relaxation must pay a whole station for first-level coverage.
    minutes = sp.csr_matrix(np.array([[5.0, 5.0, 0.0, 0.0], [0.0, 0.0, 5.0, 5.0]]))
    sites = pd.DataFrame({"site_id": ["a", "b"], "district_code": "A", "existing": False, "max_vehicles": 4})
    demand = pd.DataFrame({"demand_id": list("wxyz"), "district_code": "A",
                           "population": [1500, 1500, 1000, 1000], "standard_minutes": 12.0})
    norms = pd.DataFrame({"code": ["A"], "name_zh": ["甲区"], "norm_class": "urban", "residents": [120000],
                          "residents_per_vehicle": 30000.0, "min_vehicles": [4], "min_negative_pressure": [0]})
    plan = AmbulancePlan(minutes, sites, demand, norms, max_vehicles=4, max_new_stations=1, max_levels=3,
                         busy_fraction=0.4, negative_pressure_share=0.0)
    p = plan.build()
    assert "first_level_open" in p.groups
    result = plan.solve(solver="highs", gap=0.0)
    assert result.objective == pytest.approx(2807.5, abs=0.05)
    without = p.copy()
    without.remove_group("first_level_open")
    lp_cut, lp_plain = _lp(p), _lp(without)
    assert lp_cut >= result.objective - 1e-6
    assert lp_cut < lp_plain - 100.0, (lp_cut, lp_plain)


def test_greedy_start_counts_required_county_seats_as_new_stations() -> None:
    # A county (C) needs its seat; with 2 new stations allowed in all, the seat is one of them.
    # u3 (one vehicle at most) reaches everybody; the fleet's third vehicle would add most at
    # a new site u1 (4,000 residents to level 2: 4000 * 0.21 = 840 against the seat's
    # 1000 * 0.21 = 210), but that would be a third new station: the greedy must give it to
    # the seat, so that its plan satisfies the MIP's new-station row.
    minutes = sp.csr_matrix(np.array([[5.0, 0.0, 0.0], [0.0, 5.0, 0.0], [0.0, 0.0, 5.0], [5.0, 5.0, 5.0]]))
    sites = pd.DataFrame({"site_id": ["seat", "u1", "u2", "u3"], "district_code": ["C", "U", "U", "U"],
                          "existing": False, "max_vehicles": [2, 2, 2, 1],
                          "kind": ["district_seat", "grid", "grid", "grid"]})
    demand = pd.DataFrame({"demand_id": ["c", "p", "q"], "district_code": ["C", "U", "U"],
                           "population": [1000, 4000, 4000], "standard_minutes": 12.0})
    norms = pd.DataFrame({"code": ["C", "U"], "name_zh": ["县", "区"], "norm_class": ["county", "urban"],
                          "residents": [10000, 30000], "residents_per_vehicle": [10000.0, 30000.0],
                          "min_vehicles": [1, 1], "min_negative_pressure": [0, 0]})
    plan = AmbulancePlan(minutes, sites, demand, norms, max_vehicles=3, max_new_stations=2, max_levels=2,
                         busy_fraction=0.3, negative_pressure_share=0.0, county_codes=["C"])
    assert plan.required_open().tolist() == [True, False, False, False]
    p = plan.build()
    x = plan.greedy_start(p)
    assert x is not None and p.is_feasible(x)
    assert p.value(x, "v").tolist() == [2, 0, 0, 1]
