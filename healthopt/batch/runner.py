"""Run a batch: shared inputs built once per group, scenarios in parallel, resumable.

Scenarios whose road graph, demand, candidate sites and travel times would be identical
(same :func:`healthopt.pipeline.run.inputs_key`) form a group. Each group's inputs are built once, in
the calling process, with the travel-time matrix at the group's largest response standard,
and then handed to the scenarios: directly (one worker), pickled once per worker process
(``workers > 1``), or scattered to every worker of a Dask cluster (``scheduler``).

Every finished scenario leaves a record in ``<batch>/.status/<name>.json``, written after
its output folder is complete (both are renamed into place, never half-written). Rerunning
skips the members whose record matches the unchanged scenario, so a batch killed at any
moment loses nothing it had finished. A failing scenario is recorded and the rest go on.
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
import time
import traceback
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from healthopt._files import write_atomic, write_pickle
from healthopt.batch.sweep import Batch, Member, load_batch
from healthopt.errors import HealthoptError, InfeasiblePlanError, InputError
from healthopt.pipeline.run import Inputs, inputs_key, prepare_inputs, run_prepared, travel_cutoff

#: Outcomes that a rerun keeps; an unexpected ``error`` (a bug, a crash) is retried.
FINAL = ("ok", "infeasible", "input_error")
STATUS_DIR = ".status"
INPUTS_DIR = ".inputs"

Notify = Callable[[str, dict[str, Any] | None], None]


@dataclass
class BatchRun:
    """What a batch run did: its folder, one record per member, and what it skipped."""

    batch: Batch
    folder: Path
    records: list[dict[str, Any]]
    skipped: list[str]
    ran: list[str]

    @property
    def failed(self) -> list[dict[str, Any]]:
        """Return the records of members that did not produce a plan."""
        return [r for r in self.records if r["status"] != "ok"]


def run_batch(
    path: str | Path,
    out_dir: str | Path = "runs",
    *,
    workers: int = 1,
    scheduler: str | None = None,
    notify: Notify | None = None,
    share_inputs: bool = True,
) -> BatchRun:
    """Run every member of a batch that has not finished yet.

    Parameters
    ----------
    path : str or Path
        Folder of scenario files or sweep file (:func:`healthopt.batch.sweep.load_batch`).
    out_dir : str or Path
        Parent of the batch folder ``<out_dir>/<batch name>``.
    workers : int
        Local worker processes (1: in this process).
    scheduler : str, optional
        Address of a Dask distributed scheduler (``tcp://host:8786``); the batch folder
        must be on a file system the workers share.
    notify : callable, optional
        ``notify(event, record)`` with events ``"plan"`` (record: ``{"todo", "skipped"}``),
        ``"inputs"`` (record: ``{"key", "members"}``) and ``"done"`` (the member's record).
    share_inputs : bool
        Build the inputs once per group (default). ``False`` rebuilds them for every
        scenario (in this process only; the benchmark's baseline).

    Returns
    -------
    BatchRun
    """
    batch = load_batch(path)
    if workers < 1:
        raise InputError(None, "workers", f"must be at least 1, got {workers}")
    folder = (Path(out_dir) / batch.name).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    _clean_partial(folder)
    notify = notify or (lambda _event, _record: None)
    todo, skipped = _pending(batch, folder)
    notify("plan", {"todo": len(todo), "skipped": len(skipped), "total": len(batch.members)})
    groups = _groups(todo)
    if scheduler:
        records = _run_dask(groups, folder, scheduler, notify)
    elif workers == 1:
        records = _run_here(groups, folder, notify, share_inputs)
    else:
        records = _run_pool(groups, folder, workers, notify)
    try:
        for record in records:
            notify("done", record)
    except BaseException:
        if not scheduler:  # local workers have stopped by now; Dask workers may still be writing
            _clean_partial(folder)
            shutil.rmtree(folder / INPUTS_DIR, ignore_errors=True)
        raise
    shutil.rmtree(folder / INPUTS_DIR, ignore_errors=True)
    return BatchRun(batch, folder, [read_record(folder, m.name) or {} for m in batch.members],
                    [m.name for m in skipped], [m.name for m in todo])


# --- what is left to do -------------------------------------------------------------------


def read_record(folder: Path, name: str) -> dict[str, Any] | None:
    """Return the status record of member ``name`` (``None`` if it has not finished)."""
    path = folder / STATUS_DIR / f"{name}.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _pending(batch: Batch, folder: Path) -> tuple[list[Member], list[Member]]:
    todo, skipped = [], []
    for member in batch.members:
        record = read_record(folder, member.name)
        finished = (record is not None and record.get("digest") == member.digest and record["status"] in FINAL
                    and (record["status"] != "ok" or (folder / member.name / "summary.json").exists()))
        (skipped if finished else todo).append(member)
    return todo, skipped


def _groups(members: list[Member]) -> dict[str, list[Member]]:
    groups: dict[str, list[Member]] = {}
    for member in members:
        groups.setdefault(inputs_key(member.scenario), []).append(member)
    return groups


def _cutoff(members: list[Member]) -> float:
    return max(travel_cutoff(m.scenario) for m in members)


def _clean_partial(folder: Path) -> None:
    """Remove what a killed run left half-written (temporary output folders and records)."""
    for leftover in folder.glob(".*.partial"):
        shutil.rmtree(leftover, ignore_errors=True)
    for leftover in (folder / STATUS_DIR).glob(".*.tmp*"):
        leftover.unlink(missing_ok=True)


# --- one member ---------------------------------------------------------------------------


def run_member(member: Member, inputs: Inputs | None, folder: Path) -> dict[str, Any]:
    """Run one member on shared inputs, write its record and return it; never raises on a plan failure.

    ``inputs`` is ``None`` when building them failed for the whole group; the member then
    builds its own, so that the error is reported against it.
    """
    t0 = time.perf_counter()
    record: dict[str, Any] = {"name": member.name, "digest": member.digest, "params": member.params}
    try:
        inputs = inputs if inputs is not None else prepare_inputs(member.scenario)
        result = run_prepared(member.scenario, inputs, folder / member.name)
        record.update(status="ok", message=result.summary["status"], summary=result.summary)
    except InfeasiblePlanError as exc:
        record.update(status="infeasible", message=str(exc))
    except HealthoptError as exc:
        record.update(status="input_error", message=str(exc))
    except Exception as exc:  # one scenario's bug must not stop the batch; the trace is kept
        record.update(status="error", message=f"{type(exc).__name__}: {exc}", trace=traceback.format_exc())
    record["seconds"] = round(time.perf_counter() - t0, 2)
    _write_record(folder, record)
    return record


def _write_record(folder: Path, record: dict[str, Any]) -> None:
    text = json.dumps(record, ensure_ascii=False, indent=1, sort_keys=True, default=str)
    write_atomic(folder / STATUS_DIR / f"{record['name']}.json", lambda p: p.write_text(text, encoding="utf-8"))


def _prepare(members: list[Member]) -> Inputs | None:
    try:
        return prepare_inputs(members[0].scenario, cutoff=_cutoff(members))
    except HealthoptError:
        return None  # each member then reports the error itself


# --- three ways to run --------------------------------------------------------------------


def _run_here(groups: dict[str, list[Member]], folder: Path, notify: Notify,
              share: bool = True) -> Iterator[dict[str, Any]]:
    for key, members in groups.items():
        notify("inputs", {"key": key, "members": len(members)})
        inputs = _prepare(members) if share else None
        for member in members:
            yield run_member(member, inputs, folder)


_WORKER_INPUTS: dict[str, Inputs | None] = {}


def _run_from_file(member: Member, inputs_path: str | None, folder: Path) -> dict[str, Any]:
    """Worker-process side: load the group's pickled inputs once per process, then run."""
    try:
        if inputs_path is not None and inputs_path not in _WORKER_INPUTS:
            _WORKER_INPUTS.clear()  # one group at a time is enough; keeps worker memory flat
            with open(inputs_path, "rb") as fh:
                _WORKER_INPUTS[inputs_path] = pickle.load(fh)
        return run_member(member, _WORKER_INPUTS.get(inputs_path) if inputs_path else None, folder)
    except KeyboardInterrupt:
        # Ctrl-C reaches the workers too; the current scenario has cleaned up after itself. Exit
        # instead of going on with the scenarios already queued to this worker.
        os._exit(130)


def _run_pool(groups: dict[str, list[Member]], folder: Path, workers: int,
              notify: Notify) -> Iterator[dict[str, Any]]:
    # spawn, not fork: the parent may hold solver threads and GDAL state
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
        futures = []
        try:
            for key, members in groups.items():
                notify("inputs", {"key": key, "members": len(members)})
                inputs_path = _pickle_inputs(_prepare(members), folder, key)
                futures += [pool.submit(_run_from_file, m, inputs_path, folder) for m in members]
            for fut in as_completed(futures):
                yield fut.result()
        except BrokenProcessPool:
            raise RuntimeError("a worker process stopped (killed, out of memory or interrupted); finished "
                               "scenarios are kept: rerun the batch to resume") from None
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise


def _pickle_inputs(inputs: Inputs | None, folder: Path, key: str) -> str | None:
    return None if inputs is None else str(write_pickle(folder / INPUTS_DIR / f"{key}.pkl", inputs))


def _run_dask(groups: dict[str, list[Member]], folder: Path, address: str,
              notify: Notify) -> Iterator[dict[str, Any]]:
    try:
        from dask.distributed import Client
        from dask.distributed import as_completed as dask_completed
    except ImportError:  # pragma: no cover - depends on the installed extras
        raise InputError(None, "scheduler", "Dask is not installed: pip install 'healthopt[batch]'") from None
    try:
        client = Client(address, timeout=20)
    except OSError as exc:
        raise InputError(None, "scheduler", f"cannot reach the Dask scheduler at {address}: {exc}") from None
    with client:
        futures = []
        for key, members in groups.items():
            notify("inputs", {"key": key, "members": len(members)})
            inputs = _prepare(members)
            # every worker gets one copy of the group's inputs, not one per scenario
            shared = client.scatter(inputs, broadcast=True) if inputs is not None else None
            futures += [client.submit(run_member, m, shared, folder, key=f"healthopt-{m.name}-{m.digest[:8]}",
                                      pure=False) for m in members]
        for fut in dask_completed(futures):
            yield fut.result()

