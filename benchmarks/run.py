"""Speed and memory benchmark: perceptq vs the ITU reference implementation (``pesq``).

Same pairs for both, 8 kHz (nb) and 16 kHz (wb), 3 s / 10 s / 60 s signals made by
concatenating the clean utterances of reference_audio/ and degrading them (G.711 µ-law,
30 dB white noise, 2 % frame loss). Every measurement runs in a fresh subprocess, so a
crash of the reference (it aborts beyond 50 utterances) is reported as "crash" and peak
memory (ru_maxrss) is per case. Reported:

* per-pair time: median of several calls after one warm-up call, and perceptq / reference;
* peak RSS of the whole process (imports, data, warm-up and the calls) and, in brackets, how
  far one call after warm-up rises above the steady RSS (VmHWM reset via clear_refs);
* cold start: ``import`` plus the first call in a new process, with the numba cache warm
  and cold (NUMBA_CACHE_DIR pointed at an empty temporary folder).

Usage: ``python benchmarks/run.py [--repeats N]``. Not collected by pytest.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

RATES = (8000, 16000)
DURATIONS_S = (3, 10, 60)
PAUSE_S = 0.4
COLD_CASE = (16000, 10)


def build_pair(rate: int, duration_s: float):
    """Reference and degraded signal of ``duration_s`` seconds at ``rate`` (deterministic)."""
    import corpus
    import numpy as np

    ref = corpus.long_signal(corpus.load_clean(rate), duration_s, rate, PAUSE_S)
    rng = np.random.default_rng(corpus.seed_for("benchmark", rate, duration_s))
    ctx = corpus.Context(rate, rng, ())
    cond = corpus.Condition(
        "g711u+white30+loss2",
        (corpus.step_g711("ulaw"), corpus.step_white(30), corpus.step_loss(2)),
    )
    ref, deg = cond.apply(ref, ref.copy(), ctx)
    return ref, deg


def _rss_mib() -> float:
    """Peak resident set size of this process so far (MiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def _status_mib(field: str) -> float:
    """A memory line of /proc/self/status (VmRSS, VmHWM) in MiB; NaN where unavailable."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return float(line.split()[1]) / 1024.0
    except OSError:
        pass
    return float("nan")


def _reset_peak_rss() -> None:
    """Reset VmHWM to the current RSS (Linux >= 4.0), so later peaks belong to scoring."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def worker(spec: dict) -> dict:
    """Run inside the subprocess: time one implementation on one case."""
    impl, rate, duration, repeats = spec["impl"], spec["rate"], spec["duration"], spec["repeats"]
    mode = "nb" if rate == 8000 else "wb"
    t0 = time.perf_counter()
    if impl == "perceptq":
        import perceptq

        fn = perceptq.pesq
    else:
        from pesq import pesq as fn
    t_import = time.perf_counter() - t0
    ref, deg = build_pair(rate, duration)
    t0 = time.perf_counter()
    mos = fn(rate, ref, deg, mode)
    t_first = time.perf_counter() - t0
    _reset_peak_rss()
    steady = _status_mib("VmRSS")
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn(rate, ref, deg, mode)
        times.append(time.perf_counter() - t0)
    out = {
        "mos": float(mos),
        "import_s": t_import,
        "first_s": t_first,
        "times": times,
        "peak_mib": _rss_mib(),
        "scoring_mib": _status_mib("VmHWM") - steady,
    }
    if impl == "perceptq":
        out["utterances"] = len(perceptq.score(ref, deg, sample_rate=rate, mode=mode).utterances)
    return out


def run_case(spec: dict, env: dict | None = None, timeout: float = 900) -> dict:
    """Run :func:`worker` in a fresh interpreter; a crash or timeout becomes an error dict."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", json.dumps(spec)]
    try:
        proc = subprocess.run(
            cmd, capture_output=True, text=True, timeout=timeout, env=env or os.environ.copy()
        )
    except subprocess.TimeoutExpired:
        return {"error": "timeout"}
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or [f"exit code {proc.returncode}"])[-1]
        return {"error": "crash", "detail": f"exit {proc.returncode}: {last[:120]}"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _median(xs: list[float]) -> float:
    s = sorted(xs)
    m = len(s) // 2
    return s[m] if len(s) % 2 else (s[m - 1] + s[m]) / 2


def _fmt_time(r: dict) -> str:
    return r.get("error", "") or f"{_median(r['times']) * 1000:.0f} ms"


def _fmt_mem(r: dict) -> str:
    if "error" in r:
        return "-"
    return f"{r['peak_mib']:.0f} (+{r['scoring_mib']:.0f})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="perceptq vs reference: speed and memory")
    parser.add_argument("--repeats", type=int, default=5, help="timed calls per case")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker))))
        return 0

    import numba
    import numpy as np

    print(
        f"machine: {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"numpy {np.__version__}, numba {numba.__version__}\n"
    )
    # make sure the numba cache is populated before the cache-warm measurements
    run_case({"impl": "perceptq", "rate": 8000, "duration": 3, "repeats": 0})
    print(
        "| rate | mode | signal | utterances | perceptq | reference | perceptq / reference "
        "| perceptq MOS | reference MOS | perceptq peak RSS MiB (+per call) "
        "| reference peak RSS MiB (+per call) |"
    )
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for rate in RATES:
        for duration in DURATIONS_S:
            repeats = max(2, args.repeats // 2) if duration >= 60 else args.repeats
            spec = {"rate": rate, "duration": duration, "repeats": repeats}
            ours = run_case({**spec, "impl": "perceptq"})
            ref = run_case({**spec, "impl": "reference"})
            ratio = "-"
            if "error" not in ours and "error" not in ref:
                ratio = f"{_median(ours['times']) / _median(ref['times']):.2f}"
            mode = "nb" if rate == 8000 else "wb"
            print(
                f"| {rate // 1000} kHz | {mode} | {duration} s | {ours.get('utterances', '-')} "
                f"| {_fmt_time(ours)} | {_fmt_time(ref)} | {ratio} "
                f"| {ours.get('mos', float('nan')):.3f} | {ref.get('mos', float('nan')):.3f} "
                f"| {_fmt_mem(ours)} | {_fmt_mem(ref)} |",
                flush=True,
            )
            for name, r in (("perceptq", ours), ("reference", ref)):
                if "detail" in r:
                    print(f"<!-- {name} {rate} Hz {duration} s: {r['detail']} -->")

    rate, duration = COLD_CASE
    spec = {"rate": rate, "duration": duration, "repeats": 0}
    print(f"\ncold start (new process; import + first call on the {duration} s {rate} Hz pair):\n")
    print("| implementation | import | first call | total |")
    print("| --- | ---: | ---: | ---: |")
    with tempfile.TemporaryDirectory(prefix="perceptq-numba-cold-") as empty:
        cases = (
            ("perceptq, numba cache warm", {**spec, "impl": "perceptq"}, None),
            (
                "perceptq, numba cache cold",
                {**spec, "impl": "perceptq"},
                {**os.environ, "NUMBA_CACHE_DIR": empty},
            ),
            ("reference", {**spec, "impl": "reference"}, None),
        )
        for label, case, env in cases:
            r = run_case(case, env)
            if "error" in r:
                print(f"| {label} | {r['error']} | | |")
                continue
            total = r["import_s"] + r["first_s"]
            print(f"| {label} | {r['import_s']:.2f} s | {r['first_s']:.2f} s | {total:.2f} s |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
