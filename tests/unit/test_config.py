"""Configuration: presets, overrides, validation with messages that name the key."""

from __future__ import annotations

import pytest

from glancevad.config import TrainConfig, list_presets, parse_overrides, resolve_config
from glancevad.errors import GlanceVADError


def test_presets_exist_and_differ_as_released():
    assert {"ucf", "xd", "demo"} <= set(list_presets())
    assert resolve_config("ucf").min_mining_step == 50
    assert resolve_config("xd").min_mining_step == 100
    assert resolve_config("ucf").lr == 1e-4 and resolve_config("ucf").weight_decay == 5e-5


def test_overrides_are_typed_and_layered():
    cfg = resolve_config("demo", parse_overrides(["alpha=0.7", "mining=false", "model_kwargs.dropout=0.3",
                                                 "glance_csv=none"]), {"steps": 12})
    assert cfg.alpha == 0.7 and cfg.mining is False and cfg.steps == 12
    assert cfg.model_kwargs == {"dropout": 0.3} and cfg.glance_csv is None


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"alhpa": 0.3}, "unknown key 'alhpa'; valid keys: model, model_kwargs"),
        ({"steps": "many"}, "steps='many' is not a valid int"),
        ({"steps": 1.5}, "steps=1.5 is not a valid int"),
        ({"mining": "perhaps"}, "mining='perhaps' is not a valid bool"),
        ({"supervision": "full"}, "supervision must be one of weak, glance, mixed"),
        ({"supervision": "mixed", "glance_fraction": 0.8, "weak_fraction": 0.5}, "must be <= 1"),
        ({"kernel": "box"}, "kernel must be one of normal, cauchy, laplace"),
        ({"seed": -1}, r"seed must lie in \[0, 4294967295\], got -1"),
        ({"seed": 2**32}, r"seed must lie in \[0, 4294967295\], got 4294967296"),
        ({"model": "resnet"}, "model must be one of mil, rtfm, urdmu, got 'resnet'"),
        ({"device": "tpu"}, r"config: device: unknown device 'tpu' \(auto, cpu, cuda, cuda:1 ...\)"),
    ],
)
def test_bad_values_name_the_key(values, message):
    with pytest.raises(GlanceVADError, match=message):
        resolve_config(None, values)


def test_a_device_is_checked_to_parse_not_to_be_present():
    assert resolve_config(None, {"device": "cuda:1", "seed": 2**32 - 1}).device == "cuda:1"   # run time says if absent
    assert resolve_config(None, {"device": "cpu"}).device == "cpu"


def test_unknown_preset_and_bad_override_syntax():
    with pytest.raises(GlanceVADError, match="unknown preset 'kinetics'"):
        resolve_config("kinetics")
    with pytest.raises(GlanceVADError, match="key=value"):
        parse_overrides(["alpha"])


def test_abnormal_split_by_supervision():
    assert TrainConfig(supervision="weak").abnormal_split == (0.0, 1.0)
    assert TrainConfig(supervision="glance").abnormal_split == (1.0, 0.0)
    assert TrainConfig(supervision="mixed", glance_fraction=0.25, weak_fraction=0.5).abnormal_split == (0.25, 0.5)


def test_load_train_config_layers_preset_file_overrides_and_options(tmp_path):
    from glancevad.config import load_train_config

    path = tmp_path / "run.yaml"
    path.write_text("steps: 7\nalpha: 0.8\nwidth: 0.2\nmodel_kwargs: {dropout: 0.1}\n")
    cfg = load_train_config(preset="demo", config_file=path, overrides=["alpha=0.7", "model_kwargs.hidden=64"],
                            options={"steps": 9, "model": None})
    assert (cfg.steps, cfg.alpha, cfg.width, cfg.batch_size) == (9, 0.7, 0.2, 8)   # option > override > file > preset
    assert cfg.model_kwargs == {"dropout": 0.1, "hidden": 64} and cfg.model == "urdmu"
    path.write_text("- not\n- a mapping\n")
    with pytest.raises(GlanceVADError, match="run.yaml: a config file must map keys to values"):
        load_train_config(config_file=path)
    with pytest.raises(GlanceVADError, match="missing.yaml: cannot read config"):
        load_train_config(config_file=tmp_path / "missing.yaml")
