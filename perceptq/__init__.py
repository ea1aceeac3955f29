"""perceptq: full-reference perceptual speech quality (P.862-compatible MOS-LQO).

Public names: :func:`score`, :func:`score_many`, :func:`pesq`, :class:`Score` and the error
hierarchy.
"""

from typing import TYPE_CHECKING

from perceptq.errors import (
    AlignmentError,
    InputTooLongError,
    InvalidAudioError,
    NoSpeechError,
    PerceptqError,
    UnsupportedRateError,
)

if TYPE_CHECKING:
    from perceptq.api import pesq, score
    from perceptq.batch.runner import score_many
    from perceptq.batch.table import PairResult
    from perceptq.result import Score, Utterance, category_of

__version__ = "0.1.0"

#: Public names loaded on first use, and the module that defines each.
_LAZY = {
    "score": "perceptq.api",
    "pesq": "perceptq.api",
    "Score": "perceptq.result",
    "Utterance": "perceptq.result",
    "category_of": "perceptq.result",
    "score_many": "perceptq.batch.runner",
    "PairResult": "perceptq.batch.table",
}


def __getattr__(name: str):
    """The public names are loaded on first use: ``import perceptq`` (and so importing
    any of its modules) loads no numpy, which lets ``perceptq batch`` start its workers
    before anything else (:mod:`perceptq.cli`)."""
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value  # found directly from now on
        return value
    raise AttributeError(f"module 'perceptq' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


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
