"""A numpy-only reader for MXNet's NDArray-list files (Gluon ``.params``, ``mx.nd.save``).

Layout (little-endian): ``uint64 0x112`` (list magic), ``uint64 0`` (reserved), ``uint64 n`` arrays, then
``n`` NDArray records, then ``uint64 m`` names (``m`` is ``n`` or 0), each a ``uint64`` length and UTF-8
bytes. A dense NDArray record is ``uint32 magic`` (``0xF993FAC9`` V2, ``0xF993FACA`` V3, ``0xF993FAC8`` V1;
absent in the legacy format), ``int32`` storage type (V2/V3 only; 0 = dense), the shape (``uint32``/``int32``
ndim, then ``int64`` dims; legacy: ``uint32`` dims), and, for a non-empty shape, ``int32`` device type,
``int32`` device id, ``int32`` dtype flag and the raw C-order data.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

__all__ = ["read_params", "is_mxnet_params", "LIST_MAGIC"]

LIST_MAGIC = 0x112
_V1, _V2, _V3 = 0xF993FAC8, 0xF993FAC9, 0xF993FACA
_DTYPES = {0: np.float32, 1: np.float64, 2: np.float16, 3: np.uint8, 4: np.int32, 5: np.int8, 6: np.int64}


class _Reader:
    def __init__(self, data: bytes, path: Path) -> None:
        self.data, self.pos, self.path = data, 0, path

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise ValueError(f"{self.path}: truncated MXNet .params file (needed {n} bytes at offset {self.pos})")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def unpack(self, fmt: str) -> tuple:
        return struct.unpack("<" + fmt, self.take(struct.calcsize("<" + fmt)))


def _read_array(r: _Reader) -> np.ndarray | None:
    (magic,) = r.unpack("I")
    if magic in (_V1, _V2, _V3):
        if magic != _V1:
            (stype,) = r.unpack("i")
            if stype != 0:
                raise ValueError(f"{r.path}: sparse NDArray (storage type {stype}) is not supported")
        (ndim,) = r.unpack("i")
        shape = r.unpack(f"{max(ndim, 0)}q")
    else:  # legacy: the first word was ndim, dims are uint32
        ndim = magic
        shape = r.unpack(f"{ndim}I")
    if ndim < 0 or (ndim == 0 and magic != _V3):
        return None  # an empty ("none") array has no payload
    _dev_type, _dev_id, flag = r.unpack("iii")
    if flag not in _DTYPES:
        raise ValueError(f"{r.path}: unsupported MXNet dtype flag {flag}")
    dtype = np.dtype(_DTYPES[flag]).newbyteorder("<")
    count = int(np.prod(shape, dtype=np.int64))
    arr = np.frombuffer(r.take(count * dtype.itemsize), dtype=dtype, count=count)
    return arr.reshape(shape).astype(dtype.newbyteorder("="))


def is_mxnet_params(path: str | Path) -> bool:
    """Whether ``path`` starts with the NDArray-list magic."""
    with open(path, "rb") as fh:
        head = fh.read(16)
    return len(head) == 16 and struct.unpack("<QQ", head) == (LIST_MAGIC, 0)


def read_params(path: str | Path) -> dict[str, np.ndarray]:
    """Read an MXNet NDArray-list file into ``{name: array}``.

    Parameters
    ----------
    path : str or Path
        A Gluon ``.params`` file (``net.save_parameters``) or an ``mx.nd.save`` dict.

    Returns
    -------
    dict
        Names in file order. The ``arg:``/``aux:`` prefixes of ``save_checkpoint`` files are removed.

    Raises
    ------
    ValueError
        If the file is not an NDArray list, is truncated, holds sparse arrays or has no names.
    """
    path = Path(path)
    r = _Reader(path.read_bytes(), path)
    if len(r.data) < 24:
        raise ValueError(f"{path}: too short to be an MXNet .params file ({len(r.data)} bytes)")
    magic, _reserved = r.unpack("QQ")
    if magic != LIST_MAGIC:
        raise ValueError(f"{path}: not an MXNet NDArray list (magic {magic:#x}, expected {LIST_MAGIC:#x})")
    (n,) = r.unpack("Q")
    arrays = [_read_array(r) for _ in range(n)]
    (m,) = r.unpack("Q")
    if m != n:
        raise ValueError(f"{path}: {n} arrays but {m} names; an unnamed NDArray list cannot be mapped")
    names = []
    for _ in range(m):
        (length,) = r.unpack("Q")
        name = r.take(length).decode("utf-8")
        names.append(name.split(":", 1)[1] if name.startswith(("arg:", "aux:")) else name)
    return {k: v for k, v in zip(names, arrays) if v is not None}
