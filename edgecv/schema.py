"""The base every recipe section derives from (each package owns its sections in `spec.py`
or `config.py`; edgecv/recipe.py only assembles them). pydantic only: no TensorFlow."""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Strict(BaseModel):
    """Base for every recipe section: unknown keys are errors, values are frozen, and a
    float is a finite number (nan would pass `le=10`, as every comparison with it is False)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class KeyProblem(ValueError):
    """A validation problem that knows its own key path (the recipe's error line uses it)."""

    def __init__(self, loc: tuple[str, ...], message: str):
        super().__init__(message)
        self.loc = loc
        self.message = message
