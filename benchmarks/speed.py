"""Side-by-side speed: ``perceptq.score()`` and ``perceptq.pesq()`` against the reference
package's ``pesq()`` in ONE process, calls interleaved, so machine load hits all three alike.

Pairs: the benchmark pairs of ``benchmarks/run.py`` (shipped speech, G.711 µ-law, 30 dB
white noise, 2 % frame loss), 3 s / 10 s / 60 s at 8 kHz (nb) and 16 kHz (wb), as arrays in
memory. ``score()`` is the full call (timeline, diagnostics, drift). Reported: median
per-pair time of each and the ratios to the reference, plus the load average.

Then start-up, each in a fresh process with the numba cache warm: ``import perceptq``,
``perceptq --help``, ``perceptq score REF DEG`` on the 10 s wb pair written as WAV files
(next to a Python process that reads the files and calls the reference), and the first
run ever (``perceptq score`` with ``NUMBA_CACHE_DIR`` pointed at an empty folder).

Usage: ``python benchmarks/speed.py [--repeats N] [--skip-startup] [--only-startup]``.
Not collected by pytest.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "tests"))


def _load() -> str:
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


def _median(xs: list[float]) -> float:
    s = sorted(xs)
    m = len(s) // 2
    return s[m] if len(s) % 2 else (s[m - 1] + s[m]) / 2


def per_pair(repeats: int, durations: list[float]) -> None:
    from pesq import pesq as ref_pesq
    from run import build_pair

    import perceptq

    print(f"load average before (1, 5, 15 min): {_load()}")
    print("| rate | mode | signal | score() | pesq() | reference | score() / ref "
          "| pesq() / ref |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for rate in (8000, 16000):
        mode = "nb" if rate == 8000 else "wb"
        for dur in durations:
            ref, deg = build_pair(rate, dur)
            args = (rate, ref, deg, mode)
            calls = {
                "score": lambda a=args: perceptq.score(a[1], a[2], sample_rate=a[0],
                                                       mode=a[3]).mos,
                "pesq": lambda a=args: perceptq.pesq(*a),
                "reference": lambda a=args: ref_pesq(*a),
            }
            for f in calls.values():  # warm-up
                f()
            times: dict[str, list[float]] = {k: [] for k in calls}
            n = max(2, repeats // 3) if dur >= 60 else repeats
            for _ in range(n):
                for k, f in calls.items():
                    t0 = time.perf_counter()
                    f()
                    times[k].append(time.perf_counter() - t0)
            med = {k: _median(v) for k, v in times.items()}
            print(f"| {rate // 1000} kHz | {mode} | {dur:g} s | {med['score'] * 1e3:.0f} ms "
                  f"| {med['pesq'] * 1e3:.0f} ms | {med['reference'] * 1e3:.0f} ms "
                  f"| {med['score'] / med['reference']:.3f} "
                  f"| {med['pesq'] / med['reference']:.3f} |", flush=True)
    print(f"load average after (1, 5, 15 min): {_load()}")


def _wall(cmd: list[str], env: dict | None = None, n: int = 3, cwd: Path = ROOT) -> float:
    best = []
    for _ in range(n):
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True, env=env, cwd=cwd)
        best.append(time.perf_counter() - t0)
    return _median(best)


REF_CHILD = r"""
import sys, soundfile as sf
from pesq import pesq
r, fs = sf.read(sys.argv[1]); d, _ = sf.read(sys.argv[2])
print(pesq(fs, r, d, "wb"))
"""


def startup(tree: Path = ROOT) -> None:
    import soundfile as sf
    from run import build_pair

    py = sys.executable
    env = {**os.environ, "PYTHONPATH": str(tree)}  # and cwd=tree: `python -c` puts it first
    # Bytecode caching on, as in any installed package (pip compiles at install time): a
    # PYTHONDONTWRITEBYTECODE left in this shell would recompile every module per run.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    with tempfile.TemporaryDirectory(prefix="perceptq-speed-") as tmp:
        ref, deg = build_pair(16000, 10)
        rp, dp = Path(tmp) / "ref.wav", Path(tmp) / "deg.wav"
        sf.write(rp, ref, 16000, subtype="PCM_16")
        sf.write(dp, deg, 16000, subtype="PCM_16")
        cli = [py, "-c", "from perceptq.cli import main; main()"]
        subprocess.run([*cli, "score", str(rp), str(dp)], check=True, capture_output=True,
                       env=env, cwd=tree)  # numba cache warm
        print(f"\nload average (1, 5, 15 min): {_load()}")
        print("| start-up (fresh process, numba cache warm) | wall |")
        print("| --- | ---: |")
        rows = {
            "python -c pass": [py, "-c", "pass"],
            "import perceptq": [py, "-c", "import perceptq"],
            "perceptq --help": [*cli, "--help"],
            "perceptq score REF DEG (10 s wb)": [*cli, "score", str(rp), str(dp)],
            "python: read files + reference pesq()": [py, "-c", REF_CHILD, str(rp), str(dp)],
        }
        for label, cmd in rows.items():
            print(f"| {label} | {_wall(cmd, env, cwd=tree):.2f} s |", flush=True)
        cold = Path(tmp) / "numba-cold"
        cold.mkdir()
        t = _wall([*cli, "score", str(rp), str(dp)], {**env, "NUMBA_CACHE_DIR": str(cold)}, 1,
                  cwd=tree)
        print(f"| first run ever: perceptq score, empty numba cache | {t:.2f} s |")
        shutil.rmtree(cold, ignore_errors=True)
        mods = subprocess.run(
            [py, "-c", "import sys, perceptq; perceptq.score(sys.argv[1], sys.argv[2]);"
             "print(' '.join(sorted(m for m in sys.modules if m.split('.')[0] in "
             "('scipy','matplotlib','pandas','pyarrow','dpkt','dask','rich') "
             "and m.count('.') <= 1)))", str(rp), str(dp)],
            check=True, capture_output=True, text=True, env=env, cwd=tree).stdout.strip()
        print(f"\nheavy modules after import perceptq + score(): {mods or 'none'}")
        print("(scipy.linalg: numba's own BLAS check when its first kernel loads)")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=9)
    ap.add_argument("--durations", type=float, nargs="+", default=[3, 10, 60])
    ap.add_argument("--skip-startup", action="store_true")
    ap.add_argument("--only-startup", action="store_true")
    ap.add_argument("--tree", type=Path, default=ROOT,
                    help="perceptq source tree for the start-up runs (e.g. an older version); "
                         "the per-pair runs use the perceptq that this Python imports")
    args = ap.parse_args()
    print(f"{os.cpu_count()} cores")
    if not args.only_startup:
        per_pair(args.repeats, args.durations)
    if not args.skip_startup:
        startup(args.tree)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
