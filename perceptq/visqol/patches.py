"""Reference patches: where they start (every patch, or only active ones) and their content."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from perceptq.errors import InvalidAudioError

#: RMS voice activity detector: int16 RMS threshold and silent chunks needed for silence.
VAD_RMS_THRESHOLD = 5000.0
VAD_SILENT_CHUNKS = 3
#: Chunks normalised and measured at a time (bounds the temporaries on long references).
VAD_CHUNKS_PER_PIECE = 4096


def image_patch_starts(n_frames: int, patch_size: int) -> NDArray[np.int64]:
    """Start frames of evenly spaced patches (audio mode).

    The first patch starts at ``patch_size // 2 - 1``; patches follow every
    ``patch_size`` frames while they start before ``n_frames - patch_size`` (at least one).

    Raises
    ------
    InvalidAudioError
        Fewer than 1.5 patches of frames.
    """
    first = patch_size // 2
    if n_frames < patch_size + first:
        raise InvalidAudioError(
            f"reference of {n_frames} frames is too short: ViSQOL needs at least "
            f"{patch_size + first} frames (one patch and a half)"
        )
    stop = n_frames - patch_size if first < n_frames - patch_size else first + 1
    return np.arange(first, stop, patch_size, dtype=np.int64) - 1


def voice_activity(chunks: NDArray[np.float64]) -> NDArray[np.float64]:
    """RMS VAD over int16-scaled chunks (n_chunks, chunk_len): 1.0 active, 0.0 silent.

    A chunk is silent when its RMS is below 5000 and so are the two before it; the first
    two chunks always count as active.
    """
    return _activity(_quiet(chunks))


def _quiet(chunks: NDArray[np.float64]) -> NDArray[np.bool_]:
    return np.sqrt(np.mean(chunks * chunks, axis=1)) < VAD_RMS_THRESHOLD


def _activity(quiet: NDArray[np.bool_]) -> NDArray[np.float64]:
    out = np.ones(quiet.shape[0])
    k = VAD_SILENT_CHUNKS
    if quiet.shape[0] >= k:
        run = quiet[k - 1 :].copy()
        for j in range(1, k):
            run &= quiet[k - 1 - j : quiet.shape[0] - j]
        out[k - 1 :] = np.where(run, 0.0, 1.0)
    return out


def vad_patch_starts(
    ref: NDArray[np.float64], n_frames: int, patch_size: int, hop: int
) -> NDArray[np.int64]:
    """Start frames of the patches with voice activity (speech mode).

    Candidate patches start at ``patch_size // 2 - 1`` and every ``patch_size`` frames.
    The peak-normalised reference is converted to int16, cut into chunks of one hop
    starting at sample ``patch_size // 2 - 1`` (ViSQOL reuses the frame index as a sample
    offset), and a patch is kept when any of its chunks is active. Computed a few
    thousand chunks at a time (each chunk's RMS on its own: the same flags).
    """
    first = patch_size // 2 - 1
    n_patches = max((n_frames - first) // patch_size, 0)
    peak = float(np.max(ref)) if ref.size else 0.0
    end = min(first + n_patches * patch_size * hop, ref.shape[0])
    n_chunks = max(end - first, 0) // hop
    quiet = np.empty(n_chunks, dtype=bool)
    for c0 in range(0, n_chunks, VAD_CHUNKS_PER_PIECE):
        c1 = min(c0 + VAD_CHUNKS_PER_PIECE, n_chunks)
        piece = ref[first + c0 * hop : first + c1 * hop]
        norm = piece / peak if peak > 0 else np.zeros_like(piece)
        pcm = np.trunc(np.clip(norm * 32768.0, -32768.0, 32767.0))
        quiet[c0:c1] = _quiet(pcm.reshape(c1 - c0, hop))
    active = _activity(quiet)
    keep = [
        i for i in range(n_patches) if active[i * patch_size : (i + 1) * patch_size].sum() >= 1.0
    ]
    return first + patch_size * np.asarray(keep, dtype=np.int64)


def extract_patches(
    spec: NDArray[np.float64], starts: NDArray[np.int64], patch_size: int
) -> NDArray[np.float64]:
    """Stack the patches ``spec[:, s:s + patch_size]``: shape (n_patches, n_bands, patch_size)."""
    if starts.size == 0:
        return np.empty((0, spec.shape[0], patch_size))
    return np.ascontiguousarray(
        np.stack([spec[:, s : s + patch_size] for s in starts.tolist()])
    )
