"""Self-contained maps: the vendored Leaflet, inlined into the page.

The maps load Leaflet's JavaScript and stylesheet and nothing else (the scenario and
comparison maps drop folium's other default assets).  Briefing rooms cannot reach a CDN, so
the package ships those two files, Leaflet's images and its licence (BSD-2-Clause) under
``healthopt/outputs/static/leaflet-<version>/``, listed with their SHA-256 in
``static/manifest.json``.  :func:`inline_html` replaces exactly the manifest's CDN URLs with
inline copies, embeds the images the stylesheet uses as ``data:`` URIs, and refuses any other
external reference with :class:`OfflineAssetError` naming every URL it could not inline.

:func:`check_offline_assets` verifies the vendored files and that folium still links the
vendored Leaflet version; a run calls it before any slow step so that a broken installation
fails in a second, not after the solve.

Updating Leaflet (when folium links a new version): ``npm pack leaflet@<version>``, copy
``dist/leaflet.js``, ``dist/leaflet.css``, ``dist/images/*.png`` and ``LICENSE`` into
``static/leaflet-<version>/`` and update ``static/manifest.json`` (URLs, sizes, SHA-256,
npm integrity).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import sys
from collections.abc import Sequence
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from healthopt.errors import HealthoptError

#: Folder of the vendored files (package data).
STATIC_DIR: Path = Path(__file__).resolve().with_name("static")
MANIFEST_NAME = "manifest.json"
MANIFEST_VERSION = 1


class OfflineAssetError(HealthoptError):
    """An offline map needs a file that is missing, altered or not vendored.

    Parameters
    ----------
    message : str
        What went wrong, with the remedy.
    urls : sequence of str, optional
        The external URLs concerned (appended to the message: the CLI prints one line).
    """

    def __init__(self, message: str, urls: Sequence[str] = ()) -> None:
        self.urls = list(urls)
        super().__init__(f"{message}: {', '.join(self.urls)}" if self.urls else message)


# --- the manifest ---------------------------------------------------------------------------

def _sha256(data: bytes) -> str:
    """Return the hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def load_manifest(static_dir: str | Path | None = None) -> dict[str, Any]:
    """Read ``manifest.json`` of the vendored assets.

    Parameters
    ----------
    static_dir : str or Path, optional
        Folder holding the manifest and the files (default :data:`STATIC_DIR`).

    Returns
    -------
    dict
        ``{"version": 1, "assets": {url: {...}}, "files": {path: {"sha256", "size"}},
        "packages": {"name@version": {...}}}``.

    Raises
    ------
    OfflineAssetError
        If the manifest is missing or unreadable.
    """
    path = Path(static_dir or STATIC_DIR) / MANIFEST_NAME
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise OfflineAssetError(f"{path}: the offline map assets are missing or unreadable ({exc}); "
                                "reinstall healthopt or set outputs.offline_assets: false") from exc
    if not isinstance(manifest, dict) or manifest.get("version") != MANIFEST_VERSION \
            or not all(isinstance(manifest.get(key), dict) for key in ("assets", "files", "packages")):
        raise OfflineAssetError(f"{path}: not a version-{MANIFEST_VERSION} asset manifest; reinstall healthopt")
    return manifest


def _read_verified(root: Path, manifest: dict[str, Any], rel: str) -> bytes:
    """Return the bytes of vendored file ``rel`` after checking its SHA-256."""
    entry = manifest["files"].get(rel)
    path = root / rel
    if entry is None:
        raise OfflineAssetError(f"{path}: not listed in {root / MANIFEST_NAME}")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise OfflineAssetError(f"{path}: offline map asset missing ({exc.strerror}); "
                                "reinstall healthopt") from exc
    if _sha256(data) != entry["sha256"]:
        raise OfflineAssetError(f"{path}: offline map asset altered (SHA-256 differs from "
                                f"{root / MANIFEST_NAME}); reinstall healthopt")
    return data


def check_offline_assets(static_dir: str | Path | None = None, *, needed: bool = True) -> dict[str, Any] | None:
    """Verify the vendored assets before a run starts its slow steps.

    Every file of the manifest must be present with its recorded SHA-256, and the Leaflet
    URLs folium writes into a map must be vendored (a folium upgrade that links another
    Leaflet version is caught here, not after the solve).

    Parameters
    ----------
    static_dir : str or Path, optional
        Default :data:`STATIC_DIR`.
    needed : bool
        Whether the run writes an offline map or report at all; ``False`` checks nothing
        (so a caller can pass its output settings in one line).

    Returns
    -------
    dict or None
        The manifest (see :func:`load_manifest`); ``None`` when not ``needed``.

    Raises
    ------
    OfflineAssetError
        Naming the missing or altered file, or the folium URLs that are not vendored.
    """
    if not needed:
        return None
    import folium

    root = Path(static_dir or STATIC_DIR)
    manifest = load_manifest(root)
    for rel in manifest["files"]:
        _read_verified(root, manifest, rel)
    linked = [u for k, u in (*folium.Map.default_js, *folium.Map.default_css)
              if k in {"leaflet", "leaflet_css"}]
    missing = [u for u in linked if u not in manifest["assets"]]
    if missing:
        raise OfflineAssetError(
            f"folium {folium.__version__} links a Leaflet that healthopt does not ship "
            f"(vendored: {', '.join(manifest['packages'])}); install the folium version "
            "pinned by healthopt or set outputs.offline_assets: false", missing)
    return manifest


# --- finding external references ------------------------------------------------------------

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


_CSS_URL = re.compile(r"""url\(\s*(?P<q>["']?)(?P<ref>[^"')]*)(?P=q)\s*\)""")
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
    parser = _LinkCollector()
    parser.feed(html)
    refs = list(parser.urls)
    refs += [m["url"] for m in _RESOURCE_ATTR.finditer(html)]
    refs += [m["url"] for m in _TILE_URL.finditer(html)]
    for style in re.findall(r"<style\b[^>]*>(.*?)</style\s*>", html, re.IGNORECASE | re.DOTALL):
        refs += [m["ref"] for m in _CSS_URL.finditer(style) if _is_external(m["ref"])]
        refs += re.findall(r"""@import\s+(?:url\()?["']?((?:https?:)?//[^"')\s;]+)""", style)
    return list(dict.fromkeys(refs))


# --- inlining -------------------------------------------------------------------------------

_SOURCE_MAP = re.compile(r"^[ \t]*(?://[#@]\s*sourceMappingURL=\S*|/\*[#@]\s*sourceMappingURL=[^*]*\*/)"
                         r"[ \t]*$", re.MULTILINE)
_SCRIPT_TAG = re.compile(
    r"""<script\b[^>]*?\bsrc\s*=\s*(?P<q>["'])(?P<url>[^"']+)(?P=q)[^>]*>\s*</script\s*>""",
    re.IGNORECASE,
)
_LINK_TAG = re.compile(r"<link\b[^>]*>", re.IGNORECASE)
_MIME = {".png": "image/png", ".gif": "image/gif", ".svg": "image/svg+xml"}
#: Leaflet's default marker images, set explicitly once the stylesheet's url() is a data: URI
#: (Leaflet derives the image path from that url(), which then no longer works).
_ICON_OPTIONS = (("iconUrl", "marker-icon.png"), ("iconRetinaUrl", "marker-icon-2x.png"),
                 ("shadowUrl", "marker-shadow.png"))


def _data_uri(root: Path, manifest: dict[str, Any], rel: str) -> str:
    """Return vendored file ``rel`` as a base64 ``data:`` URI."""
    payload = base64.b64encode(_read_verified(root, manifest, rel)).decode("ascii")
    return f"data:{_MIME.get(Path(rel).suffix.lower(), 'application/octet-stream')};base64,{payload}"


def _inline_css(css: str, css_rel: str, root: Path, manifest: dict[str, Any]) -> str:
    """Embed the vendored images a stylesheet references; refuse any other url()."""
    base = Path(css_rel).parent

    def replace(match: re.Match[str]) -> str:
        ref = match["ref"].strip()
        if not ref or ref.startswith(("data:", "#")):
            return match.group(0)
        rel = (base / re.split(r"[?#]", ref, maxsplit=1)[0]).as_posix()
        if _is_external(ref) or rel not in manifest["files"]:
            raise OfflineAssetError(f"{root / css_rel}: url({ref}) is not a vendored file")
        return f'url("{_data_uri(root, manifest, rel)}")'

    return _CSS_URL.sub(replace, css)


def _leaflet_icon_fix(js_rel: str, root: Path, manifest: dict[str, Any]) -> str:
    """Return JS that points ``L.Icon.Default`` at the embedded marker images."""
    images = Path(js_rel).parent / "images"
    opts = {key: _data_uri(root, manifest, (images / name).as_posix()) for key, name in _ICON_OPTIONS}
    return (
        "\n;(function(){if(window.L&&L.Icon&&L.Icon.Default){L.Icon.Default.imagePath='';"
        f"L.Icon.Default.mergeOptions({json.dumps(opts, sort_keys=True)});}}}})();\n"
    )


def escape_for_tag(text: str, tag: str) -> str:
    """Make ``text`` safe inside ``<tag>…</tag>`` (no premature end tag, no ``<!--``).

    Parameters
    ----------
    text : str
    tag : str
        ``"script"`` or ``"style"``.

    Returns
    -------
    str
    """
    text = re.sub(rf"</({tag})", r"<\\/\1", text, flags=re.IGNORECASE)
    return text.replace("<!--", "<\\!--")


def _inline_block(url: str, entry: dict[str, Any], root: Path, manifest: dict[str, Any]) -> str:
    """Return the inline ``<script>``/``<style>`` element replacing ``url``."""
    rel = entry["file"]
    # Universal newlines, as text mode reads them (leaflet.css ships with CRLF line ends).
    text = _read_verified(root, manifest, rel).decode("utf-8").replace("\r\n", "\n").replace("\r", "\n")
    origin = f"<!-- offline copy of {url} ({entry['package']} {entry['path_in_package']}, vendored) -->"
    if entry["kind"] == "css":
        css = _inline_css(text, rel, root, manifest)
        return f"{origin}\n<style>\n{escape_for_tag(css, 'style')}\n</style>"
    js = _SOURCE_MAP.sub("", text)
    if Path(rel).name == "leaflet.js":
        js += _leaflet_icon_fix(rel, root, manifest)
    return f"{origin}\n<script>\n{escape_for_tag(js, 'script')}\n</script>"


def _link_href(tag: str) -> str | None:
    """Return the href of a ``<link>`` tag that loads an external URL, else None."""
    parser = _LinkCollector()
    parser.feed(tag)
    return parser.urls[0] if parser.urls else None


def inline_html(html: str, assets_dir: str | Path | None = None) -> str:
    """Replace the vendored CDN scripts/stylesheets of a page with inline copies.

    Parameters
    ----------
    html : str
        A rendered folium page.
    assets_dir : str or Path, optional
        Folder with ``manifest.json`` and the files (default :data:`STATIC_DIR`, the copy
        shipped in the package).

    Returns
    -------
    str
        A self-contained page: no script, stylesheet or image is fetched from the network.

    Raises
    ------
    OfflineAssetError
        Listing every external reference that is not vendored (a plugin's CDN file, a tile
        layer, an absolute URL inside CSS), or naming a vendored file that is missing or
        altered; nothing is left silently.
    """
    root = Path(assets_dir or STATIC_DIR)
    manifest = load_manifest(root)
    assets = manifest["assets"]
    missing: list[str] = []

    def replace(url: str, original: str) -> str:
        if url not in assets:
            missing.append(url)
            return original
        return _inline_block(url, assets[url], root, manifest)

    html = _SCRIPT_TAG.sub(lambda m: replace(m["url"], m.group(0))
                           if _is_external(m["url"]) else m.group(0), html)
    html = _LINK_TAG.sub(lambda m: replace(href, m.group(0))
                         if (href := _link_href(m.group(0))) else m.group(0), html)
    missing += [u for u in find_external_refs(html) if u not in missing]
    if missing:
        unique = list(dict.fromkeys(missing))
        raise OfflineAssetError(
            f"cannot inline {len(unique)} external reference(s) for an offline map: healthopt "
            f"ships only {', '.join(manifest['packages'])} (drop the plugin or tile layer that "
            "needs them, or set outputs.offline_assets: false)", unique)
    return html


def make_offline(map_or_html: Any, assets_dir: str | Path | None = None) -> str:
    """Return a self-contained HTML page for a folium Map/Figure or rendered HTML.

    Parameters
    ----------
    map_or_html : folium.Map, branca.element.Figure or str
        The map to render, or HTML already rendered.
    assets_dir : str or Path, optional
        See :func:`inline_html`.

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


def main(argv: Sequence[str] | None = None) -> int:
    """Verify the vendored assets and print them (``python -m healthopt.outputs.offline``).

    Parameters
    ----------
    argv : sequence of str, optional
        Unused (no options); present for a uniform entry point.

    Returns
    -------
    int
        0 if every file is present and intact, else the error's exit code.
    """
    try:
        manifest = load_manifest()
        check_offline_assets()
    except OfflineAssetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    for rel, entry in sorted(manifest["files"].items()):
        print(f"{entry['size']:>8d}  {entry['sha256'][:16]}  {STATIC_DIR / rel}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
