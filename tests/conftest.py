"""Shared fixtures: where the third-party capture corpus lives, and one parameter per capture in it.

The corpus sits in ``../shared`` next to the checkout (``ZONEWARDEN_SHARED`` overrides the path).
CI always has it, so tests that need it fail with a clear message when it is missing; they never skip.
"""

from __future__ import annotations

import csv
import os
import subprocess
from pathlib import Path

import pytest

# Peer tests start tshark from worker threads while other threads run. CPython spawns with vfork(),
# which shares the address space with the still-running parent threads; a CI run once failed with
# "OSError: [Errno 14] Bad address: '/usr/bin/tshark'" from that path. A plain fork() costs a few
# milliseconds per peer run and has no such window.
subprocess._USE_VFORK = False  # type: ignore[misc]  # a documented switch, Final in the stubs

SHARED_ENV = "ZONEWARDEN_SHARED"
MANIFEST = "MANIFEST.tsv"
# The parameter a test gets for every capture when the manifest cannot be read: its test then fails.
CORPUS_MISSING = "corpus-missing"
ROBUSTNESS = "robustness/"  # the corpus folder of damaged and malformed captures


def shared_path() -> Path:
    configured = os.environ.get(SHARED_ENV)
    if configured:
        return Path(configured)
    return Path(__file__).resolve().parents[2] / "shared"


def corpus_path() -> Path:
    return shared_path() / "corpus"


def corpus_captures() -> list[str]:
    """``relative_path`` of every MANIFEST.tsv row, in manifest order; empty if it cannot be read."""
    manifest = corpus_path() / MANIFEST
    if not manifest.is_file():
        return []
    with manifest.open(newline="", encoding="utf-8") as f:
        return [row["relative_path"] for row in csv.DictReader(f, delimiter="\t") if row.get("relative_path")]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """``corpus_capture``: one run per corpus capture; ``robustness_capture``: per capture under
    ``robustness/``. The id is the capture's relative path."""
    if "corpus_capture" in metafunc.fixturenames:
        captures = corpus_captures() or [CORPUS_MISSING]
        metafunc.parametrize("corpus_capture", captures, ids=captures)
    if "robustness_capture" in metafunc.fixturenames:
        captures = [c for c in corpus_captures() if c.startswith(ROBUSTNESS)] or [CORPUS_MISSING]
        metafunc.parametrize("robustness_capture", captures, ids=captures)


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    path = shared_path()
    if not path.is_dir():
        pytest.fail(f"shared test data not found at {path}: check out the shared corpus next to the "
                    f"repository (../shared) or point {SHARED_ENV} at it", pytrace=False)
    return path


@pytest.fixture(scope="session")
def corpus_dir(shared_dir: Path) -> Path:
    path = shared_dir / "corpus"
    if not (path / MANIFEST).is_file():
        pytest.fail(f"capture corpus manifest not found: {path / MANIFEST}", pytrace=False)
    return path
