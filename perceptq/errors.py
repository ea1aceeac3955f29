"""Exception hierarchy of perceptq.

Every error raised on purpose by perceptq derives from :class:`PerceptqError`. The leaves
also derive from the matching built-in exception, so callers can catch either.
Messages name the input (file path or argument name) and the problem.
"""

from __future__ import annotations


class PerceptqError(Exception):
    """Base class of every error perceptq raises on purpose."""


class InvalidAudioError(PerceptqError, ValueError):
    """The audio cannot be used: unreadable, empty, too short, NaN/Inf, wrong shape..."""


class UnsupportedRateError(InvalidAudioError):
    """The sample rate is not supported (below 8 kHz, or the mode needs a higher rate)."""


class NoSpeechError(PerceptqError, ValueError):
    """No speech (no utterance of at least 200 ms) was found in the reference."""


class AlignmentError(PerceptqError, RuntimeError):
    """Reference and degraded signal could not be aligned."""


class InputTooLongError(InvalidAudioError):
    """The input is longer than the configured maximum duration."""
