"""ConvScope: see inside a convolutional neural network while it learns."""

from __future__ import annotations

import os

__version__ = "0.1.0"

# XLA:CPU routes convolutions to YNNPACK. On the AVX-512 machines of
# shared/PERFORMANCE.md that made training 2.5-3x slower, and this flag (which must be
# in the environment before jax is first imported) avoids it. On AVX2-only CPUs we
# measured the opposite (benchmarks/bench_training.py --ynn both), so "auto" applies
# it only where the CPU has AVX-512. CONVSCOPE_YNN=on|off|auto overrides; the user's
# own XLA_FLAGS are appended to, never overridden.
_YNN_FLAG = "--xla_cpu_experimental_ynn_fusion_type=-individual_convolution"


def _cpu_has_avx512() -> bool:
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            return "avx512f" in f.read(1 << 16)
    except OSError:
        return False


def _configure_xla() -> None:
    mode = os.environ.get("CONVSCOPE_YNN", "auto").lower()
    wanted = mode in ("on", "auto")
    flags = os.environ.get("XLA_FLAGS", "")
    if wanted and _YNN_FLAG.split("=")[0] not in flags:
        os.environ["XLA_FLAGS"] = (flags + " " + _YNN_FLAG).strip()


_configure_xla()
