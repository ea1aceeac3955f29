"""The one-pass statistics of the original samples (kernels) against the array code they
replace: peaks, clipped plateaus, samples beyond full scale, channel differences, runs at
the peak across blocks, and the channel mixdown."""

from __future__ import annotations

import numpy as np
import pytest

from perceptq.audio import checks, preprocess
from perceptq.audio.io import Audio
from perceptq.audio.source import CEILING_TOLERANCE, ClipStats


def ceiling_runs(mag: np.ndarray, level: float) -> int:
    """Number of samples of ``mag`` (>= 0) at ``level`` or above that belong to runs of at
    least two consecutive such samples (clipped plateaus; a lone peak sample does not count).
    """
    at = mag >= level
    if not at.any():
        return 0
    pair = at[1:] & at[:-1]
    member = np.zeros(at.shape[0], dtype=bool)
    member[1:] |= pair
    member[:-1] |= pair
    return int(np.count_nonzero(member))


def _clipped(rng, n: int, channels: int) -> np.ndarray:
    x = rng.standard_normal((n, channels)) * rng.uniform(0.05, 0.6)
    top = np.quantile(np.abs(x), 0.97)
    x = np.clip(x, -top, top)  # plateaus at the ceiling
    if rng.random() < 0.3:
        x *= 1.5 / top  # beyond full scale
    if channels > 1 and rng.random() < 0.5:
        x[:, 1] = x[:, 0]  # identical channels
    return x[:, 0] if channels == 1 and rng.random() < 0.5 else x


def _reference_stats(blocks):
    """The per-block array computation the kernel replaces."""
    peaks, counts, n, beyond, spread, energy, difference = [], [], 0, 0, 0.0, 0.0, 0.0
    for b in blocks:
        a = np.abs(b)
        mag = a if b.ndim == 1 else a.max(axis=1)
        if mag.size == 0:
            continue
        peak = float(mag.max())
        peaks.append(peak)
        counts.append(ceiling_runs(mag, peak * (1.0 - CEILING_TOLERANCE)) if peak > 0 else 0)
        n += mag.shape[0]
        beyond += int(np.count_nonzero(a > 1.0)) if peak > 1.0 else 0
        if b.ndim == 2 and b.shape[1] > 1:
            spread = max(spread, float(np.max(np.abs(b - b[:, :1]))))
            energy += float(np.sum(np.square(b)))
            difference += float(np.sum(np.square(b - b.mean(axis=1, keepdims=True))))
    return peaks, counts, n, beyond, spread, energy, difference


def _reference_runs(blocks, peak: float) -> int:
    count, tail = 0, np.zeros(0, dtype=bool)
    for b in blocks:
        mag = np.abs(b) if b.ndim == 1 else np.abs(b).max(axis=1)
        at = np.concatenate((tail, mag >= 0.999 * peak))
        count += int(np.count_nonzero(at[:-2] & at[1:-1] & at[2:]))
        tail = at[-2:]
    return count


@pytest.mark.parametrize("seed", range(40))
def test_sample_statistics_equal_the_array_computation(seed):
    rng = np.random.default_rng(seed)
    channels = int(rng.choice([1, 1, 2, 2, 3, 6]))
    x = _clipped(rng, int(rng.integers(1, 5000)), channels)
    if rng.random() < 0.2:
        x = np.zeros_like(x)
    cuts = np.sort(rng.integers(0, x.shape[0], size=int(rng.integers(0, 5))))
    blocks = [b for b in np.split(x, cuts)]
    got = ClipStats.of(iter(blocks))
    peaks, counts, n, beyond, spread, energy, difference = _reference_stats(blocks)
    assert got.peaks == peaks and got.counts == counts and got.n_samples == n
    assert got.beyond == beyond and got.channel_spread == spread
    # sums of squares: summed sample by sample here, pairwise by numpy
    assert got.channel_energy == pytest.approx(energy, rel=1e-12, abs=1e-300)
    assert got.difference_energy == pytest.approx(difference, rel=1e-9, abs=1e-24)
    peak = max(peaks, default=0.0)
    assert checks._peak_runs(iter(blocks), peak) == _reference_runs(blocks, peak)


@pytest.mark.parametrize("channels", range(1, 11))
def test_mixdown_is_numpys_channel_mean_to_the_bit(channels):
    rng = np.random.default_rng(channels)
    x = rng.standard_normal((4001, channels)) * 0.3
    audio = Audio(samples=x if channels > 1 else x[:, 0], sample_rate=48000, name="x.wav",
                  sample_format="FLOAT")
    mono = preprocess.to_mono(audio)
    assert mono.flags.c_contiguous and mono.dtype == np.float64
    assert np.array_equal(mono, x.mean(axis=1))
