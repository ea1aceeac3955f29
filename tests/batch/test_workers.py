"""Batch worker start-up is paid once: the fork server loads the kernels, workers are
copies of it."""

from __future__ import annotations

import os
import signal
import sys

import pytest


def _worker_state(_: int) -> tuple[int, bool, bool]:
    from perceptq.batch import runner

    return os.getpid(), runner._warm, "perceptq.p862._kernels" in sys.modules


def test_workers_start_from_a_warm_fork_server():
    from perceptq.batch import runner

    # warm=False: the workers do not warm up themselves; what they have, they inherited
    with runner._process_pool(2, warm=False) as pool:
        states = list(pool.map(_worker_state, range(4)))
    assert all(warm and loaded for _, warm, loaded in states), states
    assert os.getpid() not in {pid for pid, _, _ in states}


def test_workers_can_be_started_before_the_batch_reads_its_inputs(monkeypatch):
    """``perceptq batch`` starts the fork server (which loads the kernels) before reading
    its manifest; the pool made afterwards uses that server, and one job starts nothing."""
    from multiprocessing import forkserver

    from perceptq.batch import runner

    runner.start_workers_early(2)
    server = forkserver._forkserver._forkserver_pid
    assert server is not None
    with runner._process_pool(2, warm=False) as pool:
        states = list(pool.map(_worker_state, range(2)))
    assert forkserver._forkserver._forkserver_pid == server  # the same server, not a new one
    assert all(warm and loaded for _, warm, loaded in states), states

    started = []
    monkeypatch.setattr(runner, "_worker_context", lambda: started.append(1))
    runner.start_workers_early(1)
    assert started == []
    runner.start_workers_early(2)
    assert started == [1]


def test_stop_workers_ends_the_fork_server_and_the_next_batch_starts_a_new_one():
    from multiprocessing import forkserver

    from perceptq.batch import runner

    runner.start_workers_early(2)
    server = forkserver._forkserver._forkserver_pid
    runner.stop_workers()
    assert forkserver._forkserver._forkserver_pid is None
    with pytest.raises(ChildProcessError):  # ended and reaped: no longer our child
        os.waitpid(server, os.WNOHANG)
    runner.stop_workers()  # nothing running: nothing to do
    with runner._process_pool(2, warm=False) as pool:
        states = list(pool.map(_worker_state, range(2)))
    assert all(warm and loaded for _, warm, loaded in states), states
    assert forkserver._forkserver._forkserver_pid not in (None, server)


def test_a_finished_batch_command_leaves_no_worker_process(tmp_path):
    """``perceptq batch`` stops its workers and their server before it returns, so that
    nothing outlives the command (and it can leave without the interpreter's teardown)."""
    import multiprocessing
    from multiprocessing import forkserver

    import soundfile as sf
    from speech import FS, conversation
    from typer.testing import CliRunner

    from perceptq.cli import app

    ref, fs = conversation(4.0, seed=3), FS
    manifest = tmp_path / "pairs.csv"
    rows = ["reference,degraded"]
    for k in range(3):
        sf.write(tmp_path / f"ref{k}.wav", ref, fs)
        sf.write(tmp_path / f"deg{k}.wav", ref * 0.5, fs)
        rows.append(f"ref{k}.wav,deg{k}.wav")
    manifest.write_text("\n".join(rows) + "\n")
    out = tmp_path / "out.csv"
    args = ["batch", "--manifest", str(manifest), "-o", str(out), "--jobs", "2", "-q"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert out.read_text().count("\n") == 4
    assert forkserver._forkserver._forkserver_pid is None
    assert not multiprocessing.active_children()


@pytest.mark.parametrize(
    ("argv", "started"),
    [
        (["batch", "--manifest", "pairs.csv"], [None]),
        (["batch", "ref", "deg", "--jobs", "2"], [2]),
        (["batch", "ref", "deg", "--jobs=3", "-q"], [3]),
        (["batch", "ref", "deg", "--jobs", "1"], []),
        (["batch", "ref", "deg", "--jobs=1"], []),
        (["batch", "ref", "deg", "--jobs"], []),
        (["batch", "ref", "deg", "--jobs", "two"], []),
        (["batch", "--help"], []),
        (["batch", "--manifest", "pairs.csv", "--scheduler", "tcp://host:8786"], []),
        (["batch", "--manifest", "pairs.csv", "--scheduler=tcp://host:8786"], []),
        (["score", "ref.wav", "deg.wav"], []),
        ([], []),
    ],
)
def test_the_command_line_starts_batch_workers_before_typer_only_when_sure(
    monkeypatch, argv, started
):
    from perceptq import cli
    from perceptq.batch import runner

    calls = []
    monkeypatch.setattr(runner, "start_workers_early", calls.append)
    monkeypatch.setattr(runner, "default_jobs", lambda: 2)
    assert cli._start_batch_workers(argv) == bool(started)
    assert calls == started


def test_one_core_starts_no_workers_early(monkeypatch):
    from perceptq import cli
    from perceptq.batch import runner

    calls = []
    monkeypatch.setattr(runner, "start_workers_early", calls.append)
    monkeypatch.setattr(runner, "default_jobs", lambda: 1)
    assert not cli._start_batch_workers(["batch", "ref", "deg"])
    assert calls == []


def test_a_usage_error_stops_the_workers_started_early(monkeypatch, tmp_path):
    import gc
    from multiprocessing import forkserver

    from perceptq import cli

    monkeypatch.setattr(sys, "argv", ["perceptq", "batch", "--jobs", "2", "--no-such-option"])
    monkeypatch.setattr(gc, "freeze", lambda: None)  # main's start-up tuning: not in pytest
    monkeypatch.setattr(gc, "set_threshold", lambda *a: None)
    left = []
    monkeypatch.setattr(cli, "_leave", left.append)
    with pytest.raises(SystemExit) as exit_:
        cli.main()
    assert exit_.value.code == 2 and left == [2]
    assert forkserver._forkserver._forkserver_pid is None


def test_the_batch_workers_start_before_typer_or_numpy_is_imported():
    """``perceptq batch`` starts its workers' fork server from ``perceptq.cli`` and
    ``perceptq.batch.runner`` before anything else: neither loads typer, the commands or
    numpy (workers started from the ``perceptq`` script also import ``perceptq.cli``
    again)."""
    import subprocess

    heavy = ("numpy", "typer", "rich", "click", "perceptq.cli.batch", "perceptq.cli.common")
    code = (f"import sys, perceptq.cli, perceptq.batch.runner; "
            f"print(sorted(m for m in {heavy!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]"


LOADED_AFTER_WARM_UP = r"""
import sys
from numba.core.registry import CPUDispatcher
from perceptq import api
from perceptq.audio import _kernels as audio_kernels
from perceptq.p862 import _kernels as model_kernels


def loaded():
    return {(m.__name__, n): list(f.signatures) for m in (audio_kernels, model_kernels)
            for n, f in vars(m).items() if isinstance(f, CPUDispatcher)}


api.warm_up()
warm = loaded()
for mode in ("wb", "nb"):
    api.score(sys.argv[1], sys.argv[2], mode=mode)
print(sorted(n for k, n in warm if loaded()[k, n] != warm[k, n]))
"""


def test_a_warmed_up_process_loads_no_kernel_on_its_first_pairs():
    """The fork server's warm-up (``api.warm_up``) loads every kernel a pair needs, before
    the input checks, in the model and after it: no worker loads one on its first pair."""
    import subprocess
    from pathlib import Path

    audio = Path(__file__).parents[2] / "reference_audio"
    ref, deg = audio / "clean" / "arctic_a0001.wav", audio / "degraded/g711u/arctic_a0001.wav"
    out = subprocess.run([sys.executable, "-c", LOADED_AFTER_WARM_UP, str(ref), str(deg)],
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.skipif(not hasattr(os, "waitid"), reason="needs os.waitid")
def test_the_fork_server_can_be_told_to_end_and_reaped_later():
    """``perceptq batch`` ends the server while it writes the summary, then reaps it."""
    from multiprocessing import forkserver

    from perceptq.batch import runner

    runner.start_workers_early(2)
    server = forkserver._forkserver._forkserver_pid
    runner.stop_workers(wait=False)
    assert forkserver._forkserver._forkserver_pid == server  # told to end, not reaped
    ended = os.waitid(os.P_PID, server, os.WEXITED | os.WNOWAIT)  # (WNOWAIT: not reaped)
    assert ended.si_status == signal.SIGTERM
    runner.stop_workers()
    assert forkserver._forkserver._forkserver_pid is None
    with pytest.raises(ChildProcessError):  # reaped
        os.waitpid(server, os.WNOHANG)


SUMMARY_LOADED_SCRIPT = r"""
import sys
from perceptq.cli import app
from perceptq.cli import batch as cli_batch

seen = []


def scorer(reference, degraded, *, mode="auto"):
    seen.append("perceptq.batch.summary" in sys.modules)
    raise ValueError("not scored here")  # an error row; the batch goes on


cli_batch._SCORER = scorer
try:
    app(["batch", sys.argv[1], sys.argv[2], "-o", sys.argv[3], "--jobs", "1", "-q"])
except SystemExit:
    pass
print(seen)
"""


def test_the_batch_command_loads_its_summary_before_the_pairs_are_scored(tmp_path):
    """The summary's modules (pandas) load while the workers start, not after the last
    pair (a batch of folders reads no manifest, so nothing else has loaded pandas)."""
    import subprocess

    for folder in ("ref", "deg"):
        for name in ("a.wav", "b.wav"):
            (tmp_path / folder).mkdir(exist_ok=True)
            (tmp_path / folder / name).write_bytes(b"")
    out = subprocess.run([sys.executable, "-c", SUMMARY_LOADED_SCRIPT, str(tmp_path / "ref"),
                          str(tmp_path / "deg"), str(tmp_path / "out.csv")],
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[True, True]", out.stderr
