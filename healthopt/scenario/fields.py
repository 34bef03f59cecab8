"""Field types of the scenario schema: numbers, district codes, coordinate systems, paths.

Each type either accepts a value as written or raises a planning-level message
(:func:`healthopt.scenario.messages.fail`); nothing is coerced silently (``"12"`` is not
a number, ``true`` is not 1).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, Strict, ValidationInfo

from healthopt.scenario import defaults
from healthopt.scenario.messages import fail, show, suggest

__all__ = [
    "BedStrategy",
    "Bool",
    "Count",
    "Crs",
    "DataPath",
    "DistrictCode",
    "Kph",
    "Minutes",
    "Money",
    "OsmPath",
    "Section",
    "Share",
    "Text",
    "merge_over",
]

_NAMED_CRS = ("wgs84", "gcj02", "bd09")
_OSM_SUFFIXES = (".osm", ".pbf", ".geojson", ".json")


def _context(info: ValidationInfo) -> dict[str, Any]:
    """Return the validation context (base directory, dataset) or an empty mapping."""
    return info.context if isinstance(info.context, dict) else {}


def _district_code(value: Any, info: ValidationInfo) -> str:
    """Normalise a district code to its 6-digit text and check it exists."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise fail(f"a district code is a 6-digit number such as 140105, got {show(value)}")
    code = str(value).strip()
    if not re.fullmatch(r"\d{6}", code):
        raise fail(f"a district code is a 6-digit number such as 140105, got {show(value)}")
    known = defaults.KNOWN_DISTRICTS
    if _context(info).get("dataset", "taiyuan") is None or code in known:
        return code
    if code in defaults.CITY_CODES:
        raise fail(f"{code} is the whole city of {defaults.CITY_CODES[code]}: list its districts instead")
    raise fail(
        f"unknown district code {code}: the embedded dataset has Taiyuan 140105–140181 "
        f"and Jinzhong 140702–140781",
        hint=(code, list(known)),
    )


def _crs(value: Any) -> str:
    """Normalise a coordinate system name: wgs84, gcj02, bd09 or ``EPSG:<code>``."""
    usage = "use wgs84, gcj02 (Amap, Tencent), bd09 (Baidu) or an EPSG code such as EPSG:32649"
    if isinstance(value, int) and not isinstance(value, bool) and 1024 <= value <= 999999:
        return f"EPSG:{value}"
    if not isinstance(value, str):
        raise fail(f"unknown coordinate system {show(value)}: {usage}")
    key = value.strip().lower().replace("-", "").replace("_", "")
    if key in _NAMED_CRS:
        return key
    match = re.fullmatch(r"epsg:?(\d{4,6})", key)
    if match:
        return f"EPSG:{match.group(1)}"
    raise fail(f"unknown coordinate system {show(value)}: {usage}{suggest(key, _NAMED_CRS)}")


def _data_path(value: Any, info: ValidationInfo) -> Path:
    """Resolve a path relative to the scenario file and check that it exists."""
    if not isinstance(value, str) or not value.strip():
        raise fail(f"expected a file path (text), got {show(value)}")
    try:
        path = Path(value).expanduser()
    except RuntimeError:  # "~user" without such a user
        path = Path(value)
    if not path.is_absolute():
        path = Path(_context(info).get("base_dir") or Path.cwd()) / path
    try:
        found = path.resolve().exists()
    except (OSError, ValueError):
        found = False
    if not found:
        raise fail(f"file not found: {path} (relative paths start at the scenario's folder)")
    return path.resolve()


def _osm_path(value: Any, info: ValidationInfo) -> Path:
    """Resolve an OSM path and check that its type is one the network loader reads."""
    path = _data_path(value, info)
    if path.suffix.lower() not in _OSM_SUFFIXES:
        raise fail(
            f"unsupported OSM file type '{path.suffix}': use .osm, .osm.pbf or an OSM "
            "lines .geojson"
        )
    return path


Bool = Annotated[bool, Strict()]
Text = Annotated[str, Strict()]
Share = Annotated[float, Strict(), Field(ge=0.0, le=1.0)]
Minutes = Annotated[float, Strict(), Field(gt=0.0, le=240.0)]
Count = Annotated[int, Strict(), Field(ge=0, le=1_000_000)]
Money = Annotated[float, Strict(), Field(ge=0.0)]
Kph = Annotated[float, Strict(), Field(gt=0.0, le=130.0)]
DistrictCode = Annotated[str, BeforeValidator(_district_code)]
Crs = Annotated[str, BeforeValidator(_crs)]
DataPath = Annotated[Path, BeforeValidator(_data_path)]
OsmPath = Annotated[Path, BeforeValidator(_osm_path)]
BedStrategy = Literal["strengthen", "shed", "priority", "neutral"]


class Section(BaseModel):
    """Base of every scenario section: unknown keys are errors, values are immutable."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, allow_inf_nan=False, validate_default=False
    )


def merge_over(default: Callable[[], Mapping[str, Any]]) -> Callable[[Any], Any]:
    """Return a before-validator merging a per-district mapping over a norm table.

    Parameters
    ----------
    default : callable
        Returns the table's mapping (called when a value is validated, so the table is
        read on first use).
    """

    def merge(value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        given = {
            str(k) if isinstance(k, int) and not isinstance(k, bool) else k: v
            for k, v in value.items()
        }
        return {**default(), **given}

    return merge
