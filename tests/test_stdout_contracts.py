"""Issue 11, item 8: what a script reading ``healthopt run`` gets on stdout.

``--quiet`` prints exactly the run folder; ``--log-json`` prints exactly one JSON document
on stdout (steps and errors are JSON lines on stderr); a reader that goes away
(``healthopt run ... | head -0``) or a closed stdout (``>&-``) does not turn a finished run
into a failure: exit 0, no traceback, the run folder written.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

CLI = [sys.executable, "-c", "from healthopt.cli import run; run()"]
SCENARIO = """\
name: s
area: {districts: [140106], urban: [140106]}
plans: {ambulances: {max_new_stations: 3}}
solver: {time_limit_s: 15}
outputs: {map: false, report: false}
"""


@pytest.fixture
def scenario(tmp_path: Path) -> Path:
    path = tmp_path / "s.yaml"
    path.write_text(SCENARIO, encoding="utf-8")
    return path


def _finished(runs: Path) -> None:
    assert json.loads((runs / "s" / "summary.json").read_text(encoding="utf-8"))["scenario"]["name"] == "s"


def test_quiet_prints_exactly_the_run_folder(tmp_path, scenario):
    runs = tmp_path / "runs"
    out = subprocess.run([*CLI, "run", str(scenario), "-o", str(runs), "--quiet"], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout == f"{runs / 's'}\n"
    _finished(runs)


def test_log_json_stdout_is_one_json_document(tmp_path, scenario):
    runs = tmp_path / "runs"
    out = subprocess.run([*CLI, "run", str(scenario), "-o", str(runs), "--log-json"], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    done = json.loads(out.stdout)  # the whole of stdout, not its last line
    assert done["event"] == "done" and done["folder"] == str(runs / "s")
    assert done["kpis"]["pop_total"] == json.loads((runs / "s" / "summary.json").read_text())["kpis"]["pop_total"]
    assert all(json.loads(line)["event"] == "step" for line in out.stderr.splitlines())


@pytest.mark.parametrize("mode", ["plain", "--quiet", "--log-json"])
def test_reader_gone_before_the_end_is_a_quiet_success(tmp_path, scenario, mode):
    runs = tmp_path / "runs"
    args = [*CLI, "run", str(scenario), "-o", str(runs), *([mode] if mode != "plain" else [])]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None
    proc.stdout.close()  # as `| head -0` does: nobody reads what the run prints at its end
    _, err = proc.communicate(timeout=300)
    text = err.decode("utf-8", "replace")
    assert proc.returncode == 0, text
    assert "Traceback" not in text and "BrokenPipe" not in text and "Exception ignored" not in text
    _finished(runs)


def test_closed_stdout_is_a_quiet_success(tmp_path, scenario):
    runs = tmp_path / "runs"
    out = subprocess.run([*CLI, "run", str(scenario), "-o", str(runs), "--quiet"], stderr=subprocess.PIPE,
                         text=True, timeout=300, preexec_fn=lambda: os.close(1))
    assert out.returncode == 0, out.stderr
    assert "Traceback" not in out.stderr
    _finished(runs)
