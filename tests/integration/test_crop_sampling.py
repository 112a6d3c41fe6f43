"""Crop sampling (single-crop items as released vs crop-averaged videos) and honest selection."""

from __future__ import annotations

import json
import os
from collections import Counter

import numpy as np
import pytest
import torch

from glancevad.checkpoint_selection import choose_step, selection_value
from glancevad.config import resolve_config
from glancevad.data import load_dataset
from glancevad.data.cache import build_or_open_cache
from glancevad.engine import trainer as trainer_module
from glancevad.engine.checkpoint import read_checkpoint
from glancevad.engine.run import train
from glancevad.engine.sampler import PairedSampler, crop_items, split_items
from glancevad.engine.trainer import Trainer
from glancevad.errors import GlanceVADError
from glancevad.synth import synth_config, write_synthetic_dataset

TINY = {"batch_size": 2, "num_snippets": 16, "eval_every": 3, "log_every": 1, "val_fraction": 0.25,
        "precision": "fp32", "min_mining_step": 2}


@pytest.fixture(scope="module")
def one_crop_root(tmp_path_factory):
    return write_synthetic_dataset(tmp_path_factory.mktemp("one") / "data", synth_config("tiny", crops=1, seed=5))


def test_items_number_every_crop_and_split_back():
    items = crop_items(np.array([4, 1]), 3)
    assert items.tolist() == [12, 13, 14, 3, 4, 5]
    videos, crops = split_items(items, 3)
    assert videos.tolist() == [4, 4, 4, 1, 1, 1] and crops.tolist() == [0, 1, 2, 0, 1, 2]
    assert crop_items(np.array([7, 2]), 1).tolist() == [7, 2]  # one crop: items are the videos


def test_items_are_drawn_uniformly_once_per_pass_of_each_stream():
    normal, abnormal = crop_items(np.arange(5), 4), crop_items(np.arange(5, 8), 4)   # 20 and 12 items
    sampler = PairedSampler(normal, abnormal, batch_size=4, seed=0)
    drawn = {"normal": [], "abnormal": []}
    for _ in range(30):                                   # 120 draws per class
        n, a = sampler.next()
        drawn["normal"] += n.tolist()
        drawn["abnormal"] += a.tolist()
    for name, pool in (("normal", normal), ("abnormal", abnormal)):
        stream = drawn[name]
        for start in range(0, len(stream) - len(pool) + 1, len(pool)):   # each full pass is a permutation
            assert sorted(stream[start:start + len(pool)]) == sorted(pool.tolist()), name
        counts = Counter(stream)
        assert set(counts) == set(pool.tolist()) and max(counts.values()) - min(counts.values()) <= 1


def test_one_crop_is_read_without_the_others(tiny_root, tmp_path, monkeypatch):
    cache = build_or_open_cache(load_dataset(tiny_root), tmp_path, num_snippets=16)
    videos, crops = np.array([3, 0, 3]), np.array([1, 0, 0])
    reads = []
    real = os.preadv

    def recording(fd, buffers, offset):
        got = real(fd, buffers, offset)
        reads.append((offset, got))
        return got

    monkeypatch.setattr(os, "preadv", recording)
    got = cache.crop_rows(videos, crops)
    np.testing.assert_array_equal(got, np.asarray(cache.features[videos, crops]))
    crop_bytes = cache.num_snippets * cache.in_dim * 4
    assert sum(n for _, n in reads) == len(videos) * crop_bytes
    starts = sorted(o for o, _ in reads)
    blocks = videos * cache.crops + crops
    expected = sorted(cache.features.offset + int(b) * crop_bytes for b in blocks)
    assert starts == expected
    with pytest.raises(IndexError):
        cache.crop_rows(np.array([0]), np.array([cache.crops]))


@pytest.mark.parametrize("model", ["urdmu", "mil", "rtfm"])
def test_one_crop_item_and_average_train_bit_identical_weights(one_crop_root, tmp_path, model):
    weights = {}
    for mode in ("item", "average"):
        cfg = resolve_config(None, {**TINY, "steps": 6, "model": model, "crop_sampling": mode})
        train(cfg, one_crop_root, tmp_path / mode, cache_dir=tmp_path / "cache")
        weights[mode] = read_checkpoint(tmp_path / mode / "last.pt")["model_state"]
    for key, value in weights["item"].items():
        assert torch.equal(value, weights["average"][key]), key


def test_item_batches_hold_single_crops_with_their_videos_glances(tiny_root, tmp_path, monkeypatch):
    captured = []
    real = trainer_module.glance_centres

    def capture(scores, masks, step, settings):
        captured.append((scores.detach().clone(), masks.clone()))
        return real(scores, masks, step, settings)

    monkeypatch.setattr(trainer_module, "glance_centres", capture)
    cfg = resolve_config(None, {**TINY, "steps": 3, "batch_size": 4})
    trainer = Trainer(cfg, tiny_root, tmp_path / "run", cache_dir=tmp_path / "cache")
    assert trainer.crops_per_video == trainer.cache.crops == 2
    state = trainer.sampler.state_dict()
    normal, abnormal = trainer.sampler.next()
    trainer.sampler.load_state_dict(state)             # the step below draws the same batch
    x = trainer.read_items(np.concatenate([normal, abnormal]))
    assert x.shape == (8, cfg.num_snippets, trainer.cache.in_dim)        # [2B, N, D]: one crop per item
    videos, crops = split_items(abnormal, 2)
    np.testing.assert_array_equal(x[4:], np.asarray(trainer.cache.features[videos, crops]))
    trainer.train_step()
    scores, masks = captured[0]
    assert scores.shape == (4, cfg.num_snippets)          # mining sees each item's own scores
    np.testing.assert_array_equal(masks.numpy(), trainer.cache.glances[videos])


def test_mined_share_counts_the_kernel_centres_of_the_batchs_glance_items(tiny_root, tmp_path):
    cfg = resolve_config(None, {**TINY, "steps": 3, "batch_size": 4, "dynamic_threshold": False,
                                "fixed_threshold": 0.0})  # after warm-up every snippet passes the threshold
    trainer = Trainer(cfg, tiny_root, tmp_path / "run", cache_dir=tmp_path / "cache")
    state = trainer.sampler.state_dict()
    _, abnormal = trainer.sampler.next()
    trainer.sampler.load_state_dict(state)
    videos, _ = split_items(abnormal, trainer.crops_per_video)
    warm_up = trainer.train_step()                     # step 0 < min_mining_step: the glances alone
    assert warm_up["mined_share"] == pytest.approx(float(trainer.cache.glances[videos].mean()))
    assert 0 < warm_up["mined_share"] < 0.5
    trainer.step = cfg.min_mining_step
    assert trainer.train_step()["mined_share"] == 1.0  # mined: every snippet of every glance item
    weak = Trainer(resolve_config(None, {**TINY, "steps": 1, "supervision": "weak"}), tiny_root,
                   tmp_path / "weak", cache_dir=tmp_path / "cache")
    assert "mined_share" not in weak.train_step()


def test_average_mode_reads_whole_videos(tiny_root, tmp_path):
    cfg = resolve_config(None, {**TINY, "steps": 1, "crop_sampling": "average"})
    trainer = Trainer(cfg, tiny_root, tmp_path / "run", cache_dir=tmp_path / "cache")
    normal, abnormal = trainer.sampler.next()
    assert trainer.read_items(np.concatenate([normal, abnormal])).shape == (4, 2, 16, trainer.cache.in_dim)


def test_bad_crop_sampling_and_batch_size_are_clear_errors(tiny_root, tmp_path):
    with pytest.raises(GlanceVADError, match=r"crop_sampling must be one of item, average, got 'crops'"):
        resolve_config(None, {"crop_sampling": "crops"})
    cfg = resolve_config(None, {**TINY, "batch_size": 13})
    with pytest.raises(GlanceVADError, match=r"batch_size 13 is larger than the 12 normal training items \(6 videos"):
        Trainer(cfg, tiny_root, tmp_path / "run", cache_dir=tmp_path / "cache")
    cfg = resolve_config(None, {**TINY, "batch_size": 7, "crop_sampling": "average"})
    with pytest.raises(GlanceVADError, match=r"batch_size 7 is larger than the 6 normal training items"):
        Trainer(cfg, tiny_root, tmp_path / "run", cache_dir=tmp_path / "cache")


def _log(run):
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def test_best_is_chosen_only_after_mining_started(tiny_root, tmp_path):
    cfg = resolve_config(None, {**TINY, "steps": 12, "eval_every": 2, "min_mining_step": 7})
    summary = train(cfg, tiny_root, tmp_path / "run", cache_dir=tmp_path / "cache").summary
    assert summary["best"]["step"] >= 8 and "from step 8 on" in summary["selection"]
    evaluations = [(r["step"], {k[4:]: v for k, v in r.items() if k.startswith("val_")})
                   for r in _log(tmp_path / "run") if "val_glance_auc" in r]
    assert [s for s, _ in evaluations] == [2, 4, 6, 8, 10, 12]
    assert choose_step(evaluations, cfg.selection_rule, first_eligible=8,
                       tiebreak=cfg.selection_tiebreak) == summary["best"]["step"]
    assert read_checkpoint(tmp_path / "run" / "best.pt")["step"] == summary["best"]["step"]
    # weak supervision has no mining: every checkpoint is eligible
    weak = resolve_config(None, {**TINY, "steps": 4, "eval_every": 2, "supervision": "weak", "min_mining_step": 7})
    assert "from step" not in train(weak, tiny_root, tmp_path / "weak", cache_dir=tmp_path / "cache").summary[
        "selection"]


def test_a_run_too_short_to_mine_keeps_its_last_checkpoint_as_best(tiny_root, tmp_path):
    cfg = resolve_config(None, {**TINY, "steps": 4, "eval_every": 2, "min_mining_step": 10})
    summary = train(cfg, tiny_root, tmp_path / "run", cache_dir=tmp_path / "cache").summary
    assert summary["best"]["step"] == 4 and summary["best"]["fallback"] is True
    assert read_checkpoint(tmp_path / "run" / "best.pt")["step"] == 4


def test_no_validation_trains_on_every_video_and_best_is_last(tiny_root, tmp_path):
    cfg = resolve_config(None, {**TINY, "steps": 6, "val_fraction": 0})
    summary = train(cfg, tiny_root, tmp_path / "run", cache_dir=tmp_path / "cache").summary
    assert summary["train_videos"] == 16 and summary["best"]["step"] == 6
    assert "the last checkpoint" in summary["selection"]
    assert os.path.samefile(tmp_path / "run" / "best.pt", tmp_path / "run" / "last.pt")


def test_selection_rule_is_configurable_and_validated(tiny_root, tmp_path):
    cfg = resolve_config(None, {**TINY, "steps": 6, "selection_rule": "glance_auc-alarm"})
    summary = train(cfg, tiny_root, tmp_path / "run", cache_dir=tmp_path / "cache").summary
    assert summary["best"]["rule"] == "glance_auc-alarm" and "minus the share" in summary["selection"]
    assert all("val_normal_alarm" in r for r in _log(tmp_path / "run") if "val_glance_auc" in r)
    # the ties the run reports: eligible evaluations at the chosen value, counted from its log
    values = [selection_value({k[4:]: v for k, v in r.items() if k.startswith("val_")}, "glance_auc-alarm")
              for r in _log(tmp_path / "run") if "val_glance_auc" in r and r["step"] >= 3]   # mining from step 3
    assert summary["best"]["ties"] == values.count(summary["best"]["score"]) >= 1
    assert summary["best"]["at_ceiling"] == (summary["best"]["score"] == 1.0)
    assert (summary["selection_note"] is None) == (summary["best"]["ties"] == 1)
    with pytest.raises(GlanceVADError, match="selection_rule must be one of glance_auc, glance_auc-alarm"):
        resolve_config(None, {"selection_rule": "test_auc"})


def test_the_study_trace_scores_the_test_set_and_changes_no_weight(tiny_root, tmp_path):
    from glancevad.experiments.selection_study import trace_callback

    cfg = resolve_config(None, {**TINY, "steps": 6})
    traced = trace_callback(load_dataset(tiny_root), tmp_path / "trace.jsonl", "fp32")
    train(cfg, tiny_root, tmp_path / "hooked", cache_dir=tmp_path / "cache", callbacks=[traced])
    train(cfg, tiny_root, tmp_path / "plain", cache_dir=tmp_path / "cache")
    trace = [json.loads(line) for line in (tmp_path / "trace.jsonl").read_text().splitlines()]
    assert [r["step"] for r in trace] == [3, 6] and all(0 <= r["auc"] <= 1 for r in trace)
    hooked = read_checkpoint(tmp_path / "hooked" / "last.pt")["model_state"]
    plain = read_checkpoint(tmp_path / "plain" / "last.pt")["model_state"]
    assert all(torch.equal(v, plain[k]) for k, v in hooked.items())
