"""``perceptq rtp``: RTP streams and SIP calls of a packet capture, their network MOS
(G.107 / G.107.1 E-model) and, with a reference, the perceptual score of their decoded audio.

Exit codes: 0 ok; 1 some stream could not be rated or scored; 2 bad usage, unreadable or
RTP-less capture. Registered by :func:`perceptq.cli.emodel.register`.
"""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path
from typing import Annotated, Any

import typer

from perceptq.cli.common import (
    EXIT_SOME_FAILED,
    Command,
    UsageError,
    err_console,
    fail,
    write_table,
)
from perceptq.result import _jsonable  # NaN → null, numpy scalars → numbers

#: Columns of the stream table (``--output``/``--json``), in order.
STREAM_COLUMNS = [
    "capture",
    "ssrc",
    "src",
    "dst",
    "payload_type",
    "codec",
    "packets",
    "expected",
    "lost",
    "loss_pct",
    "burst_ratio",
    "jitter_ms",
    "duration_s",
    "r",
    "mos",
    "category",
]


def _ports(text: str | None) -> set[int] | None:
    if not text:
        return None
    ports: set[int] = set()
    for part in text.split(","):
        lo, _, hi = part.strip().partition("-")
        try:
            a, b = int(lo), int(hi or lo)
        except ValueError:
            raise UsageError(
                f"--ports {text!r}: expected numbers or ranges, e.g. 5004,16384-16482"
            ) from None
        if not (0 < a <= b < 65536):
            raise UsageError(f"--ports {text!r}: ports must lie in 1 … 65535")
        ports.update(range(a, b + 1))
    return ports


def _fmt(value: Any, spec: str) -> str:
    if isinstance(value, float) and math.isnan(value):
        return "-"
    return format(value, spec)


def _print_streams(streams: list[Any], perceptual: bool) -> None:
    header = [
        "ssrc",
        "src -> dst",
        "codec",
        "packets",
        "expected",
        "lost",
        "loss %",
        "burst",
        "jitter ms",
        "dur s",
        "R",
        "MOS-CQE",
        "category",
    ]
    if perceptual:
        header.append("MOS-LQO")
    header += ["scale", "jit mean", "jit max", "max delta", "clock", "ptime", "dscp", "RTT ms"]
    rows = []
    for s in streams:
        row = [
            f"{s.ssrc:#010x}",
            f"{s.src} -> {s.dst}",
            s.codec,
            str(s.packets),
            str(s.expected),
            str(s.lost),
            _fmt(s.loss_pct, ".2f"),
            _fmt(s.burst_ratio, ".2f"),
            _fmt(s.jitter_ms, ".2f"),
            _fmt(s.duration_s, ".1f"),
            _fmt(s.r, ".1f"),
            _fmt(s.mos, ".2f"),
            s.category or "-",
        ]
        if perceptual:
            row.append(_fmt(s.perceptual_mos, ".2f"))
        row += [
            s.rating or "-",
            _fmt(s.jitter_mean_ms, ".3f"),
            _fmt(s.jitter_max_ms, ".3f"),
            _fmt(s.max_delta_ms, ".3f"),
            str(s.clock_rate or "-"),
            _fmt(s.ptime_ms, "g"),
            str(s.dscp) + ("" if s.dscp == 46 else "!"),
            _fmt(s.rtcp_rtt_ms, ".1f"),
        ]
        rows.append(row)
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for r in [header, *rows]:
        typer.echo(
            "  ".join(
                c.ljust(w) if i < 3 else c.rjust(w)
                for i, (c, w) in enumerate(zip(r, widths, strict=True))
            ).rstrip()
        )


def _rtcp_summary(group: list[Any]) -> str:
    """What RTCP said about a call: round trip, far-end loss, sender packet counts."""
    parts = []
    rtts = [s.rtcp_rtt_ms for s in group if not math.isnan(s.rtcp_rtt_ms)]
    if rtts:
        parts.append(f"RTT {sum(rtts) / len(rtts):.1f} ms")
    far = [s.rtcp_far_loss_pct for s in group if not math.isnan(s.rtcp_far_loss_pct)]
    if far:
        parts.append(f"far loss {max(far):.1f} %")
    parts += [
        f"SR {s.rtcp_sr_packets} sent/{s.packets} seen" for s in group if s.rtcp_sr_packets >= 0
    ]
    mos_lq = [s.xr.get("xr_mos_lq", math.nan) for s in group]
    parts += [f"XR MOS-LQ {m:.1f}" for m in mos_lq if not math.isnan(m)]
    return ", ".join(parts) or "-"


def _print_calls(streams: list[Any], perceptual: bool) -> None:
    """One row per SIP call: both directions side by side (loss %, jitter, MOS)."""
    calls: dict[str, list[Any]] = {}
    for s in streams:
        if s.call_id:
            calls.setdefault(s.call_id, []).append(s)
    if not calls:
        return
    side_cols = ["loss %", "jit ms", "MOS"] + (["LQO"] if perceptual else [])
    header = ["call", "from -> to", "codec", "start s", "dur s", "SIP", "DSCP", "RTCP"]
    header += [f"{d} {c}" for d in ("fwd", "rev") for c in side_cols] + ["scale"]
    rows = []
    for call_id, group in calls.items():
        first = group[0]
        end, start = first.call_end_s, first.call_start_s
        dur = end - start if not (math.isnan(end) or math.isnan(start)) else math.nan
        codec = f"{first.codec}/{first.clock_rate or '?'} {_fmt(first.ptime_ms, 'g')} ms"
        dscp = "/".join(f"{s.dscp}{'' if s.dscp == 46 else '!'}" for s in group)
        sip_status = str(first.sip_status or "-")
        row = [call_id, f"{first.call_from} -> {first.call_to}", codec, _fmt(start, ".2f"),
               _fmt(dur, ".1f"), sip_status, dscp, _rtcp_summary(group)]  # fmt: skip
        for direction in ("caller->callee", "callee->caller"):
            x = next((s for s in group if s.direction == direction), None)
            if x is None:
                row += ["-"] * len(side_cols)
                continue
            row += [_fmt(x.loss_pct, ".2f"), _fmt(x.jitter_mean_ms, ".3f"), _fmt(x.mos, ".2f")]
            row += [_fmt(x.perceptual_mos, ".2f")] if perceptual else []
        rows.append([*row, first.rating or "-"])
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    typer.echo("")
    for r in [header, *rows]:
        typer.echo("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
    for call_id, group in calls.items():
        ua = group[0]
        typer.echo(f"{call_id}: caller UA {ua.caller_ua or '-'}; callee UA {ua.callee_ua or '-'}")
        for s in group:
            detail = _rtcp_detail(s)
            if detail:
                typer.echo(f"{call_id} {s.direction}: {detail}")


def _rtcp_detail(s: Any) -> str:
    """RTCP and RTCP-XR figures about one stream, beside perceptq's own."""
    parts = []
    if not math.isnan(s.rtcp_rtt_ms):
        parts.append(f"RTCP RTT {s.rtcp_rtt_ms:.1f} ms")
    if not math.isnan(s.rtcp_far_loss_pct):
        parts.append(
            f"receiver reports loss {s.rtcp_far_loss_pct:.1f} % (perceptq {s.loss_pct:.1f} %), "
            f"jitter {_fmt(s.rtcp_far_jitter_ms, '.1f')} ms (perceptq {_fmt(s.jitter_ms, '.1f')})"
        )
    x = s.xr or {}
    if not math.isnan(x.get("xr_loss_rate", math.nan)):
        parts.append(
            f"XR loss {100 * x['xr_loss_rate']:.1f} %, discard {100 * x['xr_discard_rate']:.1f} %, "
            f"burst {100 * x['xr_burst_density']:.0f} % x {x['xr_burst_duration_ms']} ms, "
            f"gap {x['xr_gap_duration_ms']} ms, RTT {x['xr_round_trip_ms']} ms, end system "
            f"{x['xr_end_system_delay_ms']} ms, R {_fmt(x['xr_r_factor'], 'g')}, "
            f"MOS-LQ {_fmt(x['xr_mos_lq'], 'g')}, MOS-CQ {_fmt(x['xr_mos_cq'], 'g')} "
            f"(perceptq {_fmt(s.mos, '.2f')}), JB {x['xr_jb_nominal_ms']}/"
            f"{x['xr_jb_maximum_ms']}/{x['xr_jb_abs_max_ms']} ms"
        )
    if s.delay_source.startswith("RTCP"):
        parts.append(f"E-model delay {s.delay_ms:.1f} ms one way = {s.delay_source}")
    return "; ".join(parts)


RTP_HELP = "\n\n".join(
    [
        "RTP streams and SIP calls of a capture: loss, burst ratio, jitter, RTCP and network MOS "
        "(G.107 E-model; G.107.1 for wideband codecs).",
        "Streams are grouped into calls by the SIP/SDP in the capture, else found per SSRC on "
        "--ports or by a heuristic. The one-way network delay is --delay, else RTT/2 from RTCP "
        "when measured, else 0; the jitter buffer is modelled as for "
        "perceptq emodel. With --reference the streams are decoded and scored with the "
        "perceptual model, and both MOS are printed side by side.",
        "Exit codes: 0 ok; 1 some stream could not be rated or scored; 2 bad usage, unreadable "
        "or RTP-less capture.",
    ]
)
_O = typer.Option
_RTP_HELP = {
    "ports": "UDP ports carrying RTP, e.g. 5004,16384-16482 (default: detect).",
    "payload_type": "Dynamic payload type N=codec or N=codec/clock, e.g. 96=pcmu (repeatable).",
    "output": "Also write the stream table (.csv, .jsonl, .parquet).",
    "conceal": "When decoding audio (--extract, --reference): fill each lost packet "
    "with a repeat of the last received one instead of silence. This changes the written "
    "WAV files and the MOS-LQO scored with --reference, not the network MOS-CQE.",
    "reference": "Reference speech: score the decoded audio (MOS-LQO; P.862.2 wideband for "
    "wideband codecs) beside the network MOS.",
    "extract": "Write each decodable stream to DIR as WAV (G.711, G.722, G.729, GSM, iLBC, "
    "Speex, Opus, AMR; all but G.711 need perceptq[codecs]).",
    "delay": "One-way network delay for the E-model, ms (default: RTT/2 from RTCP, else 0).",
    "min_packets": "Skip streams with fewer packets (default: report all, short ones noted).",
}


def rtp_command(
    capture: Annotated[Path, typer.Argument(help="Packet capture (.pcap or .pcapng).")],
    ports: Annotated[str | None, _O(help=_RTP_HELP["ports"])] = None,
    payload_type: Annotated[list[str] | None, _O(help=_RTP_HELP["payload_type"])] = None,
    delay: Annotated[float | None, _O(help=_RTP_HELP["delay"])] = None,
    min_packets: Annotated[int | None, _O(help=_RTP_HELP["min_packets"])] = None,
    as_json: Annotated[bool, _O("--json", help="Print the stream table as JSON.")] = False,
    output: Annotated[Path | None, _O("--output", "-o", help=_RTP_HELP["output"])] = None,
    extract: Annotated[Path | None, _O(help=_RTP_HELP["extract"])] = None,
    conceal: Annotated[bool, _O("--conceal", help=_RTP_HELP["conceal"])] = False,
    reference: Annotated[Path | None, _O(help=_RTP_HELP["reference"])] = None,
) -> None:
    """RTP streams of a capture and their network MOS (see ``RTP_HELP``)."""
    from perceptq.network import calls, rtp

    try:
        port_set = _ports(ports)
        if delay is not None and not (math.isfinite(delay) and delay >= 0):
            raise UsageError(f"--delay {delay!r}: expected a one-way delay in ms, >= 0")
        pts = dict(rtp.parse_payload_type(s) for s in payload_type or [])
        if reference is not None and not reference.is_file():
            raise UsageError(f"{reference}: reference file not found")
        report = calls.analyse_calls(
            capture,
            ports=port_set,
            payload_types=pts,
            min_packets=min_packets,
            delay_ms=delay,
            keep_packets=extract is not None or reference is not None,
        )
    except (UsageError, rtp.CaptureError) as exc:
        raise fail(str(exc)) from None
    if not report.streams:  # one line: the reason (SIP calls without media folded in)
        raise fail(report.notes[-1] if report.notes else f"{capture}: no RTP stream found")
    streams = report.streams
    failed = sum(math.isnan(s.mos) for s in streams)
    if extract is not None or reference is not None:
        from perceptq.network import decode

        with tempfile.TemporaryDirectory() as tmp:
            try:
                wavs = decode.extract_streams(report, extract or tmp, conceal=conceal)
            except OSError as exc:
                raise fail(f"{extract}: cannot write audio ({exc.strerror or exc})") from None
            if extract is not None:
                for path, _, _ in wavs.values():
                    err_console.print(f"perceptq: wrote {path}", markup=False)
            if reference is not None:
                from perceptq import api

                for s in streams:
                    wav = wavs.get((s.ssrc, s.src, s.dst))
                    failed += wav is None  # not decodable: no audio to score
                    if wav is not None:
                        mode = "wb" if wav[2] else "nb"  # P.862.2 for wideband codecs
                        result = _score_audio(api, reference, wav[0], mode, s.ssrc, report.notes)
                        if result is None:
                            failed += 1
                        else:
                            s.perceptual_mos, s.reference_match = result
                            s.perceptual_mode = mode
    for note in report.notes + [f"SSRC {s.ssrc:#010x}: {s.note}" for s in streams if s.note]:
        err_console.print(f"perceptq: note: {note}", markup=False)
    full = [s.to_row() for s in streams]
    columns = STREAM_COLUMNS + [
        c
        for c in full[0]
        if c not in STREAM_COLUMNS
        and (
            c not in ("perceptual_mos", "perceptual_mode", "reference_match")
            or reference is not None
        )
    ]
    rows = [{c: row[c] for c in columns} for row in full]
    if output is not None:
        import pandas as pd

        try:
            write_table(pd.DataFrame(rows, columns=columns), output)
        except (UsageError, ValueError) as exc:
            raise fail(str(exc)) from None
    if as_json:
        typer.echo(json.dumps(_jsonable(rows)))
    else:
        _print_streams(streams, reference is not None)
        _print_calls(streams, reference is not None)
    if failed:
        raise typer.Exit(EXIT_SOME_FAILED)


def _score_audio(
    api: Any, reference: Path, wav: Any, mode: str, ssrc: int, notes: list[str]
) -> tuple[float, float] | None:
    """(MOS-LQO, reference match) of a stream's decoded audio; None and a note when it
    cannot be scored. A stream that does not seem to carry the reference gets a warning."""
    from perceptq.errors import PerceptqError
    from perceptq.recording import match

    try:
        result = api.score(reference, wav, mode=mode)
    except PerceptqError as exc:
        notes.append(f"SSRC {ssrc:#010x}: not scored: {exc}")
        return None
    for warning in match.warnings(result.diagnostics):
        err_console.print(f"perceptq: warning: SSRC {ssrc:#010x}: {warning}", markup=False)
    return result.mos, result.diagnostics.get("reference_match", {}).get("value", math.nan)


def register(app: typer.Typer) -> None:
    """Add ``rtp`` to the perceptq CLI."""
    app.command("rtp", help=RTP_HELP, cls=Command)(rtp_command)
