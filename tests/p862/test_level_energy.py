"""The level stage's band energy (single-precision inverse transform, double-precision
sum) against the double-precision filter it stands for."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import soxr

from perceptq.p862 import level
from perceptq.p862.config import config_for

CLEAN = Path(__file__).parents[2] / "reference_audio" / "clean"


def _double_precision_energy(buf, n_signal, cfg):
    """The energy as the level stage computed it before: the double-precision filter."""
    filtered = level.curve_filter(buf, n_signal, cfg, "align_filter")
    seg = filtered[cfg.sb : cfg.sb + n_signal + cfg.pad]
    return float(np.sum(seg * seg))


@pytest.mark.parametrize("fs", [8000, 16000])
@pytest.mark.parametrize("name", sorted(p.name for p in CLEAN.glob("*.wav"))[:3])
@pytest.mark.parametrize("scale", [1.0, 32767.0, 1e-12])
def test_band_energy_matches_the_double_precision_filter(fs, name, scale):
    x, rate = sf.read(CLEAN / name)
    x = soxr.resample(x, rate, fs) * scale
    cfg = config_for(fs)
    buf = level.padded_buffer(x, cfg)
    spec, size = level._spectrum(buf, x.shape[0], cfg)
    kept = spec.copy()
    got = level.band_energy(spec, size, x.shape[0] + cfg.pad, cfg)
    assert np.array_equal(spec, kept)  # the spectrum is not consumed
    want = _double_precision_energy(buf, x.shape[0], cfg)
    assert got == pytest.approx(want, rel=1e-7)


def test_band_energy_of_a_band_too_faint_for_single_precision():
    cfg = config_for(8000)
    x = np.sin(2 * np.pi * 1000 * np.arange(8000) / 8000) * 1e-40
    buf = level.padded_buffer(x, cfg)
    spec, size = level._spectrum(buf, x.shape[0], cfg)
    got = level.band_energy(spec, size, x.shape[0] + cfg.pad, cfg)
    assert got > 0
    assert got == pytest.approx(_double_precision_energy(buf, x.shape[0], cfg), rel=1e-9)


def test_silence_has_no_band_energy():
    cfg = config_for(16000)
    buf = level.padded_buffer(np.zeros(16000), cfg)
    spec, size = level._spectrum(buf, 16000, cfg)
    assert level.band_energy(spec, size, 16000 + cfg.pad, cfg) == 0.0
