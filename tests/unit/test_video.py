"""Decoding with PyAV, resizing, cropping and snippet windows, on real and generated videos."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from conftest import SAMPLE_CLIP
from glancevad.errors import DataError
from glancevad.features.preprocess import crop_boxes, snippet_crops
from glancevad.features.video import iter_frames, iter_snippets, probe, resize_frame, resized_size
from media import moving_square_frames, write_video

SAMPLE = SAMPLE_CLIP


def _bilinear_loop(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """Half-pixel-centre bilinear resampling, one output pixel at a time (the definition)."""
    in_h, in_w = image.shape[:2]
    out = np.zeros((height, width, image.shape[2]))
    for y in range(height):
        sy = min(max((y + 0.5) * in_h / height - 0.5, 0), in_h - 1)
        y0 = int(np.floor(sy))
        y1, fy = min(y0 + 1, in_h - 1), sy - y0
        for x in range(width):
            sx = min(max((x + 0.5) * in_w / width - 0.5, 0), in_w - 1)
            x0 = int(np.floor(sx))
            x1, fx = min(x0 + 1, in_w - 1), sx - x0
            top = image[y0, x0] * (1 - fx) + image[y0, x1] * fx
            bottom = image[y1, x0] * (1 - fx) + image[y1, x1] * fx
            out[y, x] = top * (1 - fy) + bottom * fy
    return np.clip(np.round(out), 0, 255).astype(np.uint8)


def test_sample_clip_probe():
    info = probe(SAMPLE)
    assert (info.width, info.height, info.fps, info.frames) == (856, 480, 24.0, 481)
    assert info.snippets(16, 16) == 30
    assert abs(info.duration - 481 / 24) < 0.1


@pytest.mark.parametrize(("size", "expected"), [((856, 480), (457, 256)), ((180, 320), (256, 455)),
                                                 ((256, 256), (256, 256)), ((100, 50), (512, 256))])
def test_short_side_resized_to_256(size, expected):
    assert resized_size(*size) == expected


@pytest.mark.parametrize(("src", "dst"), [((23, 17), (40, 30)), ((40, 30), (13, 11)), ((9, 9), (9, 9))])
def test_resize_is_bilinear_with_half_pixel_centres(src, dst):
    image = np.random.default_rng(1).integers(0, 256, (src[1], src[0], 3), dtype=np.uint8)
    ours = resize_frame(image, dst)
    assert ours.shape == (dst[1], dst[0], 3)
    assert np.abs(ours.astype(int) - _bilinear_loop(image.astype(float), *dst).astype(int)).max() <= 1


@pytest.mark.parametrize("crops", [1, 5, 10])
def test_crops_positions_flips_and_range(crops):
    snippet = np.random.default_rng(0).integers(0, 256, (4, 256, 300, 3), dtype=np.uint8)
    clips = snippet_crops(snippet, crops)
    assert clips.shape == (crops, 3, 4, 224, 224)
    assert clips.min() >= -1 and clips.max() <= 1
    scaled = torch.from_numpy(snippet).permute(3, 0, 1, 2).float() * 2 / 255 - 1
    boxes = crop_boxes(256, 300, crops)
    for i, (y, x) in enumerate(boxes):
        torch.testing.assert_close(clips[i], scaled[:, :, y : y + 224, x : x + 224])
    if crops == 10:
        torch.testing.assert_close(clips[5:], clips[:5].flip(-1))
    centre = boxes[0] if crops == 1 else boxes[4]
    assert centre == (16, 38)


def test_crop_of_a_too_small_frame_is_refused():
    with pytest.raises(ValueError, match="smaller than the 224x224 crop"):
        crop_boxes(200, 300, 1)


@pytest.mark.parametrize(("count", "stack", "step"), [(50, 16, 16), (50, 16, 8), (50, 4, 7), (15, 16, 16), (16, 16, 1)])
def test_snippet_windows_match_brute_force(count, stack, step):
    frames = [np.full((2, 2, 3), i, np.uint8) for i in range(count)]
    got = [(start, s[:, 0, 0, 0].tolist()) for start, s in iter_snippets(iter(frames), stack=stack, step=step)]
    expected = [(s, list(range(s, s + stack))) for s in range(0, count - stack + 1, step)]
    assert got == expected


def test_decoding_streams_every_frame_of_the_real_clip():
    count, first = 0, None
    for frame in iter_frames(SAMPLE):
        first = frame if first is None else first
        count += 1
    assert count == 481 and first.shape == (256, 457, 3) and first.dtype == np.uint8


@pytest.mark.parametrize(
    ("width", "height", "codec", "suffix"), [(251, 187, "ffv1", ".mkv"), (180, 320, "mpeg4", ".mp4")]
)
def test_odd_and_portrait_sizes(tmp_path, width, height, codec, suffix):
    path = write_video(tmp_path / f"v{suffix}", 20, width=width, height=height, codec=codec)
    frames = list(iter_frames(path))
    assert len(frames) == 20
    assert min(frames[0].shape[:2]) == 256
    assert frames[0].shape[:2] == resized_size(width, height)[::-1]
    # the square moves right: its column of bright pixels advances
    bright = [np.argmax((f.min(axis=2) > 200).sum(axis=0)) for f in (frames[0], frames[-1])]
    assert bright[1] > bright[0]


def test_lossless_decode_returns_the_written_pixels(tmp_path):
    path = write_video(tmp_path / "v.mkv", 5, width=64, height=48, codec="ffv1")
    decoded = list(iter_frames(path, short_side=None))
    for got, want in zip(decoded, moving_square_frames(5, 64, 48), strict=True):
        assert np.abs(got.astype(int) - want.astype(int)).max() <= 3  # yuv444p rounding only


def test_variable_frame_rate_resampled_by_timestamps(tmp_path):
    steps = np.random.default_rng(0).choice([0.02, 0.05, 0.1], 59)
    times = np.r_[0, np.cumsum(steps)]
    path = write_video(tmp_path / "vfr.mkv", 60, times=list(times))
    assert len(list(iter_frames(path, short_side=None))) == 60  # native: every frame
    picked = len(list(iter_frames(path, fps=10, short_side=None)))
    expected = len({int(np.floor(t * 10 + 1e-6)) for t in times})  # one frame per 0.1 s slot that has one
    assert picked == expected


def test_unreadable_and_missing_files(tmp_path):
    (tmp_path / "text.mp4").write_text("not a video")
    with pytest.raises(DataError, match="text.mp4: not a readable video"):
        probe(tmp_path / "text.mp4")
    with pytest.raises(DataError, match="nope.mp4: video not found"):
        list(iter_frames(tmp_path / "nope.mp4"))
    (tmp_path / "folder.mp4").mkdir()
    with pytest.raises(DataError, match="folder.mp4: is a folder, not a video file"):
        probe(tmp_path / "folder.mp4")


def test_truncated_file_decodes_what_is_there(tmp_path):
    full = write_video(tmp_path / "full.avi", 120)
    cut = tmp_path / "cut.avi"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    assert probe(cut).frames == 120  # the header still promises every frame
    decoded = len(list(iter_frames(cut, short_side=None)))
    assert 0 < decoded < 120
