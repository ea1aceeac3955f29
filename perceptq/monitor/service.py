"""The ``perceptq watch`` loop: scan the inbox, score what is complete, store, alert.

One iteration: :meth:`Inbox.scan` hands out the files that settled; those the database
already knows (same path, size and mtime) are passed over, the others are skipped with a
reason, scored (:func:`perceptq.batch.runner.score_many` on a pool kept for the whole run)
or analysed as captures (:mod:`perceptq.monitor.capture`). Each row is committed as it
arrives, then the alert rule reads the new rows (:mod:`perceptq.monitor.episodes`) and
the notifier thread is woken. The service then sleeps until a file-system event, the
next file due to settle, or the rescan interval.

Nothing here prints: lines for the user go to the ``say`` callback.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable
from concurrent.futures import BrokenExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from perceptq.batch.pairing import ReferenceIndex
from perceptq.batch.runner import score_many, worker_pool
from perceptq.batch.sqlite_table import insert_row, is_known, iso_utc, transaction
from perceptq.batch.table import error_row
from perceptq.monitor import episodes
from perceptq.monitor.capture import capture_rows
from perceptq.monitor.events import Waker
from perceptq.monitor.inbox import Arrival, Inbox, Pattern
from perceptq.monitor.notify import Notifier
from perceptq.monitor.store import open_store, record_skip

#: Rescan interval when file-system events are available (a safety net for missed events).
EVENT_RESCAN_S = 30.0
#: Rescan interval without events (no ``--poll`` given, inotify unavailable).
DEFAULT_POLL_S = 2.0
#: Shortest time between two scans (events come in bursts while a file is written).
MIN_SCAN_INTERVAL_S = 0.25
#: Seconds between two progress lines (when something changed).
STATUS_INTERVAL_S = 60.0


class WatchInputError(ValueError):
    """An option or input of ``perceptq watch`` cannot be used (exit code 2)."""


@dataclass
class WatchConfig:
    """What ``perceptq watch`` was asked to do (see its ``--help``)."""

    inbox: str
    db: str
    reference: str | None = None
    reference_dir: str | None = None
    locate: bool = False
    mode: str = "auto"
    metric: str = "p862"
    jobs: int = 1
    settle_s: float = 2.0
    poll_s: float | None = None
    once: bool = False
    pattern: str | None = None
    rule: episodes.Rule = field(default_factory=episodes.Rule)
    alerts_jsonl: str | None = None
    webhook: str | None = None
    alert_command: str | None = None


@dataclass
class WatchStats:
    """What a run did."""

    scored: int = 0
    errors: int = 0
    skipped: int = 0
    opened: int = 0
    closed: int = 0


def make_scorer(metric: str, mode: str, locate: bool) -> Any:
    """The scoring function handed to the workers (None: the batch's default).

    Raises
    ------
    WatchInputError
        A metric, or a mode of it, that perceptq does not have; ``locate`` with ViSQOL.
    """
    modes = {"p862": ("auto", "nb", "wb"), "visqol": ("auto", "audio", "speech")}
    if metric not in modes:
        raise WatchInputError(f"--metric {metric!r}: expected p862 or visqol")
    if mode not in modes[metric]:
        raise WatchInputError(f"--mode {mode!r}: expected {', '.join(modes[metric])} "
                              f"with --metric {metric}")  # fmt: skip
    if not locate:
        return None
    if metric != "p862":
        raise WatchInputError("--locate is available with --metric p862 only")
    from perceptq import api

    return functools.partial(api.score, locate=True)


class Watcher:
    """Runs the service until :meth:`request_stop` (or, with ``once``, until idle)."""

    def __init__(
        self, config: WatchConfig, *, say: Callable[[str], None], call: Callable[[dict], None]
    ) -> None:
        self.config, self.say, self.call = config, say, call
        self.stats = WatchStats()
        self.stopping = False
        self.pattern = Pattern(config.pattern) if config.pattern else None
        self.scorer = make_scorer(config.metric, config.mode, config.locate)
        self.inbox = Inbox(config.inbox, settle_s=config.settle_s, pattern=self.pattern)
        self.waker = Waker(use_events=config.poll_s is None)
        self.refs = ReferenceIndex.of(Path(config.reference_dir)) if config.reference_dir else None
        self.con = open_store(config.db)
        self.notifier = Notifier(config.db, jsonl=config.alerts_jsonl, webhook=config.webhook,
                                 command=config.alert_command, log=say)  # fmt: skip
        self.pool: Any = None
        self._crashed: dict[str, int] = {}

    # --- the loop ------------------------------------------------------------------------

    def request_stop(self) -> None:
        """Stop after the file in hand (safe to call from a signal handler)."""
        self.stopping = True
        self.waker.interrupt()

    def run(self) -> WatchStats:
        """Run until stopped (or idle, with ``once``); return what was done."""
        episodes.start(self.con, self.config.rule)
        self.notifier.start()
        self._alerts()  # rows committed by an earlier run that was killed, closings due
        last_scan, last_status, shown = 0.0, time.monotonic(), ()
        try:
            while not self.stopping:
                time.sleep(max(0.0, last_scan + MIN_SCAN_INTERVAL_S - time.monotonic()))
                last_scan = time.monotonic()
                ready, due = self.inbox.scan()
                self.waker.watch(self.inbox.folders)
                if ready:
                    self._handle(ready)
                self._alerts()
                if self.config.once and not ready and due is None:
                    break
                if self.stopping:
                    break
                if ready and self.config.once:
                    continue  # look again at once: --once ends on the first quiet scan
                if time.monotonic() - last_status >= STATUS_INTERVAL_S:
                    last_status, shown = time.monotonic(), self._status(shown)
                if self.config.poll_s is not None:
                    rescan = self.config.poll_s
                else:
                    rescan = EVENT_RESCAN_S if self.waker.kind == "inotify" else DEFAULT_POLL_S
                wait = rescan if due is None else min(rescan, max(0.05, due - time.monotonic()))
                if self.waker.wait(wait):
                    self.waker.wait(0.05)  # let a burst of events settle into one scan
        finally:
            if self.pool is not None:
                self.pool.shutdown(wait=False, cancel_futures=True)
            self.notifier.stop()
            self.waker.close()
            self.con.close()
        return self.stats

    def _status(self, shown: tuple) -> tuple:
        """Say how things stand, when that changed since the last time; return it."""
        s = self.stats
        now = (s.scored, s.errors, s.skipped, self.inbox.waiting, s.opened - s.closed)
        if now != shown:
            self.say(f"{s.scored} scored, {s.errors} error(s), {s.skipped} skipped, "
                     f"{self.inbox.waiting} file(s) settling, {s.opened} episode(s) opened "
                     f"and {s.closed} closed in this run")  # fmt: skip
        return now

    def _alerts(self) -> None:
        events = episodes.evaluate(self.con, self.config.rule, now=time.time(),
                                   channels=self.notifier.channels)  # fmt: skip
        for event in events:
            opened = event["event"] == "opened"
            self.stats.opened += opened
            self.stats.closed += not opened
            when = "since " + event["opened_at"] if opened else "at " + event["closed_at"]
            self.say(f"alert {event['event']}: {event['group_label']} {when}, "
                     f"{event['calls_below']}/{event['calls_total']} call(s) below "
                     f"{self.config.rule.threshold:g}, min MOS {event['min_mos']:.2f}")  # fmt: skip
        if events:
            self.notifier.kick()

    # --- one scan's files ----------------------------------------------------------------

    def _handle(self, ready: list[Arrival]) -> None:
        audio: list[tuple[Arrival, str]] = []
        for arrival in ready:
            if is_known(self.con, *arrival.identity):
                self.inbox.handled(arrival)
                continue
            problem = arrival.problem
            if problem is None and arrival.kind == "audio":
                reference, problem = self._reference(arrival)
                if reference is not None:
                    audio.append((arrival, reference))
                    continue
                if problem is not None and self.refs is not None:  # pairing failed: error row
                    self._store(arrival, [error_row("", arrival.path, problem, {})])
                    continue
            if problem is not None:
                self._skip(arrival, problem)
                continue
            # a capture pairs like a recording (by name under --reference-dir); without a
            # reference it gets its network figures only
            reference = self._reference(arrival)[0] if self.refs else self.config.reference
            try:
                rows = capture_rows(arrival.path, reference, self.scorer)
            except Exception as exc:  # a capture that breaks the analysis: its error row
                problem = f"{arrival.path}: {type(exc).__name__}: {' '.join(str(exc).split())}"
                rows = [error_row(reference or "", arrival.path, problem, {})]
            self._store(arrival, rows)
            if self.stopping:
                return
        if audio:
            self._score(audio)

    def _reference(self, arrival: Arrival) -> tuple[str | None, str | None]:
        if self.config.reference:
            return self.config.reference, None
        if self.refs is None:
            return None, "no reference: give --reference or --reference-dir"
        ref, problem = self.refs.match(Path(arrival.rel), arrival.path)
        if ref is None:  # references may have been added since the index was made
            self.refs = ReferenceIndex.of(self.refs.root)
            ref, problem = self.refs.match(Path(arrival.rel), arrival.path)
        return ref, problem

    def _skip(self, arrival: Arrival, reason: str) -> None:
        self.inbox.handled(arrival)
        if record_skip(self.con, *arrival.identity, reason):
            self.stats.skipped += 1
            self.say(f"skipped {arrival.path}: {reason}")

    def _score(self, audio: list[tuple[Arrival, str]]) -> None:
        jobs = self.config.jobs
        if jobs > 1 and len(audio) > 1 and self.pool is None:
            self.pool = worker_pool(jobs)
        pairs = [{"reference": ref, "degraded": a.path} for a, ref in audio]
        executor = self.pool if jobs > 1 and len(audio) > 1 else None
        results = score_many(pairs, mode=self.config.mode, metric=self.config.metric,
                             jobs=1 if executor is None else jobs, executor=executor,
                             _scorer=self.scorer)  # fmt: skip
        broken = False
        try:
            for result in results:
                arrival, reference = audio[result.index]
                if result.error_type == "BrokenProcessPool":
                    broken = True
                    crashes = self._crashed[arrival.path] = self._crashed.get(arrival.path, 0) + 1
                    if crashes < 2:
                        continue  # scored again in a new pool at the next scan
                row = result.to_row()
                row["reference"] = reference
                row["metric"] = row.get("metric") or self.config.metric
                self._store(arrival, [row])
                if self.stopping:
                    break
        except BrokenExecutor:  # the pool died under a submit: the rest is offered again
            broken = True
        finally:
            results.close()
        if broken and self.pool is not None:
            self.pool.shutdown(wait=False, cancel_futures=True)
            self.pool = None

    def _store(self, arrival: Arrival, rows: list[dict[str, Any]]) -> None:
        path, size, mtime_ns = arrival.identity
        now = iso_utc(time.time())
        with transaction(self.con):
            for row in rows:
                row.update(arrival.metadata)
                row.update(degraded=arrival.path, call_ts=arrival.call_ts,
                           call_time=iso_utc(arrival.call_ts), file_path=path, file_size=size,
                           file_mtime_ns=mtime_ns, origin="watch", ingested_at=now)  # fmt: skip
                insert_row(self.con, row)
        self.inbox.handled(arrival)
        for row in rows:
            ok = row.get("status") == "ok"
            self.stats.scored += ok
            self.stats.errors += not ok
            self.call(row)
        self._alerts()


def default_db() -> str:
    """``perceptq.sqlite`` in the current folder."""
    return os.path.join(os.getcwd(), "perceptq.sqlite")
