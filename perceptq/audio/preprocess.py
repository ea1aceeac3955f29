"""Input conditioning before the model: channel mixdown and resampling to the model rate."""

from __future__ import annotations

import numpy as np
import soxr
from numpy.typing import NDArray

from perceptq.audio.io import Audio
from perceptq.errors import UnsupportedRateError

MODES = ("nb", "wb")
MODEL_RATES = {"nb": 8000, "wb": 16000}


def resolve_mode(
    mode: str, ref_rate: int, deg_rate: int, *, names: tuple[str, str] = ("reference", "degraded")
) -> str:
    """Return ``"nb"`` or ``"wb"`` for a requested mode and the two input rates (``names``:
    the inputs' names for messages, e.g. their file paths)."""
    if mode not in ("auto", *MODES):
        raise ValueError(f"mode {mode!r} is not one of 'auto', 'nb', 'wb'")
    if mode == "auto":
        return "wb" if min(ref_rate, deg_rate) >= 16000 else "nb"
    if mode == "wb" and min(ref_rate, deg_rate) < 16000:
        name, low = (names[0], ref_rate) if ref_rate <= deg_rate else (names[1], deg_rate)
        raise UnsupportedRateError(
            f"{name}: wideband mode needs audio sampled at 16 kHz or more, got {low} Hz "
            "(score narrowband audio in narrowband mode: --mode nb, or mode='nb' from Python)"
        )
    return mode


def model_rate(mode: str, ref_rate: int, deg_rate: int) -> int:
    """Rate the model runs at: 16 kHz for wb; for nb, 16 kHz when both inputs are exactly
    16 kHz (P.862 narrowband at 16 kHz, as the reference does), else 8 kHz."""
    if mode == "nb" and ref_rate == deg_rate == 16000:
        return 16000
    return MODEL_RATES[mode]


def to_mono(audio: Audio) -> NDArray[np.float64]:
    """Mix a multi-channel signal down to mono by averaging the channels."""
    x = audio.samples
    if x.ndim == 1:
        return x
    if x.shape[1] >= 8:
        return np.ascontiguousarray(x.mean(axis=1))
    # numpy's mean over a short row adds the channels in order, then divides: the same,
    # column by column, without its slow strided reduction
    total = x[:, 0].copy()
    for c in range(1, x.shape[1]):
        total += x[:, c]
    total /= x.shape[1]
    return total


def resample(x: NDArray[np.float64], rate_in: int, rate_out: int) -> NDArray[np.float64]:
    """Resample with soxr's very-high-quality polyphase filter (no-op at equal rates)."""
    if rate_in == rate_out:
        return x
    y = soxr.resample(x, rate_in, rate_out, quality="VHQ")
    return np.ascontiguousarray(y, dtype=np.float64)


def condition(audio: Audio, rate_out: int) -> NDArray[np.float64]:
    """Mono, resampled signal ready for the model."""
    return resample(to_mono(audio), audio.sample_rate, rate_out)
