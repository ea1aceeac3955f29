"""The global alignment's correlation peak for long signals, in bounded memory, every lag.

:func:`perceptq.visqol.align.envelope_lag` correlates the two whole envelopes with one
single-precision FFT of twice their length (about 32 bytes per input sample). Above
``align.BOUNDED_ABOVE`` samples this module computes the same correlation, lag for lag,
without ever holding more than a few blocks: lags are taken ``BLOCK`` at a time, and for
each lag block the product spectra of ``BLOCK``-sample time blocks of the degraded
envelope and the matching ``2 BLOCK``-sample pieces of the reference envelope are summed
(overlap-save) before one inverse transform gives that block's ``BLOCK`` correlation
values. Lag blocks are taken in decreasing order of a Cauchy-Schwarz bound on their
correlation (the envelopes' energies where the block's lags make them overlap) until no
block left can beat or tie the best value found: every lag of [-(n - 1), n - 1] is
either computed or ruled out, so nothing is left unexamined. A delayed copy is usually
settled by the first block; a pair without a clear peak needs more, and the work of all
blocks grows with the square of the length (about (n / BLOCK)^2 pairs of transforms).

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
    a different ``aligned`` value (at least; lags left out count at their bound), and
    ``noise`` the rounding bound it is compared with (both in correlation units);
    ``uncertain`` when ``contrast <= noise``. ``examined``: the share of lag blocks
    computed (the others were ruled out by their bound).
    """

    lag: int
    aligned: int
    contrast: float
    noise: float
    examined: float = 1.0

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
        """Take the correlation at lags ``first_lag, first_lag + 1, ...`` (blocks in any order)."""
        i = int(np.argmax(values))
        v, lag = float(values[i]), first_lag + i
        rest = -math.inf
        if values.shape[0] > 1:
            rest = float(max(np.max(values[:i], initial=-np.inf),
                             np.max(values[i + 1 :], initial=-np.inf)))
        if v > self.best[0] or (v == self.best[0] and lag < self.best[1]):  # ties: smaller lag
            self.second = max(self.second, self.best[0], rest)
            self.best = (v, lag)
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

    def result(self, noise: float, skipped_bound: float, examined: float) -> LagSearch:
        value, lag = self.best
        aligned = lag if 0 < abs(lag) <= self.keep_up_to else 0
        other = max(self.second if aligned else self.best_kept, skipped_bound)
        return LagSearch(lag, aligned, value - other, noise, examined)


class _Energies:
    """Energy of a signal per chunk of ``size`` samples, for Cauchy-Schwarz bounds."""

    def __init__(self, piece: Piece, n: int, buf: np.ndarray, size: int) -> None:
        chunks = []
        for start in range(0, n, BLOCK):  # BLOCK is a multiple of size
            stop = min(start + BLOCK, n)
            piece(start, stop, buf)
            for a in range(0, stop - start, size):
                seg = buf[a : min(a + size, stop - start)].astype(np.float64)
                chunks.append(float(np.dot(seg, seg)))
        self.size = size
        self.cumulative = np.concatenate(([0.0], np.cumsum(chunks)))

    @property
    def total(self) -> float:
        return float(self.cumulative[-1])

    def over(self, start: int, stop: int) -> float:
        """At least the energy of samples [start, stop) (whole chunks, rounded outwards)."""
        if start >= stop:
            return 0.0
        k0, k1 = start // self.size, -(-stop // self.size)
        return max(float(self.cumulative[k1] - self.cumulative[k0]), 0.0) * (1.0 + 1e-9)


def _bound(r: _Energies, d: _Energies, n_ref: int, n_deg: int, first: int, last: int) -> float:
    """Upper bound of |c(L)| for L in [first, last]: |c(L)| <= |d on its overlap| |r on its
    overlap| (Cauchy-Schwarz), and every overlap of the block lies in the union below."""
    t0, t1 = max(0, -last), min(n_deg, n_ref - first)
    s0, s1 = max(0, first), min(n_ref, n_deg + last)
    if t0 >= t1 or s0 >= s1:
        return 0.0
    return math.sqrt(d.over(t0, t1)) * math.sqrt(r.over(s0, s1))


def correlation_peak(ref: Piece, deg: Piece, n_ref: int, n_deg: int) -> LagSearch:
    """First maximum of c(L) = sum_t r[t + L] d[t] over L in [-(n - 1), n - 1], block by block.

    ``ref``, ``deg`` write float32 pieces of the two signals (see :data:`Piece`); n is the
    longer length. Lag blocks are computed in decreasing order of their Cauchy-Schwarz
    bound (the energies of the two signals where the block's lags make them overlap);
    once a block's bound is below the best value found minus the noise bound, no lag in
    it or in any later block can win or tie, and the search stops. Memory: a few arrays
    of 2 * ``BLOCK`` float32 values, whatever n.
    """
    import scipy.fft as fft

    max_lag = max(n_ref, n_deg) - 1
    points = 2 * BLOCK
    buf = np.zeros(points, dtype=np.float32)
    r = _Energies(ref, n_ref, buf, max(BLOCK // 32, 1))
    d = _Energies(deg, n_deg, buf, max(BLOCK // 32, 1))
    if r.total == 0.0 or d.total == 0.0:
        # A silent envelope: every lag correlates to exactly 0, and the whole-signal method's
        # first maximum is the most negative lag (beyond half the reference: no shift).
        return LagSearch(-max_lag, 0, math.inf, 0.0, 0.0)
    whole_points = 2 * max_lag + 1  # the whole-signal method's transform is at least this long
    noise = 2.0 * NOISE_PER_LOG2 * math.sqrt(r.total * d.total) * (
        math.log2(whole_points) + math.sqrt(2.0) * math.log2(points))
    firsts = range(-max_lag, max_lag + 1, BLOCK)
    blocks = [(first, min(BLOCK, max_lag + 1 - first)) for first in firsts]
    bounds = [_bound(r, d, n_ref, n_deg, first, first + width - 1) for first, width in blocks]
    order = sorted(range(len(blocks)), key=lambda k: -bounds[k])
    peaks = _Peaks(n_ref / 2.0)
    acc = np.zeros(BLOCK + 1, dtype=np.complex64)
    skipped_bound, examined = -math.inf, 0
    for k in order:
        if bounds[k] < peaks.best[0] - noise:
            skipped_bound = bounds[k]  # the largest bound of the blocks left out
            break
        first, width = blocks[k]
        peaks.add(first, _block_values(ref, deg, n_ref, n_deg, first, width, buf, acc, fft))
        examined += 1
    return peaks.result(noise, skipped_bound, examined / len(blocks))


def _block_values(ref, deg, n_ref, n_deg, first, width, buf, acc, fft) -> np.ndarray:
    """c(L) for L in [first, first + width): overlap-save over time blocks of the degraded."""
    points = buf.shape[0]
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
    return fft.irfft(acc, points)[:width] if summed else np.zeros(width, np.float32)
