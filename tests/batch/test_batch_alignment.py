"""`perceptq batch`: the reference_unstable column and --alignment (issue 10)."""

from __future__ import annotations

import csv
from pathlib import Path

import corpus
import soundfile as sf
import voip_corpus
from typer.testing import CliRunner

from perceptq.batch.runner import score_many
from perceptq.cli import app


def _manifest(tmp_path: Path) -> Path:
    """Two 8 kHz VoIP pairs: #2 makes the reference's result rounding-dependent, #1 not."""
    clean = corpus.load_clean(8000)
    rows = []
    for i in (2, 1):
        p = voip_corpus.make_pair(i, 8000, clean)
        for role, x in (("ref", p.ref), ("deg", p.deg)):
            sf.write(tmp_path / f"{role}{i}.wav", x, 8000, subtype="FLOAT")
        rows.append({"reference": f"ref{i}.wav", "degraded": f"deg{i}.wav", "pair": str(i)})
    path = tmp_path / "pairs.csv"
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return path


def _column(path: Path) -> dict[str, str]:
    with open(path) as fh:
        return {r["pair"]: r["reference_unstable"] for r in csv.DictReader(fh)}


def test_batch_reports_reference_unstable_and_takes_alignment(tmp_path):
    manifest = _manifest(tmp_path)
    out = tmp_path / "out.csv"
    res = CliRunner().invoke(app, ["batch", "--manifest", str(manifest), "-o", str(out),
                                   "--jobs", "1", "--quiet"])
    assert res.exit_code == 0, res.output
    assert _column(out) == {"2": "True", "1": "False"}
    stable = tmp_path / "stable.csv"
    res = CliRunner().invoke(app, ["batch", "--manifest", str(manifest), "-o", str(stable),
                                   "--jobs", "1", "--quiet", "--alignment", "stable"])
    assert res.exit_code == 0, res.output
    assert _column(stable) == {"2": "False", "1": "False"}


def test_score_many_passes_the_alignment_to_the_scorer(tmp_path):
    seen = []

    def scorer(reference, degraded, *, mode="auto", alignment="reference"):
        seen.append(alignment)
        raise ValueError("not scored")

    pairs = [(str(tmp_path / "a.wav"), str(tmp_path / "b.wav"))]
    list(score_many(pairs, jobs=1, alignment="stable", _scorer=scorer))
    list(score_many(pairs, jobs=1, _scorer=scorer))
    assert seen == ["stable", "reference"]


def test_batch_reports_an_uncertain_visqol_alignment(tmp_path, monkeypatch):
    """Score.alignment_uncertain (a long ViSQOL pair whose global lag is a near-tie) has
    its own column, next to reference_unstable."""
    import dataclasses

    import numpy as np

    from perceptq.cli import batch as cli_batch
    from perceptq.result import Score

    def scorer(reference, degraded, *, mode="auto", metric="p862"):
        empty = np.zeros(0)
        s = Score(3.0, 0.8, "audio", 48000, "Bad", (), empty, empty, empty, metric="visqol")
        return dataclasses.replace(s, alignment_uncertain=degraded.endswith("b.wav"))

    for name in ("r", "a", "b"):
        (tmp_path / f"{name}.wav").write_text("")
    (tmp_path / "pairs.csv").write_text("reference,degraded\nr.wav,a.wav\nr.wav,b.wav\n")
    monkeypatch.setattr(cli_batch, "_SCORER", scorer)
    out = tmp_path / "out.csv"
    res = CliRunner().invoke(app, ["batch", "--manifest", str(tmp_path / "pairs.csv"), "-o",
                                   str(out), "--jobs", "1", "--quiet", "--metric", "visqol"])
    assert res.exit_code == 0, res.output
    with open(out) as fh:
        rows = list(csv.DictReader(fh))
    got = {Path(r["degraded"]).name: (r["alignment_uncertain"], r["reference_unstable"])
           for r in rows}
    assert got == {"a.wav": ("False", "False"), "b.wav": ("True", "False")}
