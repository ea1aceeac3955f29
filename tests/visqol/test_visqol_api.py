"""ViSQOL through the public API, the CLI (score, batch), summaries and reports."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import soxr
from typer.testing import CliRunner
from visqol_signals import music

import perceptq
from perceptq.batch.summary import format_summary, summarise
from perceptq.cli import app
from perceptq.errors import InvalidAudioError

DATA = Path(__file__).resolve().parents[2] / "reference_audio" / "visqol"
runner = CliRunner()


@pytest.fixture(scope="module")
def speech_pair(tmp_path_factory):
    """The conformance speech pair at 16 kHz (fast to score in speech mode)."""
    folder = tmp_path_factory.mktemp("speech")
    out = []
    for name in ("CA01_01.wav", "transcoded_CA01_01.wav"):
        x, _ = sf.read(DATA / name)
        path = folder / name
        sf.write(path, x[::3], 16000)
        out.append(path)
    return out


def test_score_paths_reproduce_conformance_and_fill_the_score():
    s = perceptq.score(DATA / "guitar48_stereo.wav", DATA / "guitar48_stereo_64kbps_aac.wav",
                       metric="visqol")
    np.testing.assert_allclose(s.mos, 4.349722308064298, atol=1e-4)
    assert (s.metric, s.mode, s.sample_rate) == ("visqol", "audio", 48000)
    assert 0.9 < s.raw < 1.0
    assert s.band_similarity.shape == s.band_center_hz.shape == (32,)
    assert s.mean_delay_ms == pytest.approx(88.125)
    assert {r["kind"] for r in s.timeline} == {"patch"} and len(s.timeline) == 20
    assert s.diagnostics["lost_patches"]["count"] == 0
    doc = json.loads(json.dumps(s.to_dict()))
    assert doc["metric"] == "visqol" and len(doc["band_similarity"]) == 32


def test_any_rate_is_resampled_with_a_warning():
    x = music(3.0, 44100, noise=0.0, harmonics=7)
    s = perceptq.score(x, x, sample_rate=44100, metric="visqol", mode="audio")
    assert s.sample_rate == 48000
    assert any("resampled from 44100 Hz to 48000 Hz" in w for w in s.warnings)
    assert s.reference_info.resampled and s.reference_info.original_sample_rate == 44100


def test_auto_mode_picks_speech_at_16k(speech_pair):
    s = perceptq.score(*speech_pair, metric="visqol")
    assert (s.mode, s.sample_rate) == ("speech", 16000)
    assert s.warnings == ()
    assert 1.0 <= s.mos <= 5.0 and s.band_similarity.shape == (21,)


def test_p862_stays_the_default(speech_pair):
    s = perceptq.score(*speech_pair)
    assert s.metric == "p862" and s.mode == "wb" and s.band_similarity is None


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"metric": "polqa"}, "metric 'polqa'"),
        ({"metric": "visqol", "mode": "nb"}, "mode 'nb'"),
        ({"metric": "visqol", "locate": True}, "locate"),
    ],
)
def test_bad_options_are_clear_errors(speech_pair, kwargs, match):
    with pytest.raises(ValueError, match=match):
        perceptq.score(*speech_pair, **kwargs)


def test_odd_inputs_never_give_nan():
    fs = 48000
    x = music(3.0, fs, noise=0.0, harmonics=7)
    with pytest.raises(InvalidAudioError, match="too short"):
        perceptq.score(x[:4000], x[:4000], sample_rate=fs, metric="visqol")
    silent = perceptq.score(x, np.zeros_like(x), sample_rate=fs, metric="visqol")
    # ViSQOL's own number (bands where the reference is quiet match the silent floor);
    # the warning says what happened
    assert 1.0 <= silent.mos < 4.0 and any("silent" in w for w in silent.warnings)
    longer = perceptq.score(x, np.concatenate((x, x)), sample_rate=fs, metric="visqol")
    assert math.isfinite(longer.mos) and longer.mos > 4.0
    with pytest.raises(InvalidAudioError, match="silent"):
        perceptq.score(np.zeros_like(x), x, sample_rate=fs, metric="visqol")


def test_cli_score_visqol(speech_pair):
    ref, deg = map(str, speech_pair)
    res = runner.invoke(app, ["score", ref, deg, "--metric", "visqol", "--timeline"])
    assert res.exit_code == 0, res.output
    assert "ViSQOL v3, speech mode @ 16000 Hz" in res.stdout
    assert "patch" in res.stdout and "VNSIM" in res.stdout
    res = runner.invoke(app, ["score", ref, deg, "--metric", "visqol", "--json"])
    assert json.loads(res.stdout)["metric"] == "visqol"
    png = Path(ref).parent / "visqol.png"
    res = runner.invoke(app, ["score", ref, deg, "--metric", "visqol", "--plot", str(png)])
    assert res.exit_code == 0 and png.stat().st_size > 10_000
    res = runner.invoke(app, ["score", ref, deg, "--mode", "speech"])
    assert res.exit_code == 2 and "--metric visqol" in res.stderr
    res = runner.invoke(app, ["score", ref, deg, "--metric", "visqol", "--mode", "nb"])
    assert res.exit_code == 2 and "mode 'nb'" in res.stderr


def test_cli_batch_visqol_writes_a_metric_column(speech_pair, tmp_path):
    ref, deg = speech_pair
    manifest = tmp_path / "pairs.csv"
    with open(manifest, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["reference", "degraded", "codec"])
        w.writerow([ref, deg, "amr"])
        w.writerow([ref, ref, "none"])
        w.writerow([ref, tmp_path / "missing.wav", "lost"])
    out = tmp_path / "results.csv"
    res = runner.invoke(app, ["batch", "--manifest", str(manifest), "-o", str(out),
                              "--metric", "visqol", "--jobs", "1"])
    assert res.exit_code == 1, res.output  # the missing file is an error row
    table = pd.read_csv(out)
    assert table["metric"].tolist() == ["visqol"] * 3
    ok = table[table["status"] == "ok"]
    assert set(ok["mode"]) == {"speech"}
    assert "MOS summary (mos, visqol)" in res.stdout
    res = runner.invoke(app, ["batch", "--manifest", str(manifest), "-o", str(out),
                              "--metric", "visqol", "--mode", "wb"])
    assert res.exit_code == 2 and "with --metric visqol" in res.stderr


def _mixed_table() -> pd.DataFrame:
    return pd.DataFrame({
        "reference": ["a", "b", "c", "d"], "degraded": ["a2", "b2", "c2", "d2"],
        "status": ["ok"] * 4, "metric": ["p862", "p862", "visqol", "visqol"],
        "mos": [2.0, 2.5, 4.5, 4.7],
    })


def test_summary_never_mixes_metrics_silently():
    summary = summarise(_mixed_table())
    assert summary["group_by"] == ["metric"]
    assert [g["key"]["metric"] for g in summary["groups"]] == ["p862", "visqol"]
    assert summary["groups"][1]["mean"] == pytest.approx(4.6)
    text = format_summary(summary)
    assert "mixes 2 metrics" in text
    single = summarise(_mixed_table().iloc[2:])
    assert single["group_by"] == [] and "visqol" in format_summary(single)


def test_report_refuses_mixed_metrics_unless_grouped(tmp_path):
    path = tmp_path / "mixed.csv"
    _mixed_table().to_csv(path, index=False)
    res = runner.invoke(app, ["report", str(path), "-o", str(tmp_path / "r.html")])
    assert res.exit_code == 2 and "mix 2 metrics" in res.stderr
    res = runner.invoke(app, ["report", str(path), "-o", str(tmp_path / "r.html"),
                              "--group-by", "metric"])
    assert res.exit_code == 0, res.output
    visqol_only = tmp_path / "visqol.csv"
    _mixed_table().iloc[2:].to_csv(visqol_only, index=False)
    res = runner.invoke(app, ["report", str(visqol_only), "-o", str(tmp_path / "v.html")])
    assert res.exit_code == 0, res.output


def test_files_at_different_rates_are_both_resampled(tmp_path):
    x = music(3.0, 48000, noise=0.0, harmonics=7)
    sf.write(tmp_path / "ref.wav", x, 48000)
    y, _ = sf.read(tmp_path / "ref.wav")
    sf.write(tmp_path / "deg.wav", soxr.resample(y, 48000, 32000), 32000)
    s = perceptq.score(tmp_path / "ref.wav", tmp_path / "deg.wav", metric="visqol")
    assert s.mode == "audio" and s.degraded_info.original_sample_rate == 32000
    assert any("32000 Hz to 48000 Hz" in w for w in s.warnings)
    assert 3.0 < s.mos <= 5.0


def test_cli_score_says_when_the_visqol_alignment_is_uncertain(speech_pair, monkeypatch):
    import dataclasses

    from perceptq.cli import score as cli_score

    ref, deg = map(str, speech_pair)
    res = runner.invoke(app, ["score", ref, deg, "--metric", "visqol"])
    assert res.exit_code == 0 and "uncertain" not in res.stdout
    real = perceptq.score(ref, deg, metric="visqol")
    monkeypatch.setattr(cli_score.api, "score",
                        lambda *a, **k: dataclasses.replace(real, alignment_uncertain=True))
    res = runner.invoke(app, ["score", ref, deg, "--metric", "visqol"])
    assert res.exit_code == 0
    assert "uncertain yes" in res.stdout and "(alignment_uncertain)" in res.stdout
