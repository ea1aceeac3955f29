"""Patch matching: a dynamic-programming path of degraded patches, then fine realignment.

Each reference patch is compared with every degraded patch starting within
``search_window`` patches of it; a dynamic programme picks the sequence of degraded
offsets that maximises the summed similarity while moving forward in time, and a
reference patch may stay unmatched (a patch lost in the degraded signal). Each matched
pair is then realigned in the time domain and rescored; the better of the two is kept.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import NDArray

from perceptq.errors import InvalidAudioError
from perceptq.visqol._kernels import (
    _dp_backtrack_kernel,
    _dp_rows_kernel,
    _dp_similarity_kernel,
)
from perceptq.visqol.align import align_and_truncate, window_of
from perceptq.visqol.config import VisqolConfig
from perceptq.visqol.nsim import PatchSimilarity, patch_similarity
from perceptq.visqol.spectrogram import gammatone_spectrogram, prepare_for_comparison

#: Reference patches whose similarity rows are computed at a time (bounds the kernel's
#: local sums of the degraded spectrogram on long inputs).
PATCHES_PER_PIECE = 128


@dataclass(frozen=True, slots=True)
class PatchMatch:
    """A reference patch and the degraded patch matched to it (times in seconds).

    An unmatched patch has ``deg_start_s == deg_end_s == 0`` and zero band means.
    """

    ref_start_s: float
    ref_end_s: float
    deg_start_s: float
    deg_end_s: float
    stats: PatchSimilarity

    @property
    def lost(self) -> bool:
        """True when no degraded patch was matched."""
        return self.deg_start_s == 0.0 and self.deg_end_s == 0.0


def usable_patch_count(starts: NDArray[np.int64], n_deg_frames: int, patch_size: int) -> int:
    """Number of leading reference patches that start within reach of the degraded signal."""
    n = starts.shape[0]
    while n > 0 and starts[n - 1] - math.floor(patch_size / 2) > n_deg_frames:
        n -= 1
    return n


def degraded_patch(
    deg_db: NDArray[np.float64], offset: int, patch_size: int
) -> NDArray[np.float64]:
    """Frames ``offset:offset + patch_size`` of a spectrogram, zeros past its end."""
    return frames_of(deg_db, offset, offset + patch_size)


def frames_of(spec: NDArray[np.float64], start: int, stop: int) -> NDArray[np.float64]:
    """``spec[:, start:stop]`` (a view) or, past the last frame, a copy padded with zeros:
    the frames of the spectrogram followed by zero frames, without padding it whole."""
    n = spec.shape[1]
    if stop <= n:
        return spec[:, start:stop]
    out = np.zeros((spec.shape[0], stop - start))
    out[:, : max(n - start, 0)] = spec[:, start:n]
    return out


def match_patches(
    ref_patches: NDArray[np.float64],
    starts: NDArray[np.int64],
    deg_db: NDArray[np.float64],
    config: VisqolConfig,
) -> list[PatchMatch]:
    """Dynamic-programming match of reference patches (n, bands, P) to the degraded spectrogram.

    Raises
    ------
    InvalidAudioError
        No reference patch can be placed in the degraded signal.
    """
    _, n_bands, size = ref_patches.shape
    n_frames = deg_db.shape[1]
    n = usable_patch_count(starts, n_frames, size)
    if n == 0:
        raise InvalidAudioError(
            "the degraded signal is too short, too different or too misaligned to score any "
            "reference patch"
        )
    radius = config.search_window * size
    lo = np.maximum(starts[:n] - radius, 0).astype(np.int64)
    hi = np.minimum(starts[:n] + radius + 1, n_frames).astype(np.int64)
    width = int(np.max(hi - lo))
    # The similarity table is made and consumed PATCHES_PER_PIECE rows at a time: the DP
    # needs one row of cumulative scores and the back-pointers, never the whole table.
    prev = np.zeros(width)
    back = np.zeros((n, width), dtype=np.int32)
    for p0 in range(0, n, PATCHES_PER_PIECE):
        p1 = min(p0 + PATCHES_PER_PIECE, n)
        # The kernel's local sums of the degraded spectrogram cover only the frames these
        # patches can reach, plus one on each side (so no edge is clamped that the whole
        # computation would not clamp): the same values with small buffers.
        a = max(int(lo[p0]) - 1, 0)
        b = min(int(lo[p1 - 1]) + width + size + 1, n_frames + size)  # lo never decreases
        sim = np.zeros((p1 - p0, width))
        _dp_similarity_kernel(np.ascontiguousarray(ref_patches[p0:p1]),
                              np.ascontiguousarray(frames_of(deg_db, a, b)), lo[p0:p1] - a, width,
                              sim)
        _dp_rows_kernel(sim, p0, lo, hi, prev, back)
    offsets, lost = _dp_backtrack_kernel(prev, lo, hi, back)
    dt = config.frame_duration_s
    out = []
    for p in range(n):
        o = int(offsets[p])
        stats = patch_similarity(ref_patches[p], degraded_patch(deg_db, o, size))
        ref_start = int(starts[p]) * dt
        if lost[p]:
            stats = replace(stats, similarity=0.0, band_means=np.zeros(n_bands))
            deg_start = deg_end = 0.0
        else:
            deg_start = o * dt
            deg_end = deg_start + dt * size
        out.append(PatchMatch(ref_start, ref_start + dt * size, deg_start, deg_end, stats))
    return out


def time_slice(
    x: NDArray[np.float64], start_s: float, end_s: float, sample_rate: int
) -> tuple[NDArray[np.float64], int | None]:
    """Samples of ``x`` between two times, zero-padded where the times fall outside it.

    Returns (samples, index of the first one in ``x`` or None when zeros were added).
    ViSQOL's slicing, kept for comparability: the end index is exclusive and clipped to the
    last sample, and the zeros for an end past the signal are put in front.
    """
    start = max(0, int(start_s * sample_rate))
    end = min(x.shape[0] - 1, int(end_s * sample_rate))
    out = x[start:end]
    past_end = end_s * sample_rate - x.shape[0]
    parts = []
    if start_s < 0:
        parts.append(np.zeros(int(-start_s * sample_rate)))
    if past_end > 0:
        parts.append(np.zeros(int(past_end)))
    if parts and sum(p.shape[0] for p in parts):
        return np.concatenate([*parts, out]), None
    return out, start


def _spectrogram_of(
    cut: NDArray[np.float64], cut_at: int | None, start: int, n: int,
    full_spec: NDArray[np.float64], config: VisqolConfig,
) -> NDArray[np.float64]:
    """Spectrogram of ``cut[start:start + n]``, taken from the whole signal's when it can be.

    Frames are filtered from rest, so a piece that starts on the whole signal's frame grid
    has exactly the whole spectrogram's frames there.
    """
    if cut_at is not None and start >= 0:
        at = cut_at + start
        n_frames = 1 + (n - config.window_size) // config.hop
        first = at // config.hop
        if at % config.hop == 0 and first + n_frames <= full_spec.shape[1]:
            return full_spec[:, first : first + n_frames]
    return gammatone_spectrogram(window_of(cut, start, n), config)


def realign(
    matches: list[PatchMatch],
    ref: NDArray[np.float64],
    deg: NDArray[np.float64],
    ref_spec: NDArray[np.float64],
    deg_spec: NDArray[np.float64],
    config: VisqolConfig,
) -> list[PatchMatch]:
    """Realign every matched pair in the time domain and keep the rescored pair if not worse.

    ``ref_spec``, ``deg_spec`` are the linear spectrograms of the whole signals, reused for
    pieces on their frame grid.
    """
    fs = config.sample_rate
    out = []
    for m in matches:
        if m.lost:
            out.append(m)
            continue
        ref_cut, ref_at = time_slice(ref, m.ref_start_s, m.ref_end_s, fs)
        deg_cut, deg_at = time_slice(deg, m.deg_start_s, m.deg_end_s, fs)
        r0, d0, n, lag_s = align_and_truncate(ref_cut, deg_cut, fs)
        if n <= config.window_size:
            out.append(m)
            continue
        ref_db, deg_db = prepare_for_comparison(
            _spectrogram_of(ref_cut, ref_at, r0, n, ref_spec, config),
            _spectrogram_of(deg_cut, deg_at, d0, n, deg_spec, config),
        )
        stats = patch_similarity(ref_db, deg_db)
        if stats.similarity < m.stats.similarity:
            out.append(m)
            continue
        ref_start = m.ref_start_s + lag_s if lag_s > 0 else m.ref_start_s
        deg_start = m.deg_start_s if lag_s > 0 else m.deg_start_s - lag_s
        out.append(PatchMatch(ref_start, ref_start + n / fs, deg_start, deg_start + n / fs, stats))
    return out
