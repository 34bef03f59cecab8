"""How a failure ends a command: its exit code and the one line that says why.

A fault in a file, a folder or an environment variable is the user's to fix, so it ends
like bad input (exit 2) with one line naming the path: the operating system's errors
(``OSError`` with a file name: permission, a file where a folder is expected, a full
disk, a layer deleted while the run was going) are mapped here, in one place, instead of
being caught step by step. Anything else is a bug: exit 1, one line (one JSON line under
``--log-json``) and the traceback only with ``--debug``.
"""

from __future__ import annotations

import errno
import os
import re
import sys
from dataclasses import dataclass

from healthopt.errors import HealthoptError

__all__ = ["Failure", "StdoutClosed", "classify", "guard_std_streams", "os_error_line", "silence_stdout"]

#: Plain-words reasons for the errors a user's files and folders cause.
_REASONS: dict[int, str] = {
    errno.ENOENT: "not found",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.EROFS: "read-only file system",
    errno.ENOSPC: "no space left on the device",
    errno.EDQUOT: "disk quota exceeded",
    errno.ENOTDIR: "a part of this path is a file, not a folder",
    errno.EISDIR: "is a folder, not a file",
    errno.ELOOP: "symbolic link loop",
    errno.EEXIST: "already exists",
    errno.ENAMETOOLONG: "file name too long",
    errno.EIO: "input/output error (failing disk or network share?)",
}

#: ``pathlib`` reports a symbolic link loop as a RuntimeError (Python < 3.13).
_SYMLINK_LOOP = re.compile(r"^Symlink loop from '(?P<path>.+)'$")


@dataclass(frozen=True)
class Failure:
    """How a command ends: exit code, one line and the JSON event name."""

    exit_code: int
    message: str
    event: str = "error"


class StdoutClosed(Exception):  # noqa: N818 - a state, not an error the user made
    """Standard output was closed by its reader (``healthopt run ... | head -1``)."""


def os_error_line(exc: OSError) -> str | None:
    """Return ``<path>: <reason>`` for an error about a named file or folder, else ``None``."""
    if exc.filename is None:
        return None
    name = os.fsdecode(exc.filename) if isinstance(exc.filename, bytes) else str(exc.filename)
    reason = _REASONS.get(exc.errno or -1) or (exc.strerror or type(exc).__name__).lower()
    if exc.filename2 is not None:
        return f"{name} -> {exc.filename2}: {reason}"
    return f"{name}: {reason}{_whose(name)}"


def _whose(name: str) -> str:
    """Name the environment variable behind a path the user never typed (dataset, cache)."""
    from healthopt import settings

    for variable, folder, what in (("HEALTHOPT_GEODATA", settings.GEODATA_DIR, "dataset folder"),
                                   ("HEALTHOPT_CACHE", settings.CACHE_DIR, "cache folder")):
        try:
            inside = os.path.commonpath([os.path.abspath(name), os.path.abspath(folder)]) == os.path.abspath(folder)
        except ValueError:
            inside = False
        if inside:
            origin = f"set by {variable}" if variable in os.environ else f"{variable} moves it"
            return f" ({what}; {origin})"
    return ""


def _one_line(exc: HealthoptError) -> str:
    """Return the error on one line: of several scenario problems, the first and a count of the rest."""
    problems = getattr(exc, "problems", None) or []
    if len(problems) < 2:
        return " ".join(str(exc).split("\n"))
    more = getattr(exc, "total", len(problems)) - 1
    return (f"{problems[0].one_line()} (and {more} more problem{'s' if more > 1 else ''}: "
            f"'healthopt validate {problems[0].source}' lists them all)")


def classify(exc: BaseException) -> Failure:
    """Return how ``exc`` ends the command.

    Parameters
    ----------
    exc : BaseException
        What stopped the command (not ``KeyboardInterrupt``, which the caller reports).

    Returns
    -------
    Failure
        Exit 2 (or the error's own code) for user-fixable faults, 1 for bugs.
    """
    if isinstance(exc, HealthoptError):
        return Failure(exc.exit_code, _one_line(exc))
    if isinstance(exc, OSError):
        line = os_error_line(exc)
        if line is not None:
            return Failure(2, line)
    if isinstance(exc, RuntimeError):
        match = _SYMLINK_LOOP.match(str(exc))
        if match:
            return Failure(2, f"{match['path']}: symbolic link loop")
    text = " ".join(str(exc).split())
    return Failure(1, f"{type(exc).__name__}: {text}" if text else type(exc).__name__, "internal_error")


def silence_stdout() -> None:
    """Point standard output at ``/dev/null`` so the interpreter's final flush cannot fail."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # no real stdout (captured, or already closed)
        pass


def guard_std_streams() -> None:
    """Put ``/dev/null`` on a closed stdout or stderr (``healthopt run ... >&-``).

    Left closed, descriptor 1 or 2 would be handed to the next file the run opens, and the
    solver's child process (CBC) would write its log into that file.
    """
    for fd, name in ((1, "stdout"), (2, "stderr")):
        try:
            os.fstat(fd)
        except OSError:
            null = os.open(os.devnull, os.O_WRONLY)
            if null != fd:
                os.dup2(null, fd)
                os.close(null)
            setattr(sys, name, open(fd, "w", encoding="utf-8", closefd=False))  # noqa: SIM115 - lives as long as the process
