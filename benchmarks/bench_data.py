"""How long the data set loaders take, and how much memory they need, at full size:
MNIST-sized IDX files (60,000 + 10,000 images, plain and gzip) and CIFAR-10 (50,000 +
10,000 images, binary and python version, folder and ``.tar.gz``), written into a
temporary folder with random pixels (the loaders do not care what the pixels show).

Each load runs in a fresh subprocess: wall time of ``load_dataset`` (best of
``--repeats``), peak of NumPy/Python allocations during one load (tracemalloc) and the
process's peak resident memory. Usage::

    python benchmarks/bench_data.py [--repeats 3] [--no-archives]
"""

from __future__ import annotations

import argparse
import gzip
import json
import pickle
import struct
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import numpy as np


def write_idx(path: Path, arr: np.ndarray, gz: bool) -> None:
    payload = (
        struct.pack(">BBBB", 0, 0, 8, arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape) + arr.tobytes()
    )
    path.write_bytes(gzip.compress(payload, compresslevel=6) if gz else payload)


def make_idx(root: Path, gz: bool) -> Path:
    rng = np.random.default_rng(0)
    folder = root / ("mnist-gz" if gz else "mnist-plain")
    folder.mkdir()
    suffix = ".gz" if gz else ""
    for stem, n in (("train", 60_000), ("t10k", 10_000)):
        # MNIST-like: mostly zeros, so gzip compresses as it does on the real files.
        x = (rng.random((n, 28, 28)) < 0.2).astype(np.uint8) * rng.integers(
            0, 256, (n, 28, 28), dtype=np.uint8
        )
        write_idx(folder / f"{stem}-images-idx3-ubyte{suffix}", x, gz)
        write_idx(folder / f"{stem}-labels-idx1-ubyte{suffix}", (np.arange(n) % 10).astype(np.uint8), gz)
    return folder


class Py2Pickler(pickle._Pickler):
    """Writes bytes as Python 2's ``str`` (BINSTRING), as the published CIFAR pickles do
    (they were written by Python 2's cPickle); Python 3's protocol 2 would write
    ``_codecs.encode(text, "latin1")`` instead, which is slower to read."""

    dispatch = dict(pickle._Pickler.dispatch)

    def save_py2_str(self, obj: bytes) -> None:
        self.write(b"T" + struct.pack("<i", len(obj)) + obj)
        self.memoize(obj)

    dispatch[bytes] = save_py2_str


def py2_pickle(obj: object) -> bytes:
    import io

    buf = io.BytesIO()
    Py2Pickler(buf, protocol=2).dump(obj)
    return buf.getvalue()


def make_cifar(root: Path, kind: str) -> Path:
    rng = np.random.default_rng(1)
    folder = root / ("cifar-10-batches-bin" if kind == "bin" else "cifar-10-batches-py")
    folder.mkdir()
    for i in range(6):
        stem = f"data_batch_{i + 1}" if i < 5 else "test_batch"
        data = rng.integers(0, 256, (10_000, 3072), dtype=np.uint8)
        labels = (np.arange(10_000) % 10).astype(np.uint8)
        if kind == "bin":
            (folder / f"{stem}.bin").write_bytes(np.concatenate([labels[:, None], data], axis=1).tobytes())
        else:
            batch = {
                b"batch_label": stem.encode(),
                b"labels": labels.tolist(),
                b"data": data,
                b"filenames": [f"{j}.png".encode() for j in range(10_000)],
            }
            (folder / stem).write_bytes(py2_pickle(batch))
    return folder


def make_archive(folder: Path) -> Path:
    archive = folder.parent / f"{folder.name}.tar.gz"
    with tarfile.open(archive, "w:gz", compresslevel=1) as tar:
        tar.add(folder, arcname=folder.name)
    return archive


CHILD = r"""
import json, sys, time, tracemalloc
from convscope.data import load_dataset
path, repeats = sys.argv[1], int(sys.argv[2])
times = []
for _ in range(repeats):
    t = time.perf_counter(); d = load_dataset(path); times.append(time.perf_counter() - t); del d
tracemalloc.start()
d = load_dataset(path)
_, peak = tracemalloc.get_traced_memory()
tracemalloc.stop()
size = d.x_train.nbytes + d.x_val.nbytes
# VmHWM, not ru_maxrss: the latter is inherited from the parent across fork and exec.
hwm = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:"))
print(json.dumps({"best_s": min(times), "peak_mb": peak / 2**20, "rss_mb": hwm / 1024,
                  "data_mb": size / 2**20, "summary": d.summary()}))
"""


def measure(path: Path, repeats: int) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(path), str(repeats)],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[1],
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--no-archives", action="store_true", help="skip the .tar.gz cases (slow to write)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        t = time.perf_counter()
        cases = [("MNIST IDX, plain", make_idx(root, gz=False)), ("MNIST IDX, gzip", make_idx(root, gz=True))]
        for kind, label in (("bin", "binary"), ("py", "python")):
            folder = make_cifar(root, kind)
            cases.append((f"CIFAR-10 {label}, folder", folder))
            if not args.no_archives:
                cases.append((f"CIFAR-10 {label}, .tar.gz", make_archive(folder)))
        print(f"wrote the files in {time.perf_counter() - t:.1f} s\n")
        print(f"| case | load (best of {args.repeats}) | peak allocations | peak RSS | arrays | data set |")
        print("| --- | --- | --- | --- | --- | --- |")
        for name, path in cases:
            r = measure(path, args.repeats)
            print(
                f"| {name} | {r['best_s']:.2f} s | {r['peak_mb']:.0f} MB | {r['rss_mb']:.0f} MB "
                f"| {r['data_mb']:.0f} MB | {r['summary']} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
