"""`perceptq score` command-line behaviour."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

from perceptq import api
from perceptq.cli import app

CLEAN = Path(__file__).parents[2] / "reference_audio" / "clean"
runner = CliRunner()


def _pair(tmp_path: Path) -> tuple[Path, Path]:
    ref = sorted(CLEAN.glob("*.wav"))[0]
    x, fs = sf.read(ref)
    rng = np.random.default_rng(2)
    deg = tmp_path / "noisy deg é.wav"
    sf.write(deg, x + 0.02 * rng.standard_normal(len(x)), fs)
    return ref, deg


def test_score_prints_mos_label_raw_and_delay(tmp_path):
    ref, deg = _pair(tmp_path)
    res = runner.invoke(app, ["score", str(ref), str(deg), "--mode", "nb"])
    assert res.exit_code == 0, res.output
    out = res.stdout
    assert "MOS-LQO" in out and "raw" in out and "delay ms" in out
    mos = float(out.split()[1])
    assert 1.0 < mos < 4.6
    assert any(label in out for label in ("Excellent", "Good", "Fair", "Poor", "Bad"))


def test_score_json_is_score_to_dict(tmp_path):
    ref, deg = _pair(tmp_path)
    res = runner.invoke(app, ["score", str(ref), str(deg), "--json"])
    assert res.exit_code == 0, res.output
    d = json.loads(res.stdout)
    assert d["mode"] == "wb" and d["sample_rate"] == 16000
    assert {"mos", "raw", "category", "utterances", "frame_disturbance"} <= set(d)


def test_score_missing_file_is_one_line_exit_2(tmp_path):
    ref, _ = _pair(tmp_path)
    missing = tmp_path / "nope.wav"
    res = runner.invoke(app, ["score", str(ref), str(missing)])
    assert res.exit_code == 2
    assert res.stdout == ""
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "nope.wav" in lines[0] and "not found" in lines[0]
    assert "Traceback" not in res.stderr


def _unstable_pair(tmp_path: Path) -> tuple[Path, Path]:
    """A VoIP pair whose reference score hinges on the reference's float32 rounding."""
    import corpus
    import voip_corpus

    p = voip_corpus.make_pair(2, 8000, corpus.load_clean(8000))
    ref, deg = tmp_path / "ref.wav", tmp_path / "deg.wav"
    sf.write(ref, p.ref, p.rate, subtype="FLOAT")
    sf.write(deg, p.deg, p.rate, subtype="FLOAT")
    return ref, deg


def test_score_says_when_the_reference_is_unstable_and_offers_stable_alignment(tmp_path):
    ref, deg = _unstable_pair(tmp_path)
    res = runner.invoke(app, ["score", str(ref), str(deg)])
    assert res.exit_code == 0, res.output
    assert "unstable  yes" in res.stdout
    assert "reference_unstable" in res.stderr and "warning" in res.stderr
    res = runner.invoke(app, ["score", str(ref), str(deg), "--json"])
    d = json.loads(res.stdout)
    assert d["reference_unstable"] is True and d["alignment"] == "reference"
    res = runner.invoke(app, ["score", str(ref), str(deg), "--alignment", "stable"])
    assert res.exit_code == 0, res.output
    assert "alignment stable" in res.stdout and "unstable" not in res.stdout
    res = runner.invoke(app, ["score", str(ref), str(deg), "--alignment", "exact"])
    assert res.exit_code == 2


def _run_cli(*args: str) -> subprocess.CompletedProcess:
    root = Path(__file__).parents[2]
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run([sys.executable, "-m", "perceptq", *args], capture_output=True,
                          text=True, env=env, cwd=root, timeout=300)


def test_the_real_command_flushes_everything_before_its_quick_exit(tmp_path):
    """The console entry leaves without the interpreter's teardown: all of a long output
    (larger than a pipe's buffer) still arrives, and the exit codes are kept."""
    ref, deg = _pair(tmp_path)
    res = _run_cli("score", str(ref), str(deg), "--json")
    assert res.returncode == 0, res.stderr
    result = json.loads(res.stdout)
    assert result["mos"] == pytest.approx(api.score(ref, deg).mos, abs=1e-9)
    long = _run_cli("score", str(ref), str(deg), "--timeline", "--plot", str(tmp_path / "p.png"))
    assert long.returncode == 0, long.stderr
    assert long.stdout.rstrip().endswith(f"plot      {tmp_path / 'p.png'}")
    assert (tmp_path / "p.png").stat().st_size > 0
    bad = _run_cli("score", str(tmp_path / "missing.wav"), str(deg))
    assert bad.returncode == 2
    assert bad.stderr.strip().count("\n") == 0 and "missing.wav" in bad.stderr


def test_the_quick_exit_waits_for_threads_and_other_exit_codes(monkeypatch):
    """With another thread alive, or an exit message instead of a number, the process
    exits normally (nothing is cut short)."""
    import threading

    from perceptq import cli

    stop = threading.Event()
    worker = threading.Thread(target=stop.wait)
    worker.start()
    try:
        assert not cli._alone()
    finally:
        stop.set()
        worker.join()
    exits = []
    monkeypatch.setattr(cli.os, "_exit", exits.append)
    monkeypatch.setattr(cli.atexit, "_run_exitfuncs", lambda: None)
    monkeypatch.setattr(cli, "_alone", lambda: False)
    cli._leave(0)
    assert exits == []
    monkeypatch.setattr(cli, "_alone", lambda: True)
    cli._leave("a message")
    cli._leave(None)
    cli._leave(3)
    assert exits == [0, 3]
