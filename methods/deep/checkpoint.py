"""Read checkpoints in every format IRSTD projects release, and load them strictly into our modules.

Handled: a bare state_dict; a dict holding it under ``state_dict``, ``model_state``, ``model_state_dict``,
``net``, ``model``, ``state`` or ``params``; ``module.`` (DataParallel), ``model.`` (BasicIRSTD) and
``backbone.0.`` (LESPS review release) prefixes; whole pickled modules whose classes cannot be imported (a
restricted unpickler replaces every class it does not trust by an inert stand-in and the tensors are
collected from the module tree); MXNet ``.params``
(raw Gluon names; the model maps them); checkpoints without ``num_batches_tracked``; irbench's packed weight
files (:mod:`methods.deep.packed_weights`).
"""

from __future__ import annotations

import _compat_pickle
import pickle
import struct
import types
import zipfile
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import nn

from methods.deep.mxnet_params import is_mxnet_params, read_params
from methods.deep.packed_weights import is_packed, unpack

__all__ = [
    "CheckpointError",
    "LoadReport",
    "adapt_state_dict",
    "error_summary",
    "gluon_state_dict",
    "load_checkpoint",
    "load_gluon_or_torch",
    "load_state_dict_strict",
    "read_state_dict",
]

CONTAINER_KEYS = ("state_dict", "model_state", "model_state_dict", "net", "model", "state", "params")
PREFIXES = ("module.", "model.", "backbone.0.")  # DataParallel, BasicIRSTD, the LESPS review release
SUPPORTED = (
    "a torch.save'd state_dict (bare or under 'state_dict'/'model_state'/'net'/'model'), a whole pickled "
    "nn.Module (torch.save(net)), an MXNet Gluon .params file, or an irbench packed weight file (.pth.xz)"
)


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be read, or whose keys do not fit the network."""


class LoadReport(NamedTuple):
    """Keys that did not match in a non-strict load."""

    missing: list[str]
    unexpected: list[str]


# ---------------------------------------------------------------------- restricted unpickling
class _StandIn:
    """An inert object standing in for a class the restricted unpickler does not import."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._standin_args = args

    def __setstate__(self, state: Any) -> None:
        if isinstance(state, tuple) and len(state) == 2 and isinstance(state[0], (dict, type(None))):
            state = {**(state[0] or {}), **(state[1] or {})}
        if isinstance(state, dict):
            self.__dict__.update(state)
        else:
            self._standin_state = state


_SAFE = {
    ("collections", "OrderedDict"),
    ("builtins", "set"),
    ("builtins", "frozenset"),
    ("builtins", "slice"),
    ("builtins", "complex"),
    ("copyreg", "_reconstructor"),
    ("torch", "Size"),
    ("torch", "device"),
    ("torch", "Tensor"),
    ("torch.nn.parameter", "Parameter"),
    ("torch._tensor", "_rebuild_from_type_v2"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
}


class _RestrictedUnpickler(pickle.Unpickler):
    """Imports only tensor-rebuilding helpers and plain containers; any other class becomes a stand-in."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _compat_pickle.NAME_MAPPING:  # Python 2 names of protocol-2 pickles
            module, name = _compat_pickle.NAME_MAPPING[(module, name)]
        module = _compat_pickle.IMPORT_MAPPING.get(module, module)
        if (module, name) in _SAFE or (module == "torch._utils" and name.startswith("_rebuild")):
            return super().find_class(module, name)
        if module == "torch" and isinstance(getattr(torch, name, None), torch.dtype):
            return getattr(torch, name)
        if module.startswith("numpy") and name.endswith("DType"):
            return super().find_class(module, name)
        return type(name, (_StandIn,), {"__module__": f"standin.{module}"})


_restricted_pickle = types.ModuleType("irbench_restricted_pickle")
_restricted_pickle.Unpickler = _RestrictedUnpickler  # type: ignore[attr-defined]
_restricted_pickle.load = lambda fh, **kw: _RestrictedUnpickler(fh, **kw).load()  # type: ignore[attr-defined]


def _module_tensors(obj: Any, prefix: str, out: dict[str, torch.Tensor]) -> None:
    """Collect the state_dict entries of a (stand-in) pickled nn.Module tree."""
    attrs = vars(obj)
    skip = set(attrs.get("_non_persistent_buffers_set", ()) or ())
    for group in ("_parameters", "_buffers"):
        for name, value in (attrs.get(group) or {}).items():
            if value is not None and name not in skip:
                out[prefix + name] = value.detach() if isinstance(value, torch.Tensor) else value
    for name, child in (attrs.get("_modules") or {}).items():
        if child is not None:
            _module_tensors(child, f"{prefix}{name}.", out)


def _is_module_like(obj: Any) -> bool:
    return isinstance(obj, nn.Module) or (isinstance(obj, _StandIn) and "_modules" in vars(obj))


def _is_tensor_dict(obj: Any) -> bool:
    return (
        isinstance(obj, Mapping)
        and len(obj) > 0
        and all(isinstance(v, (torch.Tensor, np.ndarray)) for v in obj.values())
    )


def _describe(obj: Any) -> str:
    if isinstance(obj, Mapping):
        keys = list(obj)[:12]
        kinds = {type(v).__name__ for v in obj.values()}
        return f"a dict with keys {keys}{' ...' if len(obj) > 12 else ''} (value types {sorted(kinds)})"
    if isinstance(obj, _StandIn):
        return f"a pickled object of class {type(obj).__module__.removeprefix('standin.')}.{type(obj).__name__}"
    return f"an object of type {type(obj).__name__}"


def _extract(obj: Any, path: Path) -> dict[str, torch.Tensor]:
    if _is_module_like(obj):
        if isinstance(obj, nn.Module):
            return dict(obj.state_dict())
        out: dict[str, torch.Tensor] = OrderedDict()
        _module_tensors(obj, "", out)
        return out
    if _is_tensor_dict(obj):
        return OrderedDict((str(k), torch.as_tensor(v)) for k, v in obj.items())
    if isinstance(obj, Mapping):
        for key in CONTAINER_KEYS:
            if key in obj and (_is_module_like(obj[key]) or _is_tensor_dict(obj[key])):
                return _extract(obj[key], path)
    raise CheckpointError(f"{path}: found {_describe(obj)}, which holds no state_dict. Supported: {SUPPORTED}.")


def _sniff(path: Path) -> str:
    """What the file looks like, for error messages (never raises)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(8)
        zip_ok = zipfile.is_zipfile(path)
    except OSError as exc:
        return f"a file that cannot be opened ({type(exc).__name__})"
    if not head:
        return "an empty file"
    if head.startswith(b"PK"):
        return "a zip archive (torch.save format)" if zip_ok else "a truncated or corrupt zip archive"
    if head[:1] == b"\x80":
        return f"a raw pickle stream (protocol {head[1]})" if len(head) > 1 else "a truncated pickle stream"
    if head.startswith(b"\x89HDF"):
        return "an HDF5 file (Keras/TensorFlow weights?)"
    if head.lstrip()[:1] in (b"{", b"["):
        return f"JSON-like text starting with {head!r}"
    return f"unknown content starting with {head!r}"


def error_summary(exc: BaseException) -> str:
    """``Type: first line of the message`` (at most 200 characters), also for exceptions without a message."""
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0][:200]}" if lines else type(exc).__name__


def _torch_load(path: Path) -> Any:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        pass  # not weights-only: e.g. a whole pickled module; retry with stand-ins for unknown classes
    return torch.load(path, map_location="cpu", weights_only=False, pickle_module=_restricted_pickle)


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Read any supported checkpoint file into a flat ``{key: tensor}`` dict (prefixes kept).

    Parameters
    ----------
    path : str or Path
        ``.pth``, ``.pth.tar``, ``.pt``, ``.pkl`` (torch.save of a state_dict, a dict holding one, or a whole
        module), MXNet ``.params`` or an irbench packed ``.pth.xz``.

    Returns
    -------
    dict
        CPU tensors in file order. MXNet files keep their Gluon names.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    CheckpointError
        If the file cannot be read or holds no state_dict; the message names the file, what was found and
        the supported formats.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    try:
        return _read(path)
    except CheckpointError:
        raise
    except Exception as exc:  # noqa: BLE001 - every way a foreign file can fail becomes one CheckpointError
        raise CheckpointError(
            f"{path}: cannot be read ({error_summary(exc)}); found {_sniff(path)}. Supported: {SUPPORTED}."
        ) from None


def _read(path: Path) -> dict[str, torch.Tensor]:
    """:func:`read_state_dict` of an existing file; expected failures raise :class:`CheckpointError`."""
    if path.stat().st_size == 0:
        raise CheckpointError(f"{path}: the file is empty (0 bytes). Supported: {SUPPORTED}.")
    if is_mxnet_params(path):
        try:
            return OrderedDict((k, torch.from_numpy(v)) for k, v in read_params(path).items())
        except (ValueError, struct.error) as exc:
            message = str(exc) if str(path) in str(exc) else f"{path}: bad MXNet .params file ({error_summary(exc)})"
            raise CheckpointError(f"{message}. Supported: {SUPPORTED}.") from None
    if is_packed(path):
        return unpack(path)
    try:
        obj = _torch_load(path)
    except Exception as exc:  # noqa: BLE001 - torch raises many types for foreign files
        raise CheckpointError(
            f"{path}: cannot be read by torch.load ({error_summary(exc)}); found {_sniff(path)}. "
            f"Supported: {SUPPORTED}."
        ) from None
    return _tensors_only(_extract(obj, path), path)


def _tensors_only(state: dict[str, Any], path: Path) -> dict[str, torch.Tensor]:
    """``state`` if every value is a tensor, else a CheckpointError naming the first entry that is not."""
    for key, value in state.items():
        if not isinstance(value, torch.Tensor):
            raise CheckpointError(f"{path}: entry {key!r} is {_describe(value)}, not a tensor. Supported: {SUPPORTED}.")
    return state


def adapt_state_dict(state: Mapping[str, torch.Tensor], net: nn.Module) -> dict[str, torch.Tensor]:
    """Fit a checkpoint's keys to ``net``: strip the :data:`PREFIXES` the net does not have and add the
    ``num_batches_tracked`` buffers old checkpoints lack (taken from ``net``)."""
    target = net.state_dict()
    out = dict(state)
    changed = True
    while changed and out:
        changed = False
        for prefix in PREFIXES:
            if all(k.startswith(prefix) for k in out) and not any(k.startswith(prefix) for k in target):
                out = {k[len(prefix) :]: v for k, v in out.items()}
                changed = True
    for key, value in target.items():
        if key.endswith("num_batches_tracked") and key not in out:
            out[key] = value.clone()
    return out


def load_state_dict_strict(
    net: nn.Module, state: Mapping[str, torch.Tensor], source: str, strict: bool = True
) -> LoadReport:
    """Copy ``state`` into ``net``; in strict mode any missing, unexpected or mis-shaped key is an error.

    Raises
    ------
    CheckpointError
        Listing the missing keys, the unexpected keys and the shape mismatches (strict mode), or the shape
        mismatches (non-strict mode).
    """
    target = net.state_dict()
    missing = [k for k in target if k not in state]
    unexpected = [k for k in state if k not in target]
    shapes = [
        f"{k}: checkpoint {tuple(state[k].shape)} vs model {tuple(target[k].shape)}"
        for k in target
        if k in state and tuple(state[k].shape) != tuple(target[k].shape)
    ]
    if shapes or (strict and (missing or unexpected)):

        def fmt(items: list[str]) -> str:
            return ", ".join(items[:20]) + (f" ... (+{len(items) - 20} more)" if len(items) > 20 else "")

        parts = [
            f"{len(missing)} missing keys: {fmt(missing)}" if missing else "",
            f"{len(unexpected)} unexpected keys: {fmt(unexpected)}" if unexpected else "",
            f"{len(shapes)} shape mismatches: {fmt(shapes)}" if shapes else "",
        ]
        raise CheckpointError(f"{source} does not fit {type(net).__name__}: " + "; ".join(p for p in parts if p))
    net.load_state_dict({k: v for k, v in state.items() if k in target}, strict=False)
    return LoadReport(missing, unexpected)


def load_checkpoint(net: nn.Module, path: str | Path, strict: bool = True) -> LoadReport:
    """Read ``path`` (any supported format), adapt prefixes and load it into ``net``.

    Parameters
    ----------
    net : nn.Module
    path : str or Path
    strict : bool
        Default True: every key of ``net`` must be present and no extra key may remain.

    Returns
    -------
    LoadReport
        The missing and unexpected keys (both empty after a strict load).
    """
    state = adapt_state_dict(read_state_dict(path), net)
    return load_state_dict_strict(net, state, str(path), strict=strict)


def gluon_state_dict(params: Mapping[str, torch.Tensor], fixed_bn: tuple[str, ...] = ()) -> dict[str, torch.Tensor]:
    """Map Gluon parameter names onto PyTorch ones (``gamma``/``beta`` -> ``weight``/``bias``).

    Parameters
    ----------
    params : mapping
        ``{gluon name: tensor}`` as read from a ``.params`` file (structural names, e.g.
        ``layer1.0.body.1.gamma``); ``running_mean``/``running_var`` and conv ``weight``/``bias`` keep
        their names.
    fixed_bn : tuple of str
        Prefixes of Gluon ``BatchNorm(scale=False, center=False)`` layers: MXNet ignores their stored
        gamma/beta (``fix_gamma``), so they become 1 and 0.

    Returns
    -------
    dict
        PyTorch state_dict entries (without ``num_batches_tracked``; :func:`adapt_state_dict` adds them).
    """
    out: dict[str, torch.Tensor] = {}
    for name, value in params.items():
        stem, _, leaf = name.rpartition(".")
        leaf = {"gamma": "weight", "beta": "bias"}.get(leaf, leaf)
        out[f"{stem}.{leaf}" if stem else leaf] = value
    for prefix in fixed_bn:
        if f"{prefix}.weight" in out:
            out[f"{prefix}.weight"] = torch.ones_like(out[f"{prefix}.weight"])
        if f"{prefix}.bias" in out:
            out[f"{prefix}.bias"] = torch.zeros_like(out[f"{prefix}.bias"])
    return out


def load_gluon_or_torch(net: nn.Module, path: str | Path, fixed_bn: tuple[str, ...] = ()) -> LoadReport:
    """Load an MXNet ``.params`` file (names mapped by :func:`gluon_state_dict`) or any torch checkpoint
    (e.g. a converted one) strictly into ``net``."""
    path = Path(path).expanduser()
    if path.is_file() and is_mxnet_params(path):
        state = adapt_state_dict(gluon_state_dict(read_state_dict(path), fixed_bn), net)
        return load_state_dict_strict(net, state, str(path))
    return load_checkpoint(net, path, strict=True)
