"""The healthopt command as a planner or a batch job calls it: exit codes and output."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BASELINE = ROOT / "scenarios" / "taiyuan_2025_baseline.yaml"


def healthopt(*args, cwd=None):
    cmd = [sys.executable, "-c", "from healthopt.cli import run; run()", *map(str, args)]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, timeout=600)


@pytest.mark.slow
def test_infeasible_budget_exits_3_with_json_error_and_no_folder(tmp_path, scenario_file):
    bad = scenario_file({"plans.ambulances.max_new_stations": 10}, file_name="tight")
    out = healthopt("run", bad, "-o", tmp_path / "runs", "--log-json")
    assert out.returncode == 3
    events = [json.loads(line) for line in out.stderr.splitlines()]
    assert events[0] == {"event": "step", "step": "data", "elapsed_s": events[0]["elapsed_s"]}
    assert events[-1]["event"] == "error" and "allows 10 new stations" in events[-1]["message"]
    assert not any((tmp_path / "runs").iterdir())


def test_validate_names_file_line_and_field(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nresponse_minutes:\n  urban: 0\n")
    out = healthopt("validate", bad)
    assert out.returncode == 2
    assert f"{bad}:3: response_minutes.urban:" in out.stderr


def test_data_info_lists_sources_and_quality():
    out = healthopt("data", "info")
    assert out.returncode == 0
    assert "5,304,061" in out.stdout and "OpenStreetMap" in out.stdout and "secondary" in out.stdout


def test_broken_offline_assets_exit_2_before_any_slow_step(tmp_path):
    import shutil

    from healthopt.outputs.offline import STATIC_DIR

    static = tmp_path / "static"
    shutil.copytree(STATIC_DIR, static)
    (static / "leaflet-1.9.3" / "leaflet.js").write_text("/* not leaflet */", encoding="utf-8")
    patch = f"import healthopt.outputs.offline as o; from pathlib import Path; o.STATIC_DIR = Path({str(static)!r}); "
    cmd = [sys.executable, "-c", patch + "from healthopt.cli import run; run()",
           "run", str(BASELINE), "-o", str(tmp_path / "runs"), "--log-json"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert out.returncode == 2, out.stderr
    events = [json.loads(line) for line in out.stderr.splitlines()]
    assert not [e for e in events if e.get("step") in {"road graph", "demand", "travel times", "ambulance plan"}]
    assert events[-1]["event"] == "error"
    assert "leaflet.js: offline map asset altered" in events[-1]["message"]
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())
