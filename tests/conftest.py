"""Shared fixtures: the optional real-data folder (skipped cleanly when absent).

Real data is found at ``$IRBENCH_DATA`` when set, else at ``../shared/data`` beside the checkout (the layout
CI has: IRSTD-1k, NUDT-SIRST, SIRST and ``weights/``). A test that needs a file the folder lacks skips.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ["IRBENCH_DATA"]) if os.environ.get("IRBENCH_DATA") else REPO.parent / "shared" / "data"


def need(path: Path) -> Path:
    """``path`` when it exists, else skip the test (real data holds only some of the shared files)."""
    if not path.exists():
        pytest.skip(f"{path} not available")
    return path


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real datasets and checkpoints (``$IRBENCH_DATA`` or ``../shared/data``); skips when missing."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data not available at {SHARED_DATA} (set IRBENCH_DATA)")
    return SHARED_DATA


@contextmanager
def empty_zoo(folder: Path) -> Iterator[None]:
    """irbench's zoo replaced by an empty ``folder``: deep methods without ``--weights`` then have none."""
    import methods.deep.zoo as zoo

    saved = zoo.ZOO_DIR
    zoo.ZOO_DIR = folder
    zoo.zoo_entries.cache_clear()
    try:
        yield
    finally:
        zoo.ZOO_DIR = saved
        zoo.zoo_entries.cache_clear()


@pytest.fixture
def no_zoo(tmp_path: Path) -> Iterator[None]:
    """:func:`empty_zoo` for one test."""
    with empty_zoo(tmp_path / "empty-zoo"):
        yield
