"""From raw video to the field's snippet features: Inception-I3D, PyAV decoding, extraction."""

from glancevad.features.extract import ExtractionSettings, Shard, SnippetExtractor, extract_videos, video_list
from glancevad.features.i3d import FEATURE_DIM, InceptionI3d, fuse_batch_norm
from glancevad.features.weights import load_i3d

__all__ = [
    "FEATURE_DIM",
    "ExtractionSettings",
    "InceptionI3d",
    "Shard",
    "SnippetExtractor",
    "extract_videos",
    "fuse_batch_norm",
    "load_i3d",
    "video_list",
]
