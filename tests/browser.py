"""Headless-Chromium page checker for the map tests (a helper module, not tests).

``check_page(path)`` opens a local HTML file in Debian's Chromium through Playwright (using
the system browser via ``executable_path``: no browser download), with every non-``file:``
request aborted and a proxy to nowhere as a second guard, and reports JavaScript errors,
console errors, failed requests and what Leaflet drew.

Chromium is looked up in ``$HEALTHOPT_CHROMIUM``, ``/usr/lib/chromium/chromium`` (the real
binary behind Debian's ``/usr/bin/chromium`` wrapper), then ``chromium`` /
``chromium-browser`` on ``PATH``.  CI: ``apt-get install -y --no-install-recommends chromium``.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CHROMIUM_ENV = "HEALTHOPT_CHROMIUM"
CHROMIUM_CANDIDATES = ("/usr/lib/chromium/chromium", "/usr/bin/chromium")
# Playwright adds ``--headless`` itself (headless=True) and a fresh ``--user-data-dir``
# (launch_persistent_context on a temporary folder).
CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
)
BLOCKING_ARGS = ("--proxy-server=http://127.0.0.1:9", "--proxy-bypass-list=<-loopback>")
LOCAL_SCHEMES = ("file:", "data:", "blob:", "about:")

_PROBE_JS = """
(sel) => {
  const out = {has_leaflet: typeof window.L !== "undefined", maps: 0, layers: 0};
  if (out.has_leaflet) {
    for (const key of Object.keys(window)) {
      let v;
      try { v = window[key]; } catch (e) { continue; }
      if (v instanceof L.Map) { out.maps += 1; v.eachLayer(() => { out.layers += 1; }); }
    }
  }
  const q = (s) => document.querySelectorAll(s).length;
  out.interactive_paths = q("path.leaflet-interactive");
  out.paths = q(".leaflet-overlay-pane path");
  out.markers = q(".leaflet-marker-pane > *");
  out.awesome_markers = q(".leaflet-marker-pane > .awesome-marker");
  out.legend = q(sel) > 0;
  out.legend_text = out.legend ? document.querySelector(sel).innerText : "";
  const att = document.querySelector(".leaflet-control-attribution");
  out.attribution = att ? att.innerText : "";
  out.layer_control = q(".leaflet-control-layers") > 0;
  out.scale = q(".leaflet-control-scale") > 0;
  const icon = document.querySelector(".awesome-marker i");
  out.icon_font = icon ? getComputedStyle(icon, "::before").fontFamily : "";
  return out;
}
"""


@dataclass
class PageReport:
    """What Chromium saw when it loaded a page.

    Attributes
    ----------
    path : str
        The page that was loaded.
    js_errors : list of str
        Uncaught exceptions (``pageerror``), e.g. ``"L is not defined"``.
    console_errors : list of str
        ``console.error`` messages (including Chromium's resource-load errors).
    failed_requests : list of str
        ``"url (reason)"`` for every request that failed (blocked ones included).
    blocked_requests : list of str
        Non-local requests the checker aborted (network is blocked).
    has_leaflet : bool
        Whether ``window.L`` exists after load.
    maps, layers : int
        Leaflet maps found on ``window`` and layers on them (``map.eachLayer``).
    interactive_paths, paths : int
        ``path.leaflet-interactive`` elements and all overlay-pane SVG paths.
    markers, awesome_markers : int
        Icons in Leaflet's marker pane (image, awesome and DivIcon markers; shadows are in
        the shadow pane) and how many of them are awesome-markers.
    legend_present : bool
        Whether the legend selector matched.
    legend_text, attribution_text : str
        Visible text of the legend and of the attribution control.
    layer_control, scale : bool
        Whether a LayerControl / scale bar is on the page.
    icon_font : str
        Computed font-family of the first awesome-marker glyph.
    screenshot : str or None
        PNG path, if one was taken.
    dialogs : list of str
        Messages of ``alert``/``confirm``/``prompt`` dialogs the page opened (dismissed).
    evaluated : object
        Result of the ``evaluate`` script given to :func:`check_page` (``None`` if none).
    """

    path: str
    js_errors: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)
    blocked_requests: list[str] = field(default_factory=list)
    has_leaflet: bool = False
    maps: int = 0
    layers: int = 0
    interactive_paths: int = 0
    paths: int = 0
    markers: int = 0
    awesome_markers: int = 0
    legend_present: bool = False
    legend_text: str = ""
    attribution_text: str = ""
    layer_control: bool = False
    scale: bool = False
    icon_font: str = ""
    screenshot: str | None = None
    dialogs: list[str] = field(default_factory=list)
    evaluated: Any = None

    @property
    def ok(self) -> bool:
        """True if the page loaded cleanly and drew at least one Leaflet map."""
        clean = not (self.js_errors or self.console_errors or self.failed_requests or self.dialogs)
        return clean and self.has_leaflet and self.maps > 0

    def problems(self) -> list[str]:
        """Return a readable list of everything that went wrong (empty if ``ok``)."""
        out = [f"JS error: {e}" for e in self.js_errors]
        out += [f"console error: {e}" for e in self.console_errors]
        out += [f"failed request: {r}" for r in self.failed_requests]
        out += [f"dialog opened: {d}" for d in self.dialogs]
        if not self.has_leaflet:
            out.append("Leaflet (window.L) is not loaded")
        elif self.maps == 0:
            out.append("no Leaflet map on the page")
        return out


def find_chromium() -> str | None:
    """Return the path of a usable Chromium binary, or ``None``."""
    env = os.environ.get(CHROMIUM_ENV)
    candidates = [env] if env else []
    candidates += list(CHROMIUM_CANDIDATES)
    candidates += [shutil.which(n) or "" for n in ("chromium", "chromium-browser")]
    for c in candidates:
        if c and os.path.isfile(c) and os.access(c, os.X_OK):
            return c
    return None


def _route_handler(report: PageReport, block_network: bool):
    """Return a Playwright route handler that lets local URLs through and aborts the rest."""

    def handle(route: Any) -> None:
        url = route.request.url
        if not block_network or url.startswith(LOCAL_SCHEMES):
            route.continue_()
            return
        report.blocked_requests.append(url)
        route.abort("internetdisconnected")

    return handle


def _attach_listeners(page: Any, report: PageReport) -> None:
    """Record page errors, console errors and failed requests into ``report``."""
    page.on("pageerror", lambda exc: report.js_errors.append(str(exc)))
    page.on("console", lambda msg: report.console_errors.append(msg.text)
            if msg.type == "error" else None)
    page.on("requestfailed", lambda req: report.failed_requests.append(
        f"{req.url} ({req.failure})"))

    def dialog(d: Any) -> None:
        report.dialogs.append(d.message)
        d.dismiss()

    page.on("dialog", dialog)


def _probe(page: Any, report: PageReport, legend_selector: str) -> None:
    """Fill the Leaflet counts of ``report`` from the loaded page."""
    data = page.evaluate(_PROBE_JS, legend_selector)
    for key in ("has_leaflet", "maps", "layers", "interactive_paths", "paths", "markers",
                "awesome_markers", "legend_text", "layer_control", "scale", "icon_font"):
        setattr(report, key, data[key])
    report.legend_present = data["legend"]
    report.attribution_text = data["attribution"]


def check_page(
    html_path: str | Path,
    *,
    screenshot: str | Path | None = None,
    block_network: bool = True,
    legend_selector: str = ".hopt-legend",
    viewport: tuple[int, int] = (1200, 850),
    settle_ms: int = 800,
    timeout_ms: int = 30_000,
    evaluate: str | None = None,
) -> PageReport:
    """Load a local HTML page in headless Chromium and report what happened.

    Parameters
    ----------
    html_path : str or Path
        Local file to open (as a ``file://`` URL).
    screenshot : str or Path, optional
        Write a PNG of the viewport here.
    block_network : bool
        Abort every request that is not ``file:``/``data:``/``blob:`` (default) and route
        anything that slips through to a proxy on a closed local port.
    legend_selector : str
        CSS selector of the legend.
    viewport : tuple of int
        Width and height in CSS pixels.
    settle_ms : int
        Extra wait after ``load`` and web fonts, for Leaflet to finish drawing.
    timeout_ms : int
        Navigation timeout.
    evaluate : str, optional
        A JavaScript function source run after loading; its result is ``report.evaluated``.

    Returns
    -------
    PageReport

    Raises
    ------
    RuntimeError
        If no Chromium binary is found.
    """
    from playwright.sync_api import sync_playwright

    exe = find_chromium()
    if exe is None:
        raise RuntimeError("Chromium not found (apt-get install -y chromium)")
    path = Path(html_path).resolve()
    report = PageReport(path=str(path))
    args = list(CHROMIUM_ARGS) + (list(BLOCKING_ARGS) if block_network else [])
    with tempfile.TemporaryDirectory(prefix="hopt-chromium-") as profile, sync_playwright() as p:
        ctx = p.chromium.launch_persistent_context(
            profile, executable_path=exe, headless=True, args=args,
            viewport={"width": viewport[0], "height": viewport[1]},
            service_workers="block", offline=False,
        )
        try:
            ctx.route("**/*", _route_handler(report, block_network))
            page = ctx.new_page()
            _attach_listeners(page, report)
            page.goto(path.as_uri(), wait_until="load", timeout=timeout_ms)
            page.evaluate("document.fonts ? document.fonts.ready.then(() => true) : true")
            page.wait_for_timeout(settle_ms)
            _probe(page, report, legend_selector)
            if evaluate is not None:
                report.evaluated = page.evaluate(evaluate)
            if screenshot is not None:
                page.screenshot(path=str(screenshot))
                report.screenshot = str(screenshot)
        finally:
            ctx.close()
    return report
