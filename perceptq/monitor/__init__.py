"""A long-running service: the inbox, the history database, alert episodes and metrics.

``perceptq watch`` is built from these stages, one module each:

:mod:`inbox` finds recordings and captures under a folder, waits until each has settled
and reads its metadata (path pattern, sidecar ``NAME.json``); :mod:`events` wakes the
service on file-system events (Linux inotify) where the platform has them; :mod:`store`
is the SQLite history (``results``, ``alerts``, ``notifications``, ``skipped``);
:mod:`capture` turns a packet capture into result rows; :mod:`episodes` applies the
report's alert rule in real time and records each episode's opening and closing once;
:mod:`notify` delivers those events (JSONL, webhook, command) from the database;
:mod:`metrics` serves Prometheus metrics computed from the database; :mod:`history`
aggregates the database per period and group; :mod:`service` runs the loop.

Every piece of service state lives in the database, never only in memory: a restart after
``kill -9`` resumes from what was committed. It may import :mod:`perceptq.batch`
(scoring, pairing, the result row), :mod:`perceptq.report` (the alert rule),
:mod:`perceptq.network` (captures), :mod:`perceptq.api` and the shared vocabulary; never
the CLI.
"""
