"""History database at scale: build N rows, time ``perceptq history``, measure the size.

The rows are copies of real ones: one pair is scored (so every column, diagnostics
included, holds what ``perceptq watch`` stores), then written N times with a site, a trunk,
a codec, a call time (50 sites calling every 5 minutes, spread over a year) and a MOS that
varies, through the same insert as the service, 10 000 rows per transaction.

    python benchmarks/history_db.py                # 1 000 000 rows in a temporary folder
    python benchmarks/history_db.py --rows 200000 --keep /tmp/h.sqlite

Prints the build time, the database size per row (and the estimate for 5 million rows:
a year of test calls from 50 sites every 5 minutes), then the time of each history query,
first run (the covering index of a grouping is built then) and warm, in this process and
as the ``perceptq history`` command (a new process: start-up included), with the load
average, since the machine may be shared.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from perceptq.api import score  # noqa: E402
from perceptq.batch.sqlite_table import iso_utc, transaction  # noqa: E402
from perceptq.batch.table import PairResult  # noqa: E402
from perceptq.monitor.history import Query, history  # noqa: E402
from perceptq.monitor.store import open_store  # noqa: E402

AUDIO = REPO / "reference_audio"
SITES, EVERY_S, YEAR_S = 50, 300, 365 * 86400


def real_row() -> dict:
    ref = AUDIO / "clean" / "arctic_a0001.wav"
    deg = AUDIO / "degraded" / "g711u" / "arctic_a0001.wav"
    s = score(ref, deg)
    row = PairResult(0, str(ref), str(deg), score=s, seconds=0.05,
                     degraded_mtime="2026-01-01T00:00:00Z").to_row()  # fmt: skip
    row.update(metric="p862", origin="watch", stream="", file_size=113_000)
    return row


def build(path: Path, n: int) -> float:
    con = open_store(path)
    template = real_row()
    rng = np.random.default_rng(1)
    t0 = 1_767_225_600.0  # 2026-01-01
    with transaction(con):
        for c in ("site", "trunk", "codec", "caller", "callee"):
            con.execute(f'ALTER TABLE results ADD COLUMN "{c}"')
    columns = [*template, "call_time", "call_ts", "file_path", "file_mtime_ns", "ingested_at",
               "site", "trunk", "codec", "caller", "callee"]  # fmt: skip
    sql = (f"INSERT INTO results ({', '.join(chr(34) + c + chr(34) for c in columns)}) "
           f"VALUES ({', '.join('?' * len(columns))})")  # fmt: skip
    start = time.perf_counter()
    batch = []
    for i in range(n):
        site = i % SITES
        ts = t0 + i * (YEAR_S / n)  # the calls spread over a year, sites in turn
        mos = float(np.clip(rng.normal(3.9, 0.35), 1.02, 4.64))
        error = rng.random() < 0.01
        row = dict(template, status="error" if error else "ok", mos=None if error else mos,
                   error="x.wav: not audio" if error else None,
                   degraded=f"/srv/probe-inbox/site{site:02d}/trunk{i % 4}/call-{i:09d}.wav")
        path_ = row["degraded"]
        values = [row[c] for c in template]
        values += [iso_utc(ts), ts, path_, int(ts * 1e9), iso_utc(ts + 4), f"site{site:02d}",
                   f"trunk{i % 4}", "g711", f"+3314000{site:04d}", "+33140009999"]  # fmt: skip
        batch.append(values)
        if len(batch) == 10_000:
            with transaction(con):
                con.executemany(sql, batch)
            batch = []
    if batch:
        with transaction(con):
            con.executemany(sql, batch)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    return time.perf_counter() - start


def time_query(path: Path, query: Query) -> tuple[float, float, int]:
    """(wall s, CPU s, rows) of one history query in this process."""
    con = open_store(path)
    start, cpu = time.perf_counter(), time.process_time()
    rows = history(con, query)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    con.close()
    return wall, cpu, len(rows)


def time_cli(path: Path, args: list[str]) -> tuple[float, float]:
    """(wall s, CPU s) of the ``perceptq history`` command, start-up included."""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-c", "from perceptq.cli import app; app()", "history",
                        "--db", str(path), *args, "-o", str(Path(tmp) / "out.csv")],
                       env=env, check=True, capture_output=True)  # fmt: skip
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--keep", type=Path, help="write the database here and keep it")
    parser.add_argument("--reuse", type=Path, help="time the queries on this database only")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp())
    path = args.reuse or args.keep or folder / "history.sqlite"
    if args.reuse is None:
        if path.exists():
            path.unlink()
        seconds = build(path, args.rows)
        print(f"built {args.rows:,} rows in {seconds:.0f} s ({args.rows / seconds:,.0f} rows/s)")
    else:
        con = open_store(path)
        args.rows = con.execute("SELECT count(*) FROM results").fetchone()[0]
        con.close()
    size = path.stat().st_size
    per_row = size / args.rows
    print(f"database {size / 1e6:,.0f} MB = {per_row:,.0f} bytes per row (indexes included)")
    before = "before history indexes" if args.reuse is None else "with its indexes now"
    print(f"estimate for 5,000,000 rows (50 sites x every 5 min x 1 year = "
          f"{SITES * YEAR_S // EVERY_S:,} calls): {5e6 * per_row / 1e9:.1f} GB {before}")
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print("query                  rows out  first s  warm s (CPU)  command s (CPU)")
    for group, every in ((("site",), "day"), ((), "week"), (("site",), "hour"),
                         (("site", "trunk"), "day")):  # fmt: skip
        first, _, n = time_query(path, Query(group, every))
        warm, cpu, _ = time_query(path, Query(group, every))
        cli, cli_cpu = time_cli(path, [*(["--group-by", ",".join(group)] if group else []),
                                       "--every", every])  # fmt: skip
        label = f"{','.join(group) or '-'} per {every}"
        print(f"{label:<22} {n:>9,} {first:>8.2f} {warm:>7.2f} ({cpu:.2f}) "
              f"{cli:>9.2f} ({cli_cpu:.2f})")
    size2 = path.stat().st_size
    print(f"with the history indexes: {size2 / 1e6:,.0f} MB = {size2 / args.rows:,.0f} bytes "
          f"per row; 5,000,000 rows: {5e6 * size2 / args.rows / 1e9:.1f} GB")  # fmt: skip
    if args.keep is None and args.reuse is None:
        path.unlink()
        for extra in folder.iterdir():
            extra.unlink()
        folder.rmdir()


if __name__ == "__main__":
    main()
