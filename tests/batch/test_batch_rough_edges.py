"""`perceptq batch` rough edges of issue 11: a ``folder`` column that ``report --group-by
folder`` can use, a ``warnings`` column, error rows naming files as the input does, and
the exact resume command after Ctrl-C."""

from __future__ import annotations

import os
import shlex
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import soxr
from typer.testing import CliRunner

from perceptq.batch.table import WARNING_SEPARATOR, read_results
from perceptq.cli import app
from perceptq.cli import batch as cli_batch
from perceptq.errors import InvalidAudioError
from perceptq.result import Score, category_of

ROOT = Path(__file__).resolve().parents[2]
CLEAN = ROOT / "reference_audio" / "clean"
runner = CliRunner()
SEEN: list[tuple[str, str]] = []


def warning_score(reference, degraded, *, mode="auto"):
    """MOS from the degraded file's text, 'bad' files fail naming the path opened, 'stop'
    is Ctrl-C, and every score carries two warnings naming the files opened."""
    SEEN.append((reference, degraded))
    if Path(degraded).stem == "stop":
        raise KeyboardInterrupt
    text = Path(degraded).read_text().strip()
    if not text.replace(".", "", 1).isdigit():
        raise InvalidAudioError(f"{degraded}: not a readable audio file (fake)")
    mos = float(text)
    empty = np.zeros(0)
    warnings = (f"{reference}: resampled; from 44100 Hz", f"{degraded}: its 2 channels differ")
    return Score(mos, mos, "nb", 8000, category_of(mos), (), empty, empty, empty,
                 warnings=warnings)  # fmt: skip


@pytest.fixture
def fake(monkeypatch):
    SEEN.clear()
    monkeypatch.setattr(cli_batch, "_SCORER", warning_score)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def invoke(*args, cwd: Path | None = None):
    old = os.getcwd()
    try:
        if cwd is not None:
            os.chdir(cwd)
        return runner.invoke(app, ["batch", *map(str, args)])
    finally:
        os.chdir(old)


def test_folder_column_lets_report_group_by_folder(tmp_path, fake):
    for codec, mos in (("amr", "2.1"), ("g711", "3.9"), ("opus", "4.2")):
        for i in range(3):
            write(tmp_path / "ref" / codec / f"c{i}.wav", "")
            write(tmp_path / "deg" / codec / f"c{i}.wav", mos)
    write(tmp_path / "deg" / "lost" / "orphan.wav", "3")  # no reference: an error row
    out = tmp_path / "out.csv"
    res = invoke(tmp_path / "ref", tmp_path / "deg", "-o", out, "--jobs", "1",
                 "--group-by", "folder")  # fmt: skip
    assert res.exit_code == 1, res.output  # the orphan
    table = read_results(out)
    assert dict(zip(table["degraded"].map(lambda p: Path(p).stem), table["folder"],
                    strict=True))["orphan"] == "lost"  # fmt: skip
    for codec in ("amr", "g711", "opus"):
        assert (table["folder"] == codec).sum() == 3
    assert "amr " in res.stdout and "opus " in res.stdout  # the summary per folder
    html = tmp_path / "r.html"
    rep = runner.invoke(app, ["report", str(out), "--group-by", "folder", "-o", str(html)])
    assert rep.exit_code in (0, 3), rep.output
    page = html.read_text(encoding="utf-8")
    assert "By folder" in page and ">amr<" in page


def test_warnings_and_error_paths_as_the_manifest_writes_them(tmp_path, fake):
    write(tmp_path / "audio" / "ref.wav", "")
    write(tmp_path / "audio" / "good.wav", "3.5")
    write(tmp_path / "audio" / "bad.wav", "not audio")
    pairs = write(tmp_path / "lists" / "pairs.csv",
                  "reference,degraded,site\n../audio/ref.wav,../audio/good.wav,a\n"
                  "../audio/ref.wav,../audio/bad.wav,b\n../audio/ref.wav,../audio/nope.wav,c\n")
    out = tmp_path / "out.jsonl"
    res = invoke("--manifest", pairs, "-o", out, "--jobs", "1")
    assert res.exit_code == 1, res.output
    assert all(os.path.isabs(ref) for ref, _ in SEEN)  # workers open absolute paths
    table = read_results(out).set_index("site")
    good = table.loc["a"]
    assert good["warnings"].split(WARNING_SEPARATOR) == [
        "../audio/ref.wav: resampled; from 44100 Hz",
        "../audio/good.wav: its 2 channels differ",
    ]
    assert table.loc["b", "error"] == "../audio/bad.wav: not a readable audio file (fake)"
    for site in ("b", "c"):
        assert str(tmp_path) not in table.loc[site, "error"]  # one way of naming files
        assert table.loc[site, "degraded"] in table.loc[site, "error"]
    assert "error row: ../audio/bad.wav: not a readable" in res.stderr


def test_ctrl_c_prints_the_exact_command_that_resumes(tmp_path, fake):
    for name, mos in (("a", "3.1"), ("b", "3.2"), ("stop", "3.3"), ("x", "3.4")):
        write(tmp_path / "ref dir" / f"{name}.wav", "")
        write(tmp_path / "deg" / f"{name}.wav", mos)
    res = invoke("ref dir", "deg", "-o", "run 1.csv", "--jobs", "1", "--group-by", "folder",
                 "--fail-below", "3.25", cwd=tmp_path)  # fmt: skip
    assert res.exit_code == cli_batch.EXIT_INTERRUPTED
    line = next(x for x in res.stderr.splitlines() if "to score the rest, run:" in x)
    command = shlex.split(line.split("run: ", 1)[1])
    assert command[:2] == ["perceptq", "batch"] and command[-1] == "--resume"
    assert command[2:4] == ["ref dir", "deg"] and "--fail-below" in command
    os.remove(tmp_path / "deg" / "stop.wav")  # 'stop' would interrupt the resumed run too
    os.remove(tmp_path / "ref dir" / "stop.wav")
    SEEN.clear()
    again = invoke(*command[2:], cwd=tmp_path)
    assert again.exit_code == 3, again.output  # 3.1 below 3.25
    assert [Path(deg).stem for _, deg in SEEN] == ["x"]  # only what was missing
    table = read_results(tmp_path / "run 1.csv")
    assert sorted(Path(p).stem for p in table["degraded"]) == ["a", "b", "x"]


def test_real_resampling_and_channel_warnings_reach_the_batch_output(tmp_path):
    x, fs = sf.read(CLEAN / "arctic_a0001.wav")
    ref, deg = tmp_path / "ref", tmp_path / "deg"
    ref.mkdir(), deg.mkdir()
    sf.write(ref / "call.wav", soxr.resample(x, fs, 44100), 44100)
    sf.write(deg / "call.wav", np.stack([x, 0.2 * x[::-1]], axis=1), fs)
    out = tmp_path / "out.csv"
    res = invoke(ref, deg, "-o", out, "--jobs", "1", "--quiet")
    assert res.exit_code == 0, res.output
    (row,) = read_results(out).to_dict("records")
    messages = row["warnings"].split(WARNING_SEPARATOR)
    assert any(m.startswith(f"{ref / 'call.wav'}: resampled from 44100 Hz") for m in messages)
    assert any(m.startswith(f"{deg / 'call.wav'}: its 2 channels differ") for m in messages)
