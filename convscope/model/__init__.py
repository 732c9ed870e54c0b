"""JAX model: layer functions, init from an ArchSpec, apply with named taps."""

from convscope.model.network import apply, count_params, init, preprocess

__all__ = ["apply", "count_params", "init", "preprocess"]
