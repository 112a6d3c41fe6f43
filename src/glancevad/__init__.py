"""glancevad: label-efficient video anomaly detection with glance supervision."""

from glancevad.errors import DataError, GlanceVADError

__version__ = "0.1.0"
__all__ = ["DataError", "GlanceVADError", "__version__"]
