"""The graph cache: exact round trip, no pickle, every mismatch or damage rebuilt, unwritable folders tolerated."""

from __future__ import annotations

import errno
import hashlib
import io
import json
import os
import pickle
from pathlib import Path

import networkx as nx
import numpy as np
import pytest

from healthopt import _graph_cache as graph_cache
from healthopt import network, settings

FIXTURES = Path(__file__).parent / "fixtures" / "network"
TINY = FIXTURES / "tiny_lines.geojson"
TAIYUAN = settings.GEODATA_DIR / "roads" / "taiyuan_core_osm_lines.geojson"


def assert_identical(G: nx.MultiDiGraph, H: nx.MultiDiGraph) -> None:
    """Same nodes, edges, attributes, types and orders (iteration order decides tie-breaks downstream)."""
    assert list(G.graph.items()) == list(H.graph.items())
    assert list(G.nodes) == list(H.nodes)
    for n in G:
        assert list(G.nodes[n].items()) == list(H.nodes[n].items())
        assert list(G.succ[n]) == list(H.succ[n]) and list(G.pred[n]) == list(H.pred[n])
    edges_g, edges_h = list(G.edges(keys=True, data=True)), list(H.edges(keys=True, data=True))
    assert [e[:3] for e in edges_g] == [e[:3] for e in edges_h]
    for (*_, a), (*_, b) in zip(edges_g, edges_h, strict=True):
        assert list(a) == list(b)
        for key, value in a.items():
            if key == "geometry":
                assert value.wkb == b[key].wkb
            else:
                assert type(value) is type(b[key]) and value == b[key], key


def cached(folder: Path) -> tuple[Path, Path]:
    (payload,) = folder.glob("*.npz")
    return payload, payload.with_suffix(".json")


def rewrite_manifest(manifest: Path, payload_bytes: bytes) -> None:
    """What an attacker with write access does: make the manifest match an edited payload."""
    record = json.loads(manifest.read_text())
    record["payload"]["sha256"] = hashlib.sha256(payload_bytes).hexdigest()
    record["payload"]["bytes"] = len(payload_bytes)
    manifest.write_text(json.dumps(record))


class Boom:
    """Unpickling this creates a file: proof that a pickle was loaded."""

    def __init__(self, sentinel: Path) -> None:
        self.sentinel = sentinel

    def __reduce__(self):
        return (Path.touch, (self.sentinel,))


def test_taiyuan_graph_from_cache_is_identical_in_every_attribute(tmp_path):
    built = network.load_graph(TAIYUAN, cache_dir=tmp_path)
    assert built.graph["cache"] == "miss"
    again = network.load_graph(TAIYUAN, cache_dir=tmp_path)
    assert again.graph["cache"] == "hit"
    built.graph.pop("cache"), again.graph.pop("cache")
    assert_identical(built, again)
    assert len(again) == 4083 and again.number_of_edges() == 8502


def test_manifest_records_source_settings_and_payload_hashes(tmp_path):
    network.load_graph(TINY, cache_dir=tmp_path, congestion=1.25)
    payload, manifest = cached(tmp_path)
    record = json.loads(manifest.read_text())
    assert record["format"] == "healthopt-graph-cache" and record["format_version"] == graph_cache.FORMAT_VERSION
    assert record["source"]["sha256"] == hashlib.sha256(TINY.read_bytes()).hexdigest()
    assert record["source"]["bytes"] == TINY.stat().st_size
    assert record["settings"]["congestion"] == 1.25 and record["settings"]["speeds"]["residential"] > 0
    assert record["settings_sha256"] == graph_cache.settings_sha256(record["settings"])
    assert record["payload"] == {"file": payload.name, "sha256": hashlib.sha256(payload.read_bytes()).hexdigest(),
                                 "bytes": payload.stat().st_size}
    assert payload.name.startswith(f"graph-{record['source']['sha256'][:20]}-{record['settings_sha256'][:16]}")


def test_payload_holds_no_pickle(tmp_path):
    network.load_graph(TINY, cache_dir=tmp_path)
    payload, _ = cached(tmp_path)
    with np.load(payload, allow_pickle=False) as arrays:  # would raise on any object array
        assert all(arrays[name].dtype != object for name in arrays.files)


def test_malicious_pickle_as_payload_is_never_loaded(tmp_path):
    network.load_graph(TINY, cache_dir=tmp_path)
    payload, manifest = cached(tmp_path)
    sentinel = tmp_path / "pwned"
    evil = pickle.dumps(Boom(sentinel))
    payload.write_bytes(evil)
    rewrite_manifest(manifest, evil)
    G = network.load_graph(TINY, cache_dir=tmp_path)
    assert G.graph["cache"].startswith("rebuilt (payload unreadable")
    assert not sentinel.exists()


def test_object_array_in_npz_is_refused(tmp_path):
    network.load_graph(TINY, cache_dir=tmp_path)
    payload, manifest = cached(tmp_path)
    sentinel = tmp_path / "pwned"
    with np.load(payload) as arrays:
        content = {name: arrays[name] for name in arrays.files}
    content["node_id"] = np.array([Boom(sentinel)], dtype=object)
    buffer = io.BytesIO()
    np.savez(buffer, **content)  # pickles the object array
    payload.write_bytes(buffer.getvalue())
    rewrite_manifest(manifest, buffer.getvalue())
    assert network.load_graph(TINY, cache_dir=tmp_path).graph["cache"].startswith("rebuilt (payload unreadable")
    assert not sentinel.exists()


def test_old_pickle_cache_is_ignored(tmp_path):
    sentinel = tmp_path / "pwned"
    key = graph_cache.cache_key(TINY, boundary=None, speeds=network.resolve_speeds(None),
                            ambulance_speed_factor=settings.DEFAULT_AMBULANCE_SPEED_FACTOR,
                            congestion=settings.DEFAULT_CONGESTION_FACTOR)
    (tmp_path / f"{key}.pkl").write_bytes(pickle.dumps(Boom(sentinel)))
    assert network.load_graph(TINY, cache_dir=tmp_path).graph["cache"] == "miss"
    assert not sentinel.exists()


def test_bit_flip_is_rebuilt(tmp_path):
    reference = network.load_graph(TINY, cache_dir=tmp_path)
    payload, _ = cached(tmp_path)
    data = bytearray(payload.read_bytes())
    data[len(data) // 2] ^= 0x01
    payload.write_bytes(bytes(data))
    G = network.load_graph(TINY, cache_dir=tmp_path)
    assert G.graph["cache"] == "rebuilt (payload checksum mismatch)"
    assert list(G.edges(data="travel_time")) == list(reference.edges(data="travel_time"))


def test_altered_travel_time_with_a_matching_manifest_is_rebuilt(tmp_path):
    reference = network.load_graph(TINY, cache_dir=tmp_path)
    payload, manifest = cached(tmp_path)
    with np.load(payload, allow_pickle=False) as arrays:
        content = {name: arrays[name] for name in arrays.files}
    meta = json.loads(content["meta"].tobytes())
    column = meta["edges"]["floats"].index("travel_time")
    content[f"edge_float{column}"] = content[f"edge_float{column}"] * 0.5  # every road twice as fast
    buffer = io.BytesIO()
    np.savez(buffer, allow_pickle=False, **content)
    payload.write_bytes(buffer.getvalue())
    rewrite_manifest(manifest, buffer.getvalue())
    G = network.load_graph(TINY, cache_dir=tmp_path)
    assert G.graph["cache"] == "rebuilt (travel times do not match the edge lengths and speeds)"
    assert list(G.edges(data="travel_time")) == list(reference.edges(data="travel_time"))


@pytest.mark.parametrize(("edit", "reason"), [
    (lambda r: r["settings"].update(congestion=9.0), "settings changed"),
    (lambda r: r["source"].update(sha256="0" * 64), "source file changed"),
    (lambda r: r.update(format_version=1), "cache format 1, expected 2"),
    (lambda r: r.pop("payload"), "manifest incomplete"),
])
def test_manifest_that_does_not_match_is_rebuilt(tmp_path, edit, reason):
    network.load_graph(TINY, cache_dir=tmp_path)
    _, manifest = cached(tmp_path)
    record = json.loads(manifest.read_text())
    edit(record)
    manifest.write_text(json.dumps(record))
    assert network.load_graph(TINY, cache_dir=tmp_path).graph["cache"] == f"rebuilt ({reason})"


def test_unreadable_manifest_is_rebuilt(tmp_path):
    network.load_graph(TINY, cache_dir=tmp_path)
    _, manifest = cached(tmp_path)
    manifest.write_bytes(b"\xff\xfe not json")
    assert network.load_graph(TINY, cache_dir=tmp_path).graph["cache"].startswith("rebuilt (manifest unreadable")


def test_cache_folder_that_is_a_file_disables_caching(tmp_path):
    blocker = tmp_path / "cache"
    blocker.write_text("not a folder")
    G = network.load_graph(TINY, cache_dir=blocker)
    assert G.graph["cache"].startswith(f"disabled (cache folder {blocker} not writable: ")
    assert blocker.read_text() == "not a folder" and len(G) > 0


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EROFS, errno.EACCES])
def test_full_or_read_only_cache_folder_disables_caching(tmp_path, monkeypatch, code):
    def refuse(target, _write):
        raise OSError(code, os.strerror(code), str(target))

    monkeypatch.setattr(graph_cache, "write_atomic", refuse)
    G = network.load_graph(TINY, cache_dir=tmp_path)
    assert G.graph["cache"] == f"disabled (cache folder {tmp_path} not writable: {os.strerror(code)})"
    assert not list(tmp_path.iterdir())


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_cache_folder_really_disables_caching(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        assert network.load_graph(TINY, cache_dir=folder).graph["cache"].startswith("disabled (cache folder")
    finally:
        folder.chmod(0o755)


def test_values_the_format_cannot_keep_are_not_cached(tmp_path):
    G = network.build_graph(TINY)
    u, v, k = next(iter(G.edges(keys=True)))
    G.edges[u, v, k]["odd"] = (1, 2)  # a tuple would come back as a list
    with pytest.raises(graph_cache.UnsupportedGraphError):
        graph_cache.encode_graph(G)
