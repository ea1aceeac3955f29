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
head = [_kernels._biquad_cascade_pair_kernel, _kernels._vad_kernel,
        _kernels._window_peaks_kernel]
tail = [_kernels._frame_disturbance_kernel, _kernels._lpq_kernel]
print(before, compile_ahead._child, round(s.mos, 12),
      sum(sum(k.stats.cache_hits.values()) for k in head),
      sum(sum(k.stats.cache_misses.values()) for k in head),
      sum(sum(k.stats.cache_hits.values()) + sum(k.stats.cache_misses.values())
          for k in tail),
      sum(len(k.signatures) for k in tail))
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
    # Cold: nothing cached yet, the helper was forked and waited for (reaped); the kernels
    # the model needs first came from the helper's cache, not from a compile here; those it
    # needs last were compiled (or loaded) here while the helper worked, once each.
    assert cold[0] == "False" and cold[1] == "None"
    assert cold[3] == "3" and cold[4] == "0"
    assert cold[5] == "2" and cold[6] == "2"
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


def test_the_tail_warm_up_compiles_the_signatures_the_model_calls():
    # model.warm_up scores tiny pairs (every kernel with the model's own argument kinds),
    # then runs warm_up_tail: a kind of its own would leave a second signature.
    child = ("from perceptq.p862 import model, _kernels as k; model.warm_up(); "
             "print(len(k._frame_disturbance_kernel.signatures), len(k._lpq_kernel.signatures), "
             "sorted(str(s[-1]) for s in k._xcorr_rows_kernel.signatures))")
    run = subprocess.run([sys.executable, "-c", child], env={**os.environ, "PYTHONPATH": ROOT},
                         capture_output=True, text=True, check=True)
    out = run.stdout.strip().split(maxsplit=2)
    assert out[:2] == ["1", "1"]
    assert out[2] == "['array(float32, 2d, C)', 'array(float64, 2d, C)']"


WARM_CHILD = r"""
from perceptq.p862 import _kernels
from perceptq.recording import compile_ahead, scoring
scoring.warm_up()  # what a batch's fork server runs before any worker exists
head = [_kernels._biquad_cascade_pair_kernel, _kernels._vad_kernel,
        _kernels._window_peaks_kernel]
print(compile_ahead._started, compile_ahead._child,
      sum(sum(k.stats.cache_hits.values()) for k in head),
      sum(sum(k.stats.cache_misses.values()) for k in head))
"""


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux") or (os.cpu_count() or 1) < 2,
                    reason="the helper runs on Linux with two CPUs")
def test_a_first_batch_warm_up_shares_the_compiling_with_the_helper(tmp_path):
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "cache"), "PYTHONPATH": ROOT}
    out = subprocess.run([sys.executable, "-c", WARM_CHILD], env=env, capture_output=True,
                         text=True, check=True).stdout.split()
    # the helper was forked and waited for; the model's first kernels came from its cache
    assert out == ["True", "None", "3", "0"]
