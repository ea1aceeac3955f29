"""Batch throughput: perceptq batch with 1 and 2 jobs vs the reference package's pesq_batch.

Builds N pairs of 10 s speech from the shipped clean audio (reference_audio/clean): ten
10 s references made of the shipped utterances in different orders, each with degraded
versions (white noise at several SNRs, G.711 mu-law and A-law, band limiting, gain).
Then, each in a fresh process so start-up and peak memory are counted honestly:

- ``perceptq jobs=1`` and ``perceptq jobs=2``: ``perceptq.score_many`` over the file
  paths, writing the result table as ``perceptq batch`` does (worker start-up included);
  jobs=1 scores in the calling process, once as is and once started with the environment
  each worker process of jobs=2 gets (``perceptq.batch.runner.WORKER_ENV``: one-thread numerical
  libraries, allocator settings), so the last ratio is the parallel speed-up alone;
- ``pesq_batch`` (the reference package, 2 processes): reading the same files, then one
  call on the arrays.

Then the whole commands as a user runs them, each a fresh process timed from outside
(Python start-up and imports included): ``perceptq batch --manifest ... --jobs 1`` and
``--jobs 2`` against a Python process that reads the same files and calls ``pesq_batch``.

Prints pairs per second, the ratios, the peak resident memory of the parent process, and
for perceptq the mean number of workers busy scoring (time spent on pairs / wall time;
close to the number of jobs when the batch machinery keeps every worker fed).
Not part of the test suite. Usage::

    python benchmarks/batch_throughput.py [--pairs 200] [--seconds 10] [--mode wb]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parent.parent
CLEAN = ROOT / "reference_audio" / "clean"
RATE = 16000


def _utterances() -> list[np.ndarray]:
    out = []
    for path in sorted(CLEAN.glob("*.wav")):
        x, fs = sf.read(path, dtype="float64")
        if fs != RATE:
            raise SystemExit(f"{path}: expected {RATE} Hz, got {fs}")
        out.append(x if x.ndim == 1 else x[:, 0])
    if not out:
        raise SystemExit(f"{CLEAN}: no clean speech found")
    return out


def _degrade(x: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    from scipy import signal

    from perceptq.network import g711

    kind = k % 5
    if kind == 0:  # white noise at 5..35 dB SNR
        snr = 5 + 30 * rng.random()
        return x + rng.standard_normal(x.size) * np.std(x) * 10 ** (-snr / 20)
    if kind == 1:
        return g711.decode(g711.encode(x, "ulaw"), "ulaw")
    if kind == 2:
        return g711.decode(g711.encode(x, "alaw"), "alaw")
    if kind == 3:  # band limited to 2.5..3.5 kHz
        sos = signal.butter(6, 2500 + 1000 * rng.random(), fs=RATE, output="sos")
        return signal.sosfilt(sos, x)
    return x * 10 ** ((-12 + 6 * rng.random()) / 20)  # gain only


def build(folder: Path, n_pairs: int, seconds: float) -> Path:
    """Write the pairs and a manifest; return the manifest path."""
    rng = np.random.default_rng(862)
    parts = _utterances()
    n = int(seconds * RATE)
    refs = []
    for i in range(10):
        order = rng.permutation(len(parts))
        x = np.concatenate([np.concatenate((parts[j], np.zeros(RATE // 4))) for j in order])
        x = np.resize(x, n) if x.size < n else x[:n]
        path = folder / "ref" / f"ref{i:02d}.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, x, RATE, subtype="PCM_16")
        refs.append((path, x))
    rows = ["reference,degraded"]
    for k in range(n_pairs):
        ref_path, x = refs[k % len(refs)]
        y = np.clip(_degrade(x, k // len(refs), rng), -1, 1)
        path = folder / "deg" / f"deg{k:04d}.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, y, RATE, subtype="PCM_16")
        rows.append(f"{ref_path.relative_to(folder)},{path.relative_to(folder)}")
    manifest = folder / "pairs.csv"
    manifest.write_text("\n".join(rows) + "\n")
    return manifest


def _pairs(manifest: Path) -> list[tuple[str, str]]:
    lines = manifest.read_text().splitlines()[1:]
    return [tuple(str(manifest.parent / p) for p in line.split(",")) for line in lines]


def run_one(manifest: Path, what: str, mode: str) -> dict:
    """Score every pair once with ``what`` in this process; return timing and memory."""
    pairs = _pairs(manifest)
    start = time.perf_counter()
    if what == "pesq_batch":
        from pesq import pesq_batch

        refs = np.stack([sf.read(r, dtype="float64")[0] for r, _ in pairs])
        degs = np.stack([sf.read(d, dtype="float64")[0] for _, d in pairs])
        scores = pesq_batch(RATE, refs, degs, mode, n_processor=2)
        ok = sum(isinstance(s, float) for s in scores)
    else:
        from perceptq.batch.runner import score_many
        from perceptq.batch.table import DIAG_COLUMNS, RESULT_COLUMNS, ResultWriter

        jobs = int(what.split("=")[1])
        out = manifest.parent / f"results-jobs{jobs}.csv"
        ok, busy = 0, 0.0
        with ResultWriter(out, [*RESULT_COLUMNS, *DIAG_COLUMNS]) as writer:
            for result in score_many(pairs, mode=mode, jobs=jobs):
                writer.write(result.to_row())
                ok += result.ok
                busy += result.seconds
    elapsed = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out = {"what": what, "pairs": len(pairs), "ok": ok, "seconds": elapsed, "peak_mb": peak_mb}
    if what != "pesq_batch":
        out["busy"] = busy / elapsed  # mean number of workers scoring at any time
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--mode", choices=["nb", "wb"], default="wb")
    parser.add_argument("--rounds", type=int, default=1,
                        help="repeat every run this many times, alternating; medians")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    parser.add_argument("--manifest", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(args.manifest, args.one, args.mode)))
        return
    with tempfile.TemporaryDirectory(prefix="perceptq-bench-") as tmp:
        manifest = build(Path(tmp), args.pairs, args.seconds)
        # warm the numba disk cache once so no run pays for compilation
        subprocess.run(
            [sys.executable, "-c", "from perceptq.p862.model import warm_up; warm_up()"], check=True
        )
        rows = {}
        from perceptq.batch.runner import WORKER_ENV

        as_worker = {**WORKER_ENV, **os.environ}
        runs = {
            "perceptq jobs=1": ("jobs=1", None),
            "  worker env": ("jobs=1", as_worker),
            "perceptq jobs=2": ("jobs=2", None),
            "pesq_batch": ("pesq_batch", None),
        }
        seconds: dict[str, list[float]] = {name: [] for name in runs}
        for _ in range(args.rounds):  # rounds alternate the runs, so load hits all alike
            for name, (what, env) in runs.items():
                cmd = [sys.executable, __file__, "--one", what, "--manifest", manifest]
                done = subprocess.run(
                    [*map(str, cmd), "--mode", args.mode],
                    capture_output=True,
                    text=True,
                    check=True,
                    env=env,
                )
                rows[name] = json.loads(done.stdout.strip().splitlines()[-1])
                seconds[name].append(rows[name]["seconds"])
        for name, r in rows.items():  # the median round of each run
            r["seconds"] = float(np.median(seconds[name]))
        whole = _whole_commands(manifest, args.mode, args.rounds)
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"{args.pairs} pairs of {args.seconds:g} s speech, {args.mode}, 16 kHz, "
          f"median of {args.rounds} alternating round(s)")
    print(f"{os.cpu_count()} cores; load average at the end (1, 5, 15 min): {load}")
    head = f"{'run':<18}{'ok':>5}{'seconds':>10}{'pairs/s':>10}{'parent peak MB':>16}"
    print(f"{head}{'busy workers':>14}")
    for what, r in rows.items():
        rate = r["pairs"] / r["seconds"]
        r["rate"] = rate
        busy = f"{r['busy']:>14.2f}" if "busy" in r else f"{'-':>14}"
        line = f"{what:<18}{r['ok']:>5}{r['seconds']:>10.1f}{rate:>10.2f}{r['peak_mb']:>16.0f}"
        print(line + busy)
    one, single, two, ref = (rows[k]["rate"] for k in rows)
    print(f"jobs=2 / jobs=1: {two / one:.2f}x (target >= 1.7x)")
    print(f"jobs=2 / jobs=1 in the workers' environment: {two / single:.2f}x")
    print(f"perceptq jobs=2 / pesq_batch (2 processes): {two / ref:.2f}x (target >= 1.5x)")
    print("\nwhole commands, wall clock of a fresh process (Python start-up and imports "
          "included), median and best of the rounds:")
    for name, ts in whole.items():
        t = float(np.median(ts))
        print(f"  {name:<50}{t:>7.2f} s {args.pairs / t:>8.2f} pairs/s  (best {min(ts):.2f} s)")
    ours, ref = whole["perceptq batch --jobs 2"], whole[REF_COMMAND]
    print(f"perceptq batch --jobs 2 / python + pesq_batch(n_processor=2): "
          f"{np.median(ref) / np.median(ours):.2f}x, best against best "
          f"{min(ref) / min(ours):.2f}x (target >= 1.5x on 40 pairs, >= 2x on 1000)")


REF_COMMAND = "python: read files + pesq_batch(n_processor=2)"
REF_CHILD = r"""
import sys
from pathlib import Path
import numpy as np, soundfile as sf
from pesq import pesq_batch
if __name__ == "__main__":
    m = Path(sys.argv[1])
    pairs = [[m.parent / p for p in line.split(",")] for line in m.read_text().splitlines()[1:]]
    refs = np.stack([sf.read(r, dtype="float64")[0] for r, _ in pairs])
    degs = np.stack([sf.read(d, dtype="float64")[0] for _, d in pairs])
    pesq_batch(16000, refs, degs, sys.argv[2], n_processor=2)
"""


def _whole_commands(manifest: Path, mode: str, rounds: int) -> dict[str, list[float]]:
    """Wall times of each whole command, in alternating rounds (at least two).

    On a shared machine a run now and then loses a core to another process for a while
    (the reference's command then takes up to twice as long): the best of the rounds
    tells what each command takes on free cores, the median what it took here."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    cli = [sys.executable, "-c", "from perceptq.cli import main; main()", "batch",
           "--manifest", str(manifest), "--mode", mode, "-q"]
    runs = {
        "perceptq batch --jobs 1": [*cli, "--jobs", "1"],
        "perceptq batch --jobs 2": [*cli, "--jobs", "2"],
        REF_COMMAND: [sys.executable, "-c", REF_CHILD, str(manifest), mode],
    }
    times: dict[str, list[float]] = {k: [] for k in runs}
    for _ in range(max(rounds, 2)):
        for name, cmd in runs.items():
            out = manifest.parent / f"whole-{len(times[name])}-{name[-1]}.csv"
            cmd = [*cmd, "-o", str(out)] if name.startswith("perceptq") else cmd
            start = time.perf_counter()
            subprocess.run(cmd, check=True, capture_output=True, env=env)
            times[name].append(time.perf_counter() - start)
    return times


if __name__ == "__main__":
    main()
