"""Clock drift: estimate in ppm and compensation in window scoring of long pairs."""

from __future__ import annotations

import numpy as np
import pytest
from speech import FS, conversation, delayed, noise, stretch

import perceptq
from perceptq.audio.source import ArraySource
from perceptq.errors import AlignmentError
from perceptq.recording import drift

PPM_TOL = 50.0
MOS_TOL = 0.1


def _pair(seconds: float, ppm: float, seed: int = 1):
    ref = conversation(seconds, seed)
    deg = delayed(stretch(ref, ppm), 80.0)
    return ref, deg + noise(deg.size, 0.003, seed + 10)


@pytest.fixture(scope="module")
def drift_free_60s():
    ref, deg = _pair(60.0, 0.0)
    return perceptq.score(ref, deg, sample_rate=FS)


@pytest.mark.parametrize("ppm", [300.0, -300.0, 1000.0, -1000.0])
def test_60s_drift_estimated_and_compensated(ppm, drift_free_60s):
    ref, deg = _pair(60.0, ppm)
    s = perceptq.score(ref, deg, sample_rate=FS)
    assert s.drift_ppm == pytest.approx(ppm, abs=PPM_TOL)
    assert s.mos == pytest.approx(drift_free_60s.mos, abs=MOS_TOL)
    assert s.diagnostics["drift"]["compensated"] is True
    assert any("clock drift" in w and "compensated" in w for w in s.warnings)
    assert (s.diagnostics["drift"]["hint"] is not None) == (abs(ppm) > 100)
    # Delays are reported in the recording's own clock: they follow the drift.
    first, last = s.utterances[0], s.utterances[-1]
    slope_ppm = (last.delay_ms - first.delay_ms) / (last.start_s - first.start_s) * 1e3
    assert slope_ppm == pytest.approx(ppm, abs=PPM_TOL)


def test_drift_free_60s_is_not_compensated(drift_free_60s):
    s = drift_free_60s
    assert abs(s.drift_ppm) < 10
    assert s.diagnostics["drift"]["compensated"] is False
    assert s.diagnostics["drift"]["hint"] is None
    assert s.mean_delay_ms == pytest.approx(80.0, abs=1.0)


@pytest.mark.slow
@pytest.mark.parametrize("ppm", [1000.0, -300.0])
def test_10min_drift(ppm):
    ref, deg = _pair(600.0, ppm, seed=7)
    free = perceptq.score(ref, _pair(600.0, 0.0, seed=7)[1], sample_rate=FS) if ppm == 1000.0 \
        else None
    s = perceptq.score(ref, deg, sample_rate=FS)
    assert s.drift_ppm == pytest.approx(ppm, abs=PPM_TOL)
    if free is not None:
        assert s.mos == pytest.approx(free.mos, abs=MOS_TOL)
    assert len(s.windows) >= 30


def test_estimator_on_sources_recovers_delay_and_drift():
    ref = conversation(40.0, seed=4)
    deg = delayed(stretch(ref, -600.0), 250.0)
    r, d = ArraySource(ref, FS, name="r"), ArraySource(deg, FS, name="d")
    line = drift.estimate(r, d, drift.envelope(r), drift.envelope(d))
    assert line.ppm == pytest.approx(-600.0, abs=10.0)
    assert line.d0 / FS * 1000 == pytest.approx(250.0, abs=0.5)
    assert line.reliable


def test_short_pair_reports_drift_without_changing_the_score():
    ref = conversation(9.0, seed=3)
    deg = stretch(ref, 800.0)
    s = perceptq.score(ref, deg, sample_rate=FS)
    assert s.drift_ppm == pytest.approx(800.0, abs=PPM_TOL)
    assert s.windows == ()
    assert s.diagnostics["drift"]["compensated"] is False
    from perceptq.p862 import model

    assert s.mos == model.evaluate(ref, deg, FS, "wb").mos


def test_unrelated_signals_cannot_be_aligned():
    ref = conversation(30.0, seed=1)
    other = np.zeros(30 * FS)
    r, d = ArraySource(ref, FS, name="r"), ArraySource(other, FS, name="silence.wav")
    with pytest.raises(AlignmentError, match=r"^silence.wav: could not align"):
        drift.estimate(r, d, drift.envelope(r), drift.envelope(d))


def test_theil_sen_ignores_an_outlier():
    x = np.arange(10.0)
    y = 3.0 + 0.5 * x
    y[4] = 100.0
    d0, k = drift.theil_sen(x, y)
    assert k == pytest.approx(0.5) and d0 == pytest.approx(3.0)


@pytest.mark.parametrize("n", range(2, drift.SMALL_FIT + 1))
def test_small_theil_sen_fits_are_numpys_to_the_bit(n, monkeypatch):
    """Fits of a few points run on Python floats: the same intercept and slope as the
    array computation (odd and even counts, repeated positions, outliers)."""
    rng = np.random.default_rng(n)
    small_fit = drift.SMALL_FIT
    for _ in range(20):
        x = np.sort(rng.uniform(0, 1e6, n))
        if rng.random() < 0.3:
            x[rng.integers(1, n)] = x[0]  # a repeated position: its pairs are left out
        y = rng.normal(50.0, 3.0, n) + rng.normal(0, 1e-4) * x
        small = drift.theil_sen(x, y)
        monkeypatch.setattr(drift, "SMALL_FIT", 0)
        assert drift.theil_sen(x, y) == small
        monkeypatch.setattr(drift, "SMALL_FIT", small_fit)
