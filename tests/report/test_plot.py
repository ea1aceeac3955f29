"""--plot: a picture of the result is written."""

from __future__ import annotations

import numpy as np
import soundfile as sf
from speech import FS, conversation, noise, sentence
from typer.testing import CliRunner

import perceptq
from perceptq.cli import app
from perceptq.report.plot import plot_score

PNG = b"\x89PNG\r\n\x1a\n"


def _check_png(path, min_bytes=40_000):
    data = path.read_bytes()
    assert data[:8] == PNG and len(data) > min_bytes


def test_plot_of_a_normal_pair(tmp_path):
    ref = conversation(12.0, 21)
    deg = ref + noise(ref.size, 0.005, 1)
    deg[3 * FS : 3 * FS + 400] = 0.0
    s = perceptq.score(ref, deg, sample_rate=FS)
    plot_score(s, ref, deg, tmp_path / "p.png", sample_rate=FS)
    _check_png(tmp_path / "p.png")


def test_plot_of_a_long_call_and_of_a_located_result(tmp_path):
    ref = conversation(45.0, 22)
    deg = ref + noise(ref.size, 0.003, 2)
    s = perceptq.score(ref, deg, sample_rate=FS)
    plot_score(s, ref, deg, tmp_path / "long.png", sample_rate=FS)
    _check_png(tmp_path / "long.png")
    one = sentence("arctic_a0001.wav")
    rec = np.concatenate((np.zeros(FS), one, np.zeros(2 * FS), one, np.zeros(FS)))
    s = perceptq.score(one, rec, sample_rate=FS, locate=True)
    plot_score(s, one, rec, tmp_path / "loc.svg", sample_rate=FS)
    assert b"<svg" in (tmp_path / "loc.svg").read_bytes()[:2000]


def test_cli_plot(tmp_path):
    ref = conversation(10.0, 23)
    sf.write(tmp_path / "r.wav", ref, FS)
    sf.write(tmp_path / "d.wav", ref + noise(ref.size, 0.01, 3), FS)
    runner = CliRunner()
    res = runner.invoke(app, ["score", str(tmp_path / "r.wav"), str(tmp_path / "d.wav"),
                              "--plot", str(tmp_path / "out.png")])
    assert res.exit_code == 0, res.output
    _check_png(tmp_path / "out.png")
    assert "plot" in res.stdout
    res = runner.invoke(app, ["score", str(tmp_path / "r.wav"), str(tmp_path / "d.wav"),
                              "--plot", str(tmp_path / "missing dir" / "out.png")])
    assert res.exit_code == 2
    assert len(res.stderr.strip().splitlines()) == 1 and "cannot write the plot" in res.stderr
