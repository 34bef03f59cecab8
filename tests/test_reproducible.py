"""Reproducibility: the same scenario and data give byte-identical summary.json and results.gpkg.

Two runs of one scenario (two central districts, solves that finish) in two processes with
different hash seeds, so set and dict ordering of strings differs between them; the second
run reads a copy of the scenario file, by a relative path from another working directory,
so nothing in the outputs may depend on the path by which the scenario was given.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from fixtures.scenario_files import write_variant

from healthopt.pipeline.provenance import file_hash

ROOT = Path(__file__).resolve().parent.parent
TWO_DISTRICTS = {"name": "two_districts", "area.districts": ["140106", "140107"], "area.urban": ["140106", "140107"],
                 "outputs.map": False, "outputs.report": False}


def _scenario(folder: Path) -> Path:
    """Write the baseline restricted to 迎泽区 and 杏花岭区, without map and report (slow, not compared)."""
    return write_variant(folder, TWO_DISTRICTS)


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> tuple[Path, Path, Path]:
    """Run the scenario twice at once into two folders; return (scenario, run A, run B).

    Run B reads a copy of the file as ``two_districts.yaml`` from the copy's folder.
    """
    tmp = tmp_path_factory.mktemp("repro")
    scenario = _scenario(tmp)
    elsewhere = tmp / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / scenario.name).write_bytes(scenario.read_bytes())
    procs = []
    for label, seed, given, cwd in (("a", "1", str(scenario), tmp), ("b", "2", scenario.name, elsewhere)):
        cmd = [sys.executable, "-c", "from healthopt.cli import run; run()", "run", given, "-o",
               str(tmp / label), "--quiet"]
        procs.append(subprocess.Popen(cmd, env={**os.environ, "PYTHONHASHSEED": seed}, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True, cwd=cwd))
    for proc in procs:
        _out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
    return scenario, tmp / "a" / "two_districts", tmp / "b" / "two_districts"


def _tables(gpkg: Path) -> dict[str, list[tuple]]:
    """Every feature table of a GeoPackage: header (column order) and rows in file order, geometry bytes included."""
    with sqlite3.connect(gpkg) as db:
        names = [r[0] for r in db.execute("SELECT table_name FROM gpkg_contents ORDER BY table_name")]
        out = {}
        for name in names:
            cur = db.execute(f'SELECT * FROM "{name}" ORDER BY rowid')
            out[name] = [tuple(d[0] for d in cur.description), *cur.fetchall()]
    return out


@pytest.mark.slow
def test_solves_finished(runs):
    summary = json.loads((runs[1] / "summary.json").read_text(encoding="utf-8"))
    assert summary["optimal"] is True and summary["solver"]["reproducible"] is True


@pytest.mark.slow
def test_summary_json_is_byte_identical(runs):
    _, a, b = runs
    assert (a / "summary.json").read_bytes() == (b / "summary.json").read_bytes()


@pytest.mark.slow
def test_gpkg_layers_and_file_are_identical(runs):
    _, a, b = runs
    tables_a, tables_b = _tables(a / "results.gpkg"), _tables(b / "results.gpkg")
    assert {"districts", "stations", "health_centres", "demand", "coverage_areas"} <= set(tables_a)
    for name, rows in tables_a.items():
        assert rows == tables_b[name], name
    # gpkg_contents.last_change is fixed too, so the whole file is identical
    assert (a / "results.gpkg").read_bytes() == (b / "results.gpkg").read_bytes()


@pytest.mark.slow
def test_summary_records_versions_and_input_hashes(runs):
    scenario, a, _ = runs
    summary = json.loads((a / "summary.json").read_text(encoding="utf-8"))
    inputs = summary["inputs"]
    # the file name, never the path typed (run B gave another one)
    assert inputs["scenario"] == {"name": "two_districts.yaml",
                                  "sha256": hashlib.sha256(scenario.read_bytes()).hexdigest()}
    assert inputs["osm"]["path"] == "embedded:roads/taiyuan_core_osm_lines.geojson"
    embedded = ROOT / "healthopt" / "geodata" / "taiyuan"
    manifest = (embedded / "manifest.csv").read_text(encoding="utf-8").splitlines()[1:]
    files = {"manifest.csv", *(line.split(",")[1] for line in manifest)}
    assert set(inputs["embedded"]) == files
    assert all(inputs["embedded"][f] == hashlib.sha256((embedded / f).read_bytes()).hexdigest() for f in files)
    assert {"python", "healthopt", "highspy", "numpy", "pandas", "geopandas", "shapely", "gdal", "geos",
            "proj"} <= set(summary["versions"])
    assert summary["solver"]["random_seed"] == 0 and summary["solver"]["threads"] == 2


def test_shapefile_hash_covers_its_sidecars(tmp_path):
    for ext in ("shp", "shx", "dbf"):
        (tmp_path / f"sites.{ext}").write_bytes(b"x")
    before = file_hash(tmp_path / "sites.shp")
    (tmp_path / "sites.dbf").write_bytes(b"y")  # attributes live in the .dbf
    assert file_hash(tmp_path / "sites.shp") != before


@pytest.mark.slow
def test_workbook_is_byte_identical(runs):
    _, a, b = runs
    assert (a / "results.xlsx").read_bytes() == (b / "results.xlsx").read_bytes()
