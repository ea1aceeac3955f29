"""Delay and clock drift between two long signals, from envelopes and waveform anchors.

The delay of the degraded signal is modelled as a straight line in reference time,
``delay(p) = d0 + k p`` (samples). ``k`` is the clock drift: a recording device whose
clock runs ``e`` ppm fast records ``1 + e 1e-6`` samples per reference sample, so the
delay grows by ``e`` microseconds per second and ``k = e 1e-6``.

Estimation: 4 ms log-energy envelopes give a whole-file lag; reference chunks spread over
the file are matched against the degraded envelope near that lag (normalised
cross-correlation); each match is refined on the waveform to the sample; a robust
(Theil-Sen) line through the anchors gives ``d0`` and ``k``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import soxr
from numpy.fft import irfft, rfft  # double precision: scipy.fft's pocketfft, bit-identical
from numpy.typing import NDArray

from perceptq.audio.quantile import percentile
from perceptq.audio.reductions import mean_square_blocks
from perceptq.audio.source import READ_BLOCK, Source
from perceptq.errors import AlignmentError

#: Envelope block length in milliseconds.
ENV_MS = 4
#: Envelope values are floored this many dB below the signal's loud level.
ENV_RANGE_DB = 60.0
#: Largest drift searched for, as a ratio (1000 ppm).
MAX_DRIFT = 1e-3
#: Anchors whose envelope correlation is below this are ignored.
MIN_ANCHOR_CORRELATION = 0.5
#: Drift at or above this (ppm) is compensated by resampling when windows are scored.
COMPENSATE_PPM = 20.0
#: Drift above this (ppm) gets a hint in the diagnostics.
LARGE_DRIFT_PPM = 100.0


@lru_cache(maxsize=64)
def next_fast_len(target: int) -> int:
    """Smallest 5-smooth number (2^a 3^b 5^c) >= ``target``: a fast real FFT length."""
    best = 1 << max(int(target - 1).bit_length(), 0)
    p5 = 1
    while p5 < best:
        p35 = p5
        while p35 < best:
            n = p35
            while n < target:
                n *= 2
            best = min(best, n)
            p35 *= 3
        p5 *= 5
    return best


def block_size(fs: int) -> int:
    """Samples per envelope block."""
    return fs * ENV_MS // 1000


def envelope(src: Source) -> NDArray[np.float64]:
    """Mean square of each 4 ms block of a source, shape (n // block,)."""
    bs = block_size(src.fs)
    # Blocks a whole number of envelope blocks long (an in-memory signal: itself, no copy).
    parts = [mean_square_blocks(x, bs) for x in src.blocks(READ_BLOCK - READ_BLOCK % bs)]
    return np.concatenate(parts) if len(parts) > 1 else parts[0] if parts else np.zeros(0)


def log_envelope(energy: NDArray[np.float64]) -> NDArray[np.float64]:
    """Envelope in dB, floored ENV_RANGE_DB below its 99th percentile."""
    db = 10.0 * np.log10(energy + 1e-20)
    if db.size == 0:
        return db
    return np.maximum(db, percentile(db, 99) - ENV_RANGE_DB)


def _correlate_valid(x: NDArray[np.float64], t: NDArray[np.float64]) -> NDArray[np.float64]:
    """sum_i t[i] x[k + i] for k = 0 .. len(x) - len(t), by FFT."""
    # Circular correlation over >= len(x) points has no wrap-around at these lags.
    size = next_fast_len(max(x.shape[0], 2))
    y = irfft(rfft(x, size) * np.conj(rfft(t, size)), size)
    return y[: x.shape[0] - t.shape[0] + 1]


def normalised_correlation(t: NDArray[np.float64], x: NDArray[np.float64]) -> NDArray[np.float64]:
    """Pearson correlation of template ``t`` with every window of ``x`` of its length.

    Windows of ``x`` (or a template) without variation get 0.
    """
    m = t.shape[0]
    if x.shape[0] < m or m < 2:
        return np.zeros(max(x.shape[0] - m + 1, 0))
    tc = t - t.mean()
    tn = float(np.sqrt(np.sum(tc * tc)))
    c1 = np.concatenate(([0.0], np.cumsum(x)))
    c2 = np.concatenate(([0.0], np.cumsum(x * x)))
    s1 = c1[m:] - c1[:-m]
    s2 = c2[m:] - c2[:-m]
    var = np.maximum(s2 - s1 * s1 / m, 0.0)
    num = _correlate_valid(x, tc)
    den = tn * np.sqrt(var)
    ok = den > 1e-9 * max(1.0, float(den.max()) if den.size else 1.0)
    out = np.zeros_like(num)
    out[ok] = num[ok] / den[ok]
    return out if tn > 0 else np.zeros_like(num)


def fine_lag(ref: NDArray[np.float64], deg: NDArray[np.float64], margin: int) -> float:
    """Lag of ``ref`` inside ``deg`` = degraded[pos - margin : pos + len(ref) + margin], in
    samples relative to ``pos`` (sub-sample, parabolic), in [-margin, margin]."""
    c = _correlate_valid(deg, ref)
    if c.size == 0:
        return 0.0
    k = int(np.argmax(c))
    frac = 0.0
    if 0 < k < c.size - 1:
        y0, y1, y2 = c[k - 1], c[k], c[k + 1]
        den = y0 - 2 * y1 + y2
        if den < 0:
            frac = 0.5 * (y0 - y2) / den
    return k + frac - margin


@dataclass(frozen=True)
class DelayModel:
    """Delay of the degraded signal as a line in reference time (samples)."""

    d0: float
    k: float
    anchor_pos: NDArray[np.float64]
    anchor_delay: NDArray[np.float64]

    @property
    def ppm(self) -> float:
        """Clock drift in parts per million (positive: the degraded signal is stretched)."""
        return self.k * 1e6

    def delay(self, p: float) -> float:
        """Delay (samples) at reference sample ``p``."""
        return self.d0 + self.k * p

    def deg_position(self, p: float) -> float:
        """Degraded sample that plays reference sample ``p``."""
        return p + self.delay(p)

    @property
    def reliable(self) -> bool:
        """Whether the drift is backed by at least two anchors two seconds apart or more."""
        return self.anchor_pos.size >= 2 and np.ptp(self.anchor_pos) > 0


def theil_sen(x: NDArray[np.float64], y: NDArray[np.float64]) -> tuple[float, float]:
    """(intercept, slope) of the median-of-pairwise-slopes line through (x, y)."""
    if x.size < 2:
        return (float(y[0]) if y.size else 0.0), 0.0
    if x.size <= SMALL_FIT:
        return _theil_sen_small(x.tolist(), y.tolist())
    i, j = np.triu_indices(x.size, 1)
    dx = x[j] - x[i]
    keep = dx != 0
    slope = float(np.median((y[j] - y[i])[keep] / dx[keep])) if keep.any() else 0.0
    return float(np.median(y - slope * x)), slope


#: Fits of up to this many points run on Python floats (numpy's per-call cost dominates).
SMALL_FIT = 12


def _theil_sen_small(x: list[float], y: list[float]) -> tuple[float, float]:
    """:func:`theil_sen` with the same float operations, on lists."""
    slopes = [(y[j] - y[i]) / (x[j] - x[i]) for i in range(len(x))
              for j in range(i + 1, len(x)) if x[j] - x[i] != 0]
    slope = _median(slopes) if slopes else 0.0
    return _median([b - slope * a for a, b in zip(x, y, strict=True)]), slope


def _median(v: list[float]) -> float:
    """``np.median`` of a short list: the middle value, or the mean of the two middle ones
    (NaN if any is NaN)."""
    if any(math.isnan(a) for a in v):
        return math.nan
    v = sorted(v)
    h = len(v) // 2
    return v[h] if len(v) % 2 else (v[h - 1] + v[h]) / 2.0


def _decimate(energy: NDArray[np.float64], factor: int) -> NDArray[np.float64]:
    n = energy.shape[0] // factor * factor
    return log_envelope(energy[:n].reshape(-1, factor).mean(axis=1))


def global_lag(ref_energy: NDArray[np.float64], deg_energy: NDArray[np.float64],
               factor: int = 10) -> int:
    """Whole-signal lag in envelope blocks (positive: degraded late), at ``factor`` x 4 ms."""
    r = _decimate(ref_energy, factor)
    d = _decimate(deg_energy, factor)
    if r.size < 2 or d.size < 2:
        return 0
    r = r - r.mean()
    d = d - d.mean()
    size = 1 << int(np.ceil(np.log2(r.size + d.size)))
    y = np.fft.irfft(np.fft.rfft(d, size) * np.conj(np.fft.rfft(r, size)), size)
    lags = np.concatenate((np.arange(0, d.size), np.arange(-(r.size - 1), 0)))
    y = np.concatenate((y[: d.size], y[size - r.size + 1 :]))
    return int(lags[int(np.argmax(y))]) * factor


def _peak(c: NDArray[np.float64]) -> float:
    """Position of the maximum of ``c`` with parabolic interpolation."""
    k = int(np.argmax(c))
    if 0 < k < c.size - 1:
        den = c[k - 1] - 2 * c[k] + c[k + 1]
        if den < 0:
            return k + 0.5 * (c[k - 1] - c[k + 1]) / den
    return float(k)


def on_reference_clock(deg: Source, centre: float, length: int, k: float) -> NDArray[np.float64]:
    """``length`` samples of ``deg`` centred on degraded position ``centre``, resampled from
    the degraded clock to the reference clock (drift ``k``) when the drift matters."""
    if abs(k) * 1e6 < COMPENSATE_PPM:
        a = round(centre - length / 2.0)
        return deg.read(a, a + length)
    guard = 256
    span = length * (1.0 + k)
    a = int(np.floor(centre - span / 2.0)) - guard
    x = deg.read(a, a + int(np.ceil(span)) + 2 * guard)
    y = soxr.resample(x, deg.fs * (1.0 + k), deg.fs, quality="VHQ")
    # y[j] is degraded position a + j (1 + k); start where that equals centre - span / 2.
    first = round((centre - span / 2.0 - a) / (1.0 + k))
    out = np.zeros(length)
    part = y[first : first + length]
    out[: part.shape[0]] = part
    return out


def _loudest(energy: NDArray[np.float64], b0: int, b1: int, length: int) -> int:
    """Start block of the loudest ``length``-block stretch inside [b0, b1)."""
    if b1 - b0 <= length:
        return b0
    c = np.concatenate(([0.0], np.cumsum(energy[b0:b1])))
    return b0 + int(np.argmax(c[length:] - c[:-length]))


def estimate(ref: Source, deg: Source, ref_energy: NDArray[np.float64],
             deg_energy: NDArray[np.float64], *, chunk_s: float = 10.0,
             step_s: float = 15.0, fine_s: float = 2.0) -> DelayModel:
    """Fit the delay line of ``deg`` against ``ref`` (see the module docstring).

    Raises
    ------
    AlignmentError
        If no part of the reference can be matched in the degraded signal.
    """
    fs = ref.fs
    bs = block_size(fs)
    lag0 = global_lag(ref_energy, deg_energy)
    ref_db, deg_db = log_envelope(ref_energy), log_envelope(deg_energy)
    nb = ref_db.shape[0]
    chunk = min(int(chunk_s * 1000 / ENV_MS), max(nb // 2, 1))
    n_anchor = int(np.clip(round((nb - chunk) * ENV_MS / 1000 / step_s) + 1, 3, 100000))
    reach = int((0.3 + 1.1 * MAX_DRIFT * max(ref.n, deg.n) / fs) * 1000 / ENV_MS)
    fine_blocks = min(int(fine_s * 1000 / ENV_MS), chunk)
    margin = int(0.04 * fs) + int(1.1 * MAX_DRIFT * fine_s * fs)
    anchors = []
    for b in sorted(set(np.linspace(0, nb - chunk, n_anchor).astype(int).tolist())):
        t = ref_db[b : b + chunk]
        if np.ptp(t) < 10.0:
            continue  # no speech in this chunk
        lo = max(b + lag0 - reach, 0)
        hi = min(b + chunk + lag0 + reach, deg_db.shape[0])
        c = normalised_correlation(t, deg_db[lo:hi])
        if c.size == 0 or c.max() < MIN_ANCHOR_CORRELATION:
            continue
        anchors.append((b, (lo + _peak(c) - b) * bs))
    if not anchors:
        raise AlignmentError(
            f"{deg.name}: could not align with {ref.name} (no stretch of the reference "
            "matches the degraded signal)"
        )
    # Coarse drift, then fine delays on degraded stretches resampled to the reference clock.
    _, k0 = theil_sen(np.array([b * bs for b, _ in anchors], float),
                      np.array([c for _, c in anchors], float))
    k0 = float(np.clip(k0, -MAX_DRIFT, MAX_DRIFT))
    pos, dly = [], []
    for b, coarse in anchors:
        f0 = _loudest(ref_energy, b, b + chunk, fine_blocks) * bs
        seg = ref.read(f0, f0 + fine_blocks * bs)
        mid = f0 + seg.shape[0] / 2.0
        centre = mid + coarse + k0 * (mid - b * bs)  # degraded position of the stretch centre
        lag = fine_lag(seg, on_reference_clock(deg, centre, seg.shape[0] + 2 * margin, k0),
                       margin)
        pos.append(mid)
        dly.append(centre - mid + lag)
    if not pos:
        raise AlignmentError(
            f"{deg.name}: could not align with {ref.name} (no stretch of the reference "
            "matches the degraded signal)"
        )
    p, d = np.asarray(pos), np.asarray(dly)
    d0, k = theil_sen(p, d)
    if not -1.5 * MAX_DRIFT <= k <= 1.5 * MAX_DRIFT:
        d0, k = float(np.median(d)), 0.0
    return DelayModel(d0, k, p, d)
