"""File plumbing: hashing in blocks, writes that never leave half a file, whole-folder swaps.

Run folders are replaced whole, and only when the tool wrote them.

Run folders
-----------
Every folder the tool writes as a unit (a run, a batch, a comparison) carries a marker file,
:data:`MARKER`, naming the tool, its version, the kind of folder and its name. A folder is only
ever replaced when it carries the marker of the same kind (or is empty); anything else is
refused with an :class:`~healthopt.errors.InputError` naming it, so that ``-o`` pointed at the
wrong place never costs a planner their files.

A folder is written as a hidden temporary ``.<name>.<writer>.<random>.partial`` beside its
final place and swapped in at the end with ``renameat2(RENAME_EXCHANGE)`` (Linux), which
cannot leave the final name missing or half-replaced, whatever other runs do at the same
moment. ``<writer>`` is ``<host>-<pid>-<start time>`` of the writing process: a later run
removes the temporaries whose writer is dead (``kill -9``, power loss), never one of a live
process and never a folder without the marker.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import hashlib
import json
import os
import platform
import re
import secrets
import shutil
import socket
import stat
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from healthopt import __version__
from healthopt.errors import InputError

#: Block size for hashing: OSM extracts can be larger than memory allows.
BLOCK = 1 << 20

#: Name of the marker file in every folder the tool writes as a unit.
MARKER = ".healthopt-run"

#: Markers are a few hundred bytes; anything bigger is not one of ours.
_MARKER_MAX_BYTES = 4096

#: ``.<name>.<host>-<pid>-<start>.<random>.partial`` (the random part of mkdtemp has no dots).
_PARTIAL = re.compile(r"^\.(?P<name>.+)\.(?P<host>[0-9a-f]{8})-(?P<pid>\d+)-(?P<start>\d+)\.[A-Za-z0-9_]+\.partial$")

#: ``.<name>.<host>-<pid>-<start>-<random>.tmp<suffix>`` of :func:`write_atomic`.
_TEMPORARY = re.compile(r"^\..+\.(?P<host>[0-9a-f]{8})-(?P<pid>\d+)-(?P<start>\d+)-[0-9a-f]+\.tmp[^/]*$")

_AT_FDCWD = -100
_RENAME_EXCHANGE = 2
#: ``renameat2`` system call numbers, for a C library too old to wrap it (glibc < 2.28).
_RENAMEAT2_SYSCALL = {"x86_64": 316, "aarch64": 276}


# --------------------------------------------------------------------------- hashing


def update_digest(digest: Any, path: str | Path) -> None:
    """Feed the bytes of ``path`` to a hashlib ``digest``, in blocks."""
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(BLOCK), b""):
            digest.update(block)


def file_sha256(path: str | Path) -> str:
    """Return the SHA-256 hex digest of a file."""
    digest = hashlib.sha256()
    update_digest(digest, path)
    return digest.hexdigest()


# --------------------------------------------------------------------------- writers


def process_start(pid: int) -> int:
    """Return the start time of process ``pid`` in clock ticks since boot (0 where unknown).

    With the pid it identifies a process even after the pid has been reused.
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return 0
    fields = stat.rpartition(")")[2].split()  # the command name may hold spaces and brackets
    try:
        return int(fields[19])  # field 22 of proc(5); fields[0] is field 3
    except (IndexError, ValueError):
        return 0


def _host_tag() -> str:
    return hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]


_TAGS: dict[int, str] = {}


def writer_tag() -> str:
    """Return ``<host>-<pid>-<start>`` of this process, as embedded in temporary names."""
    pid = os.getpid()
    if pid not in _TAGS:  # a forked child has another pid and start time
        _TAGS[pid] = f"{_host_tag()}-{pid}-{process_start(pid)}"
    return _TAGS[pid]


def writer_alive(host: str, pid: int, start: int) -> bool:
    """Tell whether the writer of a temporary may still be running (``True`` when in doubt).

    A writer on another host (a shared file system) cannot be checked and counts as alive.
    """
    if host != _host_tag():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # another user's process holds the pid: compare its start time below
    now = process_start(pid)
    return not (start and now and now != start)


def write_atomic(target: str | Path, write: Callable[[Path], Any]) -> Path:
    """Write ``target`` through ``write(temporary path)`` and rename it into place.

    The temporary file sits beside ``target``, hidden, with a name unique to this call,
    naming its writer (:func:`writer_tag`, so :func:`clean_stale` can tell a dead writer's
    leftovers) and ending in ``target``'s suffix (GDAL and matplotlib pick the format from
    it). On any failure it is removed, so a reader sees the old file or the new one, never
    half of one.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{writer_tag()}-{secrets.token_hex(4)}.tmp{target.suffix}")
    try:
        write(tmp)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return target


# --------------------------------------------------------------------------- markers


def marker(kind: str, name: str) -> dict[str, str]:
    """Return the marker record of a folder of ``kind`` (``"run"``, ``"batch"``, ...) called ``name``."""
    return {"tool": "healthopt", "version": __version__, "kind": kind, "name": name}


def write_marker(folder: str | Path, kind: str, name: str | None = None) -> None:
    """Write the marker of ``folder``; ``name`` (default: the folder's own name) is the name it will have."""
    text = json.dumps(marker(kind, name or Path(folder).name), sort_keys=True) + "\n"
    (Path(folder) / MARKER).write_text(text, encoding="utf-8")


def _read_marker_at(dir_fd: int) -> dict[str, Any] | None:
    """Return the marker record in the open folder ``dir_fd`` (``None``: none the tool wrote)."""
    try:
        fd = os.open(MARKER, os.O_RDONLY | os.O_NOFOLLOW, dir_fd=dir_fd)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as fh:
        info = os.fstat(fh.fileno())
        if not stat.S_ISREG(info.st_mode) or info.st_size > _MARKER_MAX_BYTES:
            return None
        try:
            record = json.loads(fh.read(_MARKER_MAX_BYTES + 1).decode("utf-8"))
        except (OSError, ValueError):
            return None
    if not isinstance(record, dict) or record.get("tool") != "healthopt" or not isinstance(record.get("kind"), str):
        return None
    return record


def _open_folder(folder: Path) -> int:
    """Open ``folder`` itself (not a symlink) so that every later look is at the same folder."""
    return os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)


def read_marker(folder: str | Path) -> dict[str, Any] | None:
    """Return the marker record of ``folder``, or ``None`` if it has none that the tool wrote."""
    try:
        fd = _open_folder(Path(folder))
    except OSError:
        return None
    try:
        return _read_marker_at(fd)
    finally:
        os.close(fd)


def check_replaceable(folder: str | Path, *, kind: str) -> None:
    """Raise :class:`InputError` unless ``folder`` is missing, empty or a ``kind`` folder the tool wrote.

    The marker and the contents are read from one open folder, so a concurrent swap of the
    same path cannot mix two folders into a false verdict.

    Parameters
    ----------
    folder : str or Path
        The folder a run is about to replace.
    kind : str
        ``"run"``, ``"batch"`` or ``"compare"``: a run never replaces a batch, and so on.
    """
    folder = Path(folder)
    try:
        fd = _open_folder(folder)
    except FileNotFoundError:
        return
    except (NotADirectoryError, OSError) as exc:
        if isinstance(exc, NotADirectoryError) or exc.errno == errno.ELOOP:  # a file, or a symlink
            raise InputError(folder, None, "exists and is not a folder healthopt wrote; refusing to replace it "
                                           "(remove it or choose another output folder)") from None
        raise InputError(folder, None, f"cannot read the folder: {exc.strerror or exc}") from None
    try:
        record = _read_marker_at(fd)
        if record is None:
            try:
                if not os.listdir(fd):
                    return  # an empty folder (mkdir -p): nothing in it can be lost
            except OSError as exc:
                raise InputError(folder, None, f"cannot read the folder: {exc.strerror or exc}") from None
            raise InputError(folder, None, f"exists and was not written by healthopt (no {MARKER} marker); "
                                           "refusing to replace it (remove it or choose another output folder "
                                           "or name)")
    finally:
        os.close(fd)
    if record["kind"] != kind:
        raise InputError(folder, None, f"is a healthopt {record['kind']} folder, not a {kind} folder; refusing to "
                                       "replace it (choose another output folder or name)")


def _removable(folder: Path) -> bool:
    """Tell whether ``folder`` is ours to delete: it carries the marker (or is empty)."""
    if read_marker(folder) is not None:
        return True
    with contextlib.suppress(OSError):
        return not any(folder.iterdir())
    return False


def remove_folder(folder: Path) -> None:
    """Delete a folder of ours, its marker last.

    Until the folder is gone it either shows the marker or is empty, so a run that looks at
    it meanwhile (a concurrent swap) never mistakes it for someone else's folder.
    """
    with contextlib.suppress(OSError):
        for entry in os.scandir(folder):
            if entry.name == MARKER:
                continue
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path, ignore_errors=True)
            else:
                with contextlib.suppress(OSError):
                    os.unlink(entry.path)
    with contextlib.suppress(OSError):
        os.unlink(folder / MARKER)
    shutil.rmtree(folder, ignore_errors=True)


def clean_stale(folder: str | Path) -> list[Path]:
    """Remove the temporaries in ``folder`` whose writer is dead; return what was removed.

    Temporary run folders (``.*.partial``) go only if they carry the marker; temporary files
    of :func:`write_atomic` are recognised by their name. Anything of a live writer, of
    another host or not named like ours is left alone.
    """
    folder = Path(folder)
    removed: list[Path] = []
    try:
        entries = list(folder.iterdir())
    except OSError:
        return removed
    for entry in entries:
        match = _PARTIAL.match(entry.name) or _TEMPORARY.match(entry.name)
        if match is None or writer_alive(match["host"], int(match["pid"]), int(match["start"])):
            continue
        if entry.name.endswith(".partial"):
            if entry.is_symlink() or not entry.is_dir() or not _removable(entry):
                continue
            remove_folder(entry)
        elif entry.is_file() and not entry.is_symlink():
            entry.unlink(missing_ok=True)
        else:
            continue
        removed.append(entry)
    return removed


# --------------------------------------------------------------------------- swapping folders


def _renameat2() -> Callable[..., int] | None:
    """Return a ``renameat2(olddirfd, old, newdirfd, new, flags)`` callable, or ``None`` off Linux."""
    if platform.system() != "Linux":
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
    except OSError:  # pragma: no cover - no C library to load
        return None
    fn = getattr(libc, "renameat2", None)
    if fn is not None:
        fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
        fn.restype = ctypes.c_int
        return fn
    number = _RENAMEAT2_SYSCALL.get(platform.machine())
    if number is None:  # pragma: no cover - other architectures with an old C library
        return None
    syscall = libc.syscall
    syscall.restype = ctypes.c_long
    return lambda a, b, c, d, e: syscall(number, a, b, c, d, ctypes.c_uint(e))  # pragma: no cover


_RENAMEAT2 = _renameat2()


def exchange(a: str | Path, b: str | Path) -> bool:
    """Swap the paths ``a`` and ``b`` atomically; return ``False`` where the system cannot.

    Raises
    ------
    OSError
        For any failure other than "not supported" (e.g. ``b`` missing).
    """
    if _RENAMEAT2 is None:
        return False
    result = _RENAMEAT2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    if result == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP):
        return False  # kernel or file system without RENAME_EXCHANGE
    raise OSError(err, os.strerror(err), str(b))


#: Attempts of the rename fallback when other runs swap the same folder at the same time.
_SWAP_ATTEMPTS = 200


def replace_folder(new: Path, final: Path) -> None:
    """Put the folder ``new`` at ``final``, replacing what is there; the old folder is deleted.

    With ``RENAME_EXCHANGE`` a reader of ``final`` always finds a complete folder, the old
    or the new one, and any number of concurrent replacements all succeed (the last one
    wins). Elsewhere, a rename sequence retries when another run swaps at the same time
    (``final`` is then briefly missing). The old folder is deleted only if it carries the
    marker (or is empty); otherwise it is left beside ``final`` under a hidden name.
    """
    new, final = Path(new), Path(final)
    for attempt in range(_SWAP_ATTEMPTS):
        if not os.path.lexists(final):
            try:
                os.rename(new, final)  # atomic onto a missing (or empty) folder
                return
            except OSError as exc:
                if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                    raise
                continue  # another run got there first: exchange with its folder
        try:
            if exchange(new, final):
                _remove_old(new)  # ``new`` now names the old folder
                return
        except FileNotFoundError:
            continue  # ``final`` vanished between the check and the exchange (fallback swap elsewhere)
        if _rename_swap(new, final):
            return
        time.sleep(0.001 * (attempt % 10))
    raise OSError(errno.EBUSY, f"could not replace the folder after {_SWAP_ATTEMPTS} attempts: other runs keep "
                               "replacing it", str(final))


def _rename_swap(new: Path, final: Path) -> bool:
    """Fallback swap by two renames; ``False`` if another run interfered (try again)."""
    trash = Path(tempfile.mkdtemp(prefix=f".{final.name}.{writer_tag()}.", suffix=".partial", dir=final.parent))
    try:
        os.rename(final, trash)  # replaces the empty ``trash`` folder
    except FileNotFoundError:
        trash.rmdir()
        return False
    except OSError as exc:
        trash.rmdir()
        if exc.errno in (errno.ENOTEMPTY, errno.EEXIST):
            return False
        raise
    try:
        os.rename(new, final)
    except OSError as exc:
        _remove_old(trash)
        if exc.errno in (errno.ENOTEMPTY, errno.EEXIST):
            return False  # another run's folder arrived in between: it replaced the old one
        raise
    _remove_old(trash)
    return True


def _remove_old(folder: Path) -> None:
    if _removable(folder):
        remove_folder(folder)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_folder(final: str | Path, *, kind: str = "run", overwrite: bool = True) -> Iterator[Path]:
    """Yield a temporary folder beside ``final`` and swap it in for ``final`` on success.

    The temporary folder carries the marker (:data:`MARKER`) from the start. On any
    exception (Ctrl-C included) it is removed, so a run never leaves a half-written output
    folder behind; one left by a killed run is removed by the next run into the same parent
    folder (:func:`clean_stale`).

    Parameters
    ----------
    final : str or Path
        The folder to write.
    kind : str
        ``"run"``, ``"batch"`` or ``"compare"``; an existing ``final`` is replaced only if it
        is a folder of the same kind written by the tool, or empty (:func:`check_replaceable`).
    overwrite : bool
        ``False`` refuses to replace an existing ``final`` at all.

    Raises
    ------
    InputError
        If ``final`` may not be replaced or its parent cannot be created.
    """
    final = Path(final)
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(final.parent, None, f"cannot create the output folder: {exc.strerror or exc}") from None
    check_replaceable(final, kind=kind)
    clean_stale(final.parent)
    try:
        tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.{writer_tag()}.", suffix=".partial", dir=final.parent))
    except OSError as exc:
        raise InputError(final.parent, None, f"cannot write in the output folder: {exc.strerror or exc}") from None
    try:
        tmp.chmod(0o777 & ~_umask())  # mkdtemp makes it private; a run folder is shared like any other
        write_marker(tmp, kind, final.name)
        yield tmp
        if os.path.lexists(final) and not overwrite:
            raise FileExistsError(final)
        check_replaceable(final, kind=kind)
        replace_folder(tmp, final)
    except BaseException:
        _remove_old(tmp)  # ours, unless a swap had already put another folder there
        raise
