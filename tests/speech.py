"""Long test signals built from the shipped clean speech (reference_audio/clean).

Shared by the long-call, locate, drift, timeline, diagnostics and plot tests.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

CLEAN = Path(__file__).parent.parent / "reference_audio" / "clean"
FS = 16000
SENTENCES = ("arctic_a0001.wav", "arctic_a0007.wav", "arctic_a0009.wav")


@cache
def sentence(name: str) -> np.ndarray:
    """One clean sentence at 16 kHz (read-only)."""
    x, fs = sf.read(str(CLEAN / name), dtype="float64")
    assert fs == FS
    x.setflags(write=False)
    return x


def conversation(seconds: float, seed: int = 0) -> np.ndarray:
    """Sentences in random order with 0.4-1.5 s pauses, cut to ``seconds``."""
    rng = np.random.default_rng(seed)
    parts, n = [], 0
    target = round(seconds * FS)
    while n < target:
        x = sentence(SENTENCES[int(rng.integers(len(SENTENCES)))])
        gap = np.zeros(round(rng.uniform(0.4, 1.5) * FS))
        parts += [x, gap]
        n += x.shape[0] + gap.shape[0]
    return np.concatenate(parts)[:target]


def stretch(x: np.ndarray, ppm: float) -> np.ndarray:
    """``x`` as recorded by a device whose clock runs ``ppm`` fast (more samples)."""
    if ppm == 0:
        return x.copy()
    return soxr.resample(x, FS, FS * (1.0 + ppm * 1e-6), quality="VHQ")


def delayed(x: np.ndarray, ms: float) -> np.ndarray:
    """``x`` with ``ms`` of leading silence."""
    return np.concatenate((np.zeros(round(ms * FS / 1000)), x))


def noise(n: int, level: float, seed: int) -> np.ndarray:
    """White noise of RMS ``level``."""
    return level * np.random.default_rng(seed).standard_normal(n)


def rms(x: np.ndarray) -> float:
    """Root mean square."""
    return float(np.sqrt(np.mean(x**2)))
