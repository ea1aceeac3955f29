"""The workers' fork server: forked from a fresh command where that is safe, spawned
otherwise; its workers get the same settings and kernels either way."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import soundfile as sf

from perceptq.batch import server
from perceptq.batch.table import read_results

ROOT = Path(__file__).parents[2]

#: Run in a fresh interpreter (where nothing has loaded numpy yet): writes output that is
#: not flushed, starts the server as ``perceptq batch`` does, runs a pool of two workers
#: and reports what the server and the workers are.
FRESH_COMMAND = r"""
import json, os, sys, threading
sys.stdout.write("pending output")  # not flushed: neither server nor worker may repeat it
{before}
sys.path.insert(0, {here!r})
from multiprocessing import forkserver
from perceptq.batch import runner, server
server.fork_allowed = {allow}  # as the perceptq command does first thing
forkable = server.can_fork_here()
runner.start_workers_early(2)
pid = forkserver._forkserver._forkserver_pid
with open(f"/proc/{{pid}}/cmdline", "rb") as f:
    server_cmdline = f.read().decode()
with open("/proc/self/cmdline", "rb") as f:
    own_cmdline = f.read().decode()
from test_server import worker_state
with runner._process_pool(2, warm=False) as pool:
    workers = [pool.submit(worker_state).result() for _ in range(4)]
runner.stop_workers()
import multiprocessing
print("\n" + json.dumps({{"forkable": forkable, "forked": server_cmdline == own_cmdline,
                  "server": pid, "workers": workers,
                  "children": len(multiprocessing.active_children()),
                  "server_after": forkserver._forkserver._forkserver_pid}}))
"""


def worker_state() -> list:
    """What a worker of FRESH_COMMAND is: its parent, kernels, environment, allocator."""
    import gc

    from perceptq import api
    from perceptq.batch import runner

    return [os.getppid(), runner._warm, "perceptq.p862._kernels" in sys.modules,
            {k: os.environ.get(k) for k in runner.WORKER_ENV}, api._allocator_tuned,
            gc.isenabled(), gc.get_freeze_count()]


def _fresh(before: str = "", *, allow: bool = True) -> tuple[str, dict]:
    """Run FRESH_COMMAND; its unflushed text and its report."""
    env = {k: v for k, v in os.environ.items()  # buffered output, allocator not set
           if not k.startswith("MALLOC_") and k != "PYTHONUNBUFFERED"}
    code = FRESH_COMMAND.format(before=before, allow=allow, here=str(Path(__file__).parent))
    out = subprocess.run([sys.executable, "-c", code],
                         capture_output=True, text=True, check=True, env=env, cwd=ROOT)
    text, _, report = out.stdout.rstrip("\n").rpartition("\n")
    return text, json.loads(report)


def _check_workers(report: dict) -> None:
    """The workers of a FRESH_COMMAND report: set up alike, however the server started."""
    assert len(report["workers"]) == 4
    for ppid, warm, loaded, env, _, collecting, frozen in report["workers"]:
        assert ppid == report["server"]  # forked by the server
        assert warm and loaded  # the server loaded the kernels before forking them
        assert collecting and frozen > 0  # the server froze its imports (this command did not)
        assert env == server.WORKER_ENV  # one-thread numerics, allocator settings shown
    assert report["children"] == 0 and report["server_after"] is None  # all stopped


@pytest.mark.skipif(sys.platform != "linux", reason="the server is forked on Linux only")
def test_a_fresh_command_forks_the_server_and_its_workers_are_set_up_as_before():
    text, report = _fresh()
    assert report["forkable"] and report["forked"]
    assert text == "pending output"  # once: the copies did not write it again
    _check_workers(report)
    # the allocator settings applied by mallopt (glibc had read no MALLOC_* here)
    assert all(tuned for *_, tuned, _, _ in report["workers"])


@pytest.mark.skipif(sys.platform != "linux", reason="the server is forked on Linux only")
@pytest.mark.parametrize("before", ["import numpy",
                                    "threading.Thread(target=threading.Event().wait,"
                                    " daemon=True).start()"])
def test_after_numpy_or_with_a_thread_the_server_is_a_new_interpreter(before):
    text, report = _fresh(before)
    assert not report["forkable"] and not report["forked"]
    assert text == "pending output"
    _check_workers(report)


@pytest.mark.skipif(sys.platform != "linux", reason="the server is forked on Linux only")
def test_a_library_caller_gets_a_new_interpreter_for_its_server():
    """Only the perceptq command lets the server be forked from it: another caller may
    hold files or sockets open that a copy would hold open as long as it lives."""
    text, report = _fresh(allow=False)
    assert report["forkable"] and not report["forked"]
    assert text == "pending output"
    _check_workers(report)


def test_a_server_loop_of_another_python_is_never_forked(monkeypatch):
    """Python 3.14's server loop authenticates its clients (an extra argument): the server
    is then a new interpreter, started by multiprocessing itself."""
    from multiprocessing import forkserver

    def main(listener_fd, alive_r, preload, main_path=None, sys_path=None, *,
             authkey_r=None):
        """A server loop with 3.14's arguments."""

    assert server._knows_server_loop() == (sys.version_info < (3, 14))
    monkeypatch.setattr(forkserver, "main", main)
    assert not server._knows_server_loop()


def test_this_test_process_spawns_its_server():
    """Every other batch test runs here, with numpy loaded: they test the spawned server."""
    assert "numpy" in sys.modules
    assert not server.can_fork_here()


@pytest.mark.skipif(sys.platform != "linux", reason="the server is forked on Linux only")
def test_the_command_scores_the_same_on_forked_workers_as_in_process(tmp_path):
    """``perceptq batch --jobs 2`` as a user runs it (the server forked from the command)
    gives the rows ``--jobs 1`` gives, apart from the time each pair took."""
    clean = sorted((ROOT / "reference_audio" / "clean").glob("*.wav"))[:3]
    rows = ["reference,degraded"]
    for k, path in enumerate(clean):
        x, fs = sf.read(path)
        sf.write(tmp_path / f"deg{k}.wav", 0.5 * x + 0.01 * (k + 1) * x[::-1], fs)
        rows.append(f"{path},deg{k}.wav")
    (tmp_path / "pairs.csv").write_text("\n".join(rows) + "\n")
    tables = []
    for jobs in ("2", "1"):
        out = tmp_path / f"jobs{jobs}.csv"
        cmd = [sys.executable, "-m", "perceptq", "batch", "--manifest",
               str(tmp_path / "pairs.csv"), "-o", str(out), "--jobs", jobs, "-q"]
        subprocess.run(cmd, check=True, capture_output=True, cwd=ROOT)
        table = read_results(out).drop(columns=["seconds"])
        tables.append(table.sort_values("degraded").reset_index(drop=True))
    assert (tables[0]["status"] == "ok").all()
    assert tables[0].equals(tables[1])


DYING_COMMAND = r"""
import os
from multiprocessing import get_context, resource_tracker
from perceptq.batch import runner, server
server.fork_allowed = True  # as the perceptq command does first thing
runner.start_workers_early(2)
lock = get_context("forkserver").Lock()  # a named semaphore, registered with the tracker
pid = resource_tracker._resource_tracker._pid
with open(f"/proc/{pid}/cmdline", "rb") as f, open("/proc/self/cmdline", "rb") as g:
    print(f.read() == g.read(), lock._semlock.name, flush=True)
os._exit(0)  # dies without removing the semaphore or stopping its workers' server
"""


@pytest.mark.skipif(sys.platform != "linux", reason="the server is forked on Linux only")
def test_the_forked_resource_tracker_cleans_up_after_a_command_that_died():
    out = subprocess.run([sys.executable, "-c", DYING_COMMAND], capture_output=True,
                         text=True, check=True, cwd=ROOT, timeout=60)
    forked, name = out.stdout.split()
    assert forked == "True"  # a copy of the command, not a new interpreter
    assert "leaked semaphore" in out.stderr  # the tracker saw the command go...
    assert not Path(f"/dev/shm/sem.{name.lstrip('/')}").exists()  # ...and removed it
