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
