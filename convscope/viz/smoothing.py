"""TensorBoard's curve smoothing: a debiased exponential moving average.

TensorBoard's scalar dashboard (``vz_line_chart2``, ``smoothingWeight``) keeps
``last = w·last + (1−w)·y`` from ``last = 0`` and draws ``last / (1 − w^n)``, ``n``
the number of finite points so far: the division undoes the pull towards the zero
the average starts from, so the first point is drawn where it is and a weight near 1
does not flatten the start of a curve. Non-finite points are drawn as they are and
leave the average alone; a constant series is left as it is (no rounding noise).
"""

from __future__ import annotations

import math

import numpy as np


def ema_smooth(y: np.ndarray, weight: float) -> np.ndarray:
    """``y`` smoothed as TensorBoard smooths a scalar curve with ``weight`` in [0, 1)."""
    if not 0.0 <= weight < 1.0:
        raise ValueError(f"smoothing weight must be in [0, 1), got {weight}")
    values = np.asarray(y, dtype=np.float64)
    out = values.copy()
    if weight == 0.0 or values.size == 0:
        return out
    finite = np.isfinite(values)
    if finite.all() and (values == values[0]).all():
        return out
    last, count = 0.0, 0
    # A plain loop: the recurrence is sequential, and a curve has thousands of points
    # at most (a vectorised w^-k form loses precision on long curves).
    for i in np.flatnonzero(finite).tolist():
        last = last * weight + (1.0 - weight) * float(values[i])
        count += 1
        out[i] = last / (1.0 - math.pow(weight, count))
    return out
