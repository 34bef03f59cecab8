"""Offline copies of the JavaScript/CSS that Folium maps link from CDNs.

Folium writes ``<script src=…>`` and ``<link rel="stylesheet" href=…>`` tags that point at
public CDNs (Leaflet, jQuery, Bootstrap, Font Awesome, Leaflet.awesome-markers, plugin
assets).  Briefing rooms cannot reach those hosts, so this module:

1. maps each CDN URL to the *same* version published on the npm registry
   (:func:`resolve_url`);
2. fetches those packages with ``npm pack`` at install time and records every file in a
   manifest with its SHA-256 (:func:`fetch_assets`; CLI ``python -m
   healthopt.outputs.assets fetch``);
3. rewrites a rendered map so that every script and stylesheet is inline, with the fonts and
   images the stylesheets use as ``data:`` URIs (:func:`inline_html`, :func:`make_offline`).

Third-party files are never committed: they live under ``build/assets`` (git-ignored).
Inlining refuses to leave any external reference behind and raises
:class:`OfflineAssetError` naming every URL it could not inline.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import mimetypes
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from healthopt.errors import HealthoptError

MANIFEST_NAME = "manifest.json"
_STAMP = ".npm-pack.json"
MANIFEST_VERSION = 1
ASSETS_ENV = "HEALTHOPT_ASSETS_DIR"
NPM_ENV = "HEALTHOPT_NPM"
REPO_ROOT = Path(__file__).resolve().parents[2]
FETCH_COMMAND = "python -m healthopt.outputs.assets fetch"


class OfflineAssetError(HealthoptError):
    """An asset needed for an offline map is missing, unknown or cannot be fetched.

    Parameters
    ----------
    message : str
        What went wrong, with the remedy.
    urls : sequence of str, optional
        The external URLs concerned (listed one per line in the message).
    """

    def __init__(self, message: str, urls: Sequence[str] = ()) -> None:
        self.urls = list(urls)
        lines = [message, *(f"  - {u}" for u in self.urls)]
        super().__init__("\n".join(lines))


@dataclass(frozen=True)
class AssetSpec:
    """Where the offline copy of one CDN URL comes from.

    Parameters
    ----------
    url : str
        The CDN URL as folium writes it.
    kind : {"js", "css"}
        Script or stylesheet.
    package : str
        npm package name (``""`` for a generated asset).
    version : str
        Exact npm version (``""`` for a generated asset).
    path : str
        File inside the package (after the tarball's top folder), or the generated file name.
    generator : str
        Name of a builder in ``_GENERATORS`` for assets that have no npm file; ``""`` if none.
    note : str
        Why this mapping was chosen, when it is not the obvious one.
    """

    url: str
    kind: str
    package: str
    version: str
    path: str
    generator: str = ""
    note: str = ""

    @property
    def package_id(self) -> str:
        """Return ``name@version`` (or ``generated``)."""
        return f"{self.package}@{self.version}" if self.package else "generated"


# --- URL → npm mapping --------------------------------------------------------------------

_CDNJS_AWESOME = "https://cdnjs.cloudflare.com/ajax/libs/Leaflet.awesome-markers/2.0.2/"
_MEASURE_GH = "https://cdn.jsdelivr.net/gh/ljagis/leaflet-measure@2.1.7/dist/"
_ROTATE_URL = (
    "https://cdn.jsdelivr.net/gh/python-visualization/folium/folium/templates/"
    "leaflet.awesome.rotate.min.css"
)
_GLYPHICONS_URL = "https://netdna.bootstrapcdn.com/bootstrap/3.0.0/css/bootstrap-glyphicons.css"
_GLYPHICONS_SOURCE = ("bootstrap", "3.1.1")

_EXPLICIT: tuple[AssetSpec, ...] = (
    AssetSpec(
        _CDNJS_AWESOME + "leaflet.awesome-markers.js", "js",
        "drmonty-leaflet-awesome-markers", "2.0.2", "js/leaflet.awesome-markers.js",
        note="npm 'leaflet.awesome-markers' has no 2.0.2; drmonty-* is the 2.0.2 release shim",
    ),
    AssetSpec(
        _CDNJS_AWESOME + "leaflet.awesome-markers.css", "css",
        "drmonty-leaflet-awesome-markers", "2.0.2", "css/leaflet.awesome-markers.css",
        note="npm 'leaflet.awesome-markers' has no 2.0.2; drmonty-* is the 2.0.2 release shim",
    ),
    AssetSpec(
        _ROTATE_URL, "css", "", "", "generated/leaflet.awesome.rotate.min.css",
        generator="awesome_rotate",
        note="folium's gist-like CSS (.fa-rotate-N for N=0..360), regenerated locally",
    ),
    AssetSpec(
        _GLYPHICONS_URL, "css", *_GLYPHICONS_SOURCE, "generated/bootstrap-glyphicons.css",
        generator="glyphicons",
        note="Bootstrap 3.0.0 is not on npm; glyphicon rules + font from bootstrap@3.1.1",
    ),
    AssetSpec(
        _MEASURE_GH + "leaflet-measure.min.js", "js",
        "leaflet-measure", "2.1.7", "dist/leaflet-measure.min.js",
    ),
    AssetSpec(
        _MEASURE_GH + "leaflet-measure.min.css", "css",
        "leaflet-measure", "2.1.7", "dist/leaflet-measure.css",
        note="the npm tarball ships the unminified CSS only",
    ),
)
_EXPLICIT_BY_URL = {s.url: s for s in _EXPLICIT}

_VERSION = r"\d+\.\d+\.\d+(?:[-+][\w.]+)?"
_NPM_NAME = r"(?:@[a-z0-9][\w.-]*/)?[a-z0-9][\w.-]*"
_NPM_CDN = re.compile(
    rf"^https://(?:cdn\.jsdelivr\.net/npm|unpkg\.com)/(?P<name>{_NPM_NAME})@(?P<ver>{_VERSION})"
    r"/(?P<path>[^?#]+)$",
    re.IGNORECASE,
)
_JQUERY_CDN = re.compile(rf"^https://code\.jquery\.com/jquery-(?P<ver>{_VERSION})(?P<min>\.min)?\.js$")
_CDNJS = re.compile(
    rf"^https://cdnjs\.cloudflare\.com/ajax/libs/(?P<lib>[\w.-]+)/(?P<ver>{_VERSION})/(?P<path>[^?#]+)$"
)
# cdnjs library name → (npm package, folder inside the npm package that matches cdnjs' root)
_CDNJS_LIBS = {
    "jquery": ("jquery", "dist/"),
    "leaflet.markercluster": ("leaflet.markercluster", "dist/"),
    "leaflet": ("leaflet", "dist/"),
}


def _kind_of(path: str) -> str:
    """Return ``"css"`` for stylesheets, else ``"js"``."""
    return "css" if path.lower().endswith(".css") else "js"


def resolve_url(url: str) -> AssetSpec | None:
    """Map a CDN URL to the npm package, version and file that hold the same content.

    Parameters
    ----------
    url : str
        A script or stylesheet URL written by folium or a plugin.

    Returns
    -------
    AssetSpec or None
        ``None`` if no npm source is known (the URL then cannot be made offline).
    """
    if url in _EXPLICIT_BY_URL:
        return _EXPLICIT_BY_URL[url]
    if m := _NPM_CDN.match(url):
        return AssetSpec(url, _kind_of(m["path"]), m["name"], m["ver"], m["path"])
    if m := _JQUERY_CDN.match(url):
        path = f"dist/jquery{m['min'] or ''}.js"
        return AssetSpec(url, "js", "jquery", m["ver"], path)
    if (m := _CDNJS.match(url)) and m["lib"] in _CDNJS_LIBS:
        package, prefix = _CDNJS_LIBS[m["lib"]]
        return AssetSpec(url, _kind_of(m["path"]), package, m["ver"], prefix + m["path"])
    return None


# --- discovering the URLs a map uses ------------------------------------------------------

class _LinkCollector(HTMLParser):
    """Collect external script and stylesheet URLs in document order."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k.lower(): (v or "") for k, v in attrs}
        if tag == "script" and _is_external(a.get("src", "")):
            self.urls.append(a["src"])
        elif tag == "link" and _is_external(a.get("href", "")) and _loads_resource(a):
            self.urls.append(a["href"])


def _is_external(url: str) -> bool:
    """Return whether ``url`` is fetched from the network (http, https or protocol-relative)."""
    return bool(re.match(r"^(?:https?:)?//", url.strip(), re.IGNORECASE))


def _loads_resource(attrs: dict[str, str]) -> bool:
    """Return whether a ``<link>`` with these attributes makes the browser fetch its href."""
    rel = set(attrs.get("rel", "").lower().split())
    return bool(rel & {"stylesheet", "icon", "preload", "modulepreload", "prefetch", "import"})


def urls_in_html(html: str) -> list[str]:
    """Return the external script/stylesheet URLs of an HTML page, unique, in order.

    Parameters
    ----------
    html : str
        A rendered page.

    Returns
    -------
    list of str
    """
    parser = _LinkCollector()
    parser.feed(html)
    return list(dict.fromkeys(parser.urls))


def _element_urls(element: Any) -> list[str]:
    """Return ``default_js``/``default_css`` URLs of ``element`` and all its descendants."""
    urls = [u for _, u in getattr(element, "default_js", [])]
    urls += [u for _, u in getattr(element, "default_css", [])]
    for child in getattr(element, "_children", {}).values():
        urls += _element_urls(child)
    return urls


def discover_urls(map_or_figure: Any) -> list[str]:
    """Return every CDN URL a folium Map/Figure references, unique, in order.

    Walks the element tree for ``default_js``/``default_css`` (folium's own lists and every
    plugin's) and adds any other script/stylesheet URL present in the rendered HTML.

    Parameters
    ----------
    map_or_figure : folium.Map or branca.element.Figure
        The map (its root figure is rendered).

    Returns
    -------
    list of str
    """
    root = map_or_figure.get_root()
    urls = _element_urls(root)
    urls += urls_in_html(root.render())
    return list(dict.fromkeys(urls))


def default_urls() -> list[str]:
    """Return the URLs fetched by default: folium's Map defaults plus known plugin assets.

    Returns
    -------
    list of str
    """
    import folium

    urls = [u for _, u in folium.Map.default_js] + [u for _, u in folium.Map.default_css]
    urls += [s.url for s in _EXPLICIT]
    return list(dict.fromkeys(urls))


# --- fetching from npm --------------------------------------------------------------------

def default_assets_dir() -> Path:
    """Return ``$HEALTHOPT_ASSETS_DIR`` or ``<repo>/build/assets``."""
    env = os.environ.get(ASSETS_ENV)
    return Path(env) if env else REPO_ROOT / "build" / "assets"


def _package_dir(assets_dir: Path, package: str, version: str) -> Path:
    """Return the folder a package's tarball is extracted into."""
    return assets_dir / "npm" / f"{package.replace('/', '__')}@{version}"


def _npm_executable() -> str:
    """Return the npm executable (``$HEALTHOPT_NPM`` or ``npm`` on PATH)."""
    npm = os.environ.get(NPM_ENV) or shutil.which("npm")
    if not npm:
        raise OfflineAssetError(
            "npm was not found: install Node.js/npm (Debian: apt-get install -y npm) or set "
            f"{NPM_ENV}"
        )
    return npm


def _npm_pack(package: str, version: str, workdir: Path) -> tuple[Path, dict[str, Any]]:
    """Download ``package@version`` as a tarball into ``workdir`` with ``npm pack``."""
    cmd = [_npm_executable(), "pack", f"{package}@{version}", "--json",
           "--pack-destination", str(workdir)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=600)
    if proc.returncode != 0:
        raise OfflineAssetError(
            f"npm pack {package}@{version} failed (exit {proc.returncode}):\n"
            f"{proc.stderr.strip()[-2000:]}"
        )
    info = json.loads(proc.stdout)[0]
    return workdir / info["filename"], info


def _safe_members(tar: tarfile.TarFile) -> list[tarfile.TarInfo]:
    """Return regular files/dirs of an npm tarball, rejecting absolute or ``..`` paths."""
    members = []
    for member in tar.getmembers():
        parts = Path(member.name).parts
        if member.name.startswith("/") or ".." in parts:
            raise OfflineAssetError(f"unsafe path in npm tarball: {member.name}")
        if member.isfile() or member.isdir():
            members.append(member)
    return members


def _extract_tarball(tarball: Path, target: Path, record: dict[str, Any]) -> None:
    """Extract an npm tarball into ``target``, dropping its top folder (``package/``).

    The files and the ``.npm-pack.json`` stamp are written to a staging folder that is then
    renamed, so ``target`` is either complete or absent (safe against interrupted or
    concurrent fetches).
    """
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=".extract-"))
    try:
        with tarfile.open(tarball, "r:gz") as tar:
            for member in _safe_members(tar):
                parts = Path(member.name).parts[1:]
                if not parts or not member.isfile():
                    continue
                out = staging.joinpath(*parts)
                out.parent.mkdir(parents=True, exist_ok=True)
                src = tar.extractfile(member)
                if src is not None:
                    out.write_bytes(src.read())
        stamp = json.dumps(record, indent=2, sort_keys=True) + "\n"
        (staging / _STAMP).write_text(stamp, encoding="utf-8")
        if target.exists() and not (target / _STAMP).is_file():
            shutil.rmtree(target)  # left over from an interrupted run
        if not target.exists():
            staging.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _ensure_package(assets_dir: Path, package: str, version: str) -> dict[str, Any]:
    """Fetch and extract ``package@version`` unless already present; return its record."""
    target = _package_dir(assets_dir, package, version)
    stamp = target / _STAMP
    if not stamp.is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="npm-pack-") as tmp:
            tarball, info = _npm_pack(package, version, Path(tmp))
            record = {
                "name": package,
                "version": info.get("version", version),
                "integrity": info.get("integrity", ""),
                "tarball_size": info.get("size"),
                "unpacked_size": info.get("unpackedSize"),
            }
            _extract_tarball(tarball, target, record)
    return json.loads(stamp.read_text(encoding="utf-8"))


def _sha256(path: Path) -> str:
    """Return the hex SHA-256 of a file."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --- generated assets ---------------------------------------------------------------------

def _awesome_rotate_css(assets_dir: Path) -> str:
    """Return folium's ``leaflet.awesome.rotate`` CSS (``.fa-rotate-N`` for N = 0..360)."""
    rule = ".fa-rotate-{0}{{-ms-transform:rotate({0}deg);-webkit-transform:rotate({0}deg);"
    rule += "transform:rotate({0}deg);}}"
    return "\n".join(rule.format(n) for n in range(361)) + "\n"


_GLYPH_RULES = re.compile(
    r"@font-face\s*\{[^}]*Glyphicons Halflings[^}]*\}"
    r"|\.glyphicon\s*\{[^}]*\}"
    r"|\.glyphicon-[\w-]+:before\s*\{[^}]*\}"
)


def _glyphicons_css(assets_dir: Path) -> str:
    """Return the Glyphicons Halflings rules of Bootstrap 3, fonts pointing at the package."""
    pkg = _package_dir(assets_dir, *_GLYPHICONS_SOURCE)
    css = (pkg / "dist" / "css" / "bootstrap.css").read_text(encoding="utf-8")
    rules = _GLYPH_RULES.findall(css)
    if len(rules) < 100:
        raise OfflineAssetError(f"could not extract glyphicon rules from {pkg}")
    fonts = os.path.relpath(pkg / "dist" / "fonts", assets_dir / "generated")
    body = "\n".join(rules).replace("../fonts/", fonts.replace(os.sep, "/") + "/")
    head = "/* Glyphicons Halflings from Bootstrap 3.1.1 (MIT), extracted for offline maps */\n"
    return head + body + "\n"


_GENERATORS: dict[str, Callable[[Path], str]] = {
    "awesome_rotate": _awesome_rotate_css,
    "glyphicons": _glyphicons_css,
}


def _asset_file(assets_dir: Path, spec: AssetSpec) -> Path:
    """Return the local file that holds ``spec``'s content."""
    if spec.generator:
        return assets_dir / spec.path
    return _package_dir(assets_dir, spec.package, spec.version) / spec.path


def _unminified(spec: AssetSpec) -> AssetSpec | None:
    """Return ``spec`` pointing at ``x.js``/``x.css`` instead of ``x.min.js``/``x.min.css``.

    jsDelivr serves ``.min`` files it minifies itself when a package ships only the plain
    file; the plain file from the same package version has the same code.
    """
    path, n = re.subn(r"\.min\.(js|css)$", r".\1", spec.path)
    if not n:
        return None
    note = "package ships no .min file; the CDN minifies this one on the fly"
    return AssetSpec(spec.url, spec.kind, spec.package, spec.version, path, note=note)


def _materialise(assets_dir: Path, spec: AssetSpec) -> tuple[AssetSpec, Path]:
    """Make sure the file for ``spec`` exists (fetching/generating it); return spec and path."""
    if spec.package:
        _ensure_package(assets_dir, spec.package, spec.version)
    path = _asset_file(assets_dir, spec)
    if spec.generator:
        text = _GENERATORS[spec.generator](assets_dir)
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
    elif not path.is_file() and (plain := _unminified(spec)) is not None:
        spec, path = plain, _asset_file(assets_dir, plain)
    if not path.is_file():
        raise OfflineAssetError(
            f"{spec.package_id} has no file {spec.path!r} (needed for the URL below)", [spec.url]
        )
    return spec, path


def _manifest_entry(assets_dir: Path, spec: AssetSpec, path: Path) -> dict[str, Any]:
    """Return the manifest record for one URL."""
    return {
        "kind": spec.kind,
        "package": spec.package_id,
        "path_in_package": "" if spec.generator else spec.path,
        "file": path.relative_to(assets_dir).as_posix(),
        "sha256": _sha256(path),
        "size": path.stat().st_size,
        "note": spec.note,
    }


def load_manifest(assets_dir: str | Path | None = None) -> dict[str, Any]:
    """Read the manifest written by :func:`fetch_assets`.

    Parameters
    ----------
    assets_dir : str or Path, optional
        Defaults to :func:`default_assets_dir`.

    Returns
    -------
    dict
        ``{"version": 1, "assets": {url: {...}}, "packages": {"name@ver": {...}}}``; empty
        ``assets``/``packages`` if nothing was fetched yet.
    """
    path = Path(assets_dir or default_assets_dir()) / MANIFEST_NAME
    if not path.is_file():
        return {"version": MANIFEST_VERSION, "assets": {}, "packages": {}}
    return json.loads(path.read_text(encoding="utf-8"))


def _write_manifest(assets_dir: Path, manifest: dict[str, Any]) -> None:
    """Write the manifest atomically with sorted keys (stable diffs, stable bytes)."""
    tmp = assets_dir / (MANIFEST_NAME + ".tmp")
    tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    tmp.replace(assets_dir / MANIFEST_NAME)


def fetch_assets(
    dest: str | Path | None = None, urls: Iterable[str] | None = None
) -> dict[str, Any]:
    """Fetch the npm packages behind ``urls`` and record them in ``dest/manifest.json``.

    Idempotent: packages already extracted are not downloaded again, and URLs recorded by an
    earlier call stay in the manifest.

    Parameters
    ----------
    dest : str or Path, optional
        Target folder; defaults to :func:`default_assets_dir` (``build/assets``).
    urls : iterable of str, optional
        CDN URLs to make available offline; defaults to :func:`default_urls`.

    Returns
    -------
    dict
        The manifest (see :func:`load_manifest`).

    Raises
    ------
    OfflineAssetError
        If a URL has no known npm source or ``npm pack`` fails.
    """
    assets_dir = Path(dest or default_assets_dir()).resolve()
    assets_dir.mkdir(parents=True, exist_ok=True)
    wanted = list(dict.fromkeys(urls if urls is not None else default_urls()))
    unknown = [u for u in wanted if resolve_url(u) is None]
    if unknown:
        raise OfflineAssetError("no npm source is known for these URLs:", unknown)
    manifest = load_manifest(assets_dir)
    failures: list[str] = []
    for url in wanted:
        try:
            _record(assets_dir, manifest, resolve_url(url))
        except OfflineAssetError as exc:
            failures.append(f"{url}: {exc}")
    manifest["version"] = MANIFEST_VERSION
    _write_manifest(assets_dir, manifest)
    if failures:
        raise OfflineAssetError("could not fetch (the others were recorded):", failures)
    return manifest


def _record(assets_dir: Path, manifest: dict[str, Any], spec: AssetSpec | None) -> None:
    """Fetch one asset and add it (and its package record) to ``manifest``."""
    assert spec is not None
    spec, path = _materialise(assets_dir, spec)
    manifest["assets"][spec.url] = _manifest_entry(assets_dir, spec, path)
    if spec.package:
        stamp = _package_dir(assets_dir, spec.package, spec.version) / _STAMP
        manifest["packages"][spec.package_id] = json.loads(stamp.read_text("utf-8"))


# --- inlining -----------------------------------------------------------------------------

_SOURCE_MAP = re.compile(r"^[ \t]*(?://[#@]\s*sourceMappingURL=\S*|/\*[#@]\s*sourceMappingURL=[^*]*\*/)"
                         r"[ \t]*$", re.MULTILINE)
_CSS_SOURCE_MAP = re.compile(r"/\*[#@]\s*sourceMappingURL=[^*]*\*/")
_CSS_URL = re.compile(r"""url\(\s*(?P<q>["']?)(?P<ref>[^"')]*)(?P=q)\s*\)""")
_FONT_FACE = re.compile(r"@font-face\s*\{(?P<body>[^}]*)\}")
_SRC_DECL = re.compile(r"(?<![\w-])src\s*:[^;}]*;?")
_SRC_ITEM = re.compile(
    r"""url\(\s*(?P<q>["']?)(?P<ref>[^"')]*)(?P=q)\s*\)(?:\s*format\(\s*["']?(?P<fmt>[\w-]+)"""
    r"""["']?\s*\))?"""
)
_FONT_RANK = {"woff2": 0, "woff": 1, "truetype": 2, "opentype": 2}
_EXT_FORMAT = {".woff2": "woff2", ".woff": "woff", ".ttf": "truetype", ".otf": "opentype"}
_MIME = {
    ".woff2": "font/woff2", ".woff": "font/woff", ".ttf": "font/ttf", ".otf": "font/otf",
    ".eot": "application/vnd.ms-fontobject", ".svg": "image/svg+xml", ".png": "image/png",
    ".gif": "image/gif", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".cur": "image/x-icon",
}


class _CssContext:
    """Resolves ``url(...)`` references of one stylesheet inside the assets folder."""

    def __init__(self, css_file: Path, assets_dir: Path) -> None:
        self.base = css_file.parent
        self.root = assets_dir.resolve()
        self.problems: list[str] = []

    def data_uri(self, ref: str) -> str | None:
        """Return ``ref`` as a ``data:`` URI, or ``None`` (problem recorded) if impossible."""
        if _is_external(ref):
            self.problems.append(f"{ref} (absolute URL inside CSS {self.base})")
            return None
        clean = re.split(r"[?#]", ref, maxsplit=1)[0]
        path = (self.base / clean).resolve()
        if not path.is_relative_to(self.root) or not path.is_file():
            self.problems.append(f"{ref} (missing file {path})")
            return None
        mime = _MIME.get(path.suffix.lower()) or mimetypes.guess_type(path.name)[0]
        payload = base64.b64encode(path.read_bytes()).decode("ascii")
        return f"data:{mime or 'application/octet-stream'};base64,{payload}"


def _needs_inlining(ref: str) -> bool:
    """Return whether a CSS url() reference points at a file (not data:, not a fragment)."""
    ref = ref.strip()
    return bool(ref) and not ref.startswith(("data:", "#"))


def _best_font_source(body: str) -> tuple[str, str] | None:
    """Return ``(ref, format)`` of the most compact font source declared in a @font-face."""
    best: tuple[int, str, str] | None = None
    for decl in _SRC_DECL.findall(body):
        for item in _SRC_ITEM.finditer(decl):
            ref = item["ref"]
            fmt = item["fmt"] or _EXT_FORMAT.get(Path(ref.split("?")[0]).suffix.lower(), "")
            rank = _FONT_RANK.get(fmt)
            if rank is not None and (best is None or rank < best[0]):
                best = (rank, ref, fmt)
    return None if best is None else (best[1], best[2])


def _rewrite_font_face(match: re.Match[str], ctx: _CssContext) -> str:
    """Keep one font source (woff2 > woff > ttf) in a @font-face, embedded as ``data:``."""
    body = match["body"]
    best = _best_font_source(body)
    if best is None or not _needs_inlining(best[0]):
        return match.group(0)
    uri = ctx.data_uri(best[0])
    if uri is None:
        return match.group(0)
    rest = _SRC_DECL.sub("", body).strip().rstrip(";")
    sep = ";" if rest else ""
    return f'@font-face{{{rest}{sep}src:url({uri}) format("{best[1]}")}}'


def _rewrite_url(match: re.Match[str], ctx: _CssContext) -> str:
    """Replace one ``url(...)`` with a ``data:`` URI when it points at a local file."""
    ref = match["ref"]
    if not _needs_inlining(ref):
        return match.group(0)
    uri = ctx.data_uri(ref)
    return match.group(0) if uri is None else f'url("{uri}")'


def inline_css(css: str, css_file: Path, assets_dir: Path) -> tuple[str, list[str]]:
    """Embed the fonts and images a stylesheet references as ``data:`` URIs.

    Each ``@font-face`` keeps a single source (woff2, else woff, else TrueType), so a font is
    embedded once per face instead of once per format.

    Parameters
    ----------
    css : str
        Stylesheet text.
    css_file : Path
        Where it lives (relative ``url()`` references are resolved from its folder).
    assets_dir : Path
        Root that every referenced file must lie in.

    Returns
    -------
    css : str
        The rewritten stylesheet.
    problems : list of str
        References that could not be embedded (empty when all went well).
    """
    ctx = _CssContext(css_file, assets_dir)
    css = _CSS_SOURCE_MAP.sub("", css)
    css = _FONT_FACE.sub(lambda m: _rewrite_font_face(m, ctx), css)
    css = _CSS_URL.sub(lambda m: _rewrite_url(m, ctx), css)
    for imp in re.findall(r"@import\s+[^;]+;", css):
        ctx.problems.append(f"{imp} (@import is not supported offline)")
    return css, ctx.problems


def _leaflet_icon_fix(js_file: Path) -> str:
    """Return JS that points ``L.Icon.Default`` at embedded marker images.

    Leaflet finds its default marker images through a CSS ``url()``; once that is a
    ``data:`` URI its path detection fails, so the images are set explicitly.
    """
    images = js_file.parent / "images"
    opts = {}
    for key, name in (("iconUrl", "marker-icon.png"), ("iconRetinaUrl", "marker-icon-2x.png"),
                      ("shadowUrl", "marker-shadow.png")):
        payload = base64.b64encode((images / name).read_bytes()).decode("ascii")
        opts[key] = f"data:image/png;base64,{payload}"
    return (
        "\n;(function(){if(window.L&&L.Icon&&L.Icon.Default){L.Icon.Default.imagePath='';"
        f"L.Icon.Default.mergeOptions({json.dumps(opts, sort_keys=True)});}}}})();\n"
    )


def _escape_for_tag(text: str, tag: str) -> str:
    """Make ``text`` safe inside ``<tag>…</tag>`` (no premature end tag, no ``<!--``)."""
    text = re.sub(rf"</({tag})", r"<\\/\1", text, flags=re.IGNORECASE)
    return text.replace("<!--", "<\\!--")


def _verified_file(assets_dir: Path, url: str, entry: dict[str, Any]) -> Path:
    """Return the local file for ``url`` after checking its SHA-256 against the manifest."""
    path = assets_dir / entry["file"]
    if not path.is_file() or _sha256(path) != entry["sha256"]:
        raise OfflineAssetError(
            f"local copy is missing or altered ({path}); run `{FETCH_COMMAND}` again", [url]
        )
    return path


def _inline_block(url: str, entry: dict[str, Any], assets_dir: Path) -> tuple[str, list[str]]:
    """Return the inline ``<script>``/``<style>`` element replacing ``url``."""
    path = _verified_file(assets_dir, url, entry)
    text = path.read_text(encoding="utf-8")
    origin = f"<!-- offline copy of {url} ({entry['package']} {entry['file']}) -->"
    if entry["kind"] == "css":
        css, problems = inline_css(text, path, assets_dir)
        return f"{origin}\n<style>\n{_escape_for_tag(css, 'style')}\n</style>", problems
    js = _SOURCE_MAP.sub("", text)
    if entry["package"].startswith("leaflet@") and path.name in {"leaflet.js", "leaflet-src.js"}:
        js += _leaflet_icon_fix(path)
    return f"{origin}\n<script>\n{_escape_for_tag(js, 'script')}\n</script>", []


_SCRIPT_TAG = re.compile(
    r"""<script\b[^>]*?\bsrc\s*=\s*(?P<q>["'])(?P<url>[^"']+)(?P=q)[^>]*>\s*</script\s*>""",
    re.IGNORECASE,
)
_LINK_TAG = re.compile(r"<link\b[^>]*>", re.IGNORECASE)


def _link_href(tag: str) -> str | None:
    """Return the href of a stylesheet ``<link>`` tag loading an external URL, else None."""
    parser = _LinkCollector()
    parser.feed(tag)
    return parser.urls[0] if parser.urls else None


_TILE_URL = re.compile(r"""L\.tileLayer(?:\.wms)?\(\s*(["'])(?P<url>(?:https?:)?//[^"']+)\1""")
_RESOURCE_ATTR = re.compile(
    r"""<(?:img|iframe|audio|video|source|embed|object|input)\b[^>]*?\b(?:src|data)\s*=\s*"""
    r"""["'](?P<url>(?:https?:)?//[^"']+)["']""",
    re.IGNORECASE,
)


def find_external_refs(html: str) -> list[str]:
    """List everything in a page that would make a browser fetch from the network.

    Covers script/stylesheet/icon links, media elements, CSS ``url()``/``@import`` with an
    absolute URL, and Leaflet tile-layer URL templates.  Plain ``<a href>`` links (such as
    the attribution's) are not fetched and are not listed.

    Parameters
    ----------
    html : str

    Returns
    -------
    list of str
        Unique references, in order of appearance.
    """
    refs = urls_in_html(html)
    refs += [m["url"] for m in _RESOURCE_ATTR.finditer(html)]
    refs += [m["url"] for m in _TILE_URL.finditer(html)]
    for style in re.findall(r"<style\b[^>]*>(.*?)</style\s*>", html, re.IGNORECASE | re.DOTALL):
        refs += [m["ref"] for m in _CSS_URL.finditer(style) if _is_external(m["ref"])]
        refs += re.findall(r"""@import\s+(?:url\()?["']?((?:https?:)?//[^"')\s;]+)""", style)
    return list(dict.fromkeys(refs))


def _missing_message(urls: Sequence[str], assets_dir: Path) -> str:
    """Explain why URLs could not be inlined and how to fix it."""
    fetchable = [u for u in urls if resolve_url(u) is not None]
    hint = f"cannot inline {len(urls)} external reference(s) for an offline map"
    if fetchable:
        args = " ".join(f"--url '{u}'" for u in fetchable)
        hint += f"; fetch the known ones with `{FETCH_COMMAND} --dest {assets_dir} {args}`"
    if len(fetchable) < len(urls):
        hint += "; the others have no known npm source (add one to healthopt/outputs/assets.py"
        hint += " or drop the plugin/tile layer that needs them)"
    return hint


def inline_html(html: str, assets_dir: str | Path | None = None) -> str:
    """Replace every CDN script/stylesheet of a page with an inline copy.

    Parameters
    ----------
    html : str
        A rendered folium page.
    assets_dir : str or Path, optional
        Folder written by :func:`fetch_assets` (default :func:`default_assets_dir`).

    Returns
    -------
    str
        A self-contained page: no script, stylesheet, font or image is fetched from the
        network.

    Raises
    ------
    OfflineAssetError
        Listing every external reference that could not be inlined (an unfetched or unknown
        CDN URL, a tile layer, an absolute URL inside CSS); nothing is left silently.
    """
    root = Path(assets_dir or default_assets_dir()).resolve()
    assets = load_manifest(root)["assets"]
    missing: list[str] = []

    def replace(url: str, original: str) -> str:
        if url not in assets:
            missing.append(url)
            return original
        block, problems = _inline_block(url, assets[url], root)
        missing.extend(problems)
        return block

    html = _SCRIPT_TAG.sub(lambda m: replace(m["url"], m.group(0))
                           if _is_external(m["url"]) else m.group(0), html)
    html = _LINK_TAG.sub(lambda m: replace(href, m.group(0))
                         if (href := _link_href(m.group(0))) else m.group(0), html)
    missing += [u for u in find_external_refs(html) if u not in missing]
    if missing:
        unique = list(dict.fromkeys(missing))
        raise OfflineAssetError(_missing_message(unique, root), unique)
    return html


def make_offline(map_or_html: Any, assets_dir: str | Path | None = None) -> str:
    """Return a self-contained HTML page for a folium Map/Figure or rendered HTML.

    Parameters
    ----------
    map_or_html : folium.Map, branca.element.Figure or str
        The map to render, or HTML already rendered.
    assets_dir : str or Path, optional
        Folder written by :func:`fetch_assets`.

    Returns
    -------
    str

    Raises
    ------
    OfflineAssetError
        See :func:`inline_html`.
    """
    html = map_or_html if isinstance(map_or_html, str) else map_or_html.get_root().render()
    return inline_html(html, assets_dir)


def save_offline(map_or_html: Any, path: str | Path, assets_dir: str | Path | None = None) -> Path:
    """Write :func:`make_offline`'s page to ``path`` (UTF-8) and return the path.

    Parameters
    ----------
    map_or_html : folium.Map, branca.element.Figure or str
    path : str or Path
    assets_dir : str or Path, optional

    Returns
    -------
    Path
    """
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(make_offline(map_or_html, assets_dir), encoding="utf-8")
    return out


# --- command line -------------------------------------------------------------------------

def _parser() -> argparse.ArgumentParser:
    """Build the ``python -m healthopt.outputs.assets`` argument parser."""
    p = argparse.ArgumentParser(prog="python -m healthopt.outputs.assets", description=__doc__
                                .split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    fetch = sub.add_parser("fetch", help="npm-pack the assets into build/assets (idempotent)")
    fetch.add_argument("--dest", type=Path, default=None, help="default: build/assets")
    fetch.add_argument("--url", action="append", default=[],
                       help="extra CDN URL to make available offline (repeatable)")
    lst = sub.add_parser("list", help="show the fetched URLs, packages and files")
    lst.add_argument("--dest", type=Path, default=None)
    inline = sub.add_parser("inline", help="inline a saved folium HTML page")
    inline.add_argument("source", type=Path)
    inline.add_argument("target", type=Path)
    inline.add_argument("--dest", type=Path, default=None)
    return p


def _print_manifest(manifest: dict[str, Any]) -> None:
    """Print one line per fetched URL."""
    for url, entry in sorted(manifest["assets"].items()):
        print(f"{entry['package']:42s} {entry['size']:>9d}  {entry['file']}  <- {url}")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command-line interface; return the exit code.

    Parameters
    ----------
    argv : sequence of str, optional
        Arguments (default ``sys.argv[1:]``).

    Returns
    -------
    int
    """
    args = _parser().parse_args(argv)
    try:
        if args.command == "fetch":
            urls = default_urls() + list(args.url)
            _print_manifest(fetch_assets(args.dest, urls))
        elif args.command == "list":
            _print_manifest(load_manifest(args.dest))
        else:
            html = args.source.read_text(encoding="utf-8")
            save_offline(html, args.target, args.dest)
    except OfflineAssetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
