"""Fuzz the audio loader and the scoring entry point (hypothesis-driven, time-bounded).

Inputs are valid audio files (several formats, rates and channel counts, built from the
shipped clean speech) with mutated headers, truncations, appended junk and random byte
runs, plus raw random bytes and odd in-memory arrays. The only acceptable outcomes:

- ``perceptq.audio.io.read_audio``: an ``Audio`` of finite float64 samples, or a PerceptqError;
- ``perceptq.score``: a Score with a finite MOS in [1, 4.65], or a PerceptqError.

Anything else (another exception, a NaN score, a hang past the per-input deadline) is a
crash: its input is saved under ``fuzz/crashes/`` and reported; each one found so far is
a regression test in tests/test_regressions.py.

Usage::

    python fuzz/fuzz_loader.py --seconds 60 [--seed N] [--target loader|score|arrays|long|all]
"""

from __future__ import annotations

import argparse
import hashlib
import io as _io
import math
import sys
import tempfile
import time
import traceback
from functools import cache
from pathlib import Path

import numpy as np
import soundfile as sf
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import perceptq
from perceptq.audio import io

ROOT = Path(__file__).resolve().parent.parent
CLEAN = ROOT / "reference_audio" / "clean" / "arctic_a0001.wav"
CRASH_DIR = Path(__file__).resolve().parent / "crashes"
#: One input may take this long before it counts as a hang (seconds).
PER_INPUT_S = 30.0


class FuzzCrash(AssertionError):
    """An input produced an outcome other than a valid result or a PerceptqError."""


@cache
def speech() -> tuple[np.ndarray, int]:
    """1.2 s of clean speech (mono, 16 kHz)."""
    x, fs = sf.read(str(CLEAN))
    return x[int(0.3 * fs): int(1.5 * fs)], fs


@cache
def seeds() -> tuple[bytes, ...]:
    """Valid files to mutate: WAV in six sample formats, 1/2/6 channels, 8-48 kHz, FLAC."""
    import soxr

    x, fs = speech()
    out = []
    for subtype, rate, channels, fmt in [
        ("PCM_16", 16000, 1, "WAV"), ("PCM_U8", 8000, 1, "WAV"), ("PCM_24", 44100, 2, "WAV"),
        ("PCM_32", 16000, 6, "WAV"), ("FLOAT", 48000, 1, "WAV"), ("DOUBLE", 8000, 2, "WAV"),
        ("PCM_16", 16000, 1, "FLAC"),
    ]:
        y = soxr.resample(x, fs, rate) if rate != fs else x
        y = np.repeat(y[:, None], channels, axis=1) if channels > 1 else y
        buf = _io.BytesIO()
        sf.write(buf, y, rate, subtype=subtype, format=fmt)
        out.append(buf.getvalue())
    return tuple(out)


@st.composite
def audio_bytes(draw, long: bool = False) -> bytes:
    """A mutated valid file, or random bytes."""
    if draw(st.integers(0, 9)) == 0:
        return draw(st.binary(max_size=2048))
    data = bytearray(draw(st.sampled_from(long_seeds() if long else seeds())))
    n_mut = draw(st.integers(0, 6))
    for _ in range(n_mut):
        # mostly in the header (first 64 bytes), sometimes anywhere
        limit = 64 if draw(st.booleans()) else len(data)
        pos = draw(st.integers(0, max(0, min(limit, len(data)) - 1)))
        kind = draw(st.sampled_from(["byte", "word", "extreme", "run"]))
        if kind == "byte":
            data[pos] = draw(st.integers(0, 255))
        elif kind == "word":
            data[pos: pos + 4] = draw(st.integers(0, 2**32 - 1)).to_bytes(4, "little")
        elif kind == "extreme":
            data[pos: pos + 4] = draw(st.sampled_from([b"\xff\xff\xff\xff", b"\x00\x00\x00\x00",
                                                       b"\x00\x00\x00\x80", b"\x7f\xff\xff\xff"]))
        else:
            data[pos: pos + 64] = draw(st.binary(min_size=1, max_size=64))
    if draw(st.integers(0, 3)) == 0:
        data = data[: draw(st.integers(0, len(data)))]
    if draw(st.integers(0, 5)) == 0:
        data += draw(st.binary(max_size=256))
    return bytes(data)


def _crash(what: str, data: bytes | None, exc: BaseException | None, detail: str = "") -> None:
    if data is not None:
        CRASH_DIR.mkdir(exist_ok=True)
        path = CRASH_DIR / f"{what}-{hashlib.sha1(data).hexdigest()[:12]}.bin"
        path.write_bytes(data)
        detail += f" (input saved as {path})"
    if exc is not None:
        detail += "\n" + "".join(traceback.format_exception(exc))
    raise FuzzCrash(f"{what}: {detail}")


def check_loader(data: bytes) -> None:
    """Write ``data`` to a file and read it: Audio with finite samples, or PerceptqError."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "input.wav"
        path.write_bytes(data)
        try:
            info = io.file_info(path)
            audio = io.read_audio(path)
        except perceptq.PerceptqError as exc:
            if not str(exc).startswith(str(path)):
                _crash("loader", data, None, f"error message does not name the file: {exc}")
            return
        except Exception as exc:
            _crash("loader", data, exc, f"{type(exc).__name__}: {exc}")
        if info.samplerate != audio.sample_rate or info.channels != audio.channels:
            _crash("loader", data, None, f"header {info} disagrees with the audio read")
        if not np.isfinite(audio.samples).all() or audio.samples.shape[0] == 0:
            _crash("loader", data, None, "loaded audio has non-finite samples or is empty")


def _check_score_result(what: str, data: bytes | None, call) -> None:
    t0 = time.monotonic()
    try:
        s = call()
    except perceptq.PerceptqError:
        return
    except Exception as exc:
        _crash(what, data, exc, f"{type(exc).__name__}: {exc}")
    if not (math.isfinite(s.mos) and 1.0 <= s.mos <= 4.65):
        _crash(what, data, None, f"MOS {s.mos!r} is not finite or outside [1, 4.65]")
    if time.monotonic() - t0 > PER_INPUT_S:
        _crash(what, data, None, f"took {time.monotonic() - t0:.0f} s")


def check_score(data: bytes, as_reference: bool) -> None:
    """Score a mutated file against clean speech (either role)."""
    x, fs = speech()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "input.wav"
        path.write_bytes(data)
        clean = Path(tmp) / "clean.wav"
        sf.write(clean, x, fs)
        ref, deg = (path, clean) if as_reference else (clean, path)
        _check_score_result("score", data, lambda: perceptq.score(ref, deg))


@cache
def long_seeds() -> tuple[bytes, ...]:
    """Valid 25 s files (scored in windows): 16-bit 16 kHz mono and float 8 kHz stereo."""
    import soxr

    x, fs = speech()
    y = np.tile(np.concatenate((x, np.zeros(fs // 4))), 18)
    out = []
    for subtype, rate, channels in [("PCM_16", 16000, 1), ("FLOAT", 8000, 2)]:
        z = soxr.resample(y, fs, rate) if rate != fs else y
        z = np.repeat(z[:, None], channels, axis=1) if channels > 1 else z
        buf = _io.BytesIO()
        sf.write(buf, z, rate, subtype=subtype, format="WAV")
        out.append(buf.getvalue())
    return tuple(out)


def check_long(data: bytes, as_reference: bool) -> None:
    """Score a mutated long file against a valid long one (windowed scoring path)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "input.wav"
        path.write_bytes(data)
        other = Path(tmp) / "long.wav"
        other.write_bytes(long_seeds()[0])
        ref, deg = (path, other) if as_reference else (other, path)
        _check_score_result("long", data, lambda: perceptq.score(ref, deg))


ARRAY_DTYPES = st.sampled_from(["float64", "float32", "int16", "int32", "uint8", "int8"])


@st.composite
def odd_arrays(draw):
    """(reference, degraded, sample_rate, mode) with odd shapes, values and rates."""
    x, fs = speech()
    rate = draw(st.sampled_from([8000, 16000, 11025, 44100, 7999, 0, -8000, 16000.5, 96000]))
    mode = draw(st.sampled_from(["auto", "nb", "wb"]))
    kind = draw(st.sampled_from(["speech", "array"]))
    if kind == "speech":
        import soxr

        y = soxr.resample(x, fs, int(rate)) if isinstance(rate, int) and rate >= 8000 else x
        gain = draw(st.floats(-1e6, 1e6, allow_nan=False))
        y = y * gain
        if draw(st.booleans()):
            y = y.astype(np.float32)
        ref = y
    else:
        dtype = draw(ARRAY_DTYPES)
        n = draw(st.integers(0, 30000))
        shape = draw(st.sampled_from([(n,), (n, 2), (2, n), (n, 1), (0, 2)]))
        elems = (hnp.from_dtype(np.dtype(dtype), allow_nan=True, allow_infinity=True)
                 if dtype.startswith("float") else hnp.from_dtype(np.dtype(dtype)))
        ref = draw(hnp.arrays(dtype, shape, elements=elems, fill=elems))
    deg = x if draw(st.booleans()) else ref
    if draw(st.booleans()):
        ref, deg = deg, ref
    return ref, deg, rate, mode


def check_arrays(ref, deg, rate, mode) -> None:
    """Score in-memory arrays: finite score or PerceptqError."""
    _check_score_result(
        "arrays", None, lambda: perceptq.score(ref, deg, sample_rate=rate, mode=mode)
    )


def _settings(seed_examples: int) -> settings:
    return settings(
        max_examples=seed_examples, deadline=None, database=None,
        phases=[Phase.generate], suppress_health_check=list(HealthCheck),
    )


def _round(target: str, n: int):
    """One hypothesis run of ``n`` examples against ``target``."""
    if target == "loader":
        return _settings(n)(given(audio_bytes())(check_loader))
    if target == "score":
        return _settings(n)(given(audio_bytes(), st.booleans())(check_score))
    if target == "long":
        return _settings(n)(given(audio_bytes(long=True), st.booleans())(check_long))
    return _settings(n)(given(odd_arrays())(lambda a: check_arrays(*a)))


def run(seconds: float, *, seed: int = 0, targets=("loader", "score", "arrays"),
        examples_per_round: int = 25) -> int:
    """Fuzz ``targets`` in turn, in rounds of ``examples_per_round``, for about ``seconds``.

    Returns the number of rounds run. Raises :class:`FuzzCrash` on the first crash.
    """
    from hypothesis import seed as hseed

    stop = time.monotonic() + seconds
    rounds = 0
    while time.monotonic() < stop or rounds == 0:
        for target in targets:
            hseed(seed * 1000 + rounds)(_round(target, examples_per_round))()
        rounds += 1
    return rounds


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=60.0, help="time budget (default 60)")
    p.add_argument("--seed", type=int, default=int(time.time()) % 100000)
    p.add_argument("--target", choices=["loader", "score", "arrays", "long", "all"],
                   default="all", help="'long': 25 s files scored in windows (slower)")
    args = p.parse_args(argv)
    targets = ("loader", "score", "arrays", "long") if args.target == "all" else (args.target,)
    t0 = time.monotonic()
    try:
        rounds = run(args.seconds, seed=args.seed, targets=targets)
    except FuzzCrash as exc:
        print(f"fuzz: CRASH (seed {args.seed}): {exc}", file=sys.stderr)
        return 1
    print(f"fuzz: {rounds} round(s) of {', '.join(targets)} in {time.monotonic() - t0:.0f} s, "
          f"seed {args.seed}: no crash")
    return 0


if __name__ == "__main__":
    sys.exit(main())
