"""The data contract: dataset layout, lists, ground truth and snippet features."""

from glancevad.data.dataset import VADDataset, Video, load_dataset
from glancevad.data.feature_files import FeatureFiles, FeatureIndex, load_features
from glancevad.data.groundtruth import (
    build_ground_truth,
    read_ground_truth,
    read_temporal_annotations,
    write_ground_truth,
)
from glancevad.data.lists import VideoList, read_video_list, write_video_list

__all__ = [
    "FeatureFiles",
    "FeatureIndex",
    "VADDataset",
    "Video",
    "VideoList",
    "build_ground_truth",
    "load_dataset",
    "load_features",
    "read_ground_truth",
    "read_temporal_annotations",
    "read_video_list",
    "write_ground_truth",
    "write_video_list",
]
