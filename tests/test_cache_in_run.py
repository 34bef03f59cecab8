"""What the road-graph cache did reaches the run result, and a damaged cache reaches the summary."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

SCENARIO = """\
name: cache_probe
data: {dataset: taiyuan}
area: {districts: [140106], urban: [140106]}
plans:
  ambulances: {max_new_stations: 4}
  primary_care: {enabled: false}
  beds: {enabled: false}
solver: {time_limit_s: 30, gap: 0.01}
outputs: {map: false, report: false, gpkg: false}
"""


def _run(tmp_path: Path, cache: Path, out: str) -> tuple[dict, dict]:
    env = {**os.environ, "HEALTHOPT_CACHE": str(cache)}
    proc = subprocess.run([sys.executable, "-m", "healthopt.cli", "run", str(tmp_path / "s.yaml"), "-o",
                           str(tmp_path / out), "--log-json"], capture_output=True, text=True, env=env, check=False)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    return result, json.loads((tmp_path / out / "cache_probe" / "summary.json").read_text())


def test_cache_state_in_result_and_damage_in_summary(tmp_path: Path) -> None:
    (tmp_path / "s.yaml").write_text(SCENARIO)
    cache = tmp_path / "cache"
    cold, cold_summary = _run(tmp_path, cache, "a")
    warm, warm_summary = _run(tmp_path, cache, "b")
    assert (cold["graph_cache"], warm["graph_cache"]) == ("miss", "hit")
    assert cold_summary == warm_summary  # a verified hit plans on the same graph as a build
    payload = next(cache.glob("*.npz"))
    data = bytearray(payload.read_bytes())
    data[len(data) // 2] ^= 0xFF
    payload.write_bytes(bytes(data))
    damaged, damaged_summary = _run(tmp_path, cache, "c")
    assert damaged["graph_cache"].startswith("rebuilt")
    notes = [n for n in damaged_summary["data_quality"] if "cached road graph" in n]
    assert notes == ["The cached road graph did not match its road data or settings and was rebuilt from the "
                     "road data."]
    assert damaged_summary["kpis"] == cold_summary["kpis"]
