"""ConvScope: see inside a convolutional neural network while it learns."""

from __future__ import annotations

import os
from collections.abc import Mapping

__version__ = "0.1.0"

# XLA:CPU routes convolutions to YNNPACK, which made training 2.5-3x slower on the
# machines of shared/PERFORMANCE.md; this flag keeps convolutions off YNNPACK. XLA reads
# XLA_FLAGS once, when JAX first starts a backend, so it is set here, at import, before
# JAX does. It is a CPU flag, and an XLA that does not know a flag aborts at start-up
# ("Unknown flags in XLA_FLAGS"), so it is only added when
#   * the installed jaxlib knows it (0.8.1 was the first: the flag's name is in its
#     libjax_common.so, not in 0.8.0's), and
#   * the CPU backend is the one JAX will use: JAX_PLATFORMS (or the older
#     JAX_PLATFORM_NAME) names cpu first, or names nothing and no accelerator plugin is
#     installed (a jax_plugins package or entry point, e.g. jax_cuda12_plugin, or libtpu;
#     their XLA is built separately and is left alone).
# CONVSCOPE_YNN=on adds it whatever the backend (still only where jaxlib knows it), off
# never. The user's own XLA_FLAGS are appended to, never overridden; a YNN setting of
# their own wins.
_YNN_FLAG = "--xla_cpu_experimental_ynn_fusion_type=-individual_convolution"
_YNN_SINCE = (0, 8, 1)


def _version_tuple(text: str) -> tuple[int, ...]:
    """(0, 8, 1) of "0.8.1", "0.8.1.dev20251104" or "0.8.1rc1"; () if it is none of these."""
    import re

    match = re.match(r"(\d+)\.(\d+)(?:\.(\d+))?", text)
    return tuple(int(g) for g in match.groups() if g is not None) if match else ()


def _installed_jaxlib() -> tuple[int, ...]:
    from importlib import metadata

    try:
        return _version_tuple(metadata.version("jaxlib"))
    except metadata.PackageNotFoundError:
        return ()


def _accelerator_plugins() -> list[str]:
    """Accelerator backends JAX would find, looked up without importing JAX or them."""
    import importlib.util
    import pkgutil
    from importlib import metadata

    found = [f"entry point {ep.name}" for ep in metadata.entry_points(group="jax_plugins")]
    spec = importlib.util.find_spec("jax_plugins")
    if spec is not None and spec.submodule_search_locations:
        found += [f"jax_plugins.{m.name}" for m in pkgutil.iter_modules(spec.submodule_search_locations)]
    if importlib.util.find_spec("libtpu") is not None:
        found.append("libtpu")
    return found


def _cpu_backend_expected(env: Mapping[str, str], plugins: list[str]) -> bool:
    requested = env.get("JAX_PLATFORMS") or env.get("JAX_PLATFORM_NAME") or ""
    platforms = [p.strip().lower() for p in requested.split(",") if p.strip()]
    if platforms:
        return platforms[0] == "cpu"
    return not plugins


def xla_flags_for(
    env: Mapping[str, str], jaxlib_version: tuple[int, ...], plugins: list[str]
) -> str | None:
    """The XLA_FLAGS ConvScope would run with (None: leave the variable as it is)."""
    mode = env.get("CONVSCOPE_YNN", "auto").lower()
    flags = env.get("XLA_FLAGS", "")
    if mode == "off" or _YNN_FLAG.split("=")[0] in flags or jaxlib_version < _YNN_SINCE:
        return None
    if mode != "on" and not _cpu_backend_expected(env, plugins):
        return None
    return (flags + " " + _YNN_FLAG).strip()


def _configure_xla() -> None:
    mode = os.environ.get("CONVSCOPE_YNN", "auto").lower()
    if mode == "off":
        return
    plugins = _accelerator_plugins() if mode != "on" else []
    flags = xla_flags_for(os.environ, _installed_jaxlib(), plugins)
    if flags is not None:
        os.environ["XLA_FLAGS"] = flags


_configure_xla()
