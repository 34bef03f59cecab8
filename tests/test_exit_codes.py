"""Issue 11, item 7: every fault in a file, folder or environment variable is exit 2 and one line.

The cases need a setup a YAML corpus cannot hold (a folder where a file should be, a
FIFO, a symbolic link loop, a sparse 300 MB file, a zip bomb, a full disk, an environment
variable), so they are built here in ``tmp_path``. Each checks: exit code 2, exactly one
``error: <path>: ...`` line on stderr naming what is at fault, no traceback, and no output
folder left behind (hidden ``.partial`` folders included). Internal errors stay exit 1 but
are one JSON line under ``--log-json``.
"""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from healthopt import cli

CLI = [sys.executable, "-c", "from healthopt.cli import run; run()"]
POINTS = "id,pop,lon,lat\nA,1200,112.5526,37.8553\nB,800,112.5726,37.8653\n"
SCENARIO = """\
name: case
area: {{districts: [140106], urban: [140106]}}
data:
  {layer}: {{path: {path}, crs: wgs84, {field}}}
solver: {{time_limit_s: 15}}
outputs: {{map: false, report: false}}
"""
PLAIN = """\
name: case
area: {districts: [140106], urban: [140106]}
plans: {ambulances: {max_new_stations: 3}}
solver: {time_limit_s: 15}
outputs: {map: false, report: false}
"""


def _scenario(tmp_path: Path, path: str, layer: str = "demand") -> Path:
    field = "population_field: pop" if layer == "demand" else "capacity_field: vehicles"
    out = tmp_path / "case.yaml"
    out.write_text(SCENARIO.format(layer=layer, path=path, field=field), encoding="utf-8")
    return out


def _run(args: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "argv", ["healthopt", *map(str, args)])
    try:
        cli.run()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _one_error(code: int, err: str, *expected: str) -> str:
    assert code == 2, err
    assert "Traceback" not in err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, lines
    assert lines[0].startswith("error: "), lines[0]
    for text in expected:
        assert text in lines[0], (text, lines[0])
    return lines[0]


def _nothing_left(folder: Path) -> None:
    assert not folder.exists() or os.listdir(folder) == [], os.listdir(folder)


def _layer_case(tmp_path, monkeypatch, capsys, name: str, *expected: str, layer: str = "demand") -> str:
    runs = tmp_path / "runs"
    code, _, err = _run(["run", _scenario(tmp_path, name, layer), "-o", runs], monkeypatch, capsys)
    line = _one_error(code, err, *expected)
    _nothing_left(runs)
    return line


# --- files that are not layer files -----------------------------------------------------


def test_folder_given_as_layer(tmp_path, monkeypatch, capsys):
    (tmp_path / "pts.csv").mkdir()
    _layer_case(tmp_path, monkeypatch, capsys, "pts.csv", "pts.csv: path: is a folder, not a layer file")


def test_symbolic_link_loop(tmp_path, monkeypatch, capsys):
    (tmp_path / "a.csv").symlink_to(tmp_path / "b.csv")
    (tmp_path / "b.csv").symlink_to(tmp_path / "a.csv")
    _layer_case(tmp_path, monkeypatch, capsys, "a.csv", "a.csv", "symbolic link loop")


def test_dangling_symbolic_link(tmp_path, monkeypatch, capsys):
    (tmp_path / "gone.csv").symlink_to(tmp_path / "nowhere.csv")
    _layer_case(tmp_path, monkeypatch, capsys, "gone.csv", "gone.csv", "file not found")


@pytest.mark.parametrize("kind", ["fifo", "dev_zero"])
def test_special_files_are_refused_at_once(tmp_path, kind):
    # In a subprocess with a timeout: before the fix a FIFO blocked the reader forever.
    target = tmp_path / "pts.csv"
    if kind == "fifo":
        os.mkfifo(target)
    else:
        target.symlink_to("/dev/zero")
    runs = tmp_path / "runs"
    out = subprocess.run([*CLI, "run", str(_scenario(tmp_path, "pts.csv")), "-o", str(runs)], capture_output=True,
                         text=True, timeout=120)
    # The scenario resolves symbolic links: the error names the file behind it.
    name, what = (("pts.csv", "is a FIFO (named pipe)") if kind == "fifo"
                  else ("/dev/zero", "is a device or special file"))
    _one_error(out.returncode, out.stderr, f"{name}: path: {what}, not a regular file")
    _nothing_left(runs)


def test_fifo_as_road_file_is_refused_at_once(tmp_path):
    # The road file is hashed before the graph is read: the hash, too, must not open a FIFO.
    os.mkfifo(tmp_path / "roads.osm")
    scenario = tmp_path / "case.yaml"
    scenario.write_text(PLAIN + "data: {osm: {path: roads.osm}}\n", encoding="utf-8")
    runs = tmp_path / "runs"
    out = subprocess.run([*CLI, "run", str(scenario), "-o", str(runs)], capture_output=True, text=True, timeout=120)
    _one_error(out.returncode, out.stderr, "roads.osm: path: is a FIFO (named pipe), not a regular file")
    _nothing_left(runs)


# --- size budget ------------------------------------------------------------------------


def test_layer_larger_than_the_budget(tmp_path, monkeypatch, capsys):
    from healthopt.data.layers import MAX_LAYER_BYTES

    with open(tmp_path / "pts.csv", "wb") as fh:  # sparse: no disk space used
        fh.write(POINTS.encode())
        fh.truncate(MAX_LAYER_BYTES + 1)
    _layer_case(tmp_path, monkeypatch, capsys, "pts.csv", "pts.csv: path: file of 256 MB is larger than the 256 MB")


def test_zip_bomb_is_refused_from_its_directory(tmp_path, monkeypatch, capsys):
    from healthopt.data.layers import MAX_LAYER_BYTES

    block = b"0" * (1 << 20)
    with (zipfile.ZipFile(tmp_path / "pts.zip", "w", compression=zipfile.ZIP_DEFLATED) as archive,
          archive.open("pts.csv", "w", force_zip64=True) as fh):
        for _ in range(MAX_LAYER_BYTES // len(block) + 8):
            fh.write(block)
    assert (tmp_path / "pts.zip").stat().st_size < 2 * 2**20  # a 2 MB archive of 264 MB
    _layer_case(tmp_path, monkeypatch, capsys, "pts.zip", "pts.zip: path: archive unpacks to 264 MB, more than")


def test_too_many_features(tmp_path, monkeypatch, capsys):
    from healthopt.data.layers import MAX_FEATURES

    rows = "".join(f"P{i},1,112.55,37.85\n" for i in range(MAX_FEATURES + 1))
    (tmp_path / "pts.csv").write_text("id,pop,lon,lat\n" + rows, encoding="utf-8")
    _layer_case(tmp_path, monkeypatch, capsys, "pts.csv",
                f"pts.csv: features: {MAX_FEATURES + 1:,} features, more than the {MAX_FEATURES:,}")


# --- values -----------------------------------------------------------------------------


def test_infinite_coordinate(tmp_path, monkeypatch, capsys):
    (tmp_path / "pts.csv").write_text(POINTS.replace("112.5526", "inf"), encoding="utf-8")
    _layer_case(tmp_path, monkeypatch, capsys, "pts.csv", "pts.csv:2: geometry: coordinate is not a finite number")


def test_nan_coordinate_in_geojson(tmp_path, monkeypatch, capsys):
    def feature(pop: int, lon: str) -> str:
        return (f'{{"type": "Feature", "properties": {{"pop": {pop}}}, '
                f'"geometry": {{"type": "Point", "coordinates": [{lon}, 37.85]}}}}')

    features = ", ".join([feature(10, "112.55"), feature(20, "NaN")])
    (tmp_path / "pts.geojson").write_text(f'{{"type": "FeatureCollection", "features": [{features}]}}',
                                          encoding="utf-8")
    _layer_case(tmp_path, monkeypatch, capsys, "pts.geojson", "pts.geojson: geometry: feature 2: coordinate is not "
                                                               "a finite number")


def test_out_of_range_coordinate(tmp_path, monkeypatch, capsys):
    (tmp_path / "pts.csv").write_text(POINTS.replace("112.5526", "512.5526"), encoding="utf-8")
    _layer_case(tmp_path, monkeypatch, capsys, "pts.csv", "pts.csv:2: geometry: 1 feature(s) outside")


def test_population_that_would_overflow(tmp_path, monkeypatch, capsys):
    (tmp_path / "pts.csv").write_text(POINTS.replace("1200", "1e30"), encoding="utf-8")
    _layer_case(tmp_path, monkeypatch, capsys, "pts.csv",
                "pts.csv:2: pop: count 1e+30 is beyond the plausible maximum 100,000,000")


def test_population_all_zero_writes_nothing(tmp_path, monkeypatch, capsys):
    (tmp_path / "pts.csv").write_text(POINTS.replace("1200", "0").replace(",800,", ",0,"), encoding="utf-8")
    _layer_case(tmp_path, monkeypatch, capsys, "pts.csv", "pts.csv: pop: every feature has 0 residents")


def test_station_capacity_beyond_range(tmp_path, monkeypatch, capsys):
    (tmp_path / "st.csv").write_text("id,name,vehicles,lon,lat\nS1,a,1e20,112.5526,37.8553\n", encoding="utf-8")
    line = _layer_case(tmp_path, monkeypatch, capsys, "st.csv",
                       "st.csv:2: vehicles: count 1e+20 is beyond the plausible maximum 1,000,000", layer="stations")
    assert "-9223372036854775" not in line


# --- output folder ----------------------------------------------------------------------


def _plain(tmp_path: Path) -> Path:
    path = tmp_path / "plain.yaml"
    path.write_text(PLAIN, encoding="utf-8")
    return path


def test_output_folder_that_is_a_file(tmp_path, monkeypatch, capsys):
    (tmp_path / "runs").write_text("not a folder", encoding="utf-8")
    code, _, err = _run(["run", _plain(tmp_path), "-o", tmp_path / "runs"], monkeypatch, capsys)
    _one_error(code, err, "runs: -o/--out: is a file, not a folder")
    assert (tmp_path / "runs").read_text(encoding="utf-8") == "not a folder"


def test_output_folder_under_a_file(tmp_path, monkeypatch, capsys):
    # Root ignores permission bits, so "cannot be created" is tested with a file on the way.
    (tmp_path / "f").write_text("x", encoding="utf-8")
    code, _, err = _run(["run", _plain(tmp_path), "-o", tmp_path / "f" / "runs"], monkeypatch, capsys)
    _one_error(code, err, "f/runs: -o/--out:", f"{tmp_path / 'f'} is a file, not a folder")


def test_output_on_a_read_only_file_system(tmp_path, monkeypatch, capsys):
    target = Path("/proc/healthopt-runs")  # procfs: no user folder can be made there
    code, _, err = _run(["run", _plain(tmp_path), "-o", target], monkeypatch, capsys)
    _one_error(code, err, "/proc", "-o/--out")


def test_full_disk_while_writing_leaves_nothing(tmp_path, monkeypatch, capsys):
    from healthopt.outputs import tables

    def full(path, *_args, **_kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    monkeypatch.setattr(tables, "write_summary_csv", full)
    runs = tmp_path / "runs"
    code, _, err = _run(["run", _plain(tmp_path), "-o", runs], monkeypatch, capsys)
    _one_error(code, err, "summary.csv: no space left on the device")
    _nothing_left(runs)


def test_layer_deleted_during_the_run(tmp_path, monkeypatch, capsys):
    from healthopt import norms

    (tmp_path / "pts.csv").write_text(POINTS, encoding="utf-8")
    original = norms.health_centre_norms

    def delete_then_go_on(*args, **kwargs):
        (tmp_path / "pts.csv").unlink(missing_ok=True)
        return original(*args, **kwargs)

    monkeypatch.setattr(norms, "health_centre_norms", delete_then_go_on)
    runs = tmp_path / "runs"
    code, _, err = _run(["run", _scenario(tmp_path, "pts.csv"), "-o", runs], monkeypatch, capsys)
    # The layer was read (and hashed, where provenance is taken at read time) before it went:
    # either the run completes, or it names the vanished file. Never an internal error.
    if code == 0:
        assert (runs / "case" / "summary.json").is_file()
    else:
        _one_error(code, err, "pts.csv", "not found")
        _nothing_left(runs)


# --- environment ------------------------------------------------------------------------


def test_bad_source_date_epoch(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "yesterday")
    runs = tmp_path / "runs"
    code, _, err = _run(["run", _plain(tmp_path), "-o", runs], monkeypatch, capsys)
    _one_error(code, err, "SOURCE_DATE_EPOCH: 'yesterday' is not a whole number of seconds")
    _nothing_left(runs)


def test_dataset_folder_from_the_environment_missing(tmp_path):
    env = {**os.environ, "HEALTHOPT_GEODATA": str(tmp_path / "nowhere")}
    out = subprocess.run([*CLI, "run", str(_plain(tmp_path)), "-o", str(tmp_path / "runs")], capture_output=True,
                         text=True, timeout=120, env=env)
    _one_error(out.returncode, out.stderr, str(tmp_path / "nowhere"), "HEALTHOPT_GEODATA")
    _nothing_left(tmp_path / "runs")


def test_cache_folder_that_is_a_file(tmp_path):
    # The cache is optional: the run goes on without it, or names the cache folder. Never exit 1.
    (tmp_path / "cache").write_text("x", encoding="utf-8")
    env = {**os.environ, "HEALTHOPT_CACHE": str(tmp_path / "cache")}
    out = subprocess.run([*CLI, "run", str(_plain(tmp_path)), "-o", str(tmp_path / "runs"), "--quiet"],
                         capture_output=True, text=True, timeout=300, env=env)
    if out.returncode == 0:
        assert (tmp_path / "runs" / "case" / "summary.json").is_file()
    else:
        _one_error(out.returncode, out.stderr, "cache", "HEALTHOPT_CACHE")
    assert (tmp_path / "cache").read_text(encoding="utf-8") == "x"


# --- compare and batch arguments --------------------------------------------------------


def _fake_run(folder: Path, summary: str | None = '{"scenario": {"name": "x"}}', gpkg: bool = True) -> Path:
    folder.mkdir(parents=True)
    if summary is not None:
        (folder / "summary.json").write_text(summary, encoding="utf-8")
    if gpkg:
        import geopandas as gpd
        import shapely

        gpd.GeoDataFrame({"code": ["140106"], "name_zh": ["迎泽区"]}, geometry=[shapely.Point(112.55, 37.85)],
                         crs="EPSG:4326").to_file(folder / "results.gpkg", layer="stations")
    return folder


@pytest.mark.parametrize(("case", "expected"), [
    ("no_folder", "a: not a folder"),
    ("no_summary", "summary.json: not found"),
    ("bad_json", "summary.json: not valid JSON"),
    ("not_a_summary", "summary.json: scenario: not the summary of a run"),
    ("no_districts", "results.gpkg: districts: layer missing (layers: stations)"),
    ("gpkg_garbage", "results.gpkg: cannot be read as a GeoPackage"),
])
def test_compare_refuses_a_corrupt_run_folder(tmp_path, monkeypatch, capsys, case, expected):
    a = tmp_path / "a"
    if case == "no_summary":
        _fake_run(a, summary=None)
    elif case == "bad_json":
        _fake_run(a, summary='{"scenario": ')
    elif case == "not_a_summary":
        _fake_run(a, summary="[1, 2]")
    elif case == "no_districts":
        _fake_run(a)
    elif case == "gpkg_garbage":
        _fake_run(a, gpkg=False)
        (a / "results.gpkg").write_bytes(b"\0" * 4096)
    out = tmp_path / "cmp"
    code, _, err = _run(["compare", a, a, "-o", out], monkeypatch, capsys)
    _one_error(code, err, expected)
    assert not out.exists()


@pytest.mark.parametrize("address", ["tcp//host:8786", "tcp://host:99999", "gopher://host:8786", "a b"])
def test_batch_refuses_a_bad_scheduler_address(tmp_path, monkeypatch, capsys, address):
    (tmp_path / "members").mkdir()
    _plain(tmp_path / "members")
    out = tmp_path / "runs"
    code, _, err = _run(["batch", tmp_path / "members", "-o", out, "--scheduler", address], monkeypatch, capsys)
    _one_error(code, err, f"--scheduler: {address!r} is not a Dask scheduler address")
    _nothing_left(out)


# --- internal errors --------------------------------------------------------------------


def test_internal_error_is_one_json_line_under_log_json(tmp_path, monkeypatch, capsys):
    from healthopt import norms

    def bug(*_args, **_kwargs):
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(norms, "health_centre_norms", bug)
    runs = tmp_path / "runs"
    code, out, err = _run(["run", _plain(tmp_path), "-o", runs, "--log-json"], monkeypatch, capsys)
    assert code == 1
    assert out == ""
    events = [json.loads(ln) for ln in err.splitlines() if ln.strip() and ln.startswith("{")]
    assert [ln for ln in err.splitlines() if ln.strip() and not ln.startswith("{")] == []
    assert events[-1] == {"event": "internal_error", "exit_code": 1, "message": "ZeroDivisionError: division by zero"}
    _nothing_left(runs)


def test_internal_error_without_log_json_is_one_line(tmp_path, monkeypatch, capsys):
    from healthopt import norms

    monkeypatch.setattr(norms, "health_centre_norms", lambda *a, **k: 1 / 0)
    code, _, err = _run(["run", _plain(tmp_path), "-o", tmp_path / "runs", "--quiet"], monkeypatch, capsys)
    assert code == 1
    assert [ln for ln in err.splitlines() if ln.strip()] == [
        "internal error: ZeroDivisionError: division by zero (rerun with --debug)"]
