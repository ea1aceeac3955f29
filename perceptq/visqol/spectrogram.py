"""Gammatone spectrogram: ERB filterbank design, per-frame band RMS, dB floors.

The filterbank is Slaney's (Apple TR #35): centre frequencies uniformly spaced on the ERB
scale (Glasberg and Moore: EarQ 9.26449, minimum bandwidth 24.7 Hz, order 1), each band a
cascade of four biquads sharing one denominator, the first carrying the gain
normalisation. Each 80 ms Hann-windowed frame is filtered from rest and reduced to the
RMS of every band.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from numpy.typing import NDArray

from perceptq.errors import InvalidAudioError
from perceptq.visqol._kernels import _gammatone_spectrogram_kernel
from perceptq.visqol.config import MIN_FREQ_HZ, VisqolConfig

EAR_Q = 9.26449
MIN_BW_HZ = 24.7
#: Spectrogram floors: absolute (dB) and relative to the louder signal's frame peak (dB).
FLOOR_ABSOLUTE_DB = -45.0
FLOOR_BELOW_PEAK_DB = 45.0
#: Frames computed at a time from a signal made piece by piece (long inputs).
FRAMES_PER_PIECE = 2048


@dataclass(frozen=True, slots=True)
class ErbFilterbank:
    """Biquad cascade coefficients, bands ordered from the lowest centre frequency up.

    ``b0``, ``b1`` have shape (4, n_bands) (numerator taps of the four sections; b2 = 0),
    ``a1``, ``a2`` shape (n_bands,) (the shared denominator, a0 = 1); ``center_hz`` is
    ascending. All arrays are read-only.
    """

    center_hz: NDArray[np.float64]
    b0: NDArray[np.float64]
    b1: NDArray[np.float64]
    a1: NDArray[np.float64]
    a2: NDArray[np.float64]


def _readonly(a: NDArray) -> NDArray:
    a = np.ascontiguousarray(a, dtype=np.float64)
    a.setflags(write=False)
    return a


def erb_center_frequencies(low_hz: float, high_hz: float, n: int) -> NDArray[np.float64]:
    """Centre frequencies (Hz, descending) uniformly spaced on the ERB scale (TR #35 p. 33)."""
    q = EAR_Q * MIN_BW_HZ
    step = (np.log(low_hz + q) - np.log(high_hz + q)) / n
    return -q + np.exp(np.arange(1, n + 1) * step) * (high_hz + q)


@lru_cache(maxsize=16)
def erb_filterbank(
    sample_rate: int, num_bands: int, low_hz: float, high_hz: float
) -> ErbFilterbank:
    """Design the gammatone filterbank (Slaney's MakeERBFilters), cached per parameter set."""
    high_hz = min(high_hz, sample_rate / 2.0)
    cf = erb_center_frequencies(low_hz, high_hz, num_bands)
    t = 1.0 / sample_rate
    bw = 1.019 * 2.0 * np.pi * (cf / EAR_Q + MIN_BW_HZ)  # ERB (order 1) in rad/s
    theta = 2.0 * np.pi * cf * t
    e_bt = np.exp(bw * t)
    # Shared denominator 1 + a1 z^-1 + a2 z^-2 (a pole pair at exp((-B +- j 2 pi cf) T)).
    a1 = -2.0 * np.cos(theta) / e_bt
    a2 = np.exp(-2.0 * bw * t)
    # Numerators A0 + A1k z^-1 of the four sections.
    sin_t = np.sin(theta) * t
    cos_t = np.cos(theta) * 2.0 * t
    r_pos = sin_t * 2.0 * np.sqrt(3.0 + 2.0**1.5)
    r_neg = sin_t * 2.0 * np.sqrt(3.0 - 2.0**1.5)
    a11 = -(cos_t / e_bt + r_pos / e_bt) / 2.0
    a12 = -(cos_t / e_bt - r_pos / e_bt) / 2.0
    a13 = -(cos_t / e_bt + r_neg / e_bt) / 2.0
    a14 = -(cos_t / e_bt - r_neg / e_bt) / 2.0
    # Gain at the centre frequency: |H(e^{j theta})| of the whole cascade.
    z2 = np.exp(4j * cf * np.pi * t)
    u = -2.0 * z2 * t
    v = 2.0 * np.exp((-bw + 2j * cf * np.pi) * t) * t
    c, s = np.cos(theta), np.sin(theta)
    s1, s2 = np.sqrt(3.0 - 2.0**1.5), np.sqrt(3.0 + 2.0**1.5)
    num = (u + v * (c - s1 * s)) * (u + v * (c + s1 * s)) * (u + v * (c - s2 * s)) * (
        u + v * (c + s2 * s)
    )
    den = -2.0 / np.exp(2.0 * bw * t) - 2.0 * z2 + 2.0 * (1.0 + z2) / np.exp(bw * t)
    gain = np.abs(num / den**4)
    b0 = np.vstack([np.full(num_bands, t) / gain, np.full((3, num_bands), t)])
    b1 = np.vstack([a11 / gain, a12, a13, a14])
    flip = slice(None, None, -1)  # lowest band first
    return ErbFilterbank(
        center_hz=_readonly(cf[flip]),
        b0=_readonly(b0[:, flip]),
        b1=_readonly(b1[:, flip]),
        a1=_readonly(a1[flip]),
        a2=_readonly(a2[flip]),
    )


@lru_cache(maxsize=8)
def hann_window(size: int) -> NDArray[np.float64]:
    """Symmetric Hann window 0.5 - 0.5 cos(2 pi n / (size - 1)), read-only."""
    return _readonly(0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(size) / (size - 1)))


def filterbank_for(config: VisqolConfig) -> ErbFilterbank:
    """The filterbank of a configuration."""
    return erb_filterbank(config.sample_rate, config.num_bands, MIN_FREQ_HZ, config.max_freq)


def gammatone_spectrogram(x: NDArray[np.float64], config: VisqolConfig) -> NDArray[np.float64]:
    """Band RMS per frame, shape (n_bands, n_frames), lowest band first (linear amplitude).

    ``x`` is an array, or any signal with ``shape`` whose slices are arrays (computed a
    run of frames at a time, with the same values).

    Raises
    ------
    InvalidAudioError
        The signal is not longer than one analysis window.
    """
    size, hop = config.window_size, config.hop
    if x.shape[0] <= size:
        raise InvalidAudioError(
            f"signal of {x.shape[0]} samples is too short for a spectrogram: more than "
            f"{size} samples ({size / config.sample_rate:.3f} s) are needed"
        )
    fb = filterbank_for(config)
    n_frames = 1 + (x.shape[0] - size) // hop
    out = np.empty((config.num_bands, n_frames))
    if isinstance(x, np.ndarray):
        _gammatone_spectrogram_kernel(
            np.ascontiguousarray(x, dtype=np.float64), hann_window(size), hop, n_frames,
            fb.b0, fb.b1, fb.a1, fb.a2, out,
        )
        return out
    # A signal made piece by piece (align.ShiftedSignal): frames are filtered from rest,
    # so a run of frames computed from its own samples equals the whole computation's.
    for first in range(0, n_frames, FRAMES_PER_PIECE):
        count = min(FRAMES_PER_PIECE, n_frames - first)
        part = np.empty((config.num_bands, count))
        samples = x[first * hop : (first + count - 1) * hop + size]
        _gammatone_spectrogram_kernel(
            samples, hann_window(size), hop, count, fb.b0, fb.b1, fb.a1, fb.a2, part
        )
        out[:, first : first + count] = part
    return out


def prepare_for_comparison(
    ref: NDArray[np.float64], deg: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Return both spectrograms in dB above their common floor (new arrays).

    10 log10 of the band RMS (0 counts as machine epsilon), raised to an absolute floor of
    -45 dB, then per frame to 45 dB below the louder of the two signals' peaks, then the
    lowest value of both is subtracted so the floor is 0 dB.
    """
    eps = np.finfo(np.float64).eps
    ref_db = 10.0 * np.log10(np.where(ref == 0.0, eps, np.abs(ref)))
    deg_db = 10.0 * np.log10(np.where(deg == 0.0, eps, np.abs(deg)))
    np.maximum(ref_db, FLOOR_ABSOLUTE_DB, out=ref_db)
    np.maximum(deg_db, FLOOR_ABSOLUTE_DB, out=deg_db)
    n = min(ref_db.shape[1], deg_db.shape[1])
    floor = np.maximum(ref_db[:, :n].max(axis=0), deg_db[:, :n].max(axis=0)) - FLOOR_BELOW_PEAK_DB
    np.maximum(ref_db[:, :n], floor, out=ref_db[:, :n])
    np.maximum(deg_db[:, :n], floor, out=deg_db[:, :n])
    lowest = min(ref_db.min(), deg_db.min())
    ref_db -= lowest
    deg_db -= lowest
    return ref_db, deg_db
