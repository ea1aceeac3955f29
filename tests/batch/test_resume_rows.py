"""``perceptq batch --resume``: a row is its manifest row, and no written row is ever lost.

Regression of issue 11 (1): a manifest naming one pair on 40 rows (a ``run`` column) was
interrupted after 7 rows; ``--resume`` said "0 pair(s) to score, 40 already done" and
rewrote the output to 1 row.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from perceptq.batch.pairing import PairSpec, plan_resume
from perceptq.batch.table import read_results
from perceptq.cli import app
from perceptq.cli import batch as cli_batch
from perceptq.errors import InvalidAudioError
from perceptq.result import Score, category_of

runner = CliRunner()
CALLS: list[str] = []
STOP_AFTER: list[int] = []  # Ctrl-C arrives when this many pairs were scored


def fake_score(reference, degraded, *, mode="auto"):
    """MOS from the degraded file's text; Ctrl-C after STOP_AFTER[0] pairs."""
    if STOP_AFTER and len(CALLS) >= STOP_AFTER[0]:
        raise KeyboardInterrupt
    CALLS.append(os.path.basename(degraded))
    text = Path(degraded).read_text().strip()
    if not text.replace(".", "", 1).isdigit():
        raise InvalidAudioError(f"{degraded}: not a readable audio file (fake)")
    mos = float(text)
    empty = np.zeros(0)
    return Score(mos, mos - 0.1, "nb", 8000, category_of(mos), (), empty, empty, empty)


@pytest.fixture
def fake(monkeypatch):
    CALLS.clear()
    STOP_AFTER.clear()
    monkeypatch.setattr(cli_batch, "_SCORER", fake_score)
    return CALLS


def invoke(*args):
    return runner.invoke(app, ["batch", *map(str, args), "--jobs", "1"])


def manifest(path: Path, rows: list[str], header: str = "reference,degraded,run") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


def pair_files(root: Path, name: str = "call", mos: str = "3.2") -> None:
    root.mkdir(parents=True, exist_ok=True)
    (root / f"{name}_ref.wav").write_text("")
    (root / f"{name}_deg.wav").write_text(mos)


@pytest.mark.parametrize("ext", ["csv", "jsonl", "parquet"])
def test_one_pair_on_40_manifest_rows_interrupted_after_7(tmp_path, fake, ext):
    pair_files(tmp_path)
    rows = [f"call_ref.wav,call_deg.wav,{run}" for run in range(1, 41)]
    pairs = manifest(tmp_path / "pairs.csv", rows)
    out = tmp_path / f"o.{ext}"
    STOP_AFTER.append(7)
    result = invoke("--manifest", pairs, "-o", out)
    assert result.exit_code == cli_batch.EXIT_INTERRUPTED, result.output
    assert len(read_results(out)) == 7
    STOP_AFTER.clear()
    CALLS.clear()
    result = invoke("--manifest", pairs, "-o", out, "--resume")
    assert result.exit_code == 0, result.output
    assert "33 pair(s) to score, 7 already done" in result.stderr
    assert len(CALLS) == 33
    table = read_results(out)
    assert len(table) == 40
    assert sorted(table["run"].astype(int)) == list(range(1, 41))
    assert set(table["status"]) == {"ok"}
    # resuming a finished run scores nothing and keeps all 40 rows
    CALLS.clear()
    result = invoke("--manifest", pairs, "-o", out, "--resume")
    assert result.exit_code == 0 and CALLS == []
    assert "0 pair(s) to score, 40 already done" in result.stderr
    assert len(read_results(out)) == 40


def test_identical_manifest_rows_each_get_their_row(tmp_path, fake):
    # no column tells the rows apart: a pair named three times is scored three times
    pair_files(tmp_path)
    pairs = manifest(
        tmp_path / "pairs.csv", ["call_ref.wav,call_deg.wav"] * 3, "reference,degraded"
    )
    out = tmp_path / "o.csv"
    STOP_AFTER.append(1)
    assert invoke("--manifest", pairs, "-o", out).exit_code == cli_batch.EXIT_INTERRUPTED
    STOP_AFTER.clear()
    CALLS.clear()
    result = invoke("--manifest", pairs, "-o", out, "--resume")
    assert result.exit_code == 0, result.output
    assert CALLS == ["call_deg.wav"] * 2
    assert len(read_results(out)) == 3


def test_changed_manifest_keeps_every_written_row_and_warns(tmp_path, fake):
    pair_files(tmp_path, "a", "3.0")
    pair_files(tmp_path, "b", "4.0")
    first = manifest(
        tmp_path / "pairs.csv",
        ["a_ref.wav,a_deg.wav,1", "a_ref.wav,a_deg.wav,2", "b_ref.wav,b_deg.wav,1"],
    )
    out = tmp_path / "o.jsonl"
    assert invoke("--manifest", first, "-o", out).exit_code == 0
    # the new manifest drops (a, run 2), keeps (b, 1) and adds (b, 2)
    second = manifest(
        tmp_path / "pairs.csv",
        ["a_ref.wav,a_deg.wav,1", "b_ref.wav,b_deg.wav,1", "b_ref.wav,b_deg.wav,2"],
    )
    CALLS.clear()
    result = invoke("--manifest", second, "-o", out, "--resume")
    assert result.exit_code == 0, result.output
    assert CALLS == ["b_deg.wav"]
    assert "1 row(s) of" in result.stderr and "match no row" in result.stderr
    table = read_results(out)
    got = sorted(zip(table["degraded"], table["run"].astype(int), strict=True))
    assert got == [("a_deg.wav", 1), ("a_deg.wav", 2), ("b_deg.wav", 1), ("b_deg.wav", 2)]


def test_plan_resume_prefers_ok_rows_and_retries_errors():
    spec = PairSpec("r", "d", "r", "d", {"run": "1"})
    ok = {"reference": "r", "degraded": "d", "run": "1", "status": "ok"}
    bad = {"reference": "r", "degraded": "d", "run": "1", "status": "error"}
    other = {"reference": "r", "degraded": "d", "run": "9", "status": "error"}
    plan = plan_resume([spec, spec, spec], [bad, ok, other], ["run"])
    assert plan.keep == [ok, other]  # the ok row, then the row no input row names
    assert plan.todo == [spec, spec]  # one retry of the error row, one never scored
    assert plan.retried == 1 and plan.stray == [other]


@pytest.mark.parametrize("ext", ["csv", "jsonl", "parquet"])
def test_resume_takes_a_table_written_before_newer_columns(tmp_path, fake, ext):
    """An output written by an earlier perceptq (without columns added since, e.g.
    alignment_uncertain) is resumed: its rows are kept with those columns empty; a table
    lacking a manifest column is still refused."""
    from perceptq.batch.table import ResultWriter

    pair_files(tmp_path, "a", "3.0")
    pair_files(tmp_path, "b", "4.0")
    pairs = manifest(tmp_path / "pairs.csv", ["a_ref.wav,a_deg.wav,1", "b_ref.wav,b_deg.wav,1"])
    full = tmp_path / f"full.{ext}"
    assert invoke("--manifest", pairs, "-o", full).exit_code == 0
    rows = read_results(full).to_dict("records")
    older_columns = [c for c in rows[0] if c not in ("alignment_uncertain", "reference_unstable")]
    out = tmp_path / f"old.{ext}"
    with ResultWriter(out, older_columns) as writer:  # as an earlier version wrote it
        writer.write({c: rows[0][c] for c in older_columns})
    CALLS.clear()
    result = invoke("--manifest", pairs, "-o", out, "--resume")
    assert result.exit_code == 0, result.output
    assert CALLS == ["b_deg.wav"]  # a's row was kept, only b was scored
    table = read_results(out)
    assert list(table.columns) == list(rows[0])
    kept = table[table["degraded"] == "a_deg.wav"].iloc[0]
    new = table[table["degraded"] == "b_deg.wav"].iloc[0]
    assert kept["mos"] == pytest.approx(3.0) and kept["alignment_uncertain"] in (None, "")
    assert str(new["alignment_uncertain"]) == "False"

    no_run = tmp_path / f"norun.{ext}"
    with ResultWriter(no_run, [c for c in older_columns if c != "run"]) as writer:
        writer.write({c: rows[0][c] for c in older_columns if c != "run"})
    result = invoke("--manifest", pairs, "-o", no_run, "--resume")
    assert result.exit_code == 2 and "columns differ" in result.stderr
