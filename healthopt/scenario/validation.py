"""Validate raw scenario data and report each problem at its dotted field and YAML line.

Pydantic reports a location such as ``("plans", "beds", "targets", "140105",
"[key]")``; this module maps it back onto the raw data (whose keys may be numbers,
``true`` or odd text) to spell the field as written and find its line.

The work is linear in the size of the file: keys are looked up in dicts (never by a scan
of their mapping), and only the problems that are reported (at most
:data:`~healthopt.scenario.messages.MAX_PROBLEMS`) get their wording and suggestions.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar, get_args, runtime_checkable

from pydantic import BaseModel, ValidationError

from healthopt.errors import InputError
from healthopt.scenario.messages import CUSTOM, MAX_PROBLEMS, OmittedProblemsError, join_field, message, show
from healthopt.scenario.yaml import Lines

__all__ = ["CrossChecked", "validate"]


@runtime_checkable
class CrossChecked(Protocol):
    """A validated model with checks that span its sections (the scenario)."""

    def cross_checks(self) -> list[tuple[tuple[str | int, ...], str]]:
        """Return ``(loc, message)`` for each problem."""
        ...


Model = TypeVar("Model", bound=BaseModel)

_MISSING = object()


class _KeyIndex:
    """Raw mapping keys, indexed once per mapping so that every lookup is O(1).

    A loc item is matched to the raw key that equals it, or failing that to the first key
    whose text equals its text; the raw key is returned, not the item: pydantic reports a
    ``true`` key as ``1`` and a district code written as a number as text.
    """

    def __init__(self) -> None:
        self._index: dict[int, tuple[dict[Any, Any], dict[str, Any]]] = {}

    def raw_key(self, node: dict[Any, Any], item: Any) -> Any:
        same, by_text = self._of(node)
        if item in same:
            return same[item]
        return by_text.get(str(item), _MISSING)

    def _of(self, node: dict[Any, Any]) -> tuple[dict[Any, Any], dict[str, Any]]:
        found = self._index.get(id(node))
        if found is None:
            by_text: dict[str, Any] = {}
            for key in node:
                by_text.setdefault(str(key), key)
            # ``node`` stays referenced by the raw data, so its id is not reused meanwhile.
            found = self._index[id(node)] = ({key: key for key in node}, by_text)
        return found


def _is_tag(item: Any) -> bool:
    """Whether a loc item is a pydantic validator tag rather than a key."""
    return isinstance(item, str) and (
        item == "[key]" or "[" in item or item in {"int", "str", "float", "bool", "none"}
    )


@dataclass
class _Where:
    """A pydantic ``loc`` resolved against the raw data."""

    name: str
    line: int | None
    loc: tuple[Any, ...]


def _locate(loc: tuple[Any, ...], raw: Any, lines: Lines, keys: _KeyIndex) -> _Where:
    """Map a pydantic ``loc`` to a dotted field name, the best-known line, a clean loc."""
    path: list[Any] = []
    kept: list[Any] = []
    name = ""
    node: Any = raw
    for item in loc:
        key = keys.raw_key(node, item) if isinstance(node, dict) else _MISSING
        if key is not _MISSING:
            path.append(key)
            name = join_field(name, key)
            node = node[key]
        elif isinstance(node, list) and isinstance(item, int) and 0 <= item < len(node):
            path.append(item)
            name = join_field(name, item, index=True)
            node = node[item]
        elif _is_tag(item):
            continue
        else:
            name = join_field(name, item, index=isinstance(item, int))
            node = None
        kept.append(item)
    return _Where(name or "<top level>", _line_for(tuple(path), lines), tuple(kept))


def _line_for(path: tuple[Any, ...], lines: Lines) -> int | None:
    """Line of the longest prefix of ``path`` that has a recorded line."""
    for end in range(len(path), -1, -1):
        if path[:end] in lines:
            return lines[path[:end]]
    return None


def _section_at(root: type[BaseModel], loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """Return the scenario section model found at ``loc``, if any."""
    model: type[BaseModel] | None = root
    for part in loc:
        if model is None or part not in model.model_fields:
            return None
        model = _find_model(model.model_fields[part].annotation)
    return model


def _find_model(annotation: Any) -> type[BaseModel] | None:
    """Find a BaseModel subclass inside a (possibly Optional/Annotated) annotation."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _find_model(arg)
        if found is not None:
            return found
    return None


def _peek_dataset(data: Any) -> str | None:
    """Dataset named by the raw data (``taiyuan`` unless explicitly null)."""
    section = data.get("data") if isinstance(data, dict) else None
    if isinstance(section, dict) and "dataset" in section and section["dataset"] is None:
        return None
    return "taiyuan"


def _problems(
    errors: list[Any], root: type[BaseModel], raw: Any, lines: Lines, source: str | Path | None
) -> list[InputError]:
    """Turn pydantic errors into problems; only the first :data:`MAX_PROBLEMS` by line are worded."""
    keys = _KeyIndex()
    located = []
    for err in errors:
        loc = tuple(err["loc"])
        if err["type"] == CUSTOM:
            loc += tuple((err.get("ctx") or {}).get("loc", ()))
        located.append((_locate(loc, raw, keys=keys, lines=lines), err))
    located.sort(key=lambda pair: pair[0].line or 0)
    out = []
    for where, err in located[:MAX_PROBLEMS]:
        allowed = None
        if err["type"] == "extra_forbidden":
            section = _section_at(root, where.loc[:-1])
            allowed = list(section.model_fields) if section is not None else None
        out.append(InputError(source, where.name, message(err, where.loc, allowed=allowed), where.line))
    if len(located) > MAX_PROBLEMS:
        out.append(OmittedProblemsError(str(source) if source is not None else None, len(located) - MAX_PROBLEMS))
    return out


def validate(
    model: type[Model],
    data: Any,
    lines: Lines,
    source: str | Path | None,
    *,
    base_dir: Path,
    source_file: Path | None = None,
) -> tuple[Model | None, list[InputError]]:
    """Validate raw data; return the scenario (or None) and every problem found.

    Parameters
    ----------
    model : type
        The scenario model (:class:`healthopt.scenario.schema.Scenario`); its
        ``cross_checks()`` (:class:`CrossChecked`) run once the sections are valid.
    data : Any
        Raw data as loaded from YAML.
    lines : dict
        ``{key path: line}`` from :func:`healthopt.scenario.yaml.parse_yaml` (may be empty).
    source : str or Path or None
        Name used in messages.
    base_dir : Path
        Folder that relative data paths start from.
    source_file : Path, optional
        The file the scenario was read from, remembered by the scenario.

    Returns
    -------
    tuple
        The scenario (None if invalid) and the problems.
    """
    if not isinstance(data, dict):
        kind = "a list" if isinstance(data, list) else show(data)
        msg = f"a scenario must be a mapping of 'key: value' lines at the top level, got {kind}"
        return None, [InputError(source, None, msg, lines.get((), 1))]
    context = {"base_dir": base_dir, "dataset": _peek_dataset(data), "source_file": source_file}
    try:
        scenario = model.model_validate(data, context=context)
    except ValidationError as exc:
        return None, _problems(exc.errors(), model, data, lines, source)
    keys = _KeyIndex()
    problems = []
    checks: list[tuple[tuple[str | int, ...], str]] = (
        scenario.cross_checks() if isinstance(scenario, CrossChecked) else []
    )
    for loc, msg in checks:
        where = _locate(loc, data, lines, keys)
        problems.append(InputError(source, where.name, msg, where.line))
    return scenario, problems

