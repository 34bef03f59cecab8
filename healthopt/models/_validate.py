"""Argument checks shared by the location models (one-line :class:`InputError` naming the field)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from healthopt.errors import InputError


def as_vector(
    values: Any, n: int, field_name: str, *, allow_none: bool = True, nonneg: bool = True
) -> np.ndarray | None:
    if values is None:
        if allow_none:
            return None
        raise InputError(None, field_name, "is required")
    arr = np.asarray(values, dtype=float).ravel()
    if arr.size != n:
        raise InputError(None, field_name, f"has {arr.size} values, expected {n}")
    if not np.all(np.isfinite(arr)):
        raise InputError(None, field_name, "contains missing or infinite values")
    if nonneg and arr.size and arr.min() < 0:
        raise InputError(None, field_name, "contains negative values")
    return arr


def check_radius(value: Any, field_name: str) -> float:
    try:
        r = float(value)
    except (TypeError, ValueError):
        raise InputError(None, field_name, f"must be a number of minutes, got {value!r}") from None
    if not math.isfinite(r) or r < 0:
        raise InputError(None, field_name, f"must be a non-negative finite number, got {value!r}")
    return r


def check_count(value: Any, field_name: str, *, allow_none: bool = False) -> int | None:
    if value is None and allow_none:
        return None
    try:
        p = int(value)
    except (TypeError, ValueError):
        raise InputError(None, field_name, f"must be a whole number, got {value!r}") from None
    if p != value or p < 0:
        raise InputError(None, field_name, f"must be a non-negative whole number, got {value!r}")
    return p


def maybe_int(v: Any) -> Any:
    try:
        return int(v)
    except (TypeError, ValueError):
        return v
