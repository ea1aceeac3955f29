"""The result object returned by :func:`perceptq.score`."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

#: (lower bound, label) pairs of the MOS scale shown beside every score, best first.
CATEGORY_BOUNDS: tuple[tuple[float, str], ...] = (
    (4.5, "Excellent"),
    (4.0, "Good"),
    (3.5, "Fair"),
    (3.0, "Poor"),
    (-math.inf, "Bad"),
)
CATEGORIES: tuple[str, ...] = tuple(label for _, label in CATEGORY_BOUNDS)


def category_of(mos: float) -> str:
    """Return the quality label of a MOS value (Excellent, Good, Fair, Poor or Bad)."""
    for bound, label in CATEGORY_BOUNDS:
        if mos >= bound:
            return label
    return "Bad"  # NaN


@dataclass(frozen=True, slots=True)
class Utterance:
    """One utterance found by the time alignment.

    ``start_s``/``end_s`` are in the reference signal's time (seconds from its first
    sample); ``delay_ms`` is how much later the degraded signal plays it (positive:
    degraded is late).
    """

    start_s: float
    end_s: float
    delay_ms: float

    def to_dict(self) -> dict[str, float]:
        """Return a JSON-serialisable dict."""
        return {"start_s": self.start_s, "end_s": self.end_s, "delay_ms": self.delay_ms}


@dataclass(frozen=True, slots=True)
class InputInfo:
    """How one input was read and converted before scoring."""

    name: str
    original_sample_rate: int
    channels: int
    resampled: bool
    duration_s: float
    sample_format: str = "float64"

    @classmethod
    def from_source(cls, src: Any) -> InputInfo:
        """How a source (:class:`perceptq.audio.source.Source`) was read."""
        return cls(name=src.name, original_sample_rate=src.original_rate,
                   channels=src.channels, resampled=src.original_rate != src.fs,
                   duration_s=src.duration_s, sample_format=src.sample_format)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable dict."""
        return {
            "name": self.name,
            "original_sample_rate": self.original_sample_rate,
            "channels": self.channels,
            "resampled": self.resampled,
            "duration_s": self.duration_s,
            "sample_format": self.sample_format,
        }


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return [_jsonable(v) for v in value.tolist()]
    if isinstance(value, (np.floating, float)):
        v = float(value)
        return v if math.isfinite(v) else None
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if hasattr(value, "to_dict"):
        return _jsonable(value.to_dict())
    return value


@dataclass(frozen=True, slots=True)
class Score:
    """Result of scoring one reference/degraded pair.

    Attributes
    ----------
    mos : float
        MOS-LQO on the 1-5 scale (P.862.1 mapping in ``nb`` mode, P.862.2 in ``wb``;
        ViSQOL v3's SVR in ``audio`` mode, its exponential fit in ``speech`` mode).
    raw : float
        P.862 raw score (4.5 - 0.1 D - 0.0309 A) computed by the model before mapping;
        for ViSQOL, the mean neurogram similarity VNSIM (0-1, 1 = identical).
    mode : str
        ``"nb"`` or ``"wb"`` (P.862); ``"audio"`` or ``"speech"`` (ViSQOL).
    sample_rate : int
        Rate the model ran at (8000 or 16000 Hz; ViSQOL 48000 or 16000 Hz).
    category : str
        Label of ``mos`` on the quality scale (Excellent, Good, Fair, Poor, Bad).
    utterances : tuple of Utterance
        Utterances with their delays, in reference time (ViSQOL: one, the whole reference
        with the global alignment delay).
    frame_times_s : ndarray of shape (n_frames,)
        Start time (s, reference time) of each perceptual frame that entered the score
        (ViSQOL: of each reference patch).
    frame_disturbance, frame_asymmetric_disturbance : ndarray of shape (n_frames,)
        Per-frame symmetric and asymmetric disturbance after weighting (0 = inaudible);
        ViSQOL: 1 - the patch similarity, and zeros.
    reference_info, degraded_info : InputInfo or None
        How each input was read (original rate, channels, resampling).
    warnings : tuple of str
        Reasons why the result may be less trustworthy than usual.
    diagnostics : dict
        Measured figures with a plain-language ``hint`` when out of range
        (see :mod:`perceptq.recording.diagnostics`).
    timeline : tuple of dict
        MOS per utterance, and per window or occurrence (see :mod:`perceptq.recording.timeline`).
    windows : tuple of dict
        Long calls: one row per scored window (the MOS is their mean).
    occurrences : tuple of dict
        ``locate=True``: one row per occurrence of the reference in the recording
        (``offset_s``, ``mos``...); frame times are then recording times.
    drift_ppm : float
        Estimated clock drift of the degraded signal (ppm; NaN when not measurable).
    metric : str
        ``"p862"`` or ``"visqol"``: which model produced ``mos`` and ``raw``. Scores of
        different metrics are not comparable.
    band_similarity : ndarray of shape (n_bands,) or None
        ViSQOL: mean NSIM per gammatone band (0-1), lowest band first (FVNSIM).
    band_center_hz : ndarray of shape (n_bands,) or None
        ViSQOL: the bands' centre frequencies (Hz), ascending.
    alignment : str
        ``"reference"``: utterance splitting as the ITU reference does it (default);
        ``"stable"``: as the standard's text describes it, independent of rounding.
    reference_unstable : bool
        The ITU reference's own score of this pair depends on float32 rounding noise in
        its utterance splitting, so no other implementation can be expected to match it
        (see :mod:`perceptq.p862.split`); always False with ``alignment="stable"``.
    alignment_uncertain : bool
        ViSQOL, pairs longer than 2^22 samples (87 s at 48 kHz), which are aligned with
        bounded memory: two delays correlate equally well within single-precision
        rounding, so ViSQOL's whole-signal alignment may have chosen the other one (the
        score may then differ from its). Always False for shorter pairs and for P.862.
    """

    mos: float
    raw: float
    mode: str
    sample_rate: int
    category: str
    utterances: tuple[Utterance, ...]
    frame_times_s: NDArray[np.float64]
    frame_disturbance: NDArray[np.float64]
    frame_asymmetric_disturbance: NDArray[np.float64]
    reference_info: InputInfo | None = None
    degraded_info: InputInfo | None = None
    warnings: tuple[str, ...] = ()
    diagnostics: dict[str, Any] = field(default_factory=dict)
    timeline: tuple[dict[str, Any], ...] = ()
    disturbance_d: float = math.nan
    disturbance_a: float = math.nan
    windows: tuple[dict[str, Any], ...] = ()
    occurrences: tuple[dict[str, Any], ...] = ()
    drift_ppm: float = math.nan
    metric: str = "p862"
    band_similarity: NDArray[np.float64] | None = None
    band_center_hz: NDArray[np.float64] | None = None

    alignment: str = "reference"
    reference_unstable: bool = False
    alignment_uncertain: bool = False

    def __repr__(self) -> str:
        """One short line: the score and how much lies behind it (the frame arrays, the
        timeline and the diagnostics are in the fields and in :meth:`to_dict`)."""
        parts = [
            f"mos={self.mos:.3f}", f"category={self.category!r}", f"raw={self.raw:.3f}",
            f"mode={self.mode!r}", f"sample_rate={self.sample_rate}",
            f"utterances={len(self.utterances)}", f"frames={len(self.frame_times_s)}",
        ]  # fmt: skip
        for name in ("windows", "occurrences", "warnings"):
            if getattr(self, name):
                parts.append(f"{name}={len(getattr(self, name))}")
        if math.isfinite(self.drift_ppm):
            parts.append(f"drift_ppm={self.drift_ppm:+.0f}")
        if self.reference_unstable:
            parts.append("reference_unstable=True")
        if self.alignment_uncertain:
            parts.append("alignment_uncertain=True")
        return f"Score({', '.join(parts)})"

    @property
    def mean_delay_ms(self) -> float:
        """Mean utterance delay in milliseconds (NaN without utterances)."""
        if not self.utterances:
            return math.nan
        return float(np.mean([u.delay_ms for u in self.utterances]))

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable dict of every field."""
        out: dict[str, Any] = {}
        for name in self.__dataclass_fields__:
            out[name] = _jsonable(getattr(self, name))
        out["mean_delay_ms"] = _jsonable(self.mean_delay_ms)
        return out
