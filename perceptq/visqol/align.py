"""Time alignment: upper envelopes and the lag of their cross-correlation peak.

Used twice: once on the whole pair (global alignment, which absorbs codec delay) and once
per matched patch pair (fine realignment).
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from perceptq.visqol.long_align import LagSearch, correlation_peak

#: Samples per block when envelopes are computed (bounds the temporaries on long inputs).
BLOCK = 1 << 20
#: Signals longer than this (about 87 s at 48 kHz) are correlated with scipy's FFT.
LONG_FFT = 1 << 22
#: Pairs longer than this (samples; 87 s at 48 kHz, 262 s at 16 kHz) are globally aligned
#: block by block (:mod:`perceptq.visqol.long_align`): the whole-signal correlation needs
#: about 32 bytes per sample, 134 MB here, about what the block search holds at any length.
BOUNDED_ABOVE = 1 << 22


def upper_envelope(x: NDArray[np.float64], dtype=np.float64, out: NDArray | None = None) -> NDArray:
    """ViSQOL's "upper envelope" of ``x``, shape (n,), in ``dtype`` (or written into ``out``).

    ViSQOL meant the magnitude of the analytic signal of ``x`` minus its mean, plus the
    mean. Its FFT helper, however, returns only the real part of the inverse transform of
    the one-sided spectrum: with X the FFT of the mean-removed signal zero-padded to N
    points (the least power of two >= n), that real part is
    2 x_c[t] - X[0] / N + (h - 2) X[N/2] (-1)^t / N, where h = 1 when n = N and 0
    otherwise. Its magnitude (a full-wave rectified signal) plus the mean is what the
    published scores were computed with, so that is what is returned here; the true
    Hilbert envelope moves the speech conformance score by 1e-3. Computed block by block
    in float64, stored in ``dtype``.
    """
    n = x.shape[0]
    env = np.empty(n, dtype=dtype) if out is None else out
    envelope_piece(x, envelope_terms(x), 0, n, env)
    return env


def envelope_terms(x: NDArray[np.float64]) -> tuple[float, float, float]:
    """(mean, DC step, alternating term) of :func:`upper_envelope`, which any piece needs."""
    n = x.shape[0]
    mean = float(np.mean(x))
    points = 1 << (n - 1).bit_length() if n > 1 else 1
    dc = float(np.sum(x)) - n * mean
    nyquist = float(np.sum(x[0::2]) - np.sum(x[1::2])) - mean * (n % 2)
    h = 1.0 if n == points else 0.0
    return mean, dc / points, (h - 2.0) * nyquist / points  # the last one times (-1)^t


def envelope_piece(
    x: NDArray[np.float64], terms: tuple[float, float, float], start: int, stop: int,
    out: NDArray,
) -> None:
    """Write samples ``start:stop`` of the upper envelope of ``x`` into ``out[:stop - start]``.

    Indices outside ``x`` give zeros; every value equals the whole envelope's (the same
    float64 operations per sample, then stored in ``out``'s dtype).
    """
    mean, dc_step, alt = terms
    lo, hi = max(start, 0), min(stop, x.shape[0])
    if lo >= hi:
        out[: stop - start] = 0.0
        return
    out[: lo - start] = 0.0
    out[hi - start : stop - start] = 0.0
    for at in range(lo, hi, BLOCK):
        blk = 2.0 * (x[at : min(at + BLOCK, hi)] - mean)
        blk -= dc_step
        even = at % 2  # first local index of an even absolute index: (-1)^t = +1
        blk[even::2] += alt
        blk[1 - even :: 2] -= alt
        np.abs(blk, out=blk)
        blk += mean
        out[at - start : at - start + blk.shape[0]] = blk


def fast_length(n: int) -> int:
    """The least 5-smooth (2^a 3^b 5^c) even length >= n: a fast FFT size."""
    best = 1 << max(n - 1, 1).bit_length()
    p5 = 1
    while p5 < best:
        p35 = p5
        while p35 < best:
            m = p35
            while m < n or m % 2:
                m *= 2
            best = min(best, m)
            p35 *= 3
        p5 *= 5
    return best


def _long_spectrum(fill, points: int) -> NDArray[np.complex64]:
    """rfft of the float32 signal ``fill`` writes into a zeroed buffer of ``points`` samples.

    The buffer is what ``rfft(signal, points)`` would pad the signal to (same values, same
    transform), made without the intermediate unpadded copy and dropped at once.
    """
    import scipy.fft as fft  # about half numpy's working memory on huge transforms

    buf = np.zeros(points, dtype=np.float32)
    fill(buf)
    return fft.rfft(buf, overwrite_x=True)


def _correlation_peak(fill_ref, fill_deg, n: int) -> int:
    """Lag of the cross-correlation peak of two signals of length <= n (see best_lag).

    ``fill_ref``/``fill_deg`` write the signals (as float32) into the start of the zeroed
    buffer they are given: each is transformed and dropped before the other is made, so
    long inputs hold one spectrum pair at a time.
    """
    points = fast_length(2 * n - 1)
    # Single precision, as ViSQOL's own FFT: half the memory on long inputs.
    if n > LONG_FFT:
        import scipy.fft as fft

        spec = _long_spectrum(fill_ref, points)
        other = _long_spectrum(fill_deg, points)
    else:
        fft = np.fft  # no scipy.fft import (and its start-up cost) for ordinary pairs
        spec = fft.rfft(_unpadded(fill_ref, n), points)
        other = fft.rfft(_unpadded(fill_deg, n), points)
    np.conj(other, out=other)
    spec *= other
    del other
    reuse = {} if fft is np.fft else {"overwrite_x": True}
    xcorr = fft.irfft(spec, points, **reuse)
    del spec
    max_lag = n - 1
    # Lags -max_lag..-1 sit at the end of xcorr, 0..max_lag at the start; the first
    # maximum of that order wins (no concatenated copy: long inputs).
    neg = xcorr[points - max_lag :]
    pos = xcorr[: max_lag + 1]
    i_pos = int(np.argmax(pos))
    if neg.shape[0]:
        i_neg = int(np.argmax(neg))
        if neg[i_neg] >= pos[i_pos]:
            return i_neg - max_lag
    return i_pos


def best_lag(ref: NDArray[np.floating], deg: NDArray[np.floating]) -> int:
    """Lag (samples) maximising the cross-correlation of ``ref`` and ``deg``.

    Positive: ``deg`` is early (its content appears ``lag`` samples sooner than in
    ``ref``); negative: late. The correlation is computed circularly on at least 2 n - 1
    points (n the longer length, the shorter zero-padded), so every lag in
    [-(n - 1), n - 1] is exact; the first maximum wins. Single precision, as ViSQOL's
    own FFT: a near-tie between two lags may resolve either way.
    """
    return _correlation_peak(_copier(ref), _copier(deg), max(ref.shape[0], deg.shape[0]))


def _copier(x: NDArray[np.floating]):
    def fill(buf: NDArray[np.float32]) -> None:
        buf[: x.shape[0]] = x  # the float32 rounding of np.asarray(x, np.float32)

    fill.length = x.shape[0]
    return fill


def _enveloper(x: NDArray[np.floating]):
    def fill(buf: NDArray[np.float32]) -> None:
        upper_envelope(x, np.float32, out=buf[: x.shape[0]])

    fill.length = x.shape[0]
    return fill


def _unpadded(fill, n: int) -> NDArray[np.float32]:
    buf = np.empty(fill.length, dtype=np.float32)
    fill(buf)
    return buf


def envelope_peak(ref: NDArray[np.float64], deg: NDArray[np.float64]) -> LagSearch:
    """The envelope lag (see :func:`best_lag`) with ViSQOL's rule applied and its certainty.

    Up to ``BOUNDED_ABOVE`` samples: the whole-signal correlation (certain by definition).
    Above: the bounded-memory search of :func:`~perceptq.visqol.long_align.correlation_peak`,
    which computes every lag too but with different rounding, so it reports when a
    near-tie makes the whole-signal method's choice unpredictable.
    """
    n_ref, n_deg = ref.shape[0], deg.shape[0]
    if max(n_ref, n_deg) > BOUNDED_ABOVE:
        return correlation_peak(_piecer(ref), _piecer(deg), n_ref, n_deg)
    lag = _correlation_peak(_enveloper(ref), _enveloper(deg), max(n_ref, n_deg))
    return LagSearch(lag, lag if 0 < abs(lag) <= n_ref / 2.0 else 0, math.inf, 0.0)


def _piecer(x: NDArray[np.float64]):
    terms = envelope_terms(x)

    def piece(start: int, stop: int, out: NDArray[np.float32]) -> None:
        envelope_piece(x, terms, start, stop, out)

    return piece


def envelope_lag(ref: NDArray[np.float64], deg: NDArray[np.float64]) -> int:
    """:func:`best_lag` of the two signals' upper envelopes (see :func:`envelope_peak`)."""
    return envelope_peak(ref, deg).lag


def globally_align(
    ref: NDArray[np.float64], deg: NDArray[np.float64]
) -> tuple[NDArray[np.float64], int]:
    """Shift ``deg`` by the envelope lag; return (shifted copy or ``deg`` itself, lag samples).

    A positive lag (``deg`` early) prepends that many zeros to ``deg``, a negative one
    (``deg`` late) drops its first samples. Lags of more than half the reference are not
    trusted: ``deg`` is returned as is with lag 0.
    """
    lag = envelope_peak(ref, deg).aligned
    if lag == 0:
        return deg, 0
    if lag < 0:
        return deg[-lag:], lag
    return np.concatenate((np.zeros(lag), deg)), lag


def align_and_truncate(
    ref: NDArray[np.float64], deg: NDArray[np.float64], sample_rate: int
) -> tuple[int, int, int, float]:
    """Globally align ``deg`` to ``ref``, then cut both to a common start and length.

    Returns (ref_start, deg_start, n, lag_s), the lag in seconds with the sign of
    :func:`best_lag`. The aligned pair is ``ref[ref_start:ref_start + n]`` and
    ``deg[deg_start:deg_start + n]``, with zeros before ``deg``'s start (``deg_start`` < 0;
    see :func:`window_of`). As in ViSQOL, the number of samples trimmed from the front
    after a positive lag is ``int(lag_s * sample_rate)`` (the lag round-tripped through
    seconds).
    """
    lag = envelope_peak(ref, deg).aligned
    deg_len = deg.shape[0] + lag  # length of deg after the shift
    lag_s = lag / float(sample_rate)
    ref_start = deg_at = 0
    n = ref.shape[0]
    if ref.shape[0] > deg_len:
        n = deg_len
    elif ref.shape[0] < deg_len:
        trim = int(lag_s * sample_rate)
        if trim > 0:
            ref_start = deg_at = trim
            n = ref.shape[0] - trim
    n = max(min(n, ref.shape[0] - ref_start, deg_len - deg_at), 0)
    return ref_start, deg_at - lag, n, lag_s


def window_of(x: NDArray[np.float64], start: int, n: int) -> NDArray[np.float64]:
    """``x[start:start + n]`` with zeros for indices below 0 (a view when start >= 0)."""
    if start >= 0:
        return x[start : start + n]
    return np.concatenate((np.zeros(min(-start, n)), x[: max(n + start, 0)]))


#: Samples per piece when a long signal is summed or shifted piece by piece.
PIECE = 1 << 20


def sum_of_squares(get, start: int, stop: int) -> float:
    """Sum of squares of samples ``start:stop`` of a signal read through ``get(a, b)``.

    The same value, bit for bit, as ``np.add.reduce(x * x)`` on the whole range: numpy
    sums pairwise, halving at multiples of 8, and the pieces are cut where it cuts, so
    no square of the whole signal is ever held.
    """
    n = stop - start
    if n <= PIECE:
        piece = get(start, stop)
        return float(np.add.reduce(piece * piece))
    half = n // 2
    half -= half % 8
    return sum_of_squares(get, start, start + half) + sum_of_squares(get, start + half, stop)


def mean_square(x: NDArray[np.float64]) -> float:
    """``np.mean(x * x)`` (bit for bit) without the squared copy."""
    n = x.shape[0]
    return float(np.float64(sum_of_squares(lambda a, b: x[a:b], 0, n)) / n) if n else math.nan


class ShiftedSignal:
    """``x`` shifted by a global lag (zeros in front when positive, its first samples dropped
    when negative) and times ``gain``, made piece by piece: slices give new arrays equal,
    value for value, to slicing ``concatenate((zeros(lag), x)) * gain`` (or
    ``x[-lag:] * gain``), so long signals are never copied whole."""

    def __init__(self, x: NDArray[np.float64], lag: int, gain: float = 1.0) -> None:
        self.x, self.lag, self.gain = x, lag, gain
        self.shape = (x.shape[0] + lag,)

    def raw(self, start: int, stop: int) -> NDArray[np.float64]:
        """Samples ``start:stop`` (within the signal) before the gain."""
        lag = self.lag
        if lag <= 0:
            return self.x[start - lag : stop - lag]
        if start >= lag:
            return self.x[start - lag : stop - lag]
        return np.concatenate((np.zeros(min(lag, stop) - start), self.x[: max(stop - lag, 0)]))

    def __getitem__(self, key: slice) -> NDArray[np.float64]:
        start, stop, step = key.indices(self.shape[0])
        if step != 1:
            raise ValueError("ShiftedSignal slices take unit steps")
        return self.raw(start, max(stop, start)) * self.gain

    def mean_square(self) -> float:
        """``np.mean(s * s)`` of the shifted signal before the gain (bit for bit)."""
        n = self.shape[0]
        return float(np.float64(sum_of_squares(self.raw, 0, n)) / n) if n else math.nan
