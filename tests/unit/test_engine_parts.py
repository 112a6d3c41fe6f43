"""The sampler, the assignment of supervision roles and the glance targets."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from glancevad.checkpoint_selection import choose_step
from glancevad.config import TrainConfig
from glancevad.engine.items import split_validation
from glancevad.engine.prefetch import Prefetcher
from glancevad.engine.sampler import PairedSampler
from glancevad.engine.supervision import Role, TargetSettings, assign_roles, glance_loss, glance_targets
from glancevad.errors import GlanceVADError
from glancevad.tgs import mine, render


def test_sampler_draws_pairs_and_resumes_identically():
    sampler = PairedSampler(np.arange(5), np.arange(10, 13), batch_size=4, seed=0)
    seen = []
    for _ in range(3):
        normal, abnormal = sampler.next()
        assert len(normal) == 4 and len(abnormal) == 4
        assert set(normal) <= set(range(5)) and set(abnormal) <= {10, 11, 12}
        seen.append((normal.tolist(), abnormal.tolist()))
    state = sampler.state_dict()
    expected = [sampler.next() for _ in range(5)]
    again = PairedSampler(np.arange(5), np.arange(10, 13), batch_size=4, seed=99)
    again.load_state_dict(state)
    for (n1, a1), (n2, a2) in zip(expected, [again.next() for _ in range(5)], strict=True):
        assert n1.tolist() == n2.tolist() and a1.tolist() == a2.tolist()


def test_sampler_peek_is_the_next_draw_and_draws_nothing():
    sampler = PairedSampler(np.arange(5), np.arange(5, 8), 2, seed=3)
    twin = PairedSampler(np.arange(5), np.arange(5, 8), 2, seed=3)
    for _ in range(7):   # across reshuffles of both streams
        peeked = sampler.peek()
        assert all(np.array_equal(a, b) for a, b in zip(peeked, sampler.peek(), strict=True))
        drawn, expected = sampler.next(), twin.next()
        assert all(np.array_equal(a, b) for a, b in zip(peeked, drawn, strict=True))
        assert all(np.array_equal(a, b) for a, b in zip(drawn, expected, strict=True))


def test_prefetcher_hands_over_only_the_read_it_was_asked_for():
    reads = []

    def read(value):
        def run():
            reads.append(value)
            return value
        return run

    prefetcher = Prefetcher()
    prefetcher.submit("a", read(1))
    assert prefetcher.take("a", read(99)) == 1 and reads == [1]          # the background read
    prefetcher.submit("b", read(2))
    assert prefetcher.take("c", read(3)) == 3 and reads == [1, 2, 3]     # another key: read on the spot
    assert prefetcher.take("b", read(4)) == 4                            # a read is handed over once
    prefetcher.submit("d", lambda: 1 / 0)
    with pytest.raises(ZeroDivisionError):                               # the thread's error, in take()
        prefetcher.take("d", read(5))


def test_sampler_covers_every_video_each_epoch():
    sampler = PairedSampler(np.arange(8), np.arange(8, 16), batch_size=4, seed=1)
    first_epoch = np.concatenate([sampler.next()[0] for _ in range(2)])
    assert sorted(first_epoch.tolist()) == list(range(8))


def test_validation_split_is_stratified_and_disjoint():
    labels = np.array([0] * 50 + [1] * 30)
    train, val = split_validation(labels, 0.1, seed=0)
    assert len(np.intersect1d(train, val)) == 0 and len(train) + len(val) == 80
    assert (labels[val] == 0).sum() == 5 and (labels[val] == 1).sum() == 3


def test_roles_by_supervision():
    abnormal = np.arange(10)
    has = np.ones(10, bool)
    ids = [f"v{i}" for i in range(10)]
    assert set(assign_roles(abnormal, has, TrainConfig(supervision="glance"), ids=ids).values()) == {Role.GLANCE}
    assert set(assign_roles(abnormal, has, TrainConfig(supervision="weak"), ids=ids).values()) == {Role.WEAK}
    roles = assign_roles(abnormal, has, TrainConfig(supervision="mixed", glance_fraction=0.3, weak_fraction=0.5),
                         ids=ids)
    assert list(roles.values()).count(Role.GLANCE) == 3 and list(roles.values()).count(Role.WEAK) == 5
    part = assign_roles(abnormal, has, TrainConfig(supervision="mixed", glance_fraction=0.5, weak_fraction=0.0),
                        ids=ids)
    assert len(part) == 5 and set(part.values()) == {Role.GLANCE}


def test_roles_need_glances():
    ids = [f"v{i}" for i in range(4)]
    with pytest.raises(GlanceVADError, match="needs glances, but no abnormal training video has one"):
        assign_roles(np.arange(4), np.zeros(4, bool), TrainConfig(supervision="glance"), ids=ids)
    with pytest.raises(GlanceVADError, match="video v2 is abnormal but has no glance"):
        assign_roles(np.arange(4), np.array([1, 1, 0, 1], bool), TrainConfig(supervision="glance"), ids=ids)


def test_targets_warm_up_then_mine_and_binary_option():
    torch.manual_seed(0)
    scores = torch.full((2, 50), 0.9)
    glances = torch.zeros(2, 50)
    glances[:, 25] = 1
    settings = TargetSettings.from_config(TrainConfig(min_mining_step=10))
    warm = glance_targets(scores, glances, 5, settings)
    torch.testing.assert_close(warm, render(glances).float())
    mined = glance_targets(scores, glances, 10, settings)
    torch.testing.assert_close(mined, render(mine(scores, glances)).float())
    assert mined.min() == 1  # flat high scores: everything mined
    binary = glance_targets(scores, glances, 5, TargetSettings(gaussian=False))
    torch.testing.assert_close(binary, glances)
    no_mining = glance_targets(scores, glances, 100, TargetSettings(mining=False))
    torch.testing.assert_close(no_mining, warm)


def test_glance_loss_slices_under_ddp_add_up_to_the_batch_mean():
    torch.manual_seed(1)
    scores = torch.rand(6, 20, requires_grad=True)
    glances = torch.zeros(6, 20)
    glances[torch.arange(6), torch.randint(0, 20, (6,))] = 1
    settings = TargetSettings(min_mining_step=0)
    targets = glance_targets(scores, glances, 3, settings)
    whole = glance_loss(scores, targets)
    (grad_whole,) = torch.autograd.grad(whole, scores)
    # two processes, each with every other item; DDP averages their gradients
    parts = [glance_loss(scores[r::2], targets[r::2], batch_items=6, world=2) for r in (0, 1)]
    grads = [torch.autograd.grad(part, scores)[0] for part in parts]
    torch.testing.assert_close((grads[0] + grads[1]) / 2, grad_whole)
    torch.testing.assert_close(sum(parts) / 2, whole)


@pytest.mark.parametrize("seed", range(20))
def test_choose_step_is_the_first_best_eligible_step(seed):
    rng = np.random.default_rng(seed)
    steps = np.arange(1, 11) * 5
    values = rng.choice([0.2, 0.5, 0.9], size=len(steps))     # ties are common
    evaluations = [(int(s), {"video_auc": float(v)}) for s, v in zip(steps, values, strict=True)]
    first_eligible = int(rng.choice(steps.tolist() + [99]))
    eligible = [(v, -s) for s, v in zip(steps, values, strict=True) if s >= first_eligible]
    expected = -max(eligible)[1] if eligible else int(steps[-1])  # highest value, then earliest; else last
    assert choose_step(evaluations, "video_auc", first_eligible=first_eligible) == expected
    later = max((v, s) for s, v in zip(steps, values, strict=True) if s >= first_eligible)[1] if eligible else steps[-1]
    assert choose_step(evaluations, "video_auc", first_eligible=first_eligible, tiebreak="later") == later
