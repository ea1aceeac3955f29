"""ViSQOL speed and memory: perceptq vs the PyPI package ``visqol-python``, side by side.

* warm time per pair on the 48 kHz conformance pairs (audio mode) and the speech pair
  (speech mode, exponential mapping): median of ``--repeats`` calls after one warm-up call,
  the two implementations called alternately in one process so they share the load;
* first call in a new process with the numba cache warm (``import`` + first score), for
  perceptq's ViSQOL, perceptq's P.862 and visqol-python;
* peak RSS (VmHWM, reset once the inputs are built: the two input arrays plus what
  scoring adds) and time of one perceptq ViSQOL score on 1, 10 and 30 minutes of 48 kHz
  music-like audio (each in a fresh process; ``--long`` to run it, it takes minutes).

Usage: ``python benchmarks/visqol_speed.py [--repeats N] [--long]``. Not collected by pytest.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "reference_audio" / "visqol"
PAIRS = (
    ("audio", "strauss48_stereo.wav", "strauss48_stereo_lp35.wav"),
    ("audio", "guitar48_stereo.wav", "guitar48_stereo_64kbps_aac.wav"),
    ("audio", "castanets48_stereo.wav", "castanets48_stereo.wav"),
    ("speech", "CA01_01.wav", "transcoded_CA01_01.wav"),
)


def _visqol_python(mode: str):
    import logging

    from visqol import VisqolApi

    logging.getLogger("visqol").setLevel(logging.ERROR)
    api = VisqolApi()
    api.create(mode=mode, use_lattice_model=False)
    return api


def warm_times(repeats: int) -> list[dict]:
    """Median warm wall time per pair of both implementations (alternating calls)."""
    import perceptq

    rows = []
    for mode, ref, deg in PAIRS:
        r, d = str(DATA / ref), str(DATA / deg)
        theirs = _visqol_python(mode)

        def ours(r=r, d=d, mode=mode):
            return perceptq.score(r, d, metric="visqol", mode=mode).mos

        def other(r=r, d=d, api=theirs):
            return api.measure(r, d).moslqo

        mos_ours, mos_theirs = ours(), other()  # warm-up
        t_ours, t_theirs = [], []
        for _ in range(repeats):
            for f, bucket in ((ours, t_ours), (other, t_theirs)):
                t = time.perf_counter()
                f()
                bucket.append(time.perf_counter() - t)
        a, b = statistics.median(t_ours), statistics.median(t_theirs)
        rows.append({"mode": mode, "pair": deg, "perceptq_s": a, "visqol_python_s": b,
                     "ratio": a / b, "mos_perceptq": mos_ours, "mos_visqol_python": mos_theirs})
    return rows


_FIRST_CALL = {
    "perceptq visqol": ("import perceptq", "perceptq.score({r!r}, {d!r}, metric='visqol')"),
    "perceptq p862": ("import perceptq", "perceptq.score({r16!r}, {d16!r})"),
    "visqol-python": ("from visqol import VisqolApi; a = VisqolApi(); a.create(mode='audio')",
                      "a.measure({r!r}, {d!r})"),
}
_TIMER = """
import time
t0 = time.perf_counter()
{setup}
t1 = time.perf_counter()
{call}
t2 = time.perf_counter()
{call}
t3 = time.perf_counter()
print(t1 - t0, t2 - t1, t3 - t2)
"""


def first_calls() -> dict[str, tuple[float, float, float]]:
    """(import, first call, second call) seconds in a new process, numba cache warm.

    The first call's extra cost over the second is what loading the compiled kernels
    (and any lazy imports) adds.
    """
    clean = ROOT / "reference_audio" / "clean" / "arctic_a0001_a0009.wav"
    deg16 = ROOT / "reference_audio" / "degraded" / "g711u" / clean.name
    args = {"r": str(DATA / PAIRS[1][1]), "d": str(DATA / PAIRS[1][2]), "r16": str(clean),
            "d16": str(deg16)}
    out = {}
    for name, (setup, call) in _FIRST_CALL.items():
        code = _TIMER.format(setup=setup, call=call.format(**args))
        for _ in range(2):  # the first run may fill numba's cache
            done = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                                  text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
        out[name] = tuple(float(v) for v in done.stdout.split()[-3:])
    return out


def music(seconds: float, fs: int = 48000, seed: int = 0):
    """Long music-like signal: a 12 s phrase of harmonic notes, repeated with variations."""
    import numpy as np

    sys.path.insert(0, str(ROOT / "tests" / "visqol"))
    from visqol_signals import music as phrase

    rng = np.random.default_rng(seed)
    n = int(seconds * fs)
    base = phrase(12.0, fs, seed)
    reps = -(-n // base.shape[0])
    x = np.concatenate([base * rng.uniform(0.6, 1.0) for _ in range(reps)])[:n]
    return x + 0.002 * rng.standard_normal(n)


def _long_case(minutes: float) -> dict:
    import numpy as np
    from scipy.signal import butter, sosfilt

    import perceptq

    fs = 48000
    ref = music(60 * minutes, fs)
    deg = np.zeros_like(ref)  # 10 ms late, low-passed at 7 kHz
    deg[480:] = sosfilt(butter(8, 7000, fs=fs, output="sos"), ref[:-480])
    _reset_peak_rss()  # the peak from here on: the two inputs held, plus the scoring
    t = time.perf_counter()
    s = perceptq.score(ref, deg, sample_rate=fs, metric="visqol")
    seconds = time.perf_counter() - t
    return {"minutes": minutes, "seconds": seconds, "peak_rss_mib": _peak_rss_mib(),
            "mos": s.mos, "inputs_mib": (ref.nbytes + deg.nbytes) / 2**20}


def _reset_peak_rss() -> None:
    with open("/proc/self/clear_refs", "w") as fh:  # Linux: "5" resets VmHWM to VmRSS
        fh.write("5")


def _peak_rss_mib() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def long_inputs() -> list[dict]:
    """Peak RSS and time for 1, 10 and 30 minutes, each in a fresh process."""
    rows = []
    for minutes in (1, 10, 30):
        code = (f"import sys, json; sys.path.insert(0, {str(ROOT / 'benchmarks')!r}); "
                f"import visqol_speed as b; print(json.dumps(b._long_case({minutes})))")
        env = {**os.environ, "PYTHONPATH": str(ROOT), "PERCEPTQ_MAX_DURATION_S": "inf"}
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              env=env, check=True)
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
        print(f"  {minutes:>4} min  {rows[-1]['seconds']:8.1f} s  peak RSS while scoring "
              f"{rows[-1]['peak_rss_mib']:7.0f} MiB (inputs {rows[-1]['inputs_mib']:.0f} MiB)",
              flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--long", action="store_true", help="also run the 1/10/30 min cases")
    args = ap.parse_args()
    print(f"{'mode':<7}{'pair':<34}{'perceptq':>10}{'visqol-py':>11}{'ratio':>7}"
          f"{'MOS ours':>10}{'MOS theirs':>11}")
    for r in warm_times(args.repeats):
        print(f"{r['mode']:<7}{r['pair']:<34}{r['perceptq_s']:>9.3f}s{r['visqol_python_s']:>10.3f}s"
              f"{r['ratio']:>7.2f}{r['mos_perceptq']:>10.4f}{r['mos_visqol_python']:>11.4f}")
    print("new process, numba cache warm: import, first call, second call, first - second")
    for name, (imp, first, second) in first_calls().items():
        print(f"  {name:<16}{imp:6.2f} s {first:6.2f} s {second:6.2f} s {first - second:6.2f} s")
    if args.long:
        print("long inputs (perceptq ViSQOL audio mode, arrays in memory):")
        long_inputs()


if __name__ == "__main__":
    main()
