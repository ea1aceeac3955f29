"""Reading and validating audio inputs. No DSP happens here."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Union

import numpy as np
import soundfile as sf
from numpy.typing import NDArray

from perceptq.errors import InvalidAudioError, UnsupportedRateError

AudioInput = Union[str, os.PathLike, NDArray]

#: Lowest sample rate accepted (narrowband model rate).
MIN_SAMPLE_RATE = 8000


@dataclass(frozen=True)
class Audio:
    """A validated audio signal: float64 samples of shape (n,) or (n, channels)."""

    samples: NDArray[np.float64]
    sample_rate: int
    name: str
    sample_format: str

    @property
    def channels(self) -> int:
        """Number of channels."""
        return 1 if self.samples.ndim == 1 else int(self.samples.shape[1])

    @property
    def duration_s(self) -> float:
        """Duration in seconds."""
        return self.samples.shape[0] / self.sample_rate


def read_audio(path: str | os.PathLike) -> Audio:
    """Read an audio file with soundfile into float64 samples.

    Raises
    ------
    InvalidAudioError
        If the path does not exist, is a directory, or is not readable audio.
    """
    p = Path(path)
    if not p.exists():
        raise InvalidAudioError(f"{p}: file not found")
    if p.is_dir():
        raise InvalidAudioError(f"{p}: is a directory, expected an audio file")
    try:
        info = sf.info(str(p))
        data, rate = sf.read(str(p), dtype="float64", always_2d=False)
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as exc:
        reason = str(exc).split(":")[-1].strip() or type(exc).__name__
        raise InvalidAudioError(f"{p}: not a readable audio file ({reason})") from None
    except OSError as exc:
        raise InvalidAudioError(f"{p}: cannot read file ({exc.strerror or exc})") from None
    return validate_samples(data, rate, name=str(p), sample_format=str(info.subtype))


def validate_samples(
    samples: NDArray, sample_rate: int | float | None, *, name: str, sample_format: str | None = None
) -> Audio:
    """Check an in-memory signal and return it as float64 :class:`Audio`.

    Integer PCM arrays are scaled to [-1, 1). Arrays may be (n,) or (n, channels) with
    few channels (a (channels, n) array with channels <= 8 is transposed).
    """
    if sample_rate is None:
        raise InvalidAudioError(f"{name}: sample_rate is required when passing an array")
    try:
        rate_f = float(sample_rate)
    except (TypeError, ValueError):
        raise InvalidAudioError(f"{name}: sample_rate {sample_rate!r} is not a number") from None
    if not np.isfinite(rate_f) or rate_f <= 0 or rate_f != int(rate_f):
        raise UnsupportedRateError(f"{name}: sample rate {sample_rate!r} is not a positive integer")
    rate = int(rate_f)
    if rate < MIN_SAMPLE_RATE:
        raise UnsupportedRateError(
            f"{name}: sample rate {rate} Hz is below the supported minimum of {MIN_SAMPLE_RATE} Hz"
        )
    arr = np.asarray(samples)
    fmt = sample_format or str(arr.dtype)
    if arr.dtype.kind in "iu":
        info = np.iinfo(arr.dtype)
        scale = float(-int(info.min)) if info.min < 0 else (info.max + 1) / 2.0
        offset = 0.0 if info.min < 0 else scale
        arr = (arr.astype(np.float64) - offset) / scale
    elif arr.dtype.kind == "b":
        raise InvalidAudioError(f"{name}: boolean array is not audio")
    elif arr.dtype.kind not in "f":
        raise InvalidAudioError(f"{name}: dtype {arr.dtype} is not audio (expected int or float)")
    arr = np.asarray(arr, dtype=np.float64)
    if arr.ndim == 2 and arr.shape[0] <= 8 < arr.shape[1]:
        arr = arr.T
    if arr.ndim not in (1, 2) or arr.size == 0:
        raise InvalidAudioError(
            f"{name}: expected a non-empty array of shape (n,) or (n, channels), got {arr.shape}"
        )
    if arr.shape[0] == 0:
        raise InvalidAudioError(f"{name}: audio is empty (0 samples)")
    if not np.all(np.isfinite(arr)):
        bad = int(np.count_nonzero(~np.isfinite(arr)))
        raise InvalidAudioError(f"{name}: {bad} sample(s) are NaN or infinite")
    return Audio(np.ascontiguousarray(arr), rate, name, fmt)


def load(x: AudioInput, sample_rate: int | None, *, role: str) -> Audio:
    """Load a path or validate an array; ``role`` names the argument in messages."""
    if isinstance(x, (str, os.PathLike)):
        return read_audio(x)
    if isinstance(x, np.ndarray) or hasattr(x, "__array__"):
        return validate_samples(np.asarray(x), sample_rate, name=role)
    raise InvalidAudioError(f"{role}: expected a file path or a numpy array, got {type(x).__name__}")
