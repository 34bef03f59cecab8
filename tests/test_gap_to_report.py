"""Solver gap: the default is documented and reaches the solver exactly; a plan proven too loosely is exit 3.

``solver.gap`` (default :data:`healthopt.milp.settings.DEFAULT_GAP`, 0.05 %) is HiGHS'
``mip_rel_gap`` unchanged. A plan stopped by its time limit with a proven gap above
``solver.max_gap_to_report`` (default 5 %) ends the run with exit code 3, one line of
advice and nothing written, unless ``solver.accept_gap: true``. The solver's answer is
made loose by wrapping the ambulance plan's ``solve_problem`` (a real solve, then its gap
set to 20 % and its status to "time limit"), so the test does not depend on machine speed.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from healthopt import cli
from healthopt.milp import solve as solve_mod
from healthopt.milp.problem import MilpProblem
from healthopt.milp.settings import DEFAULT_GAP, DEFAULT_MAX_GAP_TO_REPORT, SolverSettings
from healthopt.plans import ambulances
from healthopt.scenario import Scenario

ROOT = Path(__file__).resolve().parent.parent
BASELINE = ROOT / "scenarios" / "taiyuan_2025_baseline.yaml"

SCENARIO = """\
name: loose
area: {{districts: [140106], urban: [140106]}}
plans:
  ambulances: {{max_new_stations: 4}}
  primary_care: {{enabled: false}}
  beds: {{enabled: false}}
solver: {{time_limit_s: 30, gap: 0.01{extra}}}
outputs: {{map: false, report: false, gpkg: false}}
"""


def test_default_gap_is_the_documented_one() -> None:
    shipped = yaml.safe_load(BASELINE.read_text(encoding="utf-8"))["solver"]
    assert DEFAULT_GAP == 0.0005 and DEFAULT_MAX_GAP_TO_REPORT == 0.05
    assert SolverSettings().gap == DEFAULT_GAP
    solver = Scenario.from_dict({"name": "x"}).solver
    assert (solver.gap, solver.max_gap_to_report, solver.accept_gap) == (DEFAULT_GAP, 0.05, False)
    assert (shipped["gap"], shipped["max_gap_to_report"], shipped["accept_gap"]) == (DEFAULT_GAP, 0.05, False)


@pytest.mark.parametrize("gap", [0.0, 1e-4, DEFAULT_GAP, 0.0123])
def test_gap_reaches_highs_exactly(gap: float, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, object] = {}
    real = solve_mod.new_highs

    def recording():
        h = real()
        set_option = h.setOptionValue

        def record(name, value):
            seen[name] = value
            return set_option(name, value)

        h.setOptionValue = record
        return h

    monkeypatch.setattr(solve_mod, "new_highs", recording)
    p = MilpProblem("knapsack", "max")
    p.add_variables("y", 3, ub=1, integer=True, obj=[5.0, 4.0, 3.0])
    p.add_constraints("weight", {"y": np.array([[2.0, 3.0, 1.0]])}, ub=4.0)
    out = solve_mod.solve_problem(p, "highs", gap=gap)
    assert seen["mip_rel_gap"] == gap  # no floor, no rounding
    assert out.objective == 8.0  # items 0 and 2 (weight 3); hand-checked


def test_reportable_rule() -> None:
    s = SolverSettings()
    assert s.reportable(0.2, optimal=True)  # a finished solve is always written
    assert not s.reportable(0.0501, optimal=False) and s.reportable(0.05, optimal=False)
    assert SolverSettings(accept_gap=True).reportable(0.9, optimal=False)
    assert SolverSettings(max_gap_to_report=0.5).reportable(0.2, optimal=False)


def _loose(monkeypatch: pytest.MonkeyPatch) -> None:
    # both ways the plan solves: LP bound + RINS (HiGHS, the default) and the plain MIP
    for name in ("solve_problem", "solve_lp_first"):
        real = getattr(ambulances, name)

        def loose(*args, _real=real, **kwargs):
            out = _real(*args, **kwargs)
            return dataclasses.replace(out, status_code="time_limit_feasible", gap=0.2,
                                       status="time limit reached (30 s) — best plan found, not proven optimal")

        monkeypatch.setattr(ambulances, name, loose)


def _run(args: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> tuple[int, str]:
    monkeypatch.setattr(sys, "argv", ["healthopt", *map(str, args)])
    try:
        cli.run()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    return code, capsys.readouterr().err


def test_loose_plan_is_exit_3_and_writes_nothing(tmp_path, monkeypatch, capsys) -> None:
    _loose(monkeypatch)
    scenario = tmp_path / "loose.yaml"
    scenario.write_text(SCENARIO.format(extra=""), encoding="utf-8")
    runs = tmp_path / "runs"
    code, err = _run(["run", scenario, "-o", runs], monkeypatch, capsys)
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert code == 3 and len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith("error: solver.max_gap_to_report: the ambulance plan")
    for advice in ("20 %", "5 %", "raise solver.time_limit_s", "smaller area", "another model", "accept_gap: true"):
        assert advice in lines[0], advice
    assert not runs.exists() or os.listdir(runs) == [], os.listdir(runs)  # no folder, no .partial


def test_accepted_loose_plan_is_written_with_its_gap(tmp_path, monkeypatch, capsys) -> None:
    _loose(monkeypatch)
    scenario = tmp_path / "loose.yaml"
    scenario.write_text(SCENARIO.format(extra=", accept_gap: true"), encoding="utf-8")
    runs = tmp_path / "runs"
    code, err = _run(["run", scenario, "-o", runs, "--quiet"], monkeypatch, capsys)
    assert code == 0, err
    summary = json.loads((runs / "loose" / "summary.json").read_text(encoding="utf-8"))
    assert summary["gap"] == 0.2 and summary["optimal"] is False and "not proven optimal" in summary["status"]
