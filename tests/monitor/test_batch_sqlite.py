"""``perceptq batch -o x.sqlite`` writes the history's ``results`` table: rows are added
(never the file replaced), ``--resume`` reads them back, a re-run replaces a pair's row,
and ``watch`` over the same files knows them already."""

from __future__ import annotations

import shutil

from helpers import AUDIO, rows
from typer.testing import CliRunner

from perceptq.batch.table import read_results
from perceptq.cli import app

CONDITIONS = ("g711u", "noise_snr10", "clipping")


def test_batch_into_a_history_database(tmp_path):
    degraded = tmp_path / "calls"
    lines = ["reference,degraded,condition"]
    for c in CONDITIONS:
        (degraded / c).mkdir(parents=True)
        shutil.copy(AUDIO / "degraded" / c / "arctic_a0001.wav", degraded / c / "a.wav")
        lines.append(f"{AUDIO / 'clean' / 'arctic_a0001.wav'},calls/{c}/a.wav,{c}")
    manifest = tmp_path / "pairs.csv"
    manifest.write_text("\n".join(lines) + "\n")
    db = tmp_path / "h.sqlite"
    runner = CliRunner()
    base = ["batch", "--manifest", str(manifest), "-o", str(db), "--jobs", "1"]
    res = runner.invoke(app, [*base, "--group-by", "condition"])
    assert res.exit_code == 0, res.output
    assert "3 pair(s) to score" in res.stderr
    table = read_results(db)
    assert sorted(table["condition"]) == sorted(CONDITIONS)
    assert set(table["origin"]) == {"batch"} and (table["file_size"] > 0).all()
    assert table["call_time"].str.endswith("Z").all()
    res = runner.invoke(app, [*base, "--resume"])
    assert res.exit_code == 0 and "0 pair(s) to score, 3 already done" in res.stderr
    first = rows(db, "SELECT id, mos FROM results ORDER BY degraded")
    res = runner.invoke(app, base)  # scored again: each pair's row is replaced
    assert res.exit_code == 0
    again = rows(db, "SELECT id, mos FROM results ORDER BY degraded")
    assert len(again) == 3 and [m for _, m in again] == [m for _, m in first]
    assert {i for i, _ in again}.isdisjoint({i for i, _ in first})
    # watch over the same files: known by path, size and mtime, nothing scored twice
    res = runner.invoke(app, ["watch", str(degraded), "--db", str(db), "--once", "--jobs", "1",
                              "--settle", "0.1", "--reference",
                              str(AUDIO / "clean" / "arctic_a0001.wav")])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "0 scored" in res.stderr
    assert rows(db, "SELECT count(*) FROM results") == [(3,)]
