"""What a batch runs: a folder of scenario files, or a sweep file that expands a parameter grid.

A sweep file has one top-level key, ``sweep``::

    sweep:
      name: taiyuan_fleet_response
      base: ../taiyuan_2025_baseline.yaml     # relative to the sweep file
      set:                                    # the same for every member
        solver.time_limit_s: 30
      grid:                                   # every combination is one scenario
        response_minutes.urban: [8, 12, 16, 20]
        plans.ambulances.max_vehicles: {start: 150, stop: 260, step: 10}
        network.congestion: [1.0, 1.3, 1.6]

Keys are dotted scenario fields (as in ``Scenario.with_overrides``); a range includes
``stop`` when the steps land on it. Every member is validated before anything runs.

Limits (each refused with one line naming the sweep file and field, exit code 2): the
file is read like a scenario file (regular file, at most 1 MiB, at most 100,000 YAML
values); a range's start, stop and step are finite numbers and it holds at most
:data:`MAX_RANGE_VALUES` values (checked before any is built); a grid expands to at most
:data:`MAX_MEMBERS` scenarios. Values are data: text such as ``"=1+1"`` is passed to the
scenario as text and never evaluated.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from healthopt.errors import InputError
from healthopt.scenario import Scenario, ScenarioError, load_scenario, read_yaml_file

#: A batch larger than this is almost certainly a typo in a range.
MAX_MEMBERS = 5000
#: A range longer than this is refused before its values are built (``step: 1e-300``
#: would otherwise build 1e300 of them); shorter ones meet the :data:`MAX_MEMBERS` check.
MAX_RANGE_VALUES = 100 * MAX_MEMBERS
_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
_SWEEP_KEYS = ("name", "base", "description", "set", "grid")


@dataclass(frozen=True)
class Member:
    """One scenario of a batch: its validated scenario and the swept values that made it."""

    name: str
    scenario: Scenario
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def digest(self) -> str:
        """Return the hash of the resolved scenario (a finished member is skipped only if unchanged)."""
        text = json.dumps(self.scenario.resolved_dict(), sort_keys=True, ensure_ascii=False, default=str)
        return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class Batch:
    """A named list of members; ``parameters`` are the dotted keys that vary."""

    name: str
    source: Path
    members: list[Member]
    parameters: list[str] = field(default_factory=list)
    description: str = ""


def load_batch(path: str | Path) -> Batch:
    """Read a folder of scenario files or a sweep file.

    Parameters
    ----------
    path : str or Path
        A folder (every ``*.yaml`` / ``*.yml`` in it, sorted by name) or a sweep file.

    Returns
    -------
    Batch

    Raises
    ------
    InputError
        Naming the file and field of the first problem (unknown keys, bad values,
        duplicate scenario names, an empty folder, ...).
    """
    path = Path(path)
    if path.is_dir():
        return _folder_batch(path)
    data, lines = read_yaml_file(path, "sweep file")
    if not isinstance(data, Mapping) or "sweep" not in data:
        raise InputError(path, "sweep", "a batch file needs a top-level 'sweep:' section (or give a folder "
                                        "of scenario files)", 1)
    return _sweep_batch(path, data["sweep"], lines)


def _folder_batch(folder: Path) -> Batch:
    files = sorted(p for p in folder.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())
    if not files:
        raise InputError(folder, None, "the folder holds no scenario files (*.yaml)")
    members = [Member(sc.name, sc) for sc in map(load_scenario, files)]
    _check_unique(members, folder)
    return Batch(_slug(folder.name), folder, members)


def _sweep_batch(path: Path, spec: Any, lines: dict[tuple[Any, ...], int]) -> Batch:
    def fail(field_path: tuple[str, ...], message: str) -> InputError:
        return InputError(path, ".".join(("sweep", *field_path)), message, lines.get(("sweep", *field_path)))

    if not isinstance(spec, Mapping):
        raise fail((), "must be a mapping with name, base and grid")
    for key in spec:
        if key not in _SWEEP_KEYS:
            raise fail((str(key),), f"unknown key; expected one of {', '.join(_SWEEP_KEYS)}")
    name = spec.get("name")
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise fail(("name",), "must be lower-case letters, digits, '_' or '-' (it names the batch folder)")
    if not isinstance(spec.get("base"), str):
        raise fail(("base",), "give the base scenario file, relative to the sweep file")
    base = load_scenario((path.parent / spec["base"]).resolve())
    fixed = spec.get("set") or {}
    if not isinstance(fixed, Mapping):
        raise fail(("set",), "must map dotted scenario fields to values")
    grid = _grid(spec.get("grid"), fail)
    members: list[Member] = []
    for values in itertools.product(*grid.values()):
        params = dict(zip(grid, values, strict=True))
        member_name = _member_name(name, params, len(members))
        overrides = {**fixed, **params, "name": member_name}
        try:
            members.append(Member(member_name, base.with_overrides(overrides), params))
        except ScenarioError as exc:
            first = exc.problems[0]
            where = ("grid", first.field) if first.field in grid else ("set", first.field or "")
            raise fail(where, f"{first.message} (in member {member_name})") from None
    _check_unique(members, path)
    return Batch(name, path, members, list(grid), str(spec.get("description") or ""))


def _grid(grid: Any, fail: Callable[[tuple[str, ...], str], InputError]) -> dict[str, list[Any]]:
    if not isinstance(grid, Mapping) or not grid:
        raise fail(("grid",), "give at least one dotted field with a list of values or {start, stop, step}")
    out: dict[str, list[Any]] = {}
    for key, values in grid.items():
        if isinstance(values, Mapping):
            values = _expand_range(values, functools.partial(_fail_at, fail, ("grid", str(key))))
        if not isinstance(values, list) or not values:
            raise fail(("grid", str(key)), "must be a non-empty list of values or {start, stop, step}")
        out[str(key)] = values
    size = 1
    for values in out.values():
        size *= len(values)
    if size > MAX_MEMBERS:
        raise fail(("grid",), f"expands to {size:,} scenarios, more than {MAX_MEMBERS:,}: check the ranges")
    return out


def _fail_at(fail: Callable[[tuple[str, ...], str], InputError], where: tuple[str, ...], message: str) -> InputError:
    return fail(where, message)


def _expand_range(spec: Mapping[str, Any], fail: Callable[[str], InputError]) -> list[Any]:
    """Expand ``{start, stop, step}``; refuse ranges that overflow or exceed :data:`MAX_MEMBERS` values."""
    if set(spec) != {"start", "stop", "step"}:
        raise fail("a range needs exactly start, stop and step")
    start, stop, step = (spec[k] for k in ("start", "stop", "step"))
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in (start, stop, step)):
        raise fail("start, stop and step must be numbers")
    if not all(isinstance(v, int) or math.isfinite(v) for v in (start, stop, step)):
        raise fail(f"start, stop and step must be finite numbers, got start {start}, stop {stop}, step {step}")
    if step <= 0 or stop < start:
        raise fail(f"needs step > 0 and stop >= start, got start {start}, stop {stop}, step {step}")
    exact = all(isinstance(v, int) for v in (start, stop, step))
    try:
        # Whole numbers are counted exactly (they may exceed any float); a float range
        # may count to inf (e.g. step 1e-300), which is refused below like any large count.
        count: float = (stop - start) // step + 1 if exact else (stop - start) / step + 1e-9 + 1
    except OverflowError:
        count = math.inf
    if count > MAX_RANGE_VALUES:
        shown = f"{count:,}" if isinstance(count, int) else f"{count:.3g}"
        raise fail(f"the range gives {shown} values, far more than the {MAX_MEMBERS:,} scenarios a batch "
                   f"may hold (start {start}, stop {stop}, step {step}): check the range")
    values = [start + k * step for k in range(int(count))]  # floor of a float count
    if exact:
        return values
    return [round(v, 10) for v in values]


def _member_name(sweep: str, params: dict[str, Any], index: int) -> str:
    """Return ``<sweep>-<field><value>_...``, e.g. ``fleet-urban12_max_vehicles180_congestion1p3``."""
    label = "_".join(f"{key.rsplit('.', 1)[-1]}{_value_label(v)}" for key, v in params.items())
    name = f"{sweep}-{label}".lower()
    if not _NAME.fullmatch(name):
        name = f"{sweep[:58]}-{index + 1:04d}"
    return name


def _value_label(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).replace(".", "p").replace("-", "m")
    return re.sub(r"[^a-z0-9p]+", "", text.lower())


def _check_unique(members: list[Member], source: Path) -> None:
    seen: dict[str, int] = {}
    for member in members:
        seen[member.name] = seen.get(member.name, 0) + 1
    dupes = sorted(k for k, n in seen.items() if n > 1)
    if dupes:
        raise InputError(source, "name", f"scenario names must be unique in a batch (they name the output "
                                         f"folders): {', '.join(dupes[:5])}")


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9_-]+", "_", text.lower()).strip("_-")[:64] or "batch"
