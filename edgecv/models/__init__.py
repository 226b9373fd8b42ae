"""The model zoo: registered builders for every family, created by name.

Importing this package registers every variant without importing TensorFlow;
each builder imports tf_keras when it is called.
"""
from __future__ import annotations

import inspect

from edgecv.errors import ModelError
from edgecv.models.card import ModelCard, card_from_info
from edgecv.models.zoo import MODELS
from edgecv.registry import suggest

# Registration side effects: each family module decorates its variants with MODELS.register.
from edgecv.models import efficientnet, inception, mobilenet, resnet, tiny_yolo, unet  # noqa: E402,F401


def list_models(pattern: str = "*") -> list[str]:
    """Registered model names matching a shell-style pattern (`"efficientnet_b*"`)."""
    return MODELS.names(pattern)


def model_info(name: str) -> dict:
    """Registration info of a model: task, default input_shape, family."""
    entry = MODELS.entry(name)
    return {"name": name, **entry.info}


def model_card(name: str) -> ModelCard:
    """The typed card of a registered model (task, default input, output strides)."""
    return card_from_info(name, MODELS.entry(name).info)


def _check_kwargs(name: str, builder, kwargs: dict) -> dict:
    kwargs = {k: v for k, v in kwargs.items() if v is not None}
    accepted = [p.name for p in inspect.signature(builder).parameters.values()
                if p.kind is inspect.Parameter.KEYWORD_ONLY]
    for key in kwargs:
        if key not in accepted:
            raise ModelError(f"model {name!r}: unknown argument {key!r}{suggest(key, accepted)} "
                             f"(accepted: {', '.join(accepted)})")
    return kwargs


def create_model(name: str, *, weights=None, echo=print, **kwargs):
    """Build a registered model. `None` values mean "use the builder's default".

    `weights`: "imagenet" (keras' published file, from keras' cache; never downloaded)
    or the path of a keras .h5 weights file, mapped onto the backbone by position
    (see edgecv.models.pretrained); the classifier head stays fresh.
    Unknown arguments raise ModelError naming the argument and the accepted ones.
    """
    builder = MODELS.get(name)
    kwargs = _check_kwargs(name, builder, kwargs)
    if weights is None:
        return builder(**kwargs)
    from edgecv.models.pretrained import build_with_weights

    return build_with_weights(name, builder, kwargs, weights, echo=echo)


def model_summary(name: str, **kwargs) -> dict:
    """name, task, input_shape, params and MACs of a model.

    With no arguments the published default is read from the precomputed table
    (kept honest by tests that rebuild the models); otherwise the model is built.
    """
    builder = MODELS.get(name)
    kwargs = _check_kwargs(name, builder, kwargs)
    info = model_info(name)
    if not kwargs:
        try:
            from edgecv.models.table import DEFAULT_SUMMARIES
        except ModuleNotFoundError:
            DEFAULT_SUMMARIES = {}
        if name in DEFAULT_SUMMARIES:
            params, macs = DEFAULT_SUMMARIES[name]
            return {"name": name, "task": info["task"], "input_shape": tuple(info["input_shape"]),
                    "params": params, "macs": macs}
    from edgecv.models.macs import count_macs

    model = builder(**kwargs)
    return {"name": name, "task": info["task"], "input_shape": tuple(model.input_shape[1:]),
            "params": int(model.count_params()), "macs": int(count_macs(model))}


__all__ = ["MODELS", "ModelCard", "create_model", "list_models", "model_card", "model_info", "model_summary"]
