"""Every numba kernel of perceptq, and nothing else.

Kernels take contiguous float64/int64 arrays and plain scalars, read no module state,
neither validate nor raise; the numpy-facing wrappers in the stage modules check inputs.
Clause numbers refer to the design note of the perceptual model (ITU-T P.862 structure).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit


@njit(cache=True)
def _biquad_cascade_pair_kernel(y, z, sos):
    """Filter two signals ``y`` and ``z`` of the same length, in place, through cascaded
    biquads ``sos`` (n_sections, 5) = b0 b1 b2 a1 a2: direct form II, zero initial state.

    Sections run four at a time over the whole signal (their states stay in registers),
    the rest one at a time: each section sees the same input sequence and does the same
    operations as when every sample passes through every section in turn, so the result
    is the same to the bit. Running the two signals' recurrences side by side keeps more
    of them in flight (about 1.4 x the throughput of one). In place on purpose: with two
    arrays of its own the compiler optimises the loop for seconds on the first run ever.
    """
    n = y.shape[0]
    s = 0
    while s < sos.shape[0]:
        b0, b1, b2, a1, a2 = sos[s, 0], sos[s, 1], sos[s, 2], sos[s, 3], sos[s, 4]
        p1 = p2 = u1 = u2 = 0.0
        if s + 4 > sos.shape[0]:  # one section
            for i in range(n):
                w = y[i] - a1 * p1 - a2 * p2
                v = z[i] - a1 * u1 - a2 * u2
                y[i] = b0 * w + b1 * p1 + b2 * p2
                z[i] = b0 * v + b1 * u1 + b2 * u2
                p2, p1, u2, u1 = p1, w, u1, v
            s += 1
            continue
        c0, c1, c2, c3, c4 = sos[s + 1, 0], sos[s + 1, 1], sos[s + 1, 2], sos[s + 1, 3], \
            sos[s + 1, 4]
        d0, d1, d2, d3, d4 = sos[s + 2, 0], sos[s + 2, 1], sos[s + 2, 2], sos[s + 2, 3], \
            sos[s + 2, 4]
        e0, e1, e2, e3, e4 = sos[s + 3, 0], sos[s + 3, 1], sos[s + 3, 2], sos[s + 3, 3], \
            sos[s + 3, 4]
        q1 = q2 = r1 = r2 = t1 = t2 = 0.0  # second to fourth section, first signal
        v1 = v2 = o1 = o2 = k1 = k2 = 0.0  # the same, second signal
        for i in range(n):
            w = y[i] - a1 * p1 - a2 * p2
            v = z[i] - a1 * u1 - a2 * u2
            f = b0 * w + b1 * p1 + b2 * p2
            g = b0 * v + b1 * u1 + b2 * u2
            p2, p1, u2, u1 = p1, w, u1, v
            w = f - c3 * q1 - c4 * q2
            v = g - c3 * v1 - c4 * v2
            f = c0 * w + c1 * q1 + c2 * q2
            g = c0 * v + c1 * v1 + c2 * v2
            q2, q1, v2, v1 = q1, w, v1, v
            w = f - d3 * r1 - d4 * r2
            v = g - d3 * o1 - d4 * o2
            f = d0 * w + d1 * r1 + d2 * r2
            g = d0 * v + d1 * o1 + d2 * o2
            r2, r1, o2, o1 = r1, w, o1, v
            w = f - e3 * t1 - e4 * t2
            v = g - e3 * k1 - e4 * k2
            y[i] = e0 * w + e1 * t1 + e2 * t2
            z[i] = e0 * v + e1 * k1 + e2 * k2
            t2, t1, k2, k1 = t1, w, k1, v
        s += 4


@njit(cache=True)
def _windowed_frames_kernel(x, starts, win):
    """Frames of ``x`` at ``starts``, each times ``win``: (n, len(win)) (§11.2)."""
    nf = win.shape[0]
    out = np.empty((starts.shape[0], nf))
    for i in range(starts.shape[0]):
        s = starts[i]
        for j in range(nf):
            out[i, j] = x[s + j] * win[j]
    return out


@njit(cache=True)
def _pitch_power_kernel(spec, rows, n_bins, scale, out):
    """Pitch power density of frame spectra (§11.2-§11.3), in place: ``out[rows[i], j] =
    scale[j] * sum of |spec[i, k]|**2`` over the bins k of band j (``n_bins[j]``
    consecutive bins from bin 0, summed in bin order; the DC bin counts as 0)."""
    for i in range(rows.shape[0]):
        r = rows[i]
        k = 0
        for j in range(n_bins.shape[0]):
            acc = 0.0
            for _ in range(n_bins[j]):
                if k > 0:
                    re = spec[i, k].real
                    im = spec[i, k].imag
                    acc += re * re + im * im
                k += 1
            out[r, j] = acc * scale[j]


@njit(cache=True)
def _vad_kernel(x, ds, min_speech, join_speech):
    """Energy VAD over 4 ms blocks of ``ds`` samples (design note §6).

    Returns (vad, log_vad), each of shape (len(x) // ds,): ``vad`` > 0 marks speech blocks
    with their (softened) energy, ``log_vad`` = ln(vad / threshold) above the threshold.
    """
    nw = x.shape[0] // ds
    v = np.zeros(nw)
    for b in range(nw):
        acc = 0.0
        for i in range(b * ds, (b + 1) * ds):
            acc += x[i] * x[i]
        v[b] = acc / ds
    thr = 0.0
    vmax = 0.0
    for b in range(nw):
        thr += v[b]
        if v[b] > vmax:
            vmax = v[b]
    thr /= nw
    lmin = vmax * 1e-4 if vmax > 0 else 1.0
    for b in range(nw):
        if v[b] < lmin:
            v[b] = lmin
    # §6.3: iterate the noise threshold.
    for _ in range(12):
        mu = 0.0
        sd = 0.0
        cnt = 0
        for b in range(nw):
            if v[b] <= thr:
                mu += v[b]
                cnt += 1
        if cnt > 0:
            mu /= cnt
            for b in range(nw):
                if v[b] <= thr:
                    sd += (v[b] - mu) ** 2
            sd = math.sqrt(sd / cnt)
        thr = 1.001 * (mu + 2.0 * sd)
    # §6.4
    sig = 0.0
    noise = 0.0
    cnt = 0
    for b in range(nw):
        if v[b] > thr:
            sig += v[b]
            cnt += 1
        else:
            noise += v[b]
    if cnt > 0:
        sig /= cnt
    else:
        thr = -1.0
    if cnt < nw:
        noise /= nw - cnt
    else:
        noise = 1.0
    # §6.5
    for b in range(nw):
        if v[b] <= thr:
            v[b] = -v[b]
    v[0] = -lmin
    v[nw - 1] = -lmin
    # §6.6: drop short bursts.
    start = 0
    for b in range(1, nw):
        if v[b] > 0 and v[b - 1] <= 0:
            start = b
        if v[b] <= 0 and v[b - 1] > 0 and b - start <= min_speech:
            for k in range(start, b):
                v[k] = -v[k]
    # §6.7: very clean signals: drop weak runs.
    if sig >= noise * 1000:
        start = 0
        for b in range(1, nw):
            if v[b] > 0 and v[b - 1] <= 0:
                start = b
            if v[b] <= 0 and v[b - 1] > 0:
                total = 0.0
                for k in range(start, b):
                    total += v[k]
                if total < 3.0 * thr * (b - start):
                    for k in range(start, b):
                        v[k] = -v[k]
    # §6.8: fill short gaps.
    start = 0
    finish = 0
    for b in range(1, nw):
        if v[b] > 0 and v[b - 1] <= 0:
            start = b
            if finish > 0 and start - finish <= join_speech:
                for k in range(finish, start):
                    v[k] = lmin
        if v[b] <= 0 and v[b - 1] > 0:
            finish = b
    # §6.9: no speech onset at all: treat everything as speech.
    start = 0
    for b in range(1, nw):
        if v[b] > 0 and v[b - 1] <= 0:
            start = b
    if start == 0:
        for b in range(nw):
            v[b] = abs(v[b])
        v[0] = -lmin
        v[nw - 1] = -lmin
    # §6.10: soften onsets and offsets.
    b = 3
    while b < nw - 2:
        if v[b] > 0 and v[b - 2] <= 0:
            v[b - 2] = v[b] * 0.1
            v[b - 1] = v[b] * 0.3
            b += 1
        if v[b] <= 0 and v[b - 1] > 0:
            v[b] = v[b - 1] * 0.3
            v[b + 1] = v[b - 1] * 0.1
            b += 3
        b += 1
    for b in range(nw):
        if v[b] < 0:
            v[b] = 0.0
    if thr <= 0:
        thr = lmin
    logv = np.zeros(nw)
    for b in range(nw):
        if v[b] > thr:
            logv[b] = math.log(v[b] / thr)
    return v, logv


@njit(cache=True)
def _xcorr_rows_kernel(ref, deg, startr, nr, startd, nd, todo, rev, out):
    """Rows of the envelope cross-correlations' transforms (§7): for the k-th piece
    ``i = todo[k]``, ``rev[k]`` starts with ``ref[startr[i] : startr[i] + nr[i]]`` reversed
    and ``out[k]`` with ``deg[startd[i] : startd[i] + nd[i]]``, in the rows' precision.
    The rest of each row is left as it is (zeros)."""
    for k in range(todo.shape[0]):
        i = todo[k]
        last = startr[i] + nr[i] - 1
        for j in range(nr[i]):
            rev[k, j] = ref[last - j]
        first = startd[i]
        for j in range(nd[i]):
            out[k, j] = deg[first + j]


@njit(cache=True)
def _first_peaks_kernel(y, lengths, best, found):
    """Per row of ``y`` (n, size), over its first ``lengths[i]`` values: the index of the
    first largest value (into ``best``), and whether that value counts as a peak (into
    ``found``): positive and at least 1e-9 x the largest magnitude (at least 1) of those
    values (§7). (Outputs are passed in: that keeps the first compile short.)"""
    for i in range(y.shape[0]):
        vmax = -np.inf
        amax = 0.0
        b = 0
        for c in range(lengths[i]):
            v = float(y[i, c])
            if v > vmax:
                vmax = v
                b = c
            if v > amax:
                amax = v
            elif -v > amax:
                amax = -v
        best[i] = b
        found[i] = vmax > 0 and vmax >= 1e-9 * max(1.0, amax)


@njit(cache=True)
def _window_peaks_kernel(corr, reverse):
    """What each correlation window adds to a delay histogram (§8.3, §9.2).

    ``corr`` (n_windows, na) holds |circular cross-correlation| per window, taken in
    reverse row order when ``reverse``. A window whose maximum is v contributes
    v' = 0.99 v: every lag k whose value exceeds v' gets v'**0.125. Returns, in window
    order, (offsets (n + 1,), lags, inc (n,)): the lags of window w, ascending, are
    ``lags[offsets[w]:offsets[w + 1]]`` and each of them adds ``inc[w]``.
    """
    nwin, na = corr.shape
    thr = np.zeros(nwin)
    inc = np.zeros(nwin)
    offsets = np.zeros(nwin + 1, dtype=np.int64)
    for w in range(nwin):
        row = nwin - 1 - w if reverse else w
        vmax = 0.0
        for k in range(na):
            if corr[row, k] > vmax:
                vmax = corr[row, k]
        v = 0.99 * vmax
        thr[w] = v
        inc[w] = v**0.125
        m = 0
        for k in range(na):
            if corr[row, k] > v:
                m += 1
        offsets[w + 1] = offsets[w] + m
    lags = np.empty(offsets[nwin], dtype=np.int64)
    for w in range(nwin):
        row = nwin - 1 - w if reverse else w
        j = offsets[w]
        for k in range(na):
            if corr[row, k] > thr[w]:
                lags[j] = k
                j += 1
    return offsets, lags, inc


@njit(cache=True)
def _delay_histogram_kernel(rows, offsets, lags, inc, na, half_width, counts):
    """Delay histogram of correlation windows, read after prefixes of them (§8.3, §9.2).

    Window ``rows[w]`` of the peaks ``offsets, lags, inc`` (:func:`_window_peaks_kernel`)
    is the w-th window. Window by window and lag by lag, each lag adds its ``inc`` spread
    by a triangle of half-width ``half_width`` (circularly over ``na`` lags) and adds it to
    the total. After the first ``counts[i]`` windows (ascending) the histogram's first
    maximum k and its share of the total are recorded. Returns (k (n,), share (n,)).
    """
    nwin = rows.shape[0]
    hist = np.zeros(na)
    total = 0.0
    ks = np.zeros(counts.shape[0], dtype=np.int64)
    shares = np.zeros(counts.shape[0])
    c = 0
    for w in range(nwin + 1):
        while c < counts.shape[0] and counts[c] == w:
            if total > 0:
                k = _first_argmax_kernel(hist)
                ks[c] = k
                shares[c] = hist[k] / total
            c += 1
        if w == nwin or c == counts.shape[0]:
            break
        r = rows[w]
        for j in range(offsets[r], offsets[r + 1]):
            k = lags[j]
            total += inc[r]
            for i in range(-half_width + 1, half_width):
                hist[(k + i) % na] += inc[r] * (1.0 - abs(i) / half_width)
    return ks, shares


@njit(cache=True)
def _first_argmax_kernel(h):
    """Index of the first strictly largest positive value of ``h`` (0 if none)."""
    best = 0
    vmax = 0.0
    for i in range(h.shape[0]):
        if h[i] > vmax:
            vmax = h[i]
            best = i
    return best


@njit(cache=True)
def _pseudo_lp(v, width, p):
    """Weighted pseudo-Lp norm over bands 1..n-1 (design note §11.6.2)."""
    acc = 0.0
    wsum = 0.0
    for j in range(1, v.shape[0]):
        t = abs(v[j]) * width[j]
        if p == 2.0:  # the model's two norms, without a power call per band
            acc += t * t
        elif p == 1.0:
            acc += t
        else:
            acc += t**p
        wsum += width[j]
    return (acc / wsum) ** (1.0 / p) * wsum


@njit(cache=True)
def _audible_power(ppd, thresh, factor):
    """Sum over bands 1..n-1 of the values above ``factor`` x the hearing threshold."""
    acc = 0.0
    for j in range(1, ppd.shape[0]):
        if ppd[j] > factor * thresh[j]:
            acc += ppd[j]
    return acc


@njit(cache=True)
def _frame_disturbance_kernel(
    ppd_ref, ppd_deg, thresh, centre_bark, width, sl, g_prev0, smooth_first
):
    """Gain compensation, loudness and disturbance per frame (design note §11.5-§11.6).

    ``ppd_ref`` (n_frames, n_bands) is the frequency-compensated reference pitch power
    density, ``ppd_deg`` the degraded one (not modified). ``g_prev0`` is the smoothed gain
    before the first frame; the 0.2/0.8 smoothing is applied to the first frame only when
    ``smooth_first``. Returns (fd, fa, ref_power) of shape (n_frames,): symmetric and
    asymmetric frame disturbance and the reference's audible power.
    """
    nfr, nb = ppd_ref.shape
    fd = np.zeros(nfr)
    fa = np.zeros(nfr)
    tp = np.zeros(nfr)
    gamma = np.zeros(nb)
    scales = np.zeros(nb)  # the loudness scale of each band, the same in every frame
    for j in range(nb):
        h = 6.0 / (centre_bark[j] + 2.0) if centre_bark[j] < 4 else 1.0
        if h > 2.0:
            h = 2.0
        gamma[j] = 0.23 * h**0.15
        scales[j] = sl * (thresh[j] / 0.5) ** gamma[j]
    g_prev = g_prev0
    d = np.zeros(nb)
    da = np.zeros(nb)
    for f in range(nfr):
        a_ref = _audible_power(ppd_ref[f], thresh, 1.0)
        a_deg = _audible_power(ppd_deg[f], thresh, 1.0)
        tp[f] = a_ref
        g = (a_ref + 5000.0) / (a_deg + 5000.0)
        if f > 0 or smooth_first:
            g = 0.2 * g_prev + 0.8 * g
        g_prev = g
        if g < 3e-4:
            g = 3e-4
        elif g > 5.0:
            g = 5.0
        for j in range(nb):
            p0 = thresh[j]
            pr = ppd_ref[f, j]
            pd = ppd_deg[f, j] * g
            lr = 0.0
            ld = 0.0
            scale = scales[j]
            if pr > p0:
                lr = scale * ((0.5 + 0.5 * pr / p0) ** gamma[j] - 1.0)
            if pd > p0:
                ld = scale * ((0.5 + 0.5 * pd / p0) ** gamma[j] - 1.0)
            r = ld - lr
            m = 0.25 * min(ld, lr)
            if r > m:
                dj = r - m
            elif r < -m:
                dj = r + m
            else:
                dj = 0.0
            d[j] = dj
            if dj == 0.0:  # no disturbance, whatever the asymmetry factor (at most 12)
                da[j] = 0.0
                continue
            a = ((pd + 50.0) / (pr + 50.0)) ** 1.2
            if a > 12.0:
                a = 12.0
            if a < 3.0:
                a = 0.0
            da[j] = dj * a
        fd[f] = _pseudo_lp(d, width, 2.0)
        fa[f] = _pseudo_lp(da, width, 1.0)
    return fd, fa, tp


@njit(cache=True)
def _lpq_kernel(x, start, stop, p, q, time_weight):
    """Split-second Lp then time Lq aggregation over frames start..stop (design note §15)."""
    num = 0.0
    den = 0.0
    s = start
    while s <= stop:
        acc = 0.0
        e = min(s + 20, stop + 1)
        for f in range(s, e):
            acc += x[f] ** p
        val = (acc / 20.0) ** (1.0 / p)
        tw = time_weight[s - start]
        num += (tw * val) ** q
        den += tw**q
        s += 10
    return (num / den) ** (1.0 / q)
