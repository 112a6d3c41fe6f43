"""From raw video to the field's snippet features: Inception-I3D, PyAV decoding, extraction.

``features.video`` (PyAV probing, decoding, encoding) loads torch only to resize frames, so the
annotation tool can use it without torch; the names below are imported on first use.
"""

from importlib import import_module

_EXPORTS = {
    "ExtractionSettings": "extract", "Shard": "extract", "SnippetExtractor": "extract", "extract_videos": "extract",
    "video_list": "extract", "FEATURE_DIM": "i3d", "InceptionI3d": "i3d", "fuse_batch_norm": "i3d",
    "load_i3d": "weights",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(import_module(f"glancevad.features.{_EXPORTS[name]}"), name)
    raise AttributeError(name)
