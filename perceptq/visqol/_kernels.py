"""Every numba kernel of the ViSQOL wing, and nothing else.

Kernels take contiguous float64/int64 arrays and plain scalars, read no module state except
the constants below, and neither validate nor raise: the wrappers in ``spectrogram.py``,
``nsim.py`` and ``selection.py`` check shapes and values first. Section names refer to the
ViSQOL v3 description (Chinen et al., QoMEX 2020) and the stage names of google/visqol.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

# 3x3 Gaussian weights of the NSIM local statistics (corner, edge, centre) and its
# stabilising constants C1 = (0.01 L)^2 and C3 = (0.03 L)^2 / 2 with L = 1 (NSIM, eq. 1-3).
_W_CORNER = 0.0113033910173052
_W_EDGE = 0.0838251475442633
_W_CENTRE = 0.619485845753726
_C1 = 1e-4
_C3 = 4.5e-4
# The most negative double: the DP's "no predecessor" similarity.
_LOWEST = -1.7976931348623157e308
# Frames filtered side by side in the spectrogram kernel (a compile-time constant, so the
# lane loop vectorises; 16 fills AVX-512 twice and wastes little on short pieces).
_LANES = 16


@njit(cache=True)
def _gammatone_spectrogram_kernel(x, window, hop, n_frames, b0, b1, a1, a2, out):
    """Fill ``out`` (n_bands, n_frames) with the RMS of each band per windowed frame.

    ``x`` (n,) signal; ``window`` (size,) Hann window; ``b0``, ``b1`` (4, n_bands) numerator
    taps of the four cascaded biquads (b2 = 0), ``a1``, ``a2`` (n_bands,) their shared
    denominator. Every frame is windowed and filtered from a zero state (transposed direct
    form II, the order of operations of a ``lfilter`` call), then
    ``out[k, f] = sqrt(mean(y_k^2))``.

    Frames are independent: ``_LANES`` of them run side by side as the lanes of one SIMD
    loop (state in one array at constant lane strides, which the compiler can prove
    independent). Each lane does exactly the scalar arithmetic, so the result does not
    depend on the batching. Serial on purpose: loading a parallel kernel from numba's
    cache costs more than it saves on a pair (batches already use one process per core).
    """
    size = window.shape[0]
    nb = a1.shape[0]
    lanes = _LANES
    n_batches = (n_frames + lanes - 1) // lanes
    for batch in range(n_batches):
        f0 = batch * lanes
        n_in = min(lanes, n_frames - f0)
        xw = np.zeros(size * lanes)  # windowed samples, sample-major: xw[n * lanes + lane]
        st = np.empty(9 * lanes)  # 8 filter states and the energy, lane-minor
        for j in range(n_in):
            start = (f0 + j) * hop
            for n in range(size):
                xw[n * lanes + j] = window[n] * x[start + n]
        for k in range(nb):
            p0, p1, p2, p3 = b0[0, k], b0[1, k], b0[2, k], b0[3, k]
            q0, q1, q2, q3 = b1[0, k], b1[1, k], b1[2, k], b1[3, k]
            d1 = a1[k]
            d2 = a2[k]
            st[:] = 0.0
            for n in range(size):
                base = n * lanes
                for j in range(lanes):
                    v = xw[base + j]
                    y = p0 * v + st[j]
                    st[j] = q0 * v + st[lanes + j] - d1 * y
                    st[lanes + j] = -(d2 * y)
                    v = y
                    y = p1 * v + st[2 * lanes + j]
                    st[2 * lanes + j] = q1 * v + st[3 * lanes + j] - d1 * y
                    st[3 * lanes + j] = -(d2 * y)
                    v = y
                    y = p2 * v + st[4 * lanes + j]
                    st[4 * lanes + j] = q2 * v + st[5 * lanes + j] - d1 * y
                    st[5 * lanes + j] = -(d2 * y)
                    v = y
                    y = p3 * v + st[6 * lanes + j]
                    st[6 * lanes + j] = q3 * v + st[7 * lanes + j] - d1 * y
                    st[7 * lanes + j] = -(d2 * y)
                    st[8 * lanes + j] += y * y
            for j in range(n_in):
                out[k, f0 + j] = math.sqrt(st[8 * lanes + j] / size)


@njit(cache=True)
def _weight(dr, dc):
    """Gaussian weight of the tap (dr, dc) in {-1, 0, 1}^2."""
    if dr == 0 and dc == 0:
        return _W_CENTRE
    if dr == 0 or dc == 0:
        return _W_EDGE
    return _W_CORNER


@njit(cache=True)
def _local_stats(p, q, r, c, rows, cols):
    """Gaussian-weighted sums of p, p*p, q, q*q and p*q around (r, c), edges replicated."""
    sp = 0.0
    spp = 0.0
    sq = 0.0
    sqq = 0.0
    spq = 0.0
    for dr in range(-1, 2):
        ir = min(max(r + dr, 0), rows - 1)
        for dc in range(-1, 2):
            ic = min(max(c + dc, 0), cols - 1)
            w = _weight(dr, dc)
            a = p[ir, ic]
            b = q[ir, ic]
            sp += w * a
            spp += w * (a * a)
            sq += w * b
            sqq += w * (b * b)
            spq += w * (a * b)
    return sp, spp, sq, sqq, spq


@njit(cache=True)
def _nsim_value(mu_r, ss_r, mu_d, ss_d, s_rd):
    """NSIM of one cell from local sums: intensity x structure (NSIM eq. 1-3)."""
    rr = mu_r * mu_r
    dd = mu_d * mu_d
    rd = mu_r * mu_d
    var_r = ss_r - rr
    var_d = ss_d - dd
    cov = s_rd - rd
    intensity = (2.0 * rd + _C1) / (rr + dd + _C1)
    vp = var_r * var_d
    # A product of variances a rounding error below zero (silent patches) counts as zero.
    denom = _C3 if vp < 0.0 else math.sqrt(vp) + _C3
    return intensity * ((cov + _C3) / denom)


@njit(cache=True)
def _nsim_map_kernel(ref, deg):
    """Return the NSIM map (rows, cols) of two equally shaped patches (bands x frames)."""
    rows, cols = ref.shape
    out = np.empty((rows, cols))
    for r in range(rows):
        for c in range(cols):
            sr, srr, sd, sdd, srd = _local_stats(ref, deg, r, c, rows, cols)
            out[r, c] = _nsim_value(sr, srr, sd, sdd, srd)
    return out


@njit(cache=True)
def _column_stats_kernel(d):
    """Local sums of a padded degraded spectrogram for every patch placement.

    ``d`` (rows, m). Returns (mu, ss), each (3, rows, m): Gaussian-weighted sums of d and
    d*d around (r, t) with rows replicated and, in plane 0, columns t-1..t+1 (a patch's
    inner columns); plane 1 replicates column t on the left (a patch's first column at t),
    plane 2 on the right (its last column at t). Tap order matches ``_local_stats``.
    """
    rows, m = d.shape
    mu = np.zeros((3, rows, m))
    ss = np.zeros((3, rows, m))
    for plane in range(3):
        for r in range(rows):
            for t in range(m):
                a = 0.0
                b = 0.0
                for dr in range(-1, 2):
                    ir = min(max(r + dr, 0), rows - 1)
                    for dc in range(-1, 2):
                        c = t + dc
                        if (plane == 1 and dc < 0) or (plane == 2 and dc > 0):
                            c = t
                        c = min(max(c, 0), m - 1)
                        w = _weight(dr, dc)
                        v = d[ir, c]
                        a += w * v
                        b += w * (v * v)
                mu[plane, r, t] = a
                ss[plane, r, t] = b
    return mu, ss


@njit(cache=True)
def _dp_similarity_kernel(ref_patches, deg_padded, starts, width, out):
    """Fill ``out[p, j]`` with the mean NSIM of ref patch p and the deg patch at starts[p]+j.

    ``ref_patches`` (n_patches, rows, cols); ``deg_padded`` (rows, n_frames + cols) is the
    degraded spectrogram followed by ``cols`` zero frames (patches past the end are
    zero-padded); ``out`` (n_patches, width). Entries whose offset starts[p] + j is at or
    past n_frames are left untouched. The degraded local sums come from
    ``_column_stats_kernel``; each value equals the mean of ``_nsim_map_kernel``.
    """
    n_patches, rows, cols = ref_patches.shape
    n_frames = deg_padded.shape[1] - cols
    mu_d, ss_d = _column_stats_kernel(deg_padded)
    mu_r = np.empty((rows, cols))
    ss_r = np.empty((rows, cols))
    for p in range(n_patches):
        ref = ref_patches[p]
        for r in range(rows):
            for c in range(cols):
                sr, srr, _, _, _ = _local_stats(ref, ref, r, c, rows, cols)
                mu_r[r, c] = sr
                ss_r[r, c] = srr
        n_off = min(width, n_frames - starts[p])
        for j in range(n_off):
            o = starts[p] + j
            total = 0.0
            for r in range(rows):
                band = 0.0
                for c in range(cols):
                    plane = 1 if c == 0 else (2 if c == cols - 1 else 0)
                    srd = 0.0
                    for dr in range(-1, 2):
                        ir = min(max(r + dr, 0), rows - 1)
                        for dc in range(-1, 2):
                            ic = min(max(c + dc, 0), cols - 1)
                            srd += _weight(dr, dc) * (ref[ir, ic] * deg_padded[ir, o + ic])
                    band += _nsim_value(
                        mu_r[r, c], ss_r[r, c], mu_d[plane, r, o + c], ss_d[plane, r, o + c], srd
                    )
                total += band / cols
            out[p, j] = total / rows


@njit(cache=True)
def _dp_path_kernel(sim, starts, stops):
    """Dynamic-programming patch alignment over a banded similarity table.

    ``sim[p, j]`` is the similarity of ref patch p at degraded offset starts[p] + j, valid
    for offsets below stops[p]. The predecessor of row p is searched from starts[p - 1] up.
    Cumulative scores and back-pointers outside a row's band read as 0,
    as in a zero-initialised full table. Returns (offsets, lost) of shape (n_patches,):
    the chosen degraded offset per patch and whether the patch is unmatched (the path
    stayed at the same offset: a dropped patch). The table may also be fed a few rows at a
    time (``_dp_rows_kernel``, then ``_dp_backtrack_kernel``): the same path.
    """
    n_patches, width = sim.shape
    prev = np.zeros(width)
    back = np.zeros((n_patches, width), dtype=np.int32)
    _dp_rows_kernel(sim, 0, starts, stops, prev, back)
    return _dp_backtrack_kernel(prev, starts, stops, back)


@njit(cache=True)
def _dp_rows_kernel(sim, first, starts, stops, prev, back):
    """Forward DP over rows ``first .. first + len(sim) - 1`` (``sim`` holds just those rows).

    ``prev`` holds the cumulative scores of row ``first - 1`` (anything when first is 0) and
    is left holding the last row's; only these two rows are ever held. ``back`` (n_patches,
    width), int32: back-pointers, degraded frame offsets (or -1), written for these rows.
    """
    rows, width = sim.shape
    cur = np.zeros(width)
    pre_val = np.empty(width)
    pre_idx = np.empty(width, dtype=np.int64)
    for q in range(rows):
        p = first + q
        lo = starts[p]
        hi = stops[p]
        if p > 0:
            # Best predecessor strictly left of each offset (ties: the rightmost).
            plo = starts[p - 1]
            phi = stops[p - 1]
            best = _LOWEST
            best_o = -1
            o = plo
            for j in range(hi - lo):
                target = lo + j
                while o < target:
                    v = prev[o - plo] if plo <= o < phi else 0.0
                    if v >= best:
                        best = v
                        best_o = o
                    o += 1
                pre_val[j] = best
                pre_idx[j] = best_o
        for j in range(hi - lo):
            o = lo + j
            s = sim[q, j]
            past = -1
            if p > 0:
                s += pre_val[j]
                past = pre_idx[j]
                stay = prev[o - starts[p - 1]] if starts[p - 1] <= o < stops[p - 1] else 0.0
                if stay > s:
                    s = stay
                    past = o
            cur[j] = s
            back[p, j] = past
        cur[hi - lo :] = 0.0
        prev[:] = cur


@njit(cache=True)
def _dp_backtrack_kernel(last, starts, stops, back):
    """(offsets, lost) from the last row's cumulative scores and the back-pointers."""
    n_patches = back.shape[0]
    offsets = np.empty(n_patches, dtype=np.int64)
    lost = np.zeros(n_patches, dtype=np.bool_)
    end = n_patches - 1
    best = _LOWEST
    o_best = starts[end]
    for j in range(stops[end] - starts[end]):
        if last[j] > best:
            best = last[j]
            o_best = starts[end] + j
    o = o_best
    for p in range(n_patches - 1, -1, -1):
        offsets[p] = o
        b = back[p, o - starts[p]] if starts[p] <= o < stops[p] else 0
        lost[p] = b == o
        o = b
    return offsets, lost
