"""perceptq: full-reference perceptual speech quality (P.862-compatible MOS-LQO).

Public names: :func:`score`, :func:`score_many`, :func:`pesq`, :class:`Score` and the error
hierarchy.
"""

from perceptq.api import pesq, score
from perceptq.batch.runner import score_many
from perceptq.batch.table import PairResult
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
