"""Prometheus metrics of the history database, served at ``/metrics`` (``prometheus_client``).

The figures are read from the database, not counted in memory: at each scrape the
collector adds the ``results`` rows committed since the last scrape (by row id) to its
totals, and reads the open episodes from ``alerts``. A restart therefore continues the
counters where the database stands, and rows written by ``perceptq batch -o x.sqlite``
count too. Labels are the ``--group-by`` columns (empty text when a row lacks one).

=========================================  =========  ==========================================
metric                                     type       meaning
=========================================  =========  ==========================================
``perceptq_calls_total``                   counter    calls stored, per group and ``status``
``perceptq_mos``                           histogram  MOS-LQO of scored calls, per group
``perceptq_alert_episodes_open``           gauge      alert episodes open now, per group
``perceptq_last_call_timestamp_seconds``   gauge      call time of the latest call, per group
``perceptq_scoring_seconds``               summary    time spent scoring calls, per group
=========================================  =========  ==========================================
"""

from __future__ import annotations

import json
import math
import threading
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

from perceptq.batch.sqlite_table import quote, table_columns
from perceptq.monitor.episodes import Rule
from perceptq.monitor.store import open_store

#: Upper bounds of the MOS histogram buckets.
MOS_BUCKETS = (1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0)


class HistoryCollector:
    """A ``prometheus_client`` collector over a history database."""

    def __init__(self, db: str, *, group_by: tuple[str, ...], rule: Rule | None = None) -> None:
        self.con = open_store(db)
        self.group_by = tuple(group_by)
        self.rule = rule
        self.lock = threading.Lock()
        self.mark = 0
        self.calls: dict[tuple, int] = defaultdict(int)
        self.buckets: dict[tuple, list[int]] = defaultdict(lambda: [0] * len(MOS_BUCKETS))
        self.mos_sum: dict[tuple, float] = defaultdict(float)
        self.mos_count: dict[tuple, int] = defaultdict(int)
        self.last_call: dict[tuple, float] = {}
        self.seconds: dict[tuple, list[float]] = defaultdict(lambda: [0, 0.0])

    def warm_up(self) -> None:
        """Add the rows already in the database (a scrape does it too, when first)."""
        with self.lock:
            self._catch_up()

    def _catch_up(self) -> None:
        have = set(table_columns(self.con))
        cols = "".join(f", {quote(c)}" if c in have else ", NULL" for c in self.group_by)
        rows = self.con.execute(
            f"SELECT id, status, mos, call_ts, seconds{cols} FROM results WHERE id > ? "
            "ORDER BY id", (self.mark,),
        )  # fmt: skip
        for rid, status, mos, ts, seconds, *group in rows:
            key = tuple("" if v is None else str(v) for v in group)
            self.mark = rid
            self.calls[(*key, status or "")] += 1
            if ts is not None:
                self.last_call[key] = max(self.last_call.get(key, ts), ts)
            if seconds is not None and math.isfinite(seconds):
                self.seconds[key][0] += 1
                self.seconds[key][1] += seconds
            if status == "ok" and mos is not None and math.isfinite(mos):
                self.mos_count[key] += 1
                self.mos_sum[key] += mos
                counts = self.buckets[key]
                for i, bound in enumerate(MOS_BUCKETS):
                    if mos <= bound:
                        counts[i] += 1

    def _open_episodes(self) -> dict[tuple, int]:
        where, params = "closed_ts IS NULL", ()
        if self.rule is not None:
            where, params = "closed_ts IS NULL AND rule = ?", (self.rule.key,)
        found: dict[tuple, int] = defaultdict(int)
        for key, cols in self.con.execute(f"SELECT group_key, group_by FROM alerts WHERE {where}",
                                          params):  # fmt: skip
            values = dict(zip(json.loads(cols), json.loads(key), strict=True))
            found[tuple("" if values.get(c) is None else str(values.get(c))
                        for c in self.group_by)] += 1  # fmt: skip
        return found

    def collect(self) -> Iterator[Any]:
        """Metric families at this moment (called by ``prometheus_client`` per scrape)."""
        from prometheus_client.core import (
            CounterMetricFamily,
            GaugeMetricFamily,
            HistogramMetricFamily,
            SummaryMetricFamily,
        )

        labels = list(self.group_by)
        with self.lock:
            self._catch_up()
            episodes = self._open_episodes()
            calls = CounterMetricFamily(
                "perceptq_calls", "Calls stored in the history, by status (ok or error).",
                labels=[*labels, "status"],
            )
            for key, n in sorted(self.calls.items()):
                calls.add_metric(list(key), n)
            yield calls
            mos = HistogramMetricFamily("perceptq_mos", "MOS-LQO of scored calls.", labels=labels)
            for key, counts in sorted(self.buckets.items()):
                buckets = [(f"{b:g}", c) for b, c in zip(MOS_BUCKETS, counts, strict=True)]
                buckets.append(("+Inf", self.mos_count[key]))
                mos.add_metric(list(key), buckets, sum_value=self.mos_sum[key])
            yield mos
            open_now = GaugeMetricFamily("perceptq_alert_episodes_open",
                                         "Alert episodes open now.", labels=labels)  # fmt: skip
            for key in sorted(set(episodes) | {k[:-1] for k in self.calls}):
                open_now.add_metric(list(key), episodes.get(key, 0))
            yield open_now
            last = GaugeMetricFamily("perceptq_last_call_timestamp_seconds",
                                     "Call time of the latest call (Unix seconds).",
                                     labels=labels)  # fmt: skip
            for key, ts in sorted(self.last_call.items()):
                last.add_metric(list(key), ts)
            yield last
            spent = SummaryMetricFamily("perceptq_scoring_seconds",
                                        "Seconds spent scoring calls.", labels=labels)  # fmt: skip
            for key, (n, total) in sorted(self.seconds.items()):
                spent.add_metric(list(key), count_value=n, sum_value=total)
            yield spent


def serve(db: str, *, host: str, port: int, group_by: tuple[str, ...], rule: Rule | None) -> Any:
    """Serve ``/metrics`` in a background thread; return the server (``server_port``,
    ``shutdown()``)."""
    from prometheus_client import CollectorRegistry, start_http_server

    registry = CollectorRegistry(auto_describe=False)
    collector = HistoryCollector(db, group_by=group_by, rule=rule)
    registry.register(collector)
    server, _thread = start_http_server(port, addr=host, registry=registry)
    # read the history already there now, so that the first scrape is not the slow one
    threading.Thread(target=collector.warm_up, name="perceptq-metrics-warm-up",
                     daemon=True).start()  # fmt: skip
    return server
