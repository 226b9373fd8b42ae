"""Per-epoch callbacks: commit a resumable checkpoint, track the best epoch, print progress."""
from __future__ import annotations

import math
import shutil
import time
from pathlib import Path
from typing import Any, Callable

import tensorflow as tf
import tf_keras as keras

from edgecv.train.state import RunState


class EpochCommit(keras.callbacks.Callback):
    """Checkpoint model+optimizer, update the best epoch and early stopping, then
    record the epoch in state.json (the commit point) and history.csv.

    Hand-written instead of BackupAndRestore + EarlyStopping + CSVLogger because
    those keep their state in three places that a SIGKILL can leave out of step.
    """

    def __init__(self, *, state: RunState, stage: str, checkpoint: tf.train.Checkpoint, monitor: str,
                 mode: str, patience: int | None, learning_rate: Callable[[], float], eligible_from: int = 1):
        super().__init__()
        self.state, self.stage, self.checkpoint = state, stage, checkpoint
        self.monitor, self.mode, self.patience = monitor, mode, patience
        self.learning_rate = learning_rate
        # Epochs before this one cannot be "best" nor count towards early stopping
        # (pruning: the target sparsity is not reached yet).
        self.eligible_from = eligible_from
        self._started = 0.0

    def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
        self._started = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = dict(logs or {})
        done = epoch + 1
        st = self.state.stage(self.stage)
        prefix = f"{self.stage}/ckpt/epoch-{done}"
        self.checkpoint.write(str(self.state.train_dir / prefix))

        stale = {st.last_checkpoint, st.best_checkpoint}
        value = logs.get(self.monitor)
        eligible = done >= self.eligible_from
        if eligible and value is not None and math.isfinite(value) and _better(value, st.best_value, self.mode):
            st.best_value, st.best_epoch, st.best_checkpoint, st.wait = float(value), done, prefix, 0
        elif eligible:
            st.wait += 1
        if st.best_value is None:  # nothing eligible/finite yet: the latest epoch is the fallback
            st.best_checkpoint, st.best_epoch = prefix, done
        if self.patience and st.wait >= self.patience:
            st.stopped_early = True
            self.model.stop_training = True
        st.last_checkpoint, st.epochs_done, st.status = prefix, done, "running"

        row = {"stage": self.stage, "epoch": done}
        row.update({k: float(v) for k, v in logs.items()})
        row["lr"] = float(self.learning_rate())
        row["seconds"] = round(time.perf_counter() - self._started, 3)
        self.state.record_epoch(row)
        self.state.save()
        self.state.write_history()
        for old in stale - {st.last_checkpoint, st.best_checkpoint}:
            if old:
                _remove_checkpoint(self.state.train_dir / old)
        self._last_row = row


class StepProgress(keras.callbacks.Callback):
    """A bar over one epoch's training steps (plain lines when stdout is not a terminal);
    it disappears before ProgressPrinter prints the epoch's line."""

    def __init__(self, *, stage: str, epochs: int, steps: int | None, enabled: bool = True):
        super().__init__()
        self.stage, self.epochs, self.steps, self.enabled = stage, epochs, steps, enabled
        self._bar = None

    def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
        from edgecv.progress import bar

        self._bar = bar(self.steps, f"[{self.stage}] epoch {epoch + 1}/{self.epochs}", unit="step",
                        enabled=self.enabled)

    def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
        if self._bar is not None:
            self._bar.update(1)

    def on_test_begin(self, logs: Any = None) -> None:
        if self._bar is not None and hasattr(self._bar, "set_postfix_str"):
            self._bar.set_postfix_str("validating")

    def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def on_train_end(self, logs: Any = None) -> None:
        self.on_epoch_end(-1)


class ProgressPrinter(keras.callbacks.Callback):
    """One line per epoch: `[train] epoch 3/10  loss 0.412  accuracy 0.871  ...  lr 1.2e-03  4.1s`."""

    def __init__(self, *, stage: str, epochs: int, commit: EpochCommit, echo: Callable[[str], None] = print):
        super().__init__()
        self.stage, self.epochs, self.commit, self.echo = stage, epochs, commit, echo

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        row = getattr(self.commit, "_last_row", {})
        parts = [f"[{self.stage}] epoch {epoch + 1}/{self.epochs}"]
        parts += [f"{k} {v:.4f}" for k, v in (logs or {}).items()]
        if "lr" in row:
            parts.append(f"lr {row['lr']:.2e}")
        if "seconds" in row:
            parts.append(f"{row['seconds']:.1f}s")
        st = self.commit.state.stage(self.stage)
        if st.best_epoch == epoch + 1 and st.best_value is not None:
            parts.append("*best*")
        if st.stopped_early:
            parts.append(f"(early stop: no {self.commit.monitor} gain in {self.commit.patience} epochs)")
        self.echo("  ".join(parts))


def _better(value: float, best: float | None, mode: str) -> bool:
    if best is None:
        return True
    return value > best if mode == "max" else value < best


def _remove_checkpoint(prefix: Path) -> None:
    """A tf.train.Checkpoint.write prefix is `<prefix>.index` + `<prefix>.data-*`."""
    for path in prefix.parent.glob(prefix.name + ".*"):
        path.unlink(missing_ok=True)
    if prefix.is_dir():
        shutil.rmtree(prefix, ignore_errors=True)
