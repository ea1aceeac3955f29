"""The numba kernel of the audio wing: second-order-section IIR filtering.

Pure: contiguous float64 arrays in, arrays out; no validation (see :mod:`perceptq.audio.filters`).
Kept small, so that compiling it the first time ever stays quick.
"""

from __future__ import annotations

from numba import njit


@njit(cache=True)
def _sos_kernel(x, sos, zi):
    """Filter ``x`` (n,) through second-order sections ``sos`` (k, 6) in transposed direct
    form II, state ``zi`` (k, 2) updated in place; the same operations, in the same order,
    as ``scipy.signal.sosfilt``. Each section runs over the whole signal in turn (its
    state in registers); it sees the same input sequence as when every sample passes
    through every section, so the result is the same to the bit. Returns a new array."""
    y = x.copy()
    for s in range(sos.shape[0]):
        b0, b1, b2, a1, a2 = sos[s, 0], sos[s, 1], sos[s, 2], sos[s, 4], sos[s, 5]
        z0, z1 = zi[s, 0], zi[s, 1]
        for n in range(y.shape[0]):
            v = y[n]
            w = b0 * v + z0
            z0 = b1 * v - a1 * w + z1
            z1 = b2 * v - a2 * w
            y[n] = w
        zi[s, 0], zi[s, 1] = z0, z1
    return y
