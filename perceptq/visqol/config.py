"""Configuration of the ViSQOL v3 model: mode, rate and the constants that follow from them."""

from __future__ import annotations

import math
from dataclasses import dataclass

#: Rates at which each mode was designed and trained (inputs are resampled to them).
MODE_RATES: dict[str, int] = {"audio": 48000, "speech": 16000}
#: Lowest gammatone centre frequency (Hz) in both modes.
MIN_FREQ_HZ = 50.0
#: Highest gammatone centre frequency (Hz) in speech mode (audio mode: fs / 2).
SPEECH_MAX_FREQ_HZ = 8000.0
#: Analysis window length (s) and hop as a fraction of it.
WINDOW_S = 0.08
OVERLAP = 0.25


def resolve_mode(mode: str, ref_rate: int, deg_rate: int) -> str:
    """Return ``"audio"`` or ``"speech"``; ``auto`` picks speech when both inputs are
    sampled at 16 kHz or less (speech-band material), else audio."""
    if mode not in ("auto", *MODE_RATES):
        raise ValueError(f"mode {mode!r} is not one of 'auto', 'audio', 'speech' for ViSQOL")
    if mode == "auto":
        return "speech" if max(ref_rate, deg_rate) <= MODE_RATES["speech"] else "audio"
    return mode


@dataclass(frozen=True, slots=True)
class VisqolConfig:
    """What the ViSQOL model needs besides the two signals.

    Parameters
    ----------
    mode : {"audio", "speech"}
        ``audio``: 32 bands up to fs/2, patches of 30 frames everywhere, SVR mapping.
        ``speech``: 21 bands up to 8 kHz, patches of 20 frames where the reference is
        active, exponential mapping.
    sample_rate : int
        Rate of both signals (Hz).
    search_window : int
        Radius of the patch alignment search, in patches (ViSQOL's default 60).
    unscaled_speech : bool
        Speech mode: report the exponential fit as fitted (a perfect pair maps to about
        4.16) instead of scaling it so that a perfect pair maps to 5.
    realign : bool
        Refine each matched patch pair by a time-domain alignment (ViSQOL's default).
    """

    mode: str
    sample_rate: int
    search_window: int = 60
    unscaled_speech: bool = False
    realign: bool = True

    def __post_init__(self) -> None:
        if self.mode not in MODE_RATES:
            raise ValueError(f"mode={self.mode!r}: expected 'audio' or 'speech'")
        if self.sample_rate <= 0:
            raise ValueError(f"sample_rate={self.sample_rate!r} must be positive")
        if self.search_window <= 0:
            raise ValueError(f"search_window={self.search_window!r} must be positive")

    @property
    def speech(self) -> bool:
        """True in speech mode."""
        return self.mode == "speech"

    @property
    def num_bands(self) -> int:
        """Number of gammatone bands (32 audio, 21 speech)."""
        return 21 if self.speech else 32

    @property
    def patch_size(self) -> int:
        """Frames per patch (30 audio, 20 speech)."""
        return 20 if self.speech else 30

    @property
    def max_freq(self) -> float:
        """Highest centre frequency (Hz), never above fs / 2."""
        top = SPEECH_MAX_FREQ_HZ if self.speech else self.sample_rate / 2.0
        return min(top, self.sample_rate / 2.0)

    @property
    def window_size(self) -> int:
        """Analysis window in samples: 80 ms rounded half away from zero."""
        return math.floor(self.sample_rate * WINDOW_S + 0.5)

    @property
    def hop(self) -> int:
        """Hop between frames in samples (a quarter of the window, truncated)."""
        return int(self.window_size * OVERLAP)

    @property
    def frame_duration_s(self) -> float:
        """Duration of one hop in seconds."""
        return self.hop / float(self.sample_rate)
