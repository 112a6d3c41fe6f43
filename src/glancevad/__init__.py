"""glancevad: label-efficient video anomaly detection with glance supervision."""

from glancevad.errors import DataError, GlanceVADError

__version__ = "0.1.0"  # the one place the version is written (pyproject.toml reads it)
__all__ = ["DataError", "GlanceVADError", "__version__"]
