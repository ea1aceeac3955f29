"""Public scoring API: wires the stages in order. No arithmetic of its own.

``score`` reads as: open both inputs -> condition (mono, model rate) -> check the inputs
-> decide one piece / windowed / located -> score -> wrap. Modules behind it are imported
on first use, so ``import perceptq`` stays light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from perceptq.errors import UnsupportedRateError

if TYPE_CHECKING:
    from perceptq.audio.io import AudioInput
    from perceptq.result import Score

#: Default seconds of speech per window for long recordings (see ``score``'s window_s;
#: the same value as :data:`perceptq.recording.longcall.WINDOW_S`).
WINDOW_S = 10.0

#: glibc allocator thresholds set on the first score in a process (bytes): freed blocks
#: up to 16 MiB stay in the heap, and up to 32 MiB of free heap is kept. Scoring allocates
#: and frees many arrays of a few MiB; returned to the system, each comes back as fresh
#: pages that fault in on first touch, which cost 20-35 % of a 10 s pair here.
ALLOCATOR_THRESHOLDS = {"MALLOC_MMAP_THRESHOLD_": 16 << 20, "MALLOC_TRIM_THRESHOLD_": 32 << 20}
_allocator_tuned: bool | None = None


def tune_allocator() -> bool:
    """Apply :data:`ALLOCATOR_THRESHOLDS` to this process through glibc's ``mallopt``, once.

    Skipped (returns False) when the environment sets either threshold itself (the
    caller's choice wins; glibc read it at start-up) or off glibc. Returns True when set.
    """
    global _allocator_tuned
    if _allocator_tuned is None:
        import ctypes
        import os

        _allocator_tuned = False
        if not any(k in os.environ for k in ALLOCATOR_THRESHOLDS):
            try:
                mallopt = ctypes.CDLL(None).mallopt
            except (OSError, AttributeError, TypeError):  # not glibc (CDLL(None): POSIX only)
                return False
            m_trim_threshold, m_mmap_threshold = -1, -3  # glibc's <malloc.h> codes
            _allocator_tuned = bool(
                mallopt(m_mmap_threshold, ALLOCATOR_THRESHOLDS["MALLOC_MMAP_THRESHOLD_"])
                and mallopt(m_trim_threshold, ALLOCATOR_THRESHOLDS["MALLOC_TRIM_THRESHOLD_"]))
    return _allocator_tuned


def score(
    reference: AudioInput,
    degraded: AudioInput,
    *,
    sample_rate: int | None = None,
    mode: str = "auto",
    metric: str = "p862",
    locate: bool = False,
    window_s: float = WINDOW_S,
    alignment: str = "reference",
) -> Score:
    """Score a degraded speech (P.862) or audio (ViSQOL) signal against its reference.

    Parameters
    ----------
    reference, degraded : path or ndarray of shape (n,) or (n, channels)
        File paths (anything soundfile reads) or arrays. Integer arrays are PCM and scaled.
    sample_rate : int, optional
        Rate of array inputs (required for arrays, ignored for files).
    mode : {"auto", "nb", "wb"} or, for ViSQOL, {"auto", "audio", "speech"}
        ``nb``: P.862 narrowband with P.862.1 mapping; ``wb``: P.862.2 wideband.
        ``auto`` picks ``wb`` when both inputs are sampled at 16 kHz or more.
        ViSQOL: ``audio`` (fullband, 48 kHz, SVR mapping) or ``speech`` (16 kHz,
        exponential mapping); ``auto`` picks speech when both inputs are at 16 kHz or less.
    metric : {"p862", "visqol"}
        ``p862``: ITU-T P.862 / P.862.2 (speech, narrow- and wideband).
        ``visqol``: ViSQOL v3 (fullband audio and music, or speech); inputs at any rate are
        resampled to 48 kHz (audio) or 16 kHz (speech) with a warning. ViSQOL scores
        the pair in one piece: ``locate`` and ``window_s`` do not apply.
    locate : bool
        ``degraded`` is a longer recording that contains the reference one or more times:
        find every occurrence, score each, and report them in ``Score.occurrences``
        (the MOS is their mean).
    window_s : float
        Seconds of speech per window for long recordings. References longer than twice
        this are scored window by window on utterance boundaries (the MOS is the mean of
        the window MOS values, see ``Score.windows``), with bounded memory and clock-drift
        compensation; shorter pairs are scored in one piece.
    alignment : {"reference", "stable"}
        P.862: how utterances are split at delay changes. ``reference`` (default) as the ITU
        reference implementation does it, so that scores agree with it; ``stable`` as the
        standard's text describes it (intact analysis window), a score that never depends
        on rounding. ``Score.reference_unstable`` tells when the two views part.

    Returns
    -------
    Score
        MOS-LQO in [1.02, 4.55] (nb) or [1.04, 4.64] (wb), [1, 5] (ViSQOL), higher is
        better, with ``timeline``, ``diagnostics`` and ``drift_ppm``.

    Raises
    ------
    InvalidAudioError, UnsupportedRateError, NoSpeechError
        Unreadable or invalid audio, an unsupported rate, or a reference without speech.
    AlignmentError
        ``locate=True`` and the reference is not in the recording, or a long pair that
        cannot be aligned at all.
    """
    if metric == "visqol":
        if locate:
            raise ValueError("locate=True is not available with metric='visqol'")
        return _score_visqol(reference, degraded, sample_rate=sample_rate, mode=mode)
    if metric != "p862":
        raise ValueError(f"metric {metric!r} is not one of 'p862', 'visqol'")
    from perceptq.audio import checks, preprocess
    from perceptq.audio.source import open_input
    from perceptq.p862.split import check_alignment
    from perceptq.recording import compile_ahead, scoring
    from perceptq.recording.longcall import SINGLE_PIECE_WINDOWS

    check_alignment(alignment)
    if not window_s > 0:
        raise ValueError(f"window_s={window_s!r} must be a positive number of seconds")
    tune_allocator()
    compile_ahead.start()  # the first run ever only
    # Open both: header facts of files (no samples read yet), validated arrays.
    ref_in = open_input(reference, sample_rate, role="reference")
    deg_in = open_input(degraded, sample_rate, role="degraded")
    mode = preprocess.resolve_mode(mode, ref_in.rate, deg_in.rate, names=(ref_in.name, deg_in.name))
    fs = preprocess.model_rate(mode, ref_in.rate, deg_in.rate)
    # Long references and located recordings are streamed window by window (bounded
    # memory, no duration limit); everything else is scored in one piece.
    path = ("located" if locate
            else "windowed" if ref_in.duration_s > SINGLE_PIECE_WINDOWS * window_s
            else "single")
    # Condition: mono at the model rate, read whole or streamed.
    ref = ref_in.at_rate(fs, streamed=path != "single")
    deg = deg_in.at_rate(fs, streamed=path != "single")
    warnings = [f"{src.name}: resampled from {src.original_rate} Hz to {fs} Hz"
                for src in (ref, deg) if src.original_rate != fs]
    checked = checks.input_warnings(ref, deg, located=locate)
    warnings += checked.warnings
    compile_ahead.finish(extras=True)  # the first run ever only
    if path == "located":
        return scoring.located(ref, deg, mode, warnings=tuple(warnings), alignment=alignment)
    if path == "windowed":
        return scoring.windowed(ref, deg, mode, window_s=window_s, warnings=tuple(warnings),
                                alignment=alignment)
    return scoring.single(ref, deg, mode, warnings=warnings,
                          reference_activity=checked.reference_activity, alignment=alignment)


def _score_visqol(reference: AudioInput, degraded: AudioInput, *, sample_rate: int | None,
                  mode: str) -> Score:
    """ViSQOL v3 on one pair: open, mono at the mode's rate, check, compare, wrap."""
    from perceptq.audio import checks
    from perceptq.audio.source import open_input
    from perceptq.recording.visqol_scoring import visqol_single
    from perceptq.result import InputInfo
    from perceptq.visqol import MODE_RATES, VisqolConfig, resolve_mode

    ref_in = open_input(reference, sample_rate, role="reference")
    deg_in = open_input(degraded, sample_rate, role="degraded")
    mode = resolve_mode(mode, ref_in.rate, deg_in.rate)
    fs = MODE_RATES[mode]
    ref = ref_in.at_rate(fs, streamed=False)
    deg = deg_in.at_rate(fs, streamed=False)
    warnings = [f"{src.name}: resampled from {src.original_rate} Hz to {fs} Hz for ViSQOL "
                f"{mode} mode" for src in (ref, deg) if src.original_rate != fs]
    warnings += checks.audio_warnings(ref, deg)
    return visqol_single(ref.x, deg.x, VisqolConfig(mode, fs),
                         reference_info=InputInfo.from_source(ref),
                         degraded_info=InputInfo.from_source(deg), warnings=tuple(warnings))


def warm_up() -> None:
    """Load (or compile, the first time ever) every numba kernel of the scoring path in
    this process (batch workers call it once, at start-up)."""
    from perceptq.recording import scoring

    scoring.warm_up()


class PesqCodes:
    """``on_error`` values and error codes of :func:`pesq`, as the reference package's
    ``pesq.PesqError`` has them (the same numbers, so either class's constants work)."""

    RAISE_EXCEPTION = 0
    RETURN_VALUES = 1
    UNKNOWN = -1
    BUFFER_TOO_SHORT = -6
    NO_UTTERANCES_DETECTED = -7


def pesq(fs: int, ref, deg, mode: str = "wb", on_error: int = PesqCodes.RAISE_EXCEPTION,
         alignment: str = "reference") -> float:
    """Drop-in for the reference package's ``pesq(fs, ref, deg, mode, on_error)``: MOS-LQO.

    Like the reference, only 8000 and 16000 Hz are accepted and 'wb' needs 16000 Hz (a bad
    ``fs`` or ``mode`` always raises), and the pair is scored in one piece (no windowing,
    diagnostics or drift analysis); use :func:`score` for other rates, long recordings,
    diagnostics and warnings.

    ``on_error``: ``RAISE_EXCEPTION`` (0, default) raises perceptq's error for an input the
    model cannot score; ``RETURN_VALUES`` (1) returns the reference package's error code
    instead: ``NO_UTTERANCES_DETECTED`` (-7) for a reference without speech,
    ``BUFFER_TOO_SHORT`` (-6) for a signal under 0.25 s, ``UNKNOWN`` (-1) otherwise. A
    degraded signal that is all zeros has no P.862 score: like the reference package, it
    raises (:class:`~perceptq.errors.InvalidAudioError`), or gives NaN with
    ``RETURN_VALUES``. (:func:`score` scores it, about 1.4 with a warning.)

    ``alignment`` as in :func:`score` (``"reference"``: agree with the reference package).
    """
    import math

    import numpy as np

    from perceptq.audio import preprocess
    from perceptq.audio.io import MIN_DURATION_S, load
    from perceptq.errors import InvalidAudioError, NoSpeechError, PerceptqError
    from perceptq.p862 import model
    from perceptq.recording import compile_ahead

    if on_error not in (PesqCodes.RAISE_EXCEPTION, PesqCodes.RETURN_VALUES):
        raise ValueError(
            f"on_error={on_error!r}: expected PesqError.RAISE_EXCEPTION (0) or "
            "PesqError.RETURN_VALUES (1)"
        )
    if fs not in (8000, 16000):
        raise UnsupportedRateError(f"fs={fs!r}: pesq() accepts 8000 or 16000 Hz; use score()")
    if mode not in ("nb", "wb"):
        raise ValueError(f"mode {mode!r} must be 'nb' or 'wb'")
    mode = preprocess.resolve_mode(mode, fs, fs)
    tune_allocator()
    compile_ahead.start()  # the first run ever only
    try:
        ref_audio = load(ref, fs, role="reference")
        deg_audio = load(deg, fs, role="degraded")
        if not np.any(deg_audio.samples):
            if on_error == PesqCodes.RETURN_VALUES:
                return math.nan
            raise InvalidAudioError(
                "degraded: the signal is silent (all samples zero) and has no P.862 score "
                "(the reference package fails on it too); perceptq.score() rates it, with a "
                "warning"
            )
        ref_x = preprocess.condition(ref_audio, fs)
        deg_x = preprocess.condition(deg_audio, fs)
        compile_ahead.finish(extras=False)  # the first run ever only
        return model.evaluate(ref_x, deg_x, fs, mode, alignment=alignment).mos
    except PerceptqError as exc:
        if on_error == PesqCodes.RAISE_EXCEPTION:
            raise
        if isinstance(exc, NoSpeechError):
            return PesqCodes.NO_UTTERANCES_DETECTED
        short = min(np.shape(ref)[0], np.shape(deg)[0]) < MIN_DURATION_S * fs
        return PesqCodes.BUFFER_TOO_SHORT if short else PesqCodes.UNKNOWN
