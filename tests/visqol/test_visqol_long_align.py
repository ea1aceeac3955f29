"""The global alignment of long inputs: lean buffers, the same transform, the same lag."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.fft
from scipy.signal import butter, sosfilt

import perceptq.visqol.align as align
from perceptq.visqol.align import envelope_lag, fast_length, upper_envelope


def _previous_envelope_lag(ref, deg):
    """The whole-signal correlation as written before the lean buffers (the oracle)."""
    n = max(ref.shape[0], deg.shape[0])
    points = fast_length(2 * n - 1)
    spec = scipy.fft.rfft(upper_envelope(ref, np.float32), points)
    spec *= np.conj(scipy.fft.rfft(upper_envelope(deg, np.float32), points))
    xcorr = scipy.fft.irfft(spec, points)
    lags = np.concatenate((np.arange(-(n - 1), 0), np.arange(n)))
    values = np.concatenate((xcorr[points - (n - 1) :], xcorr[:n]))
    return int(lags[int(np.argmax(values))]), xcorr


def test_envelope_written_into_a_buffer_is_the_same():
    x = np.random.default_rng(5).standard_normal(12345)
    buf = np.full(20000, 7.0, dtype=np.float32)
    upper_envelope(x, np.float32, out=buf[: x.shape[0]])
    np.testing.assert_array_equal(buf[: x.shape[0]], upper_envelope(x, np.float32))
    assert np.all(buf[x.shape[0] :] == 7.0)


@pytest.mark.parametrize("n", [9999, 200_000])
def test_long_path_correlation_is_bit_identical(monkeypatch, n):
    rng = np.random.default_rng(n)
    ref = rng.standard_normal(n)
    deg = np.roll(ref, 321) + 0.2 * rng.standard_normal(n)
    points = fast_length(2 * n - 1)
    lean = align._long_spectrum(align._enveloper(ref), points)
    lean *= np.conj(align._long_spectrum(align._enveloper(deg), points))
    lag, xcorr = _previous_envelope_lag(ref, deg)
    np.testing.assert_array_equal(scipy.fft.irfft(lean, points, overwrite_x=True), xcorr)
    monkeypatch.setattr(align, "LONG_FFT", 100)  # take the lean scipy.fft path
    assert envelope_lag(ref, deg) == lag == -321


@pytest.mark.slow
@pytest.mark.parametrize(("seconds", "delay"), [(95.0, 480), (100.0, -12_345), (150.0, 48_000)])
def test_long_pairs_keep_the_lag(seconds, delay):
    """Above LONG_FFT: the known delay (plus the low-pass's own) and the previous code's lag."""
    fs = 48000
    rng = np.random.default_rng(int(seconds))
    n = int(seconds * fs)
    t = np.arange(n) / fs
    ref = (np.sin(2 * np.pi * 220 * t) * (1.2 + np.sin(2 * np.pi * 0.7 * t))
           + 0.3 * rng.standard_normal(n) * (np.sin(2 * np.pi * 3.1 * t) > 0.5))
    assert n > align.LONG_FFT
    deg = np.zeros(n + 1000)
    if delay >= 0:
        deg[delay : delay + n] = ref[: deg.shape[0] - delay]
    else:
        deg[: n + delay] = ref[-delay:]
    deg = sosfilt(butter(4, 7000, fs=fs, output="sos"), deg)
    deg += 0.01 * rng.standard_normal(deg.shape[0])
    lag = envelope_lag(ref, deg)
    assert lag == _previous_envelope_lag(ref, deg)[0]
    assert abs(lag + delay) <= 3  # deg late: negative lag; the filter adds a few samples
