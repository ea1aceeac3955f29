"""Which files to score: folder pairing and manifest reading, for ``perceptq batch``.

A degraded file is paired with the reference of the same relative path, else with the only
reference of the same file-name stem; one with no such reference, or several, becomes a
pair carrying an error. A CSV manifest lists the pairs itself, with any extra columns.
Nothing here prints: problems with the inputs raise :class:`BatchInputError`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from perceptq.batch.table import DIAG_COLUMNS, RESULT_COLUMNS

#: File extensions treated as audio when walking folders (formats soundfile reads).
AUDIO_EXTENSIONS = frozenset(
    {
        "wav",
        "wave",
        "flac",
        "ogg",
        "oga",
        "opus",
        "aif",
        "aiff",
        "aifc",
        "au",
        "snd",
        "caf",
        "w64",
        "rf64",
        "mp3",
        "voc",
        "sph",
        "nist",
        "sd2",
        "ircam",
        "paf",
        "pvf",
        "xi",
        "avr",
        "wve",
        "sds",
        "svx",
        "8svx",
        "htk",
    }
)


class BatchInputError(ValueError):
    """An input folder, manifest or option of a batch cannot be used (exit code 2)."""


@dataclass(frozen=True)
class PairSpec:
    """One pair to score: paths as written in the output, paths to open, extras, problem."""

    reference: str
    degraded: str
    reference_path: str = ""
    degraded_path: str = ""
    extras: dict[str, str] = field(default_factory=dict)
    error: str | None = None

    @property
    def key(self) -> tuple[str, ...]:
        """Identity of the row in a result table (used by ``--resume``): the paths as
        written and the manifest's extra columns, so that a manifest naming one pair on
        several rows (a test repeated over days) has one row per manifest row."""
        return row_key({"reference": self.reference, "degraded": self.degraded, **self.extras})


def row_key(row: dict, extras: list[str] | None = None) -> tuple[str, ...]:
    """Identity of a result or manifest row: reference, degraded, then the extra columns
    (``extras``: their names; default every key but the two paths, in order)."""
    names = [k for k in row if k not in ("reference", "degraded")] if extras is None else extras
    cells = [row.get("reference"), row.get("degraded"), *(row.get(c) for c in names)]
    return tuple("" if v is None else str(v) for v in cells)


@dataclass
class ResumePlan:
    """What a resumed run does with an earlier output's rows.

    ``keep``: rows written again as they are (ok rows of a manifest row, then ``stray``);
    ``todo``: the pairs still to score (never scored, or an error row to retry);
    ``stray``: rows that match no row of the current input (the manifest changed since the
    earlier run, or named a row fewer times): kept as they are, never re-scored;
    ``retried``: error rows that are replaced by scoring their pair again.
    """

    keep: list[dict] = field(default_factory=list)
    todo: list[PairSpec] = field(default_factory=list)
    stray: list[dict] = field(default_factory=list)
    retried: int = 0


def plan_resume(specs: list[PairSpec], earlier: list[dict], extras: list[str]) -> ResumePlan:
    """Match an earlier output's rows to the input's rows, one to one.

    Each input row (a manifest row, or a file pair) takes one earlier row with the same
    :func:`row_key`, an ok row first: an ok row is kept, an error row is retried, and an
    input row without one is scored. A manifest that names the same row N times thus gets
    N rows. Earlier rows left over match no input row and are kept (nothing written is
    ever dropped by a resume).
    """
    from collections import defaultdict, deque

    ok: dict[tuple, deque] = defaultdict(deque)
    failed: dict[tuple, deque] = defaultdict(deque)
    for row in earlier:
        (ok if row.get("status") == "ok" else failed)[row_key(row, extras)].append(row)
    plan = ResumePlan()
    for spec in specs:
        key = spec.key
        if ok[key]:
            plan.keep.append(ok[key].popleft())
            continue
        if failed[key]:
            failed[key].popleft()
            plan.retried += 1
        plan.todo.append(spec)
    for bucket in (ok, failed):
        plan.stray += [row for rows in bucket.values() for row in rows]
    order = {id(row): i for i, row in enumerate(earlier)}
    plan.stray.sort(key=lambda row: order[id(row)])
    plan.keep += plan.stray
    return plan


def _is_audio(name: str) -> bool:
    return not name.startswith(".") and name.rsplit(".", 1)[-1].lower() in AUDIO_EXTENSIONS


def _walk_audio(root: Path, *, skip: Path | None = None) -> list[Path]:
    """Audio files under ``root`` (recursively), as sorted paths relative to ``root``."""

    def explode(exc: OSError) -> None:
        raise BatchInputError(f"{exc.filename}: cannot read folder ({exc.strerror})")

    found = []
    for folder, dirs, files in os.walk(root, onerror=explode, followlinks=True):
        here = Path(folder)
        dirs[:] = sorted(
            d for d in dirs if not d.startswith(".") and (skip is None or here / d != skip)
        )
        found += [(here / f).relative_to(root) for f in files if _is_audio(f)]
    return sorted(found)


def _check_folder(path: Path, role: str) -> None:
    if not path.exists():
        raise BatchInputError(f"{path}: {role} folder not found")
    if not path.is_dir():
        raise BatchInputError(f"{path}: {role} is not a folder")
    if not os.access(path, os.R_OK | os.X_OK):
        raise BatchInputError(f"{path}: cannot read {role} folder (permission denied)")


def pairs_from_folders(ref_dir: Path, deg_dir: Path) -> list[PairSpec]:
    """Pair every audio file under ``deg_dir`` with its reference under ``ref_dir``.

    The reference is the file of the same relative path, else the only reference with
    the same file-name stem (any extension, any subfolder). A degraded file with no such
    reference, or with several, gets a :class:`PairSpec` whose ``error`` says so.

    Raises
    ------
    BatchInputError
        A folder is missing, unreadable, or ``deg_dir`` holds no audio files.
    """
    _check_folder(ref_dir, "reference")
    _check_folder(deg_dir, "degraded")
    nested = deg_dir.resolve()
    inside = nested != ref_dir.resolve() and ref_dir.resolve() in nested.parents
    skip = ref_dir / nested.relative_to(ref_dir.resolve()) if inside else None
    index = ReferenceIndex.of(ref_dir, skip=skip)
    degraded = _walk_audio(deg_dir)
    if not degraded:
        raise BatchInputError(f"{deg_dir}: no audio files found (looked for .wav, .flac, ...)")
    specs = []
    for rel in degraded:
        deg = str(deg_dir / rel)
        ref, problem = index.match(rel, deg)
        if ref is not None:
            specs.append(PairSpec(ref, deg, os.path.abspath(ref), os.path.abspath(deg)))
        else:
            specs.append(PairSpec("", deg, "", os.path.abspath(deg), error=problem))
    return specs


@dataclass(frozen=True)
class ReferenceIndex:
    """The audio files under a reference folder, by relative path and by file-name stem."""

    root: Path
    by_path: frozenset[Path]
    by_stem: dict[str, list[Path]]

    @classmethod
    def of(cls, ref_dir: Path, *, skip: Path | None = None) -> ReferenceIndex:
        """Index the audio files under ``ref_dir`` (except the folder ``skip``)."""
        references = _walk_audio(ref_dir, skip=skip)
        by_stem: dict[str, list[Path]] = {}
        for rel in references:
            by_stem.setdefault(rel.stem, []).append(rel)
        return cls(ref_dir, frozenset(references), by_stem)

    def match(self, rel: Path, deg: str) -> tuple[str | None, str | None]:
        """(reference path, None) for the degraded file ``deg`` at relative path ``rel``:
        the reference of the same relative path, else the only one of the same stem;
        (None, problem) when there is none or several."""
        candidates = [rel] if rel in self.by_path else self.by_stem.get(rel.stem, [])
        if len(candidates) == 1:
            return str(self.root / candidates[0]), None
        if candidates:
            names = ", ".join(str(c) for c in candidates[:4])
            more = ", ..." if len(candidates) > 4 else ""
            return None, (
                f"{deg}: ambiguous reference: {len(candidates)} files named "
                f"{rel.stem}.* under {self.root} ({names}{more})"
            )
        return None, (
            f"{deg}: no reference found: no file {rel} and no file named "
            f"{rel.stem}.* under {self.root}"
        )


def pairs_from_manifest(manifest: Path) -> tuple[list[PairSpec], list[str]]:
    """Read a CSV manifest with columns ``reference``, ``degraded`` and any extras.

    Relative paths are taken from the manifest's folder. Returns the pairs and the extra
    column names (kept as text, in the manifest's order).

    Raises
    ------
    BatchInputError
        The manifest is missing, unreadable, has no rows, lacks a required column, or
        has a column named like an output column.
    """
    import pandas as pd

    if manifest.is_dir():
        raise BatchInputError(f"{manifest}: manifest is a folder, expected a CSV file")
    try:
        table = pd.read_csv(manifest, dtype=str, keep_default_na=False, skipinitialspace=True)
    except FileNotFoundError:
        raise BatchInputError(f"{manifest}: manifest not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BatchInputError(f"{manifest}: cannot read manifest ({exc})") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as exc:
        reason = " ".join(str(exc).split())
        raise BatchInputError(f"{manifest}: not a readable CSV manifest ({reason})") from None
    table.columns = [str(c).strip() for c in table.columns]
    missing = [c for c in ("reference", "degraded") if c not in table.columns]
    if missing:
        found = ", ".join(table.columns) or "none"
        raise BatchInputError(
            f"{manifest}: manifest lacks column(s) {', '.join(missing)} (found: {found})"
        )
    extras = [c for c in table.columns if c not in ("reference", "degraded")]
    clash = [c for c in extras if c in RESULT_COLUMNS or c in DIAG_COLUMNS]
    if clash:
        raise BatchInputError(
            f"{manifest}: column(s) {', '.join(clash)} clash with output columns; rename them"
        )
    if table.empty:
        raise BatchInputError(f"{manifest}: manifest has no rows")
    base = manifest.parent
    specs = []
    for number, row in enumerate(table.to_dict("records"), start=2):
        ref, deg = row["reference"].strip(), row["degraded"].strip()
        extra = {c: row[c] for c in extras}
        empty = [c for c, v in (("reference", ref), ("degraded", deg)) if not v]
        if empty:
            problem = f"{manifest}: line {number}: empty {' and '.join(empty)} path"
            specs.append(PairSpec(ref, deg, extras=extra, error=problem))
            continue
        paths = [os.path.abspath(base / Path(p).expanduser()) for p in (ref, deg)]
        specs.append(PairSpec(ref, deg, paths[0], paths[1], extra))
    return specs, extras
