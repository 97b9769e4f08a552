"""The detector registry: ``@register`` a detector, ``create`` it by name, ``list_methods`` with patterns.

A detector is either

* a **function** ``f(image, **params) -> score`` mapping one float32 HxW grey image (0-255 scale) to a
  float32 HxW score map, optionally returning ``(score, meta)`` where ``meta`` is a dict of per-image
  facts (iterations, residual, ...) kept in the run's records; or
* a **class** derived from :class:`Detector` (deep detectors: batched ``detect_batch``, weights, device).

Registration records the paper, year, family (the Table 1 "Description" group), kind, default parameters
and the default binarisation policy. Third-party packages register through the entry-point group
``irbench.methods``: each entry point names a module to import (its decorators do the rest).
"""

from __future__ import annotations

import fnmatch
import importlib
import inspect
import pkgutil
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any

import numpy as np

from methods.names import Registry, UnknownNameError

__all__ = [
    "HASH_DIGITS",
    "Complexity",
    "Detector",
    "FunctionDetector",
    "MethodSpec",
    "TrainingSet",
    "register",
    "create",
    "get_spec",
    "list_methods",
    "resolve_methods",
    "UnknownMethodError",
    "MissingWeightsError",
    "NotConfigurableError",
    "KINDS",
    "FAMILIES",
]

KINDS = ("traditional", "deep")
FAMILIES = {  # family key -> Table 1 "Description" label, in table order
    "filtering": "Filtering",
    "local_contrast": "Local Contrast",
    "low_rank": "Low Rank",
    "deep": "Deep Learning",
}
ENTRY_POINT_GROUP = "irbench.methods"

_loaded = False  # whether built-in modules and entry points were imported
_IMPORT_ERRORS: dict[str, str] = {}  # module or entry point -> why it could not be imported


class UnknownMethodError(UnknownNameError):
    """A method name or pattern that matches nothing in the registry."""


def _import_hint() -> str:
    if not _IMPORT_ERRORS:
        return ""
    return ". Not importable: " + "; ".join(f"{k} ({v})" for k, v in _IMPORT_ERRORS.items())


def _natural_key(text: str) -> list[Any]:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", text)]


METHODS: Registry[MethodSpec] = Registry("method", UnknownMethodError, hint=_import_hint, order=_natural_key)


class MissingWeightsError(RuntimeError):
    """A deep detector has no weights for the requested dataset; the message carries the hint."""


class NotConfigurableError(ValueError):
    """A detector cannot run on the requested dataset as parameterised (e.g. no normalisation constants
    for it); the message says what to pass instead."""


@dataclass(frozen=True)
class Complexity:
    """Size of a network: ``params`` (learnable parameters) and ``macs`` (multiply-accumulates of one
    forward pass at batch 1, the quantity IRSTD papers label "FLOPs")."""

    params: int
    macs: int


@dataclass(frozen=True)
class TrainingSet:
    """The images a detector's weights were trained on: content hashes (the first ``HASH_DIGITS`` hex digits
    of :func:`benchmark.store.image_hash`) where they are recorded, else a dataset and split to resolve."""

    description: str
    hashes: frozenset[str] | None = None
    dataset: str | None = None
    split: str | None = None


HASH_DIGITS = 16  # 64-bit prefixes of the image sha256: compact, and no collision in any IRSTD set


class Detector:
    """Base class of stateful detectors (deep models). Subclasses implement :meth:`detect_batch`.

    ``params`` holds the resolved parameters (defaults overridden by the caller). ``batched`` tells the
    runner to feed lists of images in the main process instead of scheduling images over workers.
    """

    batched: bool = True
    name: str = ""  # the registered name, set by :func:`create`

    def __init__(self, **params: Any) -> None:
        self.params = params

    @property
    def batch_size(self) -> int:
        """Images this detector prefers per :meth:`detect_batch` call (its ``batch_size`` parameter, else 1)."""
        return int(self.params.get("batch_size", 1))

    def detect_batch(self, images: list[np.ndarray]) -> list[np.ndarray]:
        """Map a list of float32 HxW images (0-255 scale) to float32 HxW score maps."""
        raise NotImplementedError

    def detect(self, image: np.ndarray) -> np.ndarray:
        """Score one image (calls :meth:`detect_batch`)."""
        return self.detect_batch([image])[0]

    def detect_with_meta(self, image: np.ndarray) -> tuple[np.ndarray, dict[str, Any]]:
        """Score one image and return ``(score, per-image metadata)``."""
        return self.detect(image), {}

    def configure(self, dataset: str) -> None:
        """Called by the runner before a dataset is scored (deep detectors pick default weights here and
        raise :class:`MissingWeightsError` when none exist)."""

    def provenance(self) -> dict[str, Any]:
        """Facts about this detector's configuration worth recording in a run (e.g. weights sha256)."""
        return {}

    @classmethod
    def protocol_params(cls, eval_size: int | None) -> dict[str, Any]:
        """Parameters this detector takes under a protocol that evaluates at ``eval_size`` squared (``None``:
        native resolution), below the user's own; none by default."""
        return {}

    def training_set(self) -> TrainingSet | None:
        """The images the configured weights were trained on, where known (checked for train/test overlap);
        None for detectors without training or of unknown provenance."""
        return None

    def use_random_weights(self, seed: int = 0) -> None:
        """Make the detector runnable without its weights (seeded random initialisation), for profiling;
        detectors without weights need nothing."""

    def complexity(self, size: int) -> Complexity | None:
        """Parameters and MACs of scoring one ``size`` x ``size`` image, or None where the notion does not
        apply (traditional detectors)."""
        return None

    def __call__(self, image: np.ndarray) -> np.ndarray:
        return self.detect(image)


class FunctionDetector(Detector):
    """Wraps a registered detector function with bound parameters."""

    batched = False

    def __init__(self, func: Callable[..., Any], **params: Any) -> None:
        super().__init__(**params)
        self.func = func

    def detect_with_meta(self, image: np.ndarray) -> tuple[np.ndarray, dict[str, Any]]:
        """Score one image and return ``(score, meta)``."""
        out = self.func(image, **self.params)
        if isinstance(out, tuple):
            score, meta = out
            return score, dict(meta)
        return out, {}

    def detect(self, image: np.ndarray) -> np.ndarray:
        return self.detect_with_meta(image)[0]

    def detect_batch(self, images: list[np.ndarray]) -> list[np.ndarray]:
        return [self.detect(im) for im in images]


@dataclass(frozen=True)
class MethodSpec:
    """Everything the engine knows about a registered method."""

    name: str
    target: Callable[..., Any]
    family: str
    kind: str
    paper: str
    year: int | None
    defaults: dict[str, Any] = field(default_factory=dict)
    policy: str = "minmax:0.5"
    version: str = "1"
    aliases: tuple[str, ...] = ()
    display: str = ""

    @property
    def description(self) -> str:
        """The Table 1 "Description" label of this method's family."""
        return FAMILIES.get(self.family, self.family.replace("_", " ").title())

    @property
    def label(self) -> str:
        """Display name for tables (``display`` or the registered name)."""
        return self.display or self.name

    @property
    def origin(self) -> str:
        """``module:qualname`` of the registered object."""
        return f"{self.target.__module__}:{self.target.__qualname__}"


def register(
    name: str,
    *,
    family: str,
    kind: str,
    paper: str,
    year: int | None = None,
    defaults: dict[str, Any] | None = None,
    policy: str = "minmax:0.5",
    version: str = "1",
    aliases: tuple[str, ...] = (),
    display: str = "",
) -> Callable[[Any], Any]:
    """Register a detector function or :class:`Detector` subclass under ``name``.

    Parameters
    ----------
    name : str
        Lower-case method name used on the command line (``tophat``).
    family : str
        Family key: one of ``FAMILIES`` (``filtering``, ``local_contrast``, ``low_rank``, ``deep``) or a
        new one.
    kind : {"traditional", "deep"}
    paper, year : citation of the method's paper.
    defaults : dict
        Default parameters. Only these names are accepted by :func:`create`.
    policy : str
        Default binarisation policy (e.g. ``"minmax:0.5"``, ``"fixed:0.5"``, ``"adaptive"``).
    version : str
        Bump whenever the output for the same parameters changes; it is part of the cache key.
    aliases : tuple of str
        Other names that resolve to this method.
    display : str
        Name shown in tables (``Top-Hat``); defaults to ``name``.
    """
    if kind not in KINDS:
        raise ValueError(f"register({name!r}): kind must be one of {KINDS}, got {kind!r}")
    if not re.fullmatch(r"[a-z0-9][a-z0-9_\-]*", name):
        raise ValueError(f"register({name!r}): names are lower-case letters, digits, '-' and '_'")

    def decorator(target: Any) -> Any:
        is_class = inspect.isclass(target)
        if is_class and not issubclass(target, Detector):
            raise TypeError(f"register({name!r}): class {target.__qualname__} must inherit from Detector")
        if not is_class and not callable(target):
            raise TypeError(f"register({name!r}): {target!r} is neither a function nor a Detector class")
        spec = MethodSpec(
            name=name,
            target=target,
            family=family,
            kind=kind,
            paper=paper,
            year=year,
            defaults=dict(defaults or {}),
            policy=policy,
            version=version,
            aliases=tuple(aliases),
            display=display,
        )
        for key in (name, *aliases):
            existing = METHODS.get(key)
            if existing is not None and existing.origin != spec.origin:
                raise ValueError(
                    f"Method {key!r} is already registered (existing={existing.origin}, new={spec.origin})"
                )
        if name in METHODS:  # the same module imported again
            METHODS.replace(name, spec)
        else:
            METHODS.add(name, spec, tuple(aliases))
        return target

    return decorator


def _load_all() -> None:
    """Import every built-in detector module, then the modules of third-party entry points."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    import methods

    for info in pkgutil.walk_packages(methods.__path__, prefix="methods."):
        _try_import(info.name, lambda name=info.name: importlib.import_module(name))
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        _try_import(f"entry point {ep.name} ({ep.value})", ep.load)


def _try_import(what: str, load: Callable[[], Any]) -> None:
    """Import one detector module; a failure (e.g. torch missing) disables only that module's methods."""
    try:
        load()
    except Exception as exc:  # noqa: BLE001 - any import failure must leave the other methods usable
        _IMPORT_ERRORS[what] = f"{type(exc).__name__}: {exc}"
        warnings.warn(f"irbench: could not import {what}: {exc}", stacklevel=3)


def get_spec(name: str) -> MethodSpec:
    """Return the :class:`MethodSpec` of ``name`` (or an alias); unknown names list what exists."""
    _load_all()
    return METHODS[name]


def create(name: str, **params: Any) -> Detector:
    """Build the detector ``name`` with ``params`` overriding its defaults.

    ``None`` values are dropped so CLI defaults never override a method's defaults. Unknown parameter
    names raise ``TypeError`` listing the accepted ones.

    Examples
    --------
    >>> det = create("tophat", size=7)
    >>> score = det(image)  # doctest: +SKIP
    """
    spec = get_spec(name)
    params = {k: v for k, v in params.items() if v is not None}
    unknown = sorted(set(params) - set(spec.defaults))
    if unknown:
        raise TypeError(
            f"Unexpected parameters for method '{spec.name}': {', '.join(unknown)}. "
            f"Accepted: {', '.join(sorted(spec.defaults)) or '(none)'}"
        )
    resolved = {**spec.defaults, **params}
    det = spec.target(**resolved) if inspect.isclass(spec.target) else FunctionDetector(spec.target, **resolved)
    det.name = spec.name
    return det


def list_methods(pattern: str = "*") -> list[str]:
    """Names matching ``pattern``: a name, alias, fnmatch wildcard, ``all``, a kind or a family key."""
    _load_all()
    pat = pattern.strip().lower()
    if pat in ("all", "*"):
        names = list(METHODS)
    elif pat in KINDS:
        names = [n for n, s in METHODS.items() if s.kind == pat]
    elif pat in {s.family for s in METHODS.values()}:
        names = [n for n, s in METHODS.items() if s.family == pat]
    elif pat in METHODS.aliases:
        names = [METHODS.aliases[pat]]
    else:
        names = fnmatch.filter(list(METHODS), pat)
    return sorted(names, key=_table_order)


def _table_order(name: str) -> tuple[int, int, list[Any]]:
    spec = METHODS[name]
    families = list(FAMILIES)
    fam = families.index(spec.family) if spec.family in families else len(families)
    return (KINDS.index(spec.kind), fam, _natural_key(name))


def resolve_methods(patterns: str | list[str]) -> list[str]:
    """Resolve a comma-separated list (or list) of names/patterns into unique names in table order.

    Raises :class:`UnknownMethodError` for a pattern that matches nothing.
    """
    items = patterns.split(",") if isinstance(patterns, str) else list(patterns)
    names: list[str] = []
    for item in (i.strip() for i in items if i.strip()):
        found = list_methods(item)
        if not found:
            raise METHODS.unknown(item)
        names.extend(n for n in found if n not in names)
    _load_all()
    return sorted(names, key=_table_order)
