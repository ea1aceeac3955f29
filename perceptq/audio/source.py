"""Signals at the model rate that are read piece by piece (long recordings).

A :class:`Source` is a mono signal at the model rate. Files already at the model rate are
read on demand from disk, so an hour-long recording never sits in memory as float64;
other files are streamed through the resampler once into a float32 buffer. In-memory
arrays are wrapped as they are. Every source also measures, on its original samples,
how many samples sit at the signal's ceiling (clipping, see :mod:`perceptq.recording.diagnostics`).
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr
from numpy.typing import NDArray

from perceptq.audio.io import Audio, file_info
from perceptq.audio.preprocess import condition
from perceptq.errors import InvalidAudioError

#: Samples read per block when streaming a file.
READ_BLOCK = 1 << 16
#: A sample is "at the ceiling" within this relative distance of the peak magnitude.
CEILING_TOLERANCE = 1e-3


def ceiling_runs(mag: NDArray[np.float64], level: float) -> int:
    """Number of samples of ``mag`` (>= 0) at ``level`` or above that belong to runs of at
    least two consecutive such samples (clipped plateaus; a lone peak sample does not count).
    """
    at = mag >= level
    if not at.any():
        return 0
    pair = at[1:] & at[:-1]
    member = np.zeros(at.shape[0], dtype=bool)
    member[1:] |= pair
    member[:-1] |= pair
    return int(np.count_nonzero(member))


@dataclass
class ClipStats:
    """Ceiling statistics of the original samples: per-block peaks and plateau counts."""

    peaks: list[float]
    counts: list[int]
    n_samples: int

    @classmethod
    def of(cls, blocks: Iterator[NDArray[np.float64]]) -> ClipStats:
        """Measure blocks of original samples, shape (n,) or (n, channels)."""
        peaks, counts, n = [], [], 0
        for b in blocks:
            mag = np.abs(b) if b.ndim == 1 else np.abs(b).max(axis=1)
            if mag.size == 0:
                continue
            peak = float(mag.max())
            peaks.append(peak)
            counts.append(ceiling_runs(mag, peak * (1.0 - CEILING_TOLERANCE)) if peak > 0 else 0)
            n += mag.shape[0]
        return cls(peaks, counts, n)

    def fraction(self) -> float:
        """Fraction of samples on plateaus at the signal's overall peak (0 for silence)."""
        if self.n_samples == 0 or not self.peaks:
            return 0.0
        top = max(self.peaks)
        if top <= 0:
            return 0.0
        keep = np.asarray(self.peaks) >= top * (1.0 - CEILING_TOLERANCE)
        return float(np.asarray(self.counts)[keep].sum()) / self.n_samples


class Source:
    """A mono signal at the model rate ``fs``; read with :meth:`read`."""

    def __init__(self, name: str, fs: int, n: int, original_rate: int, channels: int,
                 duration_s: float, sample_format: str, clip: ClipStats) -> None:
        self.name = name
        self.fs = fs
        self.n = n
        self.original_rate = original_rate
        self.channels = channels
        self.duration_s = duration_s
        self.sample_format = sample_format
        self.clip = clip

    def _read(self, start: int, stop: int) -> NDArray[np.float64]:
        raise NotImplementedError

    def read(self, start: int, stop: int) -> NDArray[np.float64]:
        """Samples [start, stop) as float64; positions outside the signal read as zeros."""
        out = np.zeros(max(stop - start, 0))
        a, b = max(start, 0), min(stop, self.n)
        if b > a:
            out[a - start : b - start] = self._read(a, b)
        return out

    def blocks(self, size: int = READ_BLOCK) -> Iterator[NDArray[np.float64]]:
        """The whole signal in consecutive blocks of ``size`` samples (last one shorter)."""
        for a in range(0, self.n, size):
            yield self.read(a, min(a + size, self.n))


class ArraySource(Source):
    """An in-memory signal already at the model rate."""

    def __init__(self, x: NDArray, fs: int, *, name: str, original_rate: int | None = None,
                 channels: int = 1, duration_s: float | None = None,
                 sample_format: str = "float64", clip: ClipStats | None = None) -> None:
        self.x = x
        super().__init__(name, fs, x.shape[0], original_rate or fs, channels,
                         duration_s if duration_s is not None else x.shape[0] / fs,
                         sample_format, clip or ClipStats.of(_slices(x)))

    def _read(self, start: int, stop: int) -> NDArray[np.float64]:
        return np.asarray(self.x[start:stop], dtype=np.float64)

    @classmethod
    def from_audio(cls, audio: Audio, fs: int, *, conditioned: NDArray | None = None
                   ) -> ArraySource:
        """Mix down and resample validated audio to ``fs`` (or take ``conditioned``, the
        result of doing so)."""
        x = condition(audio, fs) if conditioned is None else conditioned
        return cls(x, fs, name=audio.name, original_rate=audio.sample_rate,
                   channels=audio.channels, duration_s=audio.duration_s,
                   sample_format=audio.sample_format, clip=ClipStats.of(_slices(audio.samples)))


def _slices(x: NDArray, size: int = READ_BLOCK) -> Iterator[NDArray]:
    """Consecutive blocks of an array (views)."""
    for a in range(0, x.shape[0], size):
        yield x[a : a + size]


def _mono(b: NDArray[np.float64]) -> NDArray[np.float64]:
    return b if b.ndim == 1 else b.mean(axis=1)


class FileSource(Source):
    """A file at the model rate, read from disk on demand."""

    def __init__(self, path: Path, info, clip: ClipStats) -> None:
        self.path = path
        super().__init__(str(path), int(info.samplerate), int(info.frames), int(info.samplerate),
                         int(info.channels), info.frames / info.samplerate, str(info.subtype),
                         clip)

    _handle: sf.SoundFile | None = None

    def _read(self, start: int, stop: int) -> NDArray[np.float64]:
        if self._handle is None or self._handle.closed:
            self._handle = sf.SoundFile(str(self.path))
        self._handle.seek(start)
        return _mono(self._handle.read(stop - start, dtype="float64", always_2d=False))

    def close(self) -> None:
        """Close the open file handle, if any."""
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    def __del__(self) -> None:
        self.close()


def _file_blocks(path: Path) -> Iterator[NDArray[np.float64]]:
    try:
        with sf.SoundFile(str(path)) as f:
            while True:
                b = f.read(READ_BLOCK, dtype="float64", always_2d=False)
                if b.shape[0] == 0:
                    return
                if not np.all(np.isfinite(b)):
                    raise InvalidAudioError(f"{path}: some samples are NaN or infinite")
                yield b
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise InvalidAudioError(f"{path}: cannot read audio ({exc})") from None


def open_file(path: str | os.PathLike, fs: int) -> Source:
    """Open an audio file as a model-rate :class:`Source` (streamed, bounded memory).

    The header is checked by :func:`perceptq.audio.io.file_info` (one-line errors)."""
    p = Path(path)
    info = file_info(p)
    clip = ClipStats.of(_file_blocks(p))
    if info.samplerate == fs:
        return FileSource(p, info, clip)
    rs = soxr.ResampleStream(info.samplerate, fs, 1, dtype="float32", quality="VHQ")
    x = np.zeros(int(np.ceil(info.frames * fs / info.samplerate)) + fs, dtype=np.float32)
    n = 0
    for b in itertools.chain(_file_blocks(p), [None]):
        y = rs.resample_chunk(np.zeros(0, np.float32) if b is None
                              else _mono(b).astype(np.float32), last=b is None)
        m = min(y.shape[0], x.shape[0] - n)
        x[n : n + m] = y[:m]
        n += m
    x = x[:n]
    return ArraySource(x, fs, name=str(p), original_rate=int(info.samplerate),
                       channels=int(info.channels), duration_s=info.frames / info.samplerate,
                       sample_format=str(info.subtype), clip=clip)
