"""Device and precision choice at run time (glancevad.runtime)."""

from __future__ import annotations

import pytest
import torch

import glancevad.runtime as runtime
from glancevad.errors import GlanceVADError


@pytest.mark.parametrize(("amx", "avx512_bf16", "expected"), [(False, False, "fp32"), (True, False, "bf16"),
                                                            (False, True, "bf16")])
def test_auto_is_bf16_only_on_a_cpu_with_bf16_units(monkeypatch, amx, avx512_bf16, expected):
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx, raising=False)
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: avx512_bf16, raising=False)
    assert runtime.resolve_precision("auto", torch.device("cpu")) == expected


def test_explicit_precisions_are_kept_and_others_refused():
    cpu = torch.device("cpu")
    assert runtime.resolve_precision("fp32", cpu) == "fp32"
    assert runtime.resolve_precision("bf16", cpu) == "bf16"  # asked for: honoured, even where it is slow
    with pytest.raises(GlanceVADError, match="unknown precision 'fp16'"):
        runtime.resolve_precision("fp16", cpu)


def test_autocast_follows_the_resolved_precision(monkeypatch):
    from glancevad.engine.scoring import autocast

    layer = torch.nn.Linear(4, 4)
    x = torch.randn(2, 4)
    for units, dtype in ((False, torch.float32), (True, torch.bfloat16)):
        monkeypatch.setattr(runtime, "fast_bf16", lambda device, units=units: units)
        with autocast(torch.device("cpu"), "auto"):
            assert layer(x).dtype == dtype
