"""Synthetic music-like test signals for the ViSQOL tests (any rate, deterministic)."""

from __future__ import annotations

import numpy as np


def music(seconds: float = 3.0, fs: int = 48000, seed: int = 0, *, note_s: float = 0.25,
          harmonics: int = 12, noise: float = 0.01) -> np.ndarray:
    """Decaying harmonic notes (random pitches) plus a little noise, peak 0.3."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * fs)) / fs
    x = np.zeros_like(t)
    for start in np.arange(0.0, seconds, note_s):
        f0 = 110.0 * 2 ** (rng.integers(0, 24) / 12)
        env = np.where(t >= start, np.exp(-(t - start) * 4.0), 0.0)
        for h in range(1, harmonics + 1):
            if f0 * h < fs / 2:
                x += env * np.sin(2 * np.pi * f0 * h * t + rng.uniform(0, 6.3)) / h
    x += noise * rng.standard_normal(t.shape)
    return 0.3 * x / np.max(np.abs(x))
