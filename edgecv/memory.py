"""Refuse work whose memory need is known up front to exceed the machine, before it starts.

`--set model.input_shape=[4096,4096,3]` used to be accepted and grow past 9 GB RSS in 44 s
until the kernel killed it; `data.batch_size=100000000000000000000` ended in a TensorFlow
traceback. Both are user errors that a multiplication shows before anything is built.

The estimate is deliberately a *lower* bound, so a run that could fit is never refused:
one training step holds the float32 input batch several times over (the pipeline's
prefetched batches, the model input, its gradient) plus every layer's activations kept
for backprop; the registered families keep 25-950 input-sized tensors per image
(tiny_yolo ~37, mobilenet_v2 ~130, efficientnet_b7 ~950 at alpha 1). We count
TRAIN_COPIES = 8 input-sized float32 tensors per sample.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Optional

from edgecv.errors import RecipeError

TRAIN_COPIES = 8        # input-sized float32 tensors per sample in a training step (a lower bound)
FLOAT32 = 4


class MemoryLimitError(RecipeError):
    """The recipe's sizes need more memory than the machine has."""


def machine_ram() -> Optional[int]:
    """Bytes of RAM this process may use: physical RAM, or a smaller cgroup limit."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        total = None
    for limit_file in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            text = Path(limit_file).read_text().strip()
        except OSError:
            continue
        if text.isdigit() and (total is None or int(text) < total):
            total = int(text)
    return total if total and total > 0 else None


def _gb(n: float) -> str:
    return f"{n / 1e9:.1f} GB" if n < 1e15 else f"{n:.3g} bytes"


def check_fits(needed: int, *, what: str, hint: str, ram: Optional[int] = None) -> None:
    """MemoryLimitError naming `what` when `needed` bytes exceed the machine's RAM."""
    ram = machine_ram() if ram is None else ram
    if ram is not None and needed > ram:
        raise MemoryLimitError(f"{what} needs at least {_gb(needed)}, but this machine has "
                               f"{_gb(ram)} of RAM; {hint}")


def training_step_bytes(recipe: Any) -> int:
    height, width, channels = recipe.model.input_shape
    return int(recipe.data.batch_size) * height * width * channels * FLOAT32 * TRAIN_COPIES


def known_eval_samples(recipe: Any) -> Optional[int]:
    """Eval samples known from the recipe alone (bench.samples, a generated val set's size)."""
    counts = [recipe.bench.samples]
    val = recipe.data.val
    if val is not None:
        counts += [val.samples, val.limit]
    counts = [c for c in counts if c]
    return min(counts) if counts else None


def check_training_fits(recipe: Any, ram: Optional[int] = None) -> None:
    """Before `edgecv train` touches anything: one training step, and the eval set the bench
    stage holds in memory as uint8, must fit in RAM (lower estimates, see module docstring)."""
    shape = list(recipe.model.input_shape)
    batch = recipe.data.batch_size
    check_fits(training_step_bytes(recipe), ram=ram,
               what=f"model.input_shape={shape} with data.batch_size={batch} (one training step, "
                    f"estimated as {TRAIN_COPIES} float32 copies of the input batch)",
               hint="lower model.input_shape or data.batch_size")
    samples = known_eval_samples(recipe)
    if samples:
        height, width, channels = shape
        check_fits(samples * height * width * channels, ram=ram,
                   what=f"the eval set ({samples} samples at model.input_shape={shape}, uint8)",
                   hint="lower model.input_shape, bench.samples or the validation set's samples")


def check_eval_fits(samples: int, input_shape, ram: Optional[int] = None) -> None:
    """Before building an eval set of `samples` images [N,H,W,C] uint8 in memory."""
    height, width, channels = (int(v) for v in input_shape)
    check_fits(int(samples) * height * width * channels, ram=ram,
               what=f"the eval set ({samples} samples at {height}x{width}x{channels}, uint8)",
               hint="lower bench.samples (or the model's input size)")
