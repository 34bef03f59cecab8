"""No text from any input is evaluated as a template or breaks out of its HTML/JS context.

Before the fix branca rendered every ``MacroElement``'s output a second time as a Jinja2
template, so a scenario description, a station/hospital/district name from a user layer, a
sweep value or another run's ``summary.json`` became template source in ``map.html`` and
``compare.html`` (``{{7*7}}`` -> ``49``; ``lipsum.__globals__`` ran a shell command; ``{%
endfor %}`` crashed the run).  Each payload below is pushed through every text field of the
synthetic run fixture (all string columns of every result layer plus the summary's scenario
block) and through the real readers (a CSV and a GeoPackage station layer, a hospital layer,
a sweep grid, a run folder read by ``compare``).  Checks: the payload is there literally, no
evaluated form is, no marker file appears, and the page has exactly the elements of the clean
page (nothing broke out).  A browser test loads a page with every payload and asserts no
script error and no dialog.
"""

from __future__ import annotations

import html as htmllib
import json
import os
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from types import SimpleNamespace

import geopandas as gpd
import pandas as pd
import pytest
import shapely

from healthopt.outputs import maps as mp
from healthopt.outputs.batch import index_html
from healthopt.outputs.compare import compare_runs
from healthopt.outputs.compare_map import build_compare_map
from healthopt.outputs.report import render_report

sys.path.insert(0, str(Path(__file__).parent))
from fixtures.run_fixture import make_run
from test_maps import ARTIFACTS, needs_chromium

try:
    from browser import check_page
except ImportError:  # pragma: no cover
    check_page = None  # type: ignore[assignment]

REPO = Path(__file__).resolve().parents[1]
LAYERS = Path(__file__).parent / "fixtures" / "user_layers"
MARKER_NAME = "PWNED"

#: name -> (payload, text that must never appear: the payload's evaluated form).
PAYLOADS: dict[str, tuple[str, str | None]] = {
    "arith": ("QZJ{{7*7}}QZJ", "QZJ49QZJ"),
    "loop": ("LZJ{% for x in range(3) %}X{% endfor %}LZJ", "LZJXXXLZJ"),
    "comment": ("CZJ{# hidden #}CZJ", "CZJCZJ"),
    "broken": ("BZJ{% endfor %}BZJ", None),  # a template syntax error (crashed the old code)
    "rce": ("RZJ{{ lipsum.__globals__.os.popen('touch MARKER').read() }}RZJ", "RZJRZJ"),
    # no quotes to mangle: the command comes from the environment (see ``_command``)
    "rce_env": ("EZJ{{ lipsum.__globals__.os.popen(lipsum.__globals__.os.environ.HOPT_INJECTION_CMD)"
                ".read() }}EZJ", "EZJEZJ"),
    "script": ("</script><script>alert(1)</script>", None),
    "attribute": ('"><img src=x onerror=alert(1)>', None),
    "js": ("`${alert(1)}` \\u0041 \\", None),  # backticks, ${...}, a backslash escape
    "lines": ("a\u2028b\u2029c\r\nd", None),
}
#: Raw fragments that would mean markup or script escaped its context (``${`` and backticks
#: only matter inside template literals: the browser test checks those).
BREAKOUTS = ("<script>alert(1)", "<img src=x")


@pytest.fixture(autouse=True)
def _command(tmp_path, monkeypatch):
    """The shell command of the ``rce_env`` payload: it would create the marker file."""
    monkeypatch.setenv("HOPT_INJECTION_CMD", f"touch {tmp_path / MARKER_NAME}")


def _payload(name: str, tmp_path: Path) -> str:
    return PAYLOADS[name][0].replace("MARKER", str(tmp_path / MARKER_NAME))


class _Tags(HTMLParser):
    """Count start tags by name (the page's element structure)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.counts: dict[str, int] = {}

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.counts[tag] = self.counts.get(tag, 0) + 1


def _tags(html: str) -> dict[str, int]:
    parser = _Tags()
    parser.feed(html)
    parser.close()
    return parser.counts


def _green_channel(districts: gpd.GeoDataFrame, text: str) -> gpd.GeoDataFrame:
    a, b = districts.geometry.representative_point().iloc[:2]
    return gpd.GeoDataFrame(
        {"sender": [text], "receiver": [text], "minutes": [42.0], "estimated": [False],
         "sender_location_quality": [text], "receiver_location_quality": ["proxy"]},
        geometry=[shapely.LineString([a, b])], crs=districts.crs)


def _poisoned_run(text: str | None, variant: str = "a") -> tuple[dict, dict]:
    """The synthetic run with ``text`` appended to every string cell and scenario field."""
    results, summary = make_run(variant)
    results["green_channel"] = _green_channel(results["districts"], "受援医院")
    if text is None:
        return results, summary
    for key, gdf in results.items():
        for col in gdf.columns:
            if gdf[col].dtype == object and not (key == "demand" and col == "status"):
                gdf[col] = gdf[col].map(lambda v, t=text: t if v is None else f"{v}{t}")
    summary["scenario"]["name"] = f"scenario {text}"
    summary["scenario"]["description"] = text
    for key in ("data_quality", "sources", "relaxed_norms", "infeasible_reasons"):
        summary[key] = [f"{v}{text}" for v in summary.get(key) or []]
    return results, summary


def _forms(text: str) -> set[str]:
    """The ways a text may be written in a page: raw, HTML-escaped, inside a JSON string."""
    escaped = mp.esc(text)
    out = {text, escaped, htmllib.escape(text)}
    for t in (text, escaped):
        for ascii_only in (True, False):
            body = json.dumps(t, ensure_ascii=ascii_only)[1:-1]
            out |= {body, body.replace("</", "<\\/"), body.replace("'", "\\u0027")}
    return out


def _assert_literal(html: str, clean: str, name: str, text: str, tmp_path: Path) -> None:
    """The page shows ``text`` as text: nothing evaluated, nothing broke out, same elements."""
    evaluated = PAYLOADS[name][1]
    assert not (tmp_path / MARKER_NAME).exists(), "a payload ran a shell command"
    if evaluated is not None:
        assert evaluated not in html, f"{name}: payload evaluated as a template"
    if "{" in text:
        assert any(form in html for form in _forms(text.split("\r")[0])), f"{name}: payload not kept literally"
    for fragment in BREAKOUTS:
        assert fragment not in html, f"{name}: {fragment!r} reached the page unescaped"
    assert _tags(html) == _tags(clean), f"{name}: the payload changed the page's elements"


@pytest.fixture(scope="module")
def clean_map() -> str:
    return mp.render_map(mp.build_map(*_poisoned_run(None), offline=False))


@pytest.fixture(scope="module")
def clean_compare() -> str:
    return build_compare_map(*_poisoned_run(None), *_poisoned_run(None, "b"), offline=False)


@pytest.mark.parametrize("name", list(PAYLOADS))
def test_map_shows_payloads_as_text(name, tmp_path, clean_map):
    text = _payload(name, tmp_path)
    html = mp.render_map(mp.build_map(*_poisoned_run(text), offline=False))
    _assert_literal(html, clean_map, name, text, tmp_path)


@pytest.mark.parametrize("name", list(PAYLOADS))
def test_compare_map_shows_payloads_as_text(name, tmp_path, clean_compare):
    text = _payload(name, tmp_path)
    html = build_compare_map(*_poisoned_run(text), *_poisoned_run(text, "b"), offline=False)
    _assert_literal(html, clean_compare, name, text, tmp_path)


def test_saved_map_is_safe_without_render_map(tmp_path):
    """The map object itself is safe: folium's own ``save`` (as in a notebook) evaluates nothing."""
    m = mp.build_map(*_poisoned_run(_payload("arith", tmp_path)), offline=False)
    m.save(str(tmp_path / "saved.html"))
    html = (tmp_path / "saved.html").read_text(encoding="utf-8")
    assert "QZJ{{7*7}}QZJ" in html and "QZJ49QZJ" not in html


def test_branca_is_restored_after_rendering(tmp_path):
    """The literal-output patch lasts only while our pages render (other folium code is untouched)."""
    import branca.element
    import jinja2

    mp.render_map(mp.build_map(*_poisoned_run(_payload("arith", tmp_path)), offline=False))
    assert branca.element.Template is jinja2.Template
    assert branca.element.Element("{{ 6 * 7 }}").render() == "42"


@pytest.mark.parametrize("name", list(PAYLOADS))
def test_report_shows_payloads_as_text(name, tmp_path):
    text = _payload(name, tmp_path)
    results, summary = _poisoned_run(text)
    html = render_report(results, summary, map_html=None, offline=False)
    assert not (tmp_path / MARKER_NAME).exists()
    if PAYLOADS[name][1] is not None:
        assert PAYLOADS[name][1] not in html
    for fragment in ("<script>alert(1)", "<img src=x"):
        assert fragment not in html
    assert _tags(html) == _tags(render_report(*_poisoned_run(None), map_html=None, offline=False))


def _write_run_folder(folder: Path, text: str, variant: str) -> Path:
    """A run folder as ``healthopt run`` leaves it (the layers and summary ``compare`` reads)."""
    results, summary = _poisoned_run(text, variant)
    folder.mkdir(parents=True)
    for layer, gdf in results.items():
        gdf.to_file(folder / "results.gpkg", layer=layer, driver="GPKG")
    (folder / "summary.json").write_text(json.dumps(summary, ensure_ascii=False), encoding="utf-8")
    return folder


@pytest.mark.parametrize("name", ["arith", "rce", "broken", "script"])
def test_compare_reads_stored_runs_as_data(name, tmp_path):
    text = _payload(name, tmp_path)
    a = _write_run_folder(tmp_path / "a", text, "a")
    b = _write_run_folder(tmp_path / "b", text, "b")
    compare_runs(a, b, tmp_path / "out")
    page = (tmp_path / "out" / "compare.html").read_text(encoding="utf-8")
    # compare.html explains the change (Jinja, autoescaped) and embeds the maps in <iframe srcdoc>
    embedded = re.search(r'<iframe class="map"[^>]*srcdoc="([^"]*)"', page)
    assert embedded, "compare.html embeds the maps"
    html = htmllib.unescape(embedded.group(1))
    assert not (tmp_path / MARKER_NAME).exists()
    if PAYLOADS[name][1] is not None:
        assert PAYLOADS[name][1] not in html and PAYLOADS[name][1] not in page
    assert "scenario " + text.split("\r")[0] in htmllib.unescape(json.loads(f'"{_title_of(html)}"'))
    for fragment in BREAKOUTS:
        assert fragment not in html and fragment not in page


def _title_of(html: str) -> str:
    """Return the JS string literal given to the first title box (``div.innerHTML = "..."``)."""
    start = html.index('hopt-title leaflet-control");')
    start = html.index('div.innerHTML = "', start) + len('div.innerHTML = "')
    return html[start:html.index('";\n', start)]


def test_sweep_grid_value_reaches_the_map_as_text(tmp_path):
    from healthopt.batch.sweep import load_batch

    values = [_payload(n, tmp_path) for n in ("arith", "loop", "rce", "broken")]
    sweep = {"sweep": {"name": "inj", "base": str(REPO / "scenarios" / "taiyuan_2025_baseline.yaml"),
                       "grid": {"description": values}}}
    path = tmp_path / "sweep.yaml"
    path.write_text(json.dumps(sweep, ensure_ascii=False), encoding="utf-8")
    members = load_batch(path).members
    assert [m.scenario.description for m in members] == values
    results, summary = make_run("a")
    for member in members:
        summary["scenario"]["description"] = member.scenario.description
        html = mp.render_map(mp.build_map(results, summary, offline=False))
        assert any(f in html for f in _forms(member.scenario.description))
        assert "QZJ49QZJ" not in html and "LZJXXXLZJ" not in html and "RZJRZJ" not in html
    assert not (tmp_path / MARKER_NAME).exists()


def test_batch_index_escapes_member_values(tmp_path):
    text = _payload("attribute", tmp_path) + _payload("arith", tmp_path)
    run = SimpleNamespace(batch=SimpleNamespace(name="inj", description=text, parameters=["description"]))
    frame = pd.DataFrame([{"scenario": text, "status": "failed", "description": text, "message": text,
                           "map": None, "report": None}])
    html = index_html(run, frame)
    assert "<img src=x" not in html and "&lt;img src=x" in html
    assert "QZJ{{7*7}}QZJ" in html
    assert _tags(html) == _tags(index_html(run, frame.assign(scenario="x", description="x", message="x")))


# --- real runs: the layer readers and the CLI -------------------------------------------------

def _scenario_file(tmp_path: Path, text: str, stations: Path, extra_data: dict | None = None,
                   primary_care: bool = False) -> Path:
    scenario = {
        "name": "inj", "description": text,
        "area": {"districts": ["140106"], "urban": ["140106"]},
        "data": {"stations": {"path": str(stations), "crs": "gcj02", "capacity_field": "vehicles"},
                 **(extra_data or {})},
        "plans": {"ambulances": {"max_new_stations": 2}, "primary_care": {"enabled": primary_care}},
        "solver": {"time_limit_s": 20},
    }
    path = tmp_path / "inj.yaml"
    path.write_text(json.dumps(scenario, ensure_ascii=False), encoding="utf-8")
    return path


def _run(scenario: Path, out: Path) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).parent / "healthopt"
    return subprocess.run([str(exe), "run", str(scenario), "-o", str(out)], cwd=REPO, env=dict(os.environ),
                          capture_output=True, text=True, timeout=600)


def _check_run_folder(folder: Path, texts: list[str], tmp_path: Path) -> None:
    html = (folder / "map.html").read_text(encoding="utf-8")
    report = (folder / "report.html").read_text(encoding="utf-8")
    assert not (tmp_path / MARKER_NAME).exists(), "a payload ran a shell command"
    for page in (html, report):
        assert "QZJ49QZJ" not in page and "RZJRZJ" not in page
        for fragment in BREAKOUTS:
            assert fragment not in page
    for text in texts:
        assert any(f in html for f in _forms(text)), text


@pytest.mark.slow
def test_run_with_payloads_in_csv_station_layer_and_description(tmp_path):
    rce, arith = _payload("rce", tmp_path), _payload("arith", tmp_path)
    layer = pd.read_csv(LAYERS / "stations_gcj02.csv").iloc[:1]
    layer["id"], layer["name"] = "S" + arith, "站" + rce
    layer.to_csv(tmp_path / "stations.csv", index=False)
    done = _run(_scenario_file(tmp_path, arith + " " + _payload("broken", tmp_path), tmp_path / "stations.csv"),
                tmp_path / "out")
    assert done.returncode == 0, done.stderr[-2000:]
    # the map names user stations by the name their layer gives (healthopt._naming)
    _check_run_folder(tmp_path / "out" / "inj", [arith, "站" + rce], tmp_path)


@pytest.mark.slow
def test_run_with_payloads_in_geopackage_stations_centres_and_hospitals(tmp_path):
    rce, arith = _payload("rce", tmp_path), _payload("arith", tmp_path)
    csv = pd.read_csv(LAYERS / "stations_gcj02.csv").iloc[:1]
    layer = gpd.GeoDataFrame({"id": ["G" + rce], "name": ["站" + arith], "vehicles": csv["vehicles"]},
                             geometry=gpd.points_from_xy(csv.lon, csv.lat), crs="EPSG:4326")
    layer.to_file(tmp_path / "stations.gpkg", driver="GPKG")
    centres = layer.assign(id="C" + arith, name="中心" + rce)[["id", "name", "geometry"]]
    centres.to_file(tmp_path / "centres.gpkg", driver="GPKG")
    hospitals = pd.read_csv(LAYERS / "hospitals_gcj02.csv").iloc[[0, 2]]
    hospitals.loc[hospitals.index[1], "name"] += arith
    hospitals.to_csv(tmp_path / "hospitals.csv", index=False)
    scenario = _scenario_file(tmp_path, rce, tmp_path / "stations.gpkg",
                              {"hospitals": {"path": str(tmp_path / "hospitals.csv"), "crs": "gcj02"},
                               "health_centres": {"path": str(tmp_path / "centres.gpkg"), "crs": "gcj02"}},
                              primary_care=True)
    done = _run(scenario, tmp_path / "out")
    assert done.returncode == 0, done.stderr[-2000:]
    # stations and centres are shown by their layer names (issue 13)
    _check_run_folder(tmp_path / "out" / "inj", [rce, "站" + arith, "中心" + rce], tmp_path)
    report = (tmp_path / "out" / "inj" / "report.html").read_text(encoding="utf-8")
    assert "太原市人民医院" + arith in report  # the unmatched hospital, named in the data-quality notes


# --- browser ----------------------------------------------------------------------------------

_TEXTS_JS = """() => {
  const out = {title: document.querySelector(".hopt-title").textContent, tips: []};
  for (const k of Object.keys(window)) {
    const v = window[k];
    if (v instanceof L.Map) {
      v.eachLayer((l) => {
        for (const b of [l.getTooltip && l.getTooltip(), l.getPopup && l.getPopup()]) {
          const c = b && b.getContent();
          if (typeof c === "string") {
            const d = document.createElement("div"); d.innerHTML = c; out.tips.push(d.textContent);
          }
        }
      });
    }
  }
  return out;
}"""


@needs_chromium
def test_map_with_every_payload_in_browser(tmp_path):
    texts = [_payload(n, tmp_path) for n in PAYLOADS]
    results, summary = _poisoned_run(" | ".join(texts))
    html = mp.render_map(mp.build_map(results, summary, offline=True))
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / "map_injection.html"
    path.write_text(html, encoding="utf-8")
    report = check_page(path, evaluate=_TEXTS_JS)
    assert report.ok, report.problems()
    assert not report.dialogs and not report.blocked_requests
    assert not (tmp_path / MARKER_NAME).exists()
    seen = report.evaluated
    for text in texts:
        shown = text.replace("\r\n", "\n")
        assert shown in seen["title"], text
        assert any(shown in t for t in seen["tips"]), text  # station tooltips / popups
