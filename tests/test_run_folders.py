"""Run folders: the marker, refusing folders not ours, atomic swaps under concurrency, stale temporaries."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from healthopt import _files
from healthopt._files import MARKER, atomic_folder, clean_stale, read_marker, writer_tag
from healthopt.errors import InputError


def write_run(final: Path, text: str = "new", kind: str = "run") -> None:
    with atomic_folder(final, kind=kind) as tmp:
        (tmp / "summary.json").write_text(text)


def partials(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if p.name.endswith(".partial"))


# --------------------------------------------------------------------------- markers


def test_run_folder_carries_a_marker_naming_tool_kind_and_name(tmp_path):
    write_run(tmp_path / "important")
    record = json.loads((tmp_path / "important" / MARKER).read_text())
    assert record == {"tool": "healthopt", "version": record["version"], "kind": "run", "name": "important"}
    assert read_marker(tmp_path / "important") == record
    assert partials(tmp_path) == []


def test_folder_without_marker_is_never_replaced(tmp_path):
    mine = tmp_path / "important"
    mine.mkdir()
    (mine / "thesis.docx").write_text("years of work")
    with pytest.raises(InputError, match=r"important: exists and was not written by healthopt") as exc:
        write_run(mine)
    assert "\n" not in str(exc.value)
    assert (mine / "thesis.docx").read_text() == "years of work" and sorted(os.listdir(mine)) == ["thesis.docx"]
    assert partials(tmp_path) == []


def test_folder_replaced_by_a_concurrent_stranger_is_not_deleted(tmp_path):
    final = tmp_path / "important"
    with pytest.raises(InputError, match="not written by healthopt"), atomic_folder(final) as tmp:
        (tmp / "summary.json").write_text("new")
        final.mkdir()  # someone else's folder appears while the run is busy
        (final / "notes.txt").write_text("mine")
    assert (final / "notes.txt").read_text() == "mine" and partials(tmp_path) == []


@pytest.mark.parametrize("kind", ["batch", "compare"])
def test_folder_of_another_kind_is_not_replaced(tmp_path, kind):
    write_run(tmp_path / "x", "old", kind=kind)
    with pytest.raises(InputError, match=f"is a healthopt {kind} folder, not a run folder"):
        write_run(tmp_path / "x")
    assert (tmp_path / "x" / "summary.json").read_text() == "old"


def test_forged_or_oversized_marker_does_not_count(tmp_path):
    folder = tmp_path / "x"
    folder.mkdir()
    (folder / "data.csv").write_text("a,b")
    (folder / MARKER).write_text(json.dumps({"tool": "other", "kind": "run"}))
    with pytest.raises(InputError, match="not written by healthopt"):
        write_run(folder)
    (folder / MARKER).write_text(json.dumps({"tool": "healthopt", "kind": "run", "pad": "x" * 5000}))
    with pytest.raises(InputError, match="not written by healthopt"):
        write_run(folder)
    assert (folder / "data.csv").exists()


def test_file_and_symlink_in_the_way_are_refused(tmp_path):
    (tmp_path / "f").write_text("a file")
    with pytest.raises(InputError, match="f: exists and is not a folder healthopt wrote"):
        write_run(tmp_path / "f")
    write_run(tmp_path / "target")
    (tmp_path / "link").symlink_to(tmp_path / "target")
    with pytest.raises(InputError, match="link: exists and is not a folder"):
        write_run(tmp_path / "link")
    assert (tmp_path / "f").read_text() == "a file" and (tmp_path / "link").is_symlink()


def test_own_folder_and_empty_folder_are_replaced(tmp_path):
    write_run(tmp_path / "x", "old")
    (tmp_path / "x" / "stale.txt").write_text("from the old run")
    write_run(tmp_path / "x", "new")
    assert sorted(os.listdir(tmp_path / "x")) == [MARKER, "summary.json"]
    assert (tmp_path / "x" / "summary.json").read_text() == "new"
    (tmp_path / "empty").mkdir()
    write_run(tmp_path / "empty")
    assert (tmp_path / "empty" / "summary.json").read_text() == "new"
    assert partials(tmp_path) == []


def test_output_parent_that_is_a_file_is_an_input_error(tmp_path):
    (tmp_path / "out").write_text("a file")
    with pytest.raises(InputError, match="out: cannot create the output folder"):
        write_run(tmp_path / "out" / "x")


def test_failed_run_removes_its_temporary_and_keeps_the_old_folder(tmp_path):
    write_run(tmp_path / "x", "old")
    with pytest.raises(RuntimeError), atomic_folder(tmp_path / "x") as tmp:
        (tmp / "summary.json").write_text("half")
        raise RuntimeError("solver crashed")
    assert (tmp_path / "x" / "summary.json").read_text() == "old" and partials(tmp_path) == []


# --------------------------------------------------------------------------- concurrency


def _swapper(final: str, writer: int, swaps: int, failures) -> None:
    for i in range(swaps):
        try:
            with atomic_folder(Path(final)) as tmp:
                (tmp / "summary.json").write_text(f"{writer}-{i}")
                (tmp / "results.gpkg").write_text("x")
        except Exception as exc:  # counted, not raised: the test wants every failure
            failures.put(f"{type(exc).__name__}: {exc}")


def _watch(final: Path, stop: threading.Event, seen: list[str], checks: list[int]) -> None:
    # Each check resolves ``final`` afresh, as a reader opening files by path does. (A reader that
    # holds the old folder open, e.g. listing it, watches it being emptied once it is swapped out.)
    while not stop.is_set():
        checks[0] += 1
        try:
            if not final.is_dir():
                seen.append("missing")
                continue
            text = (final / "summary.json").read_text()
            (final / MARKER).read_text()
        except OSError as exc:
            seen.append(f"{type(exc).__name__}: {exc}")
            continue
        if "-" not in text:
            seen.append(f"incomplete: {text!r}")


def test_concurrent_swaps_never_fail_and_readers_always_see_a_complete_folder(tmp_path):
    final = tmp_path / "x"
    write_run(final, "0-0")
    (final / "results.gpkg").write_text("x")
    ctx = multiprocessing.get_context("fork")
    failures = ctx.Queue()
    stop, seen, checks = threading.Event(), [], [0]
    reader = threading.Thread(target=_watch, args=(final, stop, seen, checks))
    reader.start()
    procs = [ctx.Process(target=_swapper, args=(str(final), w, 50, failures)) for w in range(8)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=300)
    stop.set()
    reader.join()
    errors = []
    while not failures.empty():
        errors.append(failures.get())
    assert [p.exitcode for p in procs] == [0] * 8
    assert errors == [], errors[:3]  # 8 x 50 = 400 swaps, none failed
    assert seen == [], seen[:3]  # the folder was never missing or half there
    assert checks[0] > 100  # the reader really watched the swaps
    assert partials(tmp_path) == [] and sorted(os.listdir(tmp_path)) == ["x"]


def test_rename_fallback_never_fails_under_concurrency(tmp_path, monkeypatch):
    monkeypatch.setattr(_files, "_RENAMEAT2", None)  # a system without RENAME_EXCHANGE
    final = tmp_path / "x"
    failures: list[str] = []
    queue = type("Q", (), {"put": staticmethod(failures.append)})
    threads = [threading.Thread(target=_swapper, args=(str(final), w, 50, queue)) for w in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    assert (final / "summary.json").read_text().endswith("-49") and partials(tmp_path) == []


def test_exchange_swaps_two_folders(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "1").write_text("a")
    (tmp_path / "b").mkdir()
    if not _files.exchange(tmp_path / "a", tmp_path / "b"):
        pytest.skip("no renameat2(RENAME_EXCHANGE) here")
    assert os.listdir(tmp_path / "b") == ["1"] and os.listdir(tmp_path / "a") == []


# --------------------------------------------------------------------------- stale temporaries

HOLD = """
import sys, time
from pathlib import Path
from healthopt._files import atomic_folder
with atomic_folder(Path(sys.argv[1])) as tmp:
    (tmp / "summary.json").write_text("half")
    print(tmp.name, flush=True)
    time.sleep(600)
"""


def hold_partial(final: Path) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(final)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    return proc, proc.stdout.readline().strip()


def test_partial_of_a_killed_run_is_removed_by_the_next_run(tmp_path):
    proc, name = hold_partial(tmp_path / "a")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert partials(tmp_path) == [name]  # kill -9 skips every clean-up
    write_run(tmp_path / "b")
    assert partials(tmp_path) == []
    assert sorted(os.listdir(tmp_path)) == ["b"]


def test_partial_of_a_live_run_is_kept(tmp_path):
    proc, name = hold_partial(tmp_path / "a")
    try:
        write_run(tmp_path / "b")
        assert partials(tmp_path) == [name]
    finally:
        proc.kill()
        proc.wait()


def test_only_our_dead_temporaries_are_removed(tmp_path):
    host, pid, start = writer_tag().split("-")
    dead = 2**22 + 12345  # above the default pid_max: no such process
    made = {
        "no_marker": f".x.{host}-{dead}-1.abc.partial",  # named like ours, but no marker
        "other_host": f".y.{'0' * 8 if host != '0' * 8 else '1' * 8}-{dead}-1.abc.partial",
        "live": f".z.{host}-{pid}-{start}.abc.partial",  # this very process
        "reused_pid": f".w.{host}-{pid}-{int(start) + 1}.abc.partial",  # our pid, another start: dead writer
        "dead": f".v.{host}-{dead}-1.abc.partial",
    }
    for key, name in made.items():
        (tmp_path / name).mkdir()
        (tmp_path / name / "summary.json").write_text("half")
        if key != "no_marker":
            (tmp_path / name / MARKER).write_text(json.dumps({"tool": "healthopt", "kind": "run", "name": key}))
    record = tmp_path / f".w.json.{host}-{dead}-1-abcd1234.tmp.json"
    record.write_text("{")
    removed = {p.name for p in clean_stale(tmp_path)}
    assert removed == {made["reused_pid"], made["dead"], record.name}
    assert {p.name for p in tmp_path.iterdir()} == {made["no_marker"], made["other_host"], made["live"]}


def test_write_atomic_temporaries_name_their_writer(tmp_path):
    seen = []
    _files.write_atomic(tmp_path / "r.json", lambda p: seen.append(p.name) or p.write_text("{}"))
    assert seen[0].startswith(f".r.json.{writer_tag()}-")


def test_writer_alive_checks_pid_and_start_time():
    host, pid, start = writer_tag().split("-")
    assert _files.writer_alive(host, int(pid), int(start))
    assert not _files.writer_alive(host, 2**22 + 12345, 1)
    if int(start):
        assert not _files.writer_alive(host, int(pid), int(start) + 1)
    assert _files.writer_alive("0" * 8 if host != "0" * 8 else "1" * 8, 2**22 + 12345, 1)


# --------------------------------------------------------------------------- the CLI

SMALL = """\
name: important
area: {districts: [140106], urban: [140106]}
solver: {time_limit_s: 15}
outputs: {map: false, report: false}
"""


@pytest.mark.slow
def test_cli_run_refuses_an_unrelated_folder_with_exit_2(tmp_path):
    scenario = tmp_path / "s.yaml"
    scenario.write_text(SMALL)
    mine = tmp_path / "X" / "important"
    mine.mkdir(parents=True)
    (mine / "data.xlsx").write_text("planner's own file")
    out = subprocess.run([sys.executable, "-c", "from healthopt.cli import run; run()", "run", str(scenario), "-o",
                          str(tmp_path / "X")], capture_output=True, text=True, timeout=600)
    assert out.returncode == 2, out.stderr
    lines = [ln for ln in out.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and str(mine) in lines[0] and "not written by healthopt" in lines[0], lines
    assert sorted(os.listdir(mine)) == ["data.xlsx"] and sorted(os.listdir(tmp_path / "X")) == ["important"]
