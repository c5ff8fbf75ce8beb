"""KerasTuner's name for `e2etune.engine.metrics`: metric histories and direction inference."""

from e2etune.engine.metrics import (
    MetricHistory,
    MetricObservation,
    MetricsTracker,
    infer_metric_direction,
)

__all__ = ["MetricHistory", "MetricObservation", "MetricsTracker", "infer_metric_direction"]
