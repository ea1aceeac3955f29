"""Bad-input matrix: every input gets a score or a clear, named error, in the API and the CLI.

Each bad input is checked twice: ``perceptq.score`` raises the documented PerceptqError leaf
with a message naming the file and the problem, and ``perceptq score`` prints exactly one
line on stderr naming both, exits with code 2, and shows no traceback.
"""

from __future__ import annotations

import os
import re
import struct
import subprocess
import sys
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import soxr
from typer.testing import CliRunner

import perceptq
from perceptq.audio import io
from perceptq.cli import EXIT_BAD_INPUT, app

CLEAN = Path(__file__).parents[2] / "reference_audio" / "clean"
REF = CLEAN / "arctic_a0001.wav"
runner = CliRunner()


def speech() -> tuple[np.ndarray, int]:
    x, fs = sf.read(REF)
    return x, fs


def write(path: Path, data: np.ndarray, fs: int, subtype: str | None = None) -> Path:
    sf.write(path, data, fs, subtype=subtype)
    return path


def sparse_wav(path: Path, seconds: float, fs: int = 8000) -> Path:
    """A 16-bit mono WAV whose header and size say ``seconds`` long, written sparsely."""
    n_bytes = int(seconds * fs) * 2
    header = b"RIFF" + struct.pack("<I", 36 + n_bytes) + b"WAVE"
    header += b"fmt " + struct.pack("<IHHIIHH", 16, 1, 1, fs, 2 * fs, 2, 16)
    header += b"data" + struct.pack("<I", n_bytes)
    with path.open("wb") as fh:
        fh.write(header)
        fh.truncate(len(header) + n_bytes)
    return path


# ---------------------------------------------------------------- builders of bad inputs
# Each returns (reference, degraded, the file the message must name).

Case = Callable[[Path], tuple[Path, Path, Path]]


def _bad_deg(make: Callable[[Path], Path]) -> Case:
    def case(tmp: Path) -> tuple[Path, Path, Path]:
        bad = make(tmp)
        return REF, bad, bad

    return case


def _bad_ref(make: Callable[[Path], Path]) -> Case:
    def case(tmp: Path) -> tuple[Path, Path, Path]:
        bad = make(tmp)
        return bad, REF, bad

    return case


def _text(tmp: Path) -> Path:
    p = tmp / "notes.wav"
    p.write_text("this is not audio\n" * 50)
    return p


def _random_bytes(tmp: Path) -> Path:
    p = tmp / "noise.bin.wav"
    p.write_bytes(np.random.default_rng(3).bytes(4096))
    return p


def _truncated_header(tmp: Path) -> Path:
    p = tmp / "cut header.wav"
    p.write_bytes(REF.read_bytes()[:30])
    return p


def _corrupt_header(tmp: Path) -> Path:
    raw = bytearray(REF.read_bytes())
    raw[8:12] = b"JUNK"  # WAVE form type destroyed
    p = tmp / "corrupt.wav"
    p.write_bytes(bytes(raw))
    return p


def _zero_channels(tmp: Path) -> Path:
    raw = bytearray(REF.read_bytes())
    raw[22:24] = (0).to_bytes(2, "little")
    p = tmp / "no channels.wav"
    p.write_bytes(bytes(raw))
    return p


def _zero_bytes(tmp: Path) -> Path:
    p = tmp / "empty file.wav"
    p.write_bytes(b"")
    return p


def _zero_samples(tmp: Path) -> Path:
    return write(tmp / "zero samples.wav", np.zeros(0), 16000)


def _short(tmp: Path) -> Path:
    x, fs = speech()
    return write(tmp / "short.wav", x[fs: fs + fs // 5], fs)  # 0.2 s of speech


def _nan(tmp: Path) -> Path:
    x, fs = speech()
    x = x.copy()
    x[fs] = np.nan
    return write(tmp / "nan.wav", x, fs, "FLOAT")


def _inf(tmp: Path) -> Path:
    x, fs = speech()
    x = x.copy()
    x[fs // 2] = -np.inf
    return write(tmp / "inf.wav", x, fs, "DOUBLE")


def _rate(rate: int) -> Callable[[Path], Path]:
    def make(tmp: Path) -> Path:
        x, fs = speech()
        return write(tmp / f"rate {rate}.wav", soxr.resample(x, fs, rate), rate)

    return make


def _two_hours(tmp: Path) -> Path:
    return sparse_wav(tmp / "two hour call.wav", 2 * 3600.0)


def _silence(tmp: Path) -> Path:
    return write(tmp / "silence.wav", np.zeros(48000), 16000)


def _dc(tmp: Path) -> Path:
    return write(tmp / "dc.wav", np.full(48000, 0.25), 16000)


def _tone(tmp: Path) -> Path:
    t = np.arange(48000) / 16000
    return write(tmp / "tone.wav", 0.3 * np.sin(2 * np.pi * 440 * t), 16000)


def _steady_noise(tmp: Path) -> Path:
    noise = 0.05 * np.random.default_rng(5).standard_normal(48000)
    return write(tmp / "steady noise.wav", noise, 16000)


BAD: dict[str, tuple[Case, type[perceptq.PerceptqError], str]] = {
    "missing": (_bad_deg(lambda t: t / "nope ü.wav"), perceptq.InvalidAudioError, "not found"),
    "directory": (_bad_deg(lambda t: t), perceptq.InvalidAudioError, "is a directory"),
    "text": (_bad_deg(_text), perceptq.InvalidAudioError, "not a readable audio file"),
    "random-bytes": (_bad_deg(_random_bytes), perceptq.InvalidAudioError, "not a readable audio"),
    "truncated-header": (_bad_deg(_truncated_header), perceptq.InvalidAudioError, "not a readable"),
    "corrupt-header": (_bad_deg(_corrupt_header), perceptq.InvalidAudioError, "not a readable"),
    "zero-channels": (_bad_deg(_zero_channels), perceptq.InvalidAudioError, "not a readable"),
    "zero-bytes": (_bad_ref(_zero_bytes), perceptq.InvalidAudioError, "file is empty (0 bytes)"),
    "zero-samples": (_bad_deg(_zero_samples), perceptq.InvalidAudioError, "empty (0 samples)"),
    "short-degraded": (_bad_deg(_short), perceptq.InvalidAudioError, "too short (0.200 s)"),
    "short-reference": (_bad_ref(_short), perceptq.InvalidAudioError, "too short (0.200 s)"),
    "nan": (_bad_deg(_nan), perceptq.InvalidAudioError, "NaN or infinite (first at 1.000 s)"),
    "inf": (_bad_ref(_inf), perceptq.InvalidAudioError, "NaN or infinite (first at 0.500 s)"),
    "rate-4000": (_bad_deg(_rate(4000)), perceptq.UnsupportedRateError, "4000 Hz is below"),
    "rate-7000": (_bad_ref(_rate(7000)), perceptq.UnsupportedRateError, "7000 Hz is below"),
    "two-hours": (_bad_deg(_two_hours), perceptq.InputTooLongError, "lasts 2:00:00"),
    "silent-reference": (_bad_ref(_silence), perceptq.NoSpeechError, "silent (all samples zero)"),
    "dc-reference": (_bad_ref(_dc), perceptq.NoSpeechError, "constant (DC) value"),
    "tone-reference": (_bad_ref(_tone), perceptq.NoSpeechError, "a tone at 440 Hz"),
    "noise-reference": (_bad_ref(_steady_noise), perceptq.NoSpeechError, "steady noise"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_api_bad_input_raises_named_error(case, tmp_path):
    build, exc_type, problem = BAD[case]
    ref, deg, culprit = build(tmp_path)
    with pytest.raises(exc_type) as info:
        perceptq.score(ref, deg)
    msg = str(info.value)
    assert isinstance(info.value, perceptq.PerceptqError)
    assert msg.startswith(f"{culprit}:"), msg
    assert problem in msg, msg
    assert "\n" not in msg


@pytest.mark.parametrize("case", sorted(BAD))
def test_cli_bad_input_is_one_line_exit_2(case, tmp_path):
    build, _, problem = BAD[case]
    ref, deg, culprit = build(tmp_path)
    res = runner.invoke(app, ["score", str(ref), str(deg)])
    assert res.exit_code == EXIT_BAD_INPUT, res.output
    assert res.stdout == ""
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith(f"perceptq: error: {culprit}:")
    assert problem in lines[0]
    assert "Traceback" not in res.stderr


def test_cli_real_process_bad_input_non_ascii_name(tmp_path):
    deg = _random_bytes(tmp_path).rename(tmp_path / "appel reçu – 名前.wav")
    code = "from perceptq.cli import app; app()"
    res = subprocess.run(
        [sys.executable, "-c", code, "score", str(REF), str(deg)],
        capture_output=True, text=True, timeout=120,
        env={**os.environ, "PYTHONIOENCODING": "utf-8"},
    )
    assert res.returncode == EXIT_BAD_INPUT
    assert res.stdout == ""
    lines = res.stderr.strip().splitlines()
    assert lines == [f"perceptq: error: {deg}: not a readable audio file (Format not recognised)"]


def _mpeg_like_junk(tmp: Path) -> Path:
    p = tmp / "junk.wav"
    p.write_bytes(b"\xff\xfb\x90\x00" + np.random.default_rng(0).bytes(3000))
    return p


def test_loader_silences_native_decoder_chatter(tmp_path, capfd):
    """Junk that looks like MPEG makes libmpg123 print to fd 2; the loader keeps it quiet."""
    junk = _mpeg_like_junk(tmp_path)
    for read in (io.read_audio, io.file_info):
        with pytest.raises(perceptq.InvalidAudioError) as info:
            read(junk)
        assert str(info.value) == (
            f"{junk}: not a readable audio file (format not recognised or data corrupt)"
        )
    assert capfd.readouterr().err == ""


def test_cli_real_process_mpeg_like_junk_is_one_line(tmp_path):
    junk = _mpeg_like_junk(tmp_path)
    res = subprocess.run(
        [sys.executable, "-c", "from perceptq.cli import app; app()", "score", str(REF),
         str(junk)], capture_output=True, text=True, timeout=120,
    )
    assert res.returncode == EXIT_BAD_INPUT
    assert res.stderr.strip().splitlines() == [
        f"perceptq: error: {junk}: not a readable audio file (format not recognised or data "
        "corrupt)"
    ]


def test_wideband_mode_on_narrowband_file_names_the_input(tmp_path):
    """Issue 11: the error named the role ("degraded:"), not the file, and told a CLI user
    to write mode='nb'."""
    deg = _rate(8000)(tmp_path)
    with pytest.raises(perceptq.UnsupportedRateError, match=rf"^{re.escape(str(deg))}: wideband"):
        perceptq.score(REF, deg, mode="wb")
    res = runner.invoke(app, ["score", str(REF), str(deg), "--mode", "wb"])
    assert res.exit_code == EXIT_BAD_INPUT and res.stdout == ""
    assert res.stderr.strip() == (
        f"perceptq: error: {deg}: wideband mode needs audio sampled at 16 kHz or more, got "
        "8000 Hz (score narrowband audio in narrowband mode: --mode nb, or mode='nb' from "
        "Python)"
    )
    x, _ = speech()
    with pytest.raises(perceptq.UnsupportedRateError, match=r"^reference: wideband"):
        perceptq.score(x, x, sample_rate=8000, mode="wb")  # arrays are named by their role


def test_array_inputs_are_named_by_role():
    x, fs = speech()
    bad = x.copy()
    bad[10] = np.nan
    with pytest.raises(perceptq.InvalidAudioError, match=r"^degraded: 1 sample\(s\) are NaN"):
        perceptq.score(x, bad, sample_rate=fs)
    with pytest.raises(perceptq.InvalidAudioError, match=r"^reference: audio is empty"):
        perceptq.score(np.zeros(0), x, sample_rate=fs)
    with pytest.raises(perceptq.UnsupportedRateError, match=r"^reference: sample rate 6000 Hz"):
        perceptq.score(x, x, sample_rate=6000)
    with pytest.raises(perceptq.InvalidAudioError, match=r"^degraded: complex array"):
        perceptq.score(x, x.astype(complex), sample_rate=fs)


# ---------------------------------------------------------------- long pairs (scored in windows)
# References longer than 2 windows (20 s) are streamed and scored window by window; the same
# inputs must get the same answers there.


def long_speech() -> tuple[np.ndarray, int]:
    x, fs = speech()
    y = np.concatenate([np.concatenate((x, np.zeros(fs // 2)))] * 7)  # 28 s
    return y, fs


def _long(name: str, make: Callable[[np.ndarray, int], np.ndarray], subtype=None):
    def build(tmp: Path) -> Path:
        y, fs = long_speech()
        return write(tmp / name, make(y, fs), fs, subtype)

    return build


def _at(y: np.ndarray, i: int, value: float) -> np.ndarray:
    y = y.copy()
    y[i] = value
    return y


LONG_BAD: dict[str, tuple[Case, type[perceptq.PerceptqError], str]] = {
    "long-tone-reference": (
        _bad_ref(_long("tone.wav", lambda y, fs: 0.3 * np.sin(2 * np.pi * 440 * np.arange(
            y.size) / fs))), perceptq.NoSpeechError, "a tone at 440 Hz"),
    "long-silent-reference": (_bad_ref(_long("silence.wav", lambda y, fs: 0 * y)),
                              perceptq.NoSpeechError, "silent (all samples zero)"),
    "long-huge-degraded": (_bad_deg(_long("huge.wav", lambda y, fs: _at(y, 999, 1e300), "DOUBLE")),
                           perceptq.InvalidAudioError, "samples reach 1e+300, far beyond"),
    "long-nan-degraded": (_bad_deg(_long("nan.wav", lambda y, fs: _at(y, 999, np.nan), "FLOAT")),
                          perceptq.InvalidAudioError, "NaN or infinite"),
}


def _long_ref_case(case: str, tmp: Path) -> tuple[Path, Path, Path]:
    ref, deg, culprit = LONG_BAD[case][0](tmp)
    y, fs = long_speech()
    long_ref = write(tmp / "long ref.wav", y, fs)
    return (long_ref if ref == REF else ref), (long_ref if deg == REF else deg), culprit


@pytest.mark.parametrize("case", sorted(LONG_BAD))
def test_long_pairs_bad_input_api_and_cli(case, tmp_path):
    _, exc_type, problem = LONG_BAD[case]
    ref, deg, culprit = _long_ref_case(case, tmp_path)
    with pytest.raises(exc_type) as info:
        perceptq.score(ref, deg)
    assert str(info.value).startswith(f"{culprit}:") and problem in str(info.value)
    res = runner.invoke(app, ["score", str(ref), str(deg)])
    assert res.exit_code == EXIT_BAD_INPUT and res.stdout == ""
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"perceptq: error: {culprit}:"), lines
    assert problem in lines[0]


def test_long_pairs_warn_like_short_ones(tmp_path):
    y, fs = long_speech()
    ref = write(tmp_path / "ref.wav", y, fs)
    hot = write(tmp_path / "hot.wav", 3 * y, fs, "FLOAT")
    s = _score_ok(ref, hot)
    assert s.mos == pytest.approx(4.644, abs=2e-3)
    assert any(w.startswith(f"{hot}: samples exceed ±1.0 full scale") for w in s.warnings)
    raw = ref.read_bytes()
    cut = tmp_path / "cut.wav"
    cut.write_bytes(raw[: len(raw) * 3 // 4])
    s = _score_ok(ref, cut)
    assert any(w.startswith(f"{cut}: file is truncated") for w in s.warnings)
    quiet = write(tmp_path / "quiet.wav", y * 10 ** (-30 / 20), fs, "FLOAT")
    assert any("30.0 dB below" in w for w in _score_ok(ref, quiet).warnings)


def test_long_pair_silent_degraded_is_a_bad_score(tmp_path):
    y, fs = long_speech()
    ref = write(tmp_path / "ref.wav", y, fs)
    deg = _silence(tmp_path)
    s = _score_ok(ref, deg)
    assert s.mos < 2.0
    assert any(w.startswith(f"{deg}: the degraded signal is silent") for w in s.warnings)


# ---------------------------------------------------------------- over-long inputs


def test_two_hour_file_is_refused_from_the_header(tmp_path):
    """A 2-hour file is refused before its samples are read: tiny memory, fast."""
    path = sparse_wav(tmp_path / "call.wav", 2 * 3600.0)
    tracemalloc.start()
    try:
        with pytest.raises(perceptq.InputTooLongError, match="longer than the maximum of 0:10:00"):
            perceptq.score(REF, path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 20e6  # reading it would need 460 MB of float64


def test_two_hour_reference_is_streamed_in_bounded_memory(tmp_path):
    """A 2-hour reference goes to windowed scoring, read block by block: this silent one is
    refused as having no speech after one streamed pass, without loading it whole."""
    path = sparse_wav(tmp_path / "two hour reference.wav", 2 * 3600.0)
    tracemalloc.start()
    try:
        with pytest.raises(perceptq.NoSpeechError, match="silent"):
            perceptq.score(path, REF, mode="nb")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 50e6  # the whole file as float64 would be 460 MB


def test_duration_limit_is_a_keyword_and_an_environment_setting(tmp_path, monkeypatch):
    with pytest.raises(perceptq.InputTooLongError, match=r"lasts 3\.5 s.*maximum of 2\.0 s"):
        io.load(REF, None, role="reference", max_duration_s=2.0)
    assert io.load(REF, None, role="reference", max_duration_s=4.0).duration_s == 3.53
    x, fs = speech()
    with pytest.raises(perceptq.InputTooLongError, match=r"^degraded: input lasts"):
        io.load(x, fs, role="degraded", max_duration_s=1.0)
    long_ok = sparse_wav(tmp_path / "long.wav", 700.0)
    monkeypatch.setenv(io.ENV_MAX_DURATION, "inf")
    assert io.load(long_ok, None, role="degraded").duration_s == 700.0
    monkeypatch.setenv(io.ENV_MAX_DURATION, "3")
    res = runner.invoke(app, ["score", str(REF), str(REF)])
    assert res.exit_code == EXIT_BAD_INPUT
    assert res.stderr.strip() == (
        f"perceptq: error: {REF}: input lasts 3.5 s, longer than the maximum of 3.0 s "
        f"(raise it with max_duration_s= or {io.ENV_MAX_DURATION})"
    )
    monkeypatch.setenv(io.ENV_MAX_DURATION, "soon")
    with pytest.raises(ValueError, match="PERCEPTQ_MAX_DURATION_S='soon' is not a number"):
        io.max_duration_s()


# ---------------------------------------------------------------- valid but unusual inputs


def _score_ok(ref, deg, **kw) -> perceptq.Score:
    s = perceptq.score(ref, deg, **kw)
    assert np.isfinite(s.mos) and 1.0 <= s.mos <= 4.65
    return s


def test_silent_degraded_is_a_bad_score_with_a_warning(tmp_path):
    deg = _silence(tmp_path)
    s = _score_ok(REF, deg)
    assert s.mos < 2.0
    assert any(w.startswith(f"{deg}: the degraded signal is silent") for w in s.warnings)
    res = runner.invoke(app, ["score", str(REF), str(deg)])
    assert res.exit_code == 0
    assert f"perceptq: warning: {deg}: the degraded signal is silent" in res.stderr


def test_float_beyond_full_scale_is_accepted_with_a_warning(tmp_path):
    x, fs = speech()
    deg = write(tmp_path / "hot.wav", 4.0 * x, fs, "FLOAT")
    s = _score_ok(REF, deg)
    assert s.mos == pytest.approx(4.644, abs=1e-3)  # level is normalised away
    assert sum("exceed ±1.0 full scale (peak" in w for w in s.warnings) == 1
    assert all(w.startswith(str(deg)) for w in s.warnings)


@pytest.mark.parametrize("subtype", ["PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE"])
def test_sample_formats_score_the_same(subtype, tmp_path):
    x, fs = speech()
    deg = write(tmp_path / f"{subtype}.wav", x, fs, subtype)
    s = _score_ok(REF, deg)
    assert s.mos == pytest.approx(4.644, abs=1e-3)
    assert s.degraded_info.sample_format == subtype
    assert s.warnings == ()


def test_eight_bit_pcm_is_read_and_scored(tmp_path):
    x, fs = speech()
    deg = write(tmp_path / "u8.wav", x, fs, "PCM_U8")
    s = _score_ok(REF, deg)
    assert s.degraded_info.sample_format == "PCM_U8"
    assert 1.5 < s.mos < 4.0  # 8-bit quantisation noise is clearly audible


@pytest.mark.parametrize("channels", [2, 6])
def test_identical_channels_mix_down_silently(channels, tmp_path):
    x, fs = speech()
    deg = write(tmp_path / f"{channels}ch.wav", np.repeat(x[:, None], channels, axis=1), fs)
    s = _score_ok(REF, deg)
    assert s.degraded_info.channels == channels
    assert s.mos == pytest.approx(4.644, abs=1e-3)
    assert s.warnings == ()


def test_differing_channels_are_averaged_with_a_warning(tmp_path):
    x, fs = speech()
    deg = write(tmp_path / "left only.wav", np.stack([x, np.zeros_like(x)], axis=1), fs)
    s = _score_ok(REF, deg)
    assert s.mos == pytest.approx(4.644, abs=1e-3)  # half the level, normalised away
    assert [w for w in s.warnings if "channels differ" in w] == [
        f"{deg}: its 2 channels differ and were averaged to mono; score each channel "
        "separately if they hold different talkers"
    ]


@pytest.mark.parametrize(
    ("rate", "model_rate", "top"),
    [(8000, 8000, 4.549), (11025, 8000, 4.549), (16000, 16000, 4.644), (22050, 16000, 4.644),
     (32000, 16000, 4.644), (44100, 16000, 4.644), (48000, 16000, 4.644), (96000, 16000, 4.644)],
)
def test_rates_8k_to_96k_score_with_a_resampling_warning(rate, model_rate, top, tmp_path):
    x, fs = speech()
    ref = write(tmp_path / f"ref {rate}.wav", soxr.resample(x, fs, rate), rate)
    deg = write(tmp_path / f"deg {rate}.wav", soxr.resample(x, fs, rate), rate)
    s = _score_ok(ref, deg)
    assert s.sample_rate == model_rate
    assert s.mos == pytest.approx(top, abs=3e-3)
    resampled = [w for w in s.warnings if "resampled from" in w]
    assert len(resampled) == (0 if rate == model_rate else 2)


def test_different_rates_resample_both_to_the_model_rate(tmp_path):
    x, fs = speech()
    ref = write(tmp_path / "ref 44k.wav", soxr.resample(x, fs, 44100), 44100)
    deg = write(tmp_path / "deg 8k.wav", soxr.resample(x, fs, 8000), 8000)
    s = _score_ok(ref, deg)
    assert (s.mode, s.sample_rate) == ("nb", 8000)
    assert s.warnings == (f"{ref}: resampled from 44100 Hz to 8000 Hz",)
    assert s.mos > 4.4


def test_degraded_ten_times_longer_warns(tmp_path):
    x, fs = speech()
    deg = write(tmp_path / "long.wav", np.concatenate([x, np.zeros(9 * x.size)]), fs)
    s = _score_ok(REF, deg)
    assert s.mos > 4.5
    assert [w for w in s.warnings if "×" in w] == [
        f"{deg}: lasts 35.3 s, 10.0× the reference (3.5 s); only the part aligned to the "
        "reference is scored"
    ]


def test_degraded_much_shorter_warns_about_unscored_speech(tmp_path):
    x, fs = speech()
    deg = write(tmp_path / "cut.wav", x[: fs], fs)
    s = _score_ok(REF, deg)
    unscored = [w for w in s.warnings if "were not scored" in w]
    assert len(unscored) == 1 and unscored[0].startswith(f"{REF}:")


def test_truncated_data_chunk_scores_what_is_present_and_warns(tmp_path):
    raw = REF.read_bytes()
    deg = tmp_path / "cut off.wav"
    deg.write_bytes(raw[: len(raw) * 3 // 4])
    s = _score_ok(REF, deg)
    assert s.degraded_info.duration_s == pytest.approx(3.53 * 0.75, abs=0.01)
    assert any(
        w.startswith(f"{deg}: file is truncated: its header declares 3.53 s of audio but only")
        for w in s.warnings
    )


def test_large_level_mismatch_warns(tmp_path):
    x, fs = speech()
    deg = write(tmp_path / "quiet.wav", x * 10 ** (-30 / 20), fs, "FLOAT")
    s = _score_ok(REF, deg)
    msgs = [w for w in s.warnings if "active speech level" in w]
    assert len(msgs) == 1 and "30.0 dB below" in msgs[0]
    assert _score_ok(REF, write(tmp_path / "q15.wav", x * 10 ** (-15 / 20), fs)).warnings == ()


def test_short_active_speech_warns(tmp_path):
    x, fs = speech()
    part = x[int(0.35 * fs): int(1.05 * fs)]  # about 0.7 s, mostly speech
    ref = write(tmp_path / "brief.wav", part, fs)
    s = _score_ok(ref, ref)
    assert any(w.startswith(f"{ref}: only ") and "active speech" in w for w in s.warnings)


def test_clipped_reference_warns(tmp_path):
    x, fs = speech()
    ref = write(tmp_path / "clipped ref.wav", np.clip(x * 4, -0.5, 0.5), fs)
    s = _score_ok(ref, REF)
    assert any(w.startswith(f"{ref}: the reference looks clipped") for w in s.warnings)


@pytest.mark.parametrize("name", ["with spaces.wav", "naïve café ü.wav", "通話 録音.wav"])
def test_unusual_file_names(name, tmp_path):
    x, fs = speech()
    deg = write(tmp_path / name, x, fs)
    assert _score_ok(REF, deg).mos == pytest.approx(4.644, abs=1e-3)
    res = runner.invoke(app, ["score", str(REF), str(deg)])
    assert res.exit_code == 0 and "MOS-LQO   4.644" in res.stdout


def test_shipped_pairs_give_no_warnings(reference_audio_dir):
    """The checks stay quiet on ordinary degraded speech."""
    for deg in sorted((reference_audio_dir / "degraded").glob("*/arctic_a0007.wav")):
        s = perceptq.score(reference_audio_dir / "clean" / deg.name, deg)
        assert s.warnings == (), (deg, s.warnings)


# ---------------------------------------------------------------- batch output folder


def _unwritable_folders(tmp_path: Path) -> list[Path]:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    out = []
    for folder in (locked, Path("/proc/self"), Path("/sys")):
        try:
            (folder / "probe.csv").open("w").close()
            (folder / "probe.csv").unlink()
        except OSError:
            out.append(folder)
    return out


def test_batch_read_only_output_folder(tmp_path):
    ref_dir, deg_dir = tmp_path / "ref", tmp_path / "deg"
    ref_dir.mkdir()
    deg_dir.mkdir()
    (ref_dir / REF.name).write_bytes(REF.read_bytes())
    (deg_dir / REF.name).write_bytes(REF.read_bytes())
    folders = _unwritable_folders(tmp_path)
    try:
        if not folders:
            pytest.skip("no read-only folder available here")
        for folder in folders:
            out = folder / "results.csv"
            res = runner.invoke(app, ["batch", str(ref_dir), str(deg_dir), "-o", str(out), "-q"])
            assert res.exit_code == EXIT_BAD_INPUT, (folder, res.output)
            lines = res.stderr.strip().splitlines()
            assert lines[-1].startswith(f"perceptq: error: {out}: cannot write output"), lines
            assert "Traceback" not in res.stderr
    finally:
        (tmp_path / "locked").chmod(0o700)
