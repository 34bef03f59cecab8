"""The wheel carries what a default run needs offline: Leaflet (with its licence), the embedded data, the scenarios.

A pip user has no Makefile and no repository: the wheel is built from a copy of the sources
(so nothing outside the files the build reads can leak in), installed with ``--target`` into
a temporary folder, and a tiny shipped scenario is run from there by a Python that does not
see the repository (``-S``: no editable finder; dependencies from this virtualenv).
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from healthopt.outputs.offline import find_external_refs

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
BUILD_FILES = ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md")
EXTERNAL_TAG = re.compile(r"""<(?:script|link)\b[^>]*(?:src|href)\s*=\s*["']?(?:https?:)?//""", re.IGNORECASE)
TINY = {
    "area.districts": ["140106"], "area.urban": ["140106"], "plans.ambulances.model": "mclp",
    "plans.primary_care.enabled": False, "plans.beds.enabled": False, "solver.time_limit_s": 30,
    "solver.threads": 1, "solver.relax_norms_if_infeasible": True,
}


def _quiet_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HEALTHOPT_", "PYTHON", "PIP_"))}
    env.update(PIP_NO_INDEX="1", PIP_DISABLE_PIP_VERSION_CHECK="1", **extra)
    return env


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    pytest.importorskip("wheel", reason="the 'wheel' package (dev extra) builds wheels with this setuptools")
    src = tmp_path_factory.mktemp("src")
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(ROOT / "healthopt", src / "healthopt", ignore=ignore)
    shutil.copytree(ROOT / "scenarios", src / "scenarios", ignore=ignore)
    for name in BUILD_FILES:
        shutil.copy2(ROOT / name, src / name)
    dist = tmp_path_factory.mktemp("dist")
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                           str(src), "-w", str(dist)], capture_output=True, text=True, env=_quiet_env(),
                          timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (built,) = dist.glob("healthopt-*.whl")
    return built


@pytest.fixture(scope="module")
def names(wheel) -> set[str]:
    with zipfile.ZipFile(wheel) as zf:
        return set(zf.namelist())


def test_wheel_carries_leaflet_with_its_licence(wheel, names):
    static = "healthopt/outputs/static/"
    with zipfile.ZipFile(wheel) as zf:
        manifest = json.loads(zf.read(static + "manifest.json"))
        licence = zf.read(static + "leaflet-1.9.3/LICENSE").decode()
    assert {static + rel for rel in manifest["files"]} <= names
    assert {static + "leaflet-1.9.3/leaflet.js", static + "leaflet-1.9.3/leaflet.css",
            static + "leaflet-1.9.3/images/marker-icon.png"} <= names
    assert licence.startswith("BSD 2-Clause License")


def test_wheel_carries_the_embedded_dataset_and_the_scenarios(wheel, names):
    data = "healthopt/geodata/taiyuan/"
    with zipfile.ZipFile(wheel) as zf:
        rows = list(csv.DictReader(io.StringIO(zf.read(data + "manifest.csv").decode("utf-8"))))
    assert rows and {data + r["file"] for r in rows} <= names
    assert {data + "PROVENANCE.md", data + "tables/norms.csv", "healthopt/outputs/templates/report.html.j2",
            "healthopt/py.typed"} <= names
    shipped = {f"healthopt/examples/{p.relative_to(ROOT / 'scenarios').as_posix()}"
               for p in (ROOT / "scenarios").rglob("*.yaml")}
    assert "healthopt/examples/taiyuan_2025_baseline.yaml" in shipped and shipped <= names


def test_wheel_carries_every_file_of_the_package_and_nothing_else(wheel, names):
    files = {p.relative_to(ROOT).as_posix() for p in (ROOT / "healthopt").rglob("*")
             if p.is_file() and "__pycache__" not in p.parts}
    assert files <= names, sorted(files - names)  # modules, templates, data: a pip user gets them all
    assert not [n for n in names if n.startswith(("tests/", "build/", "scenarios/", "geodata/"))]
    assert "healthopt/outputs/assets.py" not in names
    assert wheel.stat().st_size < 2_000_000  # ~0.8 MB: Leaflet ~0.17 MB, the road extract ~2.3 MB unzipped


def test_installed_wheel_runs_a_shipped_scenario_offline(wheel, tmp_path):
    target = tmp_path / "site"
    proc = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target),
                           str(wheel)], capture_output=True, text=True, env=_quiet_env(), timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    # The user's path: `healthopt run FILE` (the console script's function) on a shipped scenario, made tiny.
    script = f"""
import json, sys
from pathlib import Path
import healthopt
from healthopt import examples, settings
from healthopt.scenario import load_scenario
assert Path(healthopt.__file__).is_relative_to({str(target)!r}), healthopt.__file__
assert settings.GEODATA_DIR.is_relative_to({str(target)!r}), settings.GEODATA_DIR
assert examples.examples_dir() == Path({str(target)!r}) / "healthopt" / "examples", examples.examples_dir()
sc = load_scenario(examples.example_path("taiyuan_2025_baseline")).with_overrides(json.loads(sys.argv[1]))
tiny = sc.dump_resolved(Path(sys.argv[2]) / "tiny.yaml")
sys.argv = ["healthopt", "run", str(tiny), "-o", str(Path(sys.argv[2]) / "runs")]
from healthopt.cli import run
run()
"""
    site = sysconfig.get_paths()["purelib"]
    env = _quiet_env(PYTHONPATH=os.pathsep.join([str(target), site]), HEALTHOPT_CACHE=str(tmp_path / "cache"))
    proc = subprocess.run([sys.executable, "-S", "-c", script, json.dumps(TINY), str(tmp_path)],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600, check=False)
    assert proc.returncode == 0, (proc.stdout[-2000:], proc.stderr[-3000:])
    folder = tmp_path / "runs" / "taiyuan_2025_baseline"
    html = (folder / "map.html").read_text(encoding="utf-8")
    assert not EXTERNAL_TAG.search(html) and find_external_refs(html) == []
    assert "Leaflet 1.9.3, a JS library for interactive maps" in html
    assert re.search(r"OpenStreetMap<\\?/a> contributors", html)
    report = (folder / "report.html").read_text(encoding="utf-8")
    assert not EXTERNAL_TAG.search(report)
    summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    assert summary["inputs"]["osm"]["path"] == "embedded:roads/taiyuan_core_osm_lines.geojson"
    assert summary["kpis"]["pop_total"] > 0
