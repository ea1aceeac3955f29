"""Benchmark: ``perceptq report`` over 100 000 synthetic result rows.

Generates a month of results (6 sites x 4 codecs x 3 carriers, a daily quality cycle,
two bad episodes, 0.5 % error rows, diagnostics), writes it as CSV, then times writing
the report twice: in-process (read + build + write) and as the CLI end to end (including
interpreter start and imports). Prints wall and CPU times (CPU time shows what an idle
machine would take when other work shares the cores), the HTML size and the load average.

    python benchmarks/report_100k.py [--rows N] [--keep DIR]

Target on the 2-core development machine: under 10 s, and an HTML file that stays small.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

SITES = ["berlin", "paris", "madrid", "oslo", "rome", "vienna"]
CODECS = {"g711u": 4.25, "amr-wb": 4.05, "opus": 4.35, "gsm-efr": 4.0}
CARRIERS = ["alpha", "beta", "gamma"]
START = pd.Timestamp("2026-10-01T00:00:00Z")


def synthetic_results(rows: int, seed: int = 0) -> pd.DataFrame:
    """``rows`` result rows shaped like ``perceptq batch`` output with manifest columns."""
    rng = np.random.default_rng(seed)
    t = START + pd.to_timedelta(np.sort(rng.uniform(0, 30 * 86400, rows)), unit="s")
    site = rng.choice(SITES, rows)
    codec = rng.choice(list(CODECS), rows)
    carrier = rng.choice(CARRIERS, rows)
    hour = t.hour.to_numpy()
    busy = np.exp(-((hour - 18) ** 2) / 18.0)  # evening congestion
    mos = np.array([CODECS[c] for c in codec]) - 0.2 * busy + rng.normal(0, 0.16, rows)
    bad = (site == "madrid") & (t >= START + pd.Timedelta(days=12, hours=9))
    bad &= t < START + pd.Timedelta(days=12, hours=13)
    mos[bad] -= 1.3
    bad2 = (carrier == "gamma") & (t >= START + pd.Timedelta(days=21))
    bad2 &= t < START + pd.Timedelta(days=23)
    mos[bad2] -= 0.6
    mos = np.clip(mos, 1.02, 4.64)
    error = rng.random(rows) < 0.005
    snr = rng.normal(32, 4, rows) - 12 * bad
    return pd.DataFrame(
        {
            "reference": [f"refs/utt{i % 40:02d}.wav" for i in range(rows)],
            "degraded": [
                f"calls/{s}/{c}/call{i:06d}.wav"
                for i, (s, c) in enumerate(zip(site, codec, strict=True))
            ],
            "status": np.where(error, "error", "ok"),
            "error": np.where(error, "decoding failed: truncated file", ""),
            "mode": "nb",
            "sample_rate": 8000,
            "mos": np.where(error, np.nan, mos),
            "category": "",
            "delay_ms": rng.normal(120, 25, rows),
            "n_utterances": 2,
            "degraded_mtime": t.strftime("%Y-%m-%dT%H:%M:%S+00:00"),
            "site": site,
            "codec": codec,
            "carrier": carrier,
            "diag_snr_db": snr,
            "diag_clipping_fraction": np.abs(rng.normal(0, 0.001, rows)),
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--keep", type=Path, help="write the table and report here")
    args = parser.parse_args()
    folder = args.keep or Path(tempfile.mkdtemp(prefix="perceptq-report-bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    table = folder / "results.csv"
    t0 = time.perf_counter()
    synthetic_results(args.rows).to_csv(table, index=False)
    print(f"generated {args.rows:,} rows in {time.perf_counter() - t0:.1f} s -> {table}")

    from perceptq.report.html import ReportOptions, write_report

    options = ReportOptions(group_by=("site", "codec"))
    out = folder / "report.html"
    t0, c0 = time.perf_counter(), time.process_time()
    report = write_report([table], out, options)
    inproc, inproc_cpu = time.perf_counter() - t0, time.process_time() - c0

    cmd = ["perceptq", "report", str(table), "-o", str(folder / "report_cli.html"),
           "--group-by", "site,codec"]  # fmt: skip
    t0 = time.perf_counter()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    cli = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cli_cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    size_kb = out.stat().st_size / 1024
    load = Path("/proc/loadavg").read_text().split()[0] if Path("/proc/loadavg").exists() else "?"
    print(f"{'rows':>10} {'in-process s (CPU)':>19} {'CLI s (CPU)':>13} {'HTML KB':>8} "
          f"{'alerts':>7} exit  load")  # fmt: skip
    print(f"{args.rows:>10,} {inproc:>10.2f} ({inproc_cpu:5.2f}) {cli:>6.2f} ({cli_cpu:5.2f}) "
          f"{size_kb:>8.0f} {len(report.alerts):>7} {proc.returncode:>4}  {load}")  # fmt: skip
    if proc.returncode not in (0, 3):
        print(proc.stderr, file=sys.stderr)
    print(f"target < 10 s: {'met' if max(inproc, cli) < 10 else 'MISSED'}")


if __name__ == "__main__":
    main()
