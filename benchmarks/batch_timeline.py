"""Where the time of a whole ``perceptq batch --jobs 2`` goes: a timeline of one run.

Builds the pairs of ``batch_throughput.py`` (10 s wideband speech), then runs the command
as a user does, in a fresh process, with a probe that every Python process of the run
loads first (a ``sitecustomize`` module on ``PYTHONPATH``; perceptq itself is not
changed). The probe writes timestamps, in seconds since just before the command was
started: each process's interpreter up; the start and end of the imports that matter
(typer, pandas, numba, scipy.linalg, the fork server's ``perceptq.batch.preload``); the
command's steps (workers started, inputs read, first result, summary, exit); and in the
workers each pair's start and end (the first and last are printed). Not part of the
test suite. Usage::

    python benchmarks/batch_timeline.py [--pairs 40] [--jobs 2] [--rounds 3]

With several rounds, each event's median is printed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from batch_throughput import build

PROBE = r'''
import functools, importlib.abc, importlib.util, os, sys, time

T0, LOG = float(os.environ["TIMELINE_T0"]), os.environ["TIMELINE_LOG"]


def mark(event):
    with open(LOG, "a") as f:
        f.write(f"{time.time() - T0:.4f}\t{os.getpid()}\t{event}\n")


mark("interpreter up")
WATCH = {"typer", "pandas", "numba", "scipy.linalg", "perceptq.batch.preload"}
STEPS = {  # module -> (function, event before, event after)
    "perceptq.batch.runner": [("_score_pair", "pair start", "pair done")],
    "perceptq.batch.server": [("start", "fork server started", None)],
    "perceptq.cli.batch": [("_collect_specs", None, "inputs read"),
                           ("run_batch", None, "last result written"),
                           ("_report", None, "summary printed")],
}


def wrap(module, name, before, after):
    fn = getattr(module, name)

    @functools.wraps(fn)
    def probe(*args, **kwargs):
        if before:
            mark(before)
        out = fn(*args, **kwargs)
        if after:
            mark(after)
        return out

    setattr(module, name, probe)


class Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name not in WATCH and name not in STEPS:
            return None
        sys.meta_path.remove(self)
        try:
            spec = importlib.util.find_spec(name)
        finally:
            sys.meta_path.insert(0, self)
        if spec is None or spec.loader is None:
            return spec
        exec_module = spec.loader.exec_module

        def timed(module):
            if name in WATCH:
                mark(f"import {name} start")
            exec_module(module)
            for fn, before, after in STEPS.get(name, []):
                wrap(module, fn, before, after)
            if name in WATCH:
                mark(f"import {name} done")

        spec.loader.exec_module = timed
        return spec


sys.meta_path.insert(0, Finder())
_exit = os._exit


def leave(code):
    mark("os._exit")
    _exit(code)


os._exit = leave
'''


def run_once(manifest: Path, jobs: int, probe_dir: Path) -> dict[str, float]:
    """One run of the whole command; each event's time (first occurrence; last pair)."""
    log = probe_dir / "events.tsv"
    log.unlink(missing_ok=True)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    path = [str(probe_dir), env.get("PYTHONPATH", "")]
    env.update(PYTHONPATH=os.pathsep.join(p for p in path if p),
               TIMELINE_LOG=str(log), TIMELINE_T0=repr(time.time()))
    cmd = [sys.executable, "-c", "from perceptq.cli import main; main()", "batch",
           "--manifest", str(manifest), "--mode", "wb", "-q", "--jobs", str(jobs),
           "-o", str(manifest.parent / "timeline.csv")]
    # run from the pairs' folder: the perceptq imported is the one PYTHONPATH (or the
    # installed package) gives, not one in the current folder; waits for stderr's EOF
    subprocess.run(cmd, check=True, capture_output=True, env=env, cwd=manifest.parent)
    end = time.time() - float(env["TIMELINE_T0"])
    lines = [line.split("\t") for line in log.read_text().splitlines()]
    # which process is which: the command reads the inputs, the server imports the preload
    roles = {pid: "command" for _, pid, event in lines if event == "inputs read"}
    roles.update({pid: "fork server" for _, pid, event in lines
                  if event == "import perceptq.batch.preload start"})
    events: dict[str, float] = {}
    for t, pid, event in lines:
        if event == "os._exit" and roles.get(pid) != "command":
            continue  # workers leave through os._exit too
        if event == "interpreter up":
            event = f"{roles.get(pid, 'other process (resource tracker)')}: {event}"
        if event == "pair done":
            events["last pair done"] = float(t)
        events.setdefault(event, float(t))
    events["every process gone (stdout/stderr closed)"] = end
    return events


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=40)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="perceptq-timeline-") as tmp:
        folder = Path(tmp)
        manifest = build(folder, args.pairs, 10.0)
        probe_dir = folder / "probe"
        probe_dir.mkdir()
        (probe_dir / "sitecustomize.py").write_text(PROBE)
        subprocess.run(  # warm the numba disk cache once so no run compiles
            [sys.executable, "-c", "from perceptq.api import warm_up; warm_up()"], check=True,
            cwd=folder,
        )
        runs = [run_once(manifest, args.jobs, probe_dir) for _ in range(args.rounds)]
    times: dict[str, list[float]] = defaultdict(list)
    for events in runs:
        for event, t in events.items():
            times[event].append(t)
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"perceptq batch --jobs {args.jobs}, {args.pairs} pairs of 10 s wb speech; "
          f"median of {args.rounds} run(s); load average (1, 5, 15 min): {load}")
    for event, ts in sorted(times.items(), key=lambda kv: statistics.median(kv[1])):
        print(f"{statistics.median(ts):8.3f} s  {event}")


if __name__ == "__main__":
    main()
