"""The global alignment's correlation peak for long signals, in bounded memory, every lag.

:func:`perceptq.visqol.align.envelope_lag` correlates the two whole envelopes with one
single-precision FFT of twice their length (about 32 bytes per input sample). Above
``align.BOUNDED_ABOVE`` samples this module computes the same correlation, lag for lag,
without ever holding more than a few blocks: lags are taken ``BLOCK`` at a time, and for
each lag block the product spectra of ``BLOCK``-sample time blocks of the degraded
envelope and the matching ``2 BLOCK``-sample pieces of the reference envelope are summed
(overlap-save) before one inverse transform gives that block's ``BLOCK`` correlation
values. Every lag of [-(n - 1), n - 1] is computed, so nothing is left unexamined; the
work grows with the square of the length (about (n / BLOCK)^2 pairs of transforms).

The two computations differ only by their single-precision rounding. Each value of a
float32 FFT correlation is within about ``NOISE_PER_LOG2 * log2(points) * |r| |d|`` of
the exact one (measured: under a fifth of that on noise, music and sine envelopes from
5e4 to 3e6 samples). The peak is therefore only trusted when it beats every lag that
would lead to a different alignment by more than both methods' noise together;
otherwise the search reports itself uncertain and the caller says so.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

#: Time samples (and lags) per block; the transforms have 2 * BLOCK points (float32).
BLOCK = 1 << 21
#: Bound on a float32 FFT correlation's error per value, per log2 of its transform size,
#: relative to the product of the two signals' norms.
NOISE_PER_LOG2 = 1e-7

#: Writes samples [start, stop) of a signal (zeros outside it) into out[:stop - start].
Piece = Callable[[int, int, np.ndarray], None]


@dataclass(frozen=True, slots=True)
class LagSearch:
    """Outcome of a bounded-memory peak search.

    ``lag`` is the first maximum over every lag (what the whole-signal method returns when
    no near-tie exists), ``aligned`` the lag after ViSQOL's rule (0 when ``lag`` exceeds
    half the reference), ``contrast`` how far the peak beats the best lag that would give
    a different ``aligned`` value, and ``noise`` the rounding bound it is compared with
    (both in correlation units); ``uncertain`` when ``contrast <= noise``.
    """

    lag: int
    aligned: int
    contrast: float
    noise: float

    @property
    def uncertain(self) -> bool:
        return not self.contrast > self.noise


class _Peaks:
    """Running first maximum, the best other lag, and the best lag ViSQOL would keep."""

    def __init__(self, keep_up_to: float) -> None:
        self.keep_up_to = keep_up_to
        self.best = (-math.inf, 0)
        self.second = -math.inf
        self.best_kept = -math.inf  # over lags != 0 within half the reference

    def add(self, first_lag: int, values: np.ndarray) -> None:
        i = int(np.argmax(values))
        v = float(values[i])
        rest = -math.inf
        if values.shape[0] > 1:
            rest = float(max(np.max(values[:i], initial=-np.inf),
                             np.max(values[i + 1 :], initial=-np.inf)))
        if v > self.best[0]:  # lags arrive in increasing order: ties keep the smaller lag
            self.second = max(self.best[0], rest)
            self.best = (v, first_lag + i)
        else:
            self.second = max(self.second, v)
        lags_lo = max(first_lag, -math.floor(self.keep_up_to))
        lags_hi = min(first_lag + values.shape[0], math.floor(self.keep_up_to) + 1)
        if lags_lo < lags_hi:
            kept = values[lags_lo - first_lag : lags_hi - first_lag]
            if lags_lo <= 0 < lags_hi:
                kept = np.delete(kept, -lags_lo)
            if kept.size:
                self.best_kept = max(self.best_kept, float(np.max(kept)))

    def result(self, noise: float) -> LagSearch:
        value, lag = self.best
        aligned = lag if 0 < abs(lag) <= self.keep_up_to else 0
        other = self.second if aligned else self.best_kept
        return LagSearch(lag, aligned, value - other, noise)


def _norm(piece: Piece, n: int, buf: np.ndarray) -> float:
    total = 0.0
    for start in range(0, n, BLOCK):
        stop = min(start + BLOCK, n)
        piece(start, stop, buf)
        seg = buf[: stop - start].astype(np.float64)
        total += float(np.dot(seg, seg))
    return math.sqrt(total)


def correlation_peak(ref: Piece, deg: Piece, n_ref: int, n_deg: int) -> LagSearch:
    """First maximum of c(L) = sum_t r[t + L] d[t] over L in [-(n - 1), n - 1], block by block.

    ``ref``, ``deg`` write float32 pieces of the two signals (see :data:`Piece`); n is the
    longer length. Memory: a few arrays of 2 * ``BLOCK`` float32 values, whatever n.
    """
    import scipy.fft as fft

    n = max(n_ref, n_deg)
    max_lag = n - 1
    points = 2 * BLOCK
    buf = np.zeros(points, dtype=np.float32)
    acc = np.zeros(BLOCK + 1, dtype=np.complex64)
    scale = _norm(ref, n_ref, buf) * _norm(deg, n_deg, buf)
    whole_points = 2 * n - 1  # the whole-signal method's transform is at least this long
    noise = 2.0 * NOISE_PER_LOG2 * scale * (
        math.log2(whole_points) + math.sqrt(2.0) * math.log2(points))
    peaks = _Peaks(n_ref / 2.0)
    for first in range(-max_lag, max_lag + 1, BLOCK):
        width = min(BLOCK, max_lag + 1 - first)
        acc[:] = 0
        summed = False
        for t0 in range(0, n_deg, BLOCK):
            t1 = min(t0 + BLOCK, n_deg)
            lo, hi = t0 + first, t1 + first + width - 1  # reference samples these lags use
            if hi <= 0 or lo >= n_ref:
                continue
            deg(t0, t1, buf)
            buf[t1 - t0 :] = 0.0
            spec = fft.rfft(buf, overwrite_x=True)
            np.conj(spec, out=spec)
            ref(lo, hi, buf)  # only the samples the block's lags reach (zeros outside r)
            buf[hi - lo :] = 0.0
            spec *= fft.rfft(buf, overwrite_x=True)
            acc += spec
            summed = True
            del spec
        # no overlap at any of these lags (nothing summed): the correlation is exactly 0
        values = fft.irfft(acc, points)[:width] if summed else np.zeros(width, np.float32)
        peaks.add(first, values)
    return peaks.result(noise)
