"""Scenario map and side-by-side comparison map, built from the synthetic run fixture.

Static checks run everywhere; browser checks load the pages in headless Chromium with the
network blocked (``tests/browser.py``) and skip with a message if Chromium is missing.
Screenshots go to ``build/test-artifacts`` (``$HEALTHOPT_ARTIFACTS``).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from healthopt.outputs import basemap, offline
from healthopt.outputs import maps as mp
from healthopt.outputs.compare_map import build_compare_map

sys.path.insert(0, str(Path(__file__).parent))
from fixtures.run_fixture import make_run

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = Path(os.environ.get("HEALTHOPT_ARTIFACTS", REPO / "build" / "test-artifacts"))

try:
    from browser import BLOCKING_ARGS, CHROMIUM_ARGS, LOCAL_SCHEMES, check_page, find_chromium
except ImportError:  # pragma: no cover - helper module missing
    check_page = find_chromium = None  # type: ignore[assignment]

CHROMIUM = find_chromium() if find_chromium else None
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None,
    reason="headless Chromium not available (tests/browser.py + apt-get install chromium)",
)
EXTERNAL_TAG = re.compile(r"""<(?:script|link)\b[^>]*(?:src|href)\s*=\s*["']?(?:https?:)?//""",
                          re.IGNORECASE)


@pytest.fixture(scope="session")
def assets_dir() -> Path:
    """The Leaflet copy shipped in the package (always present: a missing file is a failure)."""
    offline.check_offline_assets()
    return offline.STATIC_DIR


@pytest.fixture(scope="module")
def run_a():
    return make_run("a")


@pytest.fixture(scope="module")
def offline_html(run_a, assets_dir) -> str:
    results, summary = run_a
    return mp.render_map(mp.build_map(results, summary, offline=True, assets_dir=assets_dir))


@pytest.fixture(scope="module")
def online_html(run_a) -> str:
    results, summary = run_a
    return mp.render_map(mp.build_map(results, summary, offline=False))


def _control_layers(html: str) -> list[str]:
    """Return the overlay names registered in the LayerControl."""
    block = re.search(r'overlays\s*:\s*\{(.*?)\}', html, re.DOTALL)
    assert block, "no LayerControl overlays in the page"
    return [json.loads(f'"{n}"') for n in re.findall(r'"((?:[^"\\]|\\.)*)"\s*:', block.group(1))]


def _has(html: str, text: str) -> bool:
    """Return whether ``text`` is in the page, raw or as a JSON/JS string (``\\uXXXX``)."""
    forms = {text, json.dumps(text)[1:-1], json.dumps(text)[1:-1].replace("</", "<\\/"),
             json.dumps(text, ensure_ascii=False)[1:-1].replace("</", "<\\/")}
    return any(f in html for f in forms)


def test_layers_in_layer_control(offline_html):
    names = _control_layers(offline_html)
    for layer in (mp.LAYER_COVERAGE_SHARE, mp.LAYER_NORM_GAP, mp.LAYER_CATCHMENTS,
                  mp.LAYER_UNCOVERED, mp.LAYER_STATIONS, mp.LAYER_CENTRES, mp.LAYER_BEDS,
                  mp.LAYER_LABELS):
        assert layer in names
    # base-map internals are not switchable
    assert mp.LAYER_DISTRICTS not in names


def test_legends_attribution_title_scale(offline_html):
    for title in ("Calls reached within the standard (simulated)", "Ambulances planned − norm",
                  "急救站 Ambulance stations", "覆盖范围 Coverage areas",
                  "Residents outside every catchment", "基层医疗 Health centres",
                  "Bed change 2022 → plan"):
        assert title in offline_html
    assert _has(offline_html, basemap.OSM_ATTRIBUTION)
    assert "未证明最优" in offline_html and "not proven optimal" in offline_html
    assert "Estimated" in offline_html or "estimated" in offline_html
    assert "⚠ / 虚线 dashed" in offline_html
    assert '"controlScale"' not in offline_html or "L.control.scale" in offline_html


def test_proxy_and_estimated_markers(offline_html):
    assert mp.PROXY_LABEL in offline_html
    assert mp.ESTIMATED_TT_LABEL in offline_html
    assert 'stroke-dasharray=\\"4 3\\"' in offline_html  # dashed outline of the proxy station
    assert f"url(#{mp.HATCH_ID})" in offline_html       # hatched estimated coverage area
    assert _has(offline_html, "⚠ estimate 估算")        # estimated population in tooltips


def test_offline_has_no_external_script_or_link(offline_html):
    assert not EXTERNAL_TAG.search(offline_html)
    assert offline.find_external_refs(offline_html) == []
    assert "tile.openstreetmap.org" not in offline_html


def test_online_uses_osm_tiles(online_html):
    assert "tile.openstreetmap.org" in online_html
    assert EXTERNAL_TAG.search(online_html)  # CDN Leaflet
    # only Leaflet is loaded: no jQuery/Bootstrap/awesome-markers
    assert "jquery" not in online_html.lower() and "bootstrap" not in online_html.lower()


def test_deterministic_in_process(run_a, offline_html, assets_dir):
    results, summary = run_a
    again = mp.render_map(mp.build_map(results, summary, offline=True, assets_dir=assets_dir))
    assert again == offline_html
    assert not re.search(r"_[0-9a-f]{32}\b", offline_html), "random folium ids left"


def test_deterministic_across_processes(tmp_path, assets_dir):
    script = (
        "import sys; sys.path.insert(0, 'tests')\n"
        "from fixtures.run_fixture import make_run\n"
        "from healthopt.outputs.maps import write_map\n"
        "r, s = make_run()\n"
        "write_map(sys.argv[1], r, s, offline=True)\n"
    )
    outs = []
    for seed in ("1", "2"):
        out = tmp_path / f"map{seed}.html"
        env = dict(os.environ, PYTHONHASHSEED=seed)
        subprocess.run([sys.executable, "-c", script, str(out)], cwd=REPO, env=env, check=True)
        outs.append(out.read_bytes())
    assert outs[0] == outs[1]


def test_ids_restored_after_build(run_a):
    from branca.element import Element

    results, summary = run_a
    mp.build_map(results, summary, offline=False)
    assert re.fullmatch(r"[0-9a-f]{32}", Element()._id)


def test_missing_plans_degrade_gracefully():
    results, summary = make_run("b", beds=False)
    del results["health_centres"]
    html = mp.render_map(mp.build_map(results, summary, offline=False))
    names = _control_layers(html)
    assert mp.LAYER_BEDS not in names and mp.LAYER_CENTRES not in names
    assert mp.LAYER_STATIONS in names
    assert "Not shown: 2 layer(s)" in html
    assert "最优 Optimal plan" in html


def test_beds_without_location_are_skipped(run_a):
    results, _ = run_a
    layer = mp.bed_layer(results["beds"])
    assert layer is not None
    assert len(layer._children) == results["beds"].geometry.notna().sum()


def test_demand_aggregation_caps_points(run_a):
    demand = run_a[0]["demand"]
    merged, cell = mp.aggregate_demand(demand, max_points=60)
    assert len(merged) <= 60 and cell is not None
    assert merged.population.sum() == pytest.approx(demand.population.sum())


def test_compare_map_offline_and_deterministic(run_a, assets_dir):
    results_b, summary_b = make_run("b")
    args = (*run_a, results_b, summary_b)
    html = build_compare_map(*args, offline=True, assets_dir=assets_dir)
    assert html == build_compare_map(*args, offline=True, assets_dir=assets_dir)
    assert not EXTERNAL_TAG.search(html) and offline.find_external_refs(html) == []
    assert "Leaflet.Sync" not in html
    assert html.count('class="folium-map"') == 2
    assert "Taiyuan 2025 baseline" in html and "more stations" in html


# --- browser ------------------------------------------------------------------------------

def _write(name: str, html: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / name
    path.write_text(html, encoding="utf-8")
    return path


@pytest.mark.slow
@needs_chromium
def test_map_in_browser(offline_html):
    path = _write("map.html", offline_html)
    report = check_page(path, screenshot=ARTIFACTS / "map.png")
    assert report.ok, report.problems()
    assert not report.blocked_requests
    assert report.maps == 1 and report.layer_control and report.scale and report.legend_present
    assert "© OpenStreetMap contributors" in report.attribution_text
    assert report.markers >= 10  # stations and labels
    assert report.interactive_paths >= 10  # districts, coverage areas, demand circles


def _with_page(path: Path, action):
    """Open ``path`` in Chromium (network blocked) and return ``action(page)``."""
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as profile, sync_playwright() as p:
        ctx = p.chromium.launch_persistent_context(
            profile, executable_path=CHROMIUM, headless=True,
            args=[*CHROMIUM_ARGS, *BLOCKING_ARGS], viewport={"width": 1200, "height": 850})
        ctx.route("**/*", lambda r: r.continue_() if r.request.url.startswith(LOCAL_SCHEMES)
                  else r.abort())
        try:
            page = ctx.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(path.as_uri(), wait_until="load")
            page.wait_for_timeout(500)
            out = action(page)
            assert not errors, errors
            return out
        finally:
            ctx.close()


@pytest.mark.slow
@needs_chromium
def test_choropleths_are_exclusive_and_legends_follow(offline_html):
    path = _write("map_toggle.html", offline_html)

    def toggle(page):
        def click(name):
            page.locator(".leaflet-control-layers label", has_text=name).click()

        click(mp.LAYER_NORM_GAP)
        page.wait_for_timeout(300)
        click(mp.LAYER_CENTRES)
        click(mp.LAYER_BEDS)
        page.wait_for_timeout(300)
        page.screenshot(path=str(ARTIFACTS / "map_gap_layers.png"))
        return page.evaluate("""() => {
            const boxes = [...document.querySelectorAll('.leaflet-control-layers-overlays label')];
            const state = {};
            boxes.forEach(b => state[b.innerText.trim()] = b.querySelector('input').checked);
            const legends = {};
            document.querySelectorAll('.hopt-legend').forEach(
                l => legends[l.getAttribute('aria-label')] = l.style.display !== 'none');
            return {state, legends};
        }""")

    out = _with_page(path, toggle)
    assert out["state"][mp.LAYER_NORM_GAP] is True
    assert out["state"][mp.LAYER_COVERAGE_SHARE] is False
    legends = out["legends"]
    assert legends["救护车缺口 Ambulances planned − norm"]
    assert not legends["呼叫及时到达 Calls reached within the standard (simulated)"]
    assert legends["基层医疗 Health centres"]


@pytest.mark.slow
@needs_chromium
def test_compare_map_in_browser_is_synchronised(run_a, assets_dir):
    results_b, summary_b = make_run("b")
    html = build_compare_map(*run_a, results_b, summary_b, offline=True, assets_dir=assets_dir)
    path = _write("compare.html", html)
    report = check_page(path, screenshot=ARTIFACTS / "compare.png")
    assert report.ok, report.problems()
    assert report.maps == 2

    def pan(page):
        return page.evaluate("""() => {
            const maps = Object.keys(window).filter(k => k.startsWith('map_'))
                .map(k => window[k]).filter(v => v instanceof L.Map);
            maps[0].setView([37.86, 112.55], 11, {animate: false});
            const c = maps[1].getCenter();
            return [maps.length, c.lat, c.lng, maps[1].getZoom()];
        }""")

    n, lat, lng, zoom = _with_page(path, pan)
    assert n == 2
    assert lat == pytest.approx(37.86, abs=1e-3) and lng == pytest.approx(112.55, abs=1e-3)
    assert zoom == 11


def test_title_leads_with_the_simulated_calls_reached(run_a, offline_html):
    # The map's lead line is the report's headline: simulated share of calls reached in time
    # with its interval, and the 90th-percentile response; the solver status follows it.
    from healthopt.outputs.maps.title import headline_line, title_html

    sim = run_a[1]["ambulances"]["simulated"]
    line = headline_line(run_a[1])
    assert line is not None and f"{100 * sim['reached_share']:.1f} %" in line
    assert "12 min urban / 20 min county" in line and "90 % reached in 13.4 min" in line and "estimate" in line
    box = title_html(run_a[1])
    assert box.index("hopt-headline") < box.index("hopt-status")
    assert _has(offline_html, "呼叫及时到达")
    no_sim = {k: v for k, v in run_a[1].items() if k != "ambulances"}
    assert headline_line(no_sim) is None and "hopt-headline" not in title_html(no_sim)


def test_title_of_a_congested_run_names_free_flow_too(run_a):
    from healthopt.outputs.maps.title import headline_line

    summary = json.loads(json.dumps(run_a[1]))
    free = dict(summary["ambulances"]["simulated"], reached_share=0.987, congestion=1.0)
    summary["ambulances"]["simulated_free_flow"] = free
    line = headline_line(summary)
    assert line is not None and line.endswith("; at free flow 98.7 %")
