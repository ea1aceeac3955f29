"""Shared pytest fixtures. Keep this file generic: fixtures any test module may use."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

TESTS_DIR = Path(__file__).resolve().parent
REPO_ROOT = TESTS_DIR.parent

# helper modules that live beside the tests (e.g. corpus.py) import as top-level modules
if str(TESTS_DIR) not in sys.path:
    sys.path.insert(0, str(TESTS_DIR))


@pytest.fixture(scope="session")
def repo_root() -> Path:
    """The repository's root folder."""
    return REPO_ROOT


@pytest.fixture(scope="session")
def reference_audio_dir() -> Path:
    """reference_audio/ (clean/, degraded/<condition>/, pairs.csv)."""
    return REPO_ROOT / "reference_audio"
