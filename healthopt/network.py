"""Build and summarise the drivable road network from local OpenStreetMap files.

The graph follows OSMnx conventions: a ``networkx.MultiDiGraph`` with graph attribute
``crs="EPSG:4326"``, nodes carrying ``x``/``y`` (lon/lat) and edges carrying ``osmid``,
``highway``, ``name``, ``oneway``, ``length`` (m), ``maxspeed`` (where tagged),
``speed_kph``, ``travel_time`` (s) and, after simplification, ``geometry``.

A local OSM file (an ogr2ogr lines layer, ``.osm`` XML or ``.osm.pbf``; read by
:mod:`healthopt._osm`) becomes an unsimplified graph (one node per OSM vertex, one edge per
consecutive vertex pair), is clipped to the study area, receives speeds and travel times
per segment, and is then simplified with :func:`osmnx.simplify_graph` and reduced to its
largest strongly connected component. :func:`load_graph` keeps built graphs in the cache
of :mod:`healthopt._graph_cache`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import networkx as nx
import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from healthopt import _graph_cache as graph_cache
from healthopt import settings
from healthopt._files import file_sha256

# MAXSPEED_CAP_KPH, is_drivable and parse_hstore are re-exported ("X as X"): they were
# defined here before the readers moved to _osm, and callers still find them here
from healthopt._osm import MAXSPEED_CAP_KPH as MAXSPEED_CAP_KPH
from healthopt._osm import detect_format, parse_maxspeed, read_osm
from healthopt._osm import is_drivable as is_drivable
from healthopt._osm import parse_hstore as parse_hstore
from healthopt.data.crs import union_wgs84
from healthopt.data.layers import check_layer_file
from healthopt.errors import InputError

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


@dataclass
class BuildReport:
    """What the graph build kept and dropped.

    Attributes are plain numbers so the report serialises to JSON as a dict
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


# --------------------------------------------------------------------------- steps


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
    import osmnx as ox  # ~3 s of imports (scikit-learn, matplotlib): only when a graph is built

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
        total += d["length"] if _is_oneway(d) else d["length"] / 2
    return total / 1000.0


def _is_oneway(d: Mapping[str, Any]) -> bool:
    """Tell whether an edge is one-way (a simplified edge is when any merged part is)."""
    oneway = d.get("oneway", False)
    return any(oneway) if isinstance(oneway, list) else bool(oneway)


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


#: Largest road file read (an .osm.pbf of all of Shanxi is well below it; XML is ~10x larger).
MAX_OSM_BYTES = 4 * 1024**3


def _check_source(source: str | Path) -> Path:
    """Return the source path, or raise InputError unless it is a regular file of a readable size.

    A FIFO or ``/dev/zero`` given as the road file would hang the reader or fill memory.
    """
    path = Path(source)
    if not path.exists() and not path.is_symlink():
        raise InputError(path, None, "road network file not found")
    check_layer_file(path, max_bytes=MAX_OSM_BYTES, noun="road network")
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
    fmt = detect_format(path)
    table = resolve_speeds(speeds)
    factors = {
        "ambulance_speed_factor": _check_factor("ambulance_speed_factor", ambulance_speed_factor),
        "congestion": _check_factor("congestion", congestion),
    }
    polygon = union_wgs84(boundary)
    G, ways_read, ways_kept = read_osm(path, fmt=fmt, drivable=frozenset(table))
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


def load_graph(
    source: str | Path,
    *,
    boundary: Any = None,
    speeds: Mapping[str, float] | None = None,
    ambulance_speed_factor: float = settings.DEFAULT_AMBULANCE_SPEED_FACTOR,
    congestion: float = settings.DEFAULT_CONGESTION_FACTOR,
    cache_dir: str | Path | None = settings.CACHE_DIR,
    use_cache: bool = True,
    source_sha256: str | None = None,
) -> nx.MultiDiGraph:
    """Load the road graph, building it once and reusing a cached copy afterwards.

    The cache (:mod:`healthopt._graph_cache`: NumPy arrays and JSON, never pickle) is keyed
    by and checked against the SHA-256 of the source file and of every setting (speeds,
    factors, study area, build-logic version); a copy that does not match, or whose payload
    fails its own SHA-256 or travel-time check, is rebuilt. A cache folder that cannot be
    written (read-only, full, a file) only means the graph is not saved.

    Parameters
    ----------
    source, boundary, speeds, ambulance_speed_factor, congestion
        As for :func:`build_graph`.
    cache_dir : str or Path or None
        Folder of cached graphs; ``None`` disables caching.
    use_cache : bool
        Read and write the cache; ``False`` always rebuilds (and does not write).
    source_sha256 : str, optional
        SHA-256 of ``source`` when the caller has just taken it (a run's provenance hash), so
        a large extract is read once for hashing; default: hashed here.

    Returns
    -------
    networkx.MultiDiGraph
        The graph; ``G.graph["cache"]`` says what the cache did: ``"hit"``, ``"miss"`` (built
        and saved), ``"rebuilt (<reason>)"`` (a cached copy was unusable) or ``"disabled
        (<reason>)"`` (not read, or not saved); a note for the run summary.
    """
    path = _check_source(source)
    detect_format(path)
    polygon = union_wgs84(boundary)
    table = resolve_speeds(speeds)
    kwargs = {"ambulance_speed_factor": ambulance_speed_factor, "congestion": congestion}
    if not use_cache or cache_dir is None:
        G = build_graph(path, boundary=polygon, speeds=table, **kwargs)
        G.graph["cache"] = "disabled (--no-cache)" if not use_cache else "disabled (no cache folder)"
        return G
    folder = Path(cache_dir)
    source_sha = source_sha256 or file_sha256(path)
    params = graph_cache.cache_settings(boundary=polygon, speeds=table, **kwargs)
    key = graph_cache.cache_key(path, boundary=polygon, speeds=table, source_sha256=source_sha, **kwargs)
    status = "miss"
    try:
        cached = graph_cache.read(folder, key, source_sha256=source_sha, settings=params)
    except graph_cache.StaleCacheError as exc:
        cached, status = None, f"rebuilt ({exc})"
    if cached is not None:
        cached.graph["cache"] = "hit"
        return cached
    G = build_graph(path, boundary=polygon, speeds=table, **kwargs)
    try:
        graph_cache.write(folder, key, G, source=path, source_sha256=source_sha, settings=params)
    except OSError as exc:
        reason = f"cache folder {folder} not writable: {exc.strerror or type(exc).__name__}"
        status = f"disabled ({reason})" if status == "miss" else f"{status[:-1]}; {reason})"
    except graph_cache.UnsupportedGraphError as exc:
        status = f"disabled (the graph holds {exc}, which the cache cannot store)"
    G.graph["cache"] = status
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
        cls = _first_class(d.get("highway"))
        km_by_class[cls] = km_by_class.get(cls, 0.0) + d["length"] / (1000 if _is_oneway(d) else 2000)
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
    import osmnx as ox

    return ox.graph_to_gdfs(G, edges=False)


def edges_gdf(G: nx.MultiDiGraph) -> gpd.GeoDataFrame:
    """Return the edges as a GeoDataFrame (EPSG:4326) indexed by ``(u, v, key)``."""
    import osmnx as ox

    return ox.graph_to_gdfs(G, nodes=False, fill_edge_geometry=True)
