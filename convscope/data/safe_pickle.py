"""Read the pickles of the CIFAR "python version" without ever running their code.

``pickle.load`` calls whatever function a pickle names, so a file from the internet
could run ``os.system``. :func:`safe_load` uses an ``Unpickler`` whose ``find_class``
knows only a handful of names, and none of them is the real thing: NumPy's array and
dtype reconstructors (and ``_codecs.encode``, which protocol 2 uses for bytes) are
replaced by small stand-ins that only record their arguments. After loading, the
stand-ins are turned into arrays by :func:`np.frombuffer` from an allowlist of plain
numeric dtypes, with the byte count checked against the shape. Any other global —
``os.system``, ``builtins.eval``, ``numpy.load`` … — is refused with a ``DataError``
before anything is called.
"""

from __future__ import annotations

import io
import math
import pickle
import pickletools
from pathlib import Path
from typing import Any

import numpy as np

from convscope.data.errors import DataError

# Plain numeric dtypes a data array may have (no objects, no structured types).
ALLOWED_DTYPES = frozenset({"u1", "i1", "u2", "i2", "u4", "i4", "u8", "i8", "f4", "f8", "b1"})
MAX_ARRAY_BYTES = 2**31


def _empty_bytes(*args: Any) -> bytes:
    if args:
        raise pickle.UnpicklingError("bytes() with arguments")
    return b""


class _Dtype:
    """Stands in for ``numpy.dtype(name, align, copy)``; BUILD gives the byte order."""

    def __init__(self, name: Any, *_args: Any) -> None:
        self.name = name.decode("latin1") if isinstance(name, bytes) else name
        self.order = "|"

    def __setstate__(self, state: Any) -> None:
        if isinstance(state, tuple) and len(state) >= 2 and isinstance(state[1], str | bytes):
            order = state[1]
            self.order = order.decode("latin1") if isinstance(order, bytes) else order

    def resolve(self, where: Path) -> np.dtype:
        name = self.name
        if not isinstance(name, str) or name.lstrip("<>|=") not in ALLOWED_DTYPES:
            raise DataError(f"{where}: array of dtype {name!r} is not a plain numeric array")
        base = name.lstrip("<>|=")
        order = self.order if self.order in ("<", ">", "|", "=") else "|"
        return np.dtype(order + base if base[1:] != "1" else base)


class _Array:
    """Stands in for an ndarray from ``_reconstruct`` (+ BUILD) or ``_frombuffer``."""

    def __init__(self) -> None:
        self.shape: Any = None
        self.dtype: Any = None
        self.fortran: Any = False
        self.data: Any = None

    def __setstate__(self, state: Any) -> None:
        # ndarray.__reduce__ state: (version, shape, dtype, is_fortran, raw bytes)
        if not isinstance(state, tuple) or len(state) != 5:
            raise pickle.UnpicklingError("unexpected ndarray state")
        _, self.shape, self.dtype, self.fortran, self.data = state

    def resolve(self, where: Path) -> np.ndarray:
        if not isinstance(self.dtype, _Dtype):
            raise DataError(f"{where}: array without a plain dtype")
        dtype = self.dtype.resolve(where)
        shape = self.shape
        if not isinstance(shape, tuple) or not all(isinstance(d, int) and d >= 0 for d in shape):
            raise DataError(f"{where}: array with an invalid shape {shape!r}")
        data = self.data
        if isinstance(data, str):  # Python 2 strings read with encoding="latin1"
            data = data.encode("latin1")
        if not isinstance(data, bytes | bytearray):
            raise DataError(f"{where}: array data is not raw bytes")
        nbytes = math.prod(shape) * dtype.itemsize
        if nbytes > MAX_ARRAY_BYTES or len(data) != nbytes:
            raise DataError(
                f"{where}: array of shape {shape} {dtype} needs {nbytes:,} bytes but holds {len(data):,}"
            )
        flat = np.frombuffer(bytes(data), dtype=dtype)
        out = flat.reshape(shape, order="F" if self.fortran is True else "C")
        return out.astype(dtype.newbyteorder("="), copy=True)


def _reconstruct(_cls: Any, _shape: Any = None, _typecode: Any = None) -> _Array:
    return _Array()


def _frombuffer(buf: Any, dtype: Any, shape: Any, order: Any = "C") -> _Array:
    arr = _Array()
    arr.data, arr.dtype, arr.shape, arr.fortran = buf, dtype, tuple(shape), order == "F"
    return arr


def _encode(text: Any, encoding: Any = "utf-8") -> bytes:
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise pickle.UnpicklingError("_codecs.encode with unexpected arguments")
    return text.encode("latin1")


def _make_dtype(name: Any, *args: Any) -> _Dtype:
    return _Dtype(name, *args)


# What the name ``numpy.ndarray`` resolves to: passed to ``_reconstruct``, unused. A
# bare object() has no __dict__, so a BUILD aimed at it fails.
_NDARRAY = object()


# (module, name) → stand-in. numpy 1.x pickles say numpy.core, numpy 2.x numpy._core.
_SAFE_GLOBALS: dict[tuple[str, str], Any] = {
    ("numpy", "ndarray"): _NDARRAY,
    ("numpy", "dtype"): _make_dtype,
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy.core.numeric", "_frombuffer"): _frombuffer,
    ("numpy._core.numeric", "_frombuffer"): _frombuffer,
    ("_codecs", "encode"): _encode,
    ("__builtin__", "bytes"): _empty_bytes,  # protocol 2 writes b"" as bytes()
    ("builtins", "bytes"): _empty_bytes,
}


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        try:
            found = _SAFE_GLOBALS[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"refused to load {module}.{name}") from None
        if found is _NDARRAY:
            return found
        # A fresh wrapper each time, never a class: a BUILD opcode aimed at it cannot
        # change the stand-ins themselves for later loads.
        return lambda *args: found(*args)

    def persistent_load(self, pid: Any) -> Any:
        raise pickle.UnpicklingError("refused a persistent id")


_ARGS = {ord(op.code): op.arg for op in pickletools.opcodes}  # opcode byte -> its argument
_PUTS = (pickle.LONG_BINPUT[0], pickle.PUT[0])


def _slot(payload: bytes, pos: int, code: int) -> int:
    """The memo slot a PUT (decimal digits up to a newline) or LONG_BINPUT names."""
    if code == pickle.PUT[0]:
        newline = payload.find(b"\n", pos)
        digits = payload[pos:newline].lstrip(b"0") if newline >= 0 else b""
        if not digits.isdigit():  # slot 0, or no number: the unpickler's to refuse
            return 0
        return int(digits) if len(digits) <= 20 else 1 << 70  # (int() refuses 4,300+ digits)
    return int.from_bytes(payload[pos:pos + 4], "little")


_COUNT_BYTES = {pickletools.TAKEN_FROM_ARGUMENT1: 1, pickletools.TAKEN_FROM_ARGUMENT4: 4,
                pickletools.TAKEN_FROM_ARGUMENT4U: 4, pickletools.TAKEN_FROM_ARGUMENT8U: 8}  # fmt: skip


def _check_framing(payload: bytes, where: Path) -> None:
    """Every byte count the pickle states, checked against what follows it before the
    unpickler runs: the unpickler allocates a count before reading, and a bytearray of
    3·10¹⁸ bytes is a MemoryError after which CPython 3.11 deletes a bytearray that still
    has a buffer exported (a SystemError at the next such load); likewise a memo slot
    (PUT, LONG_BINPUT) beyond the data, which sizes the memo. Only counts are read
    here (``pickletools.genops`` decodes every text too: 0.2 s a CIFAR batch); anything
    else wrong is the unpickler's to find."""
    pos, end = 0, len(payload)
    while pos < end:
        code = payload[pos]
        pos += 1
        if code == pickle.STOP[0] or code not in _ARGS:
            return
        arg = _ARGS[code]
        if arg is None:
            continue
        if code in _PUTS:  # a memo slot past any the data could fill: the unpickler sizes
            slot = _slot(payload, pos, code)  # its memo to it (8 bytes a slot, zeroed: 34 GB
            if slot > end:  # for 2³²) before storing anything
                raise DataError(f"{where}: corrupt pickle (memo slot {slot:,})")
        if arg.n >= 0:
            pos += arg.n
        elif arg.n == pickletools.UP_TO_NEWLINE:
            for _ in range(2 if arg.name == "stringnl_noescape_pair" else 1):
                newline = payload.find(b"\n", pos)
                if newline < 0:
                    return
                pos = newline + 1
        else:
            width = _COUNT_BYTES[arg.n]
            count = int.from_bytes(payload[pos:pos + width], "little", signed=arg.n == pickletools.TAKEN_FROM_ARGUMENT4)
            pos += width
            if count > end - pos:
                raise DataError(f"{where}: corrupt pickle ({arg.name} of {count:,} bytes, {max(end - pos, 0):,} left)")
            pos += max(count, 0)


def safe_load(payload: bytes, where: Path) -> Any:
    """Unpickle ``payload`` (read from ``where``) allowing only data: dicts, lists,
    strings, numbers and plain numeric NumPy arrays. Raises ``DataError`` naming
    ``where`` for anything else, without calling any function the pickle names."""
    _check_framing(payload, where)
    try:
        obj = _RestrictedUnpickler(io.BytesIO(payload), encoding="bytes").load()
    except DataError:
        raise
    except pickle.UnpicklingError as exc:
        raise DataError(f"{where}: unsafe or corrupt pickle ({exc}); nothing was executed") from exc
    except (
        EOFError,
        ValueError,
        TypeError,
        AttributeError,
        IndexError,
        KeyError,
        MemoryError,
        OverflowError,
        RecursionError,
    ) as exc:
        detail = " ".join(str(exc).split()) or type(exc).__name__
        raise DataError(f"{where}: corrupt pickle ({detail})") from exc
    return _resolve(obj, where, depth=0)


def _resolve(obj: Any, where: Path, depth: int) -> Any:
    """Replace stand-ins by arrays; keys become str where they were bytes."""
    if depth > 20:
        raise DataError(f"{where}: pickle nested too deeply for a data file")
    if isinstance(obj, _Array):
        return obj.resolve(where)
    if isinstance(obj, dict):
        return {
            (k.decode("latin1") if isinstance(k, bytes) else k): _resolve(v, where, depth + 1)
            for k, v in obj.items()
        }
    if isinstance(obj, list | tuple):
        return [_resolve(v, where, depth + 1) for v in obj]
    if isinstance(obj, _Dtype) or obj is _NDARRAY or callable(obj):
        raise DataError(f"{where}: unexpected NumPy object in a data pickle")
    return obj
