"""The outbox: an event written to the JSONL file just before a kill is not written again;
a failing command is retried, then given up; the backoff doubles up to its cap."""

from __future__ import annotations

import json

from perceptq.batch.sqlite_table import transaction
from perceptq.monitor import notify
from perceptq.monitor.notify import Notifier, backoff_s
from perceptq.monitor.store import open_store


def _pending(con, n: int, channel: str) -> None:
    with transaction(con):
        for k in range(1, n + 1):
            body = json.dumps({"event": "opened", "event_id": f"{k}-opened"})
            con.execute(
                "INSERT INTO notifications (alert_id, event, payload, created_at, "
                f"{channel}) VALUES (?, 'opened', ?, 'now', 'pending')",
                (k, body),
            )


def test_jsonl_event_written_before_a_kill_is_not_written_twice(tmp_path):
    db, out = tmp_path / "h.sqlite", tmp_path / "alerts.jsonl"
    con = open_store(db)
    _pending(con, 3, "jsonl")
    out.write_text(json.dumps({"event": "opened", "event_id": "1-opened"}) + "\n")
    notifier = Notifier(str(db), jsonl=str(out))
    notifier.start()
    notifier.stop(drain_s=5)
    ids = [json.loads(line)["event_id"] for line in out.read_text().splitlines()]
    assert ids == ["1-opened", "2-opened", "3-opened"]
    states = con.execute("SELECT jsonl FROM notifications ORDER BY id").fetchall()
    assert states == [("done",)] * 3
    con.close()


def test_failing_command_is_retried_then_given_up(tmp_path, monkeypatch):
    monkeypatch.setattr(notify, "backoff_s", lambda attempts: 0.0)
    db, log = tmp_path / "h.sqlite", []
    con = open_store(db)
    _pending(con, 1, "command")
    notifier = Notifier(str(db), command="cat > /dev/null; exit 4", log=log.append)
    notifier.start()
    notifier.stop(drain_s=10)
    row = con.execute("SELECT command, attempts, last_error FROM notifications").fetchone()
    assert row == ("failed", notify.COMMAND_ATTEMPTS, "exit code 4")
    assert len(log) == notify.COMMAND_ATTEMPTS and "giving up" in log[-1]
    con.close()


def test_backoff_doubles_up_to_the_cap():
    assert [backoff_s(k) for k in (1, 2, 3, 4)] == [1.0, 2.0, 4.0, 8.0]
    assert backoff_s(30) == notify.MAX_BACKOFF_S
