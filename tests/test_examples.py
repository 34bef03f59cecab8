"""The shipped scenarios for users of the installed package: listed, located, copied (never over a file)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from healthopt import examples
from healthopt.errors import InputError

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = sorted((ROOT / "scenarios").rglob("*.yaml"))
#: What a copy holds: the scenarios and the layers they name (the peak-traffic layout).
COPIED = sorted([*SHIPPED, *(ROOT / "scenarios").glob("layers/*.csv")])


def test_list_and_locate_the_shipped_scenarios():
    names = examples.list_examples()
    assert names == sorted(p.relative_to(ROOT / "scenarios").with_suffix("").as_posix() for p in SHIPPED)
    assert "taiyuan_2025_baseline" in names and "sweeps/taiyuan_core_fleet" in names
    assert examples.example_path("taiyuan_2025_baseline.yaml") == ROOT / "scenarios" / "taiyuan_2025_baseline.yaml"
    with pytest.raises(InputError, match="no shipped scenario 'nope'; choose one of sweeps/taiyuan_core_fleet"):
        examples.example_path("nope")


def test_the_packaged_folder_wins_when_it_exists(tmp_path, monkeypatch):
    (tmp_path / "only.yaml").write_text("name: only\n", encoding="utf-8")
    monkeypatch.setattr(examples, "PACKAGED_DIR", tmp_path)
    assert examples.examples_dir() == tmp_path and examples.list_examples() == ["only"]


def test_copy_keeps_the_layout_and_the_sweeps_still_find_their_base(tmp_path):
    from healthopt.batch.sweep import load_batch
    from healthopt.scenario import load_scenario

    written = examples.copy_examples(tmp_path / "mine")
    assert [p.relative_to(tmp_path / "mine") for p in written] == [p.relative_to(ROOT / "scenarios") for p in COPIED]
    assert all(c.read_bytes() == s.read_bytes() for c, s in zip(written, COPIED, strict=True))
    peak = load_scenario(tmp_path / "mine" / "taiyuan_2025_peak_traffic.yaml")  # finds its layout in the copy
    assert peak.data.stations is not None and peak.data.stations.path.parent == tmp_path / "mine" / "layers"
    batch = load_batch(tmp_path / "mine" / "sweeps" / "taiyuan_core_fleet.yaml")
    assert len(batch.members) == 50


def test_copy_never_replaces_a_file_and_writes_nothing_then(tmp_path):
    dest = tmp_path / "mine"
    dest.mkdir()
    (dest / "taiyuan_2025_baseline.yaml").write_text("my own edits\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"taiyuan_2025_baseline\.yaml: already exists: not replaced"):
        examples.copy_examples(dest)
    assert [p.name for p in dest.rglob("*")] == ["taiyuan_2025_baseline.yaml"]
    assert (dest / "taiyuan_2025_baseline.yaml").read_text(encoding="utf-8") == "my own edits\n"
    (tmp_path / "file").write_text("x", encoding="utf-8")
    with pytest.raises(InputError, match="exists and is not a folder"):
        examples.copy_examples(tmp_path / "file")


def test_cli_lists_and_copies_the_examples(tmp_path):
    def healthopt(*args):
        cmd = [sys.executable, "-c", "from healthopt.cli import run; run()", *map(str, args)]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=tmp_path)

    listed = healthopt("examples")
    assert listed.returncode == 0, listed.stderr
    assert f"taiyuan_2025_baseline: {ROOT / 'scenarios' / 'taiyuan_2025_baseline.yaml'}" in listed.stdout.splitlines()
    copied = healthopt("examples", "mine")
    assert copied.returncode == 0, copied.stderr
    assert len(copied.stdout.splitlines()) == len(COPIED) and (tmp_path / "mine" / "sweeps").is_dir()
    again = healthopt("examples", "mine")
    assert again.returncode == 2 and "already exists: not replaced" in again.stderr
