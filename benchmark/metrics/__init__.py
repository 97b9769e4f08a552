"""Metrics: named protocols, per-image evaluation, dataset accumulators and curves."""

from benchmark.metrics.accumulator import DetectionMetrics, detection_metrics
from benchmark.metrics.bootstrap import bootstrap_ci
from benchmark.metrics.components import Matching, match_components
from benchmark.metrics.curves import CurveMetrics
from benchmark.metrics.image import BUCKETS, ImageStats, evaluate_image
from benchmark.metrics.protocols import PROTOCOLS, Protocol, get_protocol

__all__ = [
    "BUCKETS",
    "PROTOCOLS",
    "CurveMetrics",
    "DetectionMetrics",
    "ImageStats",
    "Matching",
    "Protocol",
    "bootstrap_ci",
    "detection_metrics",
    "evaluate_image",
    "get_protocol",
    "match_components",
]
