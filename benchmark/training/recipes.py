"""A trainable detector and its recipe, looked up by method name.

Each trainable deep detector declares its :class:`~methods.deep.recipe.Recipe` as class data and its
supervision as the hooks :meth:`~methods.deep.base.DeepDetector.training_loss` and
:meth:`~methods.deep.base.DeepDetector.prepare_training`; nothing here knows any model.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from methods.deep.base import DeepDetector
from methods.deep.recipe import Recipe
from methods.registry import create, get_spec, list_methods

__all__ = ["Recipe", "trainable", "get_recipe", "build_detector"]


def trainable() -> list[str]:
    """Registered deep methods whose detector declares a recipe."""
    return [name for name in list_methods("deep") if getattr(get_spec(name).target, "recipe", None) is not None]


def build_detector(method: str, **params: Any) -> DeepDetector:
    """The registered detector ``method`` with ``params``, validated as trainable."""
    det = create(method, **params)
    if not isinstance(det, DeepDetector) or det.recipe is None:
        raise ValueError(f"Method '{method}' has no training recipe. Trainable: {', '.join(trainable())}")
    return det


def get_recipe(method: str, **overrides: Any) -> Recipe:
    """The recipe ``method`` declares, with the non-None ``overrides`` applied (validated)."""
    recipe = getattr(get_spec(method).target, "recipe", None)
    if recipe is None:
        raise ValueError(f"Method '{method}' has no training recipe. Trainable: {', '.join(trainable())}")
    return replace(recipe, **{k: v for k, v in overrides.items() if v is not None})
