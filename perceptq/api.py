"""Public scoring API: wires the stages in order. No arithmetic of its own."""

from __future__ import annotations

import math
import os

from perceptq.audio import checks, preprocess
from perceptq.audio.io import Audio, AudioInput, check_duration, load
from perceptq.audio.source import ArraySource, Source, file_info, open_file
from perceptq.errors import UnsupportedRateError
from perceptq.recording import scoring as analysis
from perceptq.recording.longcall import SINGLE_PIECE_WINDOWS, WINDOW_S
from perceptq.result import InputInfo, Score


def _info(audio, resampled: bool) -> InputInfo:
    return InputInfo(
        name=audio.name,
        original_sample_rate=audio.sample_rate,
        channels=audio.channels,
        resampled=resampled,
        duration_s=audio.duration_s,
        sample_format=audio.sample_format,
    )


def _peek(x: AudioInput, sample_rate: int | None, role: str) -> tuple[Audio | None, int, float]:
    """(loaded audio or None for a file left on disk, sample rate, duration in seconds)."""
    if isinstance(x, (str, os.PathLike)):
        info = file_info(x)
        return None, int(info.samplerate), info.frames / max(info.samplerate, 1)
    audio = load(x, sample_rate, role=role, max_duration_s=math.inf)  # limit: see score()
    return audio, audio.sample_rate, audio.duration_s


def _source(audio: Audio | None, x: AudioInput, fs: int) -> Source:
    return ArraySource.from_audio(audio, fs) if audio is not None else open_file(x, fs)


def score(
    reference: AudioInput,
    degraded: AudioInput,
    *,
    sample_rate: int | None = None,
    mode: str = "auto",
    locate: bool = False,
    window_s: float = WINDOW_S,
) -> Score:
    """Score a degraded speech signal against its reference.

    Parameters
    ----------
    reference, degraded : path or ndarray of shape (n,) or (n, channels)
        File paths (anything soundfile reads) or arrays. Integer arrays are PCM and scaled.
    sample_rate : int, optional
        Rate of array inputs (required for arrays, ignored for files).
    mode : {"auto", "nb", "wb"}
        ``nb``: P.862 narrowband with P.862.1 mapping; ``wb``: P.862.2 wideband.
        ``auto`` picks ``wb`` when both inputs are sampled at 16 kHz or more.
    locate : bool
        ``degraded`` is a longer recording that contains the reference one or more times:
        find every occurrence, score each, and report them in ``Score.occurrences``
        (the MOS is their mean).
    window_s : float
        Seconds of speech per window for long recordings. References longer than twice
        this are scored window by window on utterance boundaries (the MOS is the mean of
        the window MOS values, see ``Score.windows``), with bounded memory and clock-drift
        compensation; shorter pairs are scored in one piece.

    Returns
    -------
    Score
        MOS-LQO in [1.02, 4.55] (nb) or [1.04, 4.64] (wb), higher is better, with
        ``timeline``, ``diagnostics`` and ``drift_ppm``.

    Raises
    ------
    InvalidAudioError, UnsupportedRateError, NoSpeechError
        Unreadable or invalid audio, an unsupported rate, or a reference without speech.
    AlignmentError
        ``locate=True`` and the reference is not in the recording, or a long pair that
        cannot be aligned at all.
    """
    from perceptq.p862 import model  # the perceptual pipeline (numba kernels behind it)

    if not window_s > 0:
        raise ValueError(f"window_s={window_s!r} must be a positive number of seconds")
    ref_audio, ref_rate, ref_dur = _peek(reference, sample_rate, "reference")
    deg_audio, deg_rate, _ = _peek(degraded, sample_rate, "degraded")
    mode = preprocess.resolve_mode(mode, ref_rate, deg_rate)
    fs = preprocess.model_rate(mode, ref_rate, deg_rate)
    warnings = [
        f"{name}: resampled from {rate} Hz to {fs} Hz"
        for name, rate in ((reference if ref_audio is None else ref_audio.name, ref_rate),
                           (degraded if deg_audio is None else deg_audio.name, deg_rate))
        if rate != fs
    ]
    # Long references and located recordings are streamed window by window (bounded
    # memory, no duration limit); everything else is scored in one piece.
    if locate or ref_dur > SINGLE_PIECE_WINDOWS * window_s:
        ref_src = _source(ref_audio, reference, fs)
        deg_src = _source(deg_audio, degraded, fs)
        warnings += checks.source_warnings(ref_src, deg_src, located=locate)
        if locate:
            return analysis.located(ref_src, deg_src, mode, warnings=tuple(warnings))
        return analysis.windowed(ref_src, deg_src, mode, window_s=window_s,
                                 warnings=tuple(warnings))
    ref_audio = ref_audio or load(reference, sample_rate, role="reference")
    deg_audio = deg_audio or load(degraded, sample_rate, role="degraded")
    for a in (ref_audio, deg_audio):
        check_duration(a.samples.shape[0], a.sample_rate, a.name)
    ref = preprocess.condition(ref_audio, fs)
    deg = preprocess.condition(deg_audio, fs)
    warnings += checks.input_warnings(ref_audio, deg_audio, ref, deg, fs)
    out = model.evaluate(ref, deg, fs, mode, ref_name=ref_audio.name, deg_name=deg_audio.name)
    warnings += checks.result_warnings(out.utterances, ref, fs, name=ref_audio.name)
    return analysis.single(
        out,
        ArraySource.from_audio(ref_audio, fs, conditioned=ref),
        ArraySource.from_audio(deg_audio, fs, conditioned=deg),
        reference_info=_info(ref_audio, ref_audio.sample_rate != fs),
        degraded_info=_info(deg_audio, deg_audio.sample_rate != fs),
        warnings=tuple(warnings),
    )


def warm_up() -> None:
    """Load (or compile, the first time ever) the models' numba kernels in this process."""
    from perceptq.p862 import model

    model.warm_up()


def pesq(fs: int, ref, deg, mode: str = "wb") -> float:
    """Drop-in for the reference package's ``pesq(fs, ref, deg, mode)``: returns MOS-LQO.

    Like the reference, only 8000 and 16000 Hz are accepted and 'wb' needs 16000 Hz, and
    the pair is scored in one piece (no windowing, diagnostics or drift analysis); use
    :func:`score` for other rates, long recordings and diagnostics.
    """
    from perceptq.p862 import model

    if fs not in (8000, 16000):
        raise UnsupportedRateError(f"fs={fs!r}: pesq() accepts 8000 or 16000 Hz; use score()")
    if mode not in ("nb", "wb"):
        raise ValueError(f"mode {mode!r} must be 'nb' or 'wb'")
    ref_audio = load(ref, fs, role="reference")
    deg_audio = load(deg, fs, role="degraded")
    mode = preprocess.resolve_mode(mode, fs, fs)
    ref_x = preprocess.condition(ref_audio, fs)
    deg_x = preprocess.condition(deg_audio, fs)
    return model.evaluate(ref_x, deg_x, fs, mode).mos
