"""The one-pass reductions (perceptq.audio.reductions) against the numpy expressions they
replace, to the bit: block mean squares, and band energies of frame spectra with the sum
of the picked frames' power spectra."""

from __future__ import annotations

import numpy as np
import pytest

from perceptq.audio.reductions import MAX_RUN, band_powers, mean_square_blocks


def _wide(rng, n: int) -> np.ndarray:
    """Values over many orders of magnitude (rounding shows in every sum)."""
    return rng.standard_normal(n) * np.exp(rng.normal(0.0, 4.0, n))


@pytest.mark.parametrize("size", [*range(1, 20), 31, 32, 33, 40, 63, 64, 65, 79, 80, 81,
                                  120, 127, 128, 129, 160, 320])
def test_mean_square_blocks_is_numpys_mean_of_squares(size):
    rng = np.random.default_rng(size)
    for n in (0, size - 1, size, 5 * size + size // 2, 37 * size + 1):
        x = _wide(rng, max(n, 0))
        k = x.shape[0] // size
        expected = (x[: k * size].reshape(k, size) ** 2).mean(axis=1)
        np.testing.assert_array_equal(mean_square_blocks(x, size), expected)


def _layout(rng, bins: int, bands: int, widest: int):
    """Consecutive bands (some empty) inside ``bins``: first bins and widths."""
    width = rng.integers(0, widest + 1, bands)
    width[rng.random(bands) < 0.2] = 0
    width[-1] = max(width[-1], 1)  # np.add.reduceat needs the last band inside the array
    start = int(rng.integers(0, bins - width.sum() + 1))
    first = start + np.concatenate(([0], np.cumsum(width)[:-1]))
    return first, width


@pytest.mark.parametrize("seed", range(12))
def test_band_powers_are_numpys_reduceat_and_row_sums(seed):
    rng = np.random.default_rng(seed)
    widest = [3, 9, 16, 40, 129][seed % 5]
    bands = int(rng.integers(1, 20))
    bins = int(widest * bands + rng.integers(1, 60))
    frames = int(rng.integers(1, 70))
    spec = _wide(rng, frames * bins) + 1j * _wide(rng, frames * bins)
    spec = spec.reshape(frames, bins)
    first, width = _layout(rng, bins, bands, widest)
    picked = np.unique(rng.integers(-3, frames + 3, int(rng.integers(0, frames + 1))))
    start = _wide(rng, bins) ** 2
    total = start.copy()
    out = band_powers(spec, first, width, picked, total)

    power = spec.real**2 + spec.imag**2
    end = int(first[-1] + width[-1])
    expected = np.add.reduceat(power[:, :end], first, axis=1)
    expected[:, width == 0] = 0.0
    np.testing.assert_array_equal(out, expected)
    inside = picked[(picked >= 0) & (picked < frames)]
    rows = np.concatenate((start[None, :], power[inside]))
    np.testing.assert_array_equal(total, rows.sum(axis=0))


def test_band_powers_refuse_bands_beyond_the_summed_run():
    spec = np.ones((2, 400), dtype=complex)
    with pytest.raises(ValueError):
        band_powers(spec, np.array([0]), np.array([MAX_RUN + 2]), np.zeros(0, int),
                    np.zeros(400))
