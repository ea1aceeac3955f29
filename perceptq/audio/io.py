"""Reading and validating audio inputs. No DSP happens here.

Every problem is raised as an :class:`~perceptq.errors.InvalidAudioError` (or a leaf of it)
whose message starts with the input's name (file path, or ``reference``/``degraded`` for
arrays) and says what is wrong. Files are checked from their header before any sample is
read, so an over-long or malformed file is refused without loading it.
"""

from __future__ import annotations

import math
import os
import struct
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Union

import numpy as np
import soundfile as sf
from numpy.typing import NDArray

from perceptq.errors import (
    InputTooLongError,
    InvalidAudioError,
    PerceptqError,
    UnsupportedRateError,
)

AudioInput = Union[str, os.PathLike, NDArray]  # noqa: UP007 (a runtime alias)

#: Lowest sample rate accepted (narrowband model rate).
MIN_SAMPLE_RATE = 8000
#: Highest sample rate accepted (higher rates are almost surely a broken header).
MAX_SAMPLE_RATE = 768000
#: Shortest input accepted, in seconds (the model needs at least this much).
MIN_DURATION_S = 0.25
#: Largest sample magnitude accepted. Float samples beyond ±1 are accepted (with a warning,
#: see perceptq.audio.checks) up to this bound, which leaves room for integer PCM values stored as
#: float (±32768); beyond it the signal's power overflows single precision downstream.
MAX_ABS_SAMPLE = 1e6
#: Most channels accepted in one input.
MAX_CHANNELS = 64
#: Default longest input accepted, in seconds. Scoring memory grows by about 2 MB per second
#: of audio, so an input of this length needs roughly 1.5 GB. Override per call with the
#: ``max_duration_s`` keyword of :func:`load`/:func:`read_audio`, or for every call with the
#: environment variable ``PERCEPTQ_MAX_DURATION_S`` (``inf`` disables the limit).
MAX_DURATION_S = 600.0
ENV_MAX_DURATION = "PERCEPTQ_MAX_DURATION_S"


@dataclass(frozen=True)
class Audio:
    """A validated audio signal: float64 samples of shape (n,) or (n, channels).

    ``notes`` holds problems found while reading that did not stop it (e.g. a truncated
    file); :mod:`perceptq.audio.checks` turns them into ``Score.warnings``.
    """

    samples: NDArray[np.float64]
    sample_rate: int
    name: str
    sample_format: str
    notes: tuple[str, ...] = ()

    @property
    def channels(self) -> int:
        """Number of channels."""
        return 1 if self.samples.ndim == 1 else int(self.samples.shape[1])

    @property
    def duration_s(self) -> float:
        """Duration in seconds."""
        return self.samples.shape[0] / self.sample_rate


def max_duration_s(override: float | None = None) -> float:
    """The duration limit in force: ``override`` if given, else the environment variable
    ``PERCEPTQ_MAX_DURATION_S``, else :data:`MAX_DURATION_S`."""
    if override is not None:
        value, source = override, "max_duration_s"
    else:
        env = os.environ.get(ENV_MAX_DURATION, "").strip()
        value, source = (env, ENV_MAX_DURATION) if env else (MAX_DURATION_S, "MAX_DURATION_S")
    try:
        limit = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{source}={value!r} is not a number of seconds") from None
    if math.isnan(limit) or limit <= 0:
        raise ValueError(f"{source}={value!r} must be a positive number of seconds")
    return limit


def check_rate(rate: int | float | None, name: str) -> int:
    """Return ``rate`` as an int, or raise :class:`UnsupportedRateError` naming ``name``."""
    if rate is None:
        raise InvalidAudioError(f"{name}: sample_rate is required when passing an array")
    try:
        rate_f = float(rate)
    except (TypeError, ValueError):
        raise InvalidAudioError(f"{name}: sample_rate {rate!r} is not a number") from None
    if not np.isfinite(rate_f) or rate_f <= 0 or rate_f != int(rate_f):
        raise UnsupportedRateError(f"{name}: sample rate {rate!r} is not a positive integer")
    rate_i = int(rate_f)
    if rate_i < MIN_SAMPLE_RATE:
        raise UnsupportedRateError(
            f"{name}: sample rate {rate_i} Hz is below the supported minimum of "
            f"{MIN_SAMPLE_RATE} Hz"
        )
    if rate_i > MAX_SAMPLE_RATE:
        raise UnsupportedRateError(
            f"{name}: sample rate {rate_i} Hz is above the supported maximum of "
            f"{MAX_SAMPLE_RATE} Hz"
        )
    return rate_i


def check_duration(frames: int, rate: int, name: str, limit_s: float | None = None) -> None:
    """Raise :class:`InputTooLongError` when ``frames`` at ``rate`` exceed the limit."""
    limit = max_duration_s(limit_s)
    seconds = frames / rate
    if seconds > limit:
        raise InputTooLongError(
            f"{name}: input lasts {_hms(seconds)}, longer than the maximum of {_hms(limit)} "
            f"(raise it with max_duration_s= or {ENV_MAX_DURATION})"
        )


def _hms(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.1f} s"
    m, s = divmod(round(seconds), 60)
    h, m = divmod(m, 60)
    return f"{h}:{m:02d}:{s:02d} ({seconds:.0f} s)"


_STDERR_LOCK = threading.Lock()


@contextmanager
def _native_stderr_silenced() -> Iterator[None]:
    """Discard what native decoders write straight to file descriptor 2 (libmpg123 prints
    resync notes for junk that looks like MPEG), so a bad file gives one error line only."""
    with _STDERR_LOCK:
        try:
            saved = os.dup(2)
        except OSError:  # no usable stderr: nothing to protect
            yield
            return
        try:
            with open(os.devnull, "wb") as null:
                os.dup2(null.fileno(), 2)
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)


#: libsndfile reasons that mislead once the path is known to be a readable regular file.
_MISLEADING_REASONS = ("File does not exist or is not a regular file",)


@contextmanager
def _reading(name: str) -> Iterator[None]:
    """Turn soundfile/OS failures while opening or reading ``name`` into one-line errors,
    with native decoder chatter on stderr silenced."""
    try:
        with _native_stderr_silenced():
            yield
    except PerceptqError:
        raise
    except sf.LibsndfileError as exc:
        reason = (exc.error_string or str(exc)).strip().rstrip(".") or "unknown error"
        if reason.startswith(_MISLEADING_REASONS):
            reason = "format not recognised or data corrupt"
        raise InvalidAudioError(f"{name}: not a readable audio file ({reason})") from None
    except (RuntimeError, TypeError, ValueError, EOFError, struct.error) as exc:
        reason = str(exc).split(":")[-1].strip() or type(exc).__name__
        raise InvalidAudioError(f"{name}: not a readable audio file ({reason})") from None
    except MemoryError:
        raise InvalidAudioError(f"{name}: not enough memory to read the file") from None
    except OSError as exc:
        raise InvalidAudioError(f"{name}: cannot read file ({exc.strerror or exc})") from None


def _check_header(f: sf.SoundFile, name: str) -> int:
    """Check an open file's channels, rate and length; return its rate."""
    if f.channels < 1 or f.channels > MAX_CHANNELS:
        raise InvalidAudioError(
            f"{name}: {f.channels} channels in the header (1 to {MAX_CHANNELS} supported)"
        )
    rate = check_rate(f.samplerate, name)
    if f.frames <= 0:
        raise InvalidAudioError(f"{name}: audio is empty (0 samples)")
    return rate


def _check_path(p: Path) -> None:
    try:
        if not p.exists():
            raise InvalidAudioError(f"{p}: file not found")
        if p.is_dir():
            raise InvalidAudioError(f"{p}: is a directory, expected an audio file")
        if p.stat().st_size == 0:
            raise InvalidAudioError(f"{p}: file is empty (0 bytes), expected audio")
    except OSError as exc:  # e.g. a name too long, or a broken mount
        raise InvalidAudioError(f"{p}: cannot access file ({exc.strerror or exc})") from None


def file_info(path: str | os.PathLike) -> FileInfo:
    """Check a file's header without reading samples (existence, format, channels, rate,
    non-empty) and return its :class:`FileInfo`. No duration limit is applied here."""
    p = Path(path)
    _check_path(p)
    with _reading(str(p)), sf.SoundFile(str(p)) as f:
        rate = _check_header(f, str(p))
        return FileInfo(str(p), rate, f.channels, f.frames, f.subtype, f.format)


@dataclass(frozen=True)
class FileInfo:
    """Header facts of an audio file (see :func:`file_info`)."""

    name: str
    samplerate: int
    channels: int
    frames: int
    subtype: str
    format: str

    @property
    def duration_s(self) -> float:
        """Duration in seconds."""
        return self.frames / self.samplerate


def read_audio(path: str | os.PathLike, *, max_duration_s: float | None = None) -> Audio:
    """Read an audio file with soundfile into float64 samples.

    The header is checked first (rate, channels, length against the duration limit); the
    samples are read only if it passes.

    Raises
    ------
    InvalidAudioError
        If the path does not exist, is a directory, is empty or is not readable audio.
    UnsupportedRateError
        If the header's sample rate is outside [8 kHz, 768 kHz].
    InputTooLongError
        If the file lasts longer than :func:`max_duration_s`.
    """
    p = Path(path)
    name = str(p)
    _check_path(p)
    with _reading(name), sf.SoundFile(name) as f:
        rate = _check_header(f, name)
        check_duration(f.frames, rate, name, max_duration_s)
        subtype = f.subtype
        data = f.read(dtype="float64", always_2d=False)
    notes = tuple(n for n in (truncation_note(p, data.shape[0], rate),) if n)
    return validate_samples(data, rate, name=name, sample_format=str(subtype), notes=notes)


def truncation_note(p: Path, frames_read: int, rate: int) -> str | None:
    """For a RIFF/WAVE file whose data chunk is shorter than its header says, a note."""
    try:
        with p.open("rb") as fh:
            head = fh.read(1 << 16)
        size = p.stat().st_size
    except OSError:
        return None
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return None
    pos, block_align = 12, 0
    while pos + 8 <= len(head):
        cid, csize = head[pos:pos + 4], struct.unpack_from("<I", head, pos + 4)[0]
        if cid == b"fmt " and pos + 22 <= len(head):
            block_align = struct.unpack_from("<H", head, pos + 20)[0]
        if cid == b"data":
            present = size - (pos + 8)
            if csize in (0, 0xFFFFFFFF) or csize <= present or block_align <= 0:
                return None
            declared_s = csize / block_align / rate
            return (
                f"{p}: file is truncated: its header declares {declared_s:.2f} s of audio but "
                f"only {frames_read / rate:.2f} s are present (scored what is present)"
            )
        pos += 8 + csize + (csize & 1)
    return None


def validate_samples(
    samples: NDArray,
    sample_rate: int | float | None,
    *,
    name: str,
    sample_format: str | None = None,
    notes: tuple[str, ...] = (),
    max_duration_s: float | None = None,
) -> Audio:
    """Check an in-memory signal and return it as float64 :class:`Audio`.

    Integer PCM arrays are scaled to [-1, 1). Arrays may be (n,) or (n, channels) with
    few channels (a (channels, n) array with channels <= 8 is transposed). Float samples
    beyond ±1 are accepted (the model normalises the level); :mod:`perceptq.audio.checks` warns.
    The duration limit applies only when ``max_duration_s`` is given: an array is already
    in memory, and the scoring path decides whether it is scored in one piece.
    """
    rate = check_rate(sample_rate, name)
    arr = np.asarray(samples)
    fmt = sample_format or str(arr.dtype)
    if arr.dtype.kind in "iu":
        info = np.iinfo(arr.dtype)
        scale = float(-int(info.min)) if info.min < 0 else (info.max + 1) / 2.0
        offset = 0.0 if info.min < 0 else scale
        arr = (arr.astype(np.float64) - offset) / scale
    elif arr.dtype.kind == "b":
        raise InvalidAudioError(f"{name}: boolean array is not audio")
    elif arr.dtype.kind == "c":
        raise InvalidAudioError(f"{name}: complex array is not audio (expected real samples)")
    elif arr.dtype.kind not in "f":
        raise InvalidAudioError(f"{name}: dtype {arr.dtype} is not audio (expected int or float)")
    arr = np.asarray(arr, dtype=np.float64)
    if arr.ndim == 2 and arr.shape[0] <= 8 < arr.shape[1]:
        arr = arr.T
    if arr.ndim not in (1, 2):
        raise InvalidAudioError(
            f"{name}: expected an array of shape (n,) or (n, channels), got {arr.shape}"
        )
    if arr.shape[0] == 0 or arr.size == 0:
        raise InvalidAudioError(f"{name}: audio is empty (0 samples)")
    if arr.ndim == 2 and arr.shape[1] > MAX_CHANNELS:
        raise InvalidAudioError(
            f"{name}: {arr.shape[1]} channels (1 to {MAX_CHANNELS} supported; "
            "is the array transposed?)"
        )
    if arr.shape[0] < MIN_DURATION_S * rate:
        raise InvalidAudioError(
            f"{name}: audio is too short ({arr.shape[0] / rate:.3f} s); at least "
            f"{MIN_DURATION_S:g} s is needed"
        )
    if max_duration_s is not None:
        check_duration(arr.shape[0], rate, name, max_duration_s)
    # Peak magnitude from the extremes (no |x| copy); NaN or inf shows in it.
    peak = max(float(np.max(arr)), -float(np.min(arr)))
    if not math.isfinite(peak):
        finite = np.isfinite(arr)
        bad = int(arr.size - np.count_nonzero(finite))
        first = int(np.flatnonzero(~finite.reshape(arr.shape[0], -1).all(axis=1))[0])
        raise InvalidAudioError(
            f"{name}: {bad} sample(s) are NaN or infinite (first at {first / rate:.3f} s)"
        )
    if peak > MAX_ABS_SAMPLE:
        raise InvalidAudioError(
            f"{name}: samples reach {peak:.3g}, far beyond full scale (±1.0, limit "
            f"±{MAX_ABS_SAMPLE:g}); the file is corrupt or the samples are mis-scaled"
        )
    return Audio(np.ascontiguousarray(arr), rate, name, fmt, notes)


def load(
    x: AudioInput, sample_rate: int | None, *, role: str, max_duration_s: float | None = None
) -> Audio:
    """Load a path or validate an array; ``role`` names the argument in messages.

    Files are refused from their header when longer than :func:`max_duration_s`
    (``max_duration_s`` overrides the limit); arrays are checked against the limit only
    when ``max_duration_s`` is given.
    """
    if isinstance(x, (str, os.PathLike)):
        return read_audio(x, max_duration_s=max_duration_s)
    if isinstance(x, np.ndarray) or hasattr(x, "__array__"):
        try:
            arr = np.asarray(x)
        except (TypeError, ValueError) as exc:
            raise InvalidAudioError(f"{role}: cannot convert to an array ({exc})") from None
        return validate_samples(arr, sample_rate, name=role, max_duration_s=max_duration_s)
    raise InvalidAudioError(
        f"{role}: expected a file path or a numpy array, got {type(x).__name__}"
    )
