"""Public scoring API: wires the stages in order. No arithmetic of its own.

``score`` reads as: open both inputs -> condition (mono, model rate) -> check the inputs
-> decide one piece / windowed / located -> score -> wrap. Modules behind it are imported
on first use, so ``import perceptq`` stays light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from perceptq.errors import UnsupportedRateError
from perceptq.result import Score

if TYPE_CHECKING:
    from perceptq.audio.io import AudioInput

#: Default seconds of speech per window for long recordings (see ``score``'s window_s;
#: the same value as :data:`perceptq.recording.longcall.WINDOW_S`).
WINDOW_S = 10.0


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
    from perceptq.audio import checks, preprocess
    from perceptq.audio.source import open_input
    from perceptq.recording import scoring
    from perceptq.recording.longcall import SINGLE_PIECE_WINDOWS

    if not window_s > 0:
        raise ValueError(f"window_s={window_s!r} must be a positive number of seconds")
    # Open both: header facts of files (no samples read yet), validated arrays.
    ref_in = open_input(reference, sample_rate, role="reference")
    deg_in = open_input(degraded, sample_rate, role="degraded")
    mode = preprocess.resolve_mode(mode, ref_in.rate, deg_in.rate)
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
    if path == "located":
        return scoring.located(ref, deg, mode, warnings=tuple(warnings))
    if path == "windowed":
        return scoring.windowed(ref, deg, mode, window_s=window_s, warnings=tuple(warnings))
    return scoring.single(ref, deg, mode, warnings=warnings,
                          reference_activity=checked.reference_activity)


def warm_up() -> None:
    """Load (or compile, the first time ever) every numba kernel of the scoring path in
    this process (batch workers call it once, at start-up)."""
    from perceptq.recording import scoring

    scoring.warm_up()


def pesq(fs: int, ref, deg, mode: str = "wb") -> float:
    """Drop-in for the reference package's ``pesq(fs, ref, deg, mode)``: returns MOS-LQO.

    Like the reference, only 8000 and 16000 Hz are accepted and 'wb' needs 16000 Hz, and
    the pair is scored in one piece (no windowing, diagnostics or drift analysis); use
    :func:`score` for other rates, long recordings and diagnostics.
    """
    from perceptq.audio import preprocess
    from perceptq.audio.io import load
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
