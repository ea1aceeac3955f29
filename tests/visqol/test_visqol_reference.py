"""Agreement with visqol-python, the PyPI port of ViSQOL v3 (test-only dependency).

On pairs whose global alignment is unambiguous (no delay) both implementations run the
same arithmetic, so they agree to rounding; where alignment is ambiguous they may differ
(visqol-python aligns on true Hilbert envelopes, ViSQOL and perceptq on rectified signals).
"""

from __future__ import annotations

import logging

import numpy as np
import pytest
from scipy.signal import butter, sosfilt
from visqol_signals import music

from perceptq.visqol import VisqolConfig, evaluate

visqol = pytest.importorskip("visqol")

FS = 48000
ATOL = 1e-6


@pytest.fixture(scope="module")
def theirs():
    from visqol.audio_utils import AudioSignal
    from visqol.visqol_manager import VisqolManager

    logging.getLogger("visqol").setLevel(logging.ERROR)
    manager = VisqolManager()
    manager.init(model_path=str(_model_path()), use_speech_mode=False)

    def run(ref, deg):
        return manager.run_from_signals(AudioSignal(ref, FS), AudioSignal(deg, FS)).moslqo

    return run


def _model_path():
    from perceptq.visqol.mapping import SVR_MODEL_PATH

    return SVR_MODEL_PATH


def _degrade(x: np.ndarray, kind: str) -> np.ndarray:
    if kind == "lowpass":
        return sosfilt(butter(8, 6000, fs=FS, output="sos"), x)
    if kind == "noise":
        rng = np.random.default_rng(5)
        return x + 0.05 * np.std(x) * rng.standard_normal(x.shape)
    return x.copy()


@pytest.mark.parametrize("kind", ["lowpass", "noise"])
def test_agrees_with_visqol_python(theirs, kind):
    ref = music(3.0, FS, seed=11)
    deg = _degrade(ref, kind)
    ours = evaluate(ref, deg, VisqolConfig("audio", FS)).mos
    np.testing.assert_allclose(ours, theirs(ref, deg), rtol=0, atol=ATOL)
