"""The recipe's `model:` section: `arch` plus the builder's own keyword arguments,
checked against the registered builder's signature (pydantic only; no TensorFlow)."""
from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any, Optional

from pydantic import ConfigDict, Field, field_validator

from edgecv.registry import suggest
from edgecv.schema import KeyProblem, Strict


class ModelSpec(Strict):
    """`arch` plus the builder's own keyword arguments (checked against its signature)."""

    model_config = ConfigDict(extra="allow", frozen=True)

    arch: str
    input_shape: tuple[int, int, int] = (224, 224, 3)
    num_classes: Optional[int] = Field(None, gt=0)      # default: from the data
    alpha: Optional[float] = Field(None, gt=0.0, le=4.0)
    bn_momentum: float = Field(0.9, gt=0.0, lt=1.0)     # tf_keras' 0.999 stays cold on short runs
    init_from: Optional[Path] = None
    freeze: Optional[str] = None                        # "backbone" or a layer name
    weights: Optional[str] = None                       # "imagenet" (keras' file, offline) or a .h5 path

    @field_validator("input_shape")
    @classmethod
    def _shape(cls, value: tuple[int, int, int]) -> tuple[int, int, int]:
        height, width, channels = value
        if height < 8 or width < 8:
            raise ValueError(f"height and width must be >= 8, got {list(value)}")
        if channels not in (1, 3):
            raise ValueError(f"channels must be 1 or 3, got {channels}")
        return value

    def builder_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for the model builder (everything but edgecv's own keys)."""
        own = {"arch", "bn_momentum", "init_from", "freeze", "weights"}
        return {k: v for k, v in self.model_dump().items() if k not in own and v is not None}


def check_builder(model: ModelSpec) -> None:
    """The arch must be registered and every extra key a parameter of its builder."""
    from edgecv.models import MODELS  # registering builders does not import TensorFlow

    if model.arch not in MODELS:
        raise KeyProblem(("model", "arch"), f"unknown model {model.arch!r}{suggest(model.arch, MODELS.names())}")
    if model.weights == "imagenet" and not MODELS.entry(model.arch).info.get("keras_weights"):
        with_weights = [n for n in MODELS.names() if MODELS.entry(n).info.get("keras_weights")]
        raise KeyProblem(("model", "weights"), f"{model.arch} has no published keras imagenet weights "
                                               f"(models with them: {', '.join(with_weights)})")
    params = inspect.signature(MODELS.get(model.arch)).parameters
    accepts_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    for key in model.builder_kwargs():
        if key not in params and not accepts_any:
            allowed = [p for p in params if p not in ("input_shape", "num_classes")]
            raise KeyProblem(("model", key), f"{model.arch} has no argument {key!r}{suggest(key, allowed)}")
