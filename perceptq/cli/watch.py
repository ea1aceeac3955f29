"""``perceptq watch INBOX``: score test calls as they arrive, keep history, raise alerts.

Exit codes (with ``--once``, as ``perceptq batch``): 0 every call scored; 1 some calls
could not be scored (error rows); 2 bad usage or unusable inbox, reference or database;
3 an alert episode opened during the run (takes precedence over 1); 130 interrupted.
Without ``--once`` the service runs until Ctrl-C or SIGTERM and then exits with 0.
"""

from __future__ import annotations

import math
import re
import signal
import sqlite3
from pathlib import Path
from typing import Annotated, Any

import typer

from perceptq.cli.common import EXIT_SOME_FAILED, EXIT_THRESHOLD, Command, err_console, fail

EXIT_INTERRUPTED = 130
_O = typer.Option

_HELP = "\n\n".join([
    "Score every new recording under INBOX as soon as it is complete, keep the results in "
    "a SQLite history (--db) and raise alerts once per episode.",
    "A file is complete when its size and modification time (and those of its sidecar "
    "NAME.json) have not changed for --settle seconds. Recordings are scored against "
    "--reference, or paired under --reference-dir with batch's rules; .pcap/.pcapng "
    "captures are analysed like 'perceptq rtp'. Metadata comes from --pattern and from the "
    "sidecar (its 'time' is the call time, else the file's mtime). A file is scored once "
    "per content (path, size and mtime); other files are skipped, with the reason on "
    "stderr and in the database's 'skipped' table.",
    "Alert episodes follow the report's rule (--alert-below, --alert-min-count, "
    "--alert-window, per --group-by); each opening and closing is notified once to "
    "--alerts-jsonl, --webhook and/or --alert-command.",
    "Exit codes with --once: 0 every call scored; 1 some calls failed; 2 bad usage or "
    "input; 3 an alert episode opened; 130 interrupted. Without --once the service runs "
    "until Ctrl-C or SIGTERM and exits with 0.",
])  # fmt: skip


def _split(text: str | None) -> tuple[str, ...]:
    return tuple(c.strip() for c in (text or "").split(",") if c.strip())


def _config(**o: Any) -> Any:
    """Check the options; build the service configuration (raises WatchInputError)."""
    from perceptq.monitor.episodes import Rule
    from perceptq.monitor.inbox import Pattern
    from perceptq.monitor.service import WatchConfig, WatchInputError
    from perceptq.report.alerts import parse_window

    inbox: Path = o["inbox"]
    if not inbox.is_dir():
        raise WatchInputError(f"{inbox}: inbox folder not found")
    if o["reference"] is not None and o["reference_dir"] is not None:
        raise WatchInputError("give either --reference or --reference-dir, not both")
    if o["reference"] is not None and not o["reference"].is_file():
        raise WatchInputError(f"{o['reference']}: reference file not found")
    if o["reference_dir"] is not None and not o["reference_dir"].is_dir():
        raise WatchInputError(f"{o['reference_dir']}: reference folder not found")
    if not (math.isfinite(o["settle"]) and o["settle"] >= 0):
        raise WatchInputError(f"--settle {o['settle']!r}: expected seconds >= 0")
    if o["poll"] is not None and not (math.isfinite(o["poll"]) and o["poll"] > 0):
        raise WatchInputError(f"--poll {o['poll']!r}: expected seconds > 0")
    if o["webhook"] and not o["webhook"].lower().startswith(("http://", "https://")):
        raise WatchInputError(f"--webhook {o['webhook']!r}: expected an http:// or https:// URL")
    group_by = _split(o["group_by"])
    bad = [n for n in group_by if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", n)]
    if bad:
        raise WatchInputError(f"--group-by: {', '.join(bad)} cannot be column name(s)")
    try:
        window = parse_window(o["alert_window"]).total_seconds()
        pattern = Pattern(o["pattern"]).text if o["pattern"] else None
    except ValueError as exc:
        raise WatchInputError(str(exc)) from None
    db = o["db"] or Path("perceptq.sqlite")
    if db.is_dir() or not db.resolve().parent.is_dir():
        raise WatchInputError(f"{db}: cannot create the database there")
    jobs = o["jobs"]
    if jobs is None:
        from perceptq.batch.runner import default_jobs

        jobs = default_jobs()
    return WatchConfig(
        inbox=str(inbox), db=str(db),
        reference=str(o["reference"]) if o["reference"] else None,
        reference_dir=str(o["reference_dir"]) if o["reference_dir"] else None,
        locate=o["locate"], mode=o["mode"], metric=o["metric"], jobs=jobs,
        settle_s=o["settle"], poll_s=o["poll"], once=o["once"], pattern=pattern,
        rule=Rule(o["alert_below"], o["alert_min_count"], window, group_by),
        alerts_jsonl=str(o["alerts_jsonl"]) if o["alerts_jsonl"] else None,
        webhook=o["webhook"], alert_command=o["alert_command"],
    )  # fmt: skip


def _call_line(row: dict[str, Any]) -> str:
    where = row.get("degraded", "")
    if row.get("stream"):
        where += f" [{row['stream']}]"
    if row.get("status") != "ok":
        return f"error  {where}: {row.get('error')}"
    mos = row.get("mos")
    if mos is None or (isinstance(mos, float) and math.isnan(mos)):
        return f"  -    {where} (network MOS {row.get('net_mos')}, no perceptual score)"
    return f"{mos:5.2f}  {row.get('category')}  {where}"


def watch(
    inbox: Annotated[Path, typer.Argument(help="Folder to watch (recursively).")],
    reference: Annotated[Path | None, _O(help="Reference (the prompt) for every call.")] = None,
    reference_dir: Annotated[
        Path | None, _O(help="Folder of references, paired like 'perceptq batch'.")
    ] = None,
    locate: Annotated[bool, _O(help="Recordings hold the reference somewhere inside.")] = False,
    metric: Annotated[str, _O(help="p862 (speech, as perceptq score) or visqol.")] = "p862",
    mode: Annotated[
        str, _O(help="p862: nb, wb or auto (wb at >= 16 kHz); visqol: audio, speech or auto.")
    ] = "auto",
    jobs: Annotated[int | None, _O(help="Worker processes (default: all cores).", min=1,
                                   show_default=False)] = None,
    db: Annotated[Path | None, _O(help="History database (default: ./perceptq.sqlite).",
                                  show_default=False)] = None,
    pattern: Annotated[
        str | None,
        _O(help="Fields from the path, e.g. {site}/{name}.wav; {name} is the file's stem."),
    ] = None,
    settle: Annotated[float, _O(help="Seconds a file must stay unchanged.")] = 2.0,
    poll: Annotated[
        float | None, _O(help="Poll every SECONDS instead of using file-system events.")
    ] = None,
    once: Annotated[bool, _O(help="Score what is there, then exit (batch's exit codes).")] = False,
    group_by: Annotated[str | None, _O(help="Alert and metric groups: columns, e.g. site.")] = None,
    alert_below: Annotated[float, _O(help="MOS below which a call counts for alerts.")] = 3.5,
    alert_min_count: Annotated[
        int, _O(help="Low calls of one group within the window that open an episode (0: off).",
                min=0)
    ] = 3,
    alert_window: Annotated[str, _O(help="Sliding window: 90s, 15min, 1h, 2d, ...")] = "1h",
    alerts_jsonl: Annotated[Path | None, _O(help="Append alert events to this file.")] = None,
    webhook: Annotated[str | None, _O(help="POST alert events (JSON) to this URL.")] = None,
    alert_command: Annotated[
        str | None, _O(help="Run this shell command per alert event, JSON on stdin.")
    ] = None,
    metrics_port: Annotated[
        int | None, _O(help="Serve Prometheus metrics on this port (/metrics).", min=0,
                       max=65535)
    ] = None,
    metrics_host: Annotated[str, _O(help="Address for --metrics-port.")] = "127.0.0.1",
    quiet: Annotated[bool, _O("--quiet", "-q", help="No progress or per-call lines.")] = False,
) -> None:
    """Watch INBOX and score test calls as they arrive (see ``_HELP``)."""
    from perceptq.batch.sqlite_table import HistoryDatabaseError
    from perceptq.monitor.inbox import PatternError
    from perceptq.monitor.service import Watcher, WatchInputError
    from perceptq.report.alerts import AlertSpecError

    def say(text: str) -> None:
        if not quiet:
            err_console.print(f"perceptq watch: {text}", markup=False, highlight=False)

    options = dict(locals())
    try:
        config = _config(**options)
        watcher = Watcher(config, say=say, call=lambda row: say(_call_line(row)))
        server = _serve_metrics(config, metrics_host, metrics_port, say)
    except (WatchInputError, PatternError, AlertSpecError, HistoryDatabaseError, OSError) as exc:
        raise fail(str(exc)) from None
    received: list[int] = []

    def stop(signum: int, _frame: Any) -> None:
        received.append(signum)
        watcher.request_stop()

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    how = f"polling every {config.poll_s:g} s" if config.poll_s else f"{watcher.waker.kind}"
    say(f"watching {config.inbox} ({how}, settle {config.settle_s:g} s, "
        f"{config.jobs} job(s)); history in {config.db}")  # fmt: skip
    try:
        stats = watcher.run()
    except (sqlite3.Error, OSError) as exc:  # the database or the inbox went away
        raise fail(f"watch stopped: {' '.join(str(exc).split())}") from None
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if server is not None:
            server.shutdown()
    say(f"stopped: {stats.scored} scored, {stats.errors} error(s), {stats.skipped} skipped, "
        f"{stats.opened} episode(s) opened, {stats.closed} closed")  # fmt: skip
    if not once:
        return
    if received:
        raise typer.Exit(EXIT_INTERRUPTED)
    if stats.opened:
        raise typer.Exit(EXIT_THRESHOLD)
    if stats.errors:
        raise typer.Exit(EXIT_SOME_FAILED)


def _serve_metrics(config: Any, host: str, port: int | None, say: Any) -> Any:
    if port is None:
        return None
    from perceptq.monitor.metrics import serve

    server = serve(config.db, host=host, port=port, group_by=config.rule.group_by,
                   rule=config.rule)  # fmt: skip
    say(f"metrics on http://{host}:{server.server_port}/metrics")
    return server


def register(app: typer.Typer) -> None:
    """Add the ``watch`` command to the perceptq CLI."""
    app.command("watch", help=_HELP, cls=Command)(watch)


__all__ = ["register", "watch"]
