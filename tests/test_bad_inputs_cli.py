"""Issue 6, item 1: every bad input ends the same way on the command line.

Two corpora: ``scenarios_bad/`` (scenario files the schema refuses) and ``bad_inputs/``
(valid scenarios whose data layers or road extracts are broken, found while running).
Each case carries ``# expect: <text>``. ``healthopt run CASE`` must exit with code 2 and
print exactly one line ``error: <file>[:<line>]: <field>: <message>`` naming the file at
fault, with no traceback (only ``--debug`` shows one) and no output folder left behind.

Cases run in-process (the imports alone cost ~3 s per subprocess); a few run through the
installed ``healthopt`` script to prove the real entry point behaves the same.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from healthopt import cli

HERE = Path(__file__).resolve().parent
SCENARIO_CASES = sorted((HERE / "scenarios_bad").glob("*.yaml"))
DATA_CASES = sorted((HERE / "bad_inputs").glob("*.yaml"))
HEALTHOPT = Path(sys.executable).with_name("healthopt")

#: ``error: <file>[:<line>]: <rest>``; files in the corpora have no ": " in their names.
_LINE = re.compile(r"^error: (?P<file>.+?)(?::\d+)?: (?P<rest>.+)$")
#: A field is a dotted name, possibly indexed: ``pop``, ``data.demand.path``, ``area.districts[1]``.
_FIELD = re.compile(r"^[\w.\[\]]+: ")


def _expect(path: Path) -> str:
    lines = path.read_text(encoding="utf-8").splitlines()
    found = [ln.removeprefix("# expect: ") for ln in lines if ln.startswith("# expect: ")]
    assert found, f"{path.name} has no '# expect:' line"
    return found[0]


def _run_in_process(args: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> tuple[int, str]:
    """Call the CLI entry point as the console script does; return (exit code, stderr)."""
    monkeypatch.setattr(sys, "argv", ["healthopt", *args])
    try:
        cli.run()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    return code, capsys.readouterr().err


def _check(path: Path, code: int, stderr: str, runs: Path, expected: str) -> None:
    assert code == 2, stderr
    assert "Traceback" not in stderr
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, lines
    match = _LINE.match(lines[0].strip())
    assert match, lines[0]
    assert expected in lines[0], (expected, lines[0])
    named = Path(match["file"]).name
    # The scenario itself, or the data file it points to.
    assert named == path.name or named in path.read_text(encoding="utf-8"), lines[0]
    assert not runs.exists() or not any(runs.iterdir()), sorted(runs.iterdir())


def test_corpora_are_large_enough() -> None:
    assert len(DATA_CASES) >= 25
    assert len(SCENARIO_CASES) + len(DATA_CASES) >= 80
    # Each case has its own data file(s) or scenario: expectations do not repeat.
    expects = [_expect(p) for p in DATA_CASES]
    assert len(set(expects)) == len(expects)


@pytest.mark.parametrize("path", SCENARIO_CASES, ids=[p.stem for p in SCENARIO_CASES])
def test_bad_scenario_gives_one_line_and_exit_2(path, tmp_path, monkeypatch, capsys):
    runs = tmp_path / "runs"
    code, stderr = _run_in_process(["run", str(path), "-o", str(runs)], monkeypatch, capsys)
    # Scenario expectations are "<line>: <field>: <message>", so prefix the file name.
    _check(path, code, stderr, runs, f"{path}:{_expect(path)}")


@pytest.mark.parametrize("path", DATA_CASES, ids=[p.stem for p in DATA_CASES])
def test_bad_data_gives_one_line_naming_file_and_field(path, tmp_path, monkeypatch, capsys):
    runs = tmp_path / "runs"
    code, stderr = _run_in_process(["run", str(path), "-o", str(runs)], monkeypatch, capsys)
    _check(path, code, stderr, runs, _expect(path))
    # Data errors always name the column or aspect at fault after the file.
    assert _FIELD.match(_LINE.match(stderr.strip())["rest"]), stderr


def test_several_scenario_problems_still_give_one_line(tmp_path, monkeypatch, capsys):
    path = HERE / "scenarios_bad" / "multi_error.yaml"
    _, stderr = _run_in_process(["run", str(path), "-o", str(tmp_path / "runs")], monkeypatch, capsys)
    assert "(and 9 more problems: 'healthopt validate" in stderr


SUBPROCESS_CASES = [
    HERE / "scenarios_bad" / "list_instead_of_pair.yaml",  # "[low, high]" must not be read as markup
    HERE / "bad_inputs" / "demand_negative_population.yaml",
    HERE / "bad_inputs" / "osm_footways_only.yaml",
]


@pytest.mark.parametrize("path", SUBPROCESS_CASES, ids=[p.stem for p in SUBPROCESS_CASES])
def test_installed_entry_point(path, tmp_path):
    runs = tmp_path / "runs"
    out = subprocess.run([str(HEALTHOPT), "run", str(path), "-o", str(runs)], capture_output=True, text=True,
                         timeout=300, cwd=tmp_path)
    expected = _expect(path)
    _check(path, out.returncode, out.stderr, runs, f"{path}:{expected}" if "scenarios_bad" in str(path) else expected)
    assert out.stdout == ""


def test_debug_shows_the_full_traceback(tmp_path):
    path = HERE / "bad_inputs" / "demand_negative_population.yaml"
    runs = tmp_path / "runs"
    out = subprocess.run([str(HEALTHOPT), "--debug", "run", str(path), "-o", str(runs)], capture_output=True,
                         text=True, timeout=300, cwd=tmp_path)
    assert out.returncode == 1  # an uncaught exception, as Python reports it
    assert "Traceback (most recent call last)" in out.stderr
    assert "healthopt.errors.InputError: " in out.stderr and "negative count -120" in out.stderr
    assert not runs.exists() or not any(runs.iterdir())
