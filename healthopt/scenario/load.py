"""Read scenario and sweep files: bounded, safe YAML with every problem at its line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from healthopt.errors import InputError
from healthopt.scenario.messages import ScenarioError, cap_problems
from healthopt.scenario.schema import Scenario
from healthopt.scenario.validation import validate
from healthopt.scenario.yaml import Lines, parse_yaml, read_text

__all__ = ["load_scenario", "read_yaml_file", "validate_file"]


def _check_file(path: str | Path) -> tuple[Scenario | None, list[InputError]]:
    """Load and validate a scenario file, collecting every problem."""
    path = Path(path)
    text, problems = read_text(path, what="scenario file")
    if text is None:
        return None, problems
    parsed = parse_yaml(text, str(path))
    if parsed.data is None and parsed.problems:
        return None, parsed.problems
    scenario, more = validate(
        Scenario, parsed.data, parsed.lines, str(path),
        base_dir=path.resolve().parent, source_file=path,
    )
    return scenario, cap_problems(parsed.problems + more)


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario file.

    Parameters
    ----------
    path : str or Path
        The YAML file. Relative data paths inside it start at its folder.

    Returns
    -------
    Scenario
        With every default filled in.

    Raises
    ------
    ScenarioError
        Listing every problem (``.problems``), each ``file:line: field: message``; a
        file that is not a regular file, is larger than 1 MiB or holds more than 100,000
        YAML values is refused (:mod:`healthopt.scenario.yaml`).
    """
    scenario, problems = _check_file(path)
    if problems or scenario is None:
        raise ScenarioError(problems)
    return scenario


def validate_file(path: str | Path) -> list[InputError]:
    """Return every problem in a scenario file (an empty list when it is valid).

    Parameters
    ----------
    path : str or Path
        The YAML file.

    Returns
    -------
    list of InputError
        Sorted by line; at most :data:`~healthopt.scenario.messages.MAX_PROBLEMS`,
        followed by one that counts the rest.
    """
    return _check_file(path)[1]


def read_yaml_file(path: str | Path, what: str = "file") -> tuple[Any, Lines]:
    """Read a YAML file with line numbers (as for scenarios), for sweep and batch files.

    Parameters
    ----------
    path : str or Path
        The file.
    what : str
        What the file is, for messages (``"sweep file"``).

    Returns
    -------
    tuple
        The data and ``{key path: 1-based line}``.

    Raises
    ------
    ScenarioError
        Unreadable, special or oversized file, or invalid YAML (file and line named).
    """
    path = Path(path)
    text, problems = read_text(path, what=what)
    parsed = parse_yaml(text, str(path)) if text is not None else None
    problems = problems if parsed is None else parsed.problems
    if problems or parsed is None:
        raise ScenarioError([
            InputError(p.source, p.field, p.message.replace("the scenario file", f"the {what}"), p.line)
            for p in problems
        ])
    return parsed.data, parsed.lines
