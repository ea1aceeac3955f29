"""Reference match: does the degraded signal contain the reference at all?

After time alignment, a degraded copy of the reference follows the reference's
spectro-temporal envelope: where the reference has energy in a band, so has the copy,
however coded, noisy, clipped or cut by loss. A different recording does not, even when
the alignment found the best lag for each of its utterances.

The figure is the Pearson correlation, over the reference's speech frames (but those where
the degraded signal is silent: dropouts remove content, they do not contradict), of the two
signals' log band energies (:data:`BANDS` bands between 300 and 3400 Hz, 32 ms frames every
16 ms, each band's mean removed, levels floored :data:`RANGE_DB` below each signal's loud
level), clipped to 0..1. Long calls add the sums of every window, so the figure is one
correlation over the whole call.

On this repository's corpora (tests/corpus.py at 8 and 16 kHz, the shipped pairs, and
harsher pairs: AMR-NB 4.75 kbit/s, Opus 2.5 kbit/s, 20 % random and burst loss, clipping,
5 dB SNR of white, pink and babble noise, delay jumps, and combinations) the 459 matching
pairs gave 0.61 or more; 840 pairs scored against another sentence gave 0.41 or less
(``python benchmarks/reference_match.py``).
Below :data:`MIN_MATCH` a hint and a warning say that the degraded file does not seem to
contain the reference.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from numpy.typing import NDArray

from perceptq.audio.quantile import percentile
from perceptq.audio.reductions import band_powers

#: Number of bands, their edges (Hz), frame length and hop (ms).
BANDS, LOW_HZ, HIGH_HZ, FRAME_MS, HOP_MS = 16, 300.0, 3400.0, 32, 16
#: Band levels are floored this many dB below each signal's loud level (99th percentile).
RANGE_DB = 50.0
#: Reference frames within this many dB of its loudest frame take part ...
SPEECH_DB = 35.0
#: ... unless the degraded signal is silent there (DROPOUT_DB below its own loud level):
#: a dropout removes the copy's content, it does not contradict the reference.
DROPOUT_DB = 40.0
#: Below this the degraded signal does not seem to contain the reference.
MIN_MATCH = 0.5


def empty() -> NDArray[np.float64]:
    """Sums of no segment: rows n, r, d, rr, dd, rd; one column per band."""
    return np.zeros((6, BANDS))


def frame_grid(fs: int) -> tuple[int, int]:
    """(frame length, hop) in samples: frame ``k`` is ``x[k hop : k hop + length]``."""
    return fs * FRAME_MS // 1000, fs * HOP_MS // 1000


@lru_cache(maxsize=8)
def _bands(fs: int) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64]]:
    """(first bin, number of bins) of each band in the frames' spectra, and the window."""
    nf, _ = frame_grid(fs)
    freqs = np.fft.rfftfreq(nf, 1.0 / fs)
    band = np.digitize(freqs, np.geomspace(LOW_HZ, HIGH_HZ, BANDS + 1)) - 1
    # Bands are runs of consecutive bins (ascending).
    first = np.searchsorted(band, np.arange(BANDS))
    width = np.searchsorted(band, np.arange(BANDS), side="right") - first
    out = (first, width, np.hanning(nf))
    for a in out:
        a.setflags(write=False)
    return out


def band_levels(x: NDArray[np.float64], fs: int, spectrum_frames: NDArray[np.int64] | None = None
                ) -> tuple[NDArray[np.float64], NDArray[np.float64] | None]:
    """Log band energies (dB), shape (frames, BANDS), of the Hann-windowed frames of
    :func:`frame_grid`; and, for ``spectrum_frames`` (ascending frame indices), the sum
    of their power spectra (a long-term spectrum from the same transforms; else None)."""
    nf, hop = frame_grid(fs)
    x = np.ascontiguousarray(x, dtype=np.float64)
    frames = (x.shape[0] - nf) // hop + 1
    total = np.zeros(nf // 2 + 1)
    picked = np.zeros(0, dtype=np.int64) if spectrum_frames is None else spectrum_frames
    if frames < 1:
        out = np.zeros((0, BANDS))
    else:
        first, width, win = _bands(fs)
        view = np.lib.stride_tricks.as_strided(x, shape=(frames, nf),
                                               strides=(hop * x.strides[0], x.strides[0]),
                                               writeable=False)
        out = np.empty((frames, BANDS))
        step = 2048  # frames per FFT batch (bounded memory on long windows)
        for a in range(0, frames, step):
            b = min(a + step, frames)
            spec = np.fft.rfft(view[a:b] * win, axis=1)
            out[a:b] = band_powers(spec, first, width, picked[(picked >= a) & (picked < b)] - a,
                                   total)
        out = 10.0 * np.log10(out + 1e-20)
    return out, (None if spectrum_frames is None else total)


def _floored(db: NDArray[np.float64]) -> NDArray[np.float64]:
    return np.maximum(db, percentile(db, 99) - RANGE_DB) if db.size else db


def sums(ref: NDArray[np.float64], aligned: NDArray[np.float64], fs: int) -> NDArray[np.float64]:
    """Correlation sums of one segment: ``ref`` and the degraded signal moved onto its
    time axis (same length, model rate)."""
    return sums_of_levels(band_levels(ref, fs)[0], band_levels(aligned, fs)[0])


def sums_of_levels(r: NDArray[np.float64], d: NDArray[np.float64]) -> NDArray[np.float64]:
    """:func:`sums` from the two signals' :func:`band_levels`."""
    n = min(r.shape[0], d.shape[0])
    if n < 2:
        return empty()
    r, d = r[:n], d[:n]
    ref_total = 10.0 * np.log10(np.sum(10.0 ** (r / 10.0), axis=1))
    deg_total = 10.0 * np.log10(np.sum(10.0 ** (d / 10.0), axis=1))
    keep = ref_total > ref_total.max() - SPEECH_DB
    keep &= deg_total >= percentile(deg_total, 99) - DROPOUT_DB
    r, d = _floored(r)[keep], _floored(d)[keep]
    return np.stack(
        [
            np.full(BANDS, float(r.shape[0])),
            r.sum(0),
            d.sum(0),
            (r * r).sum(0),
            (d * d).sum(0),
            (r * d).sum(0),
        ]
    )


def value(s: NDArray[np.float64]) -> float:
    """The reference match (0..1) from accumulated sums; NaN when there is nothing."""
    n, sr, sd, srr, sdd, srd = s
    if n.sum() < 2 * BANDS:
        return math.nan
    nn = np.maximum(n, 1.0)
    cov = float(np.sum(srd - sr * sd / nn))  # each band about its own mean
    var = float(np.sum(srr - sr * sr / nn)) * float(np.sum(sdd - sd * sd / nn))
    if var <= 0:
        return 0.0
    return float(np.clip(cov / math.sqrt(var), 0.0, 1.0))


def warnings(diagnostics: dict) -> list[str]:
    """The warning for a result whose degraded signal does not follow its reference."""
    d = diagnostics.get("reference_match") or {}
    return [d["hint"]] if d.get("hint") else []
