"""Issue 11 items 6, 7 and 9 for sweep files: ranges cannot overflow, values stay data.

An overflowing ``{start, stop, step}`` (huge stop, tiny step, infinities, integers beyond
any float) ends with one line naming the sweep file and the grid field, exit code 2,
before any value is built; text values, including ones a spreadsheet would read as a
formula, are passed to the scenario as text.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from healthopt import cli
from healthopt.batch import load_batch
from healthopt.batch.sweep import MAX_MEMBERS, MAX_RANGE_VALUES
from healthopt.errors import InputError

ROOT = Path(__file__).resolve().parent.parent
BASELINE = ROOT / "scenarios" / "taiyuan_2025_baseline.yaml"
FIELD = "plans.ambulances.max_vehicles"


def _sweep(folder: Path, grid_lines: list[str]) -> Path:
    path = folder / "sweep.yaml"
    path.write_text("\n".join(["sweep:", "  name: s", f"  base: {BASELINE}", "  grid:", *grid_lines]) + "\n")
    return path


def _range(folder: Path, start: str, stop: str, step: str, field: str = FIELD) -> Path:
    return _sweep(folder, [f"    {field}: {{start: {start}, stop: {stop}, step: {step}}}"])


@pytest.mark.parametrize(("start", "stop", "step", "words"), [
    ("0", "1.0", "1.0e-300", "gives 1e+300 values"),
    ("0", "1.0e+300", "1", "gives 1e+300 values"),
    ("-1.7e+308", "1.7e+308", "1.0e-10", "gives inf values"),
    ("0", "1000000000000000000000000000000", "1", "gives 1,000,000,000,000,000,000,000,000,000,001 values"),
    ("0", "100000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
     "0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
     "0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
     "000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000", "0.5",
     "gives inf values"),
    ("0", ".inf", "1", "must be finite numbers"),
    ("0", "10", ".nan", "must be finite numbers"),
])
def test_overflowing_range_names_file_and_field(tmp_path: Path, start: str, stop: str, step: str, words: str) -> None:
    path = _range(tmp_path, start, stop, step)
    with pytest.raises(InputError) as info:
        load_batch(path)
    err = info.value
    assert err.source == str(path) and err.field == f"sweep.grid.{FIELD}" and err.line == 5
    assert words in err.message, err.message
    assert "\n" not in err.one_line()


def test_range_limit_is_far_above_the_member_limit(tmp_path: Path) -> None:
    assert MAX_RANGE_VALUES > MAX_MEMBERS
    # A range just within the range limit still reaches the whole-grid check.
    path = _range(tmp_path, "1", str(MAX_RANGE_VALUES), "1")
    with pytest.raises(InputError) as info:
        load_batch(path)
    assert info.value.field == "sweep.grid" and f"expands to {MAX_RANGE_VALUES:,} scenarios" in info.value.message
    path = _range(tmp_path, "1", str(MAX_RANGE_VALUES + 1), "1")
    with pytest.raises(InputError, match=f"gives {MAX_RANGE_VALUES + 1:,} values"):
        load_batch(path)


def test_overflowing_sweep_on_the_command_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture) -> None:
    path = _range(tmp_path, "0", "1.0", "1.0e-300")
    out = tmp_path / "runs"
    monkeypatch.setattr(sys, "argv", ["healthopt", "batch", str(path), "-o", str(out)])
    with pytest.raises(SystemExit) as info:
        cli.run()
    assert info.value.code == 2
    [line] = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert f"{path}:5: sweep.grid.{FIELD}:" in line and "1e+300 values" in line
    assert not out.exists() or not any(out.iterdir())


@pytest.mark.parametrize("value", ["=1+1", "+cmd|' /C calc'!A0", "-2+3", "@SUM(A1:A2)", "{{7*7}}", "${HOME}"])
def test_text_grid_values_are_kept_as_data(tmp_path: Path, value: str) -> None:
    quoted = "'" + value.replace("'", "''") + "'"
    path = _sweep(tmp_path, [f"    description: [{quoted}, plain]"])
    batch = load_batch(path)
    first, second = batch.members
    assert first.params == {"description": value}
    assert first.scenario.description == value
    assert second.scenario.description == "plain"
    assert first.name != second.name and first.name.startswith("s-")


def test_text_where_a_number_is_expected_is_refused_not_evaluated(tmp_path: Path) -> None:
    path = _sweep(tmp_path, ["    network.congestion: ['=1+1']"])
    with pytest.raises(InputError) as info:
        load_batch(path)
    assert info.value.field == "sweep.grid.network.congestion"
    assert "expected a number, got the text '=1+1'" in info.value.message


def test_float_ranges_still_expand_as_before(tmp_path: Path) -> None:
    path = _range(tmp_path, "1.0", "1.6", "0.3", field="network.congestion")
    values: list[Any] = [m.params["network.congestion"] for m in load_batch(path).members]
    assert values == [1.0, 1.3, 1.6]
