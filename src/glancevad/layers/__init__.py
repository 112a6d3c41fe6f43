"""Building blocks shared by the networks. A leaf package: it imports no model."""

from glancevad.layers.attention import GlobalLocalTransformer
from glancevad.layers.dropout import Dropout
from glancevad.layers.memory import MemoryUnit
from glancevad.layers.nonlocal_block import NonLocal1d
from glancevad.layers.temporal import TemporalConv

__all__ = ["Dropout", "GlobalLocalTransformer", "MemoryUnit", "NonLocal1d", "TemporalConv"]
