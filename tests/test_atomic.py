"""The one atomic file writer (convscope.atomic) and the writers that go through it:
the content is complete, the file is fsynced before it replaces the target, and a
failure leaves neither a temporary file nor a changed target."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from convscope.atomic import atomic_write, atomic_write_bytes


@pytest.fixture
def fsyncs(monkeypatch):
    """Every fd passed to os.fsync, with the bytes its file held at that moment."""
    seen: list[bytes] = []
    real = os.fsync

    def record(fd: int) -> None:
        seen.append(os.pread(fd, 1 << 20, 0))
        real(fd)

    monkeypatch.setattr(os, "fsync", record)
    return seen


def test_the_content_is_complete_and_fsynced_before_the_replace(tmp_path: Path, fsyncs) -> None:
    data = bytes(range(256)) * 1000
    out = atomic_write_bytes(tmp_path / "sub" / "f.bin", data)
    assert out.read_bytes() == data
    assert fsyncs == [data]  # the whole content reached the disk before os.replace
    assert [p.name for p in out.parent.iterdir()] == ["f.bin"]


def test_a_failing_writer_leaves_the_old_file_and_no_temporary_file(tmp_path: Path) -> None:
    target = tmp_path / "f.bin"
    target.write_bytes(b"old")

    def half(f) -> None:
        f.write(b"new, but")
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space"):
        atomic_write(target, half)
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.bin"]


def test_an_interrupt_during_the_fsync_leaves_no_temporary_file(tmp_path: Path, monkeypatch) -> None:
    def boom(fd: int) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "fsync", boom)
    with pytest.raises(KeyboardInterrupt):
        atomic_write_bytes(tmp_path / "f.bin", b"x")
    assert list(tmp_path.iterdir()) == []


def test_checkpoints_and_landscape_files_are_written_through_it(tmp_path: Path, fsyncs) -> None:
    from convscope.config import ArchSpec, ConvLayer, TrainConfig
    from convscope.probes.landscape import LandscapeGrid
    from convscope.probes.landscape_io import load_landscape_npz, save_landscape_npz, write_landscape_png
    from convscope.probes.landscape_svg import write_landscape_svg
    from convscope.train.checkpoint import Checkpoint, load_checkpoint, save_checkpoint

    arch = ArchSpec(convs=(ConvLayer(filters=2, kernel=3),), dense=())
    import jax

    from convscope.model.network import init

    params, state = jax.device_get(init(arch, 0))
    path = save_checkpoint(tmp_path / "c", Checkpoint(arch, TrainConfig(), params, state, 7))
    assert load_checkpoint(path).step == 7
    assert fsyncs[-1] == path.read_bytes()

    axis = np.linspace(-1, 1, 3)
    loss = np.arange(9.0).reshape(3, 3) + 1
    grid = LandscapeGrid(axis, axis, loss, loss / 10, 5.0, 0.5, "random", (0, 1), None, 8, "train", 3, 0.1)
    for write in (lambda p: save_landscape_npz(p, grid), lambda p: write_landscape_png(p, grid),
                  lambda p: write_landscape_svg(p, grid)):  # fmt: skip
        n = len(fsyncs)
        written = write(tmp_path / "l")
        assert len(fsyncs) == n + 1 and fsyncs[-1] == Path(written).read_bytes()
    np.testing.assert_array_equal(load_landscape_npz(tmp_path / "l.npz")[0].loss, loss)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.npz", "l", "l.npz"]


@pytest.mark.skipif(not hasattr(os, "fchmod"), reason="POSIX permissions")
@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_a_new_file_gets_the_mode_open_gives_under_the_umask(tmp_path: Path, umask: int) -> None:
    from convscope.config import ArchSpec, ConvLayer, TrainConfig
    from convscope.shapes import param_shapes
    from convscope.train.checkpoint import Checkpoint, save_checkpoint

    arch = ArchSpec(convs=(ConvLayer(filters=2, kernel=3),), dense=())
    shapes_p, shapes_s = param_shapes(arch)
    params = {k: {n: np.zeros(s, np.float32) for n, s in v.items()} for k, v in shapes_p.items()}
    old = os.umask(umask)
    try:
        with open(tmp_path / "plain.bin", "wb"):
            pass
        written = [atomic_write_bytes(tmp_path / "f.bin", b"x"),
                   save_checkpoint(tmp_path / "ck.npz", Checkpoint(arch, TrainConfig(), params, {}, 0))]
    finally:
        os.umask(old)
    assert shapes_s == {}
    want = 0o666 & ~umask
    assert (tmp_path / "plain.bin").stat().st_mode & 0o777 == want
    for path in written:
        assert path.stat().st_mode & 0o777 == want, f"{path.name}: {path.stat().st_mode & 0o777:o}"


@pytest.mark.skipif(not hasattr(os, "fchmod"), reason="POSIX permissions")
def test_a_replaced_file_keeps_its_mode(tmp_path: Path) -> None:
    target = tmp_path / "f.bin"
    target.write_bytes(b"old")
    target.chmod(0o640)
    atomic_write_bytes(target, b"new")
    assert target.read_bytes() == b"new" and target.stat().st_mode & 0o777 == 0o640


def test_temporaries_a_killed_write_left_are_removed_by_the_next_write_once_stale(tmp_path):
    """Issue 17.4: a kill during the write left ``.final.npz.*.tmp`` files behind for good."""
    import os
    import time

    from convscope.atomic import STALE_SECONDS, atomic_write_bytes

    target = tmp_path / "final.npz"
    old = tmp_path / ".final.npz.deadbeef.tmp"
    young = tmp_path / ".final.npz.cafe0001.tmp"  # perhaps another process writing now
    other = tmp_path / ".other.npz.deadbeef.tmp"
    for p in (old, young, other):
        p.write_bytes(b"half")
    past = time.time() - STALE_SECONDS - 5
    os.utime(old, (past, past))
    os.utime(other, (past, past))
    atomic_write_bytes(target, b"whole")
    assert target.read_bytes() == b"whole"
    assert not old.exists() and young.exists() and other.exists()
