"""``healthopt data osm``: download, resume, checksums and offline errors against a loopback server.

Nothing here reaches the internet: every address is 127.0.0.1 on a port the test opened.
"""

from __future__ import annotations

import hashlib
import json
import socket
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from healthopt import _osm, settings
from healthopt.data.osm_download import area_bbox, fetch_osm, overpass_query
from healthopt.errors import InputError


def _fixture_xml(bbox: tuple[float, float, float, float], *, highway: str = "primary") -> bytes:
    """A tiny extract whose nodes span ``bbox``: a square of four roads around the area."""
    w, s, e, n = bbox
    corners = [(w - 0.01, s - 0.01), (e + 0.01, s - 0.01), (e + 0.01, n + 0.01), (w - 0.01, n + 0.01)]
    nodes = "".join(f'<node id="{i + 1}" lat="{lat:.6f}" lon="{lon:.6f}" version="1"/>'
                    for i, (lon, lat) in enumerate(corners))  # fmt: skip
    nds = "".join(f'<nd ref="{i}"/>' for i in (1, 2, 3, 4, 1))
    way = f'<way id="10" version="1">{nds}<tag k="highway" v="{highway}"/><tag k="name" v="环城路"/></way>'
    return f'<?xml version="1.0" encoding="UTF-8"?><osm version="0.6" generator="test">{nodes}{way}</osm>'.encode()


class _Server:
    """A loopback HTTP server: ``/x.osm`` with Range support, its ``.md5``, and an Overpass endpoint."""

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.md5: str | None = None  # served at /x.osm.md5 when set
        self.drop_first = False  # first GET of /x.osm stops halfway
        self.requests: list[tuple[str, str, str | None]] = []
        self.posted: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                outer.requests.append(("GET", self.path, self.headers.get("Range")))
                if self.path == "/x.osm.md5" and outer.md5 is not None:
                    return self._send(200, f"{outer.md5}  x.osm\n".encode())
                if self.path != "/x.osm":
                    return self._send(404, b"not found")
                start = 0
                if self.headers.get("Range"):
                    start = int(self.headers["Range"].split("=")[1].rstrip("-"))
                data = outer.body[start:]
                self.send_response(206 if start else 200)
                self.send_header("Content-Length", str(len(data)))
                if start:
                    self.send_header("Content-Range", f"bytes {start}-{len(outer.body) - 1}/{len(outer.body)}")
                self.end_headers()
                if outer.drop_first:
                    outer.drop_first = False
                    self.wfile.write(data[: len(data) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return None
                self.wfile.write(data)
                return None

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                outer.posted.append(self.rfile.read(length).decode())
                if self.path == "/busy":
                    return self._send(429, b"rate limited")
                return self._send(200, outer.body)

            def _send(self, code: int, data: bytes) -> None:
                self.send_response(code)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def taiyuan_bbox() -> tuple[float, float, float, float]:
    return area_bbox("taiyuan")[1]


@pytest.fixture()
def server(taiyuan_bbox):
    srv = _Server(_fixture_xml(taiyuan_bbox))
    yield srv
    srv.close()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_area_bbox_of_taiyuan_is_the_citys_districts():
    name, (w, s, e, n) = area_bbox("taiyuan")
    assert name == "taiyuan"
    # Taiyuan spans roughly 111.5–113.2 E, 37.4–38.4 N (the embedded boundaries).
    assert 111.0 < w < 112.0 < 113.0 < e < 113.5 and 37.0 < s < 37.6 < 38.2 < n < 38.6


def test_download_is_checked_kept_with_provenance_and_readable_by_the_network_loader(server, tmp_path):
    got = fetch_osm(area="taiyuan", dest=tmp_path, url=server.url + "/x.osm")
    assert got.downloaded and got.path == tmp_path / "taiyuan.osm"
    assert got.path.read_bytes() == server.body
    record = json.loads((tmp_path / "taiyuan.osm.provenance.json").read_text(encoding="utf-8"))
    assert record["sha256"] == hashlib.sha256(server.body).hexdigest()
    assert record["source_url"] == server.url + "/x.osm" and record["licence"] == "ODbL 1.0"
    assert record["attribution"] == "© OpenStreetMap contributors" and record["drivable_ways"] == 1
    assert record["checksum_verified"].startswith("none published")
    # The kept file is one the road reader takes: 4 corner nodes, 4 road segments both ways.
    G, _, _ = _osm.read_osm(got.path, fmt=_osm.detect_format(got.path), drivable=settings.DRIVABLE_HIGHWAYS)
    assert G.number_of_nodes() == 4 and G.number_of_edges() == 8
    # Run again: nothing is fetched, the kept copy is reported.
    before = len(server.requests)
    again = fetch_osm(area="taiyuan", dest=tmp_path, url=server.url + "/x.osm")
    assert not again.downloaded and len(server.requests) == before
    assert not list(tmp_path.glob("*.part*"))


def test_interrupted_download_resumes_with_a_range_request(server, tmp_path):
    server.drop_first = True
    with pytest.raises(InputError, match=r"download incomplete: .* run the same command again to resume"):
        fetch_osm(area="taiyuan", dest=tmp_path, url=server.url + "/x.osm")
    part = tmp_path / "taiyuan.osm.part"
    half = len(server.body) // 2
    assert part.stat().st_size == half and not (tmp_path / "taiyuan.osm").exists()
    got = fetch_osm(area="taiyuan", dest=tmp_path, url=server.url + "/x.osm")
    ranges = [r for method, path, r in server.requests if path == "/x.osm"]
    assert ranges == [None, f"bytes={half}-"]
    assert got.path.read_bytes() == server.body and not part.exists()


def test_bad_checksums_remove_the_download(server, tmp_path):
    with pytest.raises(InputError, match="checksum mismatch"):
        fetch_osm(area="taiyuan", dest=tmp_path, url=server.url + "/x.osm", sha256="0" * 64)
    assert list(tmp_path.iterdir()) == []
    server.md5 = "f" * 32  # the provider's published MD5 disagrees
    with pytest.raises(InputError, match="checksum mismatch with the provider"):
        fetch_osm(area="taiyuan", dest=tmp_path, url=server.url + "/x.osm")
    assert list(tmp_path.iterdir()) == []
    server.md5 = hashlib.md5(server.body).hexdigest()
    got = fetch_osm(area="taiyuan", dest=tmp_path, url=server.url + "/x.osm",
                    sha256=hashlib.sha256(server.body).hexdigest())  # fmt: skip
    assert got.provenance["checksum_verified"] == "sha256 given on the command line"


def test_an_extract_that_misses_the_study_area_is_refused(tmp_path, taiyuan_bbox):
    w, s, e, n = taiyuan_bbox
    srv = _Server(_fixture_xml((w, s, (w + e) / 2, n)))  # only the western half
    try:
        with pytest.raises(InputError, match=r"short on the east"):
            fetch_osm(area="taiyuan", dest=tmp_path, url=srv.url + "/x.osm")
    finally:
        srv.close()
    assert list(tmp_path.iterdir()) == []


def test_overpass_query_and_answer(server, tmp_path, taiyuan_bbox):
    got = fetch_osm(area="taiyuan", dest=tmp_path, overpass_url=server.url + "/api/interpreter")
    assert got.provenance["method"] == "overpass" and got.path.name == "taiyuan.osm"
    assert len(server.posted) == 1 and "highway" in server.posted[0]
    w, s, e, n = taiyuan_bbox
    assert f"{s:.5f},{w:.5f},{n:.5f},{e:.5f}" in overpass_query(taiyuan_bbox)
    with pytest.raises(InputError, match=r"HTTP 429 .*busy"):
        fetch_osm(area="taiyuan", dest=tmp_path / "b", overpass_url=server.url + "/busy")


def test_files_the_tool_did_not_write_are_never_replaced(server, tmp_path):
    mine = tmp_path / "taiyuan.osm"
    mine.write_text("my own edits", encoding="utf-8")
    with pytest.raises(InputError, match="not an extract this tool downloaded"):
        fetch_osm(area="taiyuan", dest=tmp_path, url=server.url + "/x.osm", refresh=True)
    assert mine.read_text(encoding="utf-8") == "my own edits"
    mine.unlink()
    (tmp_path / "taiyuan.osm.part").write_text("someone else's", encoding="utf-8")
    with pytest.raises(InputError, match="not started by this tool"):
        fetch_osm(area="taiyuan", dest=tmp_path, url=server.url + "/x.osm")
    assert (tmp_path / "taiyuan.osm.part").read_text(encoding="utf-8") == "someone else's"


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "healthopt.cli", "data", "osm", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=120)  # fmt: skip


def test_cli_prints_the_scenario_line_and_offline_is_one_line_exit_2(server, tmp_path):
    done = _cli("--area", "taiyuan", "--url", server.url + "/x.osm", "--dest", str(tmp_path / "osm"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    path = tmp_path / "osm" / "taiyuan.osm"
    assert f'osm: {{path: "{path}"}}' in done.stdout and "© OpenStreetMap contributors" in done.stdout
    offline = _cli("--area", "taiyuan", "--url", f"http://127.0.0.1:{_closed_port()}/x.osm",
                   "--dest", str(tmp_path / "off"), cwd=tmp_path)  # fmt: skip
    assert offline.returncode == 2
    lines = offline.stderr.strip().splitlines()
    assert len(lines) == 1 and "cannot reach the server" in lines[0] and "internet" in lines[0]
    assert not (tmp_path / "off").exists() or list((tmp_path / "off").iterdir()) == []
    bad = _cli("--area", "atlantis", cwd=tmp_path)
    assert bad.returncode == 2 and "--area: unknown area 'atlantis'" in bad.stderr
