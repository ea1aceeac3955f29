"""numpy's default (linear) percentile without its per-call overhead.

The input checks, diagnostics, drift and reference match take a dozen percentiles of small
arrays per pair; ``np.percentile`` spends most of its time there in argument handling.
:func:`percentile` gives the same value to the bit for a scalar ``q`` (numpy's virtual
index ``(n - 1) q / 100`` and its two-sided linear interpolation), and defers to numpy for
empty input and NaN.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike


def percentile(x: ArrayLike, q: float) -> float:
    """``float(np.percentile(x, q))`` over all values of ``x``, for a scalar ``q`` in 0..100."""
    a = np.asarray(x, dtype=np.float64).ravel()
    n = a.shape[0]
    if n == 0 or np.isnan(a).any():
        return float(np.percentile(a, q))
    index = (n - 1) * (q / 100)
    lo = int(np.floor(index))
    hi = min(lo + 1, n - 1)
    part = np.partition(a, [lo, hi]) if hi > lo else np.partition(a, lo)
    below, above = part[lo], part[hi]
    t = index - lo
    step = above - below
    # numpy's lerp: from the lower value below the midpoint, from the upper one above it
    return float(above - step * (1 - t) if t >= 0.5 else below + step * t)
