"""The inputs cache (demand, sites, travel times): exact round trip, refuses damaged or foreign files, same outputs.

Round trips and refusals run on a small synthetic entry; one cold and one warm run of a
one-district scenario (no map, report or health centres) check that a hit writes the same
``summary.json``, ``summary.csv`` and ``results.gpkg``, byte for byte, as the build it replaced
(no field of them holds a run time or the cache state).
"""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from shapely.geometry import Point

from healthopt import settings
from healthopt.pipeline import cache
from healthopt.traveltime import TravelTimes

pytestmark = pytest.mark.slow


def _entry() -> cache.CachedInputs:
    points = gpd.GeoDataFrame({"demand_id": ["a", "b", "c"], "district_code": ["140106", "140106", None],
                               "population": np.array([10, 0, 7], dtype=np.int64), "cell_m": [500.0, 500.0, 1e3],
                               "on_network": [True, False, True]},
                              geometry=[Point(112.55, 37.85), Point(112.56, 37.86), Point(112.5712345678901, 37.8)],
                              crs=4326)
    node = pd.Series([123456789012, None], dtype=object)
    sites = gpd.GeoDataFrame({"site_id": ["s1", "s2"], "node": node, "existing": [False, True],
                              "max_vehicles": np.array([8, 8])}, geometry=[Point(112.5, 37.8), Point(112.6, 37.9)],
                             crs=4326)
    minutes = sp.csr_matrix(np.array([[1.5, 0.0, 3.25], [0.0, 0.01, 7.0]]))
    nodes = np.empty(2, dtype=object)
    nodes[:] = [1, None]
    tt = TravelTimes(minutes, np.array(["s1", "s2"], dtype=object), np.array(["a", "b", "c"], dtype=object),
                     np.array([False, True, False]), np.array([False, True]), np.array([False, True, False, False]),
                     20.0, nodes, np.array([5, 6, 7], dtype=object), np.array([1.0, 2.0]), np.array([0.0, 1.0, 2.0]))
    return cache.CachedInputs(points, sites, tt, {"140106": sp.csr_matrix(np.eye(2)), "140107": None})


def _same(a: cache.CachedInputs, b: cache.CachedInputs) -> None:
    pd.testing.assert_frame_equal(a.points, b.points, check_exact=True)
    pd.testing.assert_frame_equal(a.sites, b.sites, check_exact=True)
    assert a.points.crs == b.points.crs and list(b.sites["node"]) == [123456789012, None]
    for name in TravelTimes.__dataclass_fields__:
        x, y = getattr(a.travel_times, name), getattr(b.travel_times, name)
        if sp.issparse(x):
            assert (x != y).nnz == 0 and x.dtype == y.dtype and x.shape == y.shape
        elif isinstance(x, np.ndarray):
            assert x.dtype == y.dtype and x.tolist() == y.tolist(), name
        else:
            assert x == y, name
    assert list(b.patient_minutes) == ["140106", "140107"] and b.patient_minutes["140107"] is None
    assert (b.patient_minutes["140106"] != a.patient_minutes["140106"]).nnz == 0


def test_round_trip_is_exact(tmp_path: Path) -> None:
    entry = _entry()
    cache.write(tmp_path, "k1", entry)
    _same(entry, cache.read(tmp_path, "k1"))
    assert cache.read(tmp_path, "other") is None  # no entry: a miss, not an error


def test_damaged_payload_is_refused(tmp_path: Path) -> None:
    cache.write(tmp_path, "k1", _entry())
    payload = tmp_path / "inputs-k1.npz"
    data = bytearray(payload.read_bytes())
    data[len(data) // 2] ^= 0xFF
    payload.write_bytes(bytes(data))
    with pytest.raises(cache.StaleCacheError, match="checksum"):
        cache.read(tmp_path, "k1")


def test_foreign_manifest_is_refused(tmp_path: Path) -> None:
    cache.write(tmp_path, "k1", _entry())
    (tmp_path / "inputs-k1.json").rename(tmp_path / "inputs-k2.json")  # another entry's manifest under this name
    (tmp_path / "inputs-k1.npz").rename(tmp_path / "inputs-k2.npz")
    with pytest.raises(cache.StaleCacheError, match="another format or entry"):
        cache.read(tmp_path, "k2")
    (tmp_path / "inputs-k3.json").write_text('{"format": "healthopt-graph-cache"}', encoding="utf-8")
    with pytest.raises(cache.StaleCacheError):
        cache.read(tmp_path, "k3")


def test_pickled_payload_is_never_loaded(tmp_path: Path) -> None:
    # A payload holding a pickled object array, with a manifest that vouches for it: np.load with
    # allow_pickle=False refuses it, so no code in it can run.
    buffer = io.BytesIO()
    np.savez(buffer, meta=np.array([{"x": 1}], dtype=object), allow_pickle=True)
    payload = buffer.getvalue()
    (tmp_path / "inputs-k1.npz").write_bytes(payload)
    record = {"format": cache.FORMAT, "format_version": cache.FORMAT_VERSION, "key": "k1",
              "payload": {"sha256": hashlib.sha256(payload).hexdigest()}}
    (tmp_path / "inputs-k1.json").write_text(json.dumps(record), encoding="utf-8")
    with pytest.raises(cache.StaleCacheError, match="payload unreadable"):
        cache.read(tmp_path, "k1")


def test_values_it_cannot_keep_are_not_cached() -> None:
    entry = _entry()
    # a NumPy scalar in an object column would come back as a Python int
    entry.sites["node"] = pd.Series([np.int64(1), None], dtype=object)
    with pytest.raises(cache.UnsupportedValueError):
        cache.encode(entry)


SCENARIO = """\
name: inputs_cache_probe
area: {districts: [140106], urban: [140106]}
plans:
  ambulances: {max_new_stations: 4}
  primary_care: {enabled: false}
  beds: {enabled: false}
solver: {time_limit_s: 30, gap: 0.01}
outputs: {map: false, report: false, gpkg: true}
"""


def test_warm_run_writes_the_same_outputs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from healthopt.pipeline.run import prepare_inputs, run_prepared
    from healthopt.scenario import load_scenario

    monkeypatch.setattr(settings, "CACHE_DIR", tmp_path / "cache")
    path = tmp_path / "s.yaml"
    path.write_text(SCENARIO, encoding="utf-8")
    sc = load_scenario(path)
    outputs = []
    for run in ("cold", "warm"):
        inputs = prepare_inputs(sc)
        assert inputs.cache == ("miss" if run == "cold" else "hit")
        assert ("demand" in inputs.timings) == (run == "cold")  # the warm run skipped the builds
        result = run_prepared(sc, inputs, tmp_path / run / sc.name)
        outputs.append({name: (result.folder / name).read_bytes() for name in ("summary.json", "summary.csv",
                                                                              "results.gpkg")})
    assert outputs[0] == outputs[1]
    # a damaged entry is rebuilt, with the same outputs
    payload = next((tmp_path / "cache" / cache.SUBFOLDER).glob("inputs-*.npz"))
    payload.write_bytes(payload.read_bytes()[:-10])
    inputs = prepare_inputs(sc)
    assert inputs.cache == "rebuilt (payload checksum mismatch)"
    result = run_prepared(sc, inputs, tmp_path / "rebuilt" / sc.name)
    assert (result.folder / "summary.json").read_bytes() == outputs[0]["summary.json"]
