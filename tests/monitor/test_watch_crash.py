"""``kill -9`` in the middle of scoring, then a restart: nothing lost, nothing scored or
notified twice, and the database passes SQLite's integrity check."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta, timezone

from helpers import AUDIO, BAD, REF, drop, lines, perceptq, rows, run, wait_for

LONG = AUDIO / "degraded" / "g711u" / "arctic_a0001_a0009.wav"  # 7 s: a little work each
LONG_REF = AUDIO / "clean" / "arctic_a0001_a0009.wav"


def test_kill_9_and_restart(tmp_path):
    inbox, db, events = tmp_path / "inbox", tmp_path / "h.sqlite", tmp_path / "alerts.jsonl"
    t0 = datetime.now(timezone.utc)
    for k in range(9):
        drop(LONG, inbox / "lyon" / f"call{k}.wav")
    for k in range(3):
        stamp = (t0 + timedelta(minutes=k)).strftime("%Y-%m-%dT%H:%M:%SZ")
        drop(BAD, inbox / "paris" / f"call{k}.wav", time_iso=stamp)
    # each call pairs with the reference of the same relative path under --reference-dir
    refs = tmp_path / "refs"
    for k in range(9):
        drop(LONG_REF, refs / "lyon" / f"call{k}.wav")
    for k in range(3):
        drop(REF, refs / "paris" / f"call{k}.wav")
    args = ["watch", str(inbox), "--reference-dir", str(refs), "--db", str(db), "--jobs", "1",
            "--settle", "0.2", "--pattern", "{site}/{name}.wav", "--group-by", "site",
            "--alert-below", "2.5", "--alerts-jsonl", str(events)]  # fmt: skip
    proc = perceptq(*args, "--poll", "0.3", cwd=tmp_path)  # polling; the restart uses events
    try:
        wait_for(lambda: len(rows(db)) >= 2, timeout=90, what="two scored calls", proc=proc)
    finally:
        proc.kill()  # SIGKILL: no cleanup at all
        proc.communicate(timeout=30)
    before = len(rows(db))
    assert 2 <= before < 12, "the kill should land while calls are being scored"
    again = run(*args, "--once", cwd=tmp_path)
    assert again.returncode in (0, 3), again.stderr
    stored = rows(db, "SELECT file_path, status FROM results")
    assert len(stored) == 12 and len({p for p, _ in stored}) == 12
    assert all(status == "ok" for _, status in stored)
    opened = [e for e in lines(events) if e["event"] == "opened"]
    assert len(opened) == 1 and opened[0]["group"] == {"site": "paris"}
    con = sqlite3.connect(db)
    try:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert con.execute("SELECT count(*) FROM notifications").fetchone()[0] == 1
    finally:
        con.close()
