"""Read local OpenStreetMap files into unsimplified road graphs, and interpret OSM tags.

Plumbing for :mod:`healthopt.network`, which clips, times, simplifies and caches what
these readers return. Three sources are accepted, dispatched on the file name by
:func:`detect_format`:

- an OSM "lines" layer as exported by ``ogr2ogr`` (GeoJSON, GeoPackage, ...), with the
  less common tags packed into an hstore ``other_tags`` string;
- OSM XML (``.osm``), read with :func:`osmnx.graph_from_xml`;
- OSM PBF (``.osm.pbf``), read with pyosmium (optional dependency ``osmium``).

Every reader returns one node per OSM vertex and one edge per consecutive vertex pair of
each drivable way (both directions for a two-way street), with OSMnx attribute names.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import geopandas as gpd
import networkx as nx
import numpy as np
import shapely

from healthopt import settings
from healthopt.errors import InputError

#: Tagged ``maxspeed`` values are capped at the Chinese national motorway limit so a
#: mistagged way (e.g. a rail speed of 250 on a shared way) cannot distort the model.
#: Applied by :func:`healthopt.network.add_speeds`; it lives here, with the tag parsing,
#: so that :mod:`healthopt._graph_cache` can record it without importing the network.
MAXSPEED_CAP_KPH: float = 120.0

#: Access values that close a way to ambulances and ordinary cars.
_DENY_ACCESS: frozenset[str] = frozenset({"no", "private", "agricultural", "forestry"})

#: Access keys from most to least specific; the first one present decides (OSM rule).
#: ``emergency`` comes first because ambulances may use emergency-only links.
_ACCESS_KEYS: tuple[str, ...] = ("emergency", "motorcar", "motor_vehicle", "vehicle", "access")

#: ``service=*`` values that are not through routes for an ambulance.
_DENY_SERVICE: frozenset[str] = frozenset({"parking_aisle", "drive-through"})

#: ``oneway`` values meaning one-way, and the subset meaning against the digitised order.
_ONEWAY_VALUES: frozenset[str] = frozenset({"yes", "true", "1", "-1", "reverse"})
_REVERSED_VALUES: frozenset[str] = frozenset({"-1", "reverse"})

#: Classes that are one-way unless tagged otherwise (OSM convention).
_IMPLIED_ONEWAY_HIGHWAYS: frozenset[str] = frozenset({"motorway"})

#: Tags copied onto edges (besides highway, name, oneway, maxspeed), as OSMnx does.
_EDGE_TAGS: tuple[str, ...] = ("lanes", "ref", "bridge", "tunnel", "junction", "access")

_LINES_SUFFIXES = frozenset({".geojson", ".json", ".gpkg", ".shp", ".fgb", ".geojsonl"})
_XML_SUFFIXES = frozenset({".osm", ".xml"})

_HSTORE_PAIR = re.compile(r'"((?:[^"\\]|\\.)*)"\s*=>\s*(?:"((?:[^"\\]|\\.)*)"|(NULL))', re.DOTALL)
_UNESCAPE = re.compile(r"\\(.)", re.DOTALL)
_SPEED_TOKEN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(km/h|kmh|kph|mph|knots)?\s*$", re.I)


# --------------------------------------------------------------------------- tags


def parse_hstore(text: str | None) -> dict[str, str]:
    """Parse an ogr2ogr ``other_tags`` hstore string into a dict.

    Parameters
    ----------
    text : str or None
        String like ``"oneway"=>"yes","maxspeed"=>"60"``; backslash escapes are honoured
        and ``NULL`` values are skipped.

    Returns
    -------
    dict of str to str
        Tag key to value; empty for ``None`` or empty input.
    """
    if not text or not isinstance(text, str):
        return {}
    tags = {}
    for key, value, null in _HSTORE_PAIR.findall(text):
        if not null:
            tags[_UNESCAPE.sub(r"\1", key)] = _UNESCAPE.sub(r"\1", value)
    return tags


def parse_maxspeed(value: Any) -> float | None:
    """Parse an OSM ``maxspeed`` value to km/h.

    Parameters
    ----------
    value : str, number, list or None
        ``"60"``, ``"60 km/h"``, ``"30 mph"``, ``"40;60"`` or a list of such values
        (lists come from simplified edges); implicit values such as ``"CN:urban"``,
        ``"none"`` or ``"walk"`` are not numbers and give ``None``.

    Returns
    -------
    float or None
        Mean of the parsed values in km/h (as OSMnx does for lists), or ``None``.
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, int | float):
        return float(value) if value > 0 else None
    parts = value if isinstance(value, list | tuple) else re.split(r"[;|,]", str(value))
    speeds = []
    for part in parts:
        match = _SPEED_TOKEN.match(str(part))
        if not match:
            continue
        number, unit = float(match.group(1)), (match.group(2) or "").lower()
        factor = {"mph": 1.609344, "knots": 1.852}.get(unit, 1.0)
        if number > 0:
            speeds.append(number * factor)
    return float(np.mean(speeds)) if speeds else None


def is_drivable(tags: Mapping[str, Any], drivable: Iterable[str]) -> bool:
    """Tell whether an OSM way is open to ambulances.

    Parameters
    ----------
    tags : mapping
        The way's tags (``highway`` plus anything else known).
    drivable : iterable of str
        Highway classes kept.

    Returns
    -------
    bool
        ``True`` for a drivable class that is not an area, not a parking aisle and not
        closed by the most specific access tag present.
    """
    if tags.get("highway") not in set(drivable):
        return False
    if str(tags.get("area", "no")).lower() == "yes":
        return False
    if str(tags.get("service", "")).lower() in _DENY_SERVICE:
        return False
    for key in _ACCESS_KEYS:
        value = tags.get(key)
        if value is not None and isinstance(value, str):
            return value.lower() not in _DENY_ACCESS
    return True


def _oneway_direction(tags: Mapping[str, Any]) -> int:
    """Return 0 for two-way, 1 for one-way along the vertex order, -1 for reversed."""
    value = str(tags.get("oneway", "")).strip().lower()
    if value in _REVERSED_VALUES:
        return -1
    if value in _ONEWAY_VALUES:
        return 1
    if value in {"no", "false", "0"}:
        return 0
    implied = tags.get("junction") in {"roundabout", "circular"}
    return 1 if implied or tags.get("highway") in _IMPLIED_ONEWAY_HIGHWAYS else 0


def _osmid(value: Any, fallback: int) -> int | str:
    """Return an integer OSM id where possible (OSMnx convention), else the raw value."""
    try:
        return int(value)
    except (TypeError, ValueError):
        return fallback if value is None else str(value)


# --------------------------------------------------------------------------- readers


def detect_format(path: Path) -> str:
    """Return ``"lines"``, ``"xml"`` or ``"pbf"`` from the file name, or raise InputError."""
    name = path.name.lower()
    if name.endswith(".pbf"):
        return "pbf"
    if path.suffix.lower() in _XML_SUFFIXES:
        return "xml"
    if path.suffix.lower() in _LINES_SUFFIXES:
        return "lines"
    raise InputError(
        path,
        "format",
        f"unknown road network file type '{path.suffix}': expected an OSM lines layer "
        "(.geojson/.gpkg/.shp), OSM XML (.osm) or OSM PBF (.osm.pbf)",
    )


def _graph_from_ways(
    coords: np.ndarray, ways: list[tuple[dict[str, Any], np.ndarray]]
) -> nx.MultiDiGraph:
    """Build the unsimplified graph: one edge per consecutive vertex pair of each way.

    Parameters
    ----------
    coords : ndarray of shape (n, 2)
        Lon/lat of node ``i`` (node ids are the row numbers).
    ways : list of (attrs, node_index_array)
        Edge attributes of each way and its vertices in digitised order.

    Returns
    -------
    networkx.MultiDiGraph
        Graph with ``x``/``y`` nodes and ``length``/``oneway``/``reversed`` edges.
    """
    from osmnx.distance import great_circle  # imported here: a cached graph needs no OSMnx

    G = nx.MultiDiGraph(crs=settings.CRS_GEOGRAPHIC)
    used = np.unique(np.concatenate([n for _, n in ways])) if ways else np.empty(0, int)
    G.add_nodes_from((int(i), {"x": float(coords[i, 0]), "y": float(coords[i, 1])}) for i in used)
    for attrs, nodes in ways:
        direction = attrs.pop("_direction")
        if direction == -1:
            nodes = nodes[::-1]
        u, v = nodes[:-1], nodes[1:]
        keep = u != v  # repeated vertices would give zero-length self-loops
        u, v = u[keep], v[keep]
        lengths = great_circle(coords[u, 1], coords[u, 0], coords[v, 1], coords[v, 0])
        attrs["oneway"] = direction != 0
        for a, b, length in zip(
            u.tolist(), v.tolist(), np.atleast_1d(lengths).tolist(), strict=True
        ):
            G.add_edge(a, b, **attrs, reversed=False, length=length)
            if direction == 0:
                G.add_edge(b, a, **attrs, reversed=True, length=length)
    return G


def _way_attrs(tags: Mapping[str, Any], osmid: int | str) -> dict[str, Any]:
    """Return the edge attributes kept from a way's tags (OSMnx-style names)."""
    attrs: dict[str, Any] = {"osmid": osmid, "highway": tags["highway"]}
    for key in ("name", "maxspeed", *_EDGE_TAGS):
        value = tags.get(key)
        if value is not None and value == value and value != "":
            attrs[key] = value
    attrs["_direction"] = _oneway_direction(tags)
    return attrs


def _read_lines(path: Path, drivable: frozenset[str]) -> tuple[nx.MultiDiGraph, int, int]:
    """Read an ogr2ogr OSM lines layer; return (graph, ways read, ways kept)."""
    try:
        gdf = gpd.read_file(path)
    except Exception as exc:  # pyogrio raises several types for unreadable files
        raise InputError(path, "format", f"cannot read as a GIS layer ({exc})") from exc
    if "highway" not in gdf.columns:
        raise InputError(path, "highway", "column missing: not an OSM lines export")
    if gdf.crs is not None and not gdf.crs.equals(settings.CRS_GEOGRAPHIC):
        gdf = gdf.to_crs(settings.CRS_GEOGRAPHIC)
    gdf = gdf[gdf.geometry.notna() & ~gdf.geometry.is_empty].explode(index_parts=False)
    gdf = gdf[gdf.geom_type == "LineString"]
    # plain columns (e.g. a custom export with an "oneway" column) override other_tags
    tag_columns = [c for c in gdf.columns if c not in {"geometry", "other_tags", "z_order"}]
    records = gdf[tag_columns].to_dict("records")
    other = gdf["other_tags"].tolist() if "other_tags" in gdf.columns else [None] * len(gdf)
    xy, part = shapely.get_coordinates(gdf.geometry.to_numpy(), return_index=True)
    _check_lonlat(path, xy)
    # one node per distinct vertex: ways share vertex coordinates at junctions
    coords, inverse = np.unique(xy, axis=0, return_inverse=True)
    splits = np.split(inverse.ravel(), np.flatnonzero(np.diff(part)) + 1)
    ways = []
    for i, (rec, hstore) in enumerate(zip(records, other, strict=True)):
        tags = parse_hstore(hstore)
        tags.update({k: v for k, v in rec.items() if isinstance(v, str) and v})
        if is_drivable(tags, drivable) and len(splits[i]) > 1:
            ways.append((_way_attrs(tags, _osmid(rec.get("osm_id"), i)), splits[i]))
    return _graph_from_ways(coords, ways), len(records), len(ways)


def _check_lonlat(path: Path, xy: np.ndarray) -> None:
    """Refuse vertices that cannot be degrees (a lines layer saved in metres without its CRS)."""
    bad = (np.abs(xy[:, 0]) > 180) | (np.abs(xy[:, 1]) > 90)
    if bad.any():
        x, y = xy[np.flatnonzero(bad)[0]]
        raise InputError(
            path, "geometry",
            f"coordinates are not longitude/latitude (a vertex at {x:.1f}, {y:.1f}): OSM data is WGS84; "
            "reproject the layer to EPSG:4326 or keep its crs in the file",
        )


def _read_pbf(path: Path, drivable: frozenset[str]) -> tuple[nx.MultiDiGraph, int, int]:
    """Read an OSM PBF file with pyosmium; return (graph, ways read, ways kept)."""
    try:
        import osmium
        import osmium.filter
    except ImportError as exc:
        raise InputError(
            path, "format", "reading .osm.pbf needs pyosmium: pip install 'healthopt[pbf]'"
        ) from exc
    processor = (
        osmium.FileProcessor(str(path), osmium.osm.NODE | osmium.osm.WAY)
        .with_locations()
        .with_filter(osmium.filter.EntityFilter(osmium.osm.WAY))
        .with_filter(osmium.filter.KeyFilter("highway"))
    )
    node_index: dict[int, int] = {}
    lonlat: list[tuple[float, float]] = []
    ways, read = [], 0
    try:
        for way in processor:
            read += 1
            tags = {t.k: t.v for t in way.tags}
            if not is_drivable(tags, drivable):
                continue
            idx = []
            for n in way.nodes:  # type: ignore[union-attr]  # the filters above pass ways only
                if not n.location.valid():
                    continue  # node outside the extract
                if n.ref not in node_index:
                    node_index[n.ref] = len(lonlat)
                    lonlat.append((n.lon, n.lat))
                idx.append(node_index[n.ref])
            if len(idx) > 1:
                ways.append((_way_attrs(tags, int(way.id)), np.asarray(idx)))
    except RuntimeError as exc:  # libosmium reports corrupt input as RuntimeError
        raise InputError(path, "format", f"cannot read as OSM PBF ({exc})") from exc
    G = _graph_from_ways(np.asarray(lonlat, dtype=float).reshape(-1, 2), ways)
    # keep OSM node ids, as OSMnx does (the row numbers were only for array work)
    mapping = {i: ref for ref, i in node_index.items()}
    return nx.relabel_nodes(G, mapping), read, len(ways)


def _read_xml(path: Path, drivable: frozenset[str]) -> tuple[nx.MultiDiGraph, int, int]:
    """Read OSM XML with OSMnx, then drop non-drivable edges; return (graph, ways, kept)."""
    import osmnx as ox  # only when an XML extract is read (the cached graph needs none of it)

    extra_tags = ["service", "motor_vehicle", "motorcar", "vehicle", "emergency", "area"]
    saved = list(ox.settings.useful_tags_way)
    ox.settings.useful_tags_way = list(dict.fromkeys(saved + extra_tags))
    try:
        G = ox.graph_from_xml(path, bidirectional=False, simplify=False, retain_all=True)
    except Exception as exc:  # OSMnx surfaces XML errors with various types
        raise InputError(path, "format", f"cannot read as OSM XML ({exc})") from exc
    finally:
        ox.settings.useful_tags_way = saved
    ways_read = len({d.get("osmid") for _, _, d in G.edges(data=True)})
    drop = []
    for u, v, k, d in G.edges(keys=True, data=True):
        # OSMnx turned the oneway tag into a bool, so an untagged motorway shows up as a
        # two-way way: remove its reversed copy to apply the implied one-way rule
        implied = d.get("highway") in _IMPLIED_ONEWAY_HIGHWAYS and d.get("reversed")
        if not is_drivable(d, drivable) or implied:
            drop.append((u, v, k))
    G.remove_edges_from(drop)
    G.remove_nodes_from([n for n in list(G.nodes) if G.degree(n) == 0])
    for _, _, d in G.edges(data=True):
        for key in extra_tags:
            d.pop(key, None)
    ways_kept = len({d.get("osmid") for _, _, d in G.edges(data=True)})
    return G, ways_read, ways_kept


_READERS = {"lines": _read_lines, "xml": _read_xml, "pbf": _read_pbf}


def read_osm(path: Path, *, fmt: str, drivable: frozenset[str]) -> tuple[nx.MultiDiGraph, int, int]:
    """Read the drivable ways of a local OSM file as an unsimplified graph.

    Parameters
    ----------
    path : Path
        The road file (already checked to be a regular file of a readable size).
    fmt : str
        ``"lines"``, ``"xml"`` or ``"pbf"``, as returned by :func:`detect_format`.
    drivable : frozenset of str
        Highway classes kept.

    Returns
    -------
    tuple of (networkx.MultiDiGraph, int, int)
        The graph, the number of ways read and the number of drivable ways kept.
    """
    return _READERS[fmt](path, drivable)
