"""The numba kernels of the audio wing: second-order-section IIR filtering (two signals in
one pass), one-pass statistics of the original samples (peaks, clipped plateaus, channel
differences), and the reductions of :mod:`perceptq.audio.reductions` (block mean squares,
band energies of frame spectra) summed in numpy's order.

Pure: contiguous float64 arrays in, arrays out; no validation (see :mod:`perceptq.audio.filters`
and :mod:`perceptq.audio.reductions`). Few and plain, so that compiling them the first time
ever stays quick (no recursion: a recursive kernel crashes when numba loads it from its cache).
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def _sos_kernel(fx, fy, sos, zx, zy):
    """Filter ``fx`` and ``fy`` in place (1-D; lengths may differ, ``fy`` may be empty)
    through second-order sections ``sos`` (k, 6) in transposed direct form II, states
    ``zx`` and ``zy`` (k, 2) updated in place.

    Every sample of a signal meets the same operations, in the same order, as in
    ``scipy.signal.sosfilt``: a section's recurrence sees the same input sequence whether a
    sample passes through every section before the next sample comes or a section runs
    over the whole signal first, so the result is the same to the bit. Sections run four at
    a time, sample by sample, with their states in registers; a remaining single section
    runs on both signals side by side while both have samples (its recurrence alone is
    bound by latency; two in flight take the time of one). One function, no helper
    kernels, no allocation: compiling it the first time ever stays quick.
    """
    m = min(fx.shape[0], fy.shape[0])
    s = 0
    while s + 4 <= sos.shape[0]:
        b0, b1, b2, a1, a2 = sos[s, 0], sos[s, 1], sos[s, 2], sos[s, 4], sos[s, 5]
        c0, c1, c2, c4, c5 = sos[s + 1, 0], sos[s + 1, 1], sos[s + 1, 2], sos[s + 1, 4], \
            sos[s + 1, 5]
        d0, d1, d2, d4, d5 = sos[s + 2, 0], sos[s + 2, 1], sos[s + 2, 2], sos[s + 2, 4], \
            sos[s + 2, 5]
        e0, e1, e2, e4, e5 = sos[s + 3, 0], sos[s + 3, 1], sos[s + 3, 2], sos[s + 3, 4], \
            sos[s + 3, 5]
        for f, z in ((fx, zx), (fy, zy)):
            p0, p1, q0, q1 = z[s, 0], z[s, 1], z[s + 1, 0], z[s + 1, 1]
            r0, r1, t0, t1 = z[s + 2, 0], z[s + 2, 1], z[s + 3, 0], z[s + 3, 1]
            for n in range(f.shape[0]):
                v = f[n]
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
                f[n] = w
            z[s, 0], z[s, 1], z[s + 1, 0], z[s + 1, 1] = p0, p1, q0, q1
            z[s + 2, 0], z[s + 2, 1], z[s + 3, 0], z[s + 3, 1] = r0, r1, t0, t1
        s += 4
    while s < sos.shape[0]:
        b0, b1, b2, a1, a2 = sos[s, 0], sos[s, 1], sos[s, 2], sos[s, 4], sos[s, 5]
        p0, p1, q0, q1 = zx[s, 0], zx[s, 1], zy[s, 0], zy[s, 1]
        for n in range(m):  # both signals
            v, u = fx[n], fy[n]
            w = b0 * v + p0
            o = b0 * u + q0
            p0 = b1 * v - a1 * w + p1
            q0 = b1 * u - a1 * o + q1
            p1 = b2 * v - a2 * w
            q1 = b2 * u - a2 * o
            fx[n], fy[n] = w, o
        zx[s, 0], zx[s, 1], zy[s, 0], zy[s, 1] = p0, p1, q0, q1
        for f, z in ((fx, zx), (fy, zy)):  # the longer one's rest
            z0, z1 = z[s, 0], z[s, 1]
            for n in range(m, f.shape[0]):
                v = f[n]
                w = b0 * v + z0
                z0 = b1 * v - a1 * w + z1
                z1 = b2 * v - a2 * w
                f[n] = w
            z[s, 0], z[s, 1] = z0, z1
        s += 1


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
    mag = np.empty(n if channels > 1 else 0)  # one channel: its magnitudes are read again
    peak, spread, energy, difference = 0.0, 0.0, 0.0, 0.0
    beyond = 0
    for i in range(n if channels == 1 else 0):
        a = abs(b[i, 0])
        if a > peak:
            peak = a
        if a > 1.0:
            beyond += 1
    for i in range(n if channels > 1 else 0):
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
            if i < n and (abs(b[i, 0]) if channels == 1 else mag[i]) >= level:
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
        m = abs(b[i, 0]) if channels == 1 else 0.0
        for c in range(channels if channels > 1 else 0):
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


@njit
def _pairwise_sum(a, lo, n):
    """``a[lo:lo + n]`` (``n`` <= 128) summed as numpy's add reduction sums a contiguous run
    of that length: up to 7 values one after the other from -0.0, else eight running sums
    combined pairwise, then the rest one by one. (numpy sums longer runs as two halves;
    callers keep to 128: a recursive kernel crashes when numba loads it from its cache.)"""
    if n < 8:
        res = -0.0
        for i in range(lo, lo + n):
            res += a[i]
        return res
    r0, r1, r2, r3 = a[lo], a[lo + 1], a[lo + 2], a[lo + 3]
    r4, r5, r6, r7 = a[lo + 4], a[lo + 5], a[lo + 6], a[lo + 7]
    i = lo + 8
    stop = lo + n - n % 8
    while i < stop:
        r0 += a[i]
        r1 += a[i + 1]
        r2 += a[i + 2]
        r3 += a[i + 3]
        r4 += a[i + 4]
        r5 += a[i + 5]
        r6 += a[i + 6]
        r7 += a[i + 7]
        i += 8
    res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    while i < lo + n:
        res += a[i]
        i += 1
    return res


@njit(cache=True)
def _mean_square_blocks_kernel(x, size, out, squares):
    """Mean square of each of the ``len(out)`` consecutive blocks of ``size`` (<= 128)
    samples of ``x`` into ``out``: ``(x[:k * size].reshape(k, size) ** 2).mean(axis=1)`` to
    the bit (each row's squares, in ``squares`` (size,), summed as numpy sums them, then
    divided by ``size``)."""
    for b in range(out.shape[0]):
        for i in range(size):
            v = x[b * size + i]
            squares[i] = v * v
        out[b] = _pairwise_sum(squares, 0, size) / size


@njit(cache=True)
def _band_power_kernel(spec, first, width, picked, total, out, power):
    """Power spectra ``|spec|**2`` of the frames of ``spec`` (frames, bins), complex, summed
    over bands into ``out`` (frames, bands): band ``j`` is bins ``first[j]`` .. ``first[j] +
    width[j] - 1`` (``width[j]`` <= 129; 0 for an empty band, which gives 0), summed as
    ``np.add.reduceat`` sums (the first bin, plus the rest summed as numpy sums a run). The
    power spectra of the frames in ``picked`` (ascending) are added to ``total`` (bins,) in
    order. ``power`` (bins,): scratch.
    """
    frames, bins = spec.shape
    bands = first.shape[0]
    lo, hi = first[0], first[bands - 1] + width[bands - 1]
    k = 0
    for f in range(frames):
        while k < picked.shape[0] and picked[k] < f:
            k += 1
        whole = k < picked.shape[0] and picked[k] == f
        for i in range(0 if whole else lo, bins if whole else hi):
            c = spec[f, i]
            power[i] = c.real * c.real + c.imag * c.imag
        while k < picked.shape[0] and picked[k] == f:
            for i in range(bins):
                total[i] += power[i]
            k += 1
        for j in range(bands):
            a = first[j]
            out[f, j] = power[a] + _pairwise_sum(power, a + 1, width[j] - 1) if width[j] else 0.0
