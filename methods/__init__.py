"""Detectors: the registry and every built-in detector, grouped by family sub-package."""

from methods.registry import Detector, create, get_spec, list_methods, register, resolve_methods

__all__ = ["Detector", "create", "get_spec", "list_methods", "register", "resolve_methods"]
