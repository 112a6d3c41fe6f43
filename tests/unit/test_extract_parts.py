"""Extraction bookkeeping: shards, video lists and manifests merged from several shards."""

from __future__ import annotations

from pathlib import Path

import pytest

from glancevad.errors import GlanceVADError
from glancevad.features.extract import Shard, merge_manifests, video_list
from glancevad.fileio import write_json


def test_shard_parsing_and_environment(monkeypatch):
    for name in ("RANK", "WORLD_SIZE", "SLURM_PROCID", "SLURM_NTASKS"):
        monkeypatch.delenv(name, raising=False)
    assert Shard.parse(None) == Shard(0, 1)
    assert Shard.parse("2/3") == Shard(2, 3)
    monkeypatch.setenv("SLURM_PROCID", "1")
    monkeypatch.setenv("SLURM_NTASKS", "4")
    assert Shard.parse(None) == Shard(1, 4)
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert Shard.parse(None) == Shard(0, 2)  # torchrun's variables win
    for bad in ("3/3", "-1/2", "a/b", "1", "1/0"):
        with pytest.raises(GlanceVADError, match="shard must be i/N"):
            Shard.parse(bad)
    assert Shard(0, 1).manifest_name == "extraction.json"
    assert Shard(1, 4).manifest_name == "extraction.shard-1-of-4.json"


def test_shards_partition_the_sorted_list():
    videos = [(f"v{i:02d}", Path(f"/x/v{i:02d}.mp4")) for i in (7, 3, 11, 0, 5, 9, 1)]
    parts = [Shard(i, 3).select(videos) for i in range(3)]
    assert sorted(v for part in parts for v in part) == sorted(videos)
    assert parts[0] == sorted(videos)[0::3]
    assert all(len(part) in (2, 3) for part in parts)


def test_video_list_from_folders_and_list_files(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "one.mp4").write_bytes(b"")
    (tmp_path / "a" / "two.AVI").write_bytes(b"")
    (tmp_path / "a" / "readme.txt").write_text("")
    (tmp_path / "list.txt").write_text("# comment\na/one.mp4\n\nb/three.mkv  # trailing\n")
    found = dict(video_list([tmp_path / "a"], tmp_path / "list.txt"))
    assert sorted(found) == ["one", "three", "two"]
    assert found["three"] == tmp_path / "b" / "three.mkv"
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "one.mp4").write_bytes(b"")
    with pytest.raises(GlanceVADError, match="two videos share the id 'one'"):
        video_list([tmp_path / "a", tmp_path / "b"])
    with pytest.raises(GlanceVADError, match="no videos given"):
        video_list([])


def test_merge_checks_shard_manifests(tmp_path):
    settings = {"crops": 1, "stack": 16, "step": 16, "fps": None, "weights": "rgb_scratch", "layout": "stacked",
                "feature_dim": 1024}
    (tmp_path / "a.npy").write_bytes(b"")
    write_json(tmp_path / "extraction.shard-0-of-2.json",
               {"settings": settings, "shard": [0, 2], "videos": {"a": {"status": "done"}}})
    with pytest.raises(GlanceVADError, match="shard\\(s\\) 1 of 2 have no manifest"):
        merge_manifests(tmp_path)
    write_json(tmp_path / "extraction.shard-1-of-2.json",
               {"settings": settings, "shard": [1, 2], "videos": {"b": {"status": "failed", "error": "boom"}}})
    report = merge_manifests(tmp_path)
    assert report["done"] == 1 and report["failed"] == {"b": "boom"} and report["shards"] == 2
    write_json(tmp_path / "extraction.shard-1-of-2.json",
               {"settings": settings, "shard": [1, 2], "videos": {"a": {"status": "done"}}})
    with pytest.raises(GlanceVADError, match="video a is listed by more than one shard"):
        merge_manifests(tmp_path)
    write_json(tmp_path / "extraction.shard-1-of-2.json",
               {"settings": {**settings, "crops": 10}, "shard": [1, 2], "videos": {}})
    with pytest.raises(GlanceVADError, match="different settings"):
        merge_manifests(tmp_path)
