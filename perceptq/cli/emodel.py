"""``perceptq emodel`` and ``perceptq rtp``: network MOS (G.107 E-model) from statistics
and from packet captures, beside the perceptual score.

``emodel`` and the helpers both commands use are here; ``rtp`` is :mod:`perceptq.cli.rtp`.
Exit codes: 0 ok; 1 some calls/streams failed; 2 bad usage or unreadable input;
3 a MOS fell below ``--fail-below``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated, Any

import typer

from perceptq.cli.common import (
    EXIT_OK,
    EXIT_SOME_FAILED,
    EXIT_THRESHOLD,
    Command,
    UsageError,
    err_console,
    fail,
    write_table,
)
from perceptq.result import _jsonable  # NaN → null, numpy scalars → numbers

#: Columns ``emodel --input`` adds to the table, after the input's own columns.
EMODEL_COLUMNS = [
    "r",
    "mos",
    "category",
    "status",
    "error",
    "r_loss_delay",
    "r_loss_codec",
    "r_loss_packet",
    "r_loss_other",
    "warnings",
]
#: Input columns understood by ``emodel --input`` (first match wins) → rate_network keyword.
INPUT_COLUMNS = {
    "codec": ("codec",),
    "loss_pct": ("loss_pct", "loss"),
    "burst_ratio": ("burst_ratio", "burstr"),
    "loss_pattern": ("loss_pattern",),
    "delay_ms": ("delay_ms", "delay"),
    "jitter_ms": ("jitter_ms", "jitter"),
    "jitter_buffer_ms": ("jitter_buffer_ms", "jitter_buffer"),
    "packet_ms": ("packet_ms",),
    "ie": ("ie",),
    "bpl": ("bpl",),
    "advantage": ("advantage",),
}



def _pattern(text: str) -> list[bool]:
    bits = text.replace(" ", "").replace(",", "")
    if not bits or set(bits) - {"0", "1"}:
        raise UsageError(f"loss pattern {text!r}: expected 0/1 per packet (1 = lost), e.g. 0011000")
    return [b == "1" for b in bits]


def _float_or_nan(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


# --- perceptq emodel ---------------------------------------------------------------------


def _print_result(res: Any) -> None:
    net, inp = res.network, res.inputs
    typer.echo(f"R          {res.r:6.2f}")
    typer.echo(f"MOS-CQE    {res.mos:6.2f}  ({res.category})")
    typer.echo("R points lost to")
    source = {"RFC 3551 default": " (RFC 3551 default)", "none": " (none given)"}
    typer.echo(
        f"  delay          {res.r_loss_delay:6.2f}  mouth-to-ear {net['mouth_to_ear_ms']:.0f} ms"
        f" = network {net['delay_ms']:g} + jitter buffer {net['jitter_buffer_ms']:g}"
        f" + packet {net['packet_ms']:g}{source.get(net['packet_source'], '')}"
    )
    typer.echo(
        f"  codec          {res.r_loss_codec:6.2f}  {net['codec'] or 'given'}, Ie {inp.ie:g}"
    )
    bpl = f"Bpl {net['bpl']:g}" if net["bpl"] is not None else "no Bpl (none needed: no loss)"
    typer.echo(
        f"  packet loss    {res.r_loss_packet:6.2f}  {net['total_loss_pct']:.2f} % "
        f"(network {net['network_loss_pct']:.2f} + late {net['late_loss_pct']:.2f}), "
        f"burst ratio {net['burst_ratio']:.2f}, {bpl}"
    )
    typer.echo(f"  other          {res.r_loss_other:6.2f}  noise, loudness, sidetone, quantisation")
    for warning in res.warnings:
        err_console.print(f"perceptq: warning: {warning}", markup=False)


def _missing_bpl(exc: Any, where: str) -> str:
    """The missing-Bpl error in command-line words."""
    return (
        f"codec {exc.codec or '?'} has no packet-loss robustness Bpl in the codec table; "
        f"give one with {where} to rate a call with packet loss"
    )


def _rate_rows(table: Any, defaults: dict[str, Any]) -> Any:
    from perceptq.network.emodel import EModelError, MissingBplError
    from perceptq.network.transport import rate_network

    columns = {c.lower().strip(): c for c in table.columns}
    rows = []
    for number, record in enumerate(table.to_dict("records"), start=2):
        kwargs = dict(defaults)
        out = dict.fromkeys(EMODEL_COLUMNS, math.nan) | {"warnings": ""}
        try:
            for key, names in INPUT_COLUMNS.items():
                col = next((columns[n] for n in names if n in columns), None)
                cell = "" if col is None else str(record[col]).strip()
                if not cell:
                    continue
                if key == "codec":
                    kwargs[key] = cell
                elif key == "loss_pattern":
                    kwargs[key] = _pattern(cell)
                else:
                    value = _float_or_nan(cell)
                    if math.isnan(value):
                        raise UsageError(f"column {col!r}: {cell!r} is not a number")
                    kwargs[key] = value
            res = rate_network(**kwargs)
            out.update(r=res.r, mos=res.mos, category=res.category, status="ok", error="")
            out.update(res.breakdown(), warnings="; ".join(res.warnings))
        except MissingBplError as exc:
            message = _missing_bpl(exc, "a bpl column or --bpl")
            out.update(category="", status="error", error=f"line {number}: {message}")
        except (EModelError, UsageError) as exc:
            out.update(category="", status="error", error=f"line {number}: {exc}")
        rows.append({**record, **out})
    import pandas as pd

    return pd.DataFrame(rows, columns=[*table.columns, *EMODEL_COLUMNS])


def _read_calls(path: Path) -> Any:
    import pandas as pd

    if path.is_dir():
        raise UsageError(f"{path}: is a folder, expected a CSV table of calls")
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    except FileNotFoundError:
        raise UsageError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        reason = " ".join(str(exc).split())
        raise UsageError(f"{path}: not a readable CSV table ({reason})") from None
    table.columns = [str(c).strip() for c in table.columns]
    clash = [c for c in table.columns if c in EMODEL_COLUMNS]
    if clash:
        raise UsageError(
            f"{path}: column(s) {', '.join(clash)} clash with output columns; rename them")
    if table.empty:
        raise UsageError(f"{path}: table has no rows")
    return table



def _table_mode(
    input_: Path,
    output: Path | None,
    group_by: str | None,
    fail_below: float | None,
    defaults: dict[str, Any],
) -> int:
    from perceptq.batch.summary import below, format_summary, summarise

    table = _read_calls(input_)
    groups = [c.strip() for c in (group_by or "").split(",") if c.strip()]
    unknown = [c for c in groups if c not in table.columns and c != "category"]
    if unknown:
        usable = ", ".join([*table.columns, "category"])
        raise UsageError(f"--group-by: unknown column(s) {', '.join(unknown)} (usable: {usable})")
    if output is not None:
        from perceptq.batch.table import table_format

        try:
            table_format(output)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
    df = _rate_rows(table, defaults)
    write_table(df, output)
    say = typer.echo if output is not None else (lambda t: err_console.print(t, markup=False))
    say(format_summary(summarise(df, group_by=groups or None)))
    errors = df[df["status"] != "ok"]
    for message in errors["error"].head(10):
        err_console.print(f"perceptq: error row: {message}", markup=False)
    warned = df[[isinstance(w, str) and w != "" for w in df["warnings"]]]
    for number, message in zip(warned.index[:10], warned["warnings"].head(10), strict=True):
        err_console.print(f"perceptq: warning: line {number + 2}: {message}", markup=False)
    if fail_below is not None:
        low = below(df, fail_below)
        if len(low):
            say(f"{len(low)} call(s) below MOS {fail_below:g}:")
            for number, row in low.iterrows():
                say(f"  {row['mos']:.3f}  {_call_label(row, number, groups)}")
            return EXIT_THRESHOLD
    return EXIT_SOME_FAILED if len(errors) else EXIT_OK


EMODEL_HELP = "\n\n".join([
    "Network MOS (ITU-T G.107 E-model, MOS-CQE) from loss, burst ratio, delay, jitter and "
    "codec.",
    "Prints R, MOS-CQE, its category and the R points lost to delay, codec, packet loss and "
    "the rest. Mouth-to-ear delay = --delay + jitter buffer + one packet; packets later than "
    "the jitter buffer count as lost (Gaussian transit-time model, see "
    "perceptq.network.transport).",
    "With --input, rates every row of a CSV of calls (missing cells take the options' "
    "values), writes the table and a summary, and with --fail-below lists the calls below it.",
    "Exit codes: 0 ok; 1 some rows failed; 2 bad usage or input; 3 a MOS below --fail-below.",
])
#: Columns that name a call in the --fail-below listing, first found wins.
ID_COLUMNS = ("call_id", "call", "id", "name")


def _call_label(row: Any, index: int, groups: list[str]) -> str:
    """``line N`` of the input (header = line 1), its id column, group and codec."""
    parts = [f"line {index + 2}"]
    ident = next((c for c in ID_COLUMNS if c in row.index and str(row[c]).strip()), None)
    shown = [c for c in [ident, *groups, "codec"] if c and c in row.index]
    parts += [f"{c} {row[c]}" for c in dict.fromkeys(shown) if str(row[c]).strip()]
    return "  ".join(parts)


_O = typer.Option
_EM_HELP = {
    "codec": "Codec (g711, g711-noplc, g729a, g723.1, ...).",
    "loss_pattern": "Per-packet 0/1 loss pattern; sets loss and burst ratio (Gilbert model).",
    "jitter_buffer": "Jitter-buffer delay, ms (default max(2 x jitter, one packet)).",
    "input": "CSV of calls, one per row (columns codec, loss, burst_ratio, delay, jitter, ...).",
    "output": "With --input: result table (.csv, .jsonl, .parquet); default CSV on stdout.",
    "group_by": "With --input: summarise per column(s), comma-separated.",
}


def emodel_command(
    codec: Annotated[str, _O(help=_EM_HELP["codec"])] = "g711",
    loss: Annotated[float, _O(help="Network packet loss, percent.")] = 0.0,
    burst_ratio: Annotated[float | None, _O(help="Burst ratio BurstR (1 = random).")] = None,
    loss_pattern: Annotated[str | None, _O(help=_EM_HELP["loss_pattern"])] = None,
    delay: Annotated[float, _O(help="One-way network delay, ms.")] = 0.0,
    jitter: Annotated[float, _O(help="RFC 3550 interarrival jitter, ms.")] = 0.0,
    jitter_buffer: Annotated[float | None, _O(help=_EM_HELP["jitter_buffer"])] = None,
    packet_ms: Annotated[float | None, _O(help="Packet interval, ms (default: codec's).")] = None,
    ie: Annotated[float | None, _O(help="Equipment impairment Ie (overrides codec).")] = None,
    bpl: Annotated[float | None, _O(help="Packet-loss robustness Bpl (overrides codec).")] = None,
    advantage: Annotated[float, _O(help="Advantage factor A.")] = 0.0,
    as_json: Annotated[bool, _O("--json", help="Print the full result as JSON.")] = False,
    input_: Annotated[Path | None, _O("--input", help=_EM_HELP["input"])] = None,
    output: Annotated[Path | None, _O("--output", "-o", help=_EM_HELP["output"])] = None,
    group_by: Annotated[str | None, _O(help=_EM_HELP["group_by"])] = None,
    fail_below: Annotated[float | None, _O(help="With --input: exit 3 below this MOS.")] = None,
) -> None:
    """Network MOS of a call, or of every row of ``--input`` (see ``EMODEL_HELP``)."""
    from perceptq.network.emodel import EModelError, MissingBplError
    from perceptq.network.transport import rate_network

    defaults = {
        "codec": codec,
        "loss_pct": loss,
        "burst_ratio": burst_ratio,
        "delay_ms": delay,
        "jitter_ms": jitter,
        "jitter_buffer_ms": jitter_buffer,
        "packet_ms": packet_ms,
        "ie": ie,
        "bpl": bpl,
        "advantage": advantage,
    }
    try:
        if input_ is not None:
            raise typer.Exit(_table_mode(input_, output, group_by, fail_below, defaults))
        if output is not None or group_by or fail_below is not None:
            raise UsageError("--output, --group-by and --fail-below need --input")
        if loss_pattern is not None:
            defaults["loss_pattern"] = _pattern(loss_pattern)
        res = rate_network(**defaults)
    except MissingBplError as exc:
        raise fail(_missing_bpl(exc, "--bpl")) from None
    except (UsageError, EModelError) as exc:
        raise fail(str(exc)) from None
    if as_json:
        typer.echo(json.dumps(_jsonable(res.to_dict())))
    else:
        _print_result(res)


def register(app: typer.Typer) -> None:
    """Add ``emodel`` to the perceptq CLI."""
    app.command("emodel", help=EMODEL_HELP, cls=Command)(emodel_command)
