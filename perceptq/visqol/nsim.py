"""Neurogram similarity (NSIM) of a reference and a degraded patch.

NSIM (Hines and Harte, 2012) is SSIM without the contrast term, on spectrogram patches:
intensity (2 mu_r mu_d + C1) / (mu_r^2 + mu_d^2 + C1) times structure
(sigma_rd + C3) / (sigma_r sigma_d + C3), local statistics from a 3x3 Gaussian window
with replicated edges.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from perceptq.visqol._kernels import _nsim_map_kernel


@dataclass(frozen=True, slots=True)
class PatchSimilarity:
    """NSIM of one patch pair.

    ``band_means``, ``band_stds`` (sample standard deviation over frames) and
    ``band_deg_energy`` (mean degraded level in dB above the floor) have shape (n_bands,),
    lowest band first; ``similarity`` is the mean of ``band_means``.
    """

    similarity: float
    band_means: NDArray[np.float64]
    band_stds: NDArray[np.float64]
    band_deg_energy: NDArray[np.float64]


def patch_similarity(ref: NDArray[np.float64], deg: NDArray[np.float64]) -> PatchSimilarity:
    """NSIM statistics of two patches of the same shape (n_bands, n_frames)."""
    if ref.shape != deg.shape or ref.ndim != 2:
        raise ValueError(f"patch shapes differ or are not 2-D: {ref.shape} vs {deg.shape}")
    sim = _nsim_map_kernel(
        np.ascontiguousarray(ref, dtype=np.float64), np.ascontiguousarray(deg, dtype=np.float64)
    )
    means = sim.mean(axis=1)
    stds = sim.std(axis=1, ddof=1) if sim.shape[1] > 1 else np.zeros(sim.shape[0])
    return PatchSimilarity(
        similarity=float(means.mean()),
        band_means=means,
        band_stds=stds,
        band_deg_energy=deg.mean(axis=1),
    )
