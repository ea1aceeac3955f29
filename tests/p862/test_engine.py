"""Unit tests of the scoring engine's stages and of the public scoring API."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import soxr
from scipy.signal import lfilter

import perceptq
from perceptq.p862 import _kernels, level, mapping, tables
from perceptq.p862.config import config_for
from perceptq.p862.model import evaluate

CLEAN = Path(__file__).parents[2] / "reference_audio" / "clean"
RTOL = 1e-9
ATOL = 1e-9


def speech(fs: int, name: str = "arctic_a0001.wav") -> np.ndarray:
    files = sorted(CLEAN.glob("*.wav"))
    path = CLEAN / name if (CLEAN / name).exists() else files[0]
    x, rate = sf.read(path)
    return soxr.resample(x, rate, fs) if rate != fs else x


# --- tables and mapping -------------------------------------------------------------------


@pytest.mark.parametrize(("fs", "n_bands"), [(8000, 42), (16000, 49)])
def test_bark_tables_cover_half_spectrum(fs, n_bands):
    bark = tables.bark_table(fs)
    assert bark.n_bands == n_bands
    assert bark.band_of_bin.shape == (config_for(fs).nf // 2,)
    assert np.all(np.diff(bark.centre_bark) > 0)
    assert not bark.abs_thresh.flags.writeable


def test_bark_tables_differ_only_from_band_41():
    b8, b16 = tables.bark_table(8000), tables.bark_table(16000)
    np.testing.assert_array_equal(b8.correction[:41], b16.correction[:41])
    np.testing.assert_array_equal(b8.centre_bark, b16.centre_bark[:42])
    assert b8.n_bins[41] == 11 and b16.n_bins[41] == 12


def test_mapping_end_points_and_inverse():
    assert mapping.mos_lqo(4.5, "nb") == pytest.approx(4.549, abs=1e-3)
    assert mapping.mos_lqo(4.5, "wb") == pytest.approx(4.644, abs=1e-3)
    assert mapping.mos_lqo(-0.5, "nb") == pytest.approx(1.017, abs=1e-3)
    for raw in (-0.3, 1.0, 2.5, 4.2):
        for mode in ("nb", "wb"):
            assert mapping.raw_from_mos(mapping.mos_lqo(raw, mode), mode) == pytest.approx(raw)


# --- kernel parity with slow numpy references ------------------------------------------


def test_biquad_cascade_matches_scipy():
    rng = np.random.default_rng(3)
    x = rng.standard_normal(4000)
    sos = tables.align_sos(8000)
    y = x.copy()
    for b0, b1, b2, a1, a2 in sos:
        y = lfilter([b0, b1, b2], [1.0, a1, a2], y)
    np.testing.assert_allclose(level.cascade_pair(x, x[:1], np.asarray(sos))[0], y,
                               rtol=1e-7, atol=1e-9)


def test_pseudo_lp_and_lpq_match_numpy():
    rng = np.random.default_rng(4)
    v = rng.standard_normal(42)
    w = rng.random(42) + 0.1
    for p in (1.0, 2.0):
        ref = (np.sum((np.abs(v[1:]) * w[1:]) ** p) / w[1:].sum()) ** (1 / p) * w[1:].sum()
        assert _kernels._pseudo_lp(v, w, p) == pytest.approx(ref, rel=RTOL)
    x = rng.random(95) * 10
    tw = np.linspace(1.0, 1.5, 95)
    start, stop = 3, 90
    vals, wts = [], []
    for s in range(start, stop + 1, 10):
        seg = x[s : min(s + 20, stop + 1)]
        vals.append((np.sum(seg**6) / 20) ** (1 / 6))
        wts.append(tw[s - start])
    vals, wts = np.array(vals), np.array(wts)
    ref = (np.sum((wts * vals) ** 2) / np.sum(wts**2)) ** 0.5
    assert _kernels._lpq_kernel(x, start, stop, 6.0, 2.0, tw) == pytest.approx(ref, rel=RTOL)


def test_frame_disturbance_kernel_matches_numpy():
    rng = np.random.default_rng(5)
    bark = tables.bark_table(8000)
    cfg = config_for(8000)
    ppd_ref = rng.random((6, bark.n_bands)) * 1e4 * bark.abs_thresh.max() ** 0.2
    ppd_deg = ppd_ref * rng.uniform(0.2, 5.0, ppd_ref.shape)
    fd, fa, tp = _kernels._frame_disturbance_kernel(
        ppd_ref, ppd_deg, bark.abs_thresh, bark.centre_bark, bark.width_bark, cfg.sl, 1.0, False
    )
    thr, z, w = bark.abs_thresh, bark.centre_bark, bark.width_bark
    h = np.minimum(np.where(z < 4, 6 / (z + 2), 1.0), 2.0)
    gamma = 0.23 * h**0.15

    def loud(p):
        scale = cfg.sl * (thr / 0.5) ** gamma
        return np.where(p > thr, scale * ((0.5 + 0.5 * p / thr) ** gamma - 1), 0)

    def lp(v, p):
        return (np.sum((np.abs(v[1:]) * w[1:]) ** p) / w[1:].sum()) ** (1 / p) * w[1:].sum()

    g_prev = 1.0
    for f in range(6):
        a_ref = np.sum(np.where(ppd_ref[f, 1:] > thr[1:], ppd_ref[f, 1:], 0))
        a_deg = np.sum(np.where(ppd_deg[f, 1:] > thr[1:], ppd_deg[f, 1:], 0))
        g = (a_ref + 5000) / (a_deg + 5000)
        if f > 0:
            g = 0.2 * g_prev + 0.8 * g
        g_prev = g
        g = np.clip(g, 3e-4, 5)
        pd = ppd_deg[f] * g
        r = loud(pd) - loud(ppd_ref[f])
        m = 0.25 * np.minimum(loud(pd), loud(ppd_ref[f]))
        d = np.where(r > m, r - m, np.where(r < -m, r + m, 0))
        a = np.minimum(((pd + 50) / (ppd_ref[f] + 50)) ** 1.2, 12)
        a[a < 3] = 0
        assert tp[f] == pytest.approx(a_ref, rel=RTOL)
        assert fd[f] == pytest.approx(lp(d, 2), rel=1e-9, abs=ATOL)
        assert fa[f] == pytest.approx(lp(d * a, 1), rel=1e-9, abs=ATOL)


# --- model behaviour --------------------------------------------------------------------


@pytest.mark.parametrize(("fs", "mode", "top"), [(8000, "nb", 4.549), (16000, "nb", 4.549),
                                                 (16000, "wb", 4.644)])
def test_identical_inputs_give_top_score(fs, mode, top):
    x = speech(fs)
    out = evaluate(x, x.copy(), fs, mode)
    assert out.mos == pytest.approx(top, abs=1e-3)
    assert out.raw == pytest.approx(4.5, abs=1e-3)


@pytest.mark.parametrize("delay_ms", [-180.0, 0.0, 37.5, 250.0, 480.0])
def test_known_delay_is_recovered_with_sign(delay_ms):
    fs = 8000
    x = speech(fs)
    n = round(abs(delay_ms) * fs / 1000)
    pad = np.zeros(n)
    deg = np.concatenate((pad, x)) if delay_ms >= 0 else np.concatenate((x[n:], pad))
    out = evaluate(x, deg, fs, "nb")
    for u in out.utterances:
        assert u.delay_ms == pytest.approx(delay_ms, abs=1000 / fs)
    assert out.mos > 4.3


def test_delay_jump_splits_utterance():
    fs = 8000
    x = speech(fs, "arctic_a0001_a0009.wav")
    mid = len(x) // 2
    # find a quiet-ish point is not needed: a jump inside speech must still be found
    deg = np.concatenate((x[:mid], np.zeros(int(0.08 * fs)), x[mid:]))
    out = evaluate(x, deg, fs, "nb")
    delays = sorted({round(u.delay_ms) for u in out.utterances})
    assert delays[0] == pytest.approx(0, abs=1) and delays[-1] == pytest.approx(80, abs=1)


def test_more_noise_scores_lower():
    fs = 16000
    x = speech(fs)
    rng = np.random.default_rng(7)
    noise = rng.standard_normal(len(x)) * np.std(x)
    scores = [evaluate(x, x + noise * 10 ** (-snr / 20), fs, "wb").mos for snr in (40, 20, 10, 0)]
    assert all(a > b for a, b in itertools.pairwise(scores))


def test_many_utterances_beyond_fifty():
    fs = 8000
    x = speech(fs, "arctic_a0009.wav")
    burst = x[: int(0.6 * fs)]
    gap = np.zeros(int(0.5 * fs))
    ref = np.concatenate([np.concatenate((burst, gap)) for _ in range(60)])
    out = evaluate(ref, ref * 0.5, fs, "nb")
    assert len(out.utterances) > 50
    assert out.mos == pytest.approx(4.549, abs=0.01)


# --- public API ---------------------------------------------------------------------------


def test_score_arrays_need_sample_rate():
    with pytest.raises(perceptq.InvalidAudioError, match="sample_rate is required"):
        perceptq.score(np.zeros(8000), np.zeros(8000))


def test_score_resamples_and_records_handling():
    x = speech(16000)
    x44 = soxr.resample(x, 16000, 44100)
    stereo = np.stack([x44, x44], axis=1)
    s = perceptq.score(x44, stereo, sample_rate=44100)
    assert s.mode == "wb" and s.sample_rate == 16000
    assert s.reference_info.resampled and s.degraded_info.channels == 2
    assert s.mos > 4.4
    assert s.category == perceptq.category_of(s.mos)
    nb = perceptq.score(x44, stereo, sample_rate=44100, mode="nb")
    assert nb.sample_rate == 8000 and nb.mode == "nb"


def test_pesq_dropin_signature_and_errors():
    x = speech(8000)
    assert perceptq.pesq(8000, x, x, "nb") == pytest.approx(4.549, abs=1e-3)
    with pytest.raises(perceptq.UnsupportedRateError):
        perceptq.pesq(8000, x, x, "wb")
    with pytest.raises(perceptq.UnsupportedRateError):
        perceptq.pesq(44100, x, x, "nb")


def test_score_to_dict_is_json_serialisable():
    import json

    x = speech(8000)
    d = perceptq.score(x, x * 0.3, sample_rate=8000).to_dict()
    back = json.loads(json.dumps(d))
    assert back["category"] in ("Excellent", "Good") and len(back["frame_disturbance"]) > 10
    assert back["utterances"][0]["delay_ms"] == pytest.approx(0.0)


def test_silent_reference_is_no_speech_error():
    with pytest.raises(perceptq.NoSpeechError, match="reference"):
        perceptq.score(np.zeros(16000), np.zeros(16000), sample_rate=8000)


@pytest.mark.parametrize(("mos", "label"), [(4.6, "Excellent"), (4.5, "Excellent"), (4.2, "Good"),
                                            (3.5, "Fair"), (3.2, "Poor"), (1.2, "Bad")])
def test_category_labels(mos, label):
    assert perceptq.category_of(mos) == label
