"""RTFM: parity with its authors' release (weights, outputs, every loss term), the released key names,
and each loss setting against a plain loop."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from conftest import FIXTURES, needs_fixture
from glancevad.config import resolve_config
from glancevad.engine.checkpoint import load_model
from glancevad.errors import GlanceVADError
from glancevad.models import build, from_release, get_spec, infer_from_state_dict, load_weights
from glancevad.models.rtfm import RELEASE_PREFIXES, RTFMLossSettings, rtfm_loss, topk_by_magnitude

OFFICIAL = FIXTURES / "official-rtfm"
needs_release = needs_fixture("official-rtfm", "io.npz")


def _relative(actual, expected) -> float:
    actual, expected = np.asarray(actual, np.float64), np.asarray(expected, np.float64)
    return float(np.max(np.abs(actual - expected) / np.abs(expected)))


@pytest.fixture(scope="module")
def official():
    """The released weights in glancevad's RTFM (dropout off, train mode) and the release's outputs."""
    released = torch.load(OFFICIAL / "rtfm_official_keys.pth", weights_only=True)
    state = from_release(released)
    name, kwargs = infer_from_state_dict(state)
    model = build(name, dropout=0.0, **kwargs)
    load_weights(model, state, source="fixture")  # strict: no key missing, none left over
    return released, model.train(), dict(np.load(OFFICIAL / "io.npz"))


@needs_release
def test_released_key_names_map_one_to_one(official):
    released, model, _ = official
    assert any(key.startswith("Aggregate.") for key in released) and "fc1.weight" in released
    renamed = from_release(released)
    assert set(renamed) == set(model.state_dict()) and len(renamed) == len(released)
    for key, value in released.items():
        prefix = next(p for p in RELEASE_PREFIXES if key.startswith(p))
        assert torch.equal(renamed[RELEASE_PREFIXES[prefix] + key[len(prefix):]], value)


@needs_release
def test_forward_and_every_loss_term_match_the_release(official):
    _, model, io = official
    with torch.no_grad():
        outputs = model(torch.from_numpy(io["x"]))                      # 2 normal + 2 abnormal, 10 crops
        video_scores, _ = topk_by_magnitude(outputs, 3)                 # the release's k = 32 // 10
        cost, terms = rtfm_loss(outputs, torch.ones(2))                 # the release's loss (the defaults)
    assert _relative(outputs["scores"], io["scores"]) < 1e-5
    assert _relative(outputs["magnitudes"], io["feat_magnitudes"]) < 1e-5
    assert _relative(video_scores[:2], io["score_normal"][:, 0]) < 1e-5
    assert _relative(video_scores[2:], io["score_abnormal"][:, 0]) < 1e-5
    settings = RTFMLossSettings()
    assert _relative(terms["mil_normal"] + terms["mil_abnormal"], io["loss_cls"]) < 1e-5
    assert _relative(terms["magnitude"], io["loss_mag"]) < 1e-5
    assert _relative(settings.sparsity_weight * terms["sparsity"], io["loss_sparse"]) < 1e-5
    assert _relative(settings.smoothness_weight * terms["smoothness"], io["loss_smooth"]) < 1e-5
    assert _relative(float(cost), io["cost"]) < 1e-5


@needs_release
def test_a_released_checkpoint_loads_from_its_file():
    loaded = load_model(OFFICIAL / "rtfm_official_keys.pth")
    assert loaded.name == "rtfm" and loaded.in_dim == 1024 and not loaded.model.training
    with torch.no_grad():
        scores = loaded.model(torch.rand(1, 10, 20, 1024))
    assert scores.shape == (1, 20) and torch.isfinite(scores).all()


def test_a_2048_d_release_layout_loads():
    """The release hard-codes 2048-d features: its conv_4 / conv_5 shapes are what glancevad builds."""
    ours = build("rtfm", in_dim=2048).state_dict()
    inverse = {ours_prefix: theirs for theirs, ours_prefix in RELEASE_PREFIXES.items()}
    released = {}
    for key, value in ours.items():
        prefix = next(p for p in inverse if key.startswith(p))
        released[inverse[prefix] + key[len(prefix):]] = value
    assert released["Aggregate.conv_4.0.weight"].shape == (512, 2048, 1)
    assert released["Aggregate.conv_5.0.weight"].shape == (2048, 2048, 3)
    name, kwargs = infer_from_state_dict(from_release(released))
    assert (name, kwargs) == ("rtfm", {"in_dim": 2048, "width": 512})
    load_weights(build(name, **kwargs), from_release(released), source="release")


def test_an_unknown_module_in_a_release_is_named():
    released = {("Aggregate." + k[4:] if k.startswith("mtn.") else k): v
                for k, v in build("rtfm", in_dim=16).state_dict().items()}
    released["fc9.weight"] = torch.zeros(1)
    with pytest.raises(GlanceVADError, match="unexpected keys: fc9.weight"):
        load_weights(build("rtfm", in_dim=16), from_release(released), source="release")


def _outputs(seed: int = 0, batch: int = 4, crops: int = 2, length: int = 40, dim: int = 16):
    torch.manual_seed(seed)
    return build("rtfm", in_dim=dim).train()(torch.rand(batch, crops, length, dim))


def test_loss_forms_against_plain_loops():
    outputs = _outputs()
    scores = outputs["scores"].detach().double().numpy()
    abnormal = scores[2:]
    flat = abnormal.ravel()
    expected = {
        ("sparsity", "release"): np.sqrt(sum(v * v for v in flat)),
        ("sparsity", "paper"): np.mean([sum(abs(v) for v in row) for row in abnormal]),
        ("smoothness", "release"): sum((flat[i + 1] - flat[i]) ** 2 for i in range(len(flat) - 1)),
        ("smoothness", "paper"): np.mean([sum((row[t] - row[t - 1]) ** 2 for t in range(1, len(row)))
                                          for row in abnormal]),
        ("sparsity", "none"): 0.0, ("smoothness", "none"): 0.0,
    }
    for (term, form), value in expected.items():
        _, terms = rtfm_loss(outputs, torch.ones(2), RTFMLossSettings(**{term: form}))
        assert terms[term] == pytest.approx(value, rel=1e-5, abs=1e-9), (term, form)


def test_topk_rules_and_the_magnitude_loss_per_item():
    outputs = _outputs(length=40)
    selection = outputs["selection"].detach()
    features = outputs["features"].detach()
    for rule, k in (("rtfm", 4), ("urdmu", 3)):                         # 40 // 10; 40 // 16 + 1
        settings = RTFMLossSettings(topk=rule, sparsity="none", smoothness="none")
        _, terms = rtfm_loss(outputs, torch.ones(2), settings)
        items = []
        for video in range(4):
            top = sorted(range(40), key=lambda t: -float(selection[video, t]))[:k]
            for crop in range(2):
                items.append(float(features[video * 2 + crop, top].mean(0).norm()))
        normal, abnormal = items[:4], items[4:]
        loop = np.mean([(abs(100 - a) + n) ** 2 for a, n in zip(abnormal, normal, strict=True)])
        assert terms["magnitude"] == pytest.approx(loop, rel=1e-5), rule


def test_joint_bce_is_one_mean_over_both_halves():
    outputs = _outputs()
    pooled, _ = topk_by_magnitude(outputs, 4)
    labels = torch.tensor([0.0, 0.0, 1.0, 1.0])
    joint = float(torch.nn.functional.binary_cross_entropy(pooled.detach(), labels))
    _, terms = rtfm_loss(outputs, torch.ones(2), RTFMLossSettings(bce="joint"))
    assert terms["mil_normal"] + terms["mil_abnormal"] == pytest.approx(joint, rel=1e-6)
    _, halves = rtfm_loss(outputs, torch.ones(2), RTFMLossSettings(bce="halves"))
    assert halves["mil_normal"] == pytest.approx(2 * terms["mil_normal"], rel=1e-6)


def test_loss_settings_are_config_keys_per_network_checked_by_name():
    from glancevad.config import parse_overrides

    layer = parse_overrides(["loss.rtfm.sparsity=none", "loss.rtfm.topk=urdmu", "loss.mil.bce=joint",
                             "loss.rtfm.sparsity_weight=1e-3", "loss.rtfm.margin=50"])
    cfg = resolve_config(None, {"model": "rtfm", "loss": {"rtfm": {"smoothness": "paper"}}}, layer)
    assert cfg.loss_settings == RTFMLossSettings(sparsity="none", topk="urdmu", smoothness="paper",
                                                 sparsity_weight=0.001, margin=50.0)
    assert isinstance(cfg.loss_settings.sparsity_weight, float)
    assert get_spec("mil").make_loss_settings(cfg.loss["mil"]).bce == "joint"   # kept for a grid's MIL runs
    assert resolve_config(None, {"model": "urdmu"}, layer).loss_settings is None   # other networks' settings wait
    with pytest.raises(GlanceVADError, match="loss.rtfm.sparsity must be one of release, paper, none, got 'l1'"):
        resolve_config(None, {"model": "rtfm", "loss": {"rtfm": {"sparsity": "l1"}}})
    with pytest.raises(GlanceVADError, match="loss.rtfm.colour: not a loss setting of 'rtfm'; its settings: topk"):
        resolve_config(None, {"loss": {"rtfm": {"colour": 1}}})
    with pytest.raises(GlanceVADError, match="loss.urdmu.topk: network 'urdmu' has no loss settings"):
        resolve_config(None, {"loss": {"urdmu": {"topk": "rtfm"}}})
    with pytest.raises(GlanceVADError, match="loss.resnet: unknown network"):
        resolve_config(None, {"loss": {"resnet": {}}})
    with pytest.raises(GlanceVADError, match="loss.rtfm.margin must be a positive number, got 'wide'"):
        resolve_config(None, parse_overrides(["loss.rtfm.margin=wide"]))
    with pytest.raises(GlanceVADError, match="loss.rtfm must map settings to values"):
        resolve_config(None, parse_overrides(["loss.rtfm=none"]))


@needs_release
def test_glancevad_test_scores_a_released_checkpoint(tmp_path):
    """``glancevad test --checkpoint`` takes the release's ``.pth`` as it is, on 1024-d 10-crop features."""
    import json

    from cli_helpers import run
    from glancevad.synth import synth_config, write_synthetic_dataset

    data = write_synthetic_dataset(tmp_path / "data", synth_config("tiny", dim=1024, crops=10, seed=1))
    proc = run("test", "--checkpoint", OFFICIAL / "rtfm_official_keys.pth", "--data", data, "--out", tmp_path / "t",
               "--plots", "0")
    metrics = json.loads((tmp_path / "t" / "metrics.json").read_text())
    assert 0 <= metrics["auc"] <= 1 and str(tmp_path / "t") in proc.stdout
