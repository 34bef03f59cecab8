"""The on-disk road-graph cache: plain arrays and JSON, never pickle.

A cached graph is two files in the cache folder:

- ``<key>.npz``, the payload: a NumPy archive of plain arrays, read with
  ``allow_pickle=False`` so that loading it can never run code. It holds the node ids and
  coordinates, the edge end points and keys, every attribute that is a float on every edge
  (``length``, ``travel_time``, ``speed_kph``) as float64 columns, the edge geometries as a
  coordinate array with offsets, and everything else (names, OSM ids, road classes, lists
  of those, the graph attributes) as one UTF-8 JSON document. Python floats round-trip
  through both exactly, and nodes, edges and attribute keys keep their order, so a graph
  read back is identical to the graph written.
- ``<key>.json``, the manifest: format version, tool version, the SHA-256 and size of the
  source file, every setting that shaped the graph and its SHA-256, and the SHA-256 and size
  of the payload.

:func:`read` accepts a cached graph only if the manifest matches the current source hash
and settings, the payload matches its recorded hash (a bit flip, a truncated or edited
file), and the travel times agree with the lengths, speeds and factors on every edge (an
altered travel time that came with a recomputed manifest). Anything else raises
:class:`StaleCacheError` with the reason, and the caller rebuilds.

:func:`cache_key` names the two files and :func:`cache_settings` lists the settings the
manifest records.

The cache is a convenience, as trusted as its folder: it is checked for damage and for
edits that break its own arithmetic, not signed.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np
import shapely
from shapely.geometry import LineString
from shapely.geometry.base import BaseGeometry

from healthopt import __version__
from healthopt._files import file_sha256, write_atomic
from healthopt._osm import MAXSPEED_CAP_KPH

#: Name of the cache format in the manifest; bump :data:`FORMAT_VERSION` when it changes.
#: Bump when the graph build logic (:mod:`healthopt.network`, :mod:`healthopt._osm`) changes
#: so stale cached graphs are not reused.
CACHE_VERSION: int = 2

FORMAT = "healthopt-graph-cache"
FORMAT_VERSION = 2

#: A manifest is a few kilobytes; a bigger file is not one (and is not read into memory).
MANIFEST_MAX_BYTES = 1 << 20

#: Relative tolerance of the travel-time check (the rebuild arithmetic differs only by rounding).
_TIME_RTOL = 1e-9


class StaleCacheError(Exception):
    """The cached graph cannot be used; the message says why (it becomes the summary note)."""


class UnsupportedGraphError(Exception):
    """The graph holds a value the format cannot store exactly (it is then not cached)."""


# --------------------------------------------------------------------------- values


def _encode(value: Any) -> Any:
    """Return ``value`` as JSON data, exactly; raise :class:`UnsupportedGraphError` otherwise."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int | float) and type(value) in (int, float):
        return value
    if isinstance(value, list):
        return [_encode(v) for v in value]
    if isinstance(value, BaseGeometry):
        return {"wkb": shapely.to_wkb(value, hex=True)}
    raise UnsupportedGraphError(f"a value of type {type(value).__name__}")


def _decode(value: Any) -> Any:
    if isinstance(value, list):
        return [_decode(v) for v in value]
    if isinstance(value, dict):
        return shapely.from_wkb(value["wkb"])
    return value


def _layouts(dicts: list[dict[str, Any]]) -> tuple[list[list[str]], np.ndarray]:
    """Return the distinct key orders and, per element, the index of its own."""
    index: dict[tuple[str, ...], int] = {}
    ids = np.fromiter((index.setdefault(tuple(d), len(index)) for d in dicts), dtype=np.int32, count=len(dicts))
    return [list(keys) for keys in index], ids


def _float_columns(dicts: list[dict[str, Any]]) -> list[str]:
    """Return the attributes that every element has, as a Python float."""
    if not dicts:
        return []
    names = [k for k, v in dicts[0].items() if type(v) is float]
    return [k for k in names if all(type(d.get(k)) is float for d in dicts)]


def _plain_lines(values: list[Any]) -> bool:
    """Tell whether every value is a non-empty 2-D LineString (stored as coordinate arrays)."""
    return all(type(v) is LineString and not v.is_empty and not v.has_z for v in values)


def _table(prefix: str, dicts: list[dict[str, Any]], arrays: dict[str, np.ndarray],
           geometry: str | None = None) -> dict[str, Any]:
    """Store the attribute dicts of nodes or edges in ``arrays``; return their JSON part."""
    layouts, arrays[f"{prefix}_layout"] = _layouts(dicts)
    floats = _float_columns(dicts)
    for i, name in enumerate(floats):
        arrays[f"{prefix}_float{i}"] = np.fromiter((d[name] for d in dicts), dtype=np.float64, count=len(dicts))
    geoms = [d[geometry] for d in dicts if geometry in d] if geometry else []
    lines = bool(geoms) and _plain_lines(geoms)
    if lines:
        has = np.fromiter((geometry in d for d in dicts), dtype=bool, count=len(dicts))
        coords, part = shapely.get_coordinates(np.asarray(geoms, dtype=object), return_index=True)
        arrays[f"{prefix}_geom_mask"] = has
        arrays[f"{prefix}_geom_coords"] = coords.astype(np.float64)
        arrays[f"{prefix}_geom_part"] = part.astype(np.int64)
    skip = set(floats) | ({geometry} if lines else set())
    values = [[_encode(v) for k, v in d.items() if k not in skip] for d in dicts]
    return {"layouts": layouts, "floats": floats, "lines": geometry if lines else None, "values": values}


def _untable(prefix: str, spec: dict[str, Any], arrays: Any, count: int) -> list[dict[str, Any]]:
    """Rebuild the attribute dicts stored by :func:`_table`."""
    layouts = [list(keys) for keys in spec["layouts"]]
    layout = arrays[f"{prefix}_layout"]
    floats = {name: arrays[f"{prefix}_float{i}"].tolist() for i, name in enumerate(spec["floats"])}
    geoms: list[Any] = [None] * count
    if spec["lines"]:
        mask = arrays[f"{prefix}_geom_mask"]
        lines = shapely.linestrings(arrays[f"{prefix}_geom_coords"], indices=arrays[f"{prefix}_geom_part"])
        for i, geom in zip(np.flatnonzero(mask).tolist(), lines.tolist(), strict=True):
            geoms[i] = geom
    values = spec["values"]
    if len(layout) != count or len(values) != count or any(len(v) != count for v in floats.values()):
        raise StaleCacheError("payload arrays of inconsistent lengths")
    out = []
    for i in range(count):
        stored = iter(values[i])
        d: dict[str, Any] = {}
        for key in layouts[layout[i]]:
            if key in floats:
                d[key] = floats[key][i]
            elif key == spec["lines"]:
                d[key] = geoms[i]
            else:
                d[key] = _decode(next(stored))
        out.append(d)
    return out


# --------------------------------------------------------------------------- graphs


def encode_graph(G: nx.MultiDiGraph) -> bytes:
    """Return the payload bytes of ``G`` (an ``.npz`` archive of plain arrays).

    Raises
    ------
    UnsupportedGraphError
        If a node id is not an integer or an attribute is not a plain value, list or geometry.
    """
    nodes = list(G.nodes)
    if not all(type(n) is int and -(2**63) <= n < 2**63 for n in nodes):
        raise UnsupportedGraphError("node ids that are not 64-bit integers")
    edges = list(G.edges(keys=True, data=True))
    if not all(type(k) is int for _, _, k, _ in edges):
        raise UnsupportedGraphError("edge keys that are not integers")
    graph_attrs = {k: v for k, v in G.graph.items() if k != "cache"}
    try:
        if json.loads(json.dumps(graph_attrs)) != graph_attrs:  # tuples, non-string keys, ...
            raise UnsupportedGraphError("graph attributes that JSON does not keep exactly")
    except (TypeError, ValueError) as exc:
        raise UnsupportedGraphError(f"graph attributes that are not JSON ({exc})") from None
    arrays: dict[str, np.ndarray] = {
        "node_id": np.asarray(nodes, dtype=np.int64),
        "edge_u": np.asarray([u for u, _, _, _ in edges], dtype=np.int64),
        "edge_v": np.asarray([v for _, v, _, _ in edges], dtype=np.int64),
        "edge_key": np.asarray([k for _, _, k, _ in edges], dtype=np.int64),
    }
    meta = {
        "graph": graph_attrs,
        "nodes": _table("node", [G.nodes[n] for n in nodes], arrays),
        "edges": _table("edge", [d for _, _, _, d in edges], arrays, geometry="geometry"),
    }
    arrays["meta"] = np.frombuffer(json.dumps(meta, ensure_ascii=False).encode("utf-8"), dtype=np.uint8)
    buffer = io.BytesIO()
    np.savez(buffer, allow_pickle=False, **arrays)
    return buffer.getvalue()


def decode_graph(payload: bytes) -> nx.MultiDiGraph:
    """Rebuild the graph from :func:`encode_graph` bytes (no pickle is ever read).

    Raises
    ------
    StaleCacheError
        If the payload is not a readable archive of the expected arrays.
    """
    try:
        with np.load(io.BytesIO(payload), allow_pickle=False) as arrays:
            meta = json.loads(arrays["meta"].tobytes().decode("utf-8"))
            node_ids = arrays["node_id"].tolist()
            u, v, k = (arrays[f"edge_{n}"].tolist() for n in ("u", "v", "key"))
            node_attrs = _untable("node", meta["nodes"], arrays, len(node_ids))
            edge_attrs = _untable("edge", meta["edges"], arrays, len(u))
    except StaleCacheError:
        raise
    except Exception as exc:  # zip, NumPy, JSON and key errors all mean a damaged payload
        raise StaleCacheError(f"payload unreadable ({type(exc).__name__})") from None
    G = nx.MultiDiGraph(**meta["graph"])
    G.add_nodes_from(zip(node_ids, node_attrs, strict=True))
    # insertion in the stored order gives the same adjacency order, hence the same iteration order
    G.add_edges_from(zip(u, v, k, edge_attrs, strict=True))
    return G


def check_travel_times(G: nx.MultiDiGraph) -> None:
    """Raise :class:`StaleCacheError` unless every travel time follows from the edge's length, speed and factors."""
    try:
        factor = G.graph["congestion"] / G.graph["ambulance_speed_factor"]
        rows = [(d["length"], d["speed_kph"], d["travel_time"]) for _, _, d in G.edges(data=True)]
    except (KeyError, TypeError, ZeroDivisionError):
        raise StaleCacheError("travel-time attributes missing") from None
    if not rows:
        return
    length, speed, seconds = np.asarray(rows, dtype=float).T
    expected = length / (speed / 3.6) * factor
    if not (np.all(np.isfinite(seconds)) and np.allclose(seconds, expected, rtol=_TIME_RTOL, atol=0.0)):
        raise StaleCacheError("travel times do not match the edge lengths and speeds")


# --------------------------------------------------------------------------- files


def manifest(*, key: str, source: Path, source_sha256: str, settings: dict[str, Any],
             payload: bytes, G: nx.MultiDiGraph) -> dict[str, Any]:
    """Return the manifest of a cached graph (see the module docstring)."""
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "healthopt_version": __version__,
        "key": key,
        "source": {"path": str(source), "sha256": source_sha256, "bytes": source.stat().st_size},
        "settings": settings,
        "settings_sha256": settings_sha256(settings),
        "payload": {"file": f"{key}.npz", "sha256": hashlib.sha256(payload).hexdigest(), "bytes": len(payload)},
        "graph": {"nodes": len(G), "edges": G.number_of_edges()},
    }


def settings_sha256(settings: dict[str, Any]) -> str:
    """Return the SHA-256 of the settings that shaped a graph (canonical JSON)."""
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()


def cache_settings(
    *,
    boundary: BaseGeometry | None,
    speeds: Mapping[str, float],
    ambulance_speed_factor: float,
    congestion: float,
) -> dict[str, Any]:
    """Return every setting that shapes a built graph, as recorded in the cache manifest.

    The study area enters as the SHA-256 of its WKB (a detailed boundary would bloat the
    manifest); :data:`CACHE_VERSION` stands for the build logic itself.

    Parameters
    ----------
    boundary : shapely geometry or None
        Study area in WGS84, as clipped by :func:`healthopt.network.build_graph`.
    speeds : mapping
        The complete class speed table (km/h).
    ambulance_speed_factor, congestion : float
        The travel-time factors.

    Returns
    -------
    dict
        JSON-ready settings; :func:`settings_sha256` hashes them.
    """
    wkb = None if boundary is None else shapely.to_wkb(boundary, hex=True)
    return {
        "version": CACHE_VERSION,
        "maxspeed_cap": MAXSPEED_CAP_KPH,
        "speeds": dict(sorted((str(k), float(v)) for k, v in speeds.items())),
        "ambulance_speed_factor": float(ambulance_speed_factor),
        "congestion": float(congestion),
        "boundary_sha256": None if wkb is None else hashlib.sha256(wkb.encode()).hexdigest(),
    }


def cache_key(
    path: Path,
    *,
    boundary: BaseGeometry | None,
    speeds: Mapping[str, float],
    ambulance_speed_factor: float,
    congestion: float,
    source_sha256: str | None = None,
) -> str:
    """Return the cache file stem: source-file hash plus a hash of every build setting.

    Parameters
    ----------
    path : Path
        The road file.
    boundary, speeds, ambulance_speed_factor, congestion
        As for :func:`cache_settings`.
    source_sha256 : str, optional
        SHA-256 of ``path``; saves hashing the file again when the caller has it.

    Returns
    -------
    str
        ``graph-<20 hex of the source hash>-<16 hex of the settings hash>``.
    """
    params = cache_settings(boundary=boundary, speeds=speeds, ambulance_speed_factor=ambulance_speed_factor,
                            congestion=congestion)
    source = source_sha256 or file_sha256(path)
    return f"graph-{source[:20]}-{settings_sha256(params)[:16]}"


def write(folder: Path, key: str, G: nx.MultiDiGraph, *, source: Path, source_sha256: str,
          settings: dict[str, Any]) -> None:
    """Write ``G`` and its manifest to ``folder`` (payload first, each file atomically).

    Raises
    ------
    OSError
        If the folder cannot be created or written (the caller carries on without a cache).
    UnsupportedGraphError
        If the graph holds values the format cannot keep exactly.
    """
    payload = encode_graph(G)
    record = manifest(key=key, source=source, source_sha256=source_sha256, settings=settings, payload=payload, G=G)
    write_atomic(folder / f"{key}.npz", lambda p: p.write_bytes(payload))
    text = json.dumps(record, indent=1, sort_keys=True) + "\n"
    write_atomic(folder / f"{key}.json", lambda p: p.write_text(text, encoding="utf-8"))


def read(folder: Path, key: str, *, source_sha256: str, settings: dict[str, Any]) -> nx.MultiDiGraph | None:
    """Return the cached graph ``key``, or ``None`` if there is none.

    Raises
    ------
    StaleCacheError
        If a cached copy exists but does not match its source, its settings or its own
        hashes, or is unreadable; the message gives the reason.
    """
    manifest_path = folder / f"{key}.json"
    try:
        if not manifest_path.is_file():
            return None
        if manifest_path.stat().st_size > MANIFEST_MAX_BYTES:
            raise StaleCacheError("manifest too large")
        record = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise StaleCacheError(f"manifest unreadable ({type(exc).__name__})") from None
    _check_manifest(record, key, source_sha256, settings)
    try:
        payload = (folder / f"{key}.npz").read_bytes()  # hashed and parsed from the same bytes
    except OSError as exc:
        raise StaleCacheError(f"payload unreadable ({exc.strerror or type(exc).__name__})") from None
    if hashlib.sha256(payload).hexdigest() != record["payload"]["sha256"]:
        raise StaleCacheError("payload checksum mismatch")
    G = decode_graph(payload)
    if (len(G), G.number_of_edges()) != (record["graph"].get("nodes"), record["graph"].get("edges")):
        raise StaleCacheError("payload size differs from the manifest")
    if not _same_settings(G, settings):
        raise StaleCacheError("graph attributes differ from the settings")
    check_travel_times(G)
    return G


def _check_manifest(record: Any, key: str, source_sha256: str, settings: dict[str, Any]) -> None:
    try:
        if record["format"] != FORMAT or record["format_version"] != FORMAT_VERSION:
            raise StaleCacheError(f"cache format {record.get('format_version')!r}, expected {FORMAT_VERSION}")
        if record["key"] != key:
            raise StaleCacheError("manifest of another graph")
        if record["source"]["sha256"] != source_sha256:
            raise StaleCacheError("source file changed")
        if record["settings"] != settings or record["settings_sha256"] != settings_sha256(settings):
            raise StaleCacheError("settings changed")
        if not isinstance(record["payload"]["sha256"], str) or not isinstance(record["graph"], dict):
            raise StaleCacheError("manifest incomplete")
    except (KeyError, TypeError, AttributeError):
        raise StaleCacheError("manifest incomplete") from None


def _same_settings(G: nx.MultiDiGraph, settings: dict[str, Any]) -> bool:
    speeds = G.graph.get("speeds_kph")
    return (isinstance(speeds, dict) and speeds == settings["speeds"]
            and _close(G.graph.get("ambulance_speed_factor"), settings["ambulance_speed_factor"])
            and _close(G.graph.get("congestion"), settings["congestion"]))


def _close(a: Any, b: Any) -> bool:
    return isinstance(a, int | float) and isinstance(b, int | float) and math.isclose(a, b, rel_tol=0, abs_tol=0)
