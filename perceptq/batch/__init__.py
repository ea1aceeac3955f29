"""Scoring many pairs: pairing inputs, running them in parallel, and the result table.

:mod:`pairing` turns two folders or a manifest into pairs, :mod:`runner` scores them
in-process, in a process pool or on any executor (:func:`runner.score_many`), the pools'
workers forked from the warm server of :mod:`server`, :mod:`table`
is the result row and its CSV/JSONL/Parquet files (written as rows arrive, read back for
``--resume``), and :mod:`summary` aggregates a table per group. It imports
:mod:`perceptq.api` and the shared :mod:`perceptq.result` / :mod:`perceptq.errors`; never
the CLI or the report.
"""
