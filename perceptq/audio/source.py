"""One input abstraction: what the user gave (a file path or an array), opened, then the
mono signal at the model rate that the scoring paths read, whole or piece by piece.

* :func:`open_input` checks an input and returns an :class:`Input`: its name, original
  rate, channels, length and sample format. A file is opened from its header only (no
  sample is read); an array is validated at once.
* :meth:`Input.at_rate` gives the model-rate mono :class:`Source`. ``streamed=False``
  reads the input whole (files held to the duration limit, see
  :func:`perceptq.audio.io.max_duration_s`); ``streamed=True`` keeps memory bounded: a
  file already at the model rate is read on demand from disk, so an hour-long recording
  never sits in memory as float64, other files are streamed through the resampler once
  into a float32 buffer.

Every source carries what the input checks need, measured on its original samples in one
pass (:class:`ClipStats`: peaks, samples at the ceiling, samples beyond full scale,
channel differences) plus the notes of reading (a truncated file), and can replay its
original samples block by block, so :mod:`perceptq.audio.checks` runs the same checks on
every path.
"""

from __future__ import annotations

import itertools
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr
from numpy.typing import NDArray

from perceptq.audio.io import (
    Audio,
    AudioInput,
    check_duration,
    file_info,
    load,
    read_audio,
    truncation_note,
)
from perceptq.audio.preprocess import condition
from perceptq.errors import InvalidAudioError

#: Samples read per block when streaming a file.
READ_BLOCK = 1 << 16
#: A sample is "at the ceiling" within this relative distance of the peak magnitude.
CEILING_TOLERANCE = 1e-3


@dataclass
class ClipStats:
    """Statistics of the original samples: per-block peaks and plateau counts (clipping),
    samples beyond ±1 full scale, and how much the channels differ: the largest sample
    difference, and the energy of the channels' deviations from their mean against the
    energy of the channels (sums of squares over samples and channels)."""

    peaks: list[float]
    counts: list[int]
    n_samples: int
    beyond: int = 0
    channel_spread: float = 0.0
    channel_energy: float = 0.0
    difference_energy: float = 0.0

    @property
    def channel_difference_db(self) -> float:
        """Energy of what differs between the channels relative to their energy, dB
        (-inf when the channels are identical, or there is one)."""
        if self.difference_energy <= 0 or self.channel_energy <= 0:
            return -np.inf
        return float(10 * np.log10(self.difference_energy / self.channel_energy))

    @classmethod
    def of(cls, blocks: Iterator[NDArray[np.float64]]) -> ClipStats:
        """Measure blocks of original samples, shape (n,) or (n, channels)."""
        from perceptq.audio._kernels import _sample_stats_kernel

        peaks, counts, n, beyond, spread = [], [], 0, 0, 0.0
        energy = difference = 0.0
        for b in blocks:
            if b.shape[0] == 0:
                continue
            two_d = np.ascontiguousarray(b.reshape(b.shape[0], -1), dtype=np.float64)
            peak, plateau, over, sp, en, di = _sample_stats_kernel(two_d, CEILING_TOLERANCE)
            peaks.append(peak)
            counts.append(plateau)
            n += b.shape[0]
            beyond += over
            spread, energy, difference = max(spread, sp), energy + en, difference + di
        return cls(peaks, counts, n, beyond, spread, energy, difference)

    @property
    def peak(self) -> float:
        """Largest sample magnitude (0 for an empty signal)."""
        return max(self.peaks, default=0.0)

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
                 duration_s: float, sample_format: str, clip: ClipStats,
                 notes: tuple[str, ...] = ()) -> None:
        self.name = name
        self.fs = fs
        self.n = n
        self.original_rate = original_rate
        self.channels = channels
        self.duration_s = duration_s
        self.sample_format = sample_format
        self.clip = clip
        self.notes = notes  # problems met while reading that did not stop it

    def original_blocks(self) -> Iterator[NDArray[np.float64]]:
        """The original samples (input rate, all channels) in consecutive blocks."""
        raise NotImplementedError

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
    """An in-memory signal at the model rate (``x``; float64, or float32 when streamed)."""

    def __init__(self, x: NDArray, fs: int, *, name: str, original_rate: int | None = None,
                 channels: int = 1, duration_s: float | None = None,
                 sample_format: str = "float64", clip: ClipStats | None = None,
                 notes: tuple[str, ...] = (), original: NDArray | Path | None = None) -> None:
        self.x = x
        self._original = x if original is None else original
        super().__init__(name, fs, x.shape[0], original_rate or fs, channels,
                         duration_s if duration_s is not None else x.shape[0] / fs,
                         sample_format, clip or ClipStats.of(_slices(x)), notes)

    def _read(self, start: int, stop: int) -> NDArray[np.float64]:
        return np.asarray(self.x[start:stop], dtype=np.float64)

    def blocks(self, size: int = READ_BLOCK) -> Iterator[NDArray[np.float64]]:
        """A float64 signal in one piece (a view, no copy); else blocks of ``size``."""
        if self.x.dtype == np.float64:
            yield self.x
        else:
            yield from super().blocks(size)

    def original_blocks(self) -> Iterator[NDArray[np.float64]]:
        if isinstance(self._original, Path):
            yield from _file_blocks(self._original)
        else:  # views: the checks' temporaries stay block-sized on long arrays
            yield from _slices(self._original)

    @classmethod
    def from_audio(cls, audio: Audio, fs: int, *, conditioned: NDArray | None = None
                   ) -> ArraySource:
        """Mix down and resample validated audio to ``fs`` (or take ``conditioned``, the
        result of doing so)."""
        x = condition(audio, fs) if conditioned is None else conditioned
        return cls(x, fs, name=audio.name, original_rate=audio.sample_rate,
                   channels=audio.channels, duration_s=audio.duration_s,
                   sample_format=audio.sample_format, clip=ClipStats.of(_slices(audio.samples)),
                   notes=audio.notes, original=audio.samples)


def _slices(x: NDArray, size: int = READ_BLOCK) -> Iterator[NDArray]:
    """Consecutive blocks of an array (views)."""
    for a in range(0, x.shape[0], size):
        yield x[a : a + size]


def _mono(b: NDArray[np.float64]) -> NDArray[np.float64]:
    return b if b.ndim == 1 else b.mean(axis=1)


class FileSource(Source):
    """A file at the model rate, read from disk on demand."""

    def __init__(self, path: Path, info, clip: ClipStats, notes: tuple[str, ...] = ()) -> None:
        self.path = path
        super().__init__(str(path), int(info.samplerate), int(info.frames), int(info.samplerate),
                         int(info.channels), info.frames / info.samplerate, str(info.subtype),
                         clip, notes)

    def original_blocks(self) -> Iterator[NDArray[np.float64]]:
        yield from _file_blocks(self.path)

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
    note = truncation_note(p, clip.n_samples, int(info.samplerate))
    notes = (note,) if note else ()
    if info.samplerate == fs:
        return FileSource(p, info, clip, notes)
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
                       sample_format=str(info.subtype), clip=clip, notes=notes, original=p)


@dataclass
class Input:
    """An input as the user gave it, opened: a file (header read, samples not yet) or a
    validated array. See :func:`open_input` and :meth:`at_rate`."""

    name: str
    rate: int
    channels: int
    frames: int
    sample_format: str
    path: Path | None = None  # a file
    audio: Audio | None = None  # an array (validated), or a file once read whole

    @property
    def duration_s(self) -> float:
        """Duration in seconds."""
        return self.frames / self.rate

    def at_rate(self, fs: int, *, streamed: bool) -> Source:
        """The mono signal at the model rate ``fs``: read whole (``streamed=False``; held to
        the duration limit) or with bounded memory (``streamed=True``)."""
        if streamed:
            if self.path is not None:
                return open_file(self.path, fs)
            return ArraySource.from_audio(self.audio, fs)
        if self.audio is None:
            self.audio = read_audio(self.path)  # header checks again, then the duration limit
        check_duration(self.audio.samples.shape[0], self.audio.sample_rate, self.name)
        return ArraySource.from_audio(self.audio, fs)


def open_input(x: AudioInput, sample_rate: int | None, *, role: str) -> Input:
    """Open a file path (header only) or validate an array (``sample_rate`` required);
    ``role`` ("reference"/"degraded") names an array in messages. One-line errors
    (:class:`~perceptq.errors.InvalidAudioError` and its leaves) for every bad input."""
    if isinstance(x, (str, os.PathLike)):
        info = file_info(x)
        return Input(info.name, int(info.samplerate), int(info.channels), int(info.frames),
                     str(info.subtype), path=Path(x))
    audio = load(x, sample_rate, role=role, max_duration_s=math.inf)  # limit: see at_rate
    return Input(audio.name, audio.sample_rate, audio.channels, audio.samples.shape[0],
                 audio.sample_format, audio=audio)
