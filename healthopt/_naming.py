"""Readable station names: the street or place a station is at, instead of a site id.

One function, :func:`station_names`, names every station the same way wherever it is shown
(map popups, report tables, GeoPackage, workbook): the ambulance plan's station table calls
it, and everything downstream reads its ``name`` column.

Rules, first that applies:

1. a name given in a user layer (existing stations keep their own names);
2. a district/county seat site: ``<district>驻地`` (seat);
3. a road-network node: the named streets meeting there, ``A / B`` (one or two names, by
   how many road segments carry each), or ``A 附近`` (near) when the nearest name is up to
   three links away;
4. anything else (off-network grid cells, unnamed roads): direction and distance from the
   district's seat, e.g. ``娄烦县驻地西北 8 km``.

Equal names get `` (2)``, `` (3)``... in site-id order, so every name is unique.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Mapping
from typing import Any

import geopandas as gpd
import pandas as pd

#: Compass sectors (8), clockwise from north.
_DIRECTIONS = ("北", "东北", "东", "东南", "南", "西南", "西", "西北")
#: A node further than this from its site is not where the station is (metres).
MAX_SNAP_M = 300.0
#: Links searched outward from a node for a street name.
NEAR_HOPS = 3


def _names(value: Any) -> list[str]:
    """Return the street names of an edge's ``name`` attribute (str or list, OSMnx style)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return []
    vals = value if isinstance(value, list) else [value]
    return [str(v).strip() for v in vals if str(v).strip()]


def _street_index(graph: Any) -> tuple[dict[Any, Counter[str]], dict[Any, set[Any]]]:
    """Return names of the edges at each node and every node's neighbours (undirected)."""
    names: dict[Any, Counter[str]] = defaultdict(Counter)
    nbrs: dict[Any, set[Any]] = defaultdict(set)
    for u, v, value in graph.edges(data="name"):
        nbrs[u].add(v)
        nbrs[v].add(u)
        for name in _names(value):
            names[u][name] += 1
            names[v][name] += 1
    return names, nbrs


def _at_node(node: Any, names: Mapping[Any, Counter[str]], nbrs: Mapping[Any, set[Any]]) -> str | None:
    """Name of a node from its own streets, else ``<nearest street> 附近`` (breadth-first)."""
    own = names.get(node)
    if own:
        top = sorted(own.items(), key=lambda kv: (-kv[1], kv[0]))[:2]
        return " / ".join(sorted(n for n, _ in top))
    seen, frontier = {node}, [node]
    for _ in range(NEAR_HOPS):
        nxt = sorted({n for f in frontier for n in nbrs.get(f, ()) if n not in seen}, key=str)
        found: Counter[str] = Counter()
        for n in nxt:
            found.update(names.get(n, Counter()))
        if found:
            best = sorted(found.items(), key=lambda kv: (-kv[1], kv[0]))[0][0]
            return f"{best} 附近"
        seen.update(nxt)
        frontier = nxt
    return None


def _from_seat(point: Any, code: str, seats: Mapping[str, tuple[str, Any]]) -> str | None:
    """``<seat>驻地<direction> <km> km`` (or ``<seat>驻地`` within 1 km)."""
    if code not in seats:
        return None
    name, seat = seats[code]
    dy = (point.y - seat.y) * 111.2
    dx = (point.x - seat.x) * 111.2 * math.cos(math.radians(seat.y))
    km = math.hypot(dx, dy)
    if km < 1.0:
        return f"{name}驻地"
    sector = _DIRECTIONS[int(((math.degrees(math.atan2(dx, dy)) + 360 + 22.5) % 360) // 45)]
    return f"{name}驻地{sector} {km:.0f} km"


def station_names(sites: pd.DataFrame, *, graph: Any = None, seats: gpd.GeoDataFrame | None = None
                  ) -> pd.Series:
    """Return a unique, readable name for every site (same index as ``sites``).

    Parameters
    ----------
    sites : DataFrame
        With ``site_id``, ``geometry`` (EPSG:4326 points) and, where known, ``name`` (given
        names), ``kind``, ``node``, ``snap_m`` and ``district_code``.
    graph : networkx.MultiDiGraph, optional
        Road graph whose edges carry OSM ``name`` attributes.
    seats : GeoDataFrame, optional
        Seats with ``code`` and ``name_zh`` (EPSG:4326 points).

    Returns
    -------
    Series of str
    """
    names, nbrs = (_street_index(graph) if graph is not None else ({}, {}))
    seat_by_code: dict[str, tuple[str, Any]] = {}
    if seats is not None:
        for row in seats.itertuples():
            seat_by_code[str(row.code)] = (str(row.name_zh), row.geometry)
    out: dict[Any, str] = {}
    for idx, row in sites.iterrows():
        sid = str(row.get("site_id", idx))
        given = row.get("name")
        code = str(row.get("district_code", ""))
        text: str | None = None
        if isinstance(given, str) and given.strip() and given.strip() != sid:
            text = given.strip()
        elif sid.startswith("seat-") and code in seat_by_code:
            text = f"{seat_by_code[code][0]}驻地"
        elif sid.startswith("node-") and row.get("node") is not None and \
                float(row.get("snap_m", 0.0) or 0.0) <= MAX_SNAP_M:
            text = _at_node(row["node"], names, nbrs)
        if text is None:
            text = _from_seat(row.geometry, code, seat_by_code) or sid
        out[idx] = text
    series = pd.Series(out, dtype=object).reindex(sites.index)
    return _deduplicate(series, sites.get("site_id", pd.Series(sites.index, index=sites.index)))


def _deduplicate(names: pd.Series, ids: pd.Series) -> pd.Series:
    """Append `` (2)``, `` (3)``... to repeated names, numbering in site-id order."""
    order = sorted(names.index, key=lambda i: str(ids[i]))
    seen: Counter[str] = Counter()
    out = names.copy()
    for i in order:
        seen[names[i]] += 1
        if seen[names[i]] > 1:
            out[i] = f"{names[i]} ({seen[names[i]]})"
    return out


def name_sites(site_ids: pd.Series, *, inputs: Any) -> pd.Series:
    """Return the names of the given candidate sites of a run (same index as ``site_ids``).

    Parameters
    ----------
    site_ids : Series of str
        Site ids of ``inputs.sites`` (e.g. a plan's open stations or centres).
    inputs : healthopt.plans.base.Inputs
        The run's candidate sites (``sites``), road graph (``graph``) and dataset (``data.seats``).

    Returns
    -------
    Series of str
    """
    sites = inputs.sites.set_index("site_id")
    cols = [c for c in ("name", "kind", "node", "snap_m", "district_code", "geometry") if c in sites.columns]
    frame = sites.loc[site_ids.to_numpy(), cols].reset_index().set_axis(site_ids.index)
    return station_names(frame, graph=inputs.graph, seats=getattr(inputs.data, "seats", None))
