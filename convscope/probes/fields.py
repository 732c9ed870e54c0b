"""Which layers have spatial maps, and where in the input each map position looks.

Pure Python over ``convscope.shapes.layer_table``; shared by activation maximization,
top-k patches and Grad-CAM.
"""

from __future__ import annotations

from convscope.config import ArchSpec
from convscope.shapes import LayerInfo, layer_table, same_padding

SPATIAL_KINDS = ("conv", "bn", "act", "pool")


def spatial_layers(arch: ArchSpec) -> list[str]:
    """Names of the taps with a spatial map (conv, bn, act, pool), forward order."""
    return [row.name for row in layer_table(arch) if row.kind in SPATIAL_KINDS and len(row.shape) == 3]


def spatial_row(arch: ArchSpec, layer: str, who: str = "deepvis") -> LayerInfo:
    """The layer_table row of ``layer``; ValueError naming the valid choices otherwise."""
    rows = {row.name: row for row in layer_table(arch)}
    if layer not in rows or layer not in spatial_layers(arch):
        raise ValueError(f"{who}: {layer!r} is not a spatial layer of this model; "
                         f"choose one of {', '.join(spatial_layers(arch))}")
    return rows[layer]


def field_geometry(arch: ArchSpec) -> dict[str, tuple[int, int, int]]:
    """(start, jump, rf) of every spatial layer: position ``i`` of its map sees input
    pixels ``start + i·jump`` … ``start + i·jump + rf − 1`` (start < 0 inside padding)."""
    start, jump, rf = 0, 1, 1
    geo: dict[str, tuple[int, int, int]] = {}
    for i, conv in enumerate(arch.convs, start=1):
        f, s = conv.kernel, conv.stride
        pad = same_padding(f)[0] if conv.padding == "same" else 0
        start -= pad * jump
        rf += (f - 1) * jump
        jump *= s
        geo[f"conv{i}"] = geo[f"bn{i}"] = geo[f"act{i}"] = (start, jump, rf)
        if conv.pool != "none" and conv.pool_size > 1:
            p = conv.pool_size
            rf += (p - 1) * jump
            jump *= p
            geo[f"pool{i}"] = (start, jump, rf)
    return geo


def centre_window(arch: ArchSpec, layer: str) -> tuple[tuple[int, int, int, int], tuple[int, int]]:
    """The smallest input window that determines ``layer``'s centre position exactly.

    Returns ((row0, row1, col0, col1), (row, col)): running the model on
    ``image[row0:row1, col0:col1]`` gives, at map position (row, col), the value the
    full image gives at the centre (h // 2, w // 2). Exact because the window holds the
    centre's whole receptive field (or reaches the image edge, where the padding is the
    same), and starts on a multiple of the layer's jump, so every stride and pooling
    grid stays aligned; values elsewhere in the window's maps may differ.
    """
    row = spatial_row(arch, layer)
    start, jump, rf = field_geometry(arch)[layer]
    out = []
    for axis, centre in ((0, row.shape[0] // 2), (1, row.shape[1] // 2)):
        size = arch.input_shape[axis]
        lo = start + centre * jump
        a = max(0, lo // jump * jump)
        b = min(size, lo + rf)
        out.append((a, b, centre - a // jump))
    (r0, r1, cr), (c0, c1, cc) = out
    return (r0, r1, c0, c1), (cr, cc)
