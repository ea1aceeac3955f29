"""Imported once by the batch fork server, before any worker is forked from it: loads
(or compiles, the first time ever) every numba kernel of the scoring path, so each worker
starts as a copy of a process that has them in memory and pays no start-up of its own.

A failure here is not fatal: each worker then warms up on its own (and a broken model
shows up as an error row on the first pair).
"""

from __future__ import annotations

import gc

# The imports of the scoring path (numpy, numba, scipy.fft, the model) make a few hundred
# thousand objects that live as long as the server and its workers, and no garbage: the
# cyclic collector would only walk them again and again (about 30 ms of the server's
# 0.55 s here). It is held off while they load; then they are frozen, out of the way of
# every later collection, here and in the workers.
_collecting = gc.isenabled()
gc.disable()
try:
    from perceptq import api
    from perceptq.batch import runner
    from perceptq.recording import scoring  # noqa: F401 - what api.warm_up needs
finally:
    if _collecting:
        gc.enable()
    gc.freeze()

try:
    api.warm_up()
except Exception:  # the workers try again, each on its own
    pass
else:
    runner._warm = True  # inherited by every forked worker: nothing left to load
