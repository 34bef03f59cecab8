"""Run a batch: shared inputs built once per group, scenarios in parallel, resumable.

Scenarios whose road graph, demand, candidate sites and travel times would be identical
(same :func:`healthopt.pipeline.run.inputs_key`) form a group. Each group's inputs are built once, in
the calling process, with the travel-time matrix at the group's largest response standard,
and then handed to the scenarios: directly (one worker), inherited by worker processes
forked after every group's inputs are built (``workers > 1`` on Linux, from a process with
no other thread and no HiGHS worker threads left by a solve), pickled once per spawned
worker process (elsewhere), or scattered to every worker of a Dask cluster (``scheduler``).
Members go to the workers in chunks, so that sub-second scenarios do not pay a round trip each.

Every finished scenario leaves a record in ``<batch>/.status/<name>.json``, written after
its output folder is complete (both are renamed into place, never half-written). Rerunning
skips the members whose record matches the unchanged scenario, so a batch killed at any
moment loses nothing it had finished. A failing scenario is recorded and the rest go on.

The batch folder carries the marker of :mod:`healthopt._files` (kind ``"batch"``); a batch
writes only into a folder with that marker (or a new or empty one), and its members replace
only member folders the tool wrote. Member names that would land on the batch's own files
(``charts``, ``index.html``, ...) are refused before anything runs.

Worker processes (``workers > 1``) end when the batch process dies, even by ``kill -9``:
the kernel sends them SIGTERM (``PR_SET_PDEATHSIG``, Linux) and, elsewhere, a heartbeat
thread notices the new parent; either way the current scenario cleans up like on Ctrl-C.

Why the pickled inputs are trusted: spawned worker processes receive each group's inputs as a
pickle file (too large to send with every scenario). The file is written by this batch
process into a folder it has just created with :func:`tempfile.mkdtemp` (a new name, mode
0700: nobody else can write into it), and the workers are handed its path together with
the SHA-256 of the bytes written, over the process pool's own pipe. A worker unpickles only
bytes whose hash matches, so what it loads is exactly what this run wrote; no pickle is ever
read from a path a user gave, from the cache or from an earlier run. The folder is removed
when the batch ends, and by the next batch if this one was killed.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import json
import multiprocessing
import os
import pickle
import shutil
import signal
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from healthopt import _routing
from healthopt._files import MARKER, check_replaceable, clean_stale, read_marker, write_atomic, write_marker, writer_tag
from healthopt.batch.sweep import Batch, Member, load_batch
from healthopt.errors import HealthoptError, InfeasiblePlanError, InputError
from healthopt.milp.solve import highs_threads_alive
from healthopt.outputs.offline import check_offline_assets
from healthopt.pipeline.run import Inputs, inputs_key, needs_offline_assets, prepare_inputs, run_prepared, travel_cutoff

#: Outcomes that a rerun keeps; an unexpected ``error`` (a bug, a crash) is retried.
FINAL = ("ok", "infeasible", "input_error")
STATUS_DIR = ".status"
#: Prefix of the private folder holding the pickled inputs of the worker processes.
INPUTS_PREFIX = ".inputs"

#: Names in the batch folder that belong to the batch itself; no member may be called so.
RESERVED_NAMES = frozenset({STATUS_DIR, MARKER, "charts", "index.html", "batch_summary.csv", "batch_summary.gpkg",
                            "batch_timings.csv"})

#: Seconds between two checks of a worker process that its parent is still alive.
HEARTBEAT_S = 1.0

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
    _check_member_names(batch)
    check_offline_assets(needed=any(needs_offline_assets(m.scenario) for m in batch.members))
    folder = (Path(out_dir) / batch.name).resolve()
    open_batch_folder(folder)
    _clean_partial(folder)
    notify = notify or (lambda _event, _record: None)
    todo, skipped = _pending(batch, folder)
    notify("plan", {"todo": len(todo), "skipped": len(skipped), "total": len(batch.members)})
    groups = _groups(todo)
    workers = min(workers, max(1, len(todo)))  # a worker with nothing to do only costs its start-up
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
        raise
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
    todo: list[Member] = []
    skipped: list[Member] = []
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
    """Remove what dead runs left half-written: temporary member folders, inputs and records.

    Only temporaries whose writer process is dead go (:func:`healthopt._files.clean_stale`):
    another batch process, or a Dask worker, may be writing into the same folder right now.
    """
    clean_stale(folder)
    clean_stale(folder / STATUS_DIR)


def open_batch_folder(folder: Path) -> None:
    """Create the batch folder with its marker, or check that an existing one is a batch folder.

    Raises
    ------
    InputError
        If ``folder`` exists and is not a batch folder the tool wrote (nor empty), or cannot
        be created.
    """
    check_replaceable(folder, kind="batch")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if read_marker(folder) is None:
            write_marker(folder, "batch")
    except OSError as exc:
        raise InputError(folder, None, f"cannot create the batch folder: {exc.strerror or exc}") from None


def _check_member_names(batch: Batch) -> None:
    """Refuse member names that would collide with the batch's own files and folders."""
    for member in batch.members:
        if member.name in RESERVED_NAMES or member.name.startswith(INPUTS_PREFIX):
            reserved = ", ".join(sorted(RESERVED_NAMES))
            raise InputError(member.scenario.source or batch.source, "name",
                             f"scenario name '{member.name}' is reserved for the batch's own files ({reserved}): "
                             "rename the scenario")


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

#: Set while a worker process runs a scenario (a signal then unwinds it instead of exiting at once).
_BUSY = threading.Event()
#: Set once a signal has started unwinding the scenario: later signals must not cut its clean-up short.
_STOPPING = threading.Event()

_PR_SET_PDEATHSIG = 1


class ParentGone(KeyboardInterrupt):
    """Raised in a worker process whose batch process died: unwinds the scenario like Ctrl-C."""


def _worker_init(parent: int) -> None:
    """Worker-process initializer: end this process when the batch process ``parent`` dies.

    The kernel sends SIGTERM on the parent's death where it can (``prctl(PR_SET_PDEATHSIG)``,
    Linux); a heartbeat thread that watches ``os.getppid()`` covers the rest. SIGTERM and
    SIGINT end an idle worker at once and unwind a busy one like Ctrl-C (the solver is
    cancelled and the temporary member folder removed); a signal during that clean-up (the
    pool terminates the other workers when one exits) is ignored so that it completes.
    """
    signal.signal(signal.SIGTERM, _on_signal)
    if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:
        signal.signal(signal.SIGINT, _on_signal)
    with contextlib.suppress(OSError, AttributeError):  # not Linux: the heartbeat alone
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    threading.Thread(target=_heartbeat, args=(parent,), name="healthopt-heartbeat", daemon=True).start()
    if os.getppid() != parent:  # died before prctl took effect
        os._exit(143)
    _warm_imports()


def _warm_imports() -> None:
    """Import what every scenario needs (plans, solver, writers) once per process.

    A forked pool imports them in the batch process before forking (the workers inherit
    them); a spawned pool's workers start (:func:`_start_workers`) while the batch process
    builds the group's inputs, so these seconds overlap that work.
    """
    import highspy  # noqa: F401
    import pyogrio  # noqa: F401

    import healthopt.outputs.tables
    import healthopt.plans.registry  # noqa: F401


def _started() -> int:
    """Return this worker's process id (a warm-up task: it makes the pool start a worker now)."""
    return os.getpid()


def _start_workers(pool: ProcessPoolExecutor, workers: int) -> None:
    """Start every worker of ``pool`` at once (the pool starts them one per waiting task)."""
    for _ in range(workers):
        pool.submit(_started)


def _heartbeat(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(HEARTBEAT_S)
    os.kill(os.getpid(), signal.SIGTERM)  # handled in the main thread, where the scenario runs


def _on_signal(signum: int, _frame: Any) -> None:
    if _STOPPING.is_set():
        return  # already unwinding: let the clean-up finish
    if not _BUSY.is_set():
        os._exit(128 + signum)
    _STOPPING.set()
    if signum == signal.SIGINT:
        raise KeyboardInterrupt
    raise ParentGone("the batch process ended")


def _load_inputs(path: str, sha256: str) -> Inputs:
    """Unpickle the inputs the batch process wrote, after checking they are the very bytes it wrote.

    The file holds the inputs and the road graph's derived arrays (node index, CSR matrix,
    KD-tree) that the batch process built with them; they are put back into the routing
    memo so that no worker rebuilds them.
    """
    with open(path, "rb") as fh:
        data = fh.read()
    if hashlib.sha256(data).hexdigest() != sha256:
        raise RuntimeError(f"{path}: shared inputs changed after the batch wrote them; refusing to load them")
    inputs, derived = pickle.loads(data)  # trusted: see the module docstring
    if derived is not None:
        _routing._DERIVED[inputs.graph] = derived
    return inputs


def _run_from_file(members: list[Member], shared: tuple[str, str] | None, folder: Path) -> list[dict[str, Any]]:
    """Worker-process side of a spawned pool: load the group's pickled inputs once per process, run a chunk."""

    def inputs() -> Inputs | None:
        if shared is None:
            return None
        if shared[0] not in _WORKER_INPUTS:
            _WORKER_INPUTS.clear()  # one group at a time is enough; keeps worker memory flat
            _WORKER_INPUTS[shared[0]] = _load_inputs(*shared)
        return _WORKER_INPUTS[shared[0]]

    return _run_chunk(members, inputs, folder)


def _run_chunk(members: list[Member], inputs: Callable[[], Inputs | None], folder: Path) -> list[dict[str, Any]]:
    """Run a chunk of members in a worker process; a signal ends the process once the scenario cleaned up."""
    _BUSY.set()
    try:
        shared = inputs()
        return [run_member(member, shared, folder) for member in members]
    except ParentGone:
        os._exit(143)  # the current scenario has cleaned up after itself; nobody waits for the rest
    except KeyboardInterrupt:
        # Ctrl-C reaches the workers too; the current scenario has cleaned up after itself. Exit
        # instead of going on with the scenarios already queued to this worker.
        os._exit(130)
    finally:
        _BUSY.clear()


def _run_pool(groups: dict[str, list[Member]], folder: Path, workers: int,
              notify: Notify) -> Iterator[dict[str, Any]]:
    if _can_fork():
        yield from _run_pool_forked(groups, folder, workers, notify)
    else:
        yield from _run_pool_spawned(groups, folder, workers, notify)


def _can_fork() -> bool:
    """Return whether worker processes can be forked from this process safely.

    Forking hands every worker the built inputs, the warm imports and the routing memos for
    free, but only a single-threaded process forks cleanly: HiGHS keeps its worker threads
    after a multi-threaded solve (a forked child would wait on threads it does not have),
    and any other live thread may hold a lock the child inherits locked. The ``healthopt
    batch`` command's process never solves; one that has (a notebook, a test session) with
    more than one solver thread gets spawned workers.
    """
    if sys.platform != "linux" or highs_threads_alive() or threading.active_count() > 1:
        return False
    return "fork" in multiprocessing.get_all_start_methods()


#: The groups' inputs of a forked pool, by group key: built in the batch process before the
#: workers fork, so that every worker inherits them (copy-on-write) instead of loading them.
_FORKED: dict[str, Inputs | None] = {}


def _run_pool_forked(groups: dict[str, list[Member]], folder: Path, workers: int,
                     notify: Notify) -> Iterator[dict[str, Any]]:
    """Build every group's inputs here, then fork the workers: nothing is pickled or re-imported."""
    try:
        for key, members in groups.items():
            notify("inputs", {"key": key, "members": len(members)})
            inputs = _FORKED[key] = _prepare(members)
            if inputs is not None:
                _routing.node_tree(inputs.graph)  # the routing memo the workers inherit
        _warm_imports()
        # The pool forks all its workers when the first task is submitted, before it starts its
        # own manager thread, so they are forks of this single-threaded process.
        with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("fork"), initializer=_worker_init,
                                 initargs=(os.getpid(),)) as pool:
            futures = [pool.submit(_run_forked, chunk, key, folder)
                       for key, members in groups.items() for chunk in _chunks(members, workers)]
            yield from _collect(pool, futures)
    finally:
        _FORKED.clear()


def _run_forked(members: list[Member], key: str, folder: Path) -> list[dict[str, Any]]:
    """Worker-process side of a forked pool: run a chunk of members on the inherited inputs."""
    return _run_chunk(members, lambda: _FORKED.get(key), folder)


def _run_pool_spawned(groups: dict[str, list[Member]], folder: Path, workers: int,
                      notify: Notify) -> Iterator[dict[str, Any]]:
    shared_dir = _private_folder(folder)
    try:
        with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn"), initializer=_worker_init,
                                 initargs=(os.getpid(),)) as pool:
            _start_workers(pool, workers)  # they import the stack while the inputs are built here
            futures = []
            for key, members in groups.items():
                notify("inputs", {"key": key, "members": len(members)})
                shared = _pickle_inputs(_prepare(members), shared_dir, key)
                futures += [pool.submit(_run_from_file, chunk, shared, folder) for chunk in _chunks(members, workers)]
            yield from _collect(pool, futures)
    finally:
        shutil.rmtree(shared_dir, ignore_errors=True)


def _collect(pool: ProcessPoolExecutor, futures: list[Any]) -> Iterator[dict[str, Any]]:
    """Yield the records of ``futures`` as they finish; on any error stop the pool's queued work."""
    try:
        for fut in as_completed(futures):
            yield from fut.result()
    except BrokenProcessPool:
        pool.shutdown(wait=False, cancel_futures=True)
        raise RuntimeError("a worker process stopped (killed, out of memory or interrupted); finished "
                           "scenarios are kept: rerun the batch to resume") from None
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        raise


#: Tasks per worker and group: members are sent in chunks (fewer round trips for sub-second
#: scenarios) but small enough that both workers stay busy to the end.
CHUNKS_PER_WORKER = 4


def _chunks(members: list[Member], workers: int) -> list[list[Member]]:
    """Split ``members`` into consecutive chunks, about :data:`CHUNKS_PER_WORKER` per worker."""
    size = max(1, -(-len(members) // (workers * CHUNKS_PER_WORKER)))
    return [members[k:k + size] for k in range(0, len(members), size)]


def _private_folder(folder: Path) -> Path:
    """Create this run's private folder for the pickled inputs (new, mode 0700, with the marker).

    Named like a temporary run folder, so a later batch removes it if this one is killed.
    """
    private = Path(tempfile.mkdtemp(prefix=f"{INPUTS_PREFIX}.{writer_tag()}.", suffix=".partial", dir=folder))
    write_marker(private, "inputs")
    return private


def _pickle_inputs(inputs: Inputs | None, private: Path, key: str) -> tuple[str, str] | None:
    """Pickle ``inputs`` into this run's private folder; return the path and the SHA-256 of its bytes."""
    if inputs is None:
        return None
    _routing.node_tree(inputs.graph)  # build the derived arrays once, here, for every worker
    derived = _routing._DERIVED.get(inputs.graph)
    data = pickle.dumps((inputs, derived), protocol=pickle.HIGHEST_PROTOCOL)
    path = write_atomic(private / f"{key}.pkl", lambda p: p.write_bytes(data))
    return str(path), hashlib.sha256(data).hexdigest()


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

