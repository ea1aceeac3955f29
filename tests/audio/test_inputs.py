"""One input abstraction: every scoring path (one piece, windowed, located) opens its
inputs the same way and runs the same input checks."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

import perceptq
from perceptq import api
from perceptq.audio.source import open_input

REF = Path(__file__).resolve().parents[2] / "reference_audio" / "clean" / "arctic_a0001.wav"


def _long(seconds_each: int = 7) -> tuple[np.ndarray, int]:
    x, fs = sf.read(REF, dtype="float64")
    return np.concatenate([np.concatenate((x, np.zeros(fs // 2)))] * seconds_each), fs


@pytest.mark.parametrize("path", ["single", "windowed", "located"])
def test_channel_and_clipping_warnings_on_every_path(path, tmp_path):
    x, fs = sf.read(REF, dtype="float64")
    if path != "single":
        x, fs = _long()
    clipped = np.clip(4 * x, -0.5, 0.5)
    ref = tmp_path / "clipped ref.wav"
    sf.write(ref, clipped, fs)
    deg_x = np.stack([x, np.zeros_like(x)], axis=1)  # left channel only
    if path == "located":
        deg_x = np.concatenate((np.zeros((fs, 2)), deg_x, np.zeros((fs, 2))))
    deg = tmp_path / "left only.wav"
    sf.write(deg, deg_x, fs)
    s = perceptq.score(ref, deg, locate=path == "located")
    assert bool(s.windows) == (path == "windowed")
    assert bool(s.occurrences) == (path == "located")
    assert any(w.startswith(f"{ref}: the reference looks clipped") for w in s.warnings)
    assert [w for w in s.warnings if "channels differ" in w] == [
        f"{deg}: its 2 channels differ and were averaged to mono; score each channel "
        "separately if they hold different talkers"
    ]


def test_inputs_know_name_rate_channels_and_format(tmp_path):
    x, fs = sf.read(REF, dtype="float64")
    path = tmp_path / "st.wav"
    sf.write(path, np.stack([x, x], axis=1), fs, subtype="PCM_24")
    f = open_input(path, None, role="degraded")
    assert (f.name, f.rate, f.channels, f.frames, f.sample_format) == (
        str(path), fs, 2, x.shape[0], "PCM_24")
    a = open_input((x * 32767).astype(np.int16), fs, role="reference")
    assert (a.name, a.rate, a.channels, a.sample_format) == ("reference", fs, 1, "int16")
    whole, streamed = f.at_rate(8000, streamed=False), f.at_rate(8000, streamed=True)
    assert whole.n == streamed.n and whole.name == streamed.name == str(path)
    assert whole.original_rate == streamed.original_rate == fs
    np.testing.assert_allclose(whole.read(0, whole.n), streamed.read(0, streamed.n),
                               atol=1e-6)  # the stream resamples in float32
    assert whole.clip.channel_spread == streamed.clip.channel_spread == 0.0


def test_default_window_matches_the_long_call_module():
    from perceptq.recording import longcall

    assert api.WINDOW_S == longcall.WINDOW_S


def test_import_perceptq_loads_no_heavy_modules():
    code = ("import sys, perceptq; heavy = [m for m in ('numba', 'scipy', 'soundfile', "
            "'matplotlib', 'pandas', 'pyarrow', 'dpkt', 'dask', 'rich', 'typer') "
            "if m in sys.modules]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "[]"


def test_scoring_imports_no_scipy_signal_or_stats():
    code = ("import sys, perceptq; perceptq.score(sys.argv[1], sys.argv[1]); "
            "print([m for m in ('scipy.signal', 'scipy.stats', 'matplotlib', 'pandas', "
            "'pyarrow', 'dpkt', 'dask', 'rich') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code, str(REF)], capture_output=True,
                         text=True, check=True).stdout.strip()
    assert out == "[]"


def test_allocator_thresholds_yield_to_the_environment():
    code = "import perceptq.api as a; print(a.tune_allocator(), a.tune_allocator())"
    env = {k: v for k, v in __import__("os").environ.items()
           if k not in api.ALLOCATOR_THRESHOLDS}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env=env).stdout.split()
    assert out == ["True", "True"]  # glibc here: set once, then a no-op
    env["MALLOC_MMAP_THRESHOLD_"] = str(1 << 20)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env=env).stdout.split()
    assert out == ["False", "False"]
