"""Shared fixtures: the optional real-data folder ``../shared/data`` (skipped cleanly when absent)."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Path of the real datasets and checkpoints beside the checkout; skips the test when missing."""
    if not (SHARED_DATA / "README.md").is_file():
        pytest.skip(f"real data not available at {SHARED_DATA}")
    return SHARED_DATA
