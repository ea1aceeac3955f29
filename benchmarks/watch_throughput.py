"""Ingest rate of ``perceptq watch`` against ``perceptq batch`` on the same files.

The shipped degraded files (35, 3-7 s of 16 kHz speech) are copied ``--copies`` times into
an inbox (``copyK/<condition>/<name>.wav``); both commands pair them with
``reference_audio/clean`` by file name and score them with the same number of jobs:

    perceptq batch reference_audio/clean INBOX -o out.csv --jobs J
    perceptq watch INBOX --reference-dir reference_audio/clean --once --jobs J --settle S

Each is timed as a whole (process start-up, and for watch the settle time, included) and
from its first to its last stored row (the steady rate). Run:

    python benchmarks/watch_throughput.py --copies 2 --jobs 2
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
AUDIO = REPO / "reference_audio"
CLI = "from perceptq.cli import app; app()"


def run(args: list[str]) -> float:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", CLI, *args], env=env, check=False,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    return time.perf_counter() - start


def steady(stamps: list[float]) -> float:
    """Rows per second between the first and the last stored row."""
    stamps = sorted(stamps)
    return (len(stamps) - 1) / (stamps[-1] - stamps[0]) if len(stamps) > 1 else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=2)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--settle", type=float, default=0.5)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp())
    inbox = tmp / "inbox"
    for k in range(args.copies):
        for wav in sorted((AUDIO / "degraded").rglob("*.wav")):
            target = inbox / f"copy{k}" / wav.parent.name / wav.name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(wav, target)
    n = sum(1 for _ in inbox.rglob("*.wav"))
    out_csv, db = tmp / "batch.csv", tmp / "watch.sqlite"
    jobs = ["--jobs", str(args.jobs)]
    t_batch = run(["batch", str(AUDIO / "clean"), str(inbox), "-o", str(out_csv), *jobs, "-q"])
    t_watch = run(["watch", str(inbox), "--reference-dir", str(AUDIO / "clean"), "--db",
                   str(db), "--once", "--settle", str(args.settle), *jobs, "-q"])  # fmt: skip
    batch_rows = pd.read_csv(out_csv)
    con = sqlite3.connect(db)
    ingested = [datetime.fromisoformat(t.replace("Z", "+00:00")).timestamp()
                for (t,) in con.execute("SELECT ingested_at FROM results")]  # fmt: skip
    con.close()
    # batch writes no time per row; its steady rate is taken from the rows' scoring seconds
    busy = batch_rows["seconds"].sum() / args.jobs
    print(f"{n} files, {args.jobs} job(s), load average {os.getloadavg()[0]:.1f} "
          f"on {os.cpu_count()} cores")
    print(f"batch: {len(batch_rows)} rows in {t_batch:.1f} s = {n / t_batch:.2f} files/s "
          f"overall; scoring alone {n / busy:.2f} files/s")
    print(f"watch: {len(ingested)} rows in {t_watch:.1f} s = {n / t_watch:.2f} files/s "
          f"overall (settle {args.settle:g} s included); first to last row "
          f"{steady(ingested):.2f} files/s")
    shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
