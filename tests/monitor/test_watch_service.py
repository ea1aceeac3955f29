"""``perceptq watch`` as a real service: calls dropped over time, one written slowly, a burst
of bad calls at one site (one episode, opened then closed, notified once to a JSONL file, a
local webhook that fails first, and a command), /metrics, SIGTERM, a restart that does not
re-notify, then ``history`` and ``report`` over the database."""

from __future__ import annotations

import json
import re
import signal
import threading
import time
import urllib.request
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest
from helpers import BAD, GOOD, REF, drop, lines, perceptq, rows, run, wait_for
from typer.testing import CliRunner

from perceptq.cli import app


class Hook(BaseHTTPRequestHandler):
    """Webhook receiver: answers 503 to the first POST, 200 afterwards."""

    received: ClassVar[list[dict]] = []
    refused = 0

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        assert self.headers["Idempotency-Key"] == body["event_id"]
        if Hook.refused == 0:
            Hook.refused += 1
            self.send_response(503)
        else:
            Hook.received.append(body)
            self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def hook():
    Hook.received, Hook.refused = [], 0
    server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/hook"
    server.shutdown()


def _iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def _write_slowly(src, dest, pieces: int = 4, pause_s: float = 0.3) -> None:
    data = src.read_bytes()
    step = len(data) // pieces + 1
    dest.parent.mkdir(parents=True, exist_ok=True)
    with open(dest, "wb") as f:
        for i in range(0, len(data), step):
            f.write(data[i : i + step])
            f.flush()
            time.sleep(pause_s)


def test_service_scores_alerts_notifies_and_serves_metrics(tmp_path, hook):
    inbox, db = tmp_path / "inbox", tmp_path / "history.sqlite"
    events, command_out = tmp_path / "alerts.jsonl", tmp_path / "command.jsonl"
    inbox.mkdir()
    args = [
        "watch", str(inbox), "--reference", str(REF), "--db", str(db), "--jobs", "1",
        "--settle", "1", "--pattern", "{site}/{name}.wav", "--group-by", "site",
        "--alert-below", "2.5", "--alert-min-count", "3", "--alert-window", "10min",
        "--alerts-jsonl", str(events), "--webhook", hook,
        "--alert-command", f"cat >> {command_out}; echo >> {command_out}",
    ]  # fmt: skip
    proc = perceptq(*args, "--metrics-port", "0", cwd=tmp_path)
    try:
        t0 = datetime.now(timezone.utc).replace(microsecond=0)
        drop(GOOD, inbox / "lyon" / "a.wav", time_iso=_iso(t0), caller="probe-7")
        _write_slowly(GOOD, inbox / "lyon" / "slow.wav")
        wait_for(lambda: len(rows(db)) == 2, what="two lyon calls", proc=proc)
        slow = rows(db, "SELECT status, degraded_duration_s, site, name FROM results "
                        "WHERE degraded LIKE '%slow.wav'")  # fmt: skip
        assert slow == [("ok", pytest.approx(3.53, abs=0.01), "lyon", "slow")]
        assert rows(db, "SELECT caller, call_time FROM results WHERE name='a'") == [
            ("probe-7", _iso(t0).replace("Z", ".000Z"))
        ]
        # a burst of bad calls at paris (calls 1 min apart): one episode opens
        for k in range(3):
            drop(BAD, inbox / "paris" / f"bad{k}.wav", time_iso=_iso(t0 + timedelta(minutes=k)))
        opened = wait_for(lambda: lines(events), what="the opened event", proc=proc)
        assert [e["event"] for e in opened] == ["opened"]
        assert opened[0]["group"] == {"site": "paris"} and opened[0]["calls_below"] == 3
        assert opened[0]["closed_at"] is None and len(opened[0]["calls"]) == 3
        # /metrics, on the port the service printed
        port = wait_for(lambda: _metrics_port(proc), what="the metrics line")
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read()
        text = text.decode()
        assert 'perceptq_calls_total{site="paris",status="ok"} 3.0' in text
        assert 'perceptq_calls_total{site="lyon",status="ok"} 2.0' in text
        assert 'perceptq_alert_episodes_open{site="paris"} 1.0' in text
        assert 'perceptq_alert_episodes_open{site="lyon"} 0.0' in text
        assert 'perceptq_mos_bucket{le="2.5",site="paris"} 3.0' in text
        assert 'perceptq_mos_count{site="lyon"} 2.0' in text
        assert re.search(r'perceptq_scoring_seconds_count\{site="paris"\} 3\.0', text)
        assert re.search(r'perceptq_last_call_timestamp_seconds\{site="paris"\} ', text)
        # a good paris call an hour later: the episode closes
        drop(GOOD, inbox / "paris" / "good.wav", time_iso=_iso(t0 + timedelta(hours=1)))
        both = wait_for(lambda: len(lines(events)) == 2 and lines(events), what="closed event")
        assert [e["event"] for e in both] == ["opened", "closed"]
        # closed one window after the last low call: no later burst can merge any more
        assert both[1]["closed_at"] == _iso(t0 + timedelta(minutes=12)).replace("Z", ".000Z")
        wait_for(lambda: len(Hook.received) == 2, timeout=30, what="both webhook events")
        wait_for(lambda: len(lines(command_out)) == 2, timeout=30, what="both command events")
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "stopped: 6 scored" in err
    assert Hook.refused == 1  # the first try failed and was retried
    assert [e["event_id"] for e in Hook.received] == [e["event_id"] for e in both]
    assert [e["event_id"] for e in lines(command_out)] == [e["event_id"] for e in both]
    assert rows(db, "SELECT group_label, calls_below, closed_at IS NOT NULL FROM alerts") == [
        ("site=paris", 3, 1)
    ]
    # a restart scores nothing again and notifies nothing again
    again = run(*args, "--once", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert "0 scored" in again.stderr
    assert len(lines(events)) == 2 and len(Hook.received) == 2
    assert rows(db, "SELECT count(*), count(DISTINCT file_path) FROM results") == [(6, 6)]
    # trends and the report from the database
    runner = CliRunner()
    res = runner.invoke(app, ["history", "--db", str(db), "--group-by", "site", "--every", "hour",
                              "--threshold", "2.5", "--json"])  # fmt: skip
    assert res.exit_code == 0, res.output
    trend = json.loads(res.stdout)

    def total(site, key):
        return sum(r[key] * (r["scored"] if key == "below" else 1) for r in trend
                   if r["site"] == site)  # fmt: skip

    assert (total("paris", "calls"), total("paris", "below")) == (4, 3)
    assert (total("lyon", "calls"), total("lyon", "below")) == (2, 0)
    assert {r["period"][:14] for r in trend} >= {t0.strftime("%Y-%m-%dT%H:")}
    html = tmp_path / "report.html"
    res = runner.invoke(app, ["report", str(db), "-o", str(html), "--group-by", "site",
                              "--alert-below", "2.5", "--alert-window", "10min"])  # fmt: skip
    assert res.exit_code == 3, res.output  # the report's own rule finds the same episode
    page = html.read_text()
    assert "Alert episodes recorded by perceptq watch" in page and "site=paris" in page


def _metrics_port(proc) -> int | None:
    line = proc.stderr.readline()
    found = re.search(r"metrics on http://[\d.]+:(\d+)/metrics", line)
    return int(found.group(1)) if found else None
