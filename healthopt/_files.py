"""File plumbing shared by the pipeline: hashing in blocks and writes that never leave half a file."""

from __future__ import annotations

import hashlib
import os
import pickle
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

#: Block size for hashing: OSM extracts can be larger than memory allows.
BLOCK = 1 << 20


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


def write_atomic(target: str | Path, write: Callable[[Path], Any]) -> Path:
    """Write ``target`` through ``write(temporary path)`` and rename it into place.

    The temporary file sits beside ``target``, hidden, with a name unique to this call and
    ``target``'s suffix (GDAL and matplotlib pick the format from it). On any failure it is
    removed, so a reader sees the old file or the new one, never half of one.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp{target.suffix}")
    try:
        write(tmp)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return target


def write_pickle(target: str | Path, obj: Any) -> Path:
    """Pickle ``obj`` to ``target`` atomically (:func:`write_atomic`)."""

    def dump(path: Path) -> None:
        with open(path, "wb") as fh:
            pickle.dump(obj, fh, protocol=pickle.HIGHEST_PROTOCOL)

    return write_atomic(target, dump)
