"""Behaviour of the ViSQOL model on synthetic signals: identity, noise, delay, gain, odd input."""

from __future__ import annotations

import numpy as np
import pytest
from visqol_signals import music

from perceptq.errors import InvalidAudioError
from perceptq.visqol import VisqolConfig, evaluate
from perceptq.visqol.mapping import svr_mos

FS = 48000
AUDIO = VisqolConfig("audio", FS)


@pytest.fixture(scope="module")
def ref() -> np.ndarray:
    return music()


def test_identical_pair_gets_the_top_audio_score(ref):
    res = evaluate(ref, ref, AUDIO)
    assert res.vnsim == pytest.approx(1.0, abs=1e-12)
    assert res.mos == pytest.approx(svr_mos(np.ones(32)), abs=1e-9)
    assert res.delay_s == 0.0
    assert all(not p.lost for p in res.patches)


def test_score_falls_monotonically_with_noise(ref):
    rng = np.random.default_rng(1)
    noise = rng.standard_normal(ref.shape)
    noise *= np.sqrt(np.mean(ref**2) / np.mean(noise**2))
    scores = [evaluate(ref, ref + noise * 10 ** (-snr / 20), AUDIO).mos for snr in (40, 20, 5)]
    assert scores[0] > scores[1] > scores[2]
    assert all(np.isfinite(scores))


def test_gain_is_neutral(ref):
    same = evaluate(ref, ref, AUDIO)
    quiet = evaluate(ref, 0.05 * ref, AUDIO)
    np.testing.assert_allclose(quiet.mos, same.mos, atol=1e-9)


def test_delay_is_recovered_with_sign(ref):
    delay = int(0.1 * FS)
    late = np.concatenate((np.zeros(delay), ref))[: ref.shape[0]]
    res = evaluate(ref, late, AUDIO)
    assert res.delay_s == pytest.approx(0.1, abs=2 / FS)
    assert res.mos > 4.0


def test_speech_mode_on_speech_rate_signal():
    x = music(fs=16000, seed=3)
    res = evaluate(x, x, VisqolConfig("speech", 16000))
    assert res.fvnsim.shape == (21,)
    assert res.mos == pytest.approx(5.0, abs=1e-6)


def test_too_short_reference_is_a_clear_error():
    x = music(0.5)
    with pytest.raises(InvalidAudioError, match="too short"):
        evaluate(x, x, AUDIO)
    with pytest.raises(InvalidAudioError, match="too short"):
        evaluate(x[:1000], x[:1000], AUDIO)


def test_silent_degraded_scores_one_without_nan(ref):
    res = evaluate(ref, np.zeros_like(ref), AUDIO)
    assert res.mos == 1.0
    assert np.isfinite(res.vnsim)


def test_silent_reference_is_a_clear_error():
    with pytest.raises(InvalidAudioError, match="silent"):
        evaluate(np.zeros(16000 * 2), np.zeros(16000 * 2), VisqolConfig("speech", 16000))


def test_much_shorter_degraded_still_scores(ref):
    res = evaluate(ref, ref[: ref.shape[0] // 3], AUDIO)
    assert 1.0 <= res.mos <= 5.0
