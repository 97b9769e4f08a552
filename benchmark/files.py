"""Writing run outputs safely: JSON-safe values, and files that are either complete or absent.

Every output file is written to a temporary file in its folder, flushed to disk and renamed over the
target (atomic on POSIX), so a failed write (full disk, killed process) leaves the previous file or none,
never a truncated one. A write that fails raises :class:`OutputError` naming the path.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np


class OutputError(OSError):
    """An output file or folder cannot be written; the message names the path and the reason."""

    def __str__(self) -> str:
        return str(self.args[0])


def json_safe(value: Any) -> Any:
    """``value`` as plain JSON data: numpy scalars and arrays become numbers and lists, tuples and sets
    lists, non-finite floats ``None``, mapping keys strings, and anything else its ``repr``."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [json_safe(v) for v in value]
    if isinstance(value, np.ndarray):
        return json_safe(value.tolist())
    if isinstance(value, np.generic):
        return json_safe(value.item())
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, (str, int, bool)):
        return value
    if isinstance(value, Path):
        return str(value)
    return repr(value)


def dumps(value: Any, indent: int | None = None) -> str:
    """Strict JSON text of :func:`json_safe` ``(value)``."""
    return json.dumps(json_safe(value), indent=indent, allow_nan=False)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _umask()


def write_bytes(path: Path, data: bytes, prefix: str | None = None) -> None:
    """Write ``data`` to ``path`` through a flushed temporary file (``prefix``, default ``.<name>.``, and
    ``.part``) renamed over it; the temporary file is removed when anything fails."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=prefix or f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fchmod(fh.fileno(), 0o666 & ~_UMASK)  # as open() would create it, not mkstemp's 0600
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` to ``path`` atomically; :class:`OutputError` names the path on failure."""
    path = Path(path)
    try:
        write_bytes(path, text.encode())
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from exc
    return path


def make_folder(path: str | Path) -> Path:
    """Create ``path`` (and parents) and check that a file can be written there."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=path, prefix=".write-check-")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise OutputError(f"cannot write to folder {path}: {exc.strerror or exc}") from exc
    return path
