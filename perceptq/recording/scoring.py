"""The three ways of scoring a pair, each returning a :class:`Score` with timeline,
diagnostics and drift: one piece (normal files), window by window (long calls), and
occurrence by occurrence (``locate``). :mod:`perceptq.api` picks one."""

from __future__ import annotations

import math
from typing import Any

from perceptq.audio import checks
from perceptq.audio.source import ArraySource, Source
from perceptq.errors import AlignmentError
from perceptq.recording import diagnostics, drift, longcall, match, timeline
from perceptq.result import InputInfo, Score


def source_info(src: Source) -> InputInfo:
    """How a source was read."""
    return InputInfo.from_source(src)


def _drift_of(ref: Source, deg: Source) -> float:
    try:
        line = drift.estimate(ref, deg, drift.envelope(ref), drift.envelope(deg))
    except AlignmentError:
        return math.nan
    return longcall.nan_if_unreliable(line)


def single(ref: ArraySource, deg: ArraySource, mode: str, *, warnings: list[str],
           reference_activity=None, alignment: str = "reference") -> Score:
    """Score a pair in one piece, with timeline, diagnostics and drift added.

    The MOS is the model's, untouched; the extras are measured beside it.
    ``reference_activity``: the reference's :class:`perceptq.audio.checks.Activity`, when
    the input checks measured it already. ``alignment`` as in :func:`perceptq.score`.
    """
    from perceptq.p862 import model

    fs = ref.fs
    out = model.evaluate(ref.x, deg.x, fs, mode, ref_name=ref.name, deg_name=deg.name,
                         alignment=alignment)
    warnings = [*warnings, *checks.result_warnings(out.utterances, ref.x, fs, name=ref.name,
                                                   act=reference_activity),
                *model.alignment_warnings(out.reference_unstable)]
    ppm = _drift_of(ref, deg)
    meas = diagnostics.Measures(fs)
    trend = 0.0 if math.isnan(ppm) else ppm * 1e-3  # ms of delay per second
    diagnostics.measure(meas, ref.x, deg.x, out.utterances, out.frame_times_s,
                        out.frame_disturbance,
                        delays_ms=[u.delay_ms - trend * u.start_s for u in out.utterances])
    diag = diagnostics.summarise(meas, clipping_fraction=deg.clip.fraction(),
                                 drift_ppm=ppm, drift_compensated=False)
    rows = timeline.utterance_rows(out.utterances, out.frame_times_s, out.frame_disturbance,
                                   out.frame_asymmetric_disturbance, out.mode)
    return out.to_score(diagnostics=diag, timeline=tuple(rows), drift_ppm=ppm,
                        reference_info=source_info(ref), degraded_info=source_info(deg),
                        warnings=(*warnings, *match.warnings(diag)))


def _alignment_fields(segments, alignment: str) -> tuple[dict[str, Any], list[str]]:
    """Score fields and warning of the alignment over all scored pieces."""
    from perceptq.p862.model import alignment_warnings

    unstable = any(s.out.reference_unstable for s in segments)
    return {"alignment": alignment, "reference_unstable": unstable}, alignment_warnings(unstable)


def windowed(ref: Source, deg: Source, mode: str, *, window_s: float,
             warnings: tuple[str, ...] = (), alignment: str = "reference") -> Score:
    """Score a long pair window by window (see :mod:`perceptq.recording.longcall`)."""
    segments, line, meas, warn = longcall.score_windows(ref, deg, mode, window_s=window_s,
                                                        alignment=alignment)
    extra, warn_a = _alignment_fields(segments, alignment)
    fields = longcall.combine(segments, ref.fs, mode, "window")
    ppm = longcall.nan_if_unreliable(line)
    diag = diagnostics.summarise(meas, clipping_fraction=deg.clip.fraction(), drift_ppm=ppm,
                                 drift_compensated=abs(line.ppm) >= drift.COMPENSATE_PPM)
    windows = fields.pop("segments")
    return Score(**fields, windows=windows, diagnostics=diag, drift_ppm=ppm,
                 reference_info=source_info(ref), degraded_info=source_info(deg),
                 warnings=(*warnings, *warn, *warn_a, *match.warnings(diag)), **extra)


def located(ref: Source, rec: Source, mode: str, *, warnings: tuple[str, ...] = (),
            alignment: str = "reference") -> Score:
    """Find every occurrence of ``ref`` in ``rec`` and score each.

    See :mod:`perceptq.recording.locate`.

    Utterance times are reference times and their delays include the occurrence's offset;
    frame times and the timeline's occurrence rows are recording times.
    """
    from perceptq.recording import locate

    segments, rows, meas, warn = locate.score_occurrences(ref, rec, mode, alignment=alignment)
    extra, warn_a = _alignment_fields(segments, alignment)
    offsets = [s.deg_start / rec.fs for s in segments]
    fields = longcall.combine(segments, rec.fs, mode, "occurrence", frame_offsets_s=offsets,
                              reference_time=False)
    fields.pop("segments")
    ppm = locate.median_drift_ppm(rows)
    diag = diagnostics.summarise(meas, clipping_fraction=rec.clip.fraction(), drift_ppm=ppm,
                                 drift_compensated=any(r["drift_compensated"] for r in rows))
    return Score(**fields, occurrences=tuple(rows), diagnostics=diag, drift_ppm=ppm,
                 reference_info=source_info(ref), degraded_info=source_info(rec),
                 warnings=(*warnings, *warn, *warn_a, *match.warnings(diag)), **extra)


def warm_up() -> None:
    """Load (or compile, the first time ever) the numba kernels of every scoring path: the
    model's, those of the input checks and of the diagnostics, through the functions a pair
    goes through (so a batch worker loads none on its first pair). The first time ever, a
    helper compiles the model's kernels meanwhile, as on a first score
    (:mod:`perceptq.recording.compile_ahead`)."""
    import numpy as np

    from perceptq.audio import filters
    from perceptq.audio.source import open_input
    from perceptq.p862 import model
    from perceptq.recording import compile_ahead

    compile_ahead.start()  # the first run ever only
    for design in filters.DESIGNS:
        filters.sosfilt(filters.butter_sos(design, 8000), [0.0, 1.0, 0.0])
    # the input checks on 2 s of noise bursts (their level changes pass for speech)
    fs = 8000
    bursts = 0.1 * np.random.default_rng(0).standard_normal(2 * fs)
    bursts *= np.repeat(np.arange(20) % 2, fs // 10)
    ref, deg = (open_input(bursts, fs, role=role).at_rate(fs, streamed=False)
                for role in ("reference", "degraded"))
    checks.input_warnings(ref, deg)
    compile_ahead.finish(extras=True)  # the first run ever only
    model.warm_up()
    compile_ahead.warm_extras()
