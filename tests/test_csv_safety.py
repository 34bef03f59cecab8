"""Output injection: no CSV cell the tool writes is a spreadsheet formula; file names stay on one line."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pandas as pd
import pytest
import yaml

from healthopt.outputs.tables import safe_csv_cell, write_csv, write_summary_csv

ROOT = Path(__file__).resolve().parent.parent
BASELINE = ROOT / "scenarios" / "taiyuan_2025_baseline.yaml"


def _rows(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.reader(handle))


@pytest.mark.parametrize(("value", "expected"), [
    ("=1+1", "'=1+1"),
    ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
    ("-2+3", "'-2+3"),
    ("@SUM(A1)", "'@SUM(A1)"),
    ("\t=1", "'\t=1"),
    ("\r=1", "'\r=1"),
    ("-", "'-"),
    ("-3", "-3"),          # a number written as text is read as a number, never run
    ("-0.5", "-0.5"),
    ("+1e3", "+1e3"),
    ("a=b", "a=b"),
    ("小店区", "小店区"),
    ("", ""),
    (-3, -3),
    (-0.5, -0.5),
    (None, None),
    (True, True),
])
def test_safe_csv_cell(value, expected):
    assert safe_csv_cell(value) == expected


def test_write_csv_neutralises_text_and_keeps_numbers(tmp_path):
    frame = pd.DataFrame({
        "name": ["=HYPERLINK(\"http://x\")", "@x", "plain", "-3", None],
        "value": [-3, -0.5, 1, 2, 3],
        "=header": ["a", "b", "c", "d", "e"],
        "cat": pd.Categorical(["+x", "y", "+x", "y", "y"]),
    })
    write_csv(tmp_path / "t.csv", frame, float_format="%.6g")
    rows = _rows(tmp_path / "t.csv")
    assert rows[0] == ["name", "value", "'=header", "cat"]
    assert [r[0] for r in rows[1:]] == ["'=HYPERLINK(\"http://x\")", "'@x", "plain", "-3", ""]
    assert [r[1] for r in rows[1:]] == ["-3", "-0.5", "1", "2", "3"]
    assert [r[3] for r in rows[1:]] == ["'+x", "y", "'+x", "y", "y"]
    assert (tmp_path / "t.csv").read_bytes().count(b"\r") == 0


def test_write_csv_writes_what_pandas_writes_when_nothing_is_a_formula(tmp_path):
    frame = pd.DataFrame({
        "mixed": pd.Series([0.123456789, 2, None, "x"], dtype=object),
        "floats": [0.123456789, -2.5, float("nan"), 1e-9],
        "ints": [-3, 0, 7, 10**12],
        "flags": [True, False, True, False],
        "text": ["小店区", "a=b", None, "-3"],
        "none": [None] * 4,
    })
    write_csv(tmp_path / "t.csv", frame, float_format="%.6g")
    expected = frame.to_csv(index=False, float_format="%.6g", lineterminator="\n").encode("utf-8")
    assert (tmp_path / "t.csv").read_bytes() == expected


def test_summary_csv_neutralises_a_district_name(tmp_path):
    districts = pd.DataFrame({"code": ["140105", "140106"], "name_zh": ["=1+1", "迎泽区"],
                              "name_en": ["@cmd", "Yingze"], "amb_planned": [-3, 5]})
    write_summary_csv(tmp_path / "summary.csv", districts)
    rows = _rows(tmp_path / "summary.csv")
    assert rows[1][:4] == ["140105", "'=1+1", "'@cmd", "-3"]
    assert rows[-1][:4] == ["total", "合计", "Total", "2"]


def test_batch_csvs_neutralise_sweep_values_and_messages(tmp_path):
    from healthopt.batch.runner import BatchRun
    from healthopt.batch.sweep import load_batch
    from healthopt.outputs.batch import write_batch_outputs

    sweep = tmp_path / "s.yaml"
    sweep.write_text(f"""sweep:
  name: t
  base: {BASELINE}
  set:
    area.districts: ["140106"]
    area.urban: ["140106"]
  grid:
    description: ["=1+1", "@SUM(A1)"]
""", encoding="utf-8")
    batch = load_batch(sweep)
    records = [{"name": m.name, "status": "failed", "message": "-2+3 failed"} for m in batch.members]
    (tmp_path / "out").mkdir()
    files = write_batch_outputs(BatchRun(batch, tmp_path / "out", records, [], []))
    rows = _rows(files["summary_csv"])
    col = rows[0].index("p_description")
    assert [r[col] for r in rows[1:]] == ["'=1+1", "'@SUM(A1)"]
    assert [r[rows[0].index("message")] for r in rows[1:]] == ["'-2+3 failed"] * 2
    assert [r[rows[0].index("response_urban_min")] for r in rows[1:]] == ["12", "12"]
    timings = _rows(files["timings_csv"])
    assert timings[0] == ["scenario", "seconds", "ran_now"] and len(timings) == 3


def test_every_csv_goes_through_the_one_writer():
    """compare.csv, batch_summary.csv, batch_timings.csv and summary.csv: no writer but write_csv."""
    writers = re.compile(r"\.to_csv\(|csv\.writer\(|csv\.DictWriter\(")
    hits = []
    for path in sorted((ROOT / "healthopt").rglob("*.py")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if writers.search(line):
                hits.append(f"{path.relative_to(ROOT)}:{number}")
    assert len(hits) == 1 and hits[0].startswith("healthopt/outputs/tables.py:"), hits


def test_a_newline_in_the_scenario_file_name_stays_in_the_comment(tmp_path):
    from healthopt.scenario import load_scenario

    evil = tmp_path / "evil\nname: hacked\r\u2028.yaml"
    evil.write_bytes(BASELINE.read_bytes())
    sc = load_scenario(evil)
    out = sc.dump_resolved(tmp_path / "scenario.resolved.yaml")
    text = out.read_text(encoding="utf-8")
    header = text.split("\nname: ", 1)[0].split("\n")
    assert len(header) == 2 and all(line.startswith("# ") for line in header), header
    assert "evil\\nname: hacked\\r\\u2028.yaml" in header[0]
    assert yaml.safe_load(text)["name"] == sc.name
