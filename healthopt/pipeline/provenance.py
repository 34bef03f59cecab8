"""Provenance of a run: what was read (hashed when it was read), with which versions, and whether a rerun repeats it.

``summary.json`` must not depend on how the same scenario was given: files are named by
their file name (or ``embedded:<path>`` inside the embedded dataset), never by the path
typed on the command line or by the folder the tool is installed in, and every file is
identified by the SHA-256 of its bytes.
"""

from __future__ import annotations

import hashlib
import json
import platform
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import shapely

from healthopt._files import update_digest
from healthopt.data.layers import check_layer_file, check_regular_file
from healthopt.plans.base import FileRecord

if TYPE_CHECKING:
    from healthopt.pipeline.results import InputsSummary
    from healthopt.scenario import Scenario

#: Packages whose versions shape the results (recorded in ``summary.json``).
PACKAGES: tuple[str, ...] = ("healthopt", "geopandas", "shapely", "pyogrio", "pyproj", "osmnx", "networkx", "scipy",
                             "numpy", "pandas", "pulp", "highspy", "folium", "pydantic")

#: Data-quality note of a run whose solves did not all finish (see README, Reproducibility).
NOT_REPRODUCIBLE = ("Not reproducible: a solver stopped at its time limit (solver.time_limit_s), and where a "
                    "time-limited solve stops depends on machine speed and load, so a rerun may give another plan. "
                    "Runs whose solves finish (optimal or within the gap) give identical results.")

#: Roles of the user layers of a scenario's ``data`` section, in ``summary.json`` order.
LAYER_KINDS: tuple[str, ...] = ("boundaries", "demand", "stations", "health_centres", "hospitals")


def file_hash(path: str | Path) -> str:
    """Return the SHA-256 of a file, a shapefile with its sidecars (.dbf, .prj, ...) or a folder (e.g. .gdb).

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     p = Path(d) / "a.txt"
    ...     _ = p.write_bytes(b"abc")
    ...     file_hash(p)[:12]
    'ba7816bf8f01'
    """
    path = Path(path)
    if not path.is_dir():  # a FIFO given as a road or layer file would block the hash forever
        check_regular_file(path)
    files = files_of(path)
    base = path if path.is_dir() else path.parent
    digest = hashlib.sha256()
    for f in files:
        if len(files) > 1:  # names too: renaming a sidecar changes what GDAL reads
            digest.update(f.relative_to(base).as_posix().encode() + b"\0")
        update_digest(digest, f)
    return digest.hexdigest()


def files_of(path: Path) -> list[Path]:
    """Return the files GDAL reads for ``path``, sorted: a folder's, a shapefile and its sidecars, or the file."""
    if path.is_dir():
        return sorted(f for f in path.rglob("*") if f.is_file())
    if path.suffix.lower() == ".shp":
        return sorted(f for f in path.parent.iterdir() if f.is_file() and f.name.startswith(path.stem + "."))
    return [path]


def shown_name(path: str | Path, root: Path | None = None) -> str:
    """Return how ``summary.json`` names ``path``: ``embedded:<relative path>`` inside ``root``, else the file name.

    Examples
    --------
    >>> shown_name("/data/x/stations.gpkg")
    'stations.gpkg'
    >>> shown_name("/opt/ds/roads/a.geojson", Path("/opt/ds"))
    'embedded:roads/a.geojson'
    """
    path = Path(path)
    if root is not None:
        try:
            return "embedded:" + path.resolve().relative_to(Path(root).resolve()).as_posix()
        except ValueError:
            pass
    return path.name


class InputLog:
    """Hashes of the input files of a run, each taken when its reader step reads it.

    Hashing when the file is read (not when the run ends, minutes later) means the hash in
    ``summary.json`` is that of the bytes the plan was built from, even if the file changes
    during the run.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     p = Path(d) / "roads.osm"
    ...     _ = p.write_bytes(b"abc")
    ...     log = InputLog()
    ...     log.record("osm", p).name, log.files["osm"].sha256[:12]
    ('roads.osm', 'ba7816bf8f01')
    """

    def __init__(self) -> None:
        self.files: dict[str, FileRecord] = {}

    def record(self, role: str, path: str | Path, *, root: Path | None = None) -> FileRecord:
        """Hash ``path`` now and keep it under ``role``; return the record."""
        if role.startswith("layers/"):  # the layer limits first: no need to hash a file the reader refuses
            check_layer_file(Path(path))
        entry = FileRecord(shown_name(path, root), file_hash(path))
        self.files[role] = entry
        return entry

    def record_dataset(self, data: Any) -> None:
        """Hash the embedded dataset's manifest and every table it lists (relative names)."""
        root = Path(data.root)
        for name in ["manifest.csv", *sorted(set(data.manifest["file"]))]:
            self.files["embedded/" + name] = FileRecord(name, file_hash(root / name))


def scenario_record(sc: Scenario) -> FileRecord | None:
    """Hash the scenario's file (``None`` for an in-memory scenario)."""
    return FileRecord(Path(sc.source).name, file_hash(sc.source)) if sc.source else None


def inputs_summary(sc: Scenario, files: dict[str, FileRecord], scenario_file: FileRecord | None) -> InputsSummary:
    """Return ``summary["inputs"]``: scenario, road data, user layers and embedded tables, each with its SHA-256.

    Parameters
    ----------
    sc : Scenario
        The scenario of the run (its resolved form is hashed: overrides change the run, not
        the file).
    files : dict of str to FileRecord
        :attr:`InputLog.files` of the run's inputs.
    scenario_file : FileRecord or None
        The scenario file, hashed when the run started.
    """
    resolved = json.dumps(sc.resolved_dict(), sort_keys=True, ensure_ascii=False, default=str)
    osm = files["osm"]
    return {
        "scenario": {"name": scenario_file.name if scenario_file else None,
                     "sha256": scenario_file.sha256 if scenario_file else None},
        "scenario_resolved_sha256": hashlib.sha256(resolved.encode()).hexdigest(),
        "osm": {"path": osm.name, "sha256": osm.sha256},
        "layers": {kind: {"name": files["layers/" + kind].name, "sha256": files["layers/" + kind].sha256}
                   for kind in LAYER_KINDS if "layers/" + kind in files},
        "embedded": {role.removeprefix("embedded/"): f.sha256 for role, f in files.items()
                     if role.startswith("embedded/")},
    }


def versions() -> dict[str, str]:
    """Return the versions of Python, of every package that shapes the results and of the C libraries under them."""
    out = {"python": platform.python_version()}
    for pkg in PACKAGES:
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = "not installed"
    return out | library_versions()


def library_versions() -> dict[str, str]:
    """Return the GDAL, GEOS and PROJ versions: they write and transform the geometries."""
    out = {}
    try:
        import pyogrio

        out["gdal"] = pyogrio.__gdal_version_string__
    except ImportError:  # pragma: no cover - pyogrio is a dependency
        pass
    out["geos"] = shapely.geos_version_string
    try:
        import pyproj

        out["proj"] = pyproj.proj_version_str
    except ImportError:  # pragma: no cover - geopandas needs pyproj
        pass
    return out
