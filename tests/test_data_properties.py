"""Property tests of the loaders (hypothesis): whatever arrays are written in a format,
the loader gives them back; whatever bytes a pickle holds, safe_load runs nothing and
either returns data or raises DataError."""

from __future__ import annotations

import pickle
import tempfile
from pathlib import Path

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.extra import numpy as hnp  # noqa: E402

from convscope.data import DataError, load_dataset  # noqa: E402
from convscope.data.safe_pickle import safe_load  # noqa: E402

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
PLAIN_DTYPES = st.sampled_from(["u1", "i1", "<u2", ">i2", "<i4", ">u4", "<i8", "<f4", ">f8", "?"])


@SETTINGS
@given(
    arr=hnp.arrays(PLAIN_DTYPES, hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=5)),
    protocol=st.integers(2, 5),
    fortran=st.booleans(),
)
def test_safe_load_round_trips_plain_arrays(arr: np.ndarray, protocol: int, fortran: bool) -> None:
    if fortran:
        arr = np.asfortranarray(arr)
    got = safe_load(pickle.dumps({"x": arr, "n": [1, 2]}, protocol=protocol), Path("p"))
    np.testing.assert_array_equal(got["x"], arr)
    assert got["x"].shape == arr.shape and got["x"].dtype == arr.dtype.newbyteorder("=")


@SETTINGS
@given(payload=st.binary(max_size=200))
def test_safe_load_of_any_bytes_is_data_or_data_error(payload: bytes) -> None:
    try:
        safe_load(b"\x80\x02" + payload, Path("fuzz"))
    except DataError as exc:
        assert "\n" not in str(exc) and str(exc).startswith("fuzz")



def test_a_bytearray_of_absurd_length_is_refused_before_the_unpickler_allocates_it() -> None:
    """Found by the test above: BYTEARRAY8 claiming 3·10¹⁸ bytes. Handed to pickle's own
    unpickler, a MemoryError, after which CPython 3.11 deletes a bytearray that still has
    a buffer exported: a SystemError through ``sys.excepthook`` (seen by pytest-qt as an
    exception in Qt's event loop) at the second such load."""
    import gc
    import sys

    payload = b"\x80\x02\x96\x96\xf3\x950}R\xa8.\x94MBZ\x800B\x0bj\x80e\x96\xe6\x842e"
    seen: list[BaseException] = []
    before, sys.excepthook = sys.excepthook, lambda _t, value, _tb: seen.append(value)
    try:
        for _ in range(3):
            with pytest.raises(DataError, match=r"^fuzz: corrupt pickle \(bytearray8 of 3,362,027,819,471,598,486 bytes, 16 left\)$"):
                safe_load(payload, Path("fuzz"))
            gc.collect()
    finally:
        sys.excepthook = before
    assert seen == []


def test_a_memo_slot_beyond_the_data_is_refused_before_the_unpickler_sizes_its_memo() -> None:
    """LONG_BINPUT 2³¹−16: pickle's unpickler would first make (and zero) a memo of
    twice as many 8-byte slots, 34 GB, for a 9-byte file."""
    payload = b"\x80\x02Nr" + (2**31 - 16).to_bytes(4, "little") + b"."
    with pytest.raises(DataError, match=r"^m: corrupt pickle \(memo slot 2,147,483,632\)$"):
        safe_load(payload, Path("m"))
    with pytest.raises(DataError, match=r"^m: corrupt pickle \(memo slot 999,999,999,999\)$"):
        safe_load(b"\x80\x02Np999999999999\n.", Path("m"))
    with pytest.raises(DataError, match=r"^m: corrupt pickle \(memo slot 999,999,999,999\)$"):
        safe_load(b"\x80\x02Np" + b"0" * 30 + b"999999999999\n.", Path("m"))  # not hidden by zeros
    assert safe_load(pickle.dumps(["a", "b"], protocol=0), Path("m")) == ["a", "b"]  # PUT 0, PUT 1
    # A real pickle's slots count its objects: a list of 300 strings (LONG_BINPUT past 255).
    strings = [f"s{i}" for i in range(300)]
    assert safe_load(pickle.dumps(strings, protocol=2), Path("m")) == strings

@SETTINGS
@given(
    n=st.integers(2, 30),
    size=st.tuples(st.integers(1, 9), st.integers(1, 9)),
    channels=st.sampled_from([None, 1, 3, 4]),
    classes=st.integers(2, 6),
    as_float=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_npz_round_trip(
    n: int, size: tuple[int, int], channels: int | None, classes: int, as_float: bool, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    shape = (n, *size) if channels is None else (n, *size, channels)
    x = rng.integers(0, 256, shape, dtype=np.uint8)
    y = rng.integers(0, classes, n)
    stored = (x / 255.0).astype(np.float32) if as_float else x
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "p.npz"
        np.savez(path, x_train=stored, y_train=y, x_test=stored[:2], y_test=y[:2])
        d = load_dataset(path)
    np.testing.assert_array_equal(d.x_train, x.reshape(n, *size, channels or 1))
    np.testing.assert_array_equal(d.y_train, y)
    assert d.num_classes == max(int(y.max()) + 1, 2)


@SETTINGS
@given(labels=st.lists(st.integers(0, 9), min_size=1, max_size=20), seed=st.integers(0, 2**16))
def test_cifar_binary_round_trip(labels: list[int], seed: int) -> None:
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, (len(labels), 32, 32, 3), dtype=np.uint8)
    rows = np.concatenate(
        [np.array(labels, np.uint8)[:, None], x.transpose(0, 3, 1, 2).reshape(len(x), -1)], axis=1
    )
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "data_batch_1.bin").write_bytes(rows.tobytes())
        (Path(tmp) / "test_batch.bin").write_bytes(rows.tobytes())
        d = load_dataset(tmp)
    np.testing.assert_array_equal(d.x_train, x)
    np.testing.assert_array_equal(d.y_val, labels)
