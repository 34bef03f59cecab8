"""``healthopt compare`` explains: station changes by hand, sentences, one district table, the changes layer."""

from __future__ import annotations

import html as htmllib
import json
import re
import sys
from pathlib import Path

import geopandas as gpd
import pytest
from shapely.geometry import Point

from healthopt import cli, settings
from healthopt.outputs.compare import (
    change_sentences,
    compare_runs,
    district_changes,
    district_table,
    kpi_changes,
    station_changes,
)
from healthopt.outputs.compare_map import CHANGE_COLORS, LAYER_CHANGES
from healthopt.outputs.offline import find_external_refs

sys.path.insert(0, str(Path(__file__).parent))
from fixtures.run_fixture import make_run


def _stations(rows: list[tuple[str, str, float, float, int, int]]) -> gpd.GeoDataFrame:
    """Stations from ``(site_id, district, x m, y m, vehicles, np)`` in the metric CRS."""
    frame = gpd.GeoDataFrame(
        {"site_id": [r[0] for r in rows], "name": [f"站 {r[0]}" for r in rows], "district_code": [r[1] for r in rows],
         "vehicles": [r[4] for r in rows], "negative_pressure": [r[5] for r in rows]},
        geometry=[Point(500_000 + r[2], 4_190_000 + r[3]) for r in rows], crs=settings.CRS_METRIC)
    return frame.to_crs(settings.CRS_GEOGRAPHIC)


def test_station_changes_by_hand():
    a = _stations([("s1", "D1", 0, 0, 4, 2), ("s2", "D1", 10_000, 0, 3, 1), ("s3", "D2", 0, 20_000, 5, 2),
                   ("s6", "D2", 30_000, 30_000, 2, 1), ("s7", "D1", 5_000, 5_000, 2, 1)])
    b = _stations([("s1", "D1", 0, 0, 6, 2),  # same place, vehicles 4 -> 6
                   ("s2", "D1", 10_500, 0, 3, 1),  # same id, 500 m away: moved
                   ("n4", "D2", 0, 20_800, 5, 2),  # 800 m from s3 (which B lacks), same district: moved
                   ("n5", "D1", 40_000, 0, 8, 3),  # nothing of A near it: added
                   ("s7", "D1", 5_000, 5_000, 2, 1)])  # unchanged: not listed
    out = station_changes(a, b).set_index("name")
    assert sorted(out.index) == ["站 n4", "站 n5", "站 s1", "站 s2", "站 s6"]
    assert out.loc["站 s1", "change"] == "vehicles"
    assert (out.loc["站 s1", "vehicles_a"], out.loc["站 s1", "vehicles_b"]) == (4, 6)
    assert out.loc["站 s2", "change"] == "moved" and out.loc["站 s2", "moved_m"] == pytest.approx(500, abs=2)
    assert out.loc["站 n4", "change"] == "moved" and out.loc["站 n4", "site_id_a"] == "s3"
    assert out.loc["站 n4", "moved_m"] == pytest.approx(800, abs=2)
    assert out.loc["站 n5", "change"] == "added" and out.loc["站 s6", "change"] == "removed"
    # a nearby new site in another district is not a move
    c = _stations([("s1", "D1", 0, 0, 4, 2)])
    d = _stations([("n1", "D2", 300, 0, 4, 2)])
    assert station_changes(c, d)["change"].tolist() == ["added", "removed"]
    assert station_changes(c, c).empty


@pytest.fixture(scope="module")
def runs():
    return make_run("a"), make_run("b")


def test_sentences_say_what_changed(runs):
    (ra, sa), (rb, sb) = runs
    changes = district_changes(ra["districts"], rb["districts"])
    diff = station_changes(ra["stations"], rb["stations"])
    said = change_sentences(sa, sb, changes, diff)
    # fixture b = a plus 北营 (小店区, 6 vehicles / 3 NP), 阳曲东 (阳曲县, 4 / 2), 古交西 (古交市, 5 / 2)
    assert said[0] == "B adds 15 ambulances (226 → 241): +6 in 小店区, +5 in 古交市, +4 in 阳曲县."
    assert said[1] == "Negative-pressure ambulances 92 → 99 (+7); share 40.7% → 41.1%."
    assert said[2] == "Stations: 3 added (古交市 1, 小店区 1, 阳曲县 1)."
    # the headline planners read: simulated calls reached in time and the 90th percentile
    sim_a, sim_b = sa["ambulances"]["simulated"], sb["ambulances"]["simulated"]
    a, b = sim_a["reached_share"], sim_b["reached_share"]
    assert (f"Calls reached in time (simulated) {a:.1%} → {b:.1%} ({100 * (b - a):+.1f} points); 90th-percentile "
            f"response {sim_a['p90_min']:.1f} → {sim_b['p90_min']:.1f} min.") in said
    # without a simulation: residents within reach (total less outside every catchment), never the
    # per-ambulance ratio
    bare = change_sentences({**sa, "ambulances": {}}, {**sb, "ambulances": {}}, changes, diff)
    k_a, k_b = sa["kpis"], sb["kpis"]
    in_a, in_b = k_a["pop_total"] - k_a["pop_outside"], k_b["pop_total"] - k_b["pop_outside"]
    ra, rb = in_a / k_a["pop_total"], in_b / k_b["pop_total"]
    assert (f"Residents within reach of a station in the standard {ra:.1%} → {rb:.1%} "
            f"({100 * (rb - ra):+.1f} points, {in_b - in_a:+,} residents).") in bare
    assert said[-1].startswith("Solver — A: time limit reached") and "B: optimal" in said[-1]
    rows = {r["key"]: r for r in kpi_changes(sa, sb)}
    assert (rows["fleet_planned"]["a"], rows["fleet_planned"]["b"], rows["fleet_planned"]["change"]) == \
        ("226", "241", "+15")
    assert not rows["fleet_norm"]["changed"]


def _folder(folder: Path, results: dict, summary: dict) -> Path:
    folder.mkdir(parents=True)
    for layer, gdf in results.items():
        gdf.to_file(folder / "results.gpkg", layer=layer, driver="GPKG")
    (folder / "summary.json").write_text(json.dumps(summary, ensure_ascii=False), encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def folders(runs, tmp_path_factory):
    root = tmp_path_factory.mktemp("cmp")
    return _folder(root / "a", *runs[0]), _folder(root / "b", *runs[1])


def test_compare_page_explains_and_matches_the_terminal(folders, tmp_path, monkeypatch, capsys):
    a, b = folders
    monkeypatch.setattr(sys, "argv", ["healthopt", "compare", str(a), str(b), "-o", str(tmp_path / "out")])
    try:
        cli.run()
    except SystemExit as exc:
        assert exc.code in (0, None)
    terminal = capsys.readouterr().out
    page = (tmp_path / "out" / "compare.html").read_text(encoding="utf-8")
    own = re.sub(r'srcdoc="[^"]*"', 'srcdoc=""', page)
    changes = district_changes(*(gpd.read_file(f / "results.gpkg", layer="districts") for f in folders))
    cols, rows = district_table(changes)
    assert cols == ["amb_planned", "amb_np_planned", "pop_covered", "beds_planned"]  # the fixture has no station counts
    for district, cells in rows:  # one table, one formatting: the terminal's cells are the page's
        assert district in terminal and cells[0] in terminal and district in own
        assert all(cell in own for cell in cells)
    assert "44 → 50 (+6)" in own and "226 → 241 (+15)" in own  # 小店区 and the total row
    assert "B adds 15 ambulances" in own and "Stations that changed (3)" in own
    assert own.count("新增 added") == 3
    # the changes layer is on B's map, with its legend, and the page stays offline
    inner = htmllib.unescape(re.search(r'<iframe class="map"[^>]*srcdoc="([^"]*)"', page).group(1))
    assert LAYER_CHANGES in inner and inner.count(f'"color": "{CHANGE_COLORS["added"]}"') == 3
    assert find_external_refs(page) == [] and find_external_refs(inner) == []


def test_compare_page_is_deterministic(folders, tmp_path):
    compare_runs(*folders, tmp_path / "x")
    compare_runs(*folders, tmp_path / "y")
    assert (tmp_path / "x" / "compare.html").read_bytes() == (tmp_path / "y" / "compare.html").read_bytes()
