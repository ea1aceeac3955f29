"""locate: find every occurrence of the reference in a longer recording and score each."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
from speech import FS, noise, sentence, stretch
from typer.testing import CliRunner

import perceptq
from perceptq.cli import app
from perceptq.result import CATEGORIES

OFFSET_TOL_S = 0.010
OFFSETS_S = (12.345, 38.1, 55.0, 77.777, 101.2)
REF = np.concatenate((sentence("arctic_a0001.wav"), np.zeros(4000), sentence("arctic_a0009.wav")))


def _recording(content: np.ndarray, seconds: float = 120.0) -> np.ndarray:
    """Two minutes: ringing tone, a noise burst, a hum, ``content`` at OFFSETS_S, and a
    low noise floor."""
    n = round(seconds * FS)
    t = np.arange(n) / FS
    rec = np.zeros(n)
    rec[2 * FS : 8 * FS] = 0.2 * np.sin(2 * np.pi * 425 * t[: 6 * FS]) * (t[:6 * FS] % 1 < 0.5)
    rec[28 * FS : 36 * FS] = noise(8 * FS, 0.05, 3)
    rec[90 * FS : 95 * FS] = 0.1 * np.sin(2 * np.pi * 1000 * t[: 5 * FS])
    for o in OFFSETS_S:
        a = round(o * FS)
        rec[a : a + content.shape[0]] += content
    return rec + noise(n, 0.001, 4)


@pytest.fixture(scope="module")
def located():
    return perceptq.score(REF, _recording(REF), sample_rate=FS, locate=True)


def test_finds_all_five_occurrences_at_the_right_offsets(located):
    occ = located.occurrences
    assert len(occ) == len(OFFSETS_S)
    for want, got in zip(OFFSETS_S, occ, strict=True):
        assert got["offset_s"] == pytest.approx(want, abs=OFFSET_TOL_S)
        assert got["correlation"] >= 0.6
        assert 3.0 < got["mos"] < 4.7 and got["category"] in CATEGORIES
    assert located.mos == pytest.approx(np.mean([o["mos"] for o in occ]))
    assert any("found 5 time(s)" in w for w in located.warnings)


def test_occurrence_timeline_and_frames_are_in_recording_time(located):
    rows = [r for r in located.timeline if r["kind"] == "occurrence"]
    assert [r["index"] for r in rows] == list(range(5))
    for want, r in zip(OFFSETS_S, rows, strict=True):
        assert r["start_s"] == pytest.approx(want, abs=OFFSET_TOL_S)
    assert located.frame_times_s.min() >= OFFSETS_S[0] - 0.5
    assert located.frame_times_s.max() <= OFFSETS_S[-1] + REF.shape[0] / FS + 0.5
    # Utterance delays include each occurrence's offset.
    delays = sorted({round(u.delay_ms / 1000, 2) for u in located.utterances})
    assert delays[0] == pytest.approx(OFFSETS_S[0], abs=0.02)


def test_a_degraded_copy_scores_lower_than_a_clean_one(located):
    noisy = REF + noise(REF.shape[0], 0.02, 9)
    s = perceptq.score(REF, _recording(noisy), sample_rate=FS, locate=True)
    assert len(s.occurrences) == 5
    assert s.mos < located.mos - 0.5


def test_finds_occurrences_in_a_drifting_recording():
    ppm = 500.0
    s = perceptq.score(REF, stretch(_recording(REF), ppm), sample_rate=FS, locate=True)
    assert len(s.occurrences) == 5
    for want, got in zip(OFFSETS_S, s.occurrences, strict=True):
        assert got["offset_s"] == pytest.approx(want * (1 + ppm * 1e-6), abs=OFFSET_TOL_S)
        assert got["drift_ppm"] == pytest.approx(ppm, abs=50)
        assert got["drift_compensated"]
    assert s.drift_ppm == pytest.approx(ppm, abs=50)
    assert any("clock drift" in w and "5 occurrence(s)" in w for w in s.warnings)


def test_reference_not_present_is_a_clear_error():
    other = sentence("arctic_a0007.wav")
    with pytest.raises(perceptq.AlignmentError,
                       match=r"^degraded: the reference \(reference\) was not found in the "
                             r"recording \(best envelope match 0\.\d\d at [\d.]+ s"):
        perceptq.score(REF, _recording(other), sample_rate=FS, locate=True)


def test_recording_shorter_than_reference_is_an_error():
    with pytest.raises(perceptq.AlignmentError, match="shorter than the reference"):
        perceptq.score(REF, REF[: REF.shape[0] // 2], sample_rate=FS, locate=True)


def test_cli_locate(tmp_path):
    ref, rec, absent = tmp_path / "ref.wav", tmp_path / "call.wav", tmp_path / "other.wav"
    sf.write(ref, REF, FS)
    sf.write(rec, _recording(REF), FS)
    sf.write(absent, _recording(sentence("arctic_a0007.wav")), FS)
    runner = CliRunner()
    res = runner.invoke(app, ["score", str(ref), str(rec), "--locate"])
    assert res.exit_code == 0, res.output
    found = [ln for ln in res.stdout.splitlines() if ln.startswith("found at")]
    assert len(found) == 5
    assert float(found[1].split()[2]) == pytest.approx(OFFSETS_S[1], abs=OFFSET_TOL_S)
    res = runner.invoke(app, ["score", str(ref), str(absent), "--locate"])
    assert res.exit_code == 2
    assert res.stdout == ""
    err = res.stderr.strip().splitlines()
    assert len(err) == 1 and "was not found in the recording" in err[0]
