"""Binarisation policies: named, parameterised rules that turn a score map into a bool mask.

* ``fixed:T``   score > T (probability maps; deep detectors use ``fixed:0.5``).
* ``minmax:T``  per-image min-max normalisation to [0, 1], then > T (BasicIRSTD's rule for traditional maps).
* ``adaptive``  score > max(0.7 * max, mean + 0.5 * std) per image (the DNANet / MSLSTIPT rule).
* ``meanstd:K`` score > mean + K * std per image.
* ``sweep``     min-max normalised maps, one dataset-level threshold: the best IoU of 256 thresholds on the
                evaluated data itself. Optimistic (an oracle), flagged as such in reports.

``normalise`` maps a score map to [0, 1] for curves: clipping for ``fixed``, per-image min-max otherwise.
"""

from __future__ import annotations

from typing import Any

import numpy as np

POLICIES = {
    "fixed:T": "score > T (for probabilities; default T=0.5)",
    "minmax:T": "per-image min-max normalise to [0,1], then > T (default T=0.5)",
    "adaptive": "score > max(0.7*max, mean + 0.5*std) per image (DNANet rule)",
    "meanstd:K": "score > mean + K*std per image",
    "sweep": "best dataset IoU over 256 thresholds on min-max maps (optimistic: tuned on the test data)",
}
SWEEP_BINS = 256


def minmax(score: np.ndarray) -> np.ndarray:
    """Min-max normalise to [0, 1]; a constant map becomes all zeros."""
    score = np.asarray(score, dtype=np.float32)
    lo, hi = float(score.min()), float(score.max())
    if hi <= lo:
        return np.zeros_like(score)
    return (score - lo) / np.float32(hi - lo)


class Policy:
    """A binarisation rule with its parameters; ``name`` is its canonical string (e.g. ``minmax:0.5``)."""

    optimistic = False
    needs_fit = False

    def __init__(self, kind: str, value: float | None = None) -> None:
        self.kind, self.value = kind, value

    @property
    def name(self) -> str:
        return self.kind if self.value is None else f"{self.kind}:{self.value:g}"

    @property
    def params(self) -> dict[str, Any]:
        return {} if self.value is None else {"value": self.value}

    def normalise(self, score: np.ndarray) -> np.ndarray:
        if self.kind == "fixed":
            return np.clip(np.asarray(score, dtype=np.float32), 0.0, 1.0)
        return minmax(score)

    def binarise(self, score: np.ndarray) -> np.ndarray:
        score = np.asarray(score, dtype=np.float32)
        if self.kind == "fixed":
            return score > self.value
        if self.kind == "minmax":
            return minmax(score) > self.value
        mean, std = float(score.mean()), float(score.std())
        if self.kind == "adaptive":
            return score > max(0.7 * float(score.max()), mean + 0.5 * std)
        return score > mean + self.value * std  # meanstd

    def __repr__(self) -> str:
        return f"Policy({self.name!r})"


class SweepPolicy(Policy):
    """Dataset-level oracle threshold on min-max maps: call ``fit_update`` per image, then ``fit_done``."""

    optimistic = True

    def __init__(self) -> None:
        super().__init__("sweep")
        self.threshold: float | None = None
        self._inter = np.zeros(SWEEP_BINS, dtype=np.int64)
        self._pred = np.zeros(SWEEP_BINS, dtype=np.int64)
        self._gt = 0

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
        """Accumulate, for thresholds k/256, the pixels predicted and the true pixels predicted."""
        norm = minmax(score)
        # a pixel with value v is predicted at every threshold k/256 < v, i.e. for k < ceil(v*256)
        level = np.clip(np.ceil(norm * SWEEP_BINS).astype(np.int64), 0, SWEEP_BINS)
        gt = gt.astype(bool)
        hist_all = np.bincount(level.ravel(), minlength=SWEEP_BINS + 1)
        hist_gt = np.bincount(level[gt], minlength=SWEEP_BINS + 1)
        # predicted at threshold k: pixels with level > k -> reverse cumulative sum
        self._pred += np.cumsum(hist_all[::-1])[::-1][1:]
        self._inter += np.cumsum(hist_gt[::-1])[::-1][1:]
        self._gt += int(gt.sum())

    def fit_done(self) -> None:
        union = self._gt + self._pred - self._inter
        iou = np.where(union > 0, self._inter / np.maximum(union, 1), 0.0)
        self.threshold = float(np.argmax(iou)) / SWEEP_BINS

    def binarise(self, score: np.ndarray) -> np.ndarray:
        if self.threshold is None:
            raise RuntimeError("the sweep policy must be fitted (fit_update / fit_done) before binarising")
        return minmax(score) > self.threshold


def parse_policy(text: str) -> Policy:
    """Parse ``fixed:0.5``, ``minmax:0.5``, ``adaptive``, ``meanstd:K`` or ``sweep`` (``fixed`` and ``minmax``
    default to 0.5); anything else raises ``ValueError`` listing the valid forms."""
    kind, sep, arg = text.strip().lower().partition(":")
    forms = ", ".join(POLICIES)
    if kind == "sweep" and not sep:
        return SweepPolicy()
    if kind == "adaptive" and not sep:
        return Policy("adaptive")
    if kind in ("fixed", "minmax", "meanstd"):
        if not sep and kind != "meanstd":
            return Policy(kind, 0.5)
        try:
            value = float(arg)
        except ValueError:
            raise ValueError(f"Policy {text!r}: {kind} needs a number after ':' (valid forms: {forms})") from None
        if not np.isfinite(value) or (kind != "meanstd" and not 0.0 <= value < 1.0):
            raise ValueError(f"Policy {text!r}: threshold must be finite{' and in [0, 1)' if kind != 'meanstd' else ''}")
        return Policy(kind, value)
    raise ValueError(f"Unknown policy {text!r}. Valid forms: {forms}")
