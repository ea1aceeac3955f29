"""Delivering alert events from the database outbox: a JSONL file, a webhook, a command.

A background thread (:class:`Notifier`) reads the ``notifications`` rows still pending
for each configured channel, oldest first, delivers them and marks them done, so scoring
never waits for a slow or failing receiver:

* ``jsonl``: one JSON object per line, appended and flushed to disk; before the first
  delivery the file is read, and events already in it (by ``event_id``) are marked done,
  so an event written just before a ``kill -9`` is not written twice;
* ``webhook``: HTTP POST of the JSON (``Content-Type: application/json``, header
  ``Idempotency-Key: <event_id>``); any answer but 2xx, or no answer within
  :data:`HTTP_TIMEOUT_S`, is retried with exponential backoff (1 s, 2 s, 4 s … capped at
  :data:`MAX_BACKOFF_S`), the attempts kept in the database; later events wait, so a
  receiver sees them in order;
* ``command``: a shell command with the JSON on its standard input; a non-zero exit is
  retried the same way, up to :data:`COMMAND_ATTEMPTS` times, then marked ``failed``.

Only a process killed between a delivery and the database update that records it can
deliver an event twice over a webhook or command; the ``event_id`` lets receivers drop it.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable

from perceptq.monitor.store import open_store, transaction

HTTP_TIMEOUT_S = 10.0
MAX_BACKOFF_S = 300.0
COMMAND_ATTEMPTS = 5
COMMAND_TIMEOUT_S = 60.0


def backoff_s(attempts: int) -> float:
    """Seconds to wait after ``attempts`` failed tries: 1, 2, 4, … up to the cap."""
    return min(MAX_BACKOFF_S, 2.0 ** max(0, attempts - 1))


class Notifier(threading.Thread):
    """Deliver pending events of a database to the configured channels.

    Parameters
    ----------
    db : path
        The database (the thread opens its own connection).
    jsonl, webhook, command : optional
        File to append to, URL to POST to, shell command to run.
    log : callable
        Receives one line per delivery problem.
    """

    def __init__(
        self,
        db: str,
        *,
        jsonl: str | None = None,
        webhook: str | None = None,
        command: str | None = None,
        log: Callable[[str], None] = lambda line: None,
    ) -> None:
        super().__init__(name="perceptq-notifier", daemon=True)
        self.db, self.jsonl, self.webhook, self.command = db, jsonl, webhook, command
        self.log = log
        self._wake = threading.Event()
        self._stop_at: float | None = None
        self.delivered = 0

    @property
    def channels(self) -> tuple[str, ...]:
        """Names of the configured channels."""
        return tuple(n for n in ("jsonl", "webhook", "command") if getattr(self, n))

    def kick(self) -> None:
        """New events are in the outbox: look now."""
        self._wake.set()

    def stop(self, drain_s: float = 10.0) -> None:
        """Deliver what is due within ``drain_s`` seconds, then end the thread."""
        self._stop_at = time.monotonic() + drain_s
        self._wake.set()
        if self.is_alive():
            self.join(drain_s + HTTP_TIMEOUT_S + 1)

    def run(self) -> None:
        """Deliver until :meth:`stop` (the thread's body)."""
        con = open_store(self.db)
        try:
            if self.jsonl:
                self._reconcile_jsonl(con)
            while True:
                wait = self._deliver(con)
                if self._stop_at is not None and (
                    wait is None or time.monotonic() + wait > self._stop_at
                ):
                    return
                self._wake.wait(1.0 if wait is None else min(wait, 1.0))
                self._wake.clear()
        finally:
            con.close()

    def _deliver(self, con) -> float | None:
        """Deliver everything due; seconds until the next retry (None: nothing pending)."""
        waits = []
        for channel in self.channels:
            wait = self._deliver_channel(con, channel)
            if wait is not None:
                waits.append(wait)
        return min(waits) if waits else None

    def _deliver_channel(self, con, channel: str) -> float | None:
        while True:
            row = con.execute(
                f"SELECT id, payload, attempts, next_try_ts FROM notifications "
                f"WHERE {channel} = 'pending' ORDER BY id LIMIT 1"
            ).fetchone()
            if row is None:
                return None
            nid, body, attempts, next_try = row
            now = time.time()
            if channel != "jsonl" and next_try > now:
                return next_try - now
            error = getattr(self, f"_send_{channel}")(body)
            with transaction(con):
                if error is None:
                    con.execute(f"UPDATE notifications SET {channel} = 'done' WHERE id = ?",
                                (nid,))  # fmt: skip
                    self.delivered += 1
                    continue
                attempts += 1
                gave_up = channel == "command" and attempts >= COMMAND_ATTEMPTS
                con.execute(
                    f"UPDATE notifications SET attempts = ?, next_try_ts = ?, last_error = ?, "
                    f"{channel} = ? WHERE id = ?",
                    (attempts, now + backoff_s(attempts), error,
                     "failed" if gave_up else "pending", nid),
                )  # fmt: skip
            event = json.loads(body)["event_id"]
            more = "giving up" if gave_up else f"retry in {backoff_s(attempts):.0f} s"
            self.log(f"{channel} delivery of alert event {event} failed ({error}); {more}")
            if self._stop_at is not None or channel == "jsonl":
                return backoff_s(attempts)

    # --- channels: each returns None on success, else a one-line reason -------------------

    def _reconcile_jsonl(self, con) -> None:
        try:
            with open(self.jsonl, encoding="utf-8") as f:  # type: ignore[arg-type]
                written = {json.loads(line).get("event_id") for line in f if line.strip()}
        except (OSError, ValueError):
            return
        with transaction(con):
            for nid, body in con.execute(
                "SELECT id, payload FROM notifications WHERE jsonl = 'pending'"
            ).fetchall():
                if json.loads(body)["event_id"] in written:
                    con.execute("UPDATE notifications SET jsonl = 'done' WHERE id = ?", (nid,))

    def _send_jsonl(self, body: str) -> str | None:
        try:
            with open(self.jsonl, "a", encoding="utf-8") as f:  # type: ignore[arg-type]
                f.write(body + "\n")
                f.flush()
                os.fsync(f.fileno())
        except OSError as exc:
            return f"{self.jsonl}: {exc.strerror or exc}"
        return None

    def _send_webhook(self, body: str) -> str | None:
        event = json.loads(body)["event_id"]
        request = urllib.request.Request(
            self.webhook,  # type: ignore[arg-type]
            data=body.encode("utf-8"),
            headers={
                "Content-Type": "application/json",
                "Idempotency-Key": event,
                "User-Agent": "perceptq-watch",
            },
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_S) as answer:
                status = answer.status
        except urllib.error.HTTPError as exc:
            return f"HTTP {exc.code}"
        except (urllib.error.URLError, OSError, ValueError) as exc:
            return " ".join(str(getattr(exc, "reason", exc)).split()) or type(exc).__name__
        return None if 200 <= status < 300 else f"HTTP {status}"

    def _send_command(self, body: str) -> str | None:
        try:
            done = subprocess.run(
                self.command, shell=True, input=body.encode("utf-8"), timeout=COMMAND_TIMEOUT_S,
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False,
            )  # fmt: skip
        except (OSError, subprocess.TimeoutExpired) as exc:
            return " ".join(str(exc).split())
        if done.returncode != 0:
            tail = done.stderr.decode("utf-8", "replace").strip().splitlines()[-1:]
            return f"exit code {done.returncode}" + (f": {tail[0]}" if tail else "")
        return None
