"""The on-disk cache of a run's demand points, candidate sites and travel times: arrays and JSON, never pickle.

Building the demand grid, the candidate sites and the two travel-time matrices (ambulance
dispatch and patients to health centres) takes most of a run's preparation (about 5 s of a
baseline run on 2 idle cores, 20 s on a loaded machine); the road graph has its own cache
(:mod:`healthopt._graph_cache`). Both live in the folder the tool owns
(:data:`healthopt.settings.CACHE_DIR`, ``HEALTHOPT_CACHE``), this one in its ``inputs``
subfolder.

A cached entry is two files:

- ``inputs-<key>.npz``, the payload: a NumPy archive of plain numeric arrays, read with
  ``allow_pickle=False`` so that loading it can never run code; text and mixed columns
  (identifiers, graph nodes, ``None``) and the geometries (WKB, hexadecimal) are one UTF-8
  JSON document. Python ints, floats and strings round-trip exactly, column order and
  dtypes are kept, so a hit gives the same frames and matrices as a build.
- ``inputs-<key>.json``, the manifest: format, version, key and the SHA-256 and size of the
  payload.

The key (:func:`cache_key`) is the SHA-256 of everything the entry depends on: the resolved
scenario sections that shape the inputs, the travel-time cutoff, the SHA-256 of every input
file the run read (embedded dataset, road file, user layers) and of the healthopt source
code itself (:func:`code_sha256`), so a changed file, setting or program never meets an
old entry. :func:`read` refuses (:class:`StaleCacheError`, the caller rebuilds) a manifest
of another format or key, a payload whose SHA-256 differs from its manifest (damaged or
edited), and a payload that does not decode to frames and matrices of consistent sizes.
The cache is as trusted as its folder: checked for damage, not signed.
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import scipy.sparse as sp
import shapely

import healthopt
from healthopt import __version__
from healthopt._files import write_atomic

FORMAT = "healthopt-inputs-cache"
#: Bump when the payload layout changes.
FORMAT_VERSION = 1

#: A manifest is a few hundred bytes; a bigger file is not one (and is not read into memory).
MANIFEST_MAX_BYTES = 1 << 16

#: Subfolder of the cache folder holding these entries.
SUBFOLDER = "inputs"

#: Plain NumPy kinds stored as arrays (bool, signed and unsigned integers, floats).
_ARRAY_KINDS = "biuf"


class StaleCacheError(Exception):
    """The cached entry cannot be used; the message says why."""


class UnsupportedValueError(Exception):
    """A value the format cannot store exactly (the inputs are then not cached)."""


@dataclass
class CachedInputs:
    """What the cache holds: the expensive part of :class:`healthopt.plans.base.Inputs`."""

    points: gpd.GeoDataFrame
    sites: gpd.GeoDataFrame
    travel_times: Any  # healthopt.traveltime.TravelTimes
    patient_minutes: dict[str, sp.csr_matrix | None] | None


# --------------------------------------------------------------------------- keys


@functools.cache
def code_sha256() -> str:
    """Return the SHA-256 of every ``.py`` file of the installed healthopt package (paths and bytes)."""
    root = Path(healthopt.__file__).resolve().parent
    digest = hashlib.sha256(__version__.encode())
    for path in sorted(root.rglob("*.py")):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def cache_key(parts: dict[str, Any]) -> str:
    """Return the entry's key: SHA-256 of ``parts`` (canonical JSON), the format and :func:`code_sha256`."""
    text = json.dumps({"format": FORMAT, "version": FORMAT_VERSION, "code": code_sha256(), **parts},
                      sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


# --------------------------------------------------------------------------- values


def _plain(values: Any) -> list[Any]:
    """Return ``values`` as a JSON list, exactly; raise :class:`UnsupportedValueError` otherwise."""
    out = []
    for v in values:
        if v is None or type(v) in (str, int, float, bool):
            out.append(v)
        else:
            raise UnsupportedValueError(f"a value of type {type(v).__name__}")
    return out


def _put_array(name: str, values: np.ndarray, arrays: dict[str, np.ndarray]) -> dict[str, Any]:
    """Store ``values`` in ``arrays`` (numeric) or return them as JSON (object); return the column spec."""
    if values.dtype.kind in _ARRAY_KINDS:
        arrays[name] = np.ascontiguousarray(values)
        return {"array": name}
    if values.dtype != object:
        raise UnsupportedValueError(f"an array of dtype {values.dtype}")
    return {"json": _plain(values.tolist())}


def _get_array(spec: dict[str, Any], arrays: Any) -> np.ndarray:
    if "array" in spec:
        return arrays[spec["array"]]
    out = np.empty(len(spec["json"]), dtype=object)
    out[:] = spec["json"]
    return out


def _put_frame(prefix: str, df: gpd.GeoDataFrame, arrays: dict[str, np.ndarray]) -> dict[str, Any]:
    if not (isinstance(df.index, pd.RangeIndex) and df.index.start == 0 and df.index.step == 1):
        raise UnsupportedValueError("a frame without a plain 0..n-1 index")
    columns = []
    for i, name in enumerate(df.columns):
        col = df[name]
        if name == df.geometry.name:
            columns.append({"name": name, "wkb": shapely.to_wkb(col.to_numpy(), hex=True).tolist()})
        else:
            columns.append({"name": name, **_put_array(f"{prefix}_c{i}", col.to_numpy(), arrays)})
    return {"columns": columns, "geometry": df.geometry.name, "crs": df.crs.to_json() if df.crs else None,
            "rows": len(df)}


def _get_frame(spec: dict[str, Any], arrays: Any) -> gpd.GeoDataFrame:
    data = {}
    for col in spec["columns"]:
        if "wkb" in col:
            data[col["name"]] = gpd.GeoSeries(shapely.from_wkb(np.asarray(col["wkb"], dtype=object)))
        else:
            data[col["name"]] = _get_array(col, arrays)
    df = gpd.GeoDataFrame(data, geometry=spec["geometry"], crs=spec["crs"])
    if len(df) != spec["rows"]:
        raise StaleCacheError("frame of inconsistent length")
    return df


def _put_csr(prefix: str, m: sp.csr_matrix, arrays: dict[str, np.ndarray]) -> dict[str, Any]:
    if not isinstance(m, sp.csr_matrix):
        raise UnsupportedValueError(f"a matrix of type {type(m).__name__}")
    for part in ("data", "indices", "indptr"):
        arrays[f"{prefix}_{part}"] = np.ascontiguousarray(getattr(m, part))
    return {"csr": prefix, "shape": list(m.shape)}


def _get_csr(spec: dict[str, Any], arrays: Any) -> sp.csr_matrix:
    p = spec["csr"]
    return sp.csr_matrix((arrays[f"{p}_data"], arrays[f"{p}_indices"], arrays[f"{p}_indptr"]),
                         shape=tuple(spec["shape"]))


# --------------------------------------------------------------------------- payloads


def encode(inputs: CachedInputs) -> bytes:
    """Return the payload bytes of ``inputs`` (an ``.npz`` archive of plain arrays and one JSON document).

    Raises
    ------
    UnsupportedValueError
        If a column or field holds a value the format cannot keep exactly.
    """
    from healthopt.traveltime import TravelTimes

    arrays: dict[str, np.ndarray] = {}
    tt = inputs.travel_times
    if type(tt) is not TravelTimes:
        raise UnsupportedValueError(f"travel times of type {type(tt).__name__}")
    fields: dict[str, Any] = {}
    for name in TravelTimes.__dataclass_fields__:
        value = getattr(tt, name)
        if isinstance(value, sp.spmatrix):
            fields[name] = _put_csr(f"tt_{name}", value, arrays)
        elif isinstance(value, np.ndarray):
            fields[name] = _put_array(f"tt_{name}", value, arrays)
        else:
            fields[name] = {"value": _plain([value])[0]}
    patient = None
    if inputs.patient_minutes is not None:
        patient = [[code, None if m is None else _put_csr(f"pm{i}", m, arrays)]
                   for i, (code, m) in enumerate(inputs.patient_minutes.items())]
    meta = {"points": _put_frame("pt", inputs.points, arrays), "sites": _put_frame("st", inputs.sites, arrays),
            "travel_times": fields, "patient_minutes": patient}
    arrays["meta"] = np.frombuffer(json.dumps(meta, ensure_ascii=False).encode("utf-8"), dtype=np.uint8)
    buffer = io.BytesIO()
    np.savez(buffer, allow_pickle=False, **arrays)
    return buffer.getvalue()


def decode(payload: bytes) -> CachedInputs:
    """Rebuild the inputs from :func:`encode` bytes (no pickle is ever read).

    Raises
    ------
    StaleCacheError
        If the payload is not a readable archive of consistent frames and matrices.
    """
    from healthopt.traveltime import TravelTimes

    try:
        with np.load(io.BytesIO(payload), allow_pickle=False) as arrays:
            meta = json.loads(arrays["meta"].tobytes().decode("utf-8"))
            points = _get_frame(meta["points"], arrays)
            sites = _get_frame(meta["sites"], arrays)
            values = {}
            for name, spec in meta["travel_times"].items():
                if "csr" in spec:
                    values[name] = _get_csr(spec, arrays)
                elif "value" in spec:
                    values[name] = spec["value"]
                else:
                    values[name] = _get_array(spec, arrays)
            tt = TravelTimes(**values)
            patient = None
            if meta["patient_minutes"] is not None:
                patient = {code: None if spec is None else _get_csr(spec, arrays)
                           for code, spec in meta["patient_minutes"]}
    except StaleCacheError:
        raise
    except Exception as exc:  # zip, NumPy, JSON, key, shape and type errors all mean a damaged payload
        raise StaleCacheError(f"payload unreadable ({type(exc).__name__})") from None
    if tt.minutes.shape != (len(sites), len(points)) or tt.pair_estimated.shape != (tt.minutes.nnz,):
        raise StaleCacheError("travel times do not match the sites and demand points")
    return CachedInputs(points, sites, tt, patient)


# --------------------------------------------------------------------------- files


def write(folder: Path, key: str, inputs: CachedInputs) -> None:
    """Write ``inputs`` under ``key`` in ``folder`` (payload first, each file atomically).

    Raises
    ------
    OSError
        If the folder cannot be created or written (the caller carries on without a cache).
    UnsupportedValueError
        If the inputs hold values the format cannot keep exactly.
    """
    payload = encode(inputs)
    record = {"format": FORMAT, "format_version": FORMAT_VERSION, "healthopt_version": __version__, "key": key,
              "payload": {"file": f"inputs-{key}.npz", "sha256": hashlib.sha256(payload).hexdigest(),
                          "bytes": len(payload)}}
    folder.mkdir(parents=True, exist_ok=True)
    write_atomic(folder / f"inputs-{key}.npz", lambda p: p.write_bytes(payload))
    text = json.dumps(record, indent=1, sort_keys=True) + "\n"
    write_atomic(folder / f"inputs-{key}.json", lambda p: p.write_text(text, encoding="utf-8"))


def read(folder: Path, key: str) -> CachedInputs | None:
    """Return the entry ``key``, or ``None`` if there is none.

    Raises
    ------
    StaleCacheError
        If an entry exists but is not this key's, or its payload fails its SHA-256 or does
        not decode; the message gives the reason.
    """
    manifest_path = folder / f"inputs-{key}.json"
    try:
        if not manifest_path.is_file():
            return None
        if manifest_path.stat().st_size > MANIFEST_MAX_BYTES:
            raise StaleCacheError("manifest too large")
        record = json.loads(manifest_path.read_text(encoding="utf-8"))
        ok = (record["format"] == FORMAT and record["format_version"] == FORMAT_VERSION and record["key"] == key
              and isinstance(record["payload"]["sha256"], str))
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as exc:
        raise StaleCacheError(f"manifest unreadable ({type(exc).__name__})") from None
    if not ok:
        raise StaleCacheError("manifest of another format or entry")
    try:
        payload = (folder / f"inputs-{key}.npz").read_bytes()  # hashed and parsed from the same bytes
    except OSError as exc:
        raise StaleCacheError(f"payload unreadable ({exc.strerror or type(exc).__name__})") from None
    if hashlib.sha256(payload).hexdigest() != record["payload"]["sha256"]:
        raise StaleCacheError("payload checksum mismatch")
    return decode(payload)
