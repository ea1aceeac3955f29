"""Public scoring API: wires the stages in order. No arithmetic of its own."""

from __future__ import annotations

from perceptq import checks, preprocess
from perceptq.errors import UnsupportedRateError
from perceptq.io import AudioInput, load
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


def score(
    reference: AudioInput,
    degraded: AudioInput,
    *,
    sample_rate: int | None = None,
    mode: str = "auto",
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

    Returns
    -------
    Score
        MOS-LQO in [1.02, 4.55] (nb) or [1.04, 4.64] (wb), higher is better.

    Raises
    ------
    InvalidAudioError, UnsupportedRateError, NoSpeechError
        Unreadable or invalid audio, an unsupported rate, or a reference without speech.
    """
    from perceptq import model  # the perceptual pipeline (numba kernels behind it)

    ref_audio = load(reference, sample_rate, role="reference")
    deg_audio = load(degraded, sample_rate, role="degraded")
    mode = preprocess.resolve_mode(mode, ref_audio.sample_rate, deg_audio.sample_rate)
    fs = preprocess.model_rate(mode, ref_audio.sample_rate, deg_audio.sample_rate)
    ref = preprocess.condition(ref_audio, fs)
    deg = preprocess.condition(deg_audio, fs)
    warnings = []
    for a in (ref_audio, deg_audio):
        if a.sample_rate != fs:
            warnings.append(f"{a.name}: resampled from {a.sample_rate} Hz to {fs} Hz")
    warnings += checks.input_warnings(ref_audio, deg_audio, ref, deg, fs)
    out = model.evaluate(ref, deg, fs, mode, ref_name=ref_audio.name, deg_name=deg_audio.name)
    warnings += checks.result_warnings(out.utterances, ref, fs, name=ref_audio.name)
    return out.to_score(
        reference_info=_info(ref_audio, ref_audio.sample_rate != fs),
        degraded_info=_info(deg_audio, deg_audio.sample_rate != fs),
        warnings=tuple(warnings),
    )


def pesq(fs: int, ref, deg, mode: str = "wb") -> float:
    """Drop-in for the reference package's ``pesq(fs, ref, deg, mode)``: returns MOS-LQO.

    Like the reference, only 8000 and 16000 Hz are accepted here and 'wb' needs 16000 Hz;
    use :func:`score` for other rates.
    """
    if fs not in (8000, 16000):
        raise UnsupportedRateError(f"fs={fs!r}: pesq() accepts 8000 or 16000 Hz; use score()")
    if mode not in ("nb", "wb"):
        raise ValueError(f"mode {mode!r} must be 'nb' or 'wb'")
    return score(ref, deg, sample_rate=fs, mode=mode).mos
