"""Compare two run folders: what changed by district, in words, and on a side-by-side map.

``healthopt compare RUN_A RUN_B`` reads each folder's ``results.gpkg`` and
``summary.json`` and writes ``compare.html`` (what changed in words, the headline figures,
the district table, the station changes and the synchronized maps with a difference layer)
and ``compare.csv`` (district table) into the output folder. The terminal table of the
command and the page's district table are one table (:func:`district_table`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import geopandas as gpd
import jinja2
import pandas as pd
import pyogrio

from healthopt import settings
from healthopt.errors import InputError
from healthopt.outputs import tables
from healthopt.outputs.compare_map import build_compare_map
from healthopt.outputs.fields import field_info, flatten, is_number
from healthopt.outputs.report import printable_map
from healthopt.outputs.summary import RunSummary, read_summary

#: District columns compared (when both runs have them).
COMPARED = (
    "amb_planned", "amb_np_planned", "stations", "pop_covered", "pop_beyond_capacity", "pop_outside",
    "coverage_share", "beds_planned", "beds_per_1000_planned",
)  # fmt: skip
#: Columns of the district table shown in the terminal and on the page.
TABLE_COLUMNS = ("amb_planned", "amb_np_planned", "stations", "pop_covered", "beds_planned")
#: A station of B within this distance of an unmatched station of A, in the same district, "moved" there.
MOVE_RADIUS_M = 2000.0
#: Same site id, closer than this: the same place.
SAME_PLACE_M = 50.0
TEMPLATE_NAME = "compare.html.j2"


def load_run(folder: str | Path) -> tuple[dict[str, gpd.GeoDataFrame], RunSummary]:
    """Read a run folder's result layers and summary (checked: :func:`healthopt.outputs.summary.read_summary`)."""
    folder = Path(folder)
    gpkg, summary = folder / "results.gpkg", folder / "summary.json"
    for path in (gpkg, summary):
        if not path.exists():
            raise InputError(path, None, "not found: is this a `healthopt run` output folder?")
    layers = {name: gpd.read_file(gpkg, layer=name) for name, _ in pyogrio.list_layers(gpkg)}
    for name in ("stations", "coverage_areas", "demand"):
        if name in layers and "estimated" in layers[name]:
            layers[name]["estimated"] = layers[name]["estimated"].astype(bool)
    return layers, read_summary(summary)


def district_changes(a: gpd.GeoDataFrame, b: gpd.GeoDataFrame) -> pd.DataFrame:
    """Return one row per district with each compared value in A, in B and B − A."""
    cols = [c for c in COMPARED if c in a.columns and c in b.columns]
    left = pd.DataFrame(a[["code", "name_zh", *cols]])
    right = pd.DataFrame(b[["code", *cols]])
    both = left.merge(right, on="code", how="outer", suffixes=("_a", "_b"))
    for col in cols:
        both[f"{col}_change"] = both[f"{col}_b"] - both[f"{col}_a"]
    return both.sort_values("code").reset_index(drop=True)


# --------------------------------------------------------------------------- the district table


def _missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def change_cell(a: Any, b: Any) -> str:
    """Return ``"226 → 238 (+12)"`` (``—`` for a side without the value)."""
    fa = "—" if _missing(a) else f"{a:,.0f}"
    fb = "—" if _missing(b) else f"{b:,.0f}"
    diff = "" if _missing(a) or _missing(b) else f" ({b - a:+,.0f})"
    return f"{fa} → {fb}{diff}"


def district_table(changes: pd.DataFrame, *, total: bool = False
                   ) -> tuple[list[str], list[tuple[str, list[str]]]]:
    """Return the district table of a comparison: its columns and ``(district, cells)`` rows.

    The one formatting of ``healthopt compare``'s terminal table and of ``compare.html``.

    Parameters
    ----------
    changes : DataFrame
        :func:`district_changes`.
    total : bool
        Add a ``合计 Total`` row (sums).

    Returns
    -------
    tuple
        Column names of :data:`TABLE_COLUMNS` both runs have, and rows.
    """
    cols = [c for c in TABLE_COLUMNS if f"{c}_change" in changes.columns]
    rows = [(f"{row.code} {row.name_zh}", [change_cell(getattr(row, f"{c}_a"), getattr(row, f"{c}_b")) for c in cols])
            for row in changes.itertuples()]
    if total:
        rows.append(("合计 Total", [change_cell(changes[f"{c}_a"].sum(), changes[f"{c}_b"].sum()) for c in cols]))
    return cols, rows


# --------------------------------------------------------------------------- station changes


def _station_frame(layer: gpd.GeoDataFrame | None) -> gpd.GeoDataFrame:
    cols = ["site_id", "name", "district_code", "vehicles", "negative_pressure"]
    if layer is None or not len(layer):
        return gpd.GeoDataFrame({c: [] for c in cols}, geometry=[], crs=settings.CRS_GEOGRAPHIC)
    out = layer.copy()
    for c in cols:
        if c not in out:
            out[c] = out["site_id"] if c == "name" else None
    out = out[out.geometry.notna()]
    return gpd.GeoDataFrame(out[[*cols, "geometry"]], geometry="geometry", crs=layer.crs).reset_index(drop=True)


def _record(kind: str, ra: Any, rb: Any, metres: float | None) -> dict[str, Any]:
    src = rb if rb is not None else ra
    out = {"change": kind, "name": str(src["name"]), "district_code": src["district_code"],
           "moved_m": None if metres is None else round(metres)}
    for tag, r in (("a", ra), ("b", rb)):
        out.update({
            f"site_id_{tag}": None if r is None else r["site_id"],
            f"vehicles_{tag}": None if r is None else r["vehicles"],
            f"np_{tag}": None if r is None else r["negative_pressure"],
            f"lon_{tag}": None if r is None else round(r.geometry.x, 6),
            f"lat_{tag}": None if r is None else round(r.geometry.y, 6),
        })
    return out


CHANGE_ORDER = ("added", "removed", "moved", "vehicles")
STATION_CHANGE_COLUMNS = ("change", "name", "district_code", "site_id_a", "site_id_b", "vehicles_a", "vehicles_b",
                          "np_a", "np_b", "moved_m", "lon_a", "lat_a", "lon_b", "lat_b")


def station_changes(a: gpd.GeoDataFrame | None, b: gpd.GeoDataFrame | None, *,
                    move_radius_m: float = MOVE_RADIUS_M) -> pd.DataFrame:
    """Return the stations that differ between A and B: added, removed, moved, vehicles changed.

    Stations are matched by site id (a site id names a place: a road node, a seat, a user
    station); one with the same id farther than :data:`SAME_PLACE_M` away is ``moved``.
    Then each unmatched station of B is paired with the nearest unmatched station of A in
    the same district within ``move_radius_m`` (closest pairs first) and also counts as
    ``moved``: a site shifted to a nearby road node, not a closure plus an opening. The
    rest are ``removed`` (A only) and ``added`` (B only). A matched station whose vehicles
    or negative-pressure vehicles differ is ``vehicles`` (a moved one keeps its counts in
    the same row).

    Parameters
    ----------
    a, b : GeoDataFrame or None
        The runs' ``stations`` layers.
    move_radius_m : float

    Returns
    -------
    DataFrame
        ``change``, ``name``, ``district_code``, ``site_id_a/_b``, ``vehicles_a/_b``, ``np_a/_b``,
        ``moved_m``, ``lon_a/lat_a``, ``lon_b/lat_b``; sorted by change, district, name.
    """
    sa, sb = _station_frame(a), _station_frame(b)
    ma, mb = sa.to_crs(settings.CRS_METRIC).geometry, sb.to_crs(settings.CRS_METRIC).geometry
    rows: list[dict[str, Any]] = []
    left, right = set(range(len(sa))), set(range(len(sb)))
    by_id = {sid: j for j, sid in enumerate(sb["site_id"])}
    pairs: list[tuple[int, int, float]] = []
    for i, sid in enumerate(sa["site_id"]):
        j = by_id.get(sid)
        if j is not None and j in right:
            pairs.append((i, j, float(ma.iloc[i].distance(mb.iloc[j]))))
            left.discard(i)
            right.discard(j)
    near = sorted((float(ma.iloc[i].distance(mb.iloc[j])), i, j) for i in left for j in right
                  if sa["district_code"].iloc[i] == sb["district_code"].iloc[j])
    for metres, i, j in near:
        if metres <= move_radius_m and i in left and j in right:
            pairs.append((i, j, metres))
            left.discard(i)
            right.discard(j)
    for i, j, metres in pairs:
        ra, rb = sa.iloc[i], sb.iloc[j]
        if metres > SAME_PLACE_M:
            rows.append(_record("moved", ra, rb, metres))
        elif (ra["vehicles"], ra["negative_pressure"]) != (rb["vehicles"], rb["negative_pressure"]):
            rows.append(_record("vehicles", ra, rb, None))
    rows += [_record("removed", sa.iloc[i], None, None) for i in sorted(left)]
    rows += [_record("added", None, sb.iloc[j], None) for j in sorted(right)]
    out = pd.DataFrame(rows, columns=list(STATION_CHANGE_COLUMNS))
    out["_order"] = out["change"].map(CHANGE_ORDER.index)
    return out.sort_values(["_order", "district_code", "name"]).drop(columns="_order").reset_index(drop=True)


# --------------------------------------------------------------------------- figures and words


#: Headline figures first, in the order a briefing reads them; any other figure follows by name.
KPI_ORDER = (
    "pop_total", "fleet_norm", "fleet_planned", "np_planned", "np_share", "np_required_share", "stations_planned",
    "stations_new", "pop_covered", "pop_beyond_capacity", "pop_outside", "chc_required", "chc_planned",
    "thc_required", "thc_planned", "subcentres_planned", "pop_within_pc_standard", "beds_target_per_1000",
    "beds_planned_per_1000", "citywide_target_per_1000",
)  # fmt: skip


def kpi_changes(summary_a: Mapping[str, Any], summary_b: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Return every headline figure of either run (``kpis``, flattened): label, A, B, B − A."""
    ka = dict(flatten(summary_a.get("kpis") or {}))
    kb = dict(flatten(summary_b.get("kpis") or {}))
    rows = []
    order = {k: i for i, k in enumerate(KPI_ORDER)}
    for key in sorted(set(ka) | set(kb), key=lambda k: (order.get(k, len(order)), k)):
        va, vb = ka.get(key), kb.get(key)
        if not (is_number(va) or is_number(vb)):
            continue
        info = field_info(key)
        pair = _both(ka, kb, key)
        diff = pair[1] - pair[0] if pair is not None else None
        rows.append({"key": key, "label": f"{info.zh} {info.en}".strip() if info.en else key,
                     "a": _num(va, key), "b": _num(vb, key), "change": _num(diff, key, signed=True),
                     "changed": bool(diff)})
    return rows


def _num(v: Any, key: str, *, signed: bool = False) -> str:
    if not is_number(v):
        return "—"
    if "share" in key:
        return f"{100 * v:+.1f} pts" if signed else f"{v:.1%}"
    if isinstance(v, float) and not float(v).is_integer():
        return f"{v:+,.2f}" if signed else f"{v:,.2f}"
    return f"{v:+,.0f}" if signed else f"{v:,.0f}"


def _by_district(changes: pd.DataFrame, col: str, *, limit: int = 3) -> str:
    """Return ``"+6 in 小店区, +4 in 阳曲县 and 2 more districts"`` for a column's district changes."""
    if f"{col}_change" not in changes:
        return ""
    moved = changes[changes[f"{col}_change"].fillna(0) != 0]
    moved = moved.reindex(moved[f"{col}_change"].abs().sort_values(ascending=False, kind="stable").index)
    parts = [f"{v:+,.0f} in {name}" for name, v in zip(moved["name_zh"], moved[f"{col}_change"], strict=True)]
    if not parts:
        return ""
    more = len(parts) - limit
    return ", ".join(parts[:limit]) + (f" and {more} more district{'s' if more > 1 else ''}" if more > 0 else "")


def _count(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if abs(n) == 1 else 's'}"


def _both(ka: Mapping[str, Any], kb: Mapping[str, Any], key: str) -> tuple[Any, Any] | None:
    """Return ``(A's value, B's value)`` of ``key`` if both runs have it as a number."""
    a, b = ka.get(key), kb.get(key)
    return (a, b) if is_number(a) and is_number(b) else None


def _fleet_sentence(ka: Mapping[str, Any], kb: Mapping[str, Any], changes: pd.DataFrame) -> str | None:
    if (pair := _both(ka, kb, "fleet_planned")) is None:
        return None
    a, b = pair
    where = _by_district(changes, "amb_planned")
    d = b - a
    if d > 0:
        text = f"B adds {_count(d, 'ambulance')} ({a:,} → {b:,})"
    elif d < 0:
        text = f"B has {-d:,} fewer ambulance{'' if d == -1 else 's'} ({a:,} → {b:,})"
    else:
        text = f"Same fleet of {b:,} ambulances" + ("; it shifts between districts" if where else " in every district")
    return text + (f": {where}." if where else ".")


def _np_sentence(ka: Mapping[str, Any], kb: Mapping[str, Any]) -> str | None:
    if (pair := _both(ka, kb, "np_planned")) is None:
        return None
    a, b = pair
    if a == b and ka.get("np_share") == kb.get("np_share"):
        return None
    share = ""
    if is_number(ka.get("np_share")) and is_number(kb.get("np_share")):
        share = f"; share {ka['np_share']:.1%} → {kb['np_share']:.1%}"
    return f"Negative-pressure ambulances {a:,} → {b:,} ({b - a:+,}){share}."


def _station_sentence(diff: pd.DataFrame, ka: Mapping[str, Any], kb: Mapping[str, Any],
                      names: Mapping[str, str]) -> str | None:
    a, b = ka.get("stations_planned"), kb.get("stations_planned")
    counts = {k: int((diff["change"] == k).sum()) for k in CHANGE_ORDER}
    if not any(counts.values()):
        return f"The same {b:,} stations with the same vehicles." if is_number(b) else None
    head = f"Stations {a:,} → {b:,}: " if is_number(a) and is_number(b) else "Stations: "
    parts = []
    for kind, word in (("added", "added"), ("removed", "removed"), ("moved", "moved")):
        n = counts[kind]
        if n:
            where = diff.loc[diff["change"] == kind, "district_code"].map(lambda c: names.get(str(c), str(c)))
            top = where.value_counts().sort_index(kind="stable")
            parts.append(f"{n} {word} ({', '.join(f'{d} {k}' for d, k in top.items())})")
    if counts["vehicles"]:
        parts.append(f"vehicles changed at {_count(counts['vehicles'], 'station')}")
    return head + "; ".join(parts) + "."


def _coverage_sentence(summary_a: Mapping[str, Any], summary_b: Mapping[str, Any]) -> str | None:
    """Return the headline's change: simulated calls reached in time, else residents within reach.

    The per-ambulance split (``pop_covered``) is a fleet-size ratio, not coverage, and is not
    reported as such (the report and map do the same).
    """
    sims = [(s.get("ambulances") or {}).get("simulated") or {} for s in (summary_a, summary_b)]
    if all(sim.get("reached_share") is not None for sim in sims):
        (a, b), (pa, pb) = [sim["reached_share"] for sim in sims], [sim.get("p90_min") for sim in sims]
        text = f"Calls reached in time (simulated) {a:.1%} → {b:.1%} ({100 * (b - a):+.1f} points)"
        if pa is not None and pb is not None:
            text += f"; 90th-percentile response {pa:.1f} → {pb:.1f} min"
        return text + "."
    ka, kb = summary_a.get("kpis") or {}, summary_b.get("kpis") or {}
    total, outside = _both(ka, kb, "pop_total"), _both(ka, kb, "pop_outside")
    if total is None or outside is None or not all(total):
        return None
    (ta, tb), (oa, ob) = total, outside
    ra, rb = (ta - oa) / ta, (tb - ob) / tb
    return (f"Residents within reach of a station in the standard {ra:.1%} → {rb:.1%} "
            f"({100 * (rb - ra):+.1f} points, {(tb - ob) - (ta - oa):+,} residents).")


def _pair_sentence(label: str, key: str, ka: Mapping[str, Any], kb: Mapping[str, Any],
                   fmt: str = ",.0f") -> str | None:
    pair = _both(ka, kb, key)
    if pair is None or pair[0] == pair[1]:
        return None
    a, b = pair
    return f"{label} {a:{fmt}} → {b:{fmt}} ({b - a:+{fmt}})."


def change_sentences(summary_a: Mapping[str, Any], summary_b: Mapping[str, Any], changes: pd.DataFrame,
                     stations: pd.DataFrame) -> list[str]:
    """Return what changed from A to B, in plain sentences (fleet, stations, coverage, centres, beds, status).

    Parameters
    ----------
    summary_a, summary_b : RunSummary
    changes : DataFrame
        :func:`district_changes`.
    stations : DataFrame
        :func:`station_changes`.

    Returns
    -------
    list of str
    """
    ka, kb = summary_a.get("kpis") or {}, summary_b.get("kpis") or {}
    names = dict(zip(changes["code"].astype(str), changes["name_zh"].astype(str), strict=True))
    out = [
        _fleet_sentence(ka, kb, changes), _np_sentence(ka, kb), _station_sentence(stations, ka, kb, names),
        _coverage_sentence(summary_a, summary_b),
        _pair_sentence("Residents outside every catchment", "pop_outside", ka, kb),
        _pair_sentence("Within reach, beyond the per-ambulance ratio", "pop_beyond_capacity", ka, kb),
        _pair_sentence("Community health centres (CHCs)", "chc_planned", ka, kb),
        _pair_sentence("Township health centres", "thc_planned", ka, kb),
        _pair_sentence("Beds per 1,000 residents", "beds_planned_per_1000", ka, kb, ",.2f"),
    ]
    sa, sb = str(summary_a.get("status", "")), str(summary_b.get("status", ""))
    out.append(f"Solver — A: {sa}; B: {sb}." if sa != sb else f"Solver — both: {sa}.")
    for tag, s in (("A", summary_a), ("B", summary_b)):
        if s.get("relaxed_norms"):
            out.append(f"{tag} misses norms the budgets cannot meet: " + "; ".join(s["relaxed_norms"]))
    return [s for s in out if s]


# --------------------------------------------------------------------------- the page


def _env() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.FileSystemLoader(str(Path(__file__).parent / "templates")),
                              autoescape=True, undefined=jinja2.StrictUndefined, keep_trailing_newline=True)


_CHANGE_WORDS = {"added": "新增 added", "removed": "撤销 removed", "moved": "迁移 moved",
                 "vehicles": "车辆变化 vehicles changed"}


def _station_rows(diff: pd.DataFrame, names: Mapping[str, str]) -> list[dict[str, str]]:
    rows = []
    for r in diff.itertuples():
        detail = ""
        if r.change == "moved" and not _missing(r.moved_m):
            detail = f"{r.moved_m / 1000:.1f} km"
        rows.append({"change": _CHANGE_WORDS[r.change], "cls": r.change, "name": r.name,
                     "district": names.get(str(r.district_code), str(r.district_code)),
                     "vehicles": change_cell(r.vehicles_a, r.vehicles_b), "np": change_cell(r.np_a, r.np_b),
                     "detail": detail})
    return rows


def render_compare_page(summary_a: Mapping[str, Any], summary_b: Mapping[str, Any], changes: pd.DataFrame,
                        stations: pd.DataFrame, map_html: str, *, names: Sequence[str] = ("A", "B")) -> str:
    """Return ``compare.html``: sentences, headline figures, district table, station changes, maps.

    Parameters
    ----------
    summary_a, summary_b : RunSummary
    changes : DataFrame
        :func:`district_changes`.
    stations : DataFrame
        :func:`station_changes`.
    map_html : str
        The side-by-side map page (embedded with ``<iframe srcdoc>``).
    names : sequence of str
        The run folders' names.

    Returns
    -------
    str
    """
    cols, rows = district_table(changes, total=True)
    heads = [f"{field_info(c).zh} {field_info(c).en} (A → B)" for c in cols]
    district_names = dict(zip(changes["code"].astype(str), changes["name_zh"].astype(str), strict=True))
    return _env().get_template(TEMPLATE_NAME).render(
        name_a=(summary_a.get("scenario") or {}).get("name", ""),
        name_b=(summary_b.get("scenario") or {}).get("name", ""),
        folder_a=names[0], folder_b=names[1],
        sentences=change_sentences(summary_a, summary_b, changes, stations),
        kpis=kpi_changes(summary_a, summary_b), district_head=heads, district_rows=rows,
        stations=_station_rows(stations, district_names), map_html=map_html)


def compare_runs(run_a: str | Path, run_b: str | Path, out: str | Path, *, offline: bool = True) -> pd.DataFrame:
    """Write ``compare.html`` and ``compare.csv`` for two runs into ``out`` (atomically)."""
    layers_a, summary_a = load_run(run_a)
    layers_b, summary_b = load_run(run_b)
    changes = district_changes(layers_a["districts"], layers_b["districts"])
    diff = station_changes(layers_a.get("stations"), layers_b.get("stations"))
    map_html = build_compare_map(layers_a, summary_a, layers_b, summary_b, offline=offline, diff=diff)
    html = render_compare_page(summary_a, summary_b, changes, diff, printable_map(map_html),
                               names=(Path(run_a).name, Path(run_b).name))
    with tables.atomic_folder(Path(out), kind="compare") as tmp:
        (tmp / "compare.html").write_text(html, encoding="utf-8")
        tables.write_csv(tmp / "compare.csv", changes, float_format="%.6g")
    return changes
