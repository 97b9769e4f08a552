"""Content-addressed, crash-safe cache of score maps.

An entry is keyed by the method key (method name, version, parameters and detector provenance such as the
weights' sha256) and the sha256 of the image's pixels, so a re-run, another protocol or another policy never
runs a detector twice, and changed data or parameters never hit a stale entry. Entries are compressed
``.npz`` files written to a temporary file and renamed into place (atomic on POSIX). Each carries the sha256
of its score map and what it claims to be (method key, image hash, shape): a truncated or corrupted entry is
deleted and recomputed, an entry bound to another key, image or shape (a file copied or moved into place) is
recomputed with a note, and a file that cannot be read at the moment (an I/O error) is left in place.
A temporary file names its writer (host and pid); ``sweep`` deletes those whose writer died (``kill -9``).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import socket
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from benchmark.files import json_safe, write_bytes


def image_hash(image: np.ndarray) -> str:
    """sha256 (hex) of an image's shape, dtype and pixels."""
    h = hashlib.sha256(f"{image.shape}|{image.dtype}".encode())
    h.update(np.ascontiguousarray(image).tobytes())
    return h.hexdigest()


def method_key(name: str, version: str, params: dict[str, Any], provenance: dict[str, Any]) -> str:
    """Short stable hash of everything that determines a method's output for a given image."""
    blob = json.dumps(
        {"name": name, "version": version, "params": params, "provenance": provenance}, sort_keys=True, default=str
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


@dataclass
class Entry:
    """A cached score map with the detection time and the detector's per-image metadata."""

    score: np.ndarray
    seconds: float
    meta: dict[str, Any]


_TMP_PREFIX = ".tmp-"


def _writer_tag() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by another user
        pass
    return True


class ScoreStore:
    """Score-map cache rooted at ``root`` (``<root>/<method>/<method_key>/<hh>/<image_hash>.npz``)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def path(self, method: str, key: str, img_hash: str) -> Path:
        return self.root / method / key / img_hash[:2] / f"{img_hash}.npz"

    def get(self, method: str, key: str, img_hash: str, shape: tuple[int, ...] | None = None) -> Entry | None:
        """The entry, or ``None`` when it is absent or unusable (see :meth:`lookup`)."""
        return self.lookup(method, key, img_hash, shape)[0]

    def lookup(
        self, method: str, key: str, img_hash: str, shape: tuple[int, ...] | None = None
    ) -> tuple[Entry | None, str]:
        """``(entry, "")`` for a valid entry bound to ``key``, ``img_hash`` and ``shape`` (when given), else
        ``(None, why)``: ``why`` is empty for an absent entry and names the entry and the problem otherwise.
        Corrupt entries are deleted; entries bound to something else are left to be overwritten."""
        path = self.path(method, key, img_hash)
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return None, ""
        except OSError as exc:
            return None, f"cache entry {path} could not be read ({exc.strerror or exc}); recomputed"
        try:
            with np.load(io.BytesIO(raw), allow_pickle=False) as data:
                score = data["score"]
                header = json.loads(bytes(data["header"]).decode())
            valid = header.get("sha256") == _digest(score)
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, UnicodeDecodeError, AttributeError):
            valid = False
        if not valid:
            path.unlink(missing_ok=True)
            return None, f"cache entry {path} was corrupt; deleted and recomputed"
        claims = {"method_key": key, "image_hash": img_hash}
        if shape is not None:
            claims["shape"] = list(shape)
        found = {**{k: header.get(k) for k in claims}, "shape": list(score.shape)}
        wrong = [k for k in claims if found[k] != claims[k]]
        if wrong:
            detail = ", ".join(f"{k} {found[k]} instead of {claims[k]}" for k in wrong)
            return None, f"cache entry {path} belongs to something else ({detail}); recomputed"
        return Entry(score=score, seconds=float(header["seconds"]), meta=header.get("meta", {})), ""

    def put(self, method: str, key: str, img_hash: str, entry: Entry) -> Path:
        """Write ``entry`` atomically (temporary file + rename); concurrent writers of one key are safe."""
        path = self.path(method, key, img_hash)
        path.parent.mkdir(parents=True, exist_ok=True)
        score = np.ascontiguousarray(entry.score, dtype=np.float32)
        header = {
            "sha256": _digest(score),
            "method_key": key,
            "image_hash": img_hash,
            "shape": list(score.shape),
            "seconds": entry.seconds,
            "meta": json_safe(entry.meta),
        }
        buffer = io.BytesIO()
        np.savez_compressed(buffer, score=score, header=np.frombuffer(json.dumps(header).encode(), np.uint8))
        write_bytes(path, buffer.getvalue(), prefix=_TMP_PREFIX + _writer_tag())
        return path

    def sweep(self, method: str, key: str) -> int:
        """Delete temporary files of ``method``/``key`` left by dead writers on this host; return how many."""
        host, removed = socket.gethostname(), 0
        for tmp in (self.root / method / key).glob(f"*/{_TMP_PREFIX}*.part"):
            writer = tmp.name[len(_TMP_PREFIX) :].rsplit("-", 2)
            if len(writer) == 3 and writer[0] == host and writer[1].isdigit() and not _alive(int(writer[1])):
                tmp.unlink(missing_ok=True)
                removed += 1
        return removed


def _digest(score: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(score, dtype=np.float32).tobytes()).hexdigest()
