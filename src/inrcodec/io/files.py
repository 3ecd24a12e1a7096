"""Output files written atomically: a temporary file in the same folder, then a rename, so a
failure never leaves a partial file behind and never damages one that was already there."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from ..errors import InputError


def check_output_path(path: str | os.PathLike) -> Path:
    """Fail early (before any training) if `path` cannot be written."""
    p = Path(path)
    if p.is_dir():
        raise InputError(f"{p}: is a directory")
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise InputError(f"{parent}: output folder does not exist")
    if not os.access(parent, os.W_OK):
        raise InputError(f"{parent}: output folder is not writable")
    return p


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write(path: str | os.PathLike, write: Callable[[str], None]) -> None:
    """Call write(tmp_path) and rename onto `path`; the temp file is removed on any failure.

    The file gets the permissions an ordinary write would give it: those of the file it
    replaces, else 0666 less the user's umask (mkstemp's private 0600 would keep other users
    and web servers from reading it)."""
    p = check_output_path(path)
    parent = p.parent if str(p.parent) else Path(".")
    try:
        mode = p.stat().st_mode & 0o7777
    except FileNotFoundError:
        mode = 0o666 & ~_umask()
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=parent)
    except OSError as exc:  # a read-only file system, a special folder: not a crash
        raise InputError(f"{p}: cannot write ({exc.strerror or exc})") from None
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, mode)
        os.replace(tmp, p)
    except BaseException as exc:
        if os.path.exists(tmp):
            os.unlink(tmp)
        if isinstance(exc, OSError):  # disk full, and the like
            raise InputError(f"{p}: cannot write ({exc.strerror or exc})") from None
        raise


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    def _w(tmp: str) -> None:
        with open(tmp, "wb") as f:
            f.write(data)

    atomic_write(path, _w)

