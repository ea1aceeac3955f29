"""Tests of batch scoring: perceptq.score_many, result tables and ``perceptq batch``."""

from __future__ import annotations

import concurrent.futures as cf
import math
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from typer.testing import CliRunner

from perceptq import score_many
from perceptq.batch.pairing import BatchInputError, pairs_from_folders, pairs_from_manifest
from perceptq.batch.runner import PairResult
from perceptq.batch.table import (
    DIAG_COLUMNS,
    RESULT_COLUMNS,
    ResultWriter,
    journal_path,
    read_results,
)
from perceptq.cli import app
from perceptq.cli import batch as cli_batch
from perceptq.errors import InvalidAudioError
from perceptq.result import Score, category_of

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
CLEAN = ROOT / "reference_audio" / "clean"
runner = CliRunner()


# --- a stand-in scorer for plumbing tests (the real model is used further down) ---------

CALLS: list[str] = []


def fake_score(reference, degraded, *, mode="auto"):
    """MOS from the degraded file's first line of text; 'bad' files fail like bad audio."""
    CALLS.append(os.path.basename(degraded))
    text = Path(degraded).read_text().strip()
    if not text.replace(".", "", 1).isdigit():
        raise InvalidAudioError(f"{degraded}: not a readable audio file (fake)")
    if not Path(reference).exists():
        raise InvalidAudioError(f"{reference}: file not found")
    mos = float(text)
    empty = np.zeros(0)
    return Score(mos, mos - 0.1, "nb", 8000, category_of(mos), (), empty, empty, empty)


def interrupting_score(reference, degraded, *, mode="auto"):
    """Like fake_score, but Ctrl-C arrives on the file named 'stop'."""
    if Path(degraded).stem == "stop":
        raise KeyboardInterrupt
    return fake_score(reference, degraded, mode=mode)


def crashing_score(reference, degraded, *, mode="auto"):
    """Like fake_score, but the worker process dies on files named 'crash*'."""
    if Path(degraded).stem.startswith("crash"):
        os._exit(3)
    return fake_score(reference, degraded, mode=mode)


def slow_score(reference, degraded, *, mode="auto"):
    time.sleep(0.05)
    return fake_score(reference, degraded, mode=mode)


@pytest.fixture
def fake(monkeypatch):
    CALLS.clear()
    monkeypatch.setattr(cli_batch, "_SCORER", fake_score)
    return CALLS


def write(path: Path, text: str = "3.0") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def fake_tree(root: Path, layout: dict[str, str]) -> tuple[Path, Path]:
    """ref/ and deg/ folders: layout maps 'deg/rel/path.wav' -> MOS text (ref gets copies)."""
    for rel, text in layout.items():
        write(root / rel, text)
    return root / "ref", root / "deg"


def invoke(*args: str):
    return runner.invoke(app, ["batch", *map(str, args)])


# --- pairing -----------------------------------------------------------------------------


def test_pairing_by_relative_path_then_unique_stem(tmp_path):
    ref, deg = fake_tree(
        tmp_path,
        {
            "ref/a.wav": "",
            "ref/sub/a.wav": "",
            "ref/other/b.flac": "",
            "ref/c.wav": "",
            "ref/x/c.wav": "",
            "ref/notes.txt": "",
            "deg/a.wav": "4",  # same relative path (stem 'a' is not unique: path wins)
            "deg/sub/a.wav": "4",  # same relative path in a subfolder
            "deg/amr/b.wav": "4",  # unique stem, other folder and extension
            "deg/amr/c.wav": "4",  # stem c: two candidates -> ambiguous
            "deg/amr/d.wav": "4",  # nothing
            "deg/readme.txt": "x",  # not audio: ignored
            "deg/.hidden.wav": "x",  # hidden: ignored
        },
    )
    specs = {Path(s.degraded).relative_to(deg).as_posix(): s for s in pairs_from_folders(ref, deg)}
    assert sorted(specs) == ["a.wav", "amr/b.wav", "amr/c.wav", "amr/d.wav", "sub/a.wav"]
    assert specs["a.wav"].reference == str(ref / "a.wav")
    assert specs["sub/a.wav"].reference == str(ref / "sub" / "a.wav")
    assert specs["amr/b.wav"].reference == str(ref / "other" / "b.flac")
    assert specs["amr/b.wav"].reference_path == os.path.abspath(ref / "other" / "b.flac")
    assert specs["amr/c.wav"].error is not None
    assert (
        "ambiguous" in specs["amr/c.wav"].error and "2 files named c.*" in specs["amr/c.wav"].error
    )
    assert "amr/c.wav" in specs["amr/c.wav"].error.replace(os.sep, "/")
    assert "no reference found" in specs["amr/d.wav"].error
    assert all(specs[k].error is None for k in ("a.wav", "sub/a.wav", "amr/b.wav"))


def test_degraded_folder_inside_reference_folder_is_not_a_reference(tmp_path):
    fake_tree(tmp_path, {"audio/a.wav": "", "audio/degraded/a.wav": "4"})
    specs = pairs_from_folders(tmp_path / "audio", tmp_path / "audio" / "degraded")
    assert len(specs) == 1
    assert specs[0].error is None
    assert specs[0].reference == str(tmp_path / "audio" / "a.wav")


@pytest.mark.parametrize(
    ("layout", "ref", "deg", "message"),
    [
        ({"ref/a.wav": ""}, "ref", "nope", "degraded folder not found"),
        ({"deg/a.wav": ""}, "nope", "deg", "reference folder not found"),
        ({"ref/a.wav": "", "deg/a.txt": ""}, "ref", "deg", "no audio files found"),
        ({"ref/a.wav": "", "deg/a.wav": ""}, "ref", "deg/a.wav", "is not a folder"),
    ],
)
def test_bad_folders(tmp_path, layout, ref, deg, message):
    fake_tree(tmp_path, layout)
    with pytest.raises(BatchInputError, match=message):
        pairs_from_folders(tmp_path / ref, tmp_path / deg)


# --- manifest ----------------------------------------------------------------------------


def test_manifest_paths_and_extra_columns(tmp_path):
    write(tmp_path / "lab" / "ref" / "a.wav")
    absolute = write(tmp_path / "elsewhere" / "b.wav")
    manifest = tmp_path / "lab" / "pairs.csv"
    manifest.write_text(
        "reference,degraded,codec,site\n"
        f"ref/a.wav,deg/a.wav,amr, 007\n"
        f"ref/a.wav,{absolute},g711,\n"
        ",deg/c.wav,opus,x\n"
    )
    specs, extras = pairs_from_manifest(manifest)
    assert extras == ["codec", "site"]
    assert specs[0].reference == "ref/a.wav"  # as written, for the output
    assert specs[0].reference_path == os.path.abspath(tmp_path / "lab" / "ref" / "a.wav")
    assert specs[0].degraded_path == os.path.abspath(tmp_path / "lab" / "deg" / "a.wav")
    assert specs[0].extras == {"codec": "amr", "site": "007"}  # text kept as text
    assert specs[1].degraded_path == str(absolute)
    assert specs[1].extras == {"codec": "g711", "site": ""}
    assert specs[2].error is not None and "line 4: empty reference path" in specs[2].error


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("reference,codec\na.wav,amr\n", "lacks column.*degraded"),
        ("reference,degraded\n", "no rows"),
        ("", "not a readable CSV manifest"),
        ("reference,degraded,mos\na,b,3\n", "mos clash with output columns"),
    ],
)
def test_bad_manifests(tmp_path, text, message):
    manifest = tmp_path / "pairs.csv"
    manifest.write_text(text)
    with pytest.raises(BatchInputError, match=message):
        pairs_from_manifest(manifest)


def test_missing_manifest(tmp_path):
    with pytest.raises(BatchInputError, match="manifest not found"):
        pairs_from_manifest(tmp_path / "none.csv")


# --- score_many --------------------------------------------------------------------------


@pytest.fixture
def scored_files(tmp_path):
    ref = write(tmp_path / "ref.wav")
    degs = [write(tmp_path / f"d{i}.wav", f"{1 + i * 0.25}") for i in range(8)]
    bad = write(tmp_path / "bad.wav", "not audio")
    return ref, degs, bad


def test_score_many_tuples_and_mappings_in_process(scored_files):
    ref, degs, bad = scored_files
    pairs = [(ref, degs[0]), {"reference": str(ref), "degraded": degs[1], "codec": "amr"}]
    pairs.append((str(ref), str(bad)))
    results = list(score_many(pairs, jobs=1, _scorer=fake_score))
    assert [r.index for r in results] == [0, 1, 2]
    assert results[0].ok and results[0].score.mos == 1.0
    assert results[1].metadata == {"codec": "amr"} and results[1].score.mos == 1.25
    assert not results[2].ok
    assert results[2].error_type == "InvalidAudioError" and "bad.wav" in results[2].error
    assert results[0].degraded_mtime.endswith("Z") and results[0].seconds >= 0
    row = results[1].to_row()
    assert list(row) == [*RESULT_COLUMNS, "codec", *DIAG_COLUMNS]
    assert row["status"] == "ok" and row["mos"] == 1.25 and row["codec"] == "amr"
    assert results[2].to_row()["status"] == "error" and results[2].to_row()["mos"] is None


def test_diagnostics_fill_the_diag_columns():
    empty = np.zeros(0)
    base = Score(3.0, 2.9, "nb", 8000, "Poor", (), empty, empty, empty)
    row = PairResult(0, "r", "d", score=base).to_row()
    assert all(math.isnan(row[c]) for c in DIAG_COLUMNS)
    flat = Score(
        3.0,
        2.9,
        "nb",
        8000,
        "Poor",
        (),
        empty,
        empty,
        empty,
        diagnostics={"snr_db": 12.5, "diag_dropouts": 3, "note": "text"},
    )
    row = PairResult(0, "r", "d", score=flat).to_row()
    assert row["diag_snr_db"] == 12.5 and row["diag_dropouts"] == 3.0
    assert "note" not in row and "diag_note" not in row
    assert math.isnan(row["diag_clipping_fraction"])


def broken_score(reference, degraded, *, mode="auto"):
    """A scorer with a bug (not a perceptq error)."""
    return [][1]


def test_unexpected_errors_name_the_file_and_the_error_type(scored_files):
    ref, degs, _ = scored_files
    (result,) = score_many([(ref, degs[0])], jobs=1, _scorer=broken_score)
    assert result.error_type == "IndexError"
    assert result.error.startswith(f"{degs[0]}: IndexError: list index out of range")


def worker_env_score(reference, degraded, *, mode="auto"):
    """MOS 1 when this process has the batch worker environment, else 2."""
    from perceptq.batch.runner import WORKER_ENV

    expected = {k: os.environ.get(f"PARENT_{k}", v) for k, v in WORKER_ENV.items()}
    mos = 1.0 if all(os.environ.get(k) == v for k, v in expected.items()) else 2.0
    empty = np.zeros(0)
    return Score(mos, mos, "nb", 8000, category_of(mos), (), empty, empty, empty)


def test_workers_get_single_threaded_numerics_and_allocator_settings(scored_files, monkeypatch):
    from perceptq.batch.runner import WORKER_ENV

    for k in WORKER_ENV:  # tell the workers what the caller had set itself
        if k in os.environ:
            monkeypatch.setenv(f"PARENT_{k}", os.environ[k])
    ref, degs, _ = scored_files
    before = dict(os.environ)
    results = list(score_many([(ref, degs[0])] * 2, jobs=2, _scorer=worker_env_score))
    assert [r.score.mos for r in results] == [1.0, 1.0]
    assert dict(os.environ) == before  # the calling process keeps its own settings


def test_score_many_raise_mode(scored_files):
    ref, degs, bad = scored_files
    with pytest.raises(InvalidAudioError, match=r"bad\.wav"):
        list(score_many([(ref, degs[0]), (ref, bad)], jobs=1, on_error="raise", _scorer=fake_score))
    with pytest.raises(InvalidAudioError, match=r"bad\.wav"):
        list(score_many([(ref, bad)], jobs=2, on_error="raise", _scorer=fake_score))


def test_score_many_rejects_malformed_arguments(scored_files):
    ref, degs, _ = scored_files
    with pytest.raises(ValueError, match="on_error"):
        list(score_many([(ref, degs[0])], on_error="ignore"))
    with pytest.raises(ValueError, match="jobs"):
        list(score_many([(ref, degs[0])], jobs=0))
    with pytest.raises(ValueError, match=r"pairs\[0\]: missing key"):
        list(score_many([{"reference": ref}], jobs=1))
    with pytest.raises(TypeError, match=r"pairs\[0\]: degraded must be a file path"):
        list(score_many([(ref, np.zeros(8))], jobs=1))


def test_score_many_process_pool_matches_in_process(scored_files):
    ref, degs, bad = scored_files
    pairs = [(ref, d) for d in [*degs, bad]]
    one = {r.index: r for r in score_many(pairs, jobs=1, _scorer=fake_score)}
    two = {r.index: r for r in score_many(pairs, jobs=2, _scorer=fake_score)}
    assert sorted(two) == list(range(len(pairs)))
    for i in one:
        assert (two[i].ok, two[i].error) == (one[i].ok, one[i].error)
        if one[i].ok:
            assert two[i].score.mos == one[i].score.mos


def test_a_dying_worker_gives_error_rows_and_the_batch_goes_on(scored_files, tmp_path):
    ref, degs, _ = scored_files
    crash = write(tmp_path / "crash.wav", "3")
    pairs = [(ref, d) for d in degs] + [(ref, crash)] + [(ref, d) for d in degs]
    results = {r.index: r for r in score_many(pairs, jobs=2, _scorer=crashing_score)}
    assert sorted(results) == list(range(len(pairs)))
    assert not results[len(degs)].ok
    assert "worker failed" in results[len(degs)].error
    # pairs in flight when the worker died also fail; the others are scored by a new pool
    assert sum(r.ok for r in results.values()) >= len(pairs) - 1 - 2 * 2
    assert all(r.ok for i, r in results.items() if i > len(degs) + 2 * 2)


def test_workers_that_never_return_stop_the_batch(tmp_path):
    from perceptq.batch.runner import WorkerStartError

    ref = write(tmp_path / "ref.wav")
    pairs = [(ref, write(tmp_path / f"crash{i}.wav")) for i in range(5)]
    with pytest.raises(WorkerStartError, match="died before returning any result"):
        list(score_many(pairs, jobs=2, _scorer=crashing_score))


class CountingExecutor(cf.Executor):
    """Runs tasks on a thread pool and records the most futures outstanding at once."""

    def __init__(self, width: int) -> None:
        self._pool = cf.ThreadPoolExecutor(width)
        self._max_workers = width
        self.outstanding = 0
        self.most = 0

    def submit(self, fn, /, *args, **kwargs):
        self.outstanding += 1
        self.most = max(self.most, self.outstanding)
        future = self._pool.submit(fn, *args, **kwargs)
        future.add_done_callback(lambda _: setattr(self, "outstanding", self.outstanding - 1))
        return future

    def shutdown(self, wait=True, **kwargs):
        self._pool.shutdown(wait=wait)


def test_score_many_bounds_futures_in_flight_and_reads_pairs_lazily(scored_files):
    ref, degs, _ = scored_files
    taken = []

    def pairs():
        for i in range(60):
            taken.append(i)
            yield (ref, degs[i % len(degs)])

    executor = CountingExecutor(width=3)
    results = score_many(pairs(), executor=executor, _scorer=slow_score)
    first = next(results)
    assert first.ok
    assert len(taken) <= 2 * 3 + 1  # not the whole iterable
    rest = list(results)
    assert len(rest) == 59
    assert sorted(r.index for r in [first, *rest]) == list(range(60))
    assert executor.most <= 2 * 3
    executor.shutdown()


def test_closing_the_generator_cancels_pending_pairs(scored_files):
    ref, degs, _ = scored_files
    executor = CountingExecutor(width=1)
    results = score_many([(ref, degs[0])] * 20, executor=executor, _scorer=slow_score)
    next(results)
    results.close()
    executor.shutdown(wait=True)
    assert executor.outstanding == 0


# --- result tables -----------------------------------------------------------------------


@pytest.mark.parametrize("ext", ["csv", "jsonl", "parquet"])
def test_result_writer_round_trip_and_resume_keep(tmp_path, ext):
    columns = [*RESULT_COLUMNS, "codec", *DIAG_COLUMNS]
    rows = [
        {
            "reference": "r.wav",
            "degraded": f"d{i}.wav",
            "status": "ok",
            "mos": 1 + i / 3,
            "sample_rate": 8000,
            "n_utterances": 2,
            "codec": "0012",
            "category": "Bad",
        }
        for i in range(5)
    ]
    rows.append(
        {
            "reference": "r.wav",
            "degraded": 'x, "y".wav',
            "status": "error",
            "error": 'x: broken, "quoted"',
            "codec": "",
        }
    )
    out = tmp_path / f"out.{ext}"
    with ResultWriter(out, columns, row_group_size=2) as writer:
        for row in rows:
            writer.write(row)
        if ext == "parquet":  # before closing, rows live in the journal
            assert len(read_results(out)) == len(rows)
    assert not Path(journal_path(out)).exists()
    table = read_results(out)
    assert list(table.columns) == columns
    assert len(table) == len(rows)
    np.testing.assert_allclose(table["mos"][:5], [r["mos"] for r in rows[:5]], rtol=0, atol=0)
    assert list(table["codec"][:5]) == ["0012"] * 5
    assert table["sample_rate"][0] == 8000
    assert table["degraded"].iloc[5] == 'x, "y".wav'
    assert table["error"].iloc[5] == 'x: broken, "quoted"'
    assert math.isnan(table["mos"].iloc[5]) and table["error"].iloc[0] == ""
    # rewriting with kept rows (what --resume does) keeps exactly them
    with ResultWriter(out, columns, keep=table.iloc[:2].to_dict("records")) as writer:
        writer.write(rows[4])
    again = read_results(out)
    assert list(again["degraded"]) == ["d0.wav", "d1.wav", "d4.wav"]


def test_read_results_ignores_a_line_cut_short(tmp_path):
    out = tmp_path / "out.csv"
    with ResultWriter(out, list(RESULT_COLUMNS)) as writer:
        writer.write({"reference": "r", "degraded": "a", "status": "ok", "mos": 3.25})
    with open(out, "a") as f:
        f.write("r,b,ok,,nb,8000,4.")  # killed while writing
    assert list(read_results(out)["degraded"]) == ["a"]


def test_read_results_rejects_other_tables(tmp_path):
    (tmp_path / "x.csv").write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="not a perceptq result table"):
        read_results(tmp_path / "x.csv")
    with pytest.raises(ValueError, match="unknown output format"):
        read_results(tmp_path / "x.xlsx")


# --- the command (plumbing with the stand-in scorer) --------------------------------------


@pytest.fixture
def codec_tree(tmp_path):
    layout = {}
    for stem in ("s1", "s2", "s3"):
        layout[f"ref/{stem}.wav"] = ""
        layout[f"deg/amr/{stem}.wav"] = {"s1": "4.2", "s2": "3.1", "s3": "2.5"}[stem]
        layout[f"deg/g711/{stem}.wav"] = {"s1": "4.4", "s2": "4.1", "s3": "junk"}[stem]
    return fake_tree(tmp_path, layout)


@pytest.mark.parametrize("ext", ["csv", "jsonl", "parquet"])
def test_cli_folders_each_output_format(codec_tree, tmp_path, fake, ext):
    ref, deg = codec_tree
    out = tmp_path / f"results.{ext}"
    result = invoke(ref, deg, "-o", out, "--jobs", "1", "--group-by", "folder")
    assert result.exit_code == 1, result.output  # one error row
    table = read_results(out)
    assert list(table.columns) == [*RESULT_COLUMNS, *DIAG_COLUMNS]
    assert len(table) == 6
    bad = table[table.status == "error"]
    assert list(bad["degraded"]) == [str(deg / "g711" / "s3.wav")]
    assert "not a readable audio file" in bad["error"].iloc[0]
    ok = table[table.status == "ok"].set_index("degraded")
    assert ok.loc[str(deg / "amr" / "s2.wav"), "mos"] == 3.1
    assert ok.loc[str(deg / "amr" / "s2.wav"), "reference"] == str(ref / "s2.wav")
    lines = result.stdout.splitlines()
    amr = next(line.split() for line in lines if line.startswith("amr"))
    g711 = next(line.split() for line in lines if line.startswith("g711"))
    assert amr[1:3] == ["3", "0"] and float(amr[3]) == pytest.approx(
        (4.2 + 3.1 + 2.5) / 3, abs=0.005
    )
    assert g711[1:3] == ["2", "1"] and float(g711[6]) == pytest.approx(4.1)
    assert "error row" in result.stderr and "s3.wav" in result.stderr


def test_cli_manifest_group_by_and_fail_below(tmp_path, fake):
    for i, mos in enumerate(["4.5", "3.0", "2.0", "4.0"]):
        write(tmp_path / "set" / f"d{i}.wav", mos)
    write(tmp_path / "set" / "ref.wav")
    manifest = tmp_path / "set" / "pairs.csv"
    manifest.write_text(
        "reference,degraded,codec,site\n"
        "ref.wav,d0.wav,amr,north\nref.wav,d1.wav,amr,south\n"
        "ref.wav,d2.wav,opus,north\nref.wav,d3.wav,opus,north\n"
    )
    out = tmp_path / "out.csv"
    result = invoke(
        "--manifest",
        manifest,
        "-o",
        out,
        "--group-by",
        "codec,site",
        "--fail-below",
        "3.5",
        "--jobs",
        "1",
    )
    assert result.exit_code == 3, result.output
    table = read_results(out)
    assert list(table.columns) == [*RESULT_COLUMNS, "codec", "site", *DIAG_COLUMNS]
    assert set(table["degraded"]) == {"d0.wav", "d1.wav", "d2.wav", "d3.wav"}
    assert dict(zip(table.degraded, table.site, strict=True))["d1.wav"] == "south"
    rows = [line.split() for line in result.stdout.splitlines()]
    groups = {(r[0], r[1]): r for r in rows if len(r) > 2 and r[0] in ("amr", "opus")}
    assert set(groups) == {("amr", "north"), ("amr", "south"), ("opus", "north")}
    assert float(groups["opus", "north"][4]) == pytest.approx(3.0)  # mean of 2.0 and 4.0
    assert "2 pair(s) below MOS 3.5:" in result.stdout
    listed = result.stdout.split("below MOS 3.5:")[1]
    assert "d2.wav" in listed and "d1.wav" in listed and "d0.wav" not in listed
    assert listed.index("d2.wav") < listed.index("d1.wav")  # worst first
    # the same batch with a lower bar passes
    result = invoke("--manifest", manifest, "-o", out, "--fail-below", "1.5", "--jobs", "1")
    assert result.exit_code == 0, result.output
    assert "below MOS" not in result.stdout


def test_cli_quiet_and_default_output_name(codec_tree, tmp_path, fake, monkeypatch):
    ref, deg = codec_tree
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    first = invoke(ref, deg / "amr", "--jobs", "1", "--quiet")
    second = invoke(ref, deg / "amr", "--jobs", "1", "--quiet")
    assert (first.exit_code, second.exit_code) == (0, 0)
    assert first.stdout == "" and first.stderr == ""
    made = sorted(work.glob("perceptq-results-*.csv"))
    assert len(made) == 2  # the second run did not overwrite the first
    for path in made:
        assert len(read_results(path)) == 3


def test_cli_plain_progress_lines(codec_tree, tmp_path, fake, monkeypatch):
    ref, deg = codec_tree
    monkeypatch.setattr(cli_batch, "PROGRESS_INTERVAL_S", 0.0)
    result = invoke(ref, deg / "amr", "-o", tmp_path / "o.csv", "--jobs", "1")
    assert result.exit_code == 0
    assert "perceptq batch: 3 pair(s) to score, on 1 job(s)" in result.stderr
    assert "perceptq batch: 1/3 pairs, 0 error(s), 0.00 pairs/s, ETA ?" in result.stderr
    assert re.search(
        r"perceptq batch: 3/3 pairs, 0 error\(s\), [0-9.]+ pairs/s, ETA 0 s", result.stderr
    )
    assert "perceptq batch: finished: 3/3 pairs, 0 error(s) in " in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["{ref}"], "give REF_DIR and DEG_DIR, or --manifest"),
        (["{ref}", "{deg}", "--manifest", "{tmp}/m.csv"], "not both"),
        (["{tmp}/none", "{deg}"], "reference folder not found"),
        (["--manifest", "{tmp}/none.csv"], "manifest not found"),
        (["{ref}", "{deg}", "-o", "{tmp}/out.xlsx"], "unknown output format '.xlsx'"),
        (["{ref}", "{deg}", "-o", "{tmp}/no/such/out.csv"], "does not exist"),
        (["{ref}", "{deg}", "-o", "{tmp}"], "output is a folder"),
        (["{ref}", "{deg}", "--resume"], "--resume needs -o"),
        (["{ref}", "{deg}", "--group-by", "codec"], "unknown column"),
        (["{ref}", "{deg}", "--mode", "xb"], "--mode 'xb'"),
        (["{ref}", "{deg}", "--scheduler", "tcp://127.0.0.1:1"], "cannot connect to Dask"),
    ],
)
def test_cli_bad_usage_exits_2_with_one_line(
    codec_tree, tmp_path, fake, monkeypatch, args, message
):
    monkeypatch.setattr(cli_batch, "SCHEDULER_TIMEOUT_S", 1)
    ref, deg = codec_tree
    names = {"ref": ref, "deg": deg, "tmp": tmp_path}
    result = invoke(*[a.format(**names) for a in args])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("perceptq: error:"), result.stderr
    assert message in lines[0]
    assert "Traceback" not in result.output


def test_cli_unreadable_output_file_on_resume(codec_tree, tmp_path, fake):
    ref, deg = codec_tree
    out = tmp_path / "o.csv"
    out.write_text("something,else\n1,2\n")
    result = invoke(ref, deg, "-o", out, "--resume")
    assert result.exit_code == 2
    assert "cannot resume from" in result.stderr and "not a perceptq result table" in result.stderr


# --- interruption and resume ----------------------------------------------------------


def test_ctrl_c_keeps_rows_and_resume_scores_each_pair_once(tmp_path, monkeypatch):
    for i in range(6):
        write(tmp_path / "ref" / f"p{i}.wav")
        write(tmp_path / "deg" / f"p{i}.wav", f"{2 + i / 4}")
    write(tmp_path / "ref" / "stop.wav")
    write(tmp_path / "deg" / "stop.wav", "3.3")
    out = tmp_path / "o.jsonl"
    CALLS.clear()
    monkeypatch.setattr(cli_batch, "_SCORER", interrupting_score)
    result = invoke(tmp_path / "ref", tmp_path / "deg", "-o", out, "--jobs", "1")
    assert result.exit_code == cli_batch.EXIT_INTERRUPTED
    assert "interrupted" in result.stderr and f"--resume -o {out}" in result.stderr
    kept = read_results(out)
    assert list(kept["degraded"]) == [str(tmp_path / "deg" / f"p{i}.wav") for i in range(6)]
    # the resumed run scores only what is missing
    CALLS.clear()
    monkeypatch.setattr(cli_batch, "_SCORER", fake_score)
    result = invoke(tmp_path / "ref", tmp_path / "deg", "-o", out, "--jobs", "1", "--resume")
    assert result.exit_code == 0, result.output
    assert CALLS == ["stop.wav"]
    assert "1 pair(s) to score, 6 already done" in result.stderr
    table = read_results(out)
    assert sorted(Path(d).name for d in table["degraded"]) == sorted(
        [f"p{i}.wav" for i in range(6)] + ["stop.wav"]
    )


def test_resume_rescores_error_rows_and_drops_them(codec_tree, tmp_path, fake):
    ref, deg = codec_tree
    out = tmp_path / "o.csv"
    assert invoke(ref, deg, "-o", out, "--jobs", "1").exit_code == 1
    (deg / "g711" / "s3.wav").write_text("3.9")  # the broken file got fixed
    fake.clear()
    result = invoke(ref, deg, "-o", out, "--jobs", "1", "--resume")
    assert result.exit_code == 0, result.output
    assert fake == ["s3.wav"]
    table = read_results(out)
    assert len(table) == 6 and set(table["status"]) == {"ok"}


KILL_SCRIPT = """
import sys
sys.path.insert(0, {tests!r})
import test_batch
from perceptq.cli import batch as cli_batch
from perceptq.cli import app
cli_batch._SCORER = test_batch.slow_score
app(["batch", {ref!r}, {deg!r}, "-o", {out!r}, "--jobs", "1"])
"""


def wait_for_lines(path: Path, count: int, timeout_s: float = 60) -> None:
    """Wait until a file a batch is writing has ``count`` lines (or the time is up)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().count("\n") >= count:
            return
        time.sleep(0.02)


def test_ctrl_c_on_a_process_pool_stops_cleanly(tmp_path):
    n = 200
    for i in range(n):
        write(tmp_path / "ref" / f"p{i:03d}.wav")
        write(tmp_path / "deg" / f"p{i:03d}.wav", "3.5")
    out = tmp_path / "o.csv"
    script = KILL_SCRIPT.format(
        tests=str(HERE), ref=str(tmp_path / "ref"), deg=str(tmp_path / "deg"), out=str(out)
    ).replace('"--jobs", "1"', '"--jobs", "2"')
    proc = subprocess.Popen(
        [sys.executable, "-c", script],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        wait_for_lines(out, 6)
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C on a terminal does
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == cli_batch.EXIT_INTERRUPTED, stderr
    assert "Traceback" not in stderr
    assert stderr.strip().splitlines()[-1] == (
        f"perceptq: error: interrupted: {out} keeps the rows written so far; "
        f"run the same command with --resume -o {out} to score the rest"
    )
    kept = read_results(out)
    assert 5 <= len(kept) < n
    assert set(kept["status"]) == {"ok"}


@pytest.mark.parametrize("ext", ["csv", "parquet"])
def test_killed_run_loses_nothing_and_resume_scores_no_pair_twice(tmp_path, monkeypatch, ext):
    n = 80
    for i in range(n):
        write(tmp_path / "ref" / f"p{i:02d}.wav")
        write(tmp_path / "deg" / f"p{i:02d}.wav", f"{1 + (i % 30) / 10}")
    out = tmp_path / f"o.{ext}"
    lines = Path(journal_path(out)) if ext == "parquet" else out
    script = KILL_SCRIPT.format(
        tests=str(HERE), ref=str(tmp_path / "ref"), deg=str(tmp_path / "deg"), out=str(out)
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_lines(lines, 12)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    written = read_results(out)
    assert 10 <= len(written) < n
    CALLS.clear()
    monkeypatch.setattr(cli_batch, "_SCORER", fake_score)
    result = invoke(tmp_path / "ref", tmp_path / "deg", "-o", out, "--jobs", "1", "--resume")
    assert result.exit_code == 0, result.output
    done_before = {Path(d).name for d in written["degraded"]}
    assert not done_before & set(CALLS)  # none scored twice
    table = read_results(out)
    names = sorted(Path(d).name for d in table["degraded"])
    assert names == [f"p{i:02d}.wav" for i in range(n)]  # none lost, none duplicated
    assert len(CALLS) == n - len(done_before)
    assert not Path(journal_path(out)).exists()


# --- the real model on real speech ------------------------------------------------------


def _speech_tree(root: Path, seconds: float = 3.0) -> tuple[Path, Path]:
    """ref/ with clean 8 kHz speech; deg/<condition>/ with the same names degraded."""
    rng = np.random.default_rng(7)
    stems = sorted(p.stem for p in CLEAN.glob("arctic_a000?.wav"))[:2]
    assert stems, f"no clean speech in {CLEAN}"
    for stem in stems:
        x, fs = sf.read(CLEAN / f"{stem}.wav", dtype="float64")
        x = x[: int(seconds * fs) : 2]  # 16 -> 8 kHz by decimation is enough here
        x = x - np.mean(x)
        fs //= 2
        (root / "ref").mkdir(parents=True, exist_ok=True)
        sf.write(root / "ref" / f"{stem}.wav", x, fs, subtype="PCM_16")
        conditions = {
            "copy": x,
            "noise": x + rng.standard_normal(x.size) * np.std(x) * 10 ** (-10 / 20),
        }
        for name, y in conditions.items():
            (root / "deg" / name).mkdir(parents=True, exist_ok=True)
            sf.write(root / "deg" / name / f"{stem}.wav", np.clip(y, -1, 1), fs, subtype="PCM_16")
    return root / "ref", root / "deg"


@pytest.fixture(scope="module")
def speech(tmp_path_factory):
    return _speech_tree(tmp_path_factory.mktemp("speech"))


def test_real_model_batch_end_to_end(speech, tmp_path):
    import perceptq

    ref, deg = speech
    out = tmp_path / "real.csv"
    result = invoke(ref, deg, "-o", out, "--jobs", "2", "--group-by", "folder")
    assert result.exit_code == 0, result.output
    table = read_results(out).set_index("degraded")
    assert len(table) == 4 and set(table["status"]) == {"ok"}
    assert set(table["mode"]) == {"nb"} and set(table["sample_rate"]) == {8000}
    for path, row in table.iterrows():
        info = sf.info(path)
        assert row["degraded_duration_s"] == pytest.approx(info.duration)
        assert row["n_utterances"] >= 1
        assert row["category"] == category_of(row["mos"])
        assert row["degraded_mtime"].endswith("Z")
    for stem in {Path(p).stem for p in table.index}:
        copy = table.loc[str(deg / "copy" / f"{stem}.wav"), "mos"]
        noisy = table.loc[str(deg / "noise" / f"{stem}.wav"), "mos"]
        assert copy > 4.0 > noisy
    first = perceptq.score(ref / Path(table.index[0]).name, table.index[0])
    if any(isinstance(v, dict) for v in first.diagnostics.values()):  # the model reports them
        copy, noisy = (table.loc[str(deg / c / f"{stem}.wav")] for c in ("copy", "noise"))
        assert noisy["diag_snr_db"] < copy["diag_snr_db"]
    copy_line = next(line for line in result.stdout.splitlines() if line.startswith("copy"))
    assert copy_line.split()[1:3] == ["2", "0"]


def test_shipped_pairs_one_per_condition(tmp_path):
    shipped = ROOT / "reference_audio" / "pairs.csv"
    pairs = pd.read_csv(shipped, dtype=str).drop_duplicates("condition")
    for column in ("reference", "degraded"):  # absolute paths: the manifest lives elsewhere
        pairs[column] = [str(shipped.parent / p) for p in pairs[column]]
    manifest = tmp_path / "pairs.csv"
    pairs.to_csv(manifest, index=False)
    out = tmp_path / "shipped.csv"
    result = invoke("--manifest", manifest, "-o", out, "--group-by", "condition", "--jobs", "1")
    assert result.exit_code == 0, result.output
    table = read_results(out).set_index("condition")
    assert len(table) == len(pairs) >= 5
    assert set(table["status"]) == {"ok"}
    assert "speaker" in table.columns  # the manifest's extra columns are carried
    rows = {line.split()[0]: line.split() for line in result.stdout.splitlines() if line.strip()}
    for condition, row in table.iterrows():
        assert float(rows[condition][3]) == pytest.approx(row["mos"], abs=0.005)
    if {"g711u", "noise_snr10"} <= set(table.index):
        assert table.loc["g711u", "mos"] > table.loc["noise_snr10", "mos"]


def test_real_model_score_many_matches_score(speech):
    import perceptq

    ref, deg = speech
    pairs = [(ref / p.name, p) for p in sorted(deg.rglob("*.wav"))]
    results = sorted(score_many(pairs, jobs=2), key=lambda r: r.index)
    for (r, d), res in zip(pairs, results, strict=True):
        assert res.ok, res.error
        assert res.score.mos == perceptq.score(r, d).mos


def test_kernels_are_warmed_once_per_process(speech, monkeypatch):
    from perceptq.batch import runner as batch
    from perceptq.p862 import model

    calls = []
    real = model.warm_up
    monkeypatch.setattr(model, "warm_up", lambda: calls.append(1) or real())
    monkeypatch.setattr(batch, "_warm", False)
    ref, deg = speech
    pairs = [(ref / p.name, p) for p in sorted(deg.rglob("*.wav"))]
    results = list(score_many(pairs, jobs=1))
    assert all(r.ok for r in results) and len(results) == 4
    assert calls == [1]


def _bad_files(root: Path) -> dict[str, Path]:
    x, fs = sf.read(next(iter(sorted(CLEAN.glob("*.wav")))), dtype="float64")
    x = x[: 3 * fs]
    (root / "ref").mkdir(parents=True)
    (root / "deg").mkdir(parents=True)
    for name in ("good", "corrupt", "empty", "text", "silent_ref", "low_rate", "truncated"):
        sf.write(root / "ref" / f"{name}.wav", np.zeros_like(x) if name == "silent_ref" else x, fs)
    sf.write(root / "deg" / "good.wav", x, fs)
    sf.write(root / "deg" / "silent_ref.wav", x, fs)
    rng = np.random.default_rng(1)
    (root / "deg" / "corrupt.wav").write_bytes(rng.integers(0, 256, 4000, dtype=np.uint8).tobytes())
    (root / "deg" / "empty.wav").write_bytes(b"")
    (root / "deg" / "text.wav").write_text("this is not audio\n")
    sf.write(root / "deg" / "low_rate.wav", x[::4], fs // 4)
    whole = (root / "ref" / "good.wav").read_bytes()
    (root / "deg" / "truncated.wav").write_bytes(whole[:30])
    return {"ref": root / "ref", "deg": root / "deg"}


def test_real_model_bad_files_give_error_rows_and_the_batch_goes_on(tmp_path):
    paths = _bad_files(tmp_path)
    out = tmp_path / "bad.csv"
    result = invoke(paths["ref"], paths["deg"], "-o", out, "--jobs", "1")
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    table = read_results(out).set_index("degraded")
    status = {Path(p).stem: s for p, s in table["status"].items()}
    assert status.pop("good") == "ok"
    assert set(status.values()) == {"error"}, status
    for path, row in table.iterrows():
        if Path(path).stem == "good":
            continue
        named = Path(path).name if Path(path).stem != "silent_ref" else "silent_ref.wav"
        assert named in row["error"], row["error"]
        assert "\n" not in row["error"]
    assert "8000" in table.loc[str(paths["deg"] / "low_rate.wav"), "error"]


# --- Dask -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dask_cluster():
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    )
    yield cluster
    cluster.close()


def test_dask_executor_and_scheduler_match_local_run(speech, tmp_path, dask_cluster):
    import distributed

    ref, deg = speech
    local, remote = tmp_path / "local.csv", tmp_path / "remote.csv"
    assert invoke(ref, deg, "-o", local, "--jobs", "1").exit_code == 0
    result = invoke(ref, deg, "-o", remote, "--scheduler", dask_cluster.scheduler_address)
    assert result.exit_code == 0, result.output
    assert f"Dask scheduler {dask_cluster.scheduler_address}" in result.stderr
    a = read_results(local).set_index("degraded").sort_index()
    b = read_results(remote).set_index("degraded").sort_index()
    assert list(a.index) == list(b.index)
    pd.testing.assert_series_equal(a["mos"], b["mos"])
    pd.testing.assert_series_equal(a["delay_ms"], b["delay_ms"])

    pairs = [
        {"reference": str(ref / p.name), "degraded": str(p), "folder": p.parent.name}
        for p in sorted(deg.rglob("*.wav"))
    ]
    with distributed.Client(dask_cluster.scheduler_address) as client:
        results = list(score_many(pairs, executor=client.get_executor()))
    assert sorted(r.index for r in results) == list(range(len(pairs)))
    for r in results:
        assert r.ok, r.error
        assert r.metadata == {"folder": Path(r.degraded).parent.name}
        assert r.score.mos == a.loc[r.degraded, "mos"]
