"""Networks behind a registry: ``build(name, in_dim, **kw)``; each module registers itself."""

from glancevad.models import mil, rtfm, urdmu  # noqa: F401  (each registers itself)
from glancevad.models.registry import (
    ModelSpec,
    build,
    check_model_kwargs,
    from_release,
    get_spec,
    infer_from_state_dict,
    list_models,
    load_weights,
    loss_setting,
    register_model,
)

__all__ = ["ModelSpec", "build", "check_model_kwargs", "from_release", "get_spec", "infer_from_state_dict",
           "list_models", "load_weights", "loss_setting", "register_model"]
