"""A small checkpoint whose zip entry inflates to gigabytes of zeros is refused from the
entry's ``.npy`` header, before its data is inflated: the process's peak memory stays
where it was (measured in a process of its own, with ``resource.getrusage``)."""

from __future__ import annotations

import io
import struct
import subprocess
import sys
import textwrap
import zlib
from pathlib import Path

import numpy as np
import pytest
from hostile_checkpoints import good_arrays

CHUNK = 1 << 20
BOMB_BYTES = 6 * 10**9  # what the inflated entry would take


def _deflated_zeros(prefix: bytes, nbytes: int) -> bytes:
    """Raw deflate of ``prefix`` then ``nbytes`` zeros, built without compressing them:
    after a full flush the compressor's state is reset, so every 1 MiB block of zeros
    deflates to the same bytes, which are repeated."""
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    head = c.compress(prefix) + c.flush(zlib.Z_FULL_FLUSH)
    block = c.compress(b"\0" * CHUNK) + c.flush(zlib.Z_FULL_FLUSH)
    assert c.compress(b"\0" * CHUNK) + c.flush(zlib.Z_FULL_FLUSH) == block
    n = nbytes // CHUNK
    return head + block * n + c.compress(b"\0" * (nbytes - n * CHUNK)) + c.flush()


def _zip(members: list[tuple[str, bytes, int, int]]) -> bytes:
    """A zip of (name, raw deflate data, crc32, inflated size) members; zip64 sizes."""
    out, central = bytearray(), bytearray()
    for name, data, crc, size in members:
        offset = len(out)
        raw = name.encode()
        extra = struct.pack("<HHQQ", 1, 16, size, len(data))
        out += struct.pack("<IHHHHHIIIHH", 0x04034B50, 45, 0, 8, 0, 0x21, crc, 0xFFFFFFFF, 0xFFFFFFFF,
                           len(raw), len(extra)) + raw + extra + data
        central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 45, 45, 0, 8, 0, 0x21, crc, 0xFFFFFFFF,
                               0xFFFFFFFF, len(raw), len(extra), 0, 0, 0, 0, offset) + raw + extra
    start = len(out)
    out += central + struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(members), len(members), len(central),
                                 start, 0)
    return bytes(out)


def _npy(value: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, value)
    return buf.getvalue()


def write_bomb(path: Path, key: str, header: dict) -> None:
    """A good checkpoint whose entry ``key`` has ``header`` and inflates to 6 GB of zeros.
    Its CRC is not that of the zeros (computing it would take seconds): a reader that
    inflated the entry would find out only at its end, after the memory was taken."""
    members = []
    for name, value in good_arrays().items():
        if name == key:
            continue
        data = _npy(value)
        c = zlib.compressobj(6, zlib.DEFLATED, -15)
        members.append((f"{name}.npy", c.compress(data) + c.flush(), zlib.crc32(data), len(data)))
    head = io.BytesIO()
    np.lib.format.write_array_header_1_0(head, header)
    prefix = head.getvalue()
    members.append((f"{key}.npy", _deflated_zeros(prefix, BOMB_BYTES - len(prefix)), 0, BOMB_BYTES))
    path.write_bytes(_zip(members))


CHILD = textwrap.dedent("""
    import resource, sys
    from convscope.train.checkpoint import CheckpointError, load_checkpoint
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    try:
        load_checkpoint(sys.argv[1])
    except CheckpointError as e:
        print(e)
    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)  # KiB on Linux
""")

BOMBS = {
    # The weights' entry claims 1.5·10⁹ float32 (6 GB): the shape check refuses it.
    "weights": ("params/dense1/w", {"descr": "<f4", "fortran_order": False, "shape": (1_500_000_000,)},
                "has shape (1500000000,), expected (784, 16)"),
    # The right shape, but 6 GB of data behind it: only the shape's bytes are read.
    "right shape": ("params/dense1/w", {"descr": "<f4", "fortran_order": False, "shape": (784, 16)}, ""),
    # The meta string claims 10⁸ characters (400 MB), with 6 GB of data behind it.
    "meta": ("meta", {"descr": "<U100000000", "fortran_order": False, "shape": ()}, "characters; at most"),
}


@pytest.mark.skipif(sys.platform != "linux", reason="ru_maxrss in KiB, as Linux reports it")
@pytest.mark.parametrize("name", sorted(BOMBS))
def test_an_entry_inflating_to_6_gb_is_refused_from_its_header(tmp_path, name) -> None:
    key, header, phrase = BOMBS[name]
    path = tmp_path / "bomb.npz"
    write_bomb(path, key, header)
    assert path.stat().st_size < 8 * 2**20
    out = subprocess.run([sys.executable, "-c", CHILD, str(path)], capture_output=True, text=True, timeout=60,
                         check=True).stdout.splitlines()
    grown_mib = int(out[-1]) / 1024
    assert grown_mib < 100, f"peak memory grew {grown_mib:.0f} MiB to read {name}"
    if phrase:
        assert phrase in out[0] and str(path) in out[0]
    else:  # all zeros, read from the first 50 KiB: it loads (the zeros are valid weights)
        assert len(out) == 1
