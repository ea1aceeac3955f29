"""Imported once by the batch fork server, before any worker is forked from it: loads
(or compiles, the first time ever) every numba kernel of the scoring path, so each worker
starts as a copy of a process that has them in memory and pays no start-up of its own.

A failure here is not fatal: each worker then warms up on its own (and a broken model
shows up as an error row on the first pair).
"""

from __future__ import annotations

from perceptq import api
from perceptq.batch import runner

try:
    api.warm_up()
except Exception:  # the workers try again, each on its own
    pass
else:
    runner._warm = True  # inherited by every forked worker: nothing left to load
