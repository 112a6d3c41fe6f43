"""Metric speed: snippet-weighted metrics vs scikit-learn on materialised frames.

The test set is UCF-Crime-sized: the 290 test videos at their real lengths (the bundled
``ucf-crime/test_lengths.csv``, :mod:`glancevad.data.published`) with their real ground truth;
scores are random.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import auc, average_precision_score, precision_recall_curve, roc_auc_score

from benchmarks.common import Result, best_time
from glancevad.data.groundtruth import build_ground_truth, match_annotations, read_temporal_annotations
from glancevad.data.lengths import read_snippet_counts
from glancevad.data.lists import read_video_list
from glancevad.data.published import published_dataset
from glancevad.metrics import evaluate_scores

UCF = published_dataset("ucf-crime")


def ucf_sized_test_set(seed: int = 0):
    ids = read_video_list(UCF.testing_list).ids
    matched, _ = match_annotations(read_temporal_annotations(UCF.annotations), ids)
    gt = build_ground_truth(ids, matched, read_snippet_counts(UCF.test_lengths))
    rng = np.random.default_rng(seed)
    scores = {vid: rng.random(len(labels) // 16) for vid, labels in gt.items()}
    return scores, gt


def sklearn_frames(scores, gt, threshold=0.5):
    """What the released evaluation does: repeat every score 16x, then call scikit-learn."""
    ids = list(gt)
    y = np.concatenate([gt[v] for v in ids])
    s = np.concatenate([np.repeat(scores[v], 16) for v in ids])
    abnormal = np.concatenate([np.full(len(gt[v]), gt[v].any()) for v in ids])
    precision, recall, _ = precision_recall_curve(y, s)
    pa, ra, _ = precision_recall_curve(y[abnormal], s[abnormal])
    return {
        "auc": roc_auc_score(y, s), "ap": auc(recall, precision), "ap_step": average_precision_score(y, s),
        "auc_a": roc_auc_score(y[abnormal], s[abnormal]), "ap_a": auc(ra, pa),
        "far": float(np.mean(s[~abnormal] >= threshold)),
    }


def run() -> list[Result]:
    scores, gt = ucf_sized_test_set()
    ours = evaluate_scores(scores, gt)
    ref = sklearn_frames(scores, gt)
    worst = max(abs(ours[k] - ref[k]) for k in ref)
    assert worst < 1e-9, f"metrics disagree with scikit-learn by {worst}"
    t_ours = best_time(lambda: evaluate_scores(scores, gt))
    t_ref = best_time(lambda: sklearn_frames(scores, gt), repeat=3)
    frames = sum(len(v) for v in gt.values())
    return [
        Result(f"metrics, UCF-sized test set ({len(gt)} videos, {frames} frames)", t_ours * 1e3, "ms",
               f"scikit-learn on materialised frames: {t_ref * 1e3:.1f} ms", t_ref / t_ours, "speed-up"),
    ]
