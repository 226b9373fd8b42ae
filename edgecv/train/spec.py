"""The recipe's stage sections: `train:`, `prune:`, `qat:` (pydantic only; no TensorFlow)."""
from __future__ import annotations

from typing import Literal, Optional, Union

from pydantic import Field, field_validator

from edgecv.schema import Strict

# The training stages in the order they run, each the previous one's weights onward.
STAGE_ORDER = ("train", "finetune", "prune", "qat")


class StageSpec(Strict):
    epochs: int = Field(1, ge=1)
    optimizer: Literal["adam", "sgd", "adamw"] = "adam"
    learning_rate: float = Field(1e-3, gt=0.0, le=10.0)
    schedule: Literal["constant", "step", "cosine"] = "cosine"
    warmup_epochs: float = Field(0.0, ge=0.0)
    momentum: float = Field(0.9, ge=0.0, lt=1.0)        # sgd only
    weight_decay: float = Field(0.0, ge=0.0)
    early_stopping: Optional[int] = Field(None, ge=1)   # patience in epochs
    steps_per_epoch: Optional[int] = Field(None, ge=1)


class TrainSpec(StageSpec):
    epochs: int = Field(10, ge=1)
    label_smoothing: float = Field(0.0, ge=0.0, lt=1.0)
    # TensorFlow's intra- and inter-op thread pools for the whole run (None: TF's default,
    # one per CPU). Fixed, reruns on machines with different core counts stay identical.
    threads: Optional[int] = Field(None, ge=1, le=1024)


class FineTuneSpec(StageSpec):
    """After a `train` stage on a frozen backbone: unfreeze the top `unfreeze` blocks
    (or all) and train on with a lower learning rate. Frozen blocks' BN stay in inference mode."""

    epochs: int = Field(5, ge=1)
    learning_rate: float = Field(1e-4, gt=0.0, le=10.0)
    unfreeze: Union[int, Literal["all"]] = Field("all")
    train_bn: bool = True       # False: BN layers of unfrozen blocks stay in inference mode too

    @field_validator("unfreeze")
    @classmethod
    def _blocks(cls, value):
        if isinstance(value, int) and value < 0:
            raise ValueError("must be a number of blocks >= 0 or 'all'")
        return value


class PruneSpec(StageSpec):
    target_sparsity: float = Field(0.5, gt=0.0, lt=1.0)
    sparsity_schedule: Literal["polynomial", "constant"] = "polynomial"
    structured: bool = False                            # 2:4 sparsity
    learning_rate: float = Field(2e-4, gt=0.0, le=10.0)


class QatSpec(StageSpec):
    learning_rate: float = Field(1e-4, gt=0.0, le=10.0)
