"""Timeline: MOS per utterance from its own frames, per window for long calls."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import soundfile as sf
from speech import FS, conversation, noise
from typer.testing import CliRunner

import perceptq
from perceptq.cli import app
from perceptq.recording import timeline


def _clean_then_noisy(seconds: float, seed: int):
    ref = conversation(seconds, seed)
    deg = ref.copy()
    h = deg.size // 2
    deg[h:] += noise(deg.size - h, 0.02, seed)
    return ref, deg, h / FS


def _utterances(s: perceptq.Score) -> list[dict]:
    return [r for r in s.timeline if r["kind"] == "utterance"]


def test_quality_drop_in_the_second_half_shows_per_utterance():
    ref, deg, half = _clean_then_noisy(16.0, 11)
    s = perceptq.score(ref, deg, sample_rate=FS)
    rows = _utterances(s)
    assert len(rows) == len(s.utterances) >= 3
    first = [r["mos"] for r in rows if r["end_s"] <= half]
    second = [r["mos"] for r in rows if r["start_s"] >= half]
    assert first and second
    assert min(first) > 4.0 and max(second) < 3.0
    assert min(first) > max(second) + 1.0
    for r, u in zip(rows, s.utterances, strict=True):
        assert (r["start_s"], r["end_s"], r["delay_ms"]) == (u.start_s, u.end_s, u.delay_ms)
        assert r["category"] == perceptq.category_of(r["mos"])


def test_identical_signal_gives_top_score_for_every_utterance():
    ref = conversation(12.0, 12)
    s = perceptq.score(ref, ref.copy(), sample_rate=FS)
    assert all(r["mos"] == pytest.approx(s.mos, abs=1e-9) for r in _utterances(s))


def test_long_call_timeline_has_windows_and_their_utterances():
    ref, deg, half = _clean_then_noisy(60.0, 13)
    s = perceptq.score(ref, deg, sample_rate=FS)
    windows = [r for r in s.timeline if r["kind"] == "window"]
    assert len(windows) == len(s.windows) >= 4
    early = [w["mos"] for w in windows if w["end_s"] <= half]
    late = [w["mos"] for w in windows if w["start_s"] >= half]
    assert min(early) > max(late) + 1.0
    for r in _utterances(s):
        w = s.windows[[x["index"] for x in s.windows].index(r["window"])]
        assert w["start_s"] - 1e-6 <= r["start_s"] < r["end_s"] <= w["end_s"] + 1e-6
    assert [r["index"] for r in _utterances(s)] == list(range(len(s.utterances)))


def test_frames_mos_of_nothing_is_nan():
    assert math.isnan(timeline.frames_mos(np.zeros(0), np.zeros(0), "wb"))
    assert timeline.frames_mos(np.zeros(30), np.zeros(30), "wb") == pytest.approx(4.644, abs=1e-3)


def test_cli_timeline_table_and_json(tmp_path):
    ref, deg, _ = _clean_then_noisy(16.0, 11)
    sf.write(tmp_path / "r.wav", ref, FS)
    sf.write(tmp_path / "d.wav", deg, FS)
    runner = CliRunner()
    res = runner.invoke(app, ["score", str(tmp_path / "r.wav"), str(tmp_path / "d.wav"),
                              "--timeline"])
    assert res.exit_code == 0, res.output
    out = res.stdout
    assert "kind" in out and "delay ms" in out
    rows = [ln for ln in out.splitlines() if ln.startswith("utterance ")]
    assert len(rows) >= 3
    assert "SNR (pauses)" in out and "dropouts" in out and "bandwidth" in out
    res = runner.invoke(app, ["score", str(tmp_path / "r.wav"), str(tmp_path / "d.wav"),
                              "--json"])
    d = json.loads(res.stdout)
    assert len(d["timeline"]) == len(rows)
    assert {"level_difference", "noise", "bandwidth", "clipping", "dropouts",
            "delay_variation", "drift", "disturbance"} <= set(d["diagnostics"])
    assert d["timeline"][0]["kind"] == "utterance"
