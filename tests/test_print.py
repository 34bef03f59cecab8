"""The briefing prints to A4: headless Chromium's print-to-PDF, pages checked (and rendered when poppler is there)."""

from __future__ import annotations

import copy
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from healthopt.outputs import offline
from healthopt.outputs.maps import build_map, render_map
from healthopt.outputs.report import MAP_PRINT_CSS, render_report

sys.path.insert(0, str(Path(__file__).parent))
from browser import BLOCKING_ARGS, find_chromium
from fixtures.run_fixture import make_run
from test_report_green import RECEIVERS, section

CHROMIUM = find_chromium()
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="Chromium not installed (apt-get install chromium)")
#: A4 landscape in PostScript points (297 × 210 mm), as Chromium writes the MediaBox.
A4_LANDSCAPE = (841.92, 594.96)


def print_pdf(html: Path, pdf: Path) -> None:
    """Print ``html`` with headless Chromium (network blocked), as a user's print-to-PDF would."""
    assert CHROMIUM is not None
    with tempfile.TemporaryDirectory(prefix="hopt-print-") as profile:
        subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-pdf-header-footer",
                        f"--user-data-dir={profile}", *BLOCKING_ARGS, f"--print-to-pdf={pdf}", html.as_uri()],
                       check=True, capture_output=True, timeout=180)


def page_texts(pdf: Path) -> list[str] | None:
    """Return each page's text (``pdftotext``), or None without poppler."""
    if shutil.which("pdftotext") is None:
        return None
    out = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], check=True, capture_output=True, text=True).stdout
    return out.split("\f")[:-1]


@pytest.fixture(scope="module")
def printed(tmp_path_factory) -> tuple[Path, str]:
    if CHROMIUM is None:
        pytest.skip("Chromium not installed")
    results, summary = make_run("a")
    summary = copy.deepcopy(summary)
    summary["green_channel"] = section()
    folder = tmp_path_factory.mktemp("print")
    map_html = render_map(build_map(results, summary, offline=True, assets_dir=offline.STATIC_DIR))
    html = render_report(results, summary, map_html=map_html)
    (folder / "report.html").write_text(html, encoding="utf-8")
    print_pdf(folder / "report.html", folder / "report.pdf")
    return folder / "report.pdf", html


def test_print_css_is_in_the_report():
    page = render_report(*make_run("a"), map_html="<html><head></head><body>map</body></html>")
    assert "@page { size: A4 landscape" in page
    assert "thead { display: table-header-group; }" in page  # table headers repeat on each page
    import html as htmllib

    assert MAP_PRINT_CSS in htmllib.unescape(page)  # the map's layer switcher and zoom stay off paper


@pytest.mark.slow
@needs_chromium
def test_report_prints_to_a4_pages(printed):
    pdf, _ = printed
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF-")
    boxes = re.findall(rb"/MediaBox \[0 0 ([\d.]+) ([\d.]+)\]", data)
    pages = len(re.findall(rb"/Type /Page\b", data))
    assert 2 <= pages <= 8 and len(boxes) == pages
    for w, h in boxes:
        assert float(w) == pytest.approx(A4_LANDSCAPE[0], abs=1) and float(h) == pytest.approx(A4_LANDSCAPE[1], abs=1)


@pytest.mark.slow
@needs_chromium
def test_printed_pages_keep_sections_whole(printed):
    pdf, _ = printed
    texts = page_texts(pdf)
    if texts is None:
        pytest.skip("pdftotext (poppler-utils) not installed")
    # The simulated headline leads page 1; the indicator cards and the baseline table follow by page 2.
    assert "Share of calls reached within" in texts[0]
    start = " ".join(texts[:2])
    assert "Headline indicators against the norms" in start and "What changed from the baseline" in start
    # the green-channel section is on one page, with all four receivers of seed 000
    green = [t for t in texts if "Critical-care referral green channel" in t]
    assert len(green) == 1 and all(name in green[0] for name in RECEIVERS)
    # the map starts a page under its heading; the district table's header repeats where it continues
    map_pages = [i for i, t in enumerate(texts) if re.search(r"^\s*地图 Map", t, re.M)]
    assert map_pages and texts[map_pages[0]].lstrip().startswith("地图 Map")
    district_pages = [t for t in texts if "小店区 Xiaodian" in t or "合计 Total" in t]
    assert all("区县 District" in t for t in district_pages)


@pytest.mark.slow
@needs_chromium
def test_printed_first_page_renders(printed, tmp_path):
    if shutil.which("pdftoppm") is None:
        pytest.skip("pdftoppm (poppler-utils) not installed")
    pdf, _ = printed
    subprocess.run(["pdftoppm", "-r", "40", "-f", "1", "-l", "1", "-png", str(pdf), str(tmp_path / "p")],
                   check=True, capture_output=True, timeout=60)
    png = next(tmp_path.glob("p*.png"))
    import numpy as np
    from PIL import Image

    gray = np.asarray(Image.open(png).convert("L"))
    assert gray.shape[1] > gray.shape[0]  # landscape
    assert (gray < 128).mean() > 0.01  # text and cards were drawn, not a blank page
