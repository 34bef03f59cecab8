"""One-page HTML briefing: content, escaping of the embedded map, offline, determinism."""

from __future__ import annotations

import html as htmllib
import re
import sys
import tempfile
from pathlib import Path

import pytest

from healthopt.outputs import offline
from healthopt.outputs.maps import build_map, render_map
from healthopt.outputs.report import MAP_PRINT_CSS, kpi_cards, printable_map, render_report, write_report

sys.path.insert(0, str(Path(__file__).parent))
from fixtures.run_fixture import make_run
from test_maps import ARTIFACTS, CHROMIUM, EXTERNAL_TAG, needs_chromium

try:
    from browser import BLOCKING_ARGS, CHROMIUM_ARGS, LOCAL_SCHEMES, check_page
except ImportError:  # pragma: no cover
    check_page = None  # type: ignore[assignment]


@pytest.fixture(scope="module")
def assets_dir() -> Path:
    offline.check_offline_assets()  # shipped in the package: a missing file fails, never skips
    return offline.STATIC_DIR


@pytest.fixture(scope="module")
def run_a():
    return make_run("a")


@pytest.fixture(scope="module")
def map_html(run_a, assets_dir) -> str:
    return render_map(build_map(*run_a, offline=True, assets_dir=assets_dir))


@pytest.fixture(scope="module")
def report_html(run_a, map_html) -> str:
    return render_report(*run_a, map_html=map_html, offline=True)


def test_headline_cards_against_norms(run_a):
    cards = {c["label"]: c for c in kpi_cards(run_a[1])}
    fleet = cards["救护车 Ambulances planned / norm"]
    assert fleet["value"] == "226 / 233" and fleet["mark"] == "✗"
    assert cards["负压救护车 Negative-pressure share"]["mark"] == "✓"  # 41 % >= 40 %
    assert cards["每千人床位 Beds per 1,000"]["mark"] == "✗"  # 8.39 < 9.56
    calls = cards["呼叫及时到达 Calls reached in time (simulated)"]
    sim = run_a[1]["ambulances"]["simulated"]
    assert calls["value"] == f"{100 * sim['reached_share']:.1f} %"
    assert "90 % of calls reached in 13.4 min" in calls["norm"] and "estimate" in calls["norm"]


def _page_without_map(report_html: str) -> str:
    """The report's own markup (the embedded map page, which inlines Leaflet, left out)."""
    return re.sub(r'srcdoc="[^"]*"', 'srcdoc=""', report_html)


def _changes_table(report_html: str) -> dict[str, tuple[str, ...]]:
    """Return label -> (baseline, planned, change) of the "What changed" table."""
    page = _page_without_map(report_html)
    section = page[page.index("What changed from the baseline"):]
    section = section[:section.index("</table>")]
    rows = re.findall(r'<tr><td class="l">([^<]*)</td>\s*<td>([^<]*)</td>\s*<td>([^<]*)</td>\s*'
                      r"<td>([^<]*)</td></tr>", section)
    return {label: tuple(cells) for label, *cells in rows}


def test_report_sections(report_html):
    page = _page_without_map(report_html)
    for text in ("核心指标", "Headline indicators", "What changed from the baseline",
                 "By district", "Residents within reach of some open station", "Data quality",
                 "Sources", "未证明最优", "小店区 Xiaodian", "合计 Total",
                 "Outside every catchment", "⚠ Population within districts",
                 "Share of calls reached within 12 min urban / 20 min county (simulated, 95 % CI)",
                 "Calls reached in time (sim.)", "Within reach of some open station",
                 "against the fleet-size norm", "⚠ Simulated with estimate inputs"):
        assert text in page, text
    # the capacity split (residents per ambulance as if it were a service capacity) is gone
    assert "beyond capacity" not in page.lower() and "not reached in" not in page
    assert page.index("Share of calls reached within") < page.index("Headline indicators")
    assert page.count('class="card ') == 5


def test_changes_table_figures(report_html):
    # fixture: baseline 150 vehicles / 52 negative pressure / 18 stations (summary kpis); the
    # plan is its 11 stations with 20+24+20+26+18+28+12+35+13+10+20 = 226 vehicles, of which
    # 9+10+12+8+5+12+6+14+4+5+7 = 92 negative pressure
    rows = _changes_table(report_html)
    assert rows["救护车 Ambulances"] == ("150", "226", "+76")
    assert rows["负压救护车 Negative-pressure ambulances"] == ("52", "92", "+40")
    assert rows["急救站 Ambulance stations"] == ("18", "11", "−7")


def test_map_embedded_in_srcdoc_and_escaped(report_html, map_html):
    m = re.search(r'<iframe class="map"[^>]*srcdoc="([^"]*)"', report_html)
    assert m, "no srcdoc iframe"
    assert "<script" not in m.group(1)  # escaped inside the attribute
    assert htmllib.unescape(m.group(1)) == printable_map(map_html)
    assert printable_map(map_html).replace(MAP_PRINT_CSS, "") == map_html  # only the print rules added


def test_report_offline_and_self_contained(report_html):
    assert not EXTERNAL_TAG.search(report_html)
    assert not EXTERNAL_TAG.search(htmllib.unescape(report_html))
    assert offline.find_external_refs(report_html) == []


def test_offline_report_refuses_an_online_map(run_a, assets_dir):
    online = render_map(build_map(*run_a, offline=False))
    with pytest.raises(offline.OfflineAssetError, match=r"tile\.openstreetmap\.org"):
        render_report(*run_a, map_html=online, offline=True, assets_dir=assets_dir)
    out = render_report(*run_a, map_html=online, offline=False)
    assert "tile.openstreetmap.org" in out


def test_report_deterministic(run_a, map_html, report_html, tmp_path):
    path = tmp_path / "report.html"
    write_report(path, *run_a, map_html=map_html)
    assert path.read_text(encoding="utf-8") == report_html


def test_report_without_beds_or_map():
    results, summary = make_run("b", beds=False)
    out = render_report(results, summary, map_html=None)
    assert "The map is not included" in out
    assert "No beds plan in this run" in out
    assert "No hospital bed changes in this run" in out
    assert "n/a" in out and "最优 Optimal plan" in out


@pytest.mark.slow
@needs_chromium
def test_report_in_browser(report_html):
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / "report.html"
    path.write_text(report_html, encoding="utf-8")
    page_report = check_page(path, screenshot=ARTIFACTS / "report.png")
    assert not (page_report.js_errors or page_report.failed_requests), page_report.problems()
    assert not page_report.blocked_requests
    with tempfile.TemporaryDirectory() as profile, sync_playwright() as p:
        ctx = p.chromium.launch_persistent_context(
            profile, executable_path=CHROMIUM, headless=True,
            args=[*CHROMIUM_ARGS, *BLOCKING_ARGS], viewport={"width": 1280, "height": 900})
        ctx.route("**/*", lambda r: r.continue_() if r.request.url.startswith(LOCAL_SCHEMES)
                  else r.abort())
        try:
            page = ctx.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(path.as_uri(), wait_until="load")
            page.wait_for_timeout(800)
            frame = next(f for f in page.frames if f.url == "about:srcdoc")
            layers = frame.evaluate("""() => {
                let n = 0;
                for (const k of Object.keys(window)) {
                    if (window[k] instanceof L.Map) { window[k].eachLayer(() => n++); }
                }
                return n;
            }""")
            page.screenshot(path=str(ARTIFACTS / "report_full.png"), full_page=True)
        finally:
            ctx.close()
    assert not errors, errors
    assert layers > 10
