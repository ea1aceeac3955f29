"""``perceptq score REF DEG``: one pair, its MOS, delays, diagnostics and warnings."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from perceptq import api
from perceptq.cli.common import (
    ALIGNMENT_HELP,
    Alignment,
    Command,
    Metric,
    Mode,
    err_console,
    fail,
)
from perceptq.errors import PerceptqError


def score(
    reference: Annotated[Path, typer.Argument(help="Reference (clean source) audio file.")],
    degraded: Annotated[Path, typer.Argument(help="Degraded audio file (or recording) to judge.")],
    mode: Annotated[
        Mode, typer.Option(help="P.862: nb, wb, or auto (wb when rate >= 16 kHz). ViSQOL: "
                           "audio, speech, or auto (speech when rate <= 16 kHz).")
    ] = Mode.auto,
    metric: Annotated[
        Metric, typer.Option(help="p862 (ITU-T P.862 speech quality) or visqol (ViSQOL v3: "
                             "fullband audio and music, or speech).")
    ] = Metric.p862,
    as_json: Annotated[bool, typer.Option("--json", help="Print the full result as JSON.")] = False,
    timeline: Annotated[bool, typer.Option(
        "--timeline", help="Print MOS per utterance (and per window or occurrence).")] = False,
    locate: Annotated[bool, typer.Option(
        "--locate", help="DEGRADED is a longer recording: find and score every occurrence "
        "of REFERENCE in it.")] = False,
    plot: Annotated[Path | None, typer.Option(
        "--plot", help="Write a picture of the result (PNG/SVG/PDF by extension).",
        dir_okay=False)] = None,
    window: Annotated[float, typer.Option(
        "--window", min=1.0, help="Seconds of speech per window for long recordings.")] = 10.0,
    alignment: Annotated[Alignment, typer.Option(help=ALIGNMENT_HELP)] = Alignment.reference,
) -> None:
    """Score DEGRADED against REFERENCE and print MOS-LQO, its label, raw score, delays and
    diagnostics (with hints when a figure is out of the normal range)."""
    from perceptq.recording import diagnostics as diag
    from perceptq.recording import timeline as tl

    if metric is Metric.p862 and mode in (Mode.audio, Mode.speech):
        raise fail(f"--mode {mode.value}: a ViSQOL mode; add --metric visqol (P.862 modes: "
                   "auto, nb, wb)")
    try:
        result = api.score(reference, degraded, mode=mode.value, metric=metric.value,
                           locate=locate, window_s=window, alignment=alignment.value)
    except PerceptqError as exc:
        raise fail(str(exc)) from None
    except ValueError as exc:  # a mode or option the metric does not have
        raise fail(str(exc)) from None
    if plot is not None:
        from perceptq.report.plot import plot_score

        try:
            plot_score(result, reference, degraded, plot)
        except (OSError, ValueError) as exc:
            raise fail(f"{plot}: cannot write the plot ({exc})") from None
    if as_json:
        typer.echo(json.dumps(result.to_dict()))
        return
    typer.echo(f"MOS-LQO   {result.mos:.3f}  ({result.category})")
    if result.metric == "visqol":
        _print_visqol(result)
    else:
        _print_p862(result)
    for line in diag.format_lines(result.diagnostics):
        typer.echo(line)
    if timeline:
        typer.echo(tl.format_table(result.timeline))
    if plot is not None:
        typer.echo(f"plot      {plot}")
    for w in result.warnings:
        err_console.print(f"perceptq: warning: {w}", markup=False)


def _print_visqol(result) -> None:
    typer.echo(f"VNSIM     {result.raw:.4f}")
    typer.echo(f"metric    ViSQOL v3, {result.mode} mode @ {result.sample_rate} Hz")
    typer.echo(f"delay ms  {result.mean_delay_ms:.1f}")
    sims = result.band_similarity
    worst = int(sims.argmin())
    typer.echo(f"bands     {len(sims)}, similarity {sims.min():.3f} .. {sims.max():.3f} "
               f"(lowest at {result.band_center_hz[worst]:.0f} Hz)")
    if result.alignment_uncertain:
        typer.echo("uncertain yes: another global delay fits the pair as well, within "
                   "single-precision rounding (alignment_uncertain)")


def _print_p862(result) -> None:
    typer.echo(f"raw       {result.raw:.3f}")
    typer.echo(f"mode      {result.mode} @ {result.sample_rate} Hz")
    if len(result.utterances) <= 12:
        delays = ", ".join(f"{u.delay_ms:.1f}" for u in result.utterances)
    else:
        d = [u.delay_ms for u in result.utterances]
        delays = f"{min(d):.1f} .. {max(d):.1f}, mean {sum(d) / len(d):.1f}"
    typer.echo(f"delay ms  {delays}  ({len(result.utterances)} utterance(s))")
    if result.reference_unstable:
        typer.echo("unstable  yes: the ITU reference's score of this pair depends on its float32 "
                   "rounding (reference_unstable; try --alignment stable)")
    elif result.alignment != "reference":
        typer.echo(f"alignment {result.alignment}")
    for occ in result.occurrences:
        typer.echo(f"found at  {occ['offset_s']:.3f} s  MOS {occ['mos']:.3f} ({occ['category']})")
    if result.windows:
        w = [r["mos"] for r in result.windows]
        typer.echo(f"windows   {len(w)}, MOS {min(w):.2f} .. {max(w):.2f}")


def register(app: typer.Typer) -> None:
    """Add ``score`` to the perceptq CLI."""
    app.command("score", cls=Command)(score)
