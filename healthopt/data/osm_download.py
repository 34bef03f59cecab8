"""Fetch an OpenStreetMap extract for a study area, check it and record where it came from.

``healthopt data osm --area taiyuan`` is the one command a planner with internet runs to put
the counties and Jinzhong on real roads (the embedded extract covers central Taiyuan only).

Two ways to get the data, because no single provider serves every area:

- **extract**: a file published by a regional extract provider (``--url``; Shanxi has a
  default), fetched over HTTP with ``Range`` requests, so an interrupted download resumes
  where it stopped when the same command is run again;
- **overpass**: the drivable ways inside the area's bounding box from an Overpass API server,
  as OSM XML (the format :func:`osmnx.graph_from_xml` reads). Overpass answers cannot be
  resumed; a failed one is started again.

Every download is checked before it is kept: the byte count against the server's length,
the SHA-256 given with ``--sha256`` (or the provider's ``.md5`` file where it publishes one),
that it is OSM XML or PBF, that its bounding box covers the study area, and that it holds
drivable ways. The file is then moved into place with a ``.provenance.json`` beside it
(source URL, date, licence, SHA-256). Files are only ever replaced when that record says the
tool wrote them.

The licence travels with the data: OpenStreetMap data is ODbL 1.0, "© OpenStreetMap
contributors".
"""

from __future__ import annotations

import hashlib
import json
import os
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

from healthopt import __version__, settings
from healthopt._files import file_sha256, write_atomic
from healthopt.errors import InputError

__all__ = [
    "AREAS",
    "DEFAULT_OVERPASS_URL",
    "OsmDownload",
    "area_bbox",
    "fetch_osm",
]

#: Public Overpass API endpoint (overpass-api.de, run by FOSSGIS).
DEFAULT_OVERPASS_URL = "https://overpass-api.de/api/interpreter"

#: Areas by name: how each is fetched by default. Taiyuan and Jinzhong are small enough for
#: Overpass; the province is a published regional extract. The Shanxi address follows
#: openstreetmap.fr's published layout for Chinese provinces; it was not reachable from the
#: machine this was written on, so ``--url`` takes any other provider's file (for example
#: Geofabrik's ``asia/china-latest.osm.pbf``, which covers all of China).
AREAS: dict[str, dict[str, Any]] = {
    "taiyuan": {"city": "太原市", "method": "overpass"},
    "jinzhong": {"city": "晋中市", "method": "overpass"},
    "shanxi": {
        "bbox": (110.2, 34.5, 114.6, 40.8),  # lon/lat of the province with a margin
        "method": "extract",
        "url": "https://download.openstreetmap.fr/extracts/asia/china/shanxi-latest.osm.pbf",
    },
}

LICENCE = "ODbL 1.0"
ATTRIBUTION = "© OpenStreetMap contributors"

#: Largest download accepted unless ``--max-mb`` says otherwise (the Shanxi extract is a
#: few hundred MB; China's is over 1 GB).
DEFAULT_MAX_BYTES = 2_000_000_000

#: How far (degrees, ~1 km) the extract's box may fall short of the area's box: providers
#: clip with buffered polygons, and district boundaries are simplified.
_BBOX_TOLERANCE_DEG = 0.01

_BLOCK = 1 << 16
_SIDECAR = ".provenance.json"
_PART = ".part"
_PART_RECORD = ".part.json"

#: Drivable classes asked from Overpass: the network module's list (settings).
_HIGHWAY_REGEX = "^(" + "|".join(sorted(settings.DRIVABLE_HIGHWAYS)) + ")$"


@dataclass(frozen=True)
class OsmDownload:
    """What :func:`fetch_osm` kept: the file, its provenance record and whether it was new."""

    path: Path
    provenance: dict[str, Any]
    downloaded: bool

    def scenario_lines(self) -> str:
        """Return the ``data.osm`` entry a scenario file needs to use this extract."""
        return f"data:\n  osm: {{path: {json.dumps(str(self.path), ensure_ascii=False)}}}"


# --------------------------------------------------------------------------- areas


def area_bbox(area: str) -> tuple[str, tuple[float, float, float, float]]:
    """Return ``(name, (west, south, east, north))`` of a named area or a scenario file's districts.

    Parameters
    ----------
    area : str
        ``taiyuan``, ``jinzhong``, ``shanxi`` or the path of a scenario file.
    """
    key = area.strip().lower()
    if key in AREAS and "bbox" in AREAS[key]:
        west, south, east, north = AREAS[key]["bbox"]
        return key, (west, south, east, north)
    from healthopt.data import load_taiyuan  # the dataset is only needed for city areas

    if key in AREAS:
        districts = load_taiyuan().districts
        shapes = districts[districts["city_zh"] == AREAS[key]["city"]]
        return key, _bounds(shapes)
    path = Path(area)
    if path.suffix.lower() not in (".yaml", ".yml") or not path.is_file():
        names = ", ".join(AREAS)
        raise InputError(None, "--area", f"unknown area {area!r}: use {names} or a scenario file (.yaml)")
    from healthopt.scenario import load_scenario

    scenario = load_scenario(path)
    shapes = load_taiyuan().study_area(list(scenario.area.districts))
    return path.stem, _bounds(shapes)


def _bounds(shapes: Any) -> tuple[float, float, float, float]:
    west, south, east, north = shapes.to_crs(settings.CRS_GEOGRAPHIC).total_bounds
    return float(west), float(south), float(east), float(north)


def overpass_query(bbox: tuple[float, float, float, float], *, timeout_s: int = 600) -> str:
    """Overpass QL for the drivable ways in ``bbox`` with their nodes, as OSM XML."""
    west, south, east, north = bbox
    box = f"{south:.5f},{west:.5f},{north:.5f},{east:.5f}"
    return (f'[out:xml][timeout:{timeout_s}];(way["highway"~"{_HIGHWAY_REGEX}"]({box}););'
            "(._;>;);out body;")  # fmt: skip


# --------------------------------------------------------------------------- fetching


def fetch_osm(
    *,
    area: str,
    dest: Path,
    url: str | None = None,
    overpass_url: str = DEFAULT_OVERPASS_URL,
    sha256: str | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    timeout_s: float = 60.0,
    refresh: bool = False,
) -> OsmDownload:
    """Download, check and keep an OSM extract covering ``area`` (module docstring).

    Parameters
    ----------
    area : str
        ``taiyuan``, ``jinzhong``, ``shanxi`` or a scenario file.
    dest : Path
        Folder the extract is kept in (created if missing).
    url : str, optional
        An extract file to fetch instead of the area's default source.
    overpass_url : str
        Overpass API endpoint for areas fetched through Overpass.
    sha256 : str, optional
        Expected SHA-256 of the file; a mismatch removes the download.
    max_bytes : int
        Refuse a download larger than this.
    timeout_s : float
        Network timeout per connection attempt and read.
    refresh : bool
        Download again even if a checked copy is already kept.

    Returns
    -------
    OsmDownload
    """
    name, bbox = area_bbox(area)
    source = AREAS.get(name, {"method": "overpass"})
    method = "extract" if url else source["method"]
    url = url or source.get("url")
    if sha256 is not None and not _is_hex(sha256, 64):
        raise InputError(None, "--sha256", "expected 64 hexadecimal characters")
    suffix = ".osm" if method == "overpass" else _extract_suffix(url or "")
    target = Path(dest) / f"{name}{suffix}"
    kept = _kept(target)
    if kept is not None and not refresh:
        return OsmDownload(target, kept, downloaded=False)
    part = target.with_name(target.name + _PART)
    _check_part(part, url if method == "extract" else overpass_url)
    target.parent.mkdir(parents=True, exist_ok=True)
    if method == "overpass":
        request_url = overpass_url
        _overpass(overpass_url, overpass_query(bbox), part, max_bytes=max_bytes, timeout_s=timeout_s)
    else:
        assert url is not None
        request_url = url
        _resumable(url, part, max_bytes=max_bytes, timeout_s=timeout_s)
    try:
        md5_url = f"{url}.md5" if method == "extract" else None
        checks = _check_download(part, bbox=bbox, sha256=sha256, md5_url=md5_url, timeout_s=timeout_s)
    except InputError:
        _discard(part)  # a checked-bad download is not resumable: the next run starts afresh
        raise
    record = {
        "tool": "healthopt", "version": __version__, "kind": "osm-extract",
        "area": name, "area_bbox_wgs84": [round(v, 5) for v in bbox],
        "method": method, "source_url": request_url,
        "query": overpass_query(bbox) if method == "overpass" else None,
        "downloaded_utc": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "licence": LICENCE, "attribution": ATTRIBUTION, **checks,
    }  # fmt: skip
    os.replace(part, target)
    _discard(part, keep_data=True)
    write_atomic(_sidecar(target), lambda tmp: tmp.write_text(
        json.dumps(record, ensure_ascii=False, indent=2, sort_keys=True) + "\n", encoding="utf-8"))
    return OsmDownload(target, record, downloaded=True)


def _is_hex(text: str, length: int) -> bool:
    return len(text) == length and all(c in "0123456789abcdefABCDEF" for c in text)


def _extract_suffix(url: str) -> str:
    path = urllib.parse.urlparse(url).path.lower()
    for suffix in (".osm.pbf", ".osm", ".pbf"):
        if path.endswith(suffix):
            return ".osm.pbf" if suffix == ".pbf" else suffix
    raise InputError(None, "--url", f"{url}: expected an .osm.pbf or .osm file")


def _sidecar(target: Path) -> Path:
    return target.with_name(target.name + _SIDECAR)


def _kept(target: Path) -> dict[str, Any] | None:
    """Return the record of an extract the tool kept at ``target`` (``None``: nothing there).

    Raises when ``target`` exists without a record of ours, or no longer matches its record:
    that file is not the tool's to replace.
    """
    if not target.exists() and not target.is_symlink():
        return None
    record = _read_json(_sidecar(target))
    if (record is None or record.get("tool") != "healthopt" or record.get("kind") != "osm-extract"
            or not target.is_file() or target.is_symlink() or file_sha256(target) != record.get("sha256")):  # fmt: skip
        raise InputError(target, None, "exists and is not an extract this tool downloaded (or was changed since): "
                         "choose another --dest or move the file away")  # fmt: skip
    return record


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        if path.is_symlink() or not path.is_file() or path.stat().st_size > 100_000:
            return None
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _check_part(part: Path, url: str | None) -> None:
    """Refuse a ``.part`` file the tool did not start (for this URL); drop one of another URL."""
    if not part.exists() and not part.is_symlink():
        return
    record = _read_json(part.with_name(part.name.removesuffix(_PART) + _PART_RECORD))
    if record is None or record.get("tool") != "healthopt" or part.is_symlink() or not part.is_file():
        raise InputError(part, None, "exists and was not started by this tool: move it away and run again")
    if record.get("url") != url:
        _discard(part)  # our own unfinished download of another source


def _discard(part: Path, *, keep_data: bool = False) -> None:
    if not keep_data:
        part.unlink(missing_ok=True)
    part.with_name(part.name.removesuffix(_PART) + _PART_RECORD).unlink(missing_ok=True)


def _start_part(part: Path, url: str) -> None:
    record = {"tool": "healthopt", "kind": "osm-extract-part", "url": url}
    part.with_name(part.name.removesuffix(_PART) + _PART_RECORD).write_text(json.dumps(record) + "\n",
                                                                            encoding="utf-8")  # fmt: skip


def _open(request: urllib.request.Request, timeout_s: float, what: str) -> Any:
    """Open ``request``; network failures become one-line planning errors."""
    try:
        return urllib.request.urlopen(request, timeout=timeout_s)
    except urllib.error.HTTPError as exc:
        busy = " (the server is busy: try again later, or pass --url with a regional extract)" \
            if exc.code in (429, 503, 504) else ""  # fmt: skip
        raise InputError(request.full_url, None, f"{what}: HTTP {exc.code} {exc.reason}{busy}") from None
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise InputError(request.full_url, None, f"{what}: cannot reach the server ({reason}); "
                         "this needs internet access — offline runs use the embedded extract") from None  # fmt: skip


def _check_scheme(url: str, option: str) -> None:
    if urllib.parse.urlparse(url).scheme not in ("http", "https"):
        raise InputError(None, option, f"{url}: only http:// and https:// addresses are fetched")


def _resumable(url: str, part: Path, *, max_bytes: int, timeout_s: float) -> None:
    """Fetch ``url`` into ``part``, continuing a previous partial download with ``Range``."""
    _check_scheme(url, "--url")
    have = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"User-Agent": f"healthopt/{__version__}"})
    if have:
        request.add_header("Range", f"bytes={have}-")
    with _open(request, timeout_s, "download failed") as response:
        status = getattr(response, "status", 200)
        total = _total_length(response, have if status == 206 else 0)
        if status != 206:
            have = 0  # the server ignored Range: start again
        if total is not None and total > max_bytes:
            raise InputError(url, None, f"the file is {total / 1e6:,.0f} MB, above the {max_bytes / 1e6:,.0f} MB "
                             "limit (--max-mb)")  # fmt: skip
        _start_part(part, url)
        with open(part, "ab" if have else "wb") as out:
            got = have + _copy(response, out, limit=max_bytes - have, url=url)
    if total is not None and got < total:
        raise InputError(url, None, f"download incomplete: {got:,} of {total:,} bytes; run the same command "
                         "again to resume")  # fmt: skip


def _total_length(response: Any, offset: int) -> int | None:
    content_range = response.headers.get("Content-Range")
    if content_range and "/" in content_range:
        total = content_range.rsplit("/", 1)[1].strip()
        if total.isdigit():
            return int(total)
    length = response.headers.get("Content-Length")
    return offset + int(length) if length and length.isdigit() else None


def _copy(response: BinaryIO, out: BinaryIO, *, limit: int, url: str) -> int:
    copied = 0
    while True:
        try:
            block = response.read(_BLOCK)
        except (OSError, ValueError):  # connection dropped mid-body (http.client.IncompleteRead too)
            break
        if not block:
            break
        copied += len(block)
        if copied > limit:
            raise InputError(url, None, "the download grew beyond the size limit (--max-mb)")
        out.write(block)
        out.flush()
    return copied


def _overpass(endpoint: str, query: str, part: Path, *, max_bytes: int, timeout_s: float) -> None:
    """POST ``query`` to an Overpass endpoint and store the answer in ``part``."""
    _check_scheme(endpoint, "--overpass-url")
    body = urllib.parse.urlencode({"data": query}).encode("ascii")
    request = urllib.request.Request(endpoint, data=body, headers={"User-Agent": f"healthopt/{__version__}"})
    _discard(part)
    with _open(request, timeout_s, "Overpass request failed") as response:
        total = _total_length(response, 0)
        _start_part(part, endpoint)
        with open(part, "wb") as out:
            got = _copy(response, out, limit=max_bytes, url=endpoint)
    if total is not None and got < total:
        raise InputError(endpoint, None, f"Overpass answer incomplete: {got:,} of {total:,} bytes; run again")


# --------------------------------------------------------------------------- checks


def _check_download(part: Path, *, bbox: tuple[float, float, float, float], sha256: str | None,
                    md5_url: str | None, timeout_s: float) -> dict[str, Any]:  # fmt: skip
    """Check a finished download; return the facts for its provenance record."""
    digest, md5 = hashlib.sha256(), hashlib.md5()
    with open(part, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
            md5.update(block)
    facts: dict[str, Any] = {"sha256": digest.hexdigest(), "bytes": part.stat().st_size}
    if sha256 is not None:
        if digest.hexdigest() != sha256.lower():
            raise InputError(part, "--sha256", f"checksum mismatch: got {digest.hexdigest()}, expected "
                             f"{sha256.lower()}; the download was removed")  # fmt: skip
        facts["checksum_verified"] = "sha256 given on the command line"
    else:
        published = _published_md5(md5_url, timeout_s) if md5_url else None
        if published is not None and published != md5.hexdigest():
            raise InputError(part, None, f"checksum mismatch with the provider's {md5_url}; the download was removed")
        facts["checksum_verified"] = f"md5 published at {md5_url}" if published else "none published (sha256 recorded)"
    kind, box, ways = _inspect(part)
    facts.update(format=kind, bbox_wgs84=[round(v, 5) for v in box] if box else None, drivable_ways=ways)
    if box is None:
        raise InputError(part, None, "holds no nodes with coordinates: not a usable OSM extract")
    tol = _BBOX_TOLERANCE_DEG
    fits = (box[0] <= bbox[0] + tol, box[1] <= bbox[1] + tol, box[2] >= bbox[2] - tol, box[3] >= bbox[3] - tol)
    short = [side for side, ok in zip(("west", "south", "east", "north"), fits, strict=True) if not ok]
    if short:
        raise InputError(part, None, f"the extract covers lon {box[0]:.3f}–{box[2]:.3f}, lat {box[1]:.3f}–{box[3]:.3f} "
                         f"but the study area needs lon {bbox[0]:.3f}–{bbox[2]:.3f}, lat {bbox[1]:.3f}–{bbox[3]:.3f} "
                         f"(short on the {', '.join(short)}); the download was removed")  # fmt: skip
    if ways == 0:
        raise InputError(part, None, "holds no drivable ways (highway=*): not a road extract; the download was removed")
    return facts


def _published_md5(url: str, timeout_s: float) -> str | None:
    """Return the provider's MD5 of the file (Geofabrik-style ``<file>.md5``), ``None`` if none."""
    request = urllib.request.Request(url, headers={"User-Agent": f"healthopt/{__version__}"})
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            text = response.read(4096).decode("ascii", errors="replace")
    except (urllib.error.URLError, TimeoutError, OSError):
        return None
    word = text.split()[0].lower() if text.split() else ""
    return word if _is_hex(word, 32) else None


def _inspect(path: Path) -> tuple[str, tuple[float, float, float, float] | None, int | None]:
    """Return the format, the bounding box of the nodes and the count of drivable ways.

    An Overpass error arrives as an XML ``<remark>``; it is raised as what it is.
    """
    with open(path, "rb") as fh:
        head = fh.read(64)
    if head.lstrip().startswith(b"<"):
        return ("osm-xml", *_inspect_xml(path))
    if b"OSMHeader" in head:
        return ("osm-pbf", *_inspect_pbf(path))
    raise InputError(path, None, "is neither OSM XML nor OSM PBF (an error page?); the download was removed")


def _inspect_xml(path: Path) -> tuple[tuple[float, float, float, float] | None, int]:
    west = south = float("inf")
    east = north = float("-inf")
    ways = 0
    drivable = settings.DRIVABLE_HIGHWAYS
    try:
        for _, elem in ET.iterparse(path, events=("end",)):
            if elem.tag == "node":
                lon, lat = float(elem.get("lon", "nan")), float(elem.get("lat", "nan"))
                if lon == lon and lat == lat:
                    west, east, south, north = min(west, lon), max(east, lon), min(south, lat), max(north, lat)
            elif elem.tag == "way":
                ways += any(t.get("k") == "highway" and t.get("v") in drivable for t in elem.iter("tag"))
            elif elem.tag == "remark":
                raise InputError(path, None, f"the server answered with an error: {(elem.text or '').strip()[:200]}")
            if elem.tag in ("node", "way", "relation"):
                elem.clear()
    except ET.ParseError as exc:
        raise InputError(path, None, f"is not well-formed OSM XML ({exc}): incomplete?") from None
    box = (west, south, east, north) if west != float("inf") else None
    return box, ways


def _inspect_pbf(path: Path) -> tuple[tuple[float, float, float, float] | None, int | None]:
    try:
        import osmium
    except ImportError:
        raise InputError(path, None, "reading .osm.pbf needs pyosmium (pip install osmium)") from None

    class _Scan(osmium.SimpleHandler):
        def __init__(self) -> None:
            super().__init__()
            self.box = [float("inf"), float("inf"), float("-inf"), float("-inf")]
            self.ways = 0

        def node(self, n: Any) -> None:
            lon, lat = n.location.lon, n.location.lat
            b = self.box
            b[0], b[1], b[2], b[3] = min(b[0], lon), min(b[1], lat), max(b[2], lon), max(b[3], lat)

        def way(self, w: Any) -> None:
            self.ways += w.tags.get("highway") in settings.DRIVABLE_HIGHWAYS

    scan = _Scan()
    try:
        scan.apply_file(str(path))
    except RuntimeError as exc:
        raise InputError(path, None, f"is not a readable OSM PBF file ({exc}): incomplete?") from None
    b = scan.box
    box = (b[0], b[1], b[2], b[3]) if b[0] != float("inf") else None
    return box, scan.ways
