"""``perceptq batch``: score folders or a manifest of pairs into a result table.

Exit codes: 0 every pair scored; 1 some pairs failed (error rows); 2 bad usage or an
unreadable input folder, manifest or output; 3 some pair scored below ``--fail-below``
(takes precedence over 1); 130 interrupted (rows written so far are kept).
"""

from __future__ import annotations

import math
import os
import time
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from perceptq.batch.pairing import (
    BatchInputError,
    PairSpec,
    ResumePlan,
    pairs_from_folders,
    pairs_from_manifest,
    plan_resume,
)
from perceptq.batch.runner import (
    WorkerStartError,
    default_jobs,
    score_many,
    start_workers_early,
    stop_workers,
)
from perceptq.batch.table import (
    DIAG_COLUMNS,
    RESULT_COLUMNS,
    ResultWriter,
    error_row,
    journal_path,
    read_results,
    rows_to_resume,
    table_format,
)
from perceptq.cli.common import ALIGNMENT_HELP, Alignment, Command, Mode

EXIT_INTERRUPTED = 130
#: How --mode is shown in the help: the choices, as ``perceptq score`` shows them (the
#: value is checked here, so that a bad one is a one-line error like every other).
MODE_CHOICES = "<" + "|".join(m.value for m in Mode) + ">"
#: Seconds between two plain progress lines (when stderr is not a terminal).
PROGRESS_INTERVAL_S = 10.0
#: Seconds to wait for a Dask scheduler to answer.
SCHEDULER_TIMEOUT_S = 15


# --- progress ----------------------------------------------------------------------------


class Progress:
    """Progress on stderr: a rich bar when interactive, else a plain line every so often."""

    def __init__(self, total: int, *, quiet: bool, interval_s: float = 10.0) -> None:
        from perceptq.cli.common import err_console

        self.total, self.done, self.errors = total, 0, 0
        self.quiet, self.interval_s = quiet, interval_s
        self.console = err_console
        self.start = self.last = self.first = time.monotonic()
        self.bar: Any = None

    def begin(self) -> None:
        """Start the clock (and the bar, on a terminal)."""
        self.start = self.last = time.monotonic()
        if not self.quiet and self.console.is_terminal and self.total:
            from rich import progress as bar

            self.bar = bar.Progress(
                bar.TextColumn("scoring"),
                bar.BarColumn(),
                bar.MofNCompleteColumn(),
                bar.TextColumn("{task.fields[rate]}"),
                bar.TextColumn("ETA"),
                bar.TimeRemainingColumn(),
                console=self.console,
            )
            self.task = self.bar.add_task("scoring", total=self.total, rate="")
            self.bar.start()

    def say(self, text: str) -> None:
        """Print a line on stderr (unless quiet)."""
        if not self.quiet:
            self.console.print(f"perceptq batch: {text}", markup=False, highlight=False)

    def rate(self) -> float:
        """Pairs per second since the first pair finished (start-up excluded)."""
        elapsed = time.monotonic() - self.first if self.done > 1 else 0.0
        return (self.done - 1) / elapsed if elapsed > 0 else 0.0

    def status(self, *, final: bool = False) -> str:
        """One line: done/total, errors, pairs per second, then ETA or the total time."""
        counts = f"{self.done}/{self.total} pairs, {self.errors} error(s)"
        if final:
            elapsed = time.monotonic() - self.start
            return f"{counts} in {elapsed:.1f} s"
        rate = self.rate()
        left = (self.total - self.done) / rate if rate > 0 else math.inf
        eta = f"ETA {left:.0f} s" if math.isfinite(left) else "ETA ?"
        return f"{counts}, {rate:.2f} pairs/s, {eta}"

    def advance(self, ok: bool) -> None:
        """Count one finished pair."""
        self.done += 1
        self.errors += not ok
        if self.done == 1:
            self.first = time.monotonic()
        if self.bar is not None:
            self.bar.update(self.task, advance=1, rate=f"{self.rate():.2f} pairs/s")
        elif time.monotonic() - self.last >= self.interval_s:
            self.last = time.monotonic()
            self.say(self.status())

    def stop(self) -> None:
        """Remove the bar."""
        if self.bar is not None:
            self.bar.stop()
            self.bar = None


# --- the command -------------------------------------------------------------------------


def default_output(folder: Path | None = None) -> Path:
    """A new CSV name in ``folder`` (default: the current folder) that does not exist yet."""
    folder = folder or Path.cwd()
    stem = f"perceptq-results-{datetime.now():%Y%m%d-%H%M%S}"
    path, n = folder / f"{stem}.csv", 1
    while path.exists() or Path(journal_path(path)).exists():
        n += 1
        path = folder / f"{stem}-{n}.csv"
    return path


def _resume(
    output: Path, columns: list[str], specs: list[PairSpec], extras: list[str]
) -> ResumePlan:
    """Match the rows of an earlier run's output to this run's input rows."""
    try:
        earlier = rows_to_resume(output, columns)
    except (OSError, ValueError) as exc:
        raise BatchInputError(f"cannot resume from {output}: {exc}") from None
    return plan_resume(specs, earlier, extras)


def _warn_stray(plan: ResumePlan, output: Path) -> None:
    if plan.stray:
        from perceptq.cli.common import err_console

        err_console.print(
            f"perceptq: warning: {len(plan.stray)} row(s) of {output} match no row of this "
            "batch's input (the manifest or the folders changed since that run): kept as "
            "they are, not scored again",
            markup=False,
        )


def _open_scheduler(address: str) -> Any:
    try:
        from distributed import Client
    except ImportError:
        raise BatchInputError(
            "--scheduler needs dask.distributed: pip install 'perceptq[dask]'"
        ) from None
    try:
        return Client(address, timeout=SCHEDULER_TIMEOUT_S)
    except Exception as exc:  # connection refused, timeout, bad address
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise BatchInputError(f"cannot connect to Dask scheduler {address!r}: {reason}") from None


def _row(result: Any, spec: PairSpec) -> dict[str, Any]:
    row = result.to_row()
    row.update(reference=spec.reference, degraded=spec.degraded, **spec.extras)
    row["file_path"] = spec.degraded_path  # the file's identity in a .sqlite history
    for column in ("error", "warnings"):
        row[column] = _as_given(row[column], spec)
    return row


def _as_given(message: str | None, spec: PairSpec) -> str | None:
    """A worker's message with the paths it opened (absolute) written as in the output's
    ``reference``/``degraded`` columns, so that a row names its files one way only."""
    if not message:
        return message
    opened = [(spec.reference_path, spec.reference), (spec.degraded_path, spec.degraded)]
    for path, given in sorted(opened, key=lambda pg: -len(pg[0])):
        if path and given:
            message = message.replace(path, given)
    return message


def run_batch(
    specs: list[PairSpec],
    output: Path,
    columns: list[str],
    *,
    keep: list[dict[str, Any]],
    mode: str,
    jobs: int | None,
    executor: Any,
    progress: Progress,
    metric: str = "p862",
    alignment: str = "reference",
    _scorer: Any = None,
) -> bool:
    """Score ``specs`` into ``output``; return False when interrupted by Ctrl-C."""
    try:
        writer = ResultWriter(output, columns, keep=keep)
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise BatchInputError(f"{output}: cannot write output ({reason})") from None
    todo = [s for s in specs if s.error is None]
    results = None
    progress.begin()
    try:
        for spec in specs:
            if spec.error is not None:
                folder = _folder(spec)
                row = error_row(spec.reference, spec.degraded, spec.error, spec.extras,
                                folder=folder)
                writer.write({**row, "metric": metric})
                progress.advance(ok=False)
        pairs = ({"reference": s.reference_path, "degraded": s.degraded_path} for s in todo)
        results = score_many(
            pairs, mode=mode, metric=metric, jobs=jobs, executor=executor, alignment=alignment,
            _scorer=_scorer,
        )
        for result in results:
            row = _row(result, todo[result.index])
            writer.write({**row, "metric": row.get("metric") or metric})
            progress.advance(ok=result.ok)
    except KeyboardInterrupt:
        return False
    finally:
        if results is not None:
            results.close()
        progress.stop()
        writer.close()
    return True


def _folder(spec: PairSpec) -> str:
    """The ``folder`` column of a pair: the folder name of the degraded file it opens."""
    return Path(spec.degraded_path).parent.name if spec.degraded_path else ""


def _summarise(output: Path, group_by: list[str], specs: list[PairSpec]) -> Any:
    from perceptq.batch.summary import summarise

    table = read_results(output)
    if table_format(output) == "sqlite":  # a shared history: this batch's rows only
        mine = {s.degraded for s in specs}
        table = table[(table["origin"] == "batch") & table["degraded"].isin(mine)]
    return table, summarise(table, group_by=group_by)


def _parse_group_by(text: str | None, columns: list[str]) -> list[str]:
    names = [c.strip() for c in (text or "").split(",") if c.strip()]
    unknown = [c for c in names if c not in columns]
    if unknown:
        extras = [c for c in columns if c not in RESULT_COLUMNS and c not in DIAG_COLUMNS]
        usable = ", ".join([*extras, "folder", "mode", "category"])
        raise BatchInputError(
            f"--group-by: unknown column(s) {', '.join(unknown)} (usable: {usable})"
        )
    return names


def batch(
    ref_dir: Annotated[
        Path | None, typer.Argument(help="Folder of reference (clean) files.", show_default=False)
    ] = None,
    deg_dir: Annotated[
        Path | None, typer.Argument(help="Folder of degraded files.", show_default=False)
    ] = None,
    manifest: Annotated[
        Path | None,
        typer.Option(
            "--manifest",
            help="CSV with columns reference, degraded (paths relative to the manifest's "
            "folder or absolute) and any others, which are copied to the output.",
        ),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="Result table: .csv, .jsonl or .parquet, or a .sqlite history shared with "
            "perceptq watch (rows are added to it). Default: a new CSV in the current folder, "
            "named perceptq-results- and the date and time.",
        ),
    ] = None,
    resume: Annotated[
        bool,
        typer.Option(
            "--resume",
            help="Keep the rows already scored (status ok) in --output and score the other "
            "input rows (a row is its paths and manifest columns; repeated rows count "
            "separately). Rows matching no input row are kept, with a warning."
        ),
    ] = False,
    jobs: Annotated[
        int | None,
        typer.Option(
            help="Worker processes (default: all cores); with --scheduler, pairs in flight "
            "are at most twice this.",
            min=1,
            show_default=False,
        ),
    ] = None,
    mode: Annotated[
        str,
        typer.Option(
            metavar=MODE_CHOICES,
            help="P.862: nb, wb, or auto (wb when rate >= 16 kHz). ViSQOL: audio, speech, "
            "or auto (speech when rate <= 16 kHz).",
        ),
    ] = "auto",
    metric: Annotated[
        str,
        typer.Option(
            metavar="<p862|visqol>",
            help="p862 (ITU-T P.862 speech quality) or visqol (ViSQOL v3, fullband audio "
            "and music, or speech). Written to the 'metric' column.",
        ),
    ] = "p862",
    alignment: Annotated[Alignment, typer.Option(help=ALIGNMENT_HELP)] = Alignment.reference,
    scheduler: Annotated[
        str | None,
        typer.Option(help="Run on this Dask distributed scheduler (e.g. tcp://host:8786)."),
    ] = None,
    group_by: Annotated[
        str | None,
        typer.Option(
            help="Summarise per group: manifest columns, or 'folder' (the degraded "
            "file's folder name); several separated by commas."
        ),
    ] = None,
    fail_below: Annotated[
        float | None,
        typer.Option(help="List the pairs with MOS below this value and exit with code 3."),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress, no summary.")] = False,
) -> None:
    """Score every pair of REF_DIR/DEG_DIR, or of a --manifest, into a result table."""
    from perceptq.cli.common import EXIT_SOME_FAILED, EXIT_THRESHOLD, fail

    client, jobs_given = None, jobs
    try:
        _check_options(mode, fail_below, resume, output, metric)
        if scheduler is None and jobs != 1:  # workers load the model while we read inputs
            start_workers_early(jobs)
        specs, extras = _collect_specs(ref_dir, deg_dir, manifest)
        columns = [*RESULT_COLUMNS, *extras, *DIAG_COLUMNS]
        groups = _parse_group_by(group_by, columns)
        output = output or default_output()
        _check_output(output)
        plan = _resume(output, columns, specs, extras) if resume else ResumePlan(todo=specs)
        keep, todo = plan.keep, plan.todo
        _warn_stray(plan, output)
        if jobs is None and sum(s.error is None for s in todo) <= 1:
            jobs = 1  # no worker processes to start for a single pair
        client = _open_scheduler(scheduler) if scheduler else None
        progress = Progress(len(todo), quiet=quiet, interval_s=PROGRESS_INTERVAL_S)
        skipped = f", {len(specs) - len(todo)} already done" if resume else ""
        progress.say(f"{len(todo)} pair(s) to score{skipped}, on {_where(scheduler, jobs)}")
        progress.say(f"writing {output}")
        # the summary's modules (pandas: 0.2 s) load now, while the workers' server still
        # loads its kernels, rather than after the last pair
        import perceptq.batch.summary  # noqa: F401
        finished = run_batch(
            todo,
            output,
            columns,
            keep=keep,
            mode=mode,
            jobs=jobs,
            alignment=alignment.value,
            executor=client.get_executor(pure=False) if client is not None else None,
            progress=progress,
            metric=metric,
            _scorer=_SCORER,
        )
        if not finished:
            raise KeyboardInterrupt
        progress.say(f"finished: {progress.status(final=True)}")
        stop_workers(wait=False)  # the pool is shut down: the server ends during the summary
        table, summary = _summarise(output, groups, specs)
    except BatchInputError as exc:
        raise fail(str(exc)) from None
    except WorkerStartError as exc:
        raise fail(f"{exc} (try --jobs 1)", EXIT_SOME_FAILED) from None
    except KeyboardInterrupt:
        if output is None or not output.exists():
            raise fail("interrupted before any pair was scored", EXIT_INTERRUPTED) from None
        command = _resume_command(
            ref_dir, deg_dir, manifest, output, jobs=jobs_given, mode=mode,
            alignment=alignment.value, scheduler=scheduler, group_by=group_by,
            fail_below=fail_below, quiet=quiet,
        )  # fmt: skip
        from perceptq.cli.common import err_console

        err_console.print(f"perceptq: to score the rest, run: {command}", markup=False)
        raise fail(
            f"interrupted: {output} keeps the rows written so far; run the same command "
            f"with --resume -o {output} to score the rest",
            EXIT_INTERRUPTED,
        ) from None
    finally:
        if client is not None:
            client.close()
        stop_workers()  # the pool is shut down: no process outlives the command
    n_below = _report(table, summary, output, fail_below=fail_below, quiet=quiet)
    if n_below:
        raise typer.Exit(EXIT_THRESHOLD)
    if summary["overall"]["errors"]:
        raise typer.Exit(EXIT_SOME_FAILED)


def _resume_command(
    ref_dir: Path | None, deg_dir: Path | None, manifest: Path | None, output: Path,
    **options: Any,
) -> str:  # fmt: skip
    """The command line that resumes this batch: its inputs and options, plus --resume."""
    import shlex

    words = ["perceptq", "batch"]
    words += ["--manifest", str(manifest)] if manifest is not None else [str(ref_dir), str(deg_dir)]
    words += ["-o", str(output)]
    defaults = {"jobs": None, "mode": "auto", "alignment": "reference", "scheduler": None,
                "group_by": None,
                "fail_below": None, "quiet": False}  # fmt: skip
    for name, value in options.items():
        if value == defaults[name]:
            continue
        flag = "--" + name.replace("_", "-")
        words += [flag] if value is True else [flag, f"{value:g}" if name == "fail_below"
                                                 else str(value)]  # fmt: skip
    return shlex.join([*words, "--resume"])


#: Scoring function; None means perceptq.score. Plumbing tests replace it.
_SCORER: Any = None


def _where(scheduler: str | None, jobs: int | None) -> str:
    if scheduler:
        return f"Dask scheduler {scheduler}"
    return f"{jobs} job(s)" if jobs else f"{default_jobs()} job(s) (all cores)"


def _check_options(
    mode: str, fail_below: float | None, resume: bool, output: Path | None, metric: str = "p862"
) -> None:
    modes = {"p862": ("auto", "nb", "wb"), "visqol": ("auto", "audio", "speech")}
    if metric not in modes:
        raise BatchInputError(f"--metric {metric!r}: expected p862 or visqol")
    if mode not in modes[metric]:
        names = f"{', '.join(modes[metric][:-1])} or {modes[metric][-1]}"
        with_metric = "" if metric == "p862" else f" with --metric {metric}"
        raise BatchInputError(f"--mode {mode!r}: expected {names}{with_metric}")
    if fail_below is not None and not math.isfinite(fail_below):
        raise BatchInputError(f"--fail-below {fail_below!r}: expected a number")
    if resume and output is None:
        raise BatchInputError("--resume needs -o/--output naming the earlier result file")


def _collect_specs(
    ref_dir: Path | None, deg_dir: Path | None, manifest: Path | None
) -> tuple[list[PairSpec], list[str]]:
    if manifest is not None:
        if ref_dir is not None or deg_dir is not None:
            raise BatchInputError("give either REF_DIR DEG_DIR or --manifest, not both")
        return pairs_from_manifest(manifest)
    if ref_dir is None or deg_dir is None:
        raise BatchInputError("give REF_DIR and DEG_DIR, or --manifest pairs.csv")
    return pairs_from_folders(ref_dir, deg_dir), []


def _check_output(output: Path) -> None:
    if output.is_dir():
        raise BatchInputError(f"{output}: output is a folder, expected a file name")
    try:
        table_format(output)
    except ValueError as exc:
        raise BatchInputError(str(exc)) from None
    folder = output.parent
    if not folder.is_dir():
        raise BatchInputError(f"{output}: cannot write output (folder {folder} does not exist)")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise BatchInputError(f"{output}: cannot write output (folder {folder} is read-only)")


def _report(
    table: Any, summary: dict, output: Path, *, fail_below: float | None, quiet: bool
) -> int:
    """Print the summary, the first error rows and the pairs below the bar; count the latter."""
    from perceptq.batch.summary import below, format_summary
    from perceptq.cli.common import err_console

    if not quiet:
        typer.echo(format_summary(summary))
        typer.echo(f"results: {output}")
    errors = table[table["status"] != "ok"]
    for _, row in errors.head(10).iterrows():
        err_console.print(f"perceptq: error row: {row['error']}", markup=False)
    if len(errors) > 10:
        err_console.print(
            f"perceptq: ... {len(errors) - 10} more error row(s) in {output}", markup=False
        )
    if fail_below is None:
        return 0
    low = below(table, fail_below)
    if len(low):
        typer.echo(f"{len(low)} pair(s) below MOS {fail_below:g}:")
        for _, row in low.iterrows():
            typer.echo(f"  {row['mos']:.3f}  {row['degraded']}  (reference {row['reference']})")
    return len(low)


BATCH_HELP = "\n\n".join(
    [
        "Score every pair of REF_DIR/DEG_DIR, or of a --manifest, into a result table.",
        "Each audio file under DEG_DIR (recursively) is paired with the file of the same "
        "relative path under REF_DIR, else with the only reference of the same file-name "
        "stem. Rows are written as pairs finish, so an interrupted run keeps its rows; run "
        "the same command with --resume to score only what is missing. A summary of the "
        "whole table (per group with --group-by) is printed at the end.",
        "Exit codes: 0 every pair scored; 1 some pairs failed (error rows in the output); "
        "2 bad usage or an unreadable input folder, manifest or output; 3 a pair scored "
        "below --fail-below (takes precedence over 1); 130 interrupted.",
    ]
)


def register(app: typer.Typer) -> None:
    """Add the ``batch`` command to the perceptq CLI."""
    app.command("batch", help=BATCH_HELP, cls=Command)(batch)
