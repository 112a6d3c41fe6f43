"""Building blocks shared by the networks. A leaf package: it imports no model."""

from glancevad.layers.attention import GlobalLocalTransformer
from glancevad.layers.memory import MemoryUnit
from glancevad.layers.temporal import TemporalConv

__all__ = ["GlobalLocalTransformer", "MemoryUnit", "TemporalConv"]
