"""The one source of planning defaults: the embedded norms table and district tables.

Every planning default of a scenario (and of the plan classes in :mod:`healthopt.plans`)
is a row of ``healthopt/geodata/taiyuan/tables/norms.csv`` — value, unit, seed document and
section, quality flag — or of the district tables beside it (``districts.csv``,
``beds_district.csv``, ``green_channel.csv``). The tables are read once, on first use,
not when the package is imported.

The district mappings of the public API (``TAIYUAN_DISTRICTS``, ``BED_STRATEGY``, ...)
are module attributes computed on first access (PEP 562).
"""

from __future__ import annotations

import csv
import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from healthopt import settings
from healthopt.errors import InputError

__all__ = [
    "BED_STRATEGY",
    "BED_TARGETS_PER_1000",
    "CITY_CODES",
    "GREEN_CHANNEL_RECEIVERS",
    "GREEN_CHANNEL_SENDERS",
    "INFECTIOUS_BEDS_MIN",
    "JINZHONG_DISTRICTS",
    "KNOWN_DISTRICTS",
    "TAIYUAN_DISTRICTS",
    "TAIYUAN_URBAN_DISTRICTS",
    "NormRow",
    "norm_float",
    "norm_float_default",
    "norm_float_range",
    "norm_int",
    "norm_int_default",
    "norm_int_range",
    "norm_row",
    "norm_rows",
]

#: City codes, accepted nowhere as districts but recognised for a better message.
CITY_CODES: dict[str, str] = {"140100": "太原市", "140700": "晋中市"}

NORMS_FILE = "norms.csv"


@dataclass(frozen=True)
class NormRow:
    """One planning figure of ``norms.csv``: value with unit, scope and source."""

    key: str
    value: float
    unit: str
    scope: str
    seed: str
    section: str
    quality: str
    note: str


def _table(name: str) -> list[dict[str, str]]:
    """Rows of an embedded planning table (``healthopt/geodata/taiyuan/tables``)."""
    with (settings.GEODATA_DIR / "tables" / name).open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def _norms_path() -> Path:
    return settings.GEODATA_DIR / "tables" / NORMS_FILE


@functools.cache
def norm_rows() -> dict[str, NormRow]:
    """Return every row of the norms table by key (read once).

    Raises
    ------
    InputError
        Naming the table and the row, when a value is not a number or a column is missing.
    """
    out: dict[str, NormRow] = {}
    for line, row in enumerate(_table(NORMS_FILE), start=2):
        try:
            out[row["key"]] = NormRow(
                key=row["key"], value=float(row["value"]), unit=row["unit"], scope=row["scope"],
                seed=row["seed"], section=row["section"], quality=row["quality"], note=row["note"] or "",
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(_norms_path(), row.get("key") or "value", f"not a norm row ({exc})", line) from None
    return out


def norm_row(key: str) -> NormRow:
    """Return one row of the norms table.

    Raises
    ------
    InputError
        Naming the table and the key, when the key is not in it (a dataset folder from
        ``HEALTHOPT_GEODATA`` that predates the row, for instance).
    """
    rows = norm_rows()
    if key not in rows:
        raise InputError(_norms_path(), key, "this planning norm is missing from the norms table")
    return rows[key]


def norm_float(key: str) -> float:
    """Return a norm's value as a float."""
    return norm_row(key).value


def norm_int(key: str) -> int:
    """Return a norm's value as a whole number (the table must hold one)."""
    value = norm_row(key).value
    if not value.is_integer():
        raise InputError(_norms_path(), key, f"must be a whole number, got {value}")
    return int(value)


def norm_float_range(prefix: str) -> tuple[float, float]:
    """Return the norms ``<prefix>_min`` and ``<prefix>_max`` as a ``(low, high)`` pair."""
    return norm_float(f"{prefix}_min"), norm_float(f"{prefix}_max")


def norm_int_range(prefix: str) -> tuple[int, int]:
    """Return the whole-number norms ``<prefix>_min`` and ``<prefix>_max`` as a pair."""
    return norm_int(f"{prefix}_min"), norm_int(f"{prefix}_max")


def norm_float_default(key: str) -> Callable[[], float]:
    """Return a default factory that reads a float norm when the default is needed."""
    return functools.partial(norm_float, key)


def norm_int_default(key: str) -> Callable[[], int]:
    """Return a default factory that reads a whole-number norm when the default is needed."""
    return functools.partial(norm_int, key)


# --------------------------------------------------------------------------------------
# District tables (NORMS.md; seeds 000 and 001)
# --------------------------------------------------------------------------------------


@functools.cache
def _district_rows() -> tuple[dict[str, str], ...]:
    return tuple(_table("districts.csv"))


@functools.cache
def _bed_rows() -> tuple[dict[str, str], ...]:
    return tuple(sorted(_table("beds_district.csv"), key=lambda row: row["code"]))


def _units(city: str) -> dict[str, str]:
    return {r["code"]: r["name_zh"] for r in _district_rows() if r["city_code"] == city}


def _urban() -> tuple[str, ...]:
    return tuple(r["code"] for r in _district_rows() if r["city_code"] == "140100" and r["norm_class"] == "urban")


def _bed_targets() -> dict[str, dict[str, float]]:
    rows = _bed_rows()
    return {f"plan_{year}": {r["code"]: float(r[f"beds_per_1000_{year}"]) for r in rows} for year in (2025, 2022)}


def _infectious() -> dict[str, int]:
    prefix = "beds.infectious_min."
    return {key.removeprefix(prefix): norm_int(key) for key in norm_rows() if key.startswith(prefix)}


def _green(role: str) -> tuple[str, ...]:
    return tuple(r["name_zh"] for r in _table("green_channel.csv") if r["role"] == role)


# Declared for type checkers and readers; the values come from ``__getattr__`` below.
#: Taiyuan's 10 county-level units (adcode -> name).
TAIYUAN_DISTRICTS: dict[str, str]
#: Jinzhong's 11 county-level units (adcode -> name).
JINZHONG_DISTRICTS: dict[str, str]
#: Every unit of the embedded dataset.
KNOWN_DISTRICTS: dict[str, str]
#: The six urban districts (城六区) that use the urban ambulance norm (001 §四(三)1).
TAIYUAN_URBAN_DISTRICTS: tuple[str, ...]
#: District bed targets per 1,000 residents (001 annex 1): ``plan_2025``, ``plan_2022``.
BED_TARGETS_PER_1000: dict[str, dict[str, float]]
#: Bed resource strategy by district (001 annex 1): 充实提升区 strengthen, 调整完善区
#: shed (adjust), 重点配置区 priority.
BED_STRATEGY: dict[str, str]
#: Minimum infectious-disease beds by district (001 §三(二)3(5)).
INFECTIOUS_BEDS_MIN: dict[str, int]
#: Critical-care referral green channel (000 §(五)): sending and receiving hospitals.
GREEN_CHANNEL_SENDERS: tuple[str, ...]
GREEN_CHANNEL_RECEIVERS: tuple[str, ...]

#: How each of the attributes above is built from the tables.
_LAZY: dict[str, Callable[[], Any]] = {
    "TAIYUAN_DISTRICTS": lambda: _units("140100"),
    "JINZHONG_DISTRICTS": lambda: _units("140700"),
    "KNOWN_DISTRICTS": lambda: {**_units("140100"), **_units("140700")},
    "TAIYUAN_URBAN_DISTRICTS": _urban,
    "BED_TARGETS_PER_1000": _bed_targets,
    "BED_STRATEGY": lambda: {r["code"]: r["strategy"] for r in _bed_rows()},
    "INFECTIOUS_BEDS_MIN": _infectious,
    "GREEN_CHANNEL_SENDERS": lambda: _green("sender"),
    "GREEN_CHANNEL_RECEIVERS": lambda: _green("receiver"),
}


@functools.cache
def _lazy(name: str) -> Any:
    return _LAZY[name]()


def __getattr__(name: str) -> Any:
    """Compute a district mapping on first access (the tables are not read at import)."""
    if name in _LAZY:
        return _lazy(name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
