"""The numba kernels of the audio wing: second-order-section IIR filtering, and one-pass
statistics of the original samples (peaks, clipped plateaus, channel differences).

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


@njit(cache=True)
def _sample_stats_kernel(b, tolerance):
    """One pass over a block of original samples ``b`` (n, channels).

    Returns (peak, plateau, beyond, spread, energy, difference): the largest magnitude;
    how many samples belong to runs of two or more consecutive samples whose magnitude
    (the largest over the channels) is within ``tolerance`` (relative) of that peak; how
    many sample values exceed 1.0 in magnitude; the largest difference of a channel from
    the first; the sum of squares of the samples; and the sum of squares of the channels'
    deviations from their mean (both summed sample by sample, 0 for one channel).
    """
    n, channels = b.shape
    mag = np.empty(n)
    peak, spread, energy, difference = 0.0, 0.0, 0.0, 0.0
    beyond = 0
    for i in range(n):
        m, total = 0.0, 0.0
        for c in range(channels):
            v = b[i, c]
            a = abs(v)
            if a > m:
                m = a
            if a > 1.0:
                beyond += 1
            total += v
        mag[i] = m
        if m > peak:
            peak = m
        if channels > 1:
            mean = total / channels
            first = b[i, 0]
            for c in range(channels):
                v = b[i, c]
                energy += v * v
                d = v - mean
                difference += d * d
                s = abs(v - first)
                if s > spread:
                    spread = s
    plateau = 0
    if peak > 0:
        level = peak * (1.0 - tolerance)
        run = 0
        for i in range(n + 1):
            if i < n and mag[i] >= level:
                run += 1
            else:
                if run >= 2:
                    plateau += run
                run = 0
    return peak, plateau, beyond, spread, energy, difference


@njit(cache=True)
def _runs_of_three_kernel(b, level, run):
    """Samples of ``b`` (n, channels) that end a run of three or more consecutive samples
    whose magnitude (largest over the channels) is ``level`` or more; ``run`` is the length
    of the run the previous block ended with. Returns (count, run at the end of ``b``)."""
    n, channels = b.shape
    count = 0
    for i in range(n):
        m = 0.0
        for c in range(channels):
            a = abs(b[i, c])
            if a > m:
                m = a
        if m >= level:
            run += 1
            if run >= 3:
                count += 1
        else:
            run = 0
    return count, run
