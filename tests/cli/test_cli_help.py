"""`perceptq <command> --help` reads like a manual page in a terminal of normal width."""

from __future__ import annotations

import re

import pytest
from typer.testing import CliRunner

from perceptq.cli import app

runner = CliRunner()
COMMANDS = ("score", "batch", "report", "emodel", "rtp", "watch", "history")
WIDTH = 100


def _help(command: str | None, width: int = WIDTH) -> str:
    res = runner.invoke(
        app,
        [*([command] if command else []), "--help"],
        prog_name="perceptq",
        env={"COLUMNS": str(width), "NO_COLOR": "1"},
    )
    assert res.exit_code == 0, res.output
    return res.output


@pytest.mark.parametrize("width", [80, WIDTH])
@pytest.mark.parametrize("command", [None, *COMMANDS])
def test_help_shows_no_python_types_or_set_braces(command, width):
    text = _help(command, width)
    assert "<bool>" not in text  # flags take no value
    assert "list[" not in text  # repeated parameters: their element type, not list[Path]
    usage = next(line for line in text.splitlines() if "Usage:" in line)
    assert "{" not in usage and "}" not in usage
    assert "…" not in text  # nothing cut off


@pytest.mark.parametrize(
    ("command", "usage"),
    [
        ("score", "perceptq score [OPTIONS] REFERENCE DEGRADED"),
        ("batch", "perceptq batch [OPTIONS] [REF_DIR] [DEG_DIR]"),
        ("report", "perceptq report [OPTIONS] RESULTS..."),
        ("rtp", "perceptq rtp [OPTIONS] CAPTURE"),
    ],
)
def test_usage_names_arguments_as_the_help_text_does(command, usage):
    assert f"Usage: {usage}" in _help(command)


@pytest.mark.parametrize("command", COMMANDS)
def test_description_paragraphs_are_filled_not_ragged(command):
    """Every line of a description paragraph but its last fills most of the width."""
    lines = _help(command).splitlines()
    start = next(i for i, line in enumerate(lines) if "Usage:" in line) + 1
    end = next(i for i, line in enumerate(lines) if line.lstrip().startswith("╭"))
    paragraphs = re.split(r"\n\s*\n", "\n".join(lines[start:end]).strip())
    for para in paragraphs:
        rows = [row.strip() for row in para.splitlines()]
        for row in rows[:-1]:
            assert len(row) >= 0.75 * WIDTH, f"ragged line in {command} --help: {row!r}"


def test_batch_mode_is_shown_as_choices_like_score():
    for command in ("score", "batch"):
        line = next(x for x in _help(command).splitlines() if "--mode" in x)
        assert "<auto|nb|wb|audio|speech>" in line


@pytest.mark.parametrize("width", [80, WIDTH])
def test_batch_default_output_is_spelled_out(width):
    text = re.sub(r"[│\s]+", " ", _help("batch", width))
    assert "Default: a new CSV in the current folder, named perceptq-results- and the date" in text
    assert "…" not in text


def test_rtp_conceal_says_it_changes_the_scored_audio():
    text = re.sub(r"[│\s]+", " ", _help("rtp"))
    conceal = text[text.index("--conceal") : text.index("Reference speech:")]
    assert "--reference" in conceal and "MOS-LQO" in conceal and "With --extract:" not in conceal
