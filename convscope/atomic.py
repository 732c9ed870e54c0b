"""One way to write a file so that a crash or a full disk never leaves half of it:
write a temporary file in the same folder, flush and fsync it, then ``os.replace`` it
onto the target (atomic on POSIX and Windows). Standard library only.

The file gets the permissions a plain ``open(path, "wb")`` would give it: those of the
file it replaces, or for a new file 0o666 less the user's umask (``tempfile.mkstemp``
would make every file 0600, unreadable to the user's group whatever their umask says).

A process killed between creating the temporary file and renaming it leaves the
temporary file behind; the next write of the same file removes such leftovers once
they are older than :data:`STALE_SECONDS` (a younger one may be another process's
write in progress).

Checkpoints (``train.checkpoint``), run files (``runs``) and landscape files
(``probes.landscape_io``) are written through :func:`atomic_write`.
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO


def atomic_write(path: str | os.PathLike, write: Callable[[BinaryIO], object]) -> Path:
    """Call ``write(f)`` on a temporary binary file beside ``path``, fsync it and move it
    onto ``path``. The folder is created if missing. On any failure (``write`` raising,
    the disk full, an interrupt) the temporary file is removed, ``path`` is left as it
    was, and the exception propagates (OSError for the file system's failures)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path)
    fd, tmp = _create_temporary(path)
    try:
        with os.fdopen(fd, "wb") as f:
            if hasattr(os, "fchmod") and path.is_file():
                os.fchmod(f.fileno(), path.stat().st_mode & 0o777)  # as open() keeps an existing file's mode
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


STALE_SECONDS = 600.0


def remove_stale_temporaries(path: Path, older_than: float = STALE_SECONDS) -> int:
    """Remove ``.<name>.*.tmp`` files beside ``path`` older than ``older_than`` seconds,
    left by writes that were killed; returns how many went. Never raises."""
    removed = 0
    now = time.time()
    try:
        for tmp in path.parent.glob(f".{glob_escape(path.name)}.*.tmp"):
            try:
                if now - tmp.stat().st_mtime > older_than:
                    tmp.unlink()
                    removed += 1
            except OSError:
                continue
    except OSError:
        pass
    return removed


def glob_escape(name: str) -> str:
    return "".join(f"[{c}]" if c in "*?[" else c for c in name)


def _create_temporary(path: Path) -> tuple[int, str]:
    """A new file ``.<name>.<random>.tmp`` beside ``path``, opened for reading and writing (as ``mkstemp``) with mode
    0o666, which the kernel reduces by the umask as it does for ``open()``."""
    flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0) | getattr(os, "O_CLOEXEC", 0)
    for _ in range(100):
        tmp = str(path.parent / f".{path.name}.{secrets.token_hex(4)}.tmp")
        try:
            return os.open(tmp, flags, 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"{path.parent}: no free temporary file name for {path.name}")


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """:func:`atomic_write` of ``data``."""
    return atomic_write(path, lambda f: f.write(data))
