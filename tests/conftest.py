"""Shared fixtures and how the suite is spread over processes.

Fixtures
--------
``baseline_run``
    The shipped baseline (all 10 units) run once per test process with a 15 s solver limit;
    ``tests/test_run.py`` and the baseline case of ``tests/test_scenarios_e2e.py`` read it.
    Every test in its xdist group is marked ``slow`` here.
``scenario_file``
    Write a scenario built through the scenario API (``with_overrides``) to a YAML file, for
    tests that drive the ``healthopt`` command (tests/fixtures/scenario_files.py; module-scoped
    fixtures call its ``write_variant`` directly). No test edits scenario text.
``postgis_server`` / ``postgis_url``
    A real, throwaway PostgreSQL + PostGIS server (tests/pg.py).

Processes
---------
``make test`` runs ``pytest -n 2 --dist loadgroup --no-loadscope-reorder`` (pytest-xdist).
:func:`pytest_collection_modifyitems` puts every test into an ``xdist_group`` (:func:`_group`):
the group a test states itself; the shared session fixture it uses (``baseline_run``,
``postgis_server``); its module when it uses a module-scoped fixture of its module (built
once); or else a group of its own. Groups holding a ``slow`` test are sent to the workers
first, the longest (:data:`LONGEST_FIRST`, measured) leading, so the two workers finish
together. Each session gets its own throwaway ``HEALTHOPT_CACHE`` (made by the first pytest
process; xdist workers and the CLI subprocesses tests start inherit it, and its writes are
atomic), so no test reads a cache an earlier session or the developer's runs left behind.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
BASELINE = ROOT / "scenarios" / "taiyuan_2025_baseline.yaml"
#: Solver limit of the shared full-baseline run (per model; the run stops with a feasible plan).
BASELINE_TIME_LIMIT_S = 15.0
CACHE_ENV = "HEALTHOPT_CACHE"
#: The groups that take longest on 2 cores (``--durations``), started first in this order; the
#: other groups holding a ``slow`` test follow, then the rest.
LONGEST_FIRST = (
    "notebook-01_quickstart",
    "baseline_run",
    "tests/test_batch.py::test_forked_spawned_and_dask_runs_agree_and_rerun_skips_finished",
    "notebook-02_sweep_analysis",
    "tests/test_batch.py::test_killed_batch_loses_nothing_finished_and_resumes",
    "tests/test_batch.py::test_workers_exit_when_the_batch_process_is_killed",
    "tests/test_reproducible.py",
    "tests/test_batch.py::test_inputs_are_built_once_per_group",
    "tests/test_batch.py::test_ctrl_c_stops_the_workers_and_leaves_only_finished_scenarios",
    "notebook-03_bring_your_own_data",
)

#: Set by the first pytest process of a session (xdist workers inherit it): a folder of its own.
SESSION_ENV = "HEALTHOPT_TEST_SESSION"
GROUPS_FILE = "xdist-groups.json"
#: Session fixtures of this file that are expensive: every test using one runs in its group.
SHARED_FIXTURES = ("baseline_run", "postgis_server")

_own_session: Path | None = None


def pytest_configure(config: pytest.Config) -> None:
    """Make the session folder and point ``HEALTHOPT_CACHE`` into it (before healthopt is imported)."""
    global _own_session
    if SESSION_ENV in os.environ:
        return  # an xdist worker: the controller made them
    _own_session = Path(tempfile.mkdtemp(prefix="healthopt-tests-"))
    os.environ[SESSION_ENV] = str(_own_session)
    if CACHE_ENV not in os.environ:  # else the developer chose a cache
        os.environ[CACHE_ENV] = str(_own_session / "cache")


def pytest_unconfigure(config: pytest.Config) -> None:
    """Remove the session folder this process made (only that one)."""
    global _own_session
    if _own_session is not None:
        shutil.rmtree(_own_session, ignore_errors=True)
        if os.environ.get(CACHE_ENV) == str(_own_session / "cache"):
            del os.environ[CACHE_ENV]
        os.environ.pop(SESSION_ENV, None)
        _own_session = None


def _group(item: pytest.Item) -> str:
    """Return the xdist group of ``item``.

    Its own ``xdist_group`` mark; else the first of :data:`SHARED_FIXTURES` it uses; else its
    module when it uses a fixture of wider than function scope defined in its module (so that
    fixture is built once); else the test alone, so the tests of a module without shared
    fixtures (e.g. one batch run each) spread over both workers.
    """
    mark = item.get_closest_marker("xdist_group")
    if mark is not None:
        return str(mark.args[0] if mark.args else mark.kwargs.get("name", "default"))
    names = getattr(item, "fixturenames", ())
    for name in SHARED_FIXTURES:
        if name in names:
            return name
    module = item.nodeid.split("::", 1)[0]
    info = getattr(item, "_fixtureinfo", None)
    for defs in (info.name2fixturedefs.values() if info else ()):
        if any(d.scope != "function" and getattr(d, "baseid", "").startswith(module) for d in defs):
            return module
    return item.nodeid


_GROUPS = pytest.StashKey[str]()


@pytest.hookimpl(wrapper=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> Iterator[None]:
    """Group the tests; start slow groups first; in an xdist worker, hand the groups to the scheduler.

    Before the other hooks (so ``-m "not slow"`` sees it) the tests of the ``baseline_run``
    group are marked ``slow``; after them (pytest's fixture ordering included) the order is
    set, before the worker reports its collection.
    """
    for item in items:
        item.stash[_GROUPS] = group = _group(item)
        if group == "baseline_run" and item.get_closest_marker("slow") is None:
            item.add_marker(pytest.mark.slow)  # the full baseline run takes a minute
    yield
    slow = {item.stash[_GROUPS] for item in items if item.get_closest_marker("slow")}

    def rank(item: pytest.Item) -> tuple[int, int]:
        group = item.stash[_GROUPS]
        if group in LONGEST_FIRST:
            return 0, LONGEST_FIRST.index(group)
        return (1, 0) if group in slow else (2, 0)

    items.sort(key=rank)  # stable: the order inside a group (pytest's fixture order) is kept
    folder, worker = os.environ.get(SESSION_ENV), os.environ.get("PYTEST_XDIST_WORKER")
    if folder and worker:
        groups = {item.nodeid: item.stash[_GROUPS] for item in items}
        tmp = Path(folder) / f".{GROUPS_FILE}.{worker}"
        tmp.write_text(json.dumps(groups), encoding="utf-8")
        os.replace(tmp, Path(folder) / GROUPS_FILE)  # every worker writes the same groups


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """Schedule ``--dist loadgroup`` by the groups of :func:`_group`, whole groups per worker.

    xdist 3.8 marks a group by appending ``@group`` to the test ids, which pytest 9.2 no
    longer lets it do (pytest-xdist issue #1386): the groups would silently be ignored. The
    workers write the groups to the session folder before they report their collection, and
    the scheduler reads them when it first splits the tests into units.
    """
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class GroupScheduling(LoadScopeScheduling):
        groups: dict[str, str] | None = None

        def _split_scope(self, nodeid: str) -> str:
            if nodeid.rfind("@") > nodeid.rfind("]"):
                return nodeid.rsplit("@", 1)[1]  # an xdist that could still mark the id
            if self.groups is None:
                path = Path(os.environ[SESSION_ENV]) / GROUPS_FILE
                self.groups = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
            return self.groups.get(nodeid, nodeid)

    return GroupScheduling(config, log)


@pytest.fixture(scope="session")
def baseline_run(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The shipped baseline, all 10 units, run once with a 15 s solver limit (a ``RunOutput``).

    Read-only: tests must not change its folder or layers (copy them first).
    """
    from healthopt.pipeline.run import run_loaded
    from healthopt.scenario import load_scenario

    sc = load_scenario(BASELINE).with_overrides({"solver.time_limit_s": BASELINE_TIME_LIMIT_S})
    return run_loaded(sc, tmp_path_factory.mktemp("baseline") / sc.name, lambda _m: None)


@pytest.fixture
def scenario_file(tmp_path: Path) -> Callable[..., Path]:
    """Return ``write(overrides, base=BASELINE, file_name=None) -> Path`` writing into ``tmp_path``.

    See :func:`fixtures.scenario_files.write_variant`: the base scenario changed through
    ``Scenario.with_overrides`` and written resolved.
    """
    from fixtures.scenario_files import write_variant

    def write(overrides: Mapping[str, Any], base: Path = BASELINE, file_name: str | None = None) -> Path:
        return write_variant(tmp_path, overrides, base=base, file_name=file_name)

    return write


@pytest.fixture(scope="session")
def postgis_server() -> Iterator[Any]:
    """Start one PostgreSQL + PostGIS server for the session (skips if not installed)."""
    import pg

    reason = pg.missing()
    if reason:
        pytest.skip(reason)
    server = pg.start_server()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def postgis_url(postgis_server: Any) -> str:
    """URL of a database with PostGIS enabled on the session's throwaway server."""
    return str(postgis_server.url)
