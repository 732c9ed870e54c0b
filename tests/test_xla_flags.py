"""The CPU-only XLA flag ConvScope sets at import: only where the installed jaxlib knows
it and the CPU backend is the one JAX will use, appended to the user's own XLA_FLAGS."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from convscope import _YNN_FLAG, xla_flags_for

NEW = (0, 10, 2)
ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    ("env", "jaxlib", "plugins", "expected"),
    [
        ({}, NEW, [], _YNN_FLAG),
        ({"XLA_FLAGS": "--xla_backend_optimization_level=3"}, NEW, [], f"--xla_backend_optimization_level=3 {_YNN_FLAG}"),
        ({"JAX_PLATFORMS": "cpu"}, NEW, ["jax_cuda12_plugin"], _YNN_FLAG),  # asked for the CPU
        ({"JAX_PLATFORMS": "cuda"}, NEW, [], None),
        ({"JAX_PLATFORMS": "cuda,cpu"}, NEW, ["jax_cuda12_plugin"], None),
        ({"JAX_PLATFORMS": "tpu"}, NEW, ["libtpu"], None),
        ({"JAX_PLATFORM_NAME": "gpu"}, NEW, [], None),
        ({}, NEW, ["entry point xla_cuda13"], None),  # a GPU plugin: JAX would pick it
        ({}, (0, 8, 0), [], None),  # XLA before 0.8.1 aborts on the unknown flag
        ({}, (0, 4, 30), [], None),
        ({}, (), [], None),  # no jaxlib found
        ({"XLA_FLAGS": "--xla_cpu_experimental_ynn_fusion_type="}, NEW, [], None),  # theirs wins
        ({"CONVSCOPE_YNN": "off"}, NEW, [], None),
        ({"CONVSCOPE_YNN": "on", "JAX_PLATFORMS": "cuda"}, NEW, [], _YNN_FLAG),
        ({"CONVSCOPE_YNN": "on"}, (0, 4, 30), [], None),
    ],
)
def test_the_flag_is_added_only_where_it_is_known_and_the_cpu_is_used(env, jaxlib, plugins, expected):
    assert xla_flags_for(env, jaxlib, plugins) == expected


def _flags_after_import(extra_env: dict[str, str], code: str = "") -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items()
           if k not in ("XLA_FLAGS", "JAX_PLATFORMS", "JAX_PLATFORM_NAME", "CONVSCOPE_YNN")}
    env.update(extra_env, PYTHONPATH=str(ROOT))
    script = f"import os, convscope\n{code}\nprint('FLAGS=' + os.environ.get('XLA_FLAGS', ''))"
    return subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)


def test_import_leaves_an_accelerator_run_alone_and_appends_for_the_cpu():
    gpu = _flags_after_import({"JAX_PLATFORMS": "cuda", "XLA_FLAGS": "--xla_backend_optimization_level=3"})
    assert gpu.stdout.strip() == "FLAGS=--xla_backend_optimization_level=3", gpu.stderr
    # On the CPU the flag is in place before JAX starts its backend, and XLA accepts it.
    cpu = _flags_after_import({"JAX_PLATFORMS": "cpu", "XLA_FLAGS": "--xla_backend_optimization_level=3"},
                              "import jax.numpy as jnp\nassert float(jnp.ones(3).sum()) == 3.0")
    assert cpu.returncode == 0, cpu.stderr
    flags = cpu.stdout.strip().removeprefix("FLAGS=").split()
    assert flags[0] == "--xla_backend_optimization_level=3"
    assert (_YNN_FLAG in flags) == (xla_flags_for({"JAX_PLATFORMS": "cpu"}, _jaxlib(), []) is not None)


def _jaxlib() -> tuple[int, ...]:
    from convscope import _installed_jaxlib

    return _installed_jaxlib()
