"""The CLI reads training logs with the SDK's reader (`modelbay jobs logs`)."""

from modelbay.sdk.training_logs import TrainingLogs

__all__ = ["TrainingLogs"]
