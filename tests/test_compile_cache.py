"""Issue 14: JAX's persistent compilation cache in the user's cache folder — a second
launch reads the compiled training step back instead of compiling it again."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from convscope.train.compile_cache import cache_dir

ROOT = Path(__file__).resolve().parents[1]


def test_the_folder_follows_the_environment(tmp_path) -> None:
    assert cache_dir({"XDG_CACHE_HOME": str(tmp_path)}) == tmp_path / "convscope" / "jax"
    assert cache_dir({"CONVSCOPE_COMPILE_CACHE": str(tmp_path / "c")}) == tmp_path / "c"
    assert cache_dir({"CONVSCOPE_COMPILE_CACHE": "off", "XDG_CACHE_HOME": str(tmp_path)}) is None
    assert cache_dir({}) == Path.home() / ".cache" / "convscope" / "jax"


def _train(tmp_path: Path, cache: str, out: str, **more: str) -> subprocess.CompletedProcess:
    rng = np.random.default_rng(0)
    data = tmp_path / "tiny.npz"
    np.savez(data, x_train=rng.integers(0, 256, (64, 8, 8, 1), dtype=np.uint8), y_train=np.arange(64) % 2)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "CONVSCOPE_COMPILE_CACHE": cache, **more}
    cmd = [sys.executable, "-m", "convscope", "train", "--data", str(data), "--steps", "3", "--quiet",
           "--set", "blocks=1", "--set", "filters=4", "--set", "batch_size=16", "--out", str(tmp_path / out)]  # fmt: skip
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=180, cwd=ROOT)


@pytest.mark.slow
def test_convscope_train_keeps_its_compiled_step_in_the_cache_and_off_keeps_nothing(tmp_path) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()  # an entry from an unbounded cache: no access-time file beside it
    (cache / "jit_old-0123-cache").write_bytes(b"x" * 100)
    first = _train(tmp_path, str(cache), "a")
    assert first.returncode == 0, first.stderr[-2000:]
    assert "persistent compilation cache" not in first.stderr, first.stderr[-2000:]  # JAX's eviction read it
    assert (cache / "jit_old-0123-atime").exists()
    entries = sorted(p.name for p in cache.iterdir())
    assert any(name.startswith("jit_train_chunk-") for name in entries), entries
    # bounded, so JAX locks every read and write: no process reads a half-written entry
    assert ".lockfile" in entries, entries
    # The quick compiles too (random keys, initialisation, staging; ~10 ms each), so that
    # a second launch compiles nothing at all.
    assert any(name.startswith("jit__threefry_seed-") for name in entries), entries
    second = _train(tmp_path, str(cache), "b")  # the same program: read back, nothing new written
    assert second.returncode == 0, second.stderr[-2000:]
    assert sorted(p.name for p in cache.iterdir() if p.name.startswith("jit_train_chunk-")) == \
        [n for n in entries if n.startswith("jit_train_chunk-")]  # fmt: skip
    off = _train(tmp_path, "off", "d", XDG_CACHE_HOME=str(tmp_path / "xdg-off"))  # none at all
    assert off.returncode == 0 and not (tmp_path / "xdg-off").exists()
