"""The numba kernels of the audio wing: second-order-section IIR filtering.

Pure: contiguous float64 arrays in, arrays out; no validation (see :mod:`perceptq.audio.filters`).
"""

from __future__ import annotations

from numba import njit


@njit(cache=True)
def _sos_kernel(x, sos, zi):
    """Filter ``x`` (n,) through second-order sections ``sos`` (k, 6) in transposed direct
    form II, state ``zi`` (k, 2) updated in place; the same operations, in the same order,
    as ``scipy.signal.sosfilt``. Sections run four at a time over the whole signal (states
    in registers), the rest one at a time: each section sees the same input sequence, so
    the result is the same to the bit. Returns a new array."""
    y = x.copy()
    s = 0
    while s + 4 <= sos.shape[0]:
        _four_sections(y, sos, zi, s)
        s += 4
    while s < sos.shape[0]:
        _one_section(y, sos, zi, s)
        s += 1
    return y


@njit(cache=True)
def _one_section(y, sos, zi, s):
    """Run section ``s`` over ``y`` in place (transposed direct form II)."""
    b0, b1, b2, a1, a2 = sos[s, 0], sos[s, 1], sos[s, 2], sos[s, 4], sos[s, 5]
    z0, z1 = zi[s, 0], zi[s, 1]
    for n in range(y.shape[0]):
        v = y[n]
        w = b0 * v + z0
        z0 = b1 * v - a1 * w + z1
        z1 = b2 * v - a2 * w
        y[n] = w
    zi[s, 0], zi[s, 1] = z0, z1


@njit(cache=True)
def _four_sections(y, sos, zi, s):
    """Run sections ``s`` .. ``s + 3`` over ``y`` in place, sample by sample."""
    b0, b1, b2, a1, a2 = sos[s, 0], sos[s, 1], sos[s, 2], sos[s, 4], sos[s, 5]
    c0, c1, c2, c4, c5 = sos[s + 1, 0], sos[s + 1, 1], sos[s + 1, 2], sos[s + 1, 4], sos[s + 1, 5]
    d0, d1, d2, d4, d5 = sos[s + 2, 0], sos[s + 2, 1], sos[s + 2, 2], sos[s + 2, 4], sos[s + 2, 5]
    e0, e1, e2, e4, e5 = sos[s + 3, 0], sos[s + 3, 1], sos[s + 3, 2], sos[s + 3, 4], sos[s + 3, 5]
    p0, p1, q0, q1 = zi[s, 0], zi[s, 1], zi[s + 1, 0], zi[s + 1, 1]
    r0, r1, t0, t1 = zi[s + 2, 0], zi[s + 2, 1], zi[s + 3, 0], zi[s + 3, 1]
    for n in range(y.shape[0]):
        v = y[n]
        w = b0 * v + p0
        p0 = b1 * v - a1 * w + p1
        p1 = b2 * v - a2 * w
        v = w
        w = c0 * v + q0
        q0 = c1 * v - c4 * w + q1
        q1 = c2 * v - c5 * w
        v = w
        w = d0 * v + r0
        r0 = d1 * v - d4 * w + r1
        r1 = d2 * v - d5 * w
        v = w
        w = e0 * v + t0
        t0 = e1 * v - e4 * w + t1
        t1 = e2 * v - e5 * w
        y[n] = w
    zi[s, 0], zi[s, 1], zi[s + 1, 0], zi[s + 1, 1] = p0, p1, q0, q1
    zi[s + 2, 0], zi[s + 2, 1], zi[s + 3, 0], zi[s + 3, 1] = r0, r1, t0, t1
