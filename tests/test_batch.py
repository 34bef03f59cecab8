"""Batch jobs: sweep expansion, shared inputs, local vs Dask runs, resuming after a kill."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from healthopt.batch import load_batch, run_batch
from healthopt.batch import runner as batch_runner
from healthopt.errors import InputError
from healthopt.outputs.batch import write_batch_outputs

ROOT = Path(__file__).resolve().parent.parent
BASELINE = ROOT / "scenarios" / "taiyuan_2025_baseline.yaml"
# One urban district, no primary care or beds: a member plans in a few seconds. The gap lets
# every solve finish well inside its limit, so local and Dask runs can be compared byte for byte
# on a loaded machine (solver.gap is passed unchanged; 0 would ask for a proof the limit may cut).
FAST_SET = {
    "area.districts": ["140106"], "area.urban": ["140106"],
    "plans.primary_care.enabled": False, "plans.beds.enabled": False, "outputs.report": False,
    "solver.time_limit_s": 30, "solver.gap": 1e-4, "solver.threads": 1, "solver.relax_norms_if_infeasible": True,
}


def write_sweep(folder: Path, grid: dict, name: str = "t", **set_) -> Path:
    lines = ["sweep:", f"  name: {name}", f"  base: {BASELINE}", "  set:"]
    lines += [f"    {k}: {json.dumps(v)}" for k, v in {**FAST_SET, **set_}.items()]
    lines += ["  grid:"] + [f"    {k}: {json.dumps(v)}" for k, v in grid.items()]
    path = folder / f"{name}.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


# --- sweep files ----------------------------------------------------------------------------


def test_sweep_expands_the_grid_with_ranges_and_fixed_values(tmp_path):
    path = write_sweep(tmp_path, {"response_minutes.urban": [8, 12.5],
                                  "plans.ambulances.max_vehicles": {"start": 10, "stop": 20, "step": 5}})
    batch = load_batch(path)
    assert [m.name for m in batch.members] == [
        "t-urban8_max_vehicles10", "t-urban8_max_vehicles15", "t-urban8_max_vehicles20",
        "t-urban12p5_max_vehicles10", "t-urban12p5_max_vehicles15", "t-urban12p5_max_vehicles20"]
    last = batch.members[-1]
    assert last.params == {"response_minutes.urban": 12.5, "plans.ambulances.max_vehicles": 20}
    assert last.scenario.response_minutes.urban == 12.5 and last.scenario.plans.ambulances.max_vehicles == 20
    assert last.scenario.area.districts == ["140106"] and not last.scenario.plans.beds.enabled
    assert batch.parameters == ["response_minutes.urban", "plans.ambulances.max_vehicles"]
    assert len({m.digest for m in batch.members}) == 6


def test_shipped_sweeps_expand_to_their_documented_sizes():
    assert len(load_batch(ROOT / "scenarios" / "sweeps" / "taiyuan_core_fleet.yaml").members) == 50
    assert len(load_batch(ROOT / "scenarios" / "sweeps" / "taiyuan_overnight.yaml").members) == 180


@pytest.mark.parametrize(("grid", "field", "message"), [
    ({"response_minutes.urban": [0]}, "sweep.grid.response_minutes.urban", "greater than 0"),
    ({"plans.ambulances.max_vehicle": [5]}, "sweep.grid.plans.ambulances.max_vehicle", "max_vehicles"),
    ({"plans.ambulances.max_vehicles": {"start": 9, "stop": 1, "step": 1}},
     "sweep.grid.plans.ambulances.max_vehicles", "stop >= start"),
    ({"plans.ambulances.max_vehicles": []}, "sweep.grid.plans.ambulances.max_vehicles", "non-empty list"),
    ({"plans.ambulances.max_vehicles": {"start": 1, "stop": 100000, "step": 1}, "response_minutes.urban":
      [8, 9]}, "sweep.grid", "more than 5,000"),
])
def test_bad_sweep_names_file_and_field(tmp_path, grid, field, message):
    path = write_sweep(tmp_path, grid)
    with pytest.raises(InputError) as info:
        load_batch(path)
    assert info.value.source == str(path) and info.value.field == field
    assert message in info.value.message and "\n" not in info.value.one_line()


def test_folder_batch_needs_unique_names(tmp_path):
    for name in ("a.yaml", "b.yaml"):
        (tmp_path / name).write_text("name: same\n")
    with pytest.raises(InputError, match=r"must be unique in a batch.*same"):
        load_batch(tmp_path)
    (tmp_path / "b.yaml").write_text("name: other\n")
    assert [m.name for m in load_batch(tmp_path).members] == ["same", "other"]


def test_member_named_like_a_batch_folder_is_refused_before_anything_runs(tmp_path):
    (tmp_path / "scen").mkdir()
    (tmp_path / "scen" / "a.yaml").write_text("name: charts\n")
    with pytest.raises(InputError, match=r"a\.yaml: name: scenario name 'charts' is reserved"):
        run_batch(tmp_path / "scen", tmp_path / "runs")
    assert not (tmp_path / "runs").exists()


def test_batch_refuses_a_folder_it_did_not_write(tmp_path):
    path = write_sweep(tmp_path, {"plans.ambulances.max_vehicles": [14]})
    folder = tmp_path / "runs" / "t"
    folder.mkdir(parents=True)
    (folder / "field_notes.txt").write_text("not a batch")
    with pytest.raises(InputError, match=r"runs/t: exists and was not written by healthopt"):
        run_batch(path, tmp_path / "runs")
    assert sorted(p.name for p in folder.iterdir()) == ["field_notes.txt"]


@pytest.mark.slow
def test_batch_member_refuses_a_folder_it_did_not_write(tmp_path):
    path = write_sweep(tmp_path, {"plans.ambulances.max_vehicles": [14]}, **{"outputs.map": False})
    member = tmp_path / "runs" / "t" / "t-max_vehicles14"
    member.mkdir(parents=True)
    (member / "keep.txt").write_text("mine")
    (tmp_path / "runs" / "t" / ".healthopt-run").write_text(
        json.dumps({"tool": "healthopt", "kind": "batch", "name": "t"}))
    run = run_batch(path, tmp_path / "runs")
    assert run.records[0]["status"] == "input_error" and "not written by healthopt" in run.records[0]["message"]
    assert sorted(p.name for p in member.iterdir()) == ["keep.txt"]


# --- running --------------------------------------------------------------------------------


# --- running --------------------------------------------------------------------------------


@pytest.mark.slow
def test_inputs_are_built_once_per_group(tmp_path, monkeypatch):
    calls = []
    real = batch_runner.prepare_inputs

    def counting(sc, **kw):
        calls.append((sc.network.congestion, kw.get("cutoff")))
        return real(sc, **kw)

    monkeypatch.setattr(batch_runner, "prepare_inputs", counting)
    path = write_sweep(tmp_path, {"network.congestion": [1.0, 1.5], "response_minutes.urban": [8, 12]},
                       **{"outputs.map": False, "plans.ambulances.max_vehicles": 20})
    run = run_batch(path, tmp_path / "runs")
    assert [r["status"] for r in run.records] == ["ok"] * 4
    # two groups (congestion changes the graph); each matrix is built at the group's widest standard
    assert calls == [(1.0, 12.0), (1.5, 12.0)]
    by = {r["name"]: r["summary"]["kpis"] for r in run.records}
    # the 12-min optimum is at least what the 8-min plan reaches in 8 min (the model's objective;
    # residents within reach of a station need not be: a 12-min plan may cluster for backup cover)
    narrow, wide = (by[f"t-congestion1_urban{m}"]["calls_covered_expected"] for m in (8, 12))
    assert narrow <= wide * (1 + 1e-3)


@pytest.mark.slow
def test_forked_spawned_and_dask_runs_agree_and_rerun_skips_finished(tmp_path, monkeypatch):
    distributed = pytest.importorskip("dask.distributed")
    path = write_sweep(tmp_path, {"plans.ambulances.max_vehicles": [12, 20]})
    # the command's process has not solved anything: its workers are forked with the inputs built
    done = healthopt("batch", path, "-o", tmp_path / "local", "--workers", "2")
    assert done.returncode == 0, done.stderr
    local = run_batch(path, tmp_path / "local", workers=2)
    assert local.ran == [] and len(local.skipped) == 2  # the rerun skips what finished
    files = write_batch_outputs(local)
    assert [r["status"] for r in local.records] == ["ok"] * 2
    # spawned workers (off Linux, or from a process with solver threads) load the pickled inputs
    with monkeypatch.context() as m:
        m.setattr(batch_runner, "_can_fork", lambda: False)
        spawned = run_batch(path, tmp_path / "spawned", workers=2)
    # one Dask worker is enough to check the scattered inputs; bench_batch.py measures more
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        remote = run_batch(path, tmp_path / "dask", scheduler=cluster.scheduler_address)
    for other in (spawned, remote):
        assert files["summary_csv"].read_bytes() == write_batch_outputs(other)["summary_csv"].read_bytes()
        for member in local.batch.members:
            a = (local.folder / member.name / "summary.json").read_bytes()
            assert a == (other.folder / member.name / "summary.json").read_bytes()
    table = pd.read_csv(files["summary_csv"])
    assert list(table["fleet_planned"]) == [12, 20]
    assert list(table["norms_met"]) == [False, True]  # the norm for 迎泽区 is 20
    assert table.loc[0, "norms_relaxed"].startswith("迎泽区 (140106): 12 ambulances against the fleet norm of 20")
    index = files["index"].read_text()
    for link in table["map"]:
        assert f'href="{link}"' in index and (local.folder / link).exists()
    assert "plotly" in files["chart_html"].read_text()[:20000].lower()
    assert files["chart_png"].read_bytes()[:4] == b"\x89PNG"


def test_workers_are_forked_only_from_a_process_without_solver_threads():
    code = ("from healthopt.batch import runner\n"
            "from healthopt.milp.problem import MilpProblem\n"
            "from healthopt.milp.solve import solve_problem\n"
            "print(runner._can_fork())\n"
            "p = MilpProblem('x', 'max'); p.add_variables('y', 2, ub=1.0, integer=True, obj=[1.0, 2.0])\n"
            "p.add_constraints('one', {'y': [[1.0, 1.0]]}, ub=1.0)\n"
            "print(solve_problem(p, 'highs', 10, None, 2).objective, runner._can_fork())\n"
            "print(solve_problem(p, 'highs', 10, None, 1).objective, runner._can_fork())\n"
            "print(solve_problem(p, 'highs-pulp', 10, None, 2).objective, runner._can_fork())\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    linux = str(sys.platform == "linux")
    # before any solve: fork (on Linux); after HiGHS has run with 2 threads: spawn; a 1-thread solve
    # resizes the pool to no worker threads: fork again; PuLP's HiGHS with 2 threads: spawn
    assert out.stdout.split() == [linux, "2.0", "False", "2.0", linux, "2.0", "False"]


def healthopt(*args, **kw):
    cmd = [sys.executable, "-c", "from healthopt.cli import run; run()", *map(str, args)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600, **kw)


@pytest.mark.slow
def test_failing_member_is_reported_and_the_rest_continue(tmp_path):
    path = write_sweep(tmp_path, {"plans.ambulances.max_vehicles": [12, 20]},
                       **{"solver.relax_norms_if_infeasible": False, "outputs.map": False})
    out = healthopt("batch", path, "-o", tmp_path / "runs")
    assert out.returncode == 3, out.stderr
    assert "1 planned, 1 without a plan" in out.stdout
    record = json.loads((tmp_path / "runs" / "t" / ".status" / "t-max_vehicles12.json").read_text())
    assert record["status"] == "infeasible"
    assert "the fleet norm needs 20 ambulances" in record["message"] and "budget allows 12" in record["message"]
    assert (tmp_path / "runs" / "t" / "t-max_vehicles20" / "summary.json").exists()
    assert not (tmp_path / "runs" / "t" / "t-max_vehicles12").exists()
    # the batch workbook: one row per member, the planned one's figures as in its summary.json
    import openpyxl

    ws = openpyxl.load_workbook(tmp_path / "runs" / "t" / "batch_summary.xlsx")["成员 Members"]
    fields = [c.value for c in ws[2]]
    rows = [dict(zip(fields, r, strict=True)) for r in ws.iter_rows(min_row=3, values_only=True)]
    assert [(r["scenario"], r["status"]) for r in rows] == [("t-max_vehicles12", "infeasible"),
                                                           ("t-max_vehicles20", "ok")]
    kpis = json.loads((tmp_path / "runs" / "t" / "t-max_vehicles20" / "summary.json").read_text())["kpis"]
    assert rows[1]["fleet_planned"] == kpis["fleet_planned"] and rows[1]["pop_covered"] == kpis["pop_covered"]
    assert rows[0]["fleet_planned"] is None


@pytest.mark.slow
def test_batch_goes_into_postgis_for_qgis(tmp_path, postgis_url):
    import geopandas as gpd
    import psycopg

    path = write_sweep(tmp_path, {"plans.ambulances.max_vehicles": [16, 20]}, **{"outputs.map": False})
    out = healthopt("batch", path, "-o", tmp_path / "runs", "--database", postgis_url)
    assert out.returncode == 0, out.stderr
    assert "PostGIS: schema t" in out.stdout
    with psycopg.connect(postgis_url) as conn:
        rows = conn.execute("SELECT scenario, fleet_planned FROM t.batch_summary ORDER BY scenario").fetchall()
        stations = dict(conn.execute("SELECT scenario, sum(vehicles) FROM t.stations GROUP BY scenario").fetchall())
        srid = conn.execute("SELECT DISTINCT ST_SRID(geom) FROM t.districts").fetchall()
    assert rows == [("t-max_vehicles16", 16), ("t-max_vehicles20", 20)]
    gpkg = tmp_path / "runs" / "t" / "t-max_vehicles16" / "results.gpkg"
    assert stations == {"t-max_vehicles16": 16, "t-max_vehicles20": 20}
    assert int(gpd.read_file(gpkg, layer="stations")["vehicles"].sum()) == 16 and srid == [(4326,)]


@pytest.mark.slow
def test_killed_batch_loses_nothing_finished_and_resumes(tmp_path):
    sizes = [14, 16, 18, 20, 22, 24]
    path = write_sweep(tmp_path, {"plans.ambulances.max_vehicles": sizes}, **{"outputs.map": False})
    folder = tmp_path / "runs" / "t"
    cmd = [sys.executable, "-c", "from healthopt.cli import run; run()", "batch", str(path), "-o",
           str(tmp_path / "runs")]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 300
    while time.time() < deadline and not list((folder / ".status").glob("*.json")):
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)  # the other members are queued or mid-run
    proc.wait()
    finished = sorted(p.stem for p in (folder / ".status").glob("*.json"))
    assert finished, "no member finished before the kill"
    assert len(finished) < len(sizes), "the batch finished before the kill: nothing was interrupted"
    # every visible member folder is complete; half-written ones are hidden temporaries
    members = [sub for sub in folder.iterdir() if sub.is_dir() and sub.name.startswith("t-")]
    assert sorted(sub.name for sub in members) == finished
    for sub in members:
        assert (sub / "summary.json").exists() and (sub / "results.gpkg").exists()
    resumed = run_batch(path, tmp_path / "runs")
    assert set(resumed.skipped) == set(finished) and set(resumed.ran).isdisjoint(finished)
    assert [r["status"] for r in resumed.records] == ["ok"] * len(sizes)
    assert not list(folder.glob(".*.partial"))


@pytest.mark.slow
def test_ctrl_c_stops_the_workers_and_leaves_only_finished_scenarios(tmp_path):
    # 12 scenarios with maps: far more than can finish in the moment after the first one does
    path = write_sweep(tmp_path, {"plans.ambulances.max_vehicles": list(range(14, 38, 2))})
    folder = tmp_path / "runs" / "t"
    cmd = [sys.executable, "-c", "from healthopt.cli import run; run()", "batch", str(path), "-o",
           str(tmp_path / "runs"), "--workers", "2"]
    # A shell's background job inherits SIGINT ignored; a terminal's Ctrl-C finds it at its default.
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 300
    while time.time() < deadline and not list((folder / ".status").glob("*.json")):
        time.sleep(0.1)
    os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does: the whole process group
    t0 = time.time()
    _out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130 and time.time() - t0 < 30
    assert "nothing partial was written" in err and "Traceback" not in err
    finished = {p.stem for p in (folder / ".status").glob("*.json")}
    assert {p.name for p in folder.iterdir()} == {".healthopt-run", ".status", *finished}
    assert len(finished) < 12


def _children(pid: int) -> list[int]:
    """Return the pids of the descendants of ``pid`` (from /proc, no psutil needed)."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue
        parents[int(stat.parent.name)] = int(fields[1])
    found, frontier = [], [pid]
    while frontier:
        current = frontier.pop()
        kids = [p for p, ppid in parents.items() if ppid == current]
        found += kids
        frontier += kids
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie has exited; only its entry waits for a reaper


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads the process table from /proc")
def test_workers_exit_when_the_batch_process_is_killed(tmp_path):
    # two members: one chunk per worker, so both are busy when the batch process is killed
    path = write_sweep(tmp_path, {"plans.ambulances.max_vehicles": [14, 16]}, **{"outputs.map": False})
    folder = tmp_path / "runs" / "t"
    cmd = [sys.executable, "-c", "from healthopt.cli import run; run()", "batch", str(path), "-o",
           str(tmp_path / "runs"), "--workers", "2"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 300
    workers: list[int] = []
    # wait until both workers are busy with scenarios (a member folder is being written)
    while time.time() < deadline and not list(folder.glob(".t-*.partial")):
        time.sleep(0.2)
    workers = _children(proc.pid)
    assert len(workers) >= 2, "the workers did not start"
    os.kill(proc.pid, signal.SIGKILL)  # the batch process only: its workers are left to notice
    proc.wait()
    deadline = time.time() + 60  # a busy worker first cancels its solve and removes its temporary folder
    while time.time() < deadline and any(_alive(p) for p in workers):
        time.sleep(0.2)
    assert [p for p in workers if _alive(p)] == []
    # the workers cleaned up their scenarios; the killed batch's own temporaries go with the next run
    assert not list(folder.glob(".t-*.partial"))
    resumed = run_batch(path, tmp_path / "runs", workers=2)
    assert [r["status"] for r in resumed.records] == ["ok"] * 2
    assert not list(folder.glob(".*.partial")) and not list((folder / ".status").glob(".*"))


def test_members_go_to_the_workers_in_consecutive_chunks():
    """Chunks keep the batch order, cover every member once and keep both workers busy to the end."""
    members = list(range(50))
    chunks = batch_runner._chunks(members, 2)
    assert [m for c in chunks for m in c] == members
    # ceil(50 / (2 workers x CHUNKS_PER_WORKER = 8)) = 7 members per chunk: 7 chunks of 7, one of 1
    assert batch_runner.CHUNKS_PER_WORKER == 4
    assert [len(c) for c in chunks] == [7] * 7 + [1]
    assert batch_runner._chunks(members[:3], 2) == [[0], [1], [2]]
