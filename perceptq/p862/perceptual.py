"""Stage: perceptual model front end (design note §11.1-§11.4).

Framing, power spectra and Bark warping (the pitch power density, in one pass) and the
partial compensation of the system's frequency response. Loudness and disturbance per
frame are computed by :mod:`perceptq.p862.disturbance` with the numba kernel.
"""

from __future__ import annotations

import numpy as np
from numpy import fft  # double precision: the pocketfft of scipy.fft, bit-identical
from numpy.typing import NDArray

from perceptq.p862._kernels import _pitch_power_kernel, _windowed_frames_kernel
from perceptq.p862.align import hann
from perceptq.p862.config import ModelConfig
from perceptq.p862.tables import BarkTable

SILENCE_SUM = 500.0  # §11.1: 5-sample absolute sum that marks the first/last sound


def _first_sound(a: NDArray[np.float64], limit: int) -> int:
    """First k < ``limit`` whose 5-sample sum ``a[k : k + 5]`` reaches SILENCE_SUM, else
    ``limit``. Searched in chunks from the start (speech is usually found in the first)."""
    chunk = 4096  # each sum is its own 5-term dot product: the same values as one pass
    for lo in range(0, limit, chunk):
        hi = min(lo + chunk, limit)
        sums = np.convolve(a[lo : hi + 4], np.ones(5), mode="valid")[: hi - lo]
        hits = np.flatnonzero(sums >= SILENCE_SUM)
        if hits.size:
            return lo + int(hits[0])
    return limit


def frame_range(ref: NDArray[np.float64], max_padded: int, cfg: ModelConfig) -> tuple[int, int]:
    """(start_frame, stop_frame) of the frames that enter the score (§11.1)."""
    half = max_padded // 2
    n = max_padded - 2 * cfg.sb + cfg.pad
    last = max_padded - cfg.sb + cfg.pad - 1
    skip_start = _first_sound(np.abs(ref[cfg.sb : cfg.sb + half + 5]), half)
    skip_end = _first_sound(np.abs(ref[max(last - half - 4, 0) : last + 1][::-1]), half)
    return skip_start // cfg.hop, (n - skip_end) // cfg.hop - 1


def pitch_power_density(
    x: NDArray[np.float64], starts: NDArray[np.int64], valid: NDArray[np.bool_],
    bark: BarkTable, cfg: ModelConfig,
) -> NDArray[np.float64]:
    """Pitch power density (n_frames, n_bands) of the Hann-windowed frames of ``x`` at
    ``starts``: each frame's power spectrum (DC bin zero) summed over the Bark bands in
    bin order and scaled (§11.2-§11.3); invalid frames are zero."""
    nf = cfg.nf
    out = np.zeros((starts.shape[0], bark.n_bands))
    idx = np.flatnonzero(valid)
    if idx.size and not (starts[idx].min() >= 0 and starts[idx].max() + nf <= x.shape[0]):
        raise IndexError("pitch_power_density: a frame reaches outside the signal")
    win = hann(nf)
    n_bins = bark.n_bins.astype(np.int64)
    scale = cfg.sp * bark.correction
    chunk = 4096
    for c in range(0, idx.size, chunk):
        sel = idx[c : c + chunk]
        spec = fft.rfft(_windowed_frames_kernel(x, starts[sel], win), axis=1)
        _pitch_power_kernel(spec, sel, n_bins, scale, out)
    return out


def compensate_frequency_response(
    ppd_ref: NDArray[np.float64], ppd_deg: NDArray[np.float64], n_total: int, bark: BarkTable
) -> NDArray[np.float64]:
    """Reference pitch power density scaled by the system's average band gain (§11.4).

    Averages run over non-silent frames, counting only values above 100 x the hearing
    threshold, divided by the fixed frame count ``n_total``.
    """
    thr = 100.0 * bark.abs_thresh
    audible_ref = np.where(ppd_ref[:, 1:] > thr[1:], ppd_ref[:, 1:], 0.0).sum(axis=1)
    loud = audible_ref >= 1e7
    avg_ref = np.where(ppd_ref[loud] > thr, ppd_ref[loud], 0.0).sum(axis=0) / n_total
    avg_deg = np.where(ppd_deg[loud] > thr, ppd_deg[loud], 0.0).sum(axis=0) / n_total
    gain = np.clip((avg_deg + 1000.0) / (avg_ref + 1000.0), 0.01, 100.0)
    return ppd_ref * gain
