"""Scenario files: schema, safe YAML loading with line numbers, planning-norm defaults.

Public API
----------
load_scenario(path) -> Scenario
    Read and validate a file; raise :class:`ScenarioError` listing *every* problem,
    each as ``file:line: dotted.field: message``.
validate_file(path) -> list[InputError]
    The same checks without raising (empty list when the file is valid).
read_yaml_file(path, what) -> (data, lines)
    The same safe, bounded YAML reading for sweep and batch files.
Scenario.from_dict(data, source=None, base_dir=None) -> Scenario
    Validate an in-memory mapping (paths resolved against ``base_dir``).
Scenario.resolved_dict() / Scenario.dump_resolved(path)
    The scenario with every default filled in, for reproducibility.
Scenario.with_overrides({"network.congestion": 1.4})
    A validated copy with dotted keys replaced, for parameter sweeps.

Modules
-------
``schema`` (the root model and general sections), ``plan_sections`` (ambulances, primary
care, beds, green channel), ``fields`` (field types), ``defaults`` (the one norms table,
read on first use), ``messages`` (error wording), ``yaml`` (bounded reading and line
tracking), ``validation`` (errors to fields and lines, linear in the file), ``load`` (files).
"""

from __future__ import annotations

from typing import Any

from healthopt.scenario import defaults
from healthopt.scenario.load import load_scenario, read_yaml_file, validate_file
from healthopt.scenario.messages import ScenarioError
from healthopt.scenario.schema import Scenario
from healthopt.scenario.yaml import MAX_FILE_BYTES, MAX_YAML_VALUES

__all__ = [
    "BED_STRATEGY",
    "BED_TARGETS_PER_1000",
    "GREEN_CHANNEL_RECEIVERS",
    "GREEN_CHANNEL_SENDERS",
    "INFECTIOUS_BEDS_MIN",
    "JINZHONG_DISTRICTS",
    "KNOWN_DISTRICTS",
    "MAX_FILE_BYTES",
    "MAX_YAML_VALUES",
    "TAIYUAN_DISTRICTS",
    "TAIYUAN_URBAN_DISTRICTS",
    "Scenario",
    "ScenarioError",
    "load_scenario",
    "read_yaml_file",
    "validate_file",
]

_FROM_TABLES = {
    "BED_STRATEGY", "BED_TARGETS_PER_1000", "GREEN_CHANNEL_RECEIVERS", "GREEN_CHANNEL_SENDERS",
    "INFECTIOUS_BEDS_MIN", "JINZHONG_DISTRICTS", "KNOWN_DISTRICTS", "TAIYUAN_DISTRICTS",
    "TAIYUAN_URBAN_DISTRICTS",
}


def __getattr__(name: str) -> Any:
    """District mappings of the embedded tables, read on first access (PEP 562)."""
    if name in _FROM_TABLES:
        return getattr(defaults, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
