"""The reference match's band levels (one kernel pass per batch of frame spectra) against
the plain array computation: power spectra, np.add.reduceat over the bands, picked rows
summed; the same numbers to the bit."""

from __future__ import annotations

import numpy as np
import pytest

from perceptq.recording import match


def _plain(x, fs, picked):
    nf, hop = match.frame_grid(fs)
    frames = (x.shape[0] - nf) // hop + 1
    freqs = np.fft.rfftfreq(nf, 1.0 / fs)
    band = np.digitize(freqs, np.geomspace(match.LOW_HZ, match.HIGH_HZ, match.BANDS + 1)) - 1
    first = np.searchsorted(band, np.arange(match.BANDS))
    end = int(np.searchsorted(band, match.BANDS - 1, side="right"))
    empty = np.searchsorted(band, np.arange(match.BANDS), side="right") == first
    rows = np.stack([x[k * hop : k * hop + nf] for k in range(frames)]) * np.hanning(nf)
    spec = np.fft.rfft(rows, axis=1)
    power = spec.real**2 + spec.imag**2
    out = np.add.reduceat(power[:, :end], first, axis=1)
    out[:, empty] = 0.0
    return 10.0 * np.log10(out + 1e-20), power[picked].sum(axis=0)


@pytest.mark.parametrize("fs", [8000, 16000])
def test_band_levels_and_long_term_spectrum_are_the_array_computation(fs):
    rng = np.random.default_rng(fs)
    x = rng.standard_normal(fs * 3) * np.repeat(rng.uniform(0.001, 1.0, 30), fs // 10)
    nf, hop = match.frame_grid(fs)
    frames = (x.shape[0] - nf) // hop + 1
    picked = np.flatnonzero(rng.random(frames) < 0.4)
    levels, ltas = match.band_levels(x, fs, picked)
    exp_levels, exp_ltas = _plain(x, fs, picked)
    np.testing.assert_array_equal(levels, exp_levels)
    np.testing.assert_array_equal(ltas, exp_ltas)
    np.testing.assert_array_equal(match.band_levels(x, fs)[0], exp_levels)
    assert match.band_levels(x, fs)[1] is None
