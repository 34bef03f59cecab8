"""The shape of ``summary.json`` (:class:`RunSummary`) and its validating reader.

``RunSummary`` is a ``TypedDict`` family that mirrors ``summary.json`` key for key: the
pipeline (:mod:`healthopt.pipeline.results`) assembles it and the outputs (map, report,
comparison, batch tables) read it. It lives here, with the outputs, so that they never
import the pipeline. :func:`read_summary` reads a stored ``summary.json`` back (``healthopt
compare``, a batch's finished members) and checks it against these types, so a corrupt run
folder is a one-line :class:`~healthopt.errors.InputError` naming the file and the key.
"""

from __future__ import annotations

import json
import types
import typing
from pathlib import Path
from typing import Any, NotRequired, TypedDict, Union

from healthopt.errors import InputError

__all__ = ["Baseline", "FileHash", "InputsSummary", "Kpis", "PlanSolverEntry", "RoadHash", "RunSummary",
           "ScenarioInfo", "SolverSummary", "check_summary", "read_summary"]

#: A ``summary.json`` larger than this is not one this tool wrote (a run's is a few kilobytes).
MAX_SUMMARY_BYTES = 20_000_000


class ScenarioInfo(TypedDict):
    """``summary["scenario"]``."""

    name: str
    description: str
    year: int


class PlanSolverEntry(TypedDict, total=False):
    """``summary["solver"]["plans"][<plan>]``: how the plan's solves ended (and any cap it applied)."""

    status: str
    optimal: bool
    gap: float | None
    time_limit_s_per_district: float


class SolverSummary(TypedDict):
    """``summary["solver"]``: the run's one solver settings, each plan's outcome, reproducibility."""

    name: str
    time_limit_s: float | None
    gap_requested: float
    threads: int | None
    random_seed: int
    plans: dict[str, PlanSolverEntry]
    reproducible: bool


class Baseline(TypedDict):
    """``summary["baseline"]``: the published plan the run is compared with."""

    fleet_planned: int
    np_planned: int
    np_share: float | None
    stations: int
    beds_planned_per_1000: float


class FileHash(TypedDict):
    """A file named by its file name (never its path) and its SHA-256."""

    name: str | None
    sha256: str | None


class RoadHash(TypedDict):
    """``summary["inputs"]["osm"]``: ``embedded:<path>`` or the file name of a user extract."""

    path: str
    sha256: str


class InputsSummary(TypedDict):
    """``summary["inputs"]``: every input, hashed when it was read (:mod:`healthopt.pipeline.provenance`)."""

    scenario: FileHash
    scenario_resolved_sha256: str
    osm: RoadHash
    layers: dict[str, FileHash]
    embedded: dict[str, str]


class TravelTimeQuality(TypedDict):
    """``summary["travel_time_quality"][i]``: a district's share of residents (= of calls) on estimated times."""

    code: str
    name: str
    residents: int
    estimated_share: float


class Kpis(TypedDict, total=False):
    """``summary["kpis"]``: headline figures; a key is present when its plan ran."""

    pop_total: int
    fleet_norm: int
    fleet_planned: int
    np_planned: int
    np_required_share: float
    np_share: float
    stations_new: int
    stations_planned: int
    pop_covered: int
    pop_beyond_capacity: int
    pop_outside: int
    staff: dict[str, int]
    # the existing network (stations layer; healthopt.plans.ambulance_existing)
    fleet_existing: int
    fleet_added: int
    np_existing: int
    np_added: int
    stations_existing: int
    stations_closed: int
    chc_required: int
    thc_required: int
    chc_planned: int
    thc_planned: int
    subcentres_planned: int
    pop_within_pc_standard: int
    beds_target_per_1000: float
    beds_planned_per_1000: float
    citywide_target_per_1000: float
    beds_planned: int
    infectious_beds_planned: int
    icu_beds_planned: int
    physicians_needed: int
    nurses_needed: int
    pharmacists_needed: int
    public_health_needed: int
    gps_needed: int


class RunSummary(TypedDict):
    """``summary.json``, as the outputs read it.

    ``status``/``optimal``/``gap`` are the run's headline (the ambulance plan's, or the
    first plan that did not finish); ``norms_met``, ``relaxed_norms`` and
    ``infeasible_reasons`` appear only when a plan was solved under relaxed norms.
    """

    scenario: ScenarioInfo
    status: str
    optimal: bool
    gap: float | None
    solver: SolverSummary
    kpis: Kpis
    baseline: Baseline
    response_minutes: dict[str, float]
    data_quality: list[str]
    sources: list[str]
    inputs: InputsSummary
    versions: dict[str, str]
    travel_time_quality: NotRequired[list[TravelTimeQuality]]
    green_channel: NotRequired[dict[str, Any]]
    beds: NotRequired[dict[str, Any]]
    workforce: NotRequired[dict[str, Any]]
    norms_met: NotRequired[bool]
    relaxed_norms: NotRequired[list[str]]
    infeasible_reasons: NotRequired[list[str]]


# --------------------------------------------------------------------------- reading back


def read_summary(path: str | Path) -> RunSummary:
    """Read a stored ``summary.json`` and check it has the :class:`RunSummary` shape.

    Keys the types do not know (a plan's own section) are kept unchecked.

    Raises
    ------
    InputError
        Naming the file and the first missing or invalid key (e.g. ``kpis.pop_total``).
    """
    return check_summary(load_summary_json(path), source=path)


def load_summary_json(path: str | Path) -> object:
    """Return the parsed JSON of a stored ``summary.json`` (size-limited), its shape unchecked.

    Raises
    ------
    InputError
        Naming the file: missing, larger than :data:`MAX_SUMMARY_BYTES`, or not JSON.
    """
    path = Path(path)
    try:
        if path.stat().st_size > MAX_SUMMARY_BYTES:
            raise InputError(path, None, "too large to be the summary of a run")
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(path, None, "not found: is this a `healthopt run` output folder?") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise InputError(path, None, f"not valid JSON ({exc})") from None


def check_summary(data: object, *, source: str | Path | None = None) -> RunSummary:
    """Return ``data`` typed as :class:`RunSummary` if it has that shape, else raise :class:`InputError`."""
    problem = _mismatch(data, RunSummary, "")
    if problem is not None and problem[0].startswith("inputs."):
        # Provenance no output reads: runs written before the inputs were named by file name
        # (``path`` keys) still compare, but ``inputs`` must still be an object.
        problem = None
    if problem is not None:
        key, message = problem
        raise InputError(source, key or None, message)
    return typing.cast(RunSummary, data)


def _mismatch(value: object, kind: Any, key: str) -> tuple[str, str] | None:
    """Return ``(dotted key, what is wrong)`` for the first place ``value`` is not of type ``kind``."""
    if kind is Any:
        return None
    if typing.is_typeddict(kind):
        if not isinstance(value, dict):
            return key, f"must be an object, got {_name(value)}"
        hints = typing.get_type_hints(kind)
        # Under postponed annotations Python 3.11 lists NotRequired keys as required: look again.
        extras = typing.get_type_hints(kind, include_extras=True)
        required = {k for k in kind.__required_keys__ if typing.get_origin(extras[k]) is not NotRequired}
        for name in sorted(required):
            if name not in value:
                return _join(key, name), "missing"
        for name, sub in hints.items():
            if name in value and (found := _mismatch(value[name], sub, _join(key, name))) is not None:
                return found
        return None
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin in (Union, types.UnionType):
        if any(_mismatch(value, option, key) is None for option in args):
            return None
        return key, f"must be {' or '.join(_label(a) for a in args)}, got {_name(value)}"
    if origin is list:
        if not isinstance(value, list):
            return key, f"must be a list, got {_name(value)}"
        return next((m for i, item in enumerate(value) if (m := _mismatch(item, args[0], f"{key}[{i}]"))), None)
    if origin is dict:
        if not isinstance(value, dict):
            return key, f"must be an object, got {_name(value)}"
        return next((m for k, item in value.items() if (m := _mismatch(item, args[1], _join(key, str(k))))), None)
    if kind is type(None):
        return None if value is None else (key, f"must be null, got {_name(value)}")
    if kind is bool:
        return None if isinstance(value, bool) else (key, f"must be true or false, got {_name(value)}")
    if kind is float:  # JSON writes 12.0 as 12 only if we wrote it so; accept both
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        return None if ok else (key, f"must be a number, got {_name(value)}")
    if kind is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
        return None if ok else (key, f"must be a whole number, got {_name(value)}")
    if kind is str:
        return None if isinstance(value, str) else (key, f"must be text, got {_name(value)}")
    raise TypeError(f"summary type {kind!r} is not checked")  # pragma: no cover - a new TypedDict field type


def _join(key: str, name: str) -> str:
    return f"{key}.{name}" if key else name


def _label(kind: Any) -> str:
    return {type(None): "null", bool: "true or false", float: "a number", int: "a whole number",
            str: "text"}.get(kind, "an object" if typing.is_typeddict(kind) or typing.get_origin(kind) is dict
                             else "a list" if typing.get_origin(kind) is list else str(kind))


def _name(value: object) -> str:
    return {dict: "an object", list: "a list", str: "text", bool: "true/false", type(None): "null"}.get(
        type(value), "a number" if isinstance(value, int | float) else type(value).__name__)
