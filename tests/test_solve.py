"""Solver layer: backends agree, statuses are honest, logs go to files."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from healthopt.errors import InputError
from healthopt.milp.problem import MilpProblem
from healthopt.milp.solve import DEFAULT_SOLVER, SOLVERS, resolve_solver, solve_problem
from healthopt.models import LSCP, MCLP, PMedian


def medium(seed=1, n_d=300, n_s=60):
    rng = np.random.default_rng(seed)
    dem = rng.uniform(0, 20, (n_d, 2))
    sit = rng.uniform(0, 20, (n_s, 2))
    D = np.sqrt(((dem[:, None] - sit[None]) ** 2).sum(-1)) * 2.0
    w = rng.integers(1, 100, n_d).astype(float)
    return D, w


@pytest.mark.parametrize("kind", ["mclp", "lscp", "pmedian"])
def test_backends_agree_on_medium_instance(kind):
    D, w = medium()
    objs = {}
    for solver in ("highs", "cbc"):
        if kind == "mclp":
            m = MCLP.from_cost_matrix(D, w, 6.0, 8)
        elif kind == "lscp":
            m = LSCP.from_cost_matrix(D, 9.0)
        else:
            m = PMedian.from_cost_matrix(D[:120, :25], w[:120], 5)
        res = m.solve(solver=solver)
        assert res.status == "optimal" and res.solver == solver
        objs[solver] = res.objective
    assert objs["highs"] == pytest.approx(objs["cbc"], rel=1e-9)


def test_highs_pulp_backend_small():
    D, w = medium(n_d=80, n_s=20)
    a = MCLP.from_cost_matrix(D, w, 6.0, 4).solve(solver="highs-pulp")
    b = MCLP.from_cost_matrix(D, w, 6.0, 4).solve(solver="highs")
    assert a.objective == pytest.approx(b.objective)


def test_auto_is_default():
    assert resolve_solver(None) == DEFAULT_SOLVER == resolve_solver("auto")
    assert DEFAULT_SOLVER in SOLVERS
    with pytest.raises(InputError):
        resolve_solver("xpress")


def test_time_limit_status_is_honest(tmp_path):
    D, w = medium(seed=4, n_d=3000, n_s=400)
    log = tmp_path / "logs" / "highs.log"
    res = MCLP.from_cost_matrix(D, w, 4.0, 25).solve(time_limit=0.5, log_path=log)
    assert log.exists() and log.stat().st_size > 0
    if res.status_code == "optimal":  # machine fast enough: nothing to check
        return
    assert res.status.startswith("time limit reached")
    if res.has_solution:
        assert res.gap is not None and res.gap > 0
        assert res.objective == pytest.approx(float((w * res.coverage.served_share).sum()))


def test_logs_never_reach_console(tmp_path, capfd):
    D, w = medium(n_d=50, n_s=10)
    for solver in ("highs", "cbc"):
        MCLP.from_cost_matrix(D, w, 6.0, 3).solve(solver=solver, log_path=tmp_path / f"{solver}.log")
        MCLP.from_cost_matrix(D, w, 6.0, 3).solve(solver=solver)
    out, err = capfd.readouterr()
    assert out == "" and err == ""
    assert (tmp_path / "cbc.log").exists()


def test_infeasible_problem_status_and_parameters():
    p = MilpProblem("inf", "min")
    p.add_variables("x", 2, ub=1, integer=True)
    p.add_constraints("too_much", {"x": np.ones((1, 2))}, lb=3)
    for solver in ("highs", "cbc"):
        out = solve_problem(p, solver)
        assert out.status == "infeasible" and out.x is None
    with pytest.raises(InputError):
        solve_problem(p, "highs", time_limit=-1)
    with pytest.raises(InputError):
        solve_problem(p, "highs", gap=2)
    out = solve_problem(p.copy(), "highs", threads=1)
    assert out.status_code == "infeasible"


def test_gap_parameter_reports_within_gap():
    D, w = medium()
    res = MCLP.from_cost_matrix(D, w, 6.0, 8).solve(gap=0.05)
    assert res.is_optimal
    assert res.gap is not None and res.gap <= 0.05 + 1e-12


def test_thread_count_can_change_between_solves():
    # HiGHS' process-wide thread pool used to make a solve with a new thread count fail
    # ("solver error") once any earlier solve had run.
    p = MilpProblem("threads", "max")
    p.add_variables("y", 3, ub=1, integer=True, obj=[1, 2, 3])
    p.add_constraints("count", {"y": np.ones((1, 3))}, ub=2)
    for threads in (None, 2, 1, 2):
        out = solve_problem(p, "highs", threads=threads)
        assert out.status_code == "optimal" and out.objective == 5


# --------------------------------------------------------------------------- stdout stays clean

_SOLVE_SCRIPT = """
import numpy as np, pulp
from healthopt.models import MCLP
D = np.array([[1.0, 9.0], [9.0, 1.0], [4.0, 5.0]])
for solver in ({solvers}):
    r = MCLP.from_cost_matrix(D, [1, 2, 3], 5, 1).solve(solver=solver)
    assert r.objective == 5, r.objective
"""


@pytest.mark.parametrize(
    "solvers",
    ['"highs",', '"highs-pulp",', "pulp.HiGHS(msg=False),", '"cbc",'],
)
def test_first_solve_of_a_process_prints_nothing_to_stdout(solvers):
    # highspy prints its banner once per process, on the first Highs(): only a fresh
    # interpreter shows whether the first solve is silent.
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-c", _SOLVE_SCRIPT.format(solvers=solvers)],
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr.decode()
    assert proc.stdout == b""


def test_solve_prints_nothing_at_fd_level(capfd, tmp_path):
    import highspy

    highspy.Highs()  # whatever an earlier test left: the banner is printed at most once here
    capfd.readouterr()
    D, w = medium(n_d=60, n_s=15)
    log = tmp_path / "highs.log"
    MCLP.from_cost_matrix(D, w, 6.0, 3).solve(log_path=log)
    MCLP.from_cost_matrix(D, w, 6.0, 3).solve(solver="highs-pulp", log_path=tmp_path / "pulp.log")
    out, _err = capfd.readouterr()
    assert out == ""
    assert log.stat().st_size > 0  # the log went to the file instead


# --------------------------------------------------------------------------- PuLP solver objects


def test_pulp_solver_objects_are_accepted():
    import pulp

    D, w = medium(n_d=80, n_s=20)
    ref = MCLP.from_cost_matrix(D, w, 6.0, 4).solve()
    with warnings.catch_warnings():  # PuLP 3.3 flags its bundled CBC for 4.0
        warnings.simplefilter("ignore", DeprecationWarning)
        cbc = pulp.PULP_CBC_CMD(msg=False)
    for cmd in (pulp.HiGHS(msg=False), cbc):
        res = MCLP.from_cost_matrix(D, w, 6.0, 4).solve(solver=cmd)
        assert res.status == "optimal"
        assert res.solver == f"pulp:{type(cmd).__name__}"
        assert res.objective == pytest.approx(ref.objective)
        assert res.open_sites == ref.open_sites or res.objective == pytest.approx(ref.objective)


def test_pulp_solver_object_settings_are_used():
    import pulp

    D, w = medium(seed=4, n_d=3000, n_s=400)
    res = MCLP.from_cost_matrix(D, w, 4.0, 25).solve(solver=pulp.HiGHS(msg=False, timeLimit=0.5))
    if res.status_code == "optimal":  # machine fast enough: nothing to check
        return
    assert res.status_code.startswith("time_limit")  # the object's own 0.5 s limit, named in the status
    assert "time limit reached (0.5 s)" in res.status


def test_unknown_solver_object_is_an_input_error():
    with pytest.raises(InputError, match="PuLP solver object"):
        MCLP.from_cost_matrix(np.ones((2, 2)), [1, 1], 5, 1).solve(solver=object())
