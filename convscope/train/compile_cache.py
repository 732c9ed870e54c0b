"""JAX's persistent compilation cache in the user's cache folder, so that a second
launch does not compile the model again (the first compile of the default model's
training step takes ~10 s on a laptop CPU; read back from the cache, well under 1 s).

The folder: ``$CONVSCOPE_COMPILE_CACHE`` when set (``off`` turns the cache off), else
``$XDG_CACHE_HOME/convscope/jax`` (``~/.cache/convscope/jax``). JAX keys every entry by
the program, the jaxlib version, the backend and its flags, so a stale or foreign entry
is never used; the folder may be deleted at any time. Only setting JAX's options here:
no backend starts, so it may run before ``jax.distributed.initialize``.

The folder is bounded (``MAX_BYTES``; the least recently used entries go first), and
bounding it is also what makes JAX lock it: with a size limit, JAX takes a file lock
(the ``filelock`` package, a dependency) around every read and write, so a ConvScope
process never reads an entry another one is half-way through writing. Without a limit
JAX writes unlocked, and such a read is a warning and a compile of its own.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)

ENV = "CONVSCOPE_COMPILE_CACHE"
# Every compile is kept, however quick (JAX's default keeps those over 1 s): a launch
# compiles some forty small programs besides the training step (the parameters'
# initialisation, random keys, data staging), 10–60 ms each on a laptop CPU and more on a
# busy one; read back they cost a file read each (a warm launch's compile phase: 3.7 →
# 2.7 s on the shared 2-core machine), written once (~1 s more). Entries: a few KB each.
MIN_COMPILE_S = 0.0
MAX_BYTES = 2 << 30  # 2 GiB (a compiled training step of the default model: ~0.3 MB)


def cache_dir(env: dict[str, str] | None = None) -> Path | None:
    """Where the cache lives; None when it is turned off."""
    env = dict(os.environ) if env is None else env
    chosen = env.get(ENV, "").strip()
    if chosen.lower() in ("off", "0", "none", "false"):
        return None
    if chosen:
        return Path(chosen).expanduser()
    base = env.get("XDG_CACHE_HOME", "").strip() or str(Path.home() / ".cache")
    return Path(base) / "convscope" / "jax"


def enable(env: dict[str, str] | None = None) -> Path | None:
    """Point JAX's persistent compilation cache at :func:`cache_dir` (made if missing);
    the folder, or None when off or not writable (then JAX compiles as before)."""
    folder = cache_dir(env)
    if folder is None:
        return None
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        log.info("no compilation cache: %s is not writable (%s)", folder, e.strerror or e)
        return None
    _date_undated(folder)
    import jax

    jax.config.update("jax_compilation_cache_dir", str(folder))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", MIN_COMPILE_S)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    jax.config.update("jax_compilation_cache_max_size", MAX_BYTES)  # bounded, hence locked
    return folder


def _date_undated(folder: Path) -> None:
    """Give every entry without one the access-time file JAX's eviction reads (named
    ``<key>-atime``: 8 bytes, nanoseconds, little-endian), dated by the entry's own time.
    A folder filled while the cache was unbounded (ConvScope before 2026-12-04, or
    ``JAX_COMPILATION_CACHE_DIR`` set by hand) has none, and JAX's eviction fails on the
    first such entry at every write — a warning, and nothing cached."""
    try:
        for entry in folder.glob("*-cache"):
            atime = entry.with_name(entry.name.removesuffix("-cache") + "-atime")
            if not atime.exists():
                atime.write_bytes(entry.stat().st_mtime_ns.to_bytes(8, "little"))
    except OSError as e:  # a folder we may not write: JAX will say so on its own
        log.info("compilation cache %s: could not date its entries (%s)", folder, e.strerror or e)
