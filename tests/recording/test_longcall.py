"""Long recordings: window-by-window scoring on utterance boundaries, bounded memory."""

from __future__ import annotations

import itertools
import tracemalloc

import numpy as np
import pytest
import soundfile as sf
import soxr
from speech import FS, conversation, delayed, noise, sentence

import perceptq
from perceptq.p862 import model
from perceptq.recording import longcall


def pairwise_(ends, starts):
    """(end of window i, start of window i + 1)."""
    return zip(ends[:-1], starts[1:], strict=True)


def _pair(seconds: float, seed: int = 1, level: float = 0.003):
    ref = conversation(seconds, seed)
    deg = delayed(ref, 60.0)
    return ref, deg + noise(deg.size, level, seed + 20)


@pytest.fixture(scope="module")
def long60():
    ref, deg = _pair(60.0)
    return ref, deg, perceptq.score(ref, deg, sample_rate=FS)


def test_short_pair_is_scored_in_one_piece_unchanged():
    ref = np.concatenate((sentence("arctic_a0001.wav"), sentence("arctic_a0009.wav")))
    deg = delayed(ref, 30.0) + noise(ref.size + 480, 0.01, 3)
    s = perceptq.score(ref, deg, sample_rate=FS)
    assert s.mos == model.evaluate(ref, deg, FS, "wb").mos
    assert s.windows == ()
    assert not any("windows" in w for w in s.warnings)
    assert {r["kind"] for r in s.timeline} == {"utterance"}


def test_60s_pair_is_scored_in_windows_whose_mean_is_the_mos(long60):
    ref, _, s = long60
    assert 4 <= len(s.windows) <= 7
    assert s.mos == pytest.approx(np.mean([w["mos"] for w in s.windows]))
    assert s.category == perceptq.category_of(s.mos)
    starts = [w["start_s"] for w in s.windows]
    ends = [w["end_s"] for w in s.windows]
    assert starts == sorted(starts) and all(e <= s2 + 1e-9 for e, s2 in pairwise_(ends, starts))
    assert ends[-1] <= ref.size / FS + 1e-9
    assert all(5.0 < e - b < 30.0 for b, e in zip(starts, ends, strict=True))
    assert any("scored in" in w and "windows" in w for w in s.warnings)
    assert np.all(np.diff(s.frame_times_s) > 0)
    assert s.frame_times_s.size == s.frame_disturbance.size == s.frame_asymmetric_disturbance.size
    assert s.mean_delay_ms == pytest.approx(60.0, abs=1.0)
    assert len(s.utterances) >= 3 * len(s.windows)


def test_windows_are_cut_in_pauses(long60):
    ref, _, s = long60
    for w in s.windows[1:]:
        a = round(w["start_s"] * FS)
        assert np.abs(ref[a - 800 : a + 800]).max() < 0.02, f"cut at {w['start_s']:.2f} s"


def test_window_length_is_configurable(long60):
    ref, deg, s = long60
    short = perceptq.score(ref, deg, sample_rate=FS, window_s=5.0)
    assert len(short.windows) >= 1.6 * len(s.windows)
    assert short.mos == pytest.approx(s.mos, abs=0.15)
    with pytest.raises(ValueError, match="window_s"):
        perceptq.score(ref, deg, sample_rate=FS, window_s=0)


def test_files_are_streamed_with_the_same_result_as_arrays(long60, tmp_path):
    ref, deg, s = long60
    sf.write(tmp_path / "r.wav", ref, FS, "FLOAT")
    sf.write(tmp_path / "d.wav", deg, FS, "FLOAT")
    f = perceptq.score(tmp_path / "r.wav", tmp_path / "d.wav")
    assert f.mos == pytest.approx(s.mos, abs=1e-6)
    assert f.reference_info.duration_s == pytest.approx(60.0)
    # A 48 kHz recording is resampled while streaming.
    sf.write(tmp_path / "d48.wav", soxr.resample(deg, FS, 48000), 48000, "FLOAT")
    r48 = perceptq.score(tmp_path / "r.wav", tmp_path / "d48.wav")
    assert r48.mode == "wb" and r48.degraded_info.resampled
    assert r48.mos == pytest.approx(s.mos, abs=0.1)


def test_narrowband_long_pair():
    ref, deg = _pair(50.0, seed=2)
    r8, d8 = soxr.resample(ref, FS, 8000), soxr.resample(deg, FS, 8000)
    s = perceptq.score(r8, d8, sample_rate=8000)
    assert s.mode == "nb" and s.sample_rate == 8000 and len(s.windows) >= 3
    assert 1.0 < s.mos < 4.6


def test_windows_beyond_a_cut_recording_are_dropped_with_a_warning():
    ref, deg = _pair(60.0, seed=3)
    s = perceptq.score(ref, deg[: 30 * FS], sample_rate=FS)
    assert any("dropped" in w for w in s.warnings)
    assert s.windows[-1]["start_s"] < 31.0


def test_memory_does_not_grow_with_duration(tmp_path):
    peaks = []
    model.warm_up()
    for minutes in (1, 3):
        ref, deg = _pair(60.0 * minutes, seed=4)
        sf.write(tmp_path / f"r{minutes}.wav", ref, FS, "PCM_16")
        sf.write(tmp_path / f"d{minutes}.wav", np.clip(deg, -1, 1), FS, "PCM_16")
        del ref, deg
        tracemalloc.start()
        try:
            perceptq.score(tmp_path / f"r{minutes}.wav", tmp_path / f"d{minutes}.wav")
            peaks.append(tracemalloc.get_traced_memory()[1])
        finally:
            tracemalloc.stop()
    # One 3-minute float64 signal alone is 23 MB; the windowed scorer stays near its
    # 1-minute peak instead of tripling.
    assert peaks[1] < 1.2 * peaks[0], peaks


def test_plan_windows_groups_speech_runs():
    ref = conversation(45.0, seed=6)
    from perceptq.audio.source import ArraySource
    from perceptq.recording import drift

    windows = longcall.plan_windows(drift.envelope(ArraySource(ref, FS, name="r")), FS,
                                    ref.size, 10.0)
    assert 3 <= len(windows) <= 5
    assert all(b > a for a, b in windows)
    assert all(b1 <= a2 for (_, b1), (a2, _) in itertools.pairwise(windows))
    assert longcall.plan_windows(np.zeros(100), FS, 6400, 10.0) == [(0, 6400)]


def test_silent_long_reference_is_refused_quickly():
    with pytest.raises(perceptq.NoSpeechError, match="silent"):
        perceptq.score(np.zeros(45 * FS), noise(45 * FS, 0.01, 1), sample_rate=FS)


@pytest.mark.parametrize("jump_ms", [400.0, -300.0])
def test_delay_jump_in_a_long_call_is_followed(jump_ms):
    ref, deg = _pair(60.0, seed=1)
    steady = perceptq.score(ref, deg, sample_rate=FS)
    j = round(steady.windows[2]["start_s"] * FS) + round(0.06 * FS)  # inside a pause
    k = round(abs(jump_ms) * FS / 1000)
    if jump_ms > 0:
        jumped = np.concatenate((deg[:j], np.zeros(k), deg[j:]))
    else:
        jumped = np.concatenate((deg[:j], deg[j + k :]))
    s = perceptq.score(ref, jumped, sample_rate=FS)
    assert s.mos == pytest.approx(steady.mos, abs=0.05)
    dv = s.diagnostics["delay_variation"]
    assert dv["jumps"] >= 1 and dv["range_ms"] == pytest.approx(abs(jump_ms), abs=5.0)
    assert dv["hint"] is not None
