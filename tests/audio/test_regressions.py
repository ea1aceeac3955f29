"""Regression tests for crashes found by fuzzing (fuzz/fuzz_loader.py), plus a short bounded
fuzz run. Each crash input is rebuilt here from a description, not stored as a blob.
"""

from __future__ import annotations

import io as _io
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

import perceptq

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "fuzz"))
import fuzz_loader

REF = Path(__file__).parents[2] / "reference_audio" / "clean" / "arctic_a0001.wav"


def _wav(tmp_path: Path, name: str, x: np.ndarray, fs: int, subtype: str) -> Path:
    path = tmp_path / name
    sf.write(path, x, fs, subtype=subtype)
    return path


def test_huge_float_samples_are_refused_not_overflowing(tmp_path):
    """Fuzz crash (seed 1): a 64-bit float WAV with a sample of 8.99e307 read fine, then the
    signal power overflowed to inf/NaN downstream and an IndexError escaped scoring."""
    x, fs = sf.read(REF)
    x = x[: fs]
    x[100] = 8.99e307
    deg = _wav(tmp_path, "huge.wav", x, fs, "DOUBLE")
    with pytest.raises(perceptq.InvalidAudioError, match=r"samples reach 8\.99e\+307, far beyond"):
        perceptq.score(REF, deg)


@pytest.mark.parametrize("peak", [2.0, 32767.0, 9.9e5])
def test_large_but_bounded_float_samples_still_score(tmp_path, peak):
    """The bound that fixed the crash above leaves mis-scaled but usable signals alone."""
    x, fs = sf.read(REF)
    deg = _wav(tmp_path, "loud.wav", x / np.max(np.abs(x)) * peak, fs, "FLOAT")
    s = perceptq.score(REF, deg)
    assert s.mos == pytest.approx(4.644, abs=2e-3)
    assert any("exceed ±1.0 full scale" in w for w in s.warnings)


def test_huge_values_in_arrays_are_refused():
    x, fs = sf.read(REF)
    with pytest.raises(perceptq.InvalidAudioError, match=r"^degraded: samples reach 1e\+20"):
        perceptq.score(x, np.where(np.arange(x.size) == 5, 1e20, x), sample_rate=fs)


def test_fuzz_seed_files_load_and_score():
    """Every seed file of the fuzzer is valid audio that scores."""
    for data in fuzz_loader.seeds():
        fuzz_loader.check_loader(data)
        fuzz_loader.check_score(data, as_reference=False)
        info = sf.info(_io.BytesIO(data))
        assert info.frames > 0


def test_fuzz_flags_a_non_perceptq_exception(monkeypatch, tmp_path):
    """The harness itself can fail: an escaping exception is reported as a crash."""
    def broken(*_a, **_k):
        raise IndexError("boom")

    monkeypatch.setattr(fuzz_loader.perceptq, "score", broken)
    monkeypatch.setattr(fuzz_loader, "CRASH_DIR", tmp_path)
    with pytest.raises(fuzz_loader.FuzzCrash, match="IndexError: boom"):
        fuzz_loader.check_score(fuzz_loader.seeds()[0], as_reference=False)
    assert len(list(tmp_path.glob("score-*.bin"))) == 1


def test_bounded_fuzz_run():
    """About 25 s of fuzzing of the loader, file scoring and array scoring."""
    t0 = time.monotonic()
    rounds = fuzz_loader.run(20.0, seed=20240862, examples_per_round=10)
    assert rounds >= 1
    assert time.monotonic() - t0 < 60
