"""The scipy-free filters of the checks and diagnostics give scipy.signal's numbers."""

import numpy as np
import pytest
from scipy import signal

from perceptq.audio import filters


@pytest.mark.parametrize("fs", [8000, 16000, 44100])
@pytest.mark.parametrize("design", sorted(filters.DESIGNS))
def test_design_and_filtering_match_scipy(design, fs):
    order, cut, band = filters.DESIGNS[design]
    expected = signal.butter(order, cut, band, fs=fs, output="sos")
    sos = filters.butter_sos(design, fs)
    np.testing.assert_array_equal(sos, expected)
    rng = np.random.default_rng(fs)
    x = rng.standard_normal(20000)
    zi = rng.standard_normal((sos.shape[0], 2))
    y_ref, z_ref = signal.sosfilt(expected, x, zi=zi)
    y, z = filters.sosfilt(sos, x, zi)
    np.testing.assert_array_equal(y, y_ref)
    np.testing.assert_array_equal(z, z_ref)
    np.testing.assert_array_equal(filters.sosfilt(sos, x)[0], signal.sosfilt(expected, x))


def test_cascades_of_any_length_match_scipy():
    """Sections run in groups of four plus a remainder: every remainder gives scipy's result."""
    rng = np.random.default_rng(7)
    x = rng.standard_normal(5000)
    for order in (1, 2, 3, 5, 6, 7):
        sos = signal.butter(order, [300.0, 3000.0], "bandpass", fs=16000, output="sos")
        zi = rng.standard_normal((sos.shape[0], 2))
        y_ref, z_ref = signal.sosfilt(sos, x, zi=zi)
        y, z = filters.sosfilt(sos, x, zi)
        np.testing.assert_array_equal(y, y_ref)
        np.testing.assert_array_equal(z, z_ref)


@pytest.mark.parametrize("order", [1, 2, 4, 5, 9])
@pytest.mark.parametrize("lengths", [(3000, 3000), (3000, 1700), (1700, 3000), (2500, 0),
                                     (0, 2500), (0, 0), (1, 4)])
def test_pair_filters_each_signal_as_scipy_does(order, lengths):
    """Two signals side by side (any lengths, offsets subtracted first, states carried in
    and out) give, each, scipy's result on the signal less its offset, to the bit."""
    rng = np.random.default_rng(order * 1000 + lengths[0] + 7 * lengths[1])
    sos = signal.butter(order, [200.0, 3000.0], "bandpass", fs=16000, output="sos")
    x, y = (rng.standard_normal(n) * 0.3 + 0.1 for n in lengths)
    zx, zy = (rng.standard_normal((sos.shape[0], 2)) for _ in range(2))
    ox, oy = float(rng.normal()), float(rng.normal())
    fx, fy, sx, sy = filters.sosfilt_pair(sos, x, y, zx, zy, offsets=(ox, oy))
    for f, s, v, o, z in ((fx, sx, x, ox, zx), (fy, sy, y, oy, zy)):
        # (scipy refuses an empty signal: it is returned unchanged, its state too)
        expected, state = signal.sosfilt(sos, v - o, zi=z) if v.size else (v, z)
        np.testing.assert_array_equal(f, expected)
        np.testing.assert_array_equal(s, state)
