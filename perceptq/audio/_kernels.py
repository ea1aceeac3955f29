"""The numba kernel of the audio wing: second-order-section IIR filtering.

Pure: contiguous float64 arrays in, arrays out; no validation (see :mod:`perceptq.audio.filters`).
Kept small, so that compiling it the first time ever stays quick.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def _sos_kernel(x, sos, zi):
    """Filter ``x`` (n,) through second-order sections ``sos`` (k, 6) in transposed direct
    form II, state ``zi`` (k, 2) updated in place; the same operations, in the same order,
    as ``scipy.signal.sosfilt`` (each sample through every section in turn), so the result
    is the same to the bit. One section runs with its state in registers. Returns a new
    array."""
    y = np.empty_like(x)
    if sos.shape[0] == 1:
        b0, b1, b2, a1, a2 = sos[0, 0], sos[0, 1], sos[0, 2], sos[0, 4], sos[0, 5]
        z0, z1 = zi[0, 0], zi[0, 1]
        for n in range(x.shape[0]):
            v = x[n]
            w = b0 * v + z0
            z0 = b1 * v - a1 * w + z1
            z1 = b2 * v - a2 * w
            y[n] = w
        zi[0, 0], zi[0, 1] = z0, z1
        return y
    for n in range(x.shape[0]):
        v = x[n]
        for s in range(sos.shape[0]):
            w = sos[s, 0] * v + zi[s, 0]
            zi[s, 0] = sos[s, 1] * v - sos[s, 4] * w + zi[s, 1]
            zi[s, 1] = sos[s, 2] * v - sos[s, 5] * w
            v = w
        y[n] = v
    return y
