"""Optimizers and per-step learning-rate schedules for one stage (recipe StageSpec)."""
from __future__ import annotations

import math
from typing import Any

import tensorflow as tf
import tf_keras as keras

# "step" schedule: multiply the rate by these factors once this fraction of the
# post-warmup steps has passed (the classic ResNet 0.1x drops, scaled to any length).
STEP_DROPS = ((0.5, 0.1), (0.75, 0.01))


@keras.saving.register_keras_serializable("edgecv")
class StageSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warmup to `peak`, then constant, step drops or cosine decay to 0, per step.

    Hand-written because tf_keras' CosineDecay has warmup but PiecewiseConstantDecay
    and constant rates do not; one class keeps all three identical in their warmup.
    """

    def __init__(self, peak: float, total_steps: int, warmup_steps: int = 0, kind: str = "cosine"):
        super().__init__()
        if kind not in ("constant", "step", "cosine"):
            raise ValueError(f"unknown schedule {kind!r}")
        self.peak = float(peak)
        self.total_steps = max(int(total_steps), 1)
        self.warmup_steps = max(int(warmup_steps), 0)
        self.kind = kind

    def __call__(self, step):
        step = tf.cast(step, tf.float32)
        peak = tf.constant(self.peak, tf.float32)
        warmup = float(self.warmup_steps)
        decay_steps = float(max(self.total_steps - self.warmup_steps, 1))
        progress = tf.clip_by_value((step - warmup) / decay_steps, 0.0, 1.0)
        if self.kind == "cosine":
            rate = peak * 0.5 * (1.0 + tf.cos(math.pi * progress))
        elif self.kind == "step":
            factor = tf.constant(1.0)
            for fraction, drop in STEP_DROPS:
                factor = tf.where(progress >= fraction, tf.constant(drop), factor)
            rate = peak * factor
        else:
            rate = peak + 0.0 * progress
        if self.warmup_steps:
            rate = tf.where(step < warmup, peak * (step + 1.0) / warmup, rate)
        return rate

    def get_config(self) -> dict[str, Any]:
        return {"peak": self.peak, "total_steps": self.total_steps,
                "warmup_steps": self.warmup_steps, "kind": self.kind}


def make_schedule(spec, steps_per_epoch: int) -> StageSchedule:
    return StageSchedule(spec.learning_rate, total_steps=spec.epochs * steps_per_epoch,
                         warmup_steps=round(spec.warmup_epochs * steps_per_epoch), kind=spec.schedule)


def make_optimizer(spec, schedule) -> keras.optimizers.Optimizer:
    """adam / sgd (with momentum) / adamw; weight_decay is decoupled for every choice."""
    decay = spec.weight_decay or None
    if spec.optimizer == "adam":
        return keras.optimizers.Adam(schedule, weight_decay=decay)
    if spec.optimizer == "sgd":
        return keras.optimizers.SGD(schedule, momentum=spec.momentum, weight_decay=decay)
    if spec.optimizer == "adamw":
        return keras.optimizers.AdamW(schedule, weight_decay=spec.weight_decay or 0.004)
    raise ValueError(f"unknown optimizer {spec.optimizer!r}")  # the recipe schema already restricts it
