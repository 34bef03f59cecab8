"""Arguments and environment checked before a command does any work.

A bad ``-o``, ``--scheduler`` or ``SOURCE_DATE_EPOCH``, or a folder given to ``compare``
that is not a finished run, would otherwise surface minutes later (after the solve) as an
operating-system error or a bare ``KeyError``. Each check raises
:class:`~healthopt.errors.InputError` naming the option or variable, so the command ends
with exit 2 and one line before anything is read, solved or written.
"""

from __future__ import annotations

import errno
import os
import re
import tempfile
from pathlib import Path

from healthopt.errors import InputError
from healthopt.outputs.summary import load_summary_json

__all__ = ["check_environment", "check_output_folder", "check_run_folder", "check_scheduler"]

#: Dask addresses: ``tcp://host:8786`` (also tls, ucx, ws, wss, inproc) or ``host:8786``.
_SCHEDULER = re.compile(r"^(?:(?P<scheme>[a-z]+)://)?(?P<host>\[[0-9a-fA-F:.]+\]|[\w.-]+)(?::(?P<port>\d+))?$")
_SCHEMES = frozenset({"tcp", "tls", "ucx", "ws", "wss", "inproc"})


def check_environment() -> None:
    """Check the environment variables the outputs depend on (``SOURCE_DATE_EPOCH``)."""
    value = os.environ.get("SOURCE_DATE_EPOCH")
    if value is None or value == "":
        return
    # The reproducible-builds convention: a decimal count of seconds since 1970-01-01 UTC.
    if not re.fullmatch(r"\d{1,11}", value.strip()):
        raise InputError("SOURCE_DATE_EPOCH", None, f"{value!r} is not a whole number of seconds since "
                                                    "1970-01-01 (environment variable; unset it or fix it)")


def check_output_folder(path: Path, *, option: str = "-o/--out") -> None:
    """Check that ``path`` is, or can become, a folder: no file on the way, not read-only.

    Parameters
    ----------
    path : Path
        The parent folder of the run (or batch, or compare) folder.
    option : str
        The option's name, for the message.
    """
    probe = Path(os.path.abspath(path))
    while not probe.exists() and not probe.is_symlink() and probe != probe.parent:
        probe = probe.parent
    try:
        is_dir = probe.is_dir()
    except OSError as exc:
        raise InputError(probe, option, f"cannot use this folder: {exc.strerror}") from None
    if not is_dir:
        where = "is a file" if probe == Path(os.path.abspath(path)) else f"{probe} is a file"
        raise InputError(path, option, f"{where}, not a folder")
    # Permission bits say nothing for root, nor about a read-only mount or a full disk: make
    # (and remove) an empty hidden folder where the run's folder will go.
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".healthopt-write-test-", dir=probe))
    except OSError as exc:
        reason = {errno.EROFS: "is on a read-only file system", errno.ENOSPC: "is on a full disk",
                  errno.EDQUOT: "is over its disk quota"}.get(exc.errno or -1, "is not writable")
        raise InputError(probe, option, f"folder {reason} ({exc.strerror})") from None


def check_run_folder(path: Path) -> None:
    """Check that ``path`` is a finished run folder ``compare`` can read.

    It must hold a readable ``summary.json`` (a JSON object with a ``scenario``) and a
    ``results.gpkg`` with a ``districts`` layer.
    """
    if not path.is_dir():
        raise InputError(path, None, "not a folder: give the folder of a finished `healthopt run`")
    summary, gpkg = path / "summary.json", path / "results.gpkg"
    for file in (summary, gpkg):
        if not file.is_file():
            raise InputError(file, None, "not found: is this a `healthopt run` output folder?")
    data = load_summary_json(summary)  # its full shape is checked when compare reads it (read_summary)
    if not isinstance(data, dict) or not isinstance(data.get("scenario"), dict):
        raise InputError(summary, "scenario", "not the summary of a run (no scenario section)")
    import pyogrio

    try:
        layers = {str(name) for name, _ in pyogrio.list_layers(gpkg)}
    except (pyogrio.errors.DataSourceError, ValueError) as exc:
        raise InputError(gpkg, None, f"cannot be read as a GeoPackage ({str(exc).splitlines()[0]})") from None
    if "districts" not in layers:
        raise InputError(gpkg, "districts", f"layer missing (layers: {', '.join(sorted(layers)) or 'none'})")
    try:
        columns = set(pyogrio.read_info(gpkg, layer="districts")["fields"])
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError, ValueError) as exc:
        raise InputError(gpkg, "districts", f"layer cannot be read ({str(exc).splitlines()[0]})") from None
    missing = sorted({"code", "name_zh"} - columns)
    if missing:
        raise InputError(gpkg, "districts", f"layer lacks the column(s) {', '.join(missing)}")


def check_scheduler(address: str) -> None:
    """Check the syntax of a Dask scheduler address (``tcp://host:8786``) before any work."""
    match = _SCHEDULER.match(address.strip())
    port = match["port"] if match else None
    if (match is None or (match["scheme"] and match["scheme"] not in _SCHEMES)
            or (port is not None and not 0 < int(port) < 65536)):
        raise InputError("--scheduler", None, f"{address!r} is not a Dask scheduler address "
                                              "(expected tcp://host:8786)")
