"""The first run ever compiles the model's kernels in a helper process ahead of need."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import numpy as np
import pytest
import soundfile as sf

from perceptq.recording import compile_ahead

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

CHILD = r"""
import sys, perceptq
from perceptq.p862 import _kernels
from perceptq.recording import compile_ahead
before = compile_ahead._model_cache_exists()
s = perceptq.score(sys.argv[1], sys.argv[2])
kernels = [_kernels._vad_kernel, _kernels._frame_disturbance_kernel, _kernels._window_peaks_kernel]
print(before, compile_ahead._child, round(s.mos, 12),
      sum(sum(k.stats.cache_hits.values()) for k in kernels),
      sum(sum(k.stats.cache_misses.values()) for k in kernels))
"""


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux") or (os.cpu_count() or 1) < 2,
                    reason="the helper runs on Linux with two CPUs")
def test_a_first_run_ever_loads_the_model_from_the_helpers_cache(tmp_path):
    from corpus import load_clean

    x = np.concatenate(list(load_clean(16000).values())[:2])
    rng = np.random.default_rng(3)
    sf.write(tmp_path / "r.wav", x, 16000)
    sf.write(tmp_path / "d.wav", x + 0.01 * rng.standard_normal(x.shape[0]), 16000)
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "cache"), "PYTHONPATH": ROOT}
    args = [sys.executable, "-c", CHILD, str(tmp_path / "r.wav"), str(tmp_path / "d.wav")]
    cold = subprocess.run(args, env=env, capture_output=True, text=True, check=True).stdout.split()
    warm = subprocess.run(args, env=env, capture_output=True, text=True, check=True).stdout.split()
    # Cold: nothing cached yet, the helper was forked, waited for (reaped) and the model's
    # kernels came from its cache, not from a compile here.
    assert cold[0] == "False" and cold[1] == "None"
    assert cold[3] == "3" and cold[4] == "0"
    # Warm: the cache was there, nothing forked; the same score to the bit.
    assert warm[0] == "True" and warm[1] == "None" and warm[2] == cold[2]


def test_no_helper_once_the_model_is_loaded_or_with_other_threads(monkeypatch):
    from perceptq.p862 import model

    model.warm_up()  # loaded in this process
    monkeypatch.setattr(compile_ahead, "_started", False)
    assert compile_ahead._model_cache_exists() is True
    assert compile_ahead.start() is False
    assert compile_ahead.start() is False  # once per process at most
    monkeypatch.setattr(compile_ahead, "_started", False)
    monkeypatch.setattr(compile_ahead, "_model_cache_exists", lambda: False)
    stop = threading.Event()
    t = threading.Thread(target=stop.wait)
    t.start()
    try:
        assert compile_ahead.start() is False  # forking next to a thread is not safe
    finally:
        stop.set()
        t.join()
    compile_ahead.finish(extras=True)  # nothing to wait for: returns at once
