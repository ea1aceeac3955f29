"""Running ``perceptq watch`` as a real service in a subprocess, and waiting on it."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
AUDIO = REPO / "reference_audio"
REF = AUDIO / "clean" / "arctic_a0001.wav"
GOOD = AUDIO / "clean" / "arctic_a0001.wav"  # the reference itself: top score
BAD = AUDIO / "degraded" / "noise_snr10" / "arctic_a0001.wav"  # MOS about 1.3
CLI = "from perceptq.cli import app; app()"


def perceptq(*args: str, cwd: Path, **kw) -> subprocess.Popen:
    """Start ``perceptq ARGS`` with this tree's package first on the path."""
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.Popen([sys.executable, "-c", CLI, *args], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def run(*args: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run ``perceptq ARGS`` to the end."""
    proc = perceptq(*args, cwd=cwd)
    out, err = proc.communicate(timeout=timeout)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def wait_for(condition, timeout: float = 60.0, what: str = "condition", proc=None):
    """Poll ``condition()`` until it is truthy; fail with ``what`` after ``timeout``."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = condition()
        if value:
            return value
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"service exited ({proc.returncode}) waiting for {what}: "
                                 f"{proc.stderr.read()}")
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def drop(src: Path, dest: Path, *, time_iso: str | None = None, **fields) -> Path:
    """Copy a recording into the inbox (sidecar first, when given), atomically."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    if time_iso is not None or fields:
        meta = dict(fields, **({"time": time_iso} if time_iso else {}))
        dest.with_suffix(".json").write_text(json.dumps(meta))
    tmp = dest.with_name(dest.name + ".part")
    shutil.copyfile(src, tmp)
    os.replace(tmp, dest)
    return dest


def rows(db: Path, sql: str = "SELECT degraded, status, mos FROM results ORDER BY id"):
    """Query the database (empty list while it does not exist yet)."""
    if not db.exists():
        return []
    con = sqlite3.connect(db, timeout=30)
    try:
        return con.execute(sql).fetchall()
    except sqlite3.OperationalError:
        return []
    finally:
        con.close()


def lines(path: Path) -> list[dict]:
    """JSON objects of a JSONL file ([] while missing)."""
    if not path.exists():
        return []
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()]
