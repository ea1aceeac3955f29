"""Units of perceptq.audio: io (reading and validating), preprocess and checks."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

import perceptq
from perceptq.audio import checks, io, preprocess

REF = Path(__file__).parents[2] / "reference_audio" / "clean" / "arctic_a0001.wav"


def test_read_audio_returns_float64_with_format_and_no_notes():
    a = io.read_audio(REF)
    assert a.samples.dtype == np.float64 and a.samples.ndim == 1
    assert (a.sample_rate, a.sample_format, a.notes) == (16000, "PCM_16", ())
    assert a.duration_s == pytest.approx(3.53)
    assert a.name == str(REF)


@pytest.mark.parametrize(
    ("dtype", "value", "expected"),
    [("int16", -32768, -1.0), ("int16", 16384, 0.5), ("int32", 2**30, 0.5),
     ("uint8", 0, -1.0), ("uint8", 192, 0.5), ("int8", -64, -0.5)],
)
def test_integer_arrays_are_scaled_as_pcm(dtype, value, expected):
    x = np.full(4000, value, dtype=dtype)
    a = io.validate_samples(x, 8000, name="x")
    assert a.samples[0] == expected and a.sample_format == dtype


def test_channels_first_arrays_are_transposed():
    x = np.zeros((2, 4000))
    assert io.validate_samples(x, 8000, name="x").samples.shape == (4000, 2)


@pytest.mark.parametrize(
    ("x", "rate", "message"),
    [
        (np.zeros(4000), None, "x: sample_rate is required"),
        (np.zeros(4000), "fast", "x: sample_rate 'fast' is not a number"),
        (np.zeros(4000), 8000.5, "x: sample rate 8000.5 is not a positive integer"),
        (np.zeros(4000), float("nan"), "is not a positive integer"),
        (np.zeros(4000), 1_000_000, "above the supported maximum"),
        (np.zeros(4000, dtype=bool), 8000, "x: boolean array is not audio"),
        (np.array(["a"] * 4000), 8000, "x: dtype <U1 is not audio"),
        (np.zeros((10, 10, 10)), 8000, "x: expected an array of shape (n,) or (n, channels)"),
        (np.zeros((0, 2)), 8000, "x: audio is empty (0 samples)"),
        (np.zeros(1999), 8000, "x: audio is too short (0.250 s)"[:27]),
        (np.zeros((4000, 100)), 8000, "x: 100 channels (1 to 64 supported"),
    ],
)
def test_validate_samples_rejects_with_named_message(x, rate, message):
    with pytest.raises(perceptq.InvalidAudioError) as info:
        io.validate_samples(x, rate, name="x")
    assert message in str(info.value)


def test_load_rejects_other_types():
    with pytest.raises(perceptq.InvalidAudioError, match=r"^degraded: expected a file path"):
        io.load(42, 8000, role="degraded")


def test_max_duration_defaults_and_validation(monkeypatch):
    monkeypatch.delenv(io.ENV_MAX_DURATION, raising=False)
    assert io.max_duration_s() == io.MAX_DURATION_S == 600.0
    assert io.max_duration_s(5) == 5.0
    with pytest.raises(ValueError, match="must be a positive number"):
        io.max_duration_s(0)
    monkeypatch.setenv(io.ENV_MAX_DURATION, "7200")
    assert io.max_duration_s() == 7200.0


def test_truncation_note_only_for_short_data_chunks(tmp_path):
    raw = REF.read_bytes()
    whole = tmp_path / "whole.wav"
    whole.write_bytes(raw)
    assert io.read_audio(whole).notes == ()
    cut = tmp_path / "cut.wav"
    cut.write_bytes(raw[: len(raw) // 2])
    (note,) = io.read_audio(cut).notes
    assert note.startswith(f"{cut}: file is truncated: its header declares 3.53 s")
    # A streaming header (data size 0xFFFFFFFF) is not a truncation.
    stream = bytearray(raw)
    pos = raw.index(b"data")
    stream[pos + 4: pos + 8] = struct.pack("<I", 0xFFFFFFFF)
    streamed = tmp_path / "stream.wav"
    streamed.write_bytes(bytes(stream))
    assert io.read_audio(streamed).notes == ()


def test_header_rate_is_checked_before_reading(tmp_path, monkeypatch):
    path = tmp_path / "slow.wav"
    sf.write(path, np.zeros(6000), 6000)

    def no_read(*_a, **_k):
        raise AssertionError("samples were read")

    monkeypatch.setattr(sf.SoundFile, "read", no_read)
    with pytest.raises(perceptq.UnsupportedRateError, match="6000 Hz is below"):
        io.read_audio(path)


def test_resolve_mode_and_model_rate():
    assert preprocess.resolve_mode("auto", 16000, 44100) == "wb"
    assert preprocess.resolve_mode("auto", 8000, 44100) == "nb"
    with pytest.raises(perceptq.UnsupportedRateError, match=r"^reference: wideband mode needs"):
        preprocess.resolve_mode("wb", 8000, 16000)
    with pytest.raises(perceptq.UnsupportedRateError, match=r"^degraded: .* got 11025 Hz"):
        preprocess.resolve_mode("wb", 16000, 11025)
    with pytest.raises(ValueError, match="mode 'xb'"):
        preprocess.resolve_mode("xb", 8000, 8000)
    assert preprocess.model_rate("nb", 16000, 16000) == 16000
    assert preprocess.model_rate("nb", 16000, 44100) == 8000


def test_activity_measures_speech_and_level():
    x, fs = sf.read(REF)
    act = checks.activity(x, fs)
    assert 2.0 < act.active_s < 3.2  # 3.53 s file with leading/trailing silence
    quieter = checks.activity(x * 0.1, fs)
    assert quieter.active_level_db == pytest.approx(act.active_level_db - 20, abs=0.01)
    assert act.spread_db > 30


def test_require_speech_passes_speech_and_names_steady_signals():
    x, fs = sf.read(REF)
    checks.require_speech(x, fs, "ref.wav")
    rng = np.random.default_rng(0)
    hum = 0.1 * np.sin(2 * np.pi * 50 * np.arange(3 * fs) / fs)
    with pytest.raises(perceptq.NoSpeechError, match=r"^ref\.wav: no speech"):
        checks.require_speech(hum, fs, "ref.wav")  # mains hum: a steady tone
    with pytest.raises(perceptq.NoSpeechError, match="steady noise"):
        checks.require_speech(rng.standard_normal(3 * fs), fs, "ref.wav")


def test_result_warnings_flag_unscored_speech_only():
    from perceptq.result import Utterance

    x, fs = sf.read(REF)
    full = [Utterance(0.0, 3.53, 0.0)]
    assert checks.result_warnings(full, x, fs, name="r") == []
    half = [Utterance(0.0, 1.2, 0.0)]
    (w,) = checks.result_warnings(half, x, fs, name="r")
    assert w.startswith("r: ") and "were not scored" in w


def test_activities_of_two_signals_match_one_at_a_time_and_the_array_computation():
    """checks.activities filters two signals side by side (block by block, any block
    lengths): each gets the levels of a plain scipy computation on the whole signal."""
    from scipy import signal

    fs = 8000
    rng = np.random.default_rng(5)
    ref = rng.standard_normal(fs * 3) * np.repeat(rng.uniform(0.0, 0.5, 30), fs // 10) + 0.01
    deg = rng.standard_normal(fs * 2 + 77) * 0.05
    n = round(checks.FRAME_S * fs)

    def levels(x):
        y = signal.sosfilt(signal.butter(2, 100.0, "highpass", fs=fs, output="sos"),
                           x - np.mean(x))
        m = y.shape[0] // n
        return 10 * np.log10(np.maximum(np.mean(y[: m * n].reshape(m, n) ** 2, axis=1), 1e-30))

    def blocks_of(x, size):
        return lambda: iter([x[a : a + size] for a in range(0, x.shape[0], size)])

    for sizes in ((ref.shape[0], deg.shape[0]), (1000, 1000), (4096, 333)):
        acts = checks.activities([blocks_of(ref, sizes[0]), blocks_of(deg, sizes[1])], fs)
        for act, x in zip(acts, (ref, deg), strict=True):
            np.testing.assert_allclose(act.levels_db, levels(x), rtol=0, atol=1e-9)
            one = checks.activity_of_blocks(blocks_of(x, sizes[0]), fs)
            np.testing.assert_array_equal(act.levels_db, one.levels_db)
            np.testing.assert_array_equal(act.active, one.active)
            assert act.mean == one.mean
