"""The "worst calls" section of the quality report (see :mod:`perceptq.report.html`).

One row per call, lowest MOS first, that reads at a glance: the call's file name (never
broken inside), its MOS and the link to its plot lead; everything else the results carry
about it (time, reference, group, category, delay and diagnostics) follows in one
wrapping "details" cell of ``name value`` items, so the table fits the page however many
diagnostic columns there are.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from perceptq.report.sections import (
    MOS,
    _e,
    _num,
    _plot_link,
    _time_text,
    find_plot,
    index_plots,
    mos_chip,
    table,
)
from perceptq.result import category_of

#: Result columns shown among the details of a worst call, besides ``diag_*``.
_DETAIL_EXTRA = ("delay_ms",)


def worst_section(
    df: pd.DataFrame, n: int, group_by: Sequence[str], plots_dir: Path | None, out_dir: Path,
    time_column: str | None,
) -> str:  # fmt: skip
    """The ``n`` lowest-MOS rows: name, MOS and plot link first, then their details."""
    scored = df[df["_ok"]]
    if n <= 0 or scored.empty:
        return ""
    worst = scored.nsmallest(n, MOS, keep="first")
    # diagnostics that at least one of the listed rows carries
    diag = [c for c in df.columns if str(c).startswith("diag_") and worst[c].notna().any()]
    extra = [c for c in _DETAIL_EXTRA if c in df.columns]
    index = index_plots(plots_dir)
    header = [("#", True), ("call / pair", False), ("MOS", True)]
    if plots_dir is not None:
        header.append(("plot", False))
    header.append(("details", False))
    rows = []
    for rank, (_, r) in enumerate(worst.iterrows(), start=1):
        full = r["degraded"] if "degraded" in df else r["_label"]
        cells = [str(rank), f'<span class="name" title="{_e(full)}">{_e(r["_label"])}</span>',
                 mos_chip(float(r[MOS]))]  # fmt: skip
        if plots_dir is not None:
            plot = find_plot(str(r.get("degraded", r["_label"])), index, plots_dir)
            cells.append(_plot_link(plot, out_dir))
        cells.append(_details(r, df, group_by, time_column, extra + diag))
        rows.append(cells)
    note = (
        '<p class="note">Lowest MOS first; hover a name for its full path. Details: what the '
        "results carry about each call (diagnostics when the model reports them)."
    )
    if plots_dir is not None:
        note += f" Plots from {_e(plots_dir)} matched by degraded file name."
    return (
        f'<section id="worst"><h2>Worst {len(rows)} calls / pairs</h2>{note}</p>'
        f'<div class="scroll">{table(header, rows, "worst")}</div></section>'
    )


def _details(
    r: pd.Series, df: pd.DataFrame, group_by: Sequence[str], time_column: str | None,
    numbers: list[str],
) -> str:  # fmt: skip
    """``name value`` items of one call, in a cell that wraps between items only."""
    items = [("category", _e(category_of(float(r[MOS]))))]
    if time_column:
        items.append(("time (UTC)", _e(_time_text(r["_time"]))))
    if "reference" in df and _present(r["reference"]):
        ref = str(r["reference"])
        items.append(("reference", f'<span title="{_e(ref)}">{_e(Path(ref).name)}</span>'))
    items += [(str(c), _e(r[c])) for c in group_by if _present(r[c])]
    for c in numbers:
        if _present(r[c]):
            value = r[c]
            text = _num(float(value), 2 if abs(value) < 1000 else 0) if _is_number(value) else (
                _e(value))  # fmt: skip
            items.append((str(c).removeprefix("diag_"), text))
    return '<div class="details">' + "".join(
        f"<span><b>{_e(k)}</b> {v}</span>" for k, v in items
    ) + "</div>"


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, np.number)) and not isinstance(value, bool)


def _present(value: Any) -> bool:
    """A cell with something in it (not None, NaN or an empty string)."""
    if value is None or (isinstance(value, (float, np.floating)) and math.isnan(value)):
        return False
    return not (isinstance(value, str) and not value.strip()) and not pd.isna(value)

