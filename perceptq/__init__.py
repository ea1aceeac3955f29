"""perceptq: full-reference perceptual speech quality (P.862-compatible MOS-LQO).

Public names: :func:`score`, :func:`score_many`, :func:`pesq`, :class:`Score` and the error
hierarchy.
"""

from perceptq.api import pesq, score
from perceptq.errors import (
    AlignmentError,
    InputTooLongError,
    InvalidAudioError,
    NoSpeechError,
    PerceptqError,
    UnsupportedRateError,
)
from perceptq.result import Score, Utterance, category_of

__version__ = "0.1.0"


def __getattr__(name: str):
    """Batch scoring is loaded on first use (``import perceptq`` stays light)."""
    if name == "score_many":
        from perceptq.batch.runner import score_many

        return score_many
    if name == "PairResult":
        from perceptq.batch.table import PairResult

        return PairResult
    raise AttributeError(f"module 'perceptq' has no attribute {name!r}")

__all__ = [
    "AlignmentError",
    "InputTooLongError",
    "InvalidAudioError",
    "NoSpeechError",
    "PairResult",
    "PerceptqError",
    "Score",
    "UnsupportedRateError",
    "Utterance",
    "__version__",
    "category_of",
    "pesq",
    "score",
    "score_many",
]
