"""The numba kernel of the audio wing: second-order-section IIR filtering.

Pure: contiguous float64 arrays in, arrays out; no validation (see :mod:`perceptq.audio.filters`).
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def _sos_kernel(x, sos, zi):
    """Filter ``x`` (n,) through second-order sections ``sos`` (k, 6) in transposed direct
    form II, state ``zi`` (k, 2) updated in place; the same operations, in the same order,
    as ``scipy.signal.sosfilt``. Returns a new array."""
    y = np.empty_like(x)
    ns = sos.shape[0]
    for n in range(x.shape[0]):
        v = x[n]
        for s in range(ns):
            w = sos[s, 0] * v + zi[s, 0]
            zi[s, 0] = sos[s, 1] * v - sos[s, 4] * w + zi[s, 1]
            zi[s, 1] = sos[s, 2] * v - sos[s, 5] * w
            v = w
        y[n] = v
    return y
