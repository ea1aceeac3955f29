"""Model constants (ITU-T P.862 structure), per model sample rate."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

#: VAD blocks of zero padding before and after each signal (75 x 4 ms = 300 ms).
SEARCH_BLOCKS = 75
#: Extra zero tail of every buffer, in milliseconds.
PAD_MS = 320
#: VAD: speech runs of <= this many blocks are discarded.
MIN_SPEECH_BLOCKS = 4
#: VAD: gaps of <= this many blocks between speech runs are filled.
JOIN_SPEECH_BLOCKS = 50
#: An utterance must last at least this many blocks (200 ms).
MIN_UTTERANCE_BLOCKS = 50
#: Utterances shorter than this many blocks (0.8 s) are not split further.
MIN_SPLIT_BLOCKS = 200
#: Level normalisation target (mean square of the 350-3250 Hz band).
TARGET_POWER = 1e7
#: Bad-frame threshold on the symmetric frame disturbance.
BAD_FRAME_THRESHOLD = 30.0
#: Minimum number of frames of a bad interval that is re-aligned.
MIN_BAD_INTERVAL_FRAMES = 5
#: Search range of the bad-interval re-alignment, in frame lengths.
BAD_INTERVAL_SEARCH_FRAMES = 4
#: Weights of the symmetric (D) and asymmetric (A) disturbance in the raw score.
D_WEIGHT, A_WEIGHT = 0.1, 0.0309


@dataclass(frozen=True)
class ModelConfig:
    """Rate-dependent constants of the model.

    Attributes
    ----------
    fs : int
        Model sample rate (8000 or 16000 Hz).
    ds : int
        Samples per 4 ms VAD block.
    na : int
        FFT length of the fine alignment (64 ms).
    nf : int
        Perceptual frame length (32 ms); the hop is ``nf // 2``.
    sp, sl : float
        Power-density and loudness scaling.
    """

    fs: int
    ds: int
    na: int
    nf: int
    sp: float
    sl: float = 1.866055e-1

    @property
    def hop(self) -> int:
        """Frame hop (16 ms)."""
        return self.nf // 2

    @property
    def sb(self) -> int:
        """Zero padding before and after each signal, in samples."""
        return SEARCH_BLOCKS * self.ds

    @property
    def pad(self) -> int:
        """Extra zero tail, in samples."""
        return PAD_MS * self.fs // 1000


@cache
def config_for(fs: int) -> ModelConfig:
    """Return the :class:`ModelConfig` of model rate ``fs`` (8000 or 16000)."""
    if fs == 8000:
        return ModelConfig(fs=8000, ds=32, na=512, nf=256, sp=2.764344e-5)
    if fs == 16000:
        return ModelConfig(fs=16000, ds=64, na=1024, nf=512, sp=6.910853e-6)
    raise ValueError(f"model rate must be 8000 or 16000 Hz, got {fs}")
