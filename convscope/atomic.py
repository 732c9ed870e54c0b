"""One way to write a file so that a crash or a full disk never leaves half of it:
write a temporary file in the same folder, flush and fsync it, then ``os.replace`` it
onto the target (atomic on POSIX and Windows). Standard library only.

Checkpoints (``train.checkpoint``) and landscape files (``probes.landscape_io``) are
written through :func:`atomic_write`.
"""

from __future__ import annotations

import os
import tempfile
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
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """:func:`atomic_write` of ``data``."""
    return atomic_write(path, lambda f: f.write(data))
