"""Binarisation policies: named, parameterised rules that turn a score map into a bool mask.

* ``fixed:T``   score > T (probability maps; deep detectors use ``fixed:0.5``).
* ``minmax:T``  per-image min-max normalisation to [0, 1], then > T (BasicIRSTD's rule for traditional maps).
* ``adaptive``  score > max(0.7 * max, mean + 0.5 * std) per image (the DNANet rule).
* ``meanstd:K`` score > mean + K * std per image.
* ``sweep``     min-max normalised maps cut at one dataset-level threshold: the best dataset IoU of the 256
                thresholds k/256 on the evaluated data itself. Optimistic (an oracle), flagged in reports.

``normalise`` maps a score map to [0, 1] for curves: clipping for ``fixed``, per-image min-max otherwise.
A constant map min-max normalises to all zeros, so it never yields a detection.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from benchmark.metrics.curves import above
from benchmark.metrics.tree import levels
from benchmark.record import PolicyRecord
from methods.names import Registry

POLICIES: Registry[tuple[str, str]] = Registry("policy")  # kind -> (form, description)
for _kind, _form, _text in (
    ("fixed", "fixed:T", "score > T (for probabilities; default T=0.5)"),
    ("minmax", "minmax:T", "per-image min-max normalise to [0,1], then > T (default T=0.5)"),
    ("adaptive", "adaptive", "score > max(0.7*max, mean + 0.5*std) per image (DNANet rule)"),
    ("meanstd", "meanstd:K", "score > mean + K*std per image"),
    ("sweep", "sweep", "best dataset IoU over 256 thresholds on min-max maps (optimistic: tuned on the test data)"),
):
    POLICIES.add(_kind, (_form, _text))
POLICIES.hint = lambda: f" (forms: {', '.join(form for form, _ in POLICIES.values())})"
KINDS = tuple(POLICIES)
SWEEP_BINS = 256


def _as_score(score: np.ndarray) -> np.ndarray:
    score = np.asarray(score, dtype=np.float32)
    if score.ndim != 2 or score.size == 0:
        raise ValueError(f"score must be a non-empty 2-D map, got shape {score.shape}")
    return score


def minmax(score: np.ndarray) -> np.ndarray:
    """Min-max normalise a score map to float32 [0, 1]; a constant map becomes all zeros."""
    score = _as_score(score)
    lo, hi = float(score.min()), float(score.max())
    if hi <= lo:
        return np.zeros_like(score)
    return (score - np.float32(lo)) / np.float32(hi - lo)


class Policy:
    """A binarisation rule with its parameter.

    Parameters
    ----------
    kind : {"fixed", "minmax", "adaptive", "meanstd"}
        The rule (``sweep`` is :class:`SweepPolicy`).
    value : float or None
        The threshold T of ``fixed`` / ``minmax`` or the K of ``meanstd``; ``None`` for ``adaptive``.

    Attributes
    ----------
    name : str
        Canonical string, e.g. ``minmax:0.5``.
    params : dict
        The parameter by name (``threshold`` or ``k``).
    optimistic : bool
        True when the rule is tuned on the evaluated data (``sweep`` only).
    needs_fit : bool
        True while a dataset-level fit is pending (``sweep`` only).
    """

    optimistic = False
    needs_fit = False

    def __init__(self, kind: str, value: float | None = None) -> None:
        if kind not in KINDS[:4]:
            raise ValueError(f"kind must be one of {KINDS[:4]}, got {kind!r}")
        if (value is None) != (kind == "adaptive"):
            raise ValueError(f"policy {kind!r} {'takes no' if kind == 'adaptive' else 'needs a'} value, got {value!r}")
        self.kind, self.value = kind, value

    @property
    def name(self) -> str:
        return self.kind if self.value is None else f"{self.kind}:{self.value:g}"

    @property
    def params(self) -> dict[str, Any]:
        if self.value is None:
            return {}
        return {"k" if self.kind == "meanstd" else "threshold": self.value}

    def normalise(self, score: np.ndarray) -> np.ndarray:
        """float32 map in [0, 1] for curves: clipped for ``fixed``, per-image min-max otherwise."""
        if self.kind == "fixed":
            return np.clip(_as_score(score), 0.0, 1.0)
        return minmax(score)

    def binarise(self, score: np.ndarray) -> np.ndarray:
        """Bool mask of the pixels the rule keeps (strictly above the threshold)."""
        score = _as_score(score)
        if self.kind == "fixed":
            return score > self.value
        if self.kind == "minmax":
            return minmax(score) > self.value
        mean, std = float(score.mean()), float(score.std())
        if self.kind == "adaptive":
            return score > max(0.7 * float(score.max()), mean + 0.5 * std)
        return score > mean + self.value * std  # meanstd

    def record(self) -> PolicyRecord:
        """The policy as applied, for the run record (with the fitted threshold of ``sweep``)."""
        return PolicyRecord(self.kind, self.value, getattr(self, "threshold", None), self.optimistic)

    def __repr__(self) -> str:
        return f"Policy({self.name!r})"


class SweepPolicy(Policy):
    """Dataset-level oracle threshold on min-max maps: ``fit_update`` on every image, then ``fit_done``.

    ``fit_update`` accumulates, for the 256 thresholds k/256, the predicted pixels and the predicted target
    pixels (two histograms per image); ``fit_done`` keeps the threshold with the best dataset IoU (the
    lowest one on ties).
    """

    optimistic = True

    def __init__(self) -> None:
        self.kind, self.value = "sweep", None
        self.threshold: float | None = None
        self._pred = np.zeros(SWEEP_BINS, dtype=np.int64)
        self._inter = np.zeros(SWEEP_BINS, dtype=np.int64)
        self._gt = 0
        self._n_images = 0

    @property
    def needs_fit(self) -> bool:  # type: ignore[override]
        return self.threshold is None

    @property
    def name(self) -> str:
        return "sweep" if self.threshold is None else f"sweep (fitted threshold {self.threshold:.4f})"

    @property
    def params(self) -> dict[str, Any]:
        return {"threshold": self.threshold}

    def fit_update(self, score: np.ndarray, gt: np.ndarray) -> None:
        """Accumulate one image's per-threshold predicted and intersecting pixel counts."""
        norm, gt = minmax(score), np.asarray(gt)
        if gt.shape != norm.shape:
            raise ValueError(f"score shape {norm.shape} and ground-truth shape {gt.shape} differ")
        gt = gt.astype(bool, copy=False)
        level = levels(norm, SWEEP_BINS)  # a pixel is above threshold k / 256 exactly when k < its level
        self._pred += above(np.bincount(level.ravel(), minlength=SWEEP_BINS + 1))
        self._inter += above(np.bincount(level[gt], minlength=SWEEP_BINS + 1))
        self._gt += int(np.count_nonzero(gt))
        self._n_images += 1

    def fit_done(self) -> None:
        """Pick and store the threshold with the best dataset IoU."""
        if self._n_images == 0:
            raise ValueError("the sweep policy saw no image: call fit_update before fit_done")
        union = self._gt + self._pred - self._inter
        iou = np.where(union > 0, self._inter / np.maximum(union, 1), 0.0)
        self.threshold = float(np.argmax(iou)) / SWEEP_BINS

    def binarise(self, score: np.ndarray) -> np.ndarray:
        """Min-max normalise, then keep the pixels above the fitted threshold."""
        if self.threshold is None:
            raise RuntimeError("the sweep policy must be fitted (fit_update / fit_done) before binarising")
        return minmax(score) > self.threshold


def parse_policy(text: str) -> Policy:
    """Parse a policy string.

    Parameters
    ----------
    text : str
        ``fixed:T`` or ``minmax:T`` (T in [0, 1); ``fixed`` / ``minmax`` alone mean T = 0.5),
        ``adaptive``, ``meanstd:K`` (K finite) or ``sweep``. Case and surrounding spaces are ignored.

    Returns
    -------
    Policy
        A fresh policy (a :class:`SweepPolicy` for ``sweep``).

    Raises
    ------
    ValueError
        For anything else; the message names the string and lists the valid forms.
    """
    if not isinstance(text, str):
        raise ValueError(f"policy must be a string, got {text!r}")
    kind, sep, arg = text.strip().lower().partition(":")
    forms = ", ".join(form for form, _ in POLICIES.values())
    if kind in ("sweep", "adaptive"):
        if sep:
            raise ValueError(f"Policy {text!r}: {kind} takes no parameter (valid forms: {forms})")
        return SweepPolicy() if kind == "sweep" else Policy("adaptive")
    if kind in ("fixed", "minmax", "meanstd"):
        if not sep and kind != "meanstd":
            return Policy(kind, 0.5)
        try:
            value = float(arg)
        except ValueError:
            raise ValueError(f"Policy {text!r}: {kind} needs a number after ':' (valid forms: {forms})") from None
        if not np.isfinite(value):
            raise ValueError(f"Policy {text!r}: the parameter must be finite, got {arg!r}")
        if kind != "meanstd" and not 0.0 <= value < 1.0:
            raise ValueError(f"Policy {text!r}: the threshold must lie in [0, 1), got {value:g}")
        return Policy(kind, value)
    raise POLICIES.unknown(text)
