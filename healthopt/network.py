"""Build, cache and summarise the drivable road network from local OpenStreetMap files.

The graph follows OSMnx conventions: a ``networkx.MultiDiGraph`` with graph attribute
``crs="EPSG:4326"``, nodes carrying ``x``/``y`` (lon/lat) and edges carrying ``osmid``,
``highway``, ``name``, ``oneway``, ``length`` (m), ``maxspeed`` (where tagged),
``speed_kph``, ``travel_time`` (s) and, after simplification, ``geometry``.

Three local sources are accepted, dispatched on the file name:

- an OSM "lines" layer as exported by ``ogr2ogr`` (GeoJSON, GeoPackage, ...), with the
  less common tags packed into an hstore ``other_tags`` string;
- OSM XML (``.osm``), read with :func:`osmnx.graph_from_xml`;
- OSM PBF (``.osm.pbf``), read with pyosmium (optional dependency ``osmium``).

Every source becomes an unsimplified graph (one node per OSM vertex, one edge per
consecutive vertex pair), is clipped to the study area, receives speeds and travel
times per segment, and is then simplified with :func:`osmnx.simplify_graph` and reduced
to its largest strongly connected component.
"""

from __future__ import annotations

import hashlib
import json
import math
import pickle
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import networkx as nx
import numpy as np
import osmnx as ox
import shapely
from shapely.geometry.base import BaseGeometry

from healthopt import settings
from healthopt._files import file_sha256, write_pickle
from healthopt.errors import InputError

#: Bump when the build logic changes so stale cached graphs are not reused.
CACHE_VERSION: int = 1

#: Tagged ``maxspeed`` values are capped at the Chinese national motorway limit so a
#: mistagged way (e.g. a rail speed of 250 on a shared way) cannot distort the model.
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

#: Road classes by importance, used for candidate-site ranking and summaries.
HIGHWAY_RANK: dict[str, int] = {
    "motorway": 9,
    "trunk": 8,
    "primary": 7,
    "secondary": 6,
    "tertiary": 5,
    "motorway_link": 4,
    "trunk_link": 4,
    "primary_link": 4,
    "secondary_link": 3,
    "tertiary_link": 3,
    "unclassified": 2,
    "road": 2,
    "residential": 1,
    "living_street": 0,
    "service": 0,
}

_LINES_SUFFIXES = frozenset({".geojson", ".json", ".gpkg", ".shp", ".fgb", ".geojsonl"})
_XML_SUFFIXES = frozenset({".osm", ".xml"})

_HSTORE_PAIR = re.compile(r'"((?:[^"\\]|\\.)*)"\s*=>\s*(?:"((?:[^"\\]|\\.)*)"|(NULL))', re.DOTALL)
_UNESCAPE = re.compile(r"\\(.)", re.DOTALL)
_SPEED_TOKEN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(km/h|kmh|kph|mph|knots)?\s*$", re.I)


@dataclass
class BuildReport:
    """What the graph build kept and dropped.

    Attributes are plain numbers so the report pickles and serialises to JSON as a dict
    (it is stored as ``G.graph["build_report"]``).
    """

    source: str
    source_sha256: str
    source_format: str
    ways_read: int = 0
    ways_drivable: int = 0
    clipped: bool = False
    nodes_before_scc: int = 0
    edges_before_scc: int = 0
    km_before_scc: float = 0.0
    components: int = 0
    nodes_dropped: int = 0
    edges_dropped: int = 0
    km_dropped: float = 0.0
    nodes: int = 0
    edges: int = 0
    road_km: float = 0.0
    build_seconds: float = 0.0
    notes: list[str] = field(default_factory=list)


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


def _detect_format(path: Path) -> str:
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
        lengths = ox.distance.great_circle(coords[u, 1], coords[u, 0], coords[v, 1], coords[v, 0])
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
            for n in way.nodes:
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


# --------------------------------------------------------------------------- steps


def _boundary_geometry(boundary: Any) -> BaseGeometry | None:
    """Return the study area as one WGS84 shapely geometry (or ``None``)."""
    if boundary is None:
        return None
    if isinstance(boundary, gpd.GeoDataFrame | gpd.GeoSeries):
        if boundary.crs is not None:
            boundary = boundary.to_crs(settings.CRS_GEOGRAPHIC)
        return shapely.union_all(boundary.geometry.to_numpy())
    if isinstance(boundary, BaseGeometry):
        return boundary
    raise InputError(None, "boundary", "study area must be a shapely polygon or a GeoDataFrame")


def _clip(G: nx.MultiDiGraph, polygon: BaseGeometry) -> nx.MultiDiGraph:
    """Keep the vertices inside ``polygon`` (edges crossing it end at the last vertex in)."""
    nodes = np.fromiter(G.nodes, dtype=np.int64, count=len(G))
    x = np.fromiter((G.nodes[n]["x"] for n in nodes), float, len(nodes))
    y = np.fromiter((G.nodes[n]["y"] for n in nodes), float, len(nodes))
    inside = shapely.contains_xy(polygon, x, y) | shapely.intersects_xy(polygon.boundary, x, y)
    return G.subgraph(nodes[inside].tolist()).copy()


def resolve_speeds(speeds: Mapping[str, float] | None) -> dict[str, float]:
    """Merge user speeds (km/h by highway class) over the defaults and validate them.

    Parameters
    ----------
    speeds : mapping or None
        Overrides of :data:`healthopt.settings.DEFAULT_SPEEDS_KPH`; new classes become
        drivable.

    Returns
    -------
    dict of str to float
        The complete, sorted speed table.
    """
    merged = dict(settings.DEFAULT_SPEEDS_KPH)
    for key, value in (speeds or {}).items():
        try:
            value = float(value)
        except (TypeError, ValueError):
            value = float("nan")
        if not value > 0 or not math.isfinite(value):
            raise InputError(
                None, f"speeds.{key}", f"speed must be a positive number, got {value!r}"
            )
        merged[str(key)] = value
    return dict(sorted(merged.items()))


def _check_factor(name: str, value: float) -> float:
    """Validate a positive multiplicative factor."""
    if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
        raise InputError(None, name, f"must be a positive number, got {value!r}")
    return float(value)


def add_speeds(
    G: nx.MultiDiGraph,
    speeds: Mapping[str, float],
    *,
    ambulance_speed_factor: float = settings.DEFAULT_AMBULANCE_SPEED_FACTOR,
    congestion: float = settings.DEFAULT_CONGESTION_FACTOR,
) -> nx.MultiDiGraph:
    """Set ``speed_kph`` and ``travel_time`` on every edge, in place.

    ``speed_kph`` is the tagged ``maxspeed`` (capped at :data:`MAXSPEED_CAP_KPH`) where
    present, else the class speed; ``travel_time = length / (speed_kph / 3.6) *
    congestion / ambulance_speed_factor``.

    Parameters
    ----------
    G : networkx.MultiDiGraph
        Graph with ``length`` and ``highway`` on every edge.
    speeds : mapping
        Free-flow car speed (km/h) by highway class.
    ambulance_speed_factor : float
        Ambulance speed relative to ordinary traffic.
    congestion : float
        Travel-time multiplier for traffic.

    Returns
    -------
    networkx.MultiDiGraph
        The same graph.
    """
    time_factor = congestion / ambulance_speed_factor
    fallback = min(speeds.values())
    for _, _, d in G.edges(data=True):
        tagged = parse_maxspeed(d.get("maxspeed"))
        highway = d["highway"][0] if isinstance(d["highway"], list) else d["highway"]
        base = min(tagged, MAXSPEED_CAP_KPH) if tagged else speeds.get(highway, fallback)
        d["speed_kph"] = base
        d["travel_time"] = d["length"] / (base / 3.6) * time_factor
    G.graph.update(
        speeds_kph=dict(speeds),
        ambulance_speed_factor=ambulance_speed_factor,
        congestion=congestion,
    )
    return G


def _simplify(G: nx.MultiDiGraph) -> nx.MultiDiGraph:
    """Simplify as OSMnx does, then restate ``speed_kph`` on merged edges as the true mean.

    Rings are left for the strongly-connected-component step so the report counts them.
    """
    Gs = ox.simplify_graph(G, remove_rings=False)
    time_factor = G.graph["congestion"] / G.graph["ambulance_speed_factor"]
    for _, _, d in Gs.edges(data=True):
        if isinstance(d.get("speed_kph"), list):
            # free-flow mean speed over the merged segments, weighted by their length
            d["speed_kph"] = d["length"] / (d["travel_time"] / time_factor) * 3.6
    return Gs


def road_km(G: nx.MultiDiGraph) -> float:
    """Return km of road, counting a two-way street once (both directions are edges)."""
    total = 0.0
    for _, _, d in G.edges(data=True):
        oneway = d.get("oneway", False)
        oneway = any(oneway) if isinstance(oneway, list) else bool(oneway)
        total += d["length"] if oneway else d["length"] / 2
    return total / 1000.0


def _largest_scc(G: nx.MultiDiGraph, report: BuildReport) -> nx.MultiDiGraph:
    """Keep the largest strongly connected component (every node reaches every other)."""
    components = list(nx.strongly_connected_components(G))
    report.nodes_before_scc, report.edges_before_scc = len(G), G.number_of_edges()
    report.km_before_scc = road_km(G)
    report.components = len(components)
    # ties broken by smallest node id so the result is deterministic
    keep = max(components, key=lambda c: (len(c), -min(c))) if components else set()
    H = G.subgraph(keep).copy()
    report.nodes, report.edges, report.road_km = len(H), H.number_of_edges(), road_km(H)
    report.nodes_dropped = report.nodes_before_scc - report.nodes
    report.edges_dropped = report.edges_before_scc - report.edges
    report.km_dropped = report.km_before_scc - report.road_km
    return H


def _check_source(source: str | Path) -> Path:
    """Return the source path or raise InputError if it is missing."""
    path = Path(source)
    if not path.is_file():
        raise InputError(path, None, "road network file not found")
    return path


# --------------------------------------------------------------------------- public


def build_graph(
    source: str | Path,
    *,
    boundary: Any = None,
    speeds: Mapping[str, float] | None = None,
    ambulance_speed_factor: float = settings.DEFAULT_AMBULANCE_SPEED_FACTOR,
    congestion: float = settings.DEFAULT_CONGESTION_FACTOR,
) -> nx.MultiDiGraph:
    """Build the drivable, strongly connected road graph from a local OSM file (no cache).

    Parameters
    ----------
    source : str or Path
        OSM lines layer (``.geojson``/``.gpkg``/...), ``.osm`` XML or ``.osm.pbf``.
    boundary : shapely geometry, GeoDataFrame or GeoSeries, optional
        Study area (WGS84 if a bare geometry); vertices outside are dropped.
    speeds : mapping, optional
        Class speeds (km/h) overriding :data:`healthopt.settings.DEFAULT_SPEEDS_KPH`.
    ambulance_speed_factor : float
        Ambulance speed relative to ordinary traffic (divides travel times).
    congestion : float
        Travel-time multiplier for traffic.

    Returns
    -------
    networkx.MultiDiGraph
        OSMnx-style graph; ``G.graph["build_report"]`` holds a :class:`BuildReport` as a
        dict.

    Raises
    ------
    InputError
        If the file is missing, of unknown type, unreadable, or has no drivable roads
        (inside the study area).
    """
    started = time.perf_counter()
    path = _check_source(source)
    fmt = _detect_format(path)
    table = resolve_speeds(speeds)
    factors = {
        "ambulance_speed_factor": _check_factor("ambulance_speed_factor", ambulance_speed_factor),
        "congestion": _check_factor("congestion", congestion),
    }
    polygon = _boundary_geometry(boundary)
    reader = {"lines": _read_lines, "xml": _read_xml, "pbf": _read_pbf}[fmt]
    G, ways_read, ways_kept = reader(path, frozenset(table))
    report = BuildReport(str(path), file_sha256(path), fmt, ways_read, ways_kept)
    if G.number_of_edges() == 0:
        raise InputError(path, "highway", f"no drivable roads (classes: {', '.join(table)})")
    if polygon is not None:
        G = _clip(G, polygon)
        report.clipped = True
        if G.number_of_edges() == 0:
            raise InputError(path, "boundary", "no drivable roads inside the study area")
    add_speeds(G, table, **factors)
    G = _largest_scc(_simplify(G), report)
    if G.number_of_edges() == 0:
        raise InputError(
            path, "highway",
            f"roads too disconnected: no two of the {report.nodes_before_scc} junctions are linked both ways "
            "(e.g. one-way streets that never meet), so no ambulance can drive there and back",
        )
    report.build_seconds = time.perf_counter() - started
    G.graph.update(
        crs=settings.CRS_GEOGRAPHIC,
        source=str(path),
        source_sha256=report.source_sha256,
        source_format=fmt,
        boundary_wkb=None if polygon is None else shapely.to_wkb(polygon, hex=True),
        build_report=asdict(report),
    )
    return G


def cache_key(
    path: Path,
    *,
    boundary: BaseGeometry | None,
    speeds: Mapping[str, float],
    ambulance_speed_factor: float,
    congestion: float,
) -> str:
    """Return the cache file stem: source-file hash plus a hash of every build parameter."""
    params = {
        "version": CACHE_VERSION,
        "maxspeed_cap": MAXSPEED_CAP_KPH,
        "speeds": dict(sorted(speeds.items())),
        "ambulance_speed_factor": float(ambulance_speed_factor),
        "congestion": float(congestion),
        "boundary": None if boundary is None else shapely.to_wkb(boundary, hex=True),
    }
    blob = json.dumps(params, sort_keys=True).encode()
    return f"graph-{file_sha256(path)[:20]}-{hashlib.sha256(blob).hexdigest()[:16]}"


def load_graph(
    source: str | Path,
    *,
    boundary: Any = None,
    speeds: Mapping[str, float] | None = None,
    ambulance_speed_factor: float = settings.DEFAULT_AMBULANCE_SPEED_FACTOR,
    congestion: float = settings.DEFAULT_CONGESTION_FACTOR,
    cache_dir: str | Path | None = settings.CACHE_DIR,
    use_cache: bool = True,
) -> nx.MultiDiGraph:
    """Load the road graph, building it once and reusing a pickled copy afterwards.

    The cache key is the SHA-256 of the source file plus a hash of every parameter
    (speeds, factors, boundary WKB, build-logic version), so editing the file or any
    parameter rebuilds.

    Parameters
    ----------
    source, boundary, speeds, ambulance_speed_factor, congestion
        As for :func:`build_graph`.
    cache_dir : str or Path or None
        Folder of cached graphs; ``None`` disables caching.
    use_cache : bool
        Read and write the cache; ``False`` always rebuilds (and does not write).

    Returns
    -------
    networkx.MultiDiGraph
        The graph; ``G.graph["cache"]`` is ``"hit"``, ``"miss"`` or ``"off"``.
    """
    path = _check_source(source)
    _detect_format(path)
    polygon = _boundary_geometry(boundary)
    table = resolve_speeds(speeds)
    kwargs = {"ambulance_speed_factor": ambulance_speed_factor, "congestion": congestion}
    if not use_cache or cache_dir is None:
        G = build_graph(path, boundary=polygon, speeds=table, **kwargs)
        G.graph["cache"] = "off"
        return G
    target = Path(cache_dir) / f"{cache_key(path, boundary=polygon, speeds=table, **kwargs)}.pkl"
    if target.is_file():
        try:
            with open(target, "rb") as fh:
                G = pickle.load(fh)
            G.graph["cache"] = "hit"
            return G
        except (pickle.UnpicklingError, EOFError, AttributeError, ImportError):
            target.unlink(missing_ok=True)  # stale or damaged: rebuild below
    G = build_graph(path, boundary=polygon, speeds=table, **kwargs)
    G.graph["cache"] = "miss"
    write_pickle(target, G)
    return G


def build_report(G: nx.MultiDiGraph) -> BuildReport:
    """Return the :class:`BuildReport` stored on a graph built by this module."""
    return BuildReport(**G.graph["build_report"])


def _first_class(highway: Any) -> str:
    """Return the most important class of an edge (simplified edges may hold a list)."""
    if isinstance(highway, list):
        return max(highway, key=lambda h: (HIGHWAY_RANK.get(h, -1), h))
    return str(highway)


def graph_summary(G: nx.MultiDiGraph) -> dict[str, Any]:
    """Summarise a graph for ``healthopt network summary``.

    Parameters
    ----------
    G : networkx.MultiDiGraph
        Graph built by :func:`build_graph` / :func:`load_graph`.

    Returns
    -------
    dict
        ``nodes``, ``edges``, ``road_km``, ``km_by_class`` (two-way streets counted
        once), ``strongly_connected``, ``scc`` (components and what was dropped),
        ``bbox`` (west, south, east, north), ``source``, ``source_sha256``, ``crs`` and
        the speed parameters.
    """
    km_by_class: dict[str, float] = {}
    for _, _, d in G.edges(data=True):
        oneway = d.get("oneway", False)
        oneway = any(oneway) if isinstance(oneway, list) else bool(oneway)
        cls = _first_class(d.get("highway"))
        km_by_class[cls] = km_by_class.get(cls, 0.0) + d["length"] / (1000 if oneway else 2000)
    xs = [d["x"] for _, d in G.nodes(data=True)]
    ys = [d["y"] for _, d in G.nodes(data=True)]
    report = G.graph.get("build_report", {})
    return {
        "nodes": len(G),
        "edges": G.number_of_edges(),
        "road_km": round(sum(km_by_class.values()), 3),
        "km_by_class": {
            k: round(v, 3) for k, v in sorted(km_by_class.items(), key=lambda kv: -kv[1])
        },
        "strongly_connected": bool(len(G)) and nx.is_strongly_connected(G),
        "scc": {
            key: report.get(key)
            for key in ("components", "nodes_dropped", "edges_dropped", "km_dropped")
        },
        "bbox": [min(xs), min(ys), max(xs), max(ys)] if xs else None,
        "crs": G.graph.get("crs"),
        "source": G.graph.get("source"),
        "source_sha256": G.graph.get("source_sha256"),
        "speeds_kph": G.graph.get("speeds_kph"),
        "ambulance_speed_factor": G.graph.get("ambulance_speed_factor"),
        "congestion": G.graph.get("congestion"),
    }


def nodes_gdf(G: nx.MultiDiGraph) -> gpd.GeoDataFrame:
    """Return the nodes as a GeoDataFrame (EPSG:4326) indexed by node id."""
    return ox.graph_to_gdfs(G, edges=False)


def edges_gdf(G: nx.MultiDiGraph) -> gpd.GeoDataFrame:
    """Return the edges as a GeoDataFrame (EPSG:4326) indexed by ``(u, v, key)``."""
    return ox.graph_to_gdfs(G, nodes=False, fill_edge_geometry=True)
