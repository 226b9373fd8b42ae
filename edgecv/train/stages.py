"""The stage runner: train -> finetune -> prune -> qat, each from the previous stage's weights.

Layout of `run_dir/train/` (only the chief writes it; other workers use a temp dir):
    state.json            the commit point (see state.py): stages done, epochs, best epochs
    history.csv           one row per epoch with a `stage` column, rendered from state.json
    <stage>/ckpt/epoch-N  model + optimizer after epoch N (last and best kept)
    <stage>/output        the stage's final weights (best epoch), which the next stage starts from
    sparsity.json         after a prune stage: per-layer sparsity and gzip sizes
    tb/<stage>/           TensorBoard logs
"""
from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional, Union

import tensorflow as tf
import tf_keras as keras

from edgecv import tempdirs
from edgecv.errors import EdgecvError, ModelError
from edgecv.fileio import write_json
from edgecv.optimize import prune as pruning
from edgecv.optimize.pqat import keep_zeros_callback, unmasked_pruned_kernels
from edgecv.optimize.qat import quantize
from edgecv.train.callbacks import EpochCommit, ProgressPrinter, StepProgress
from edgecv.train.distribute import StrategyInfo, get_strategy
from edgecv.train.optim import make_optimizer, make_schedule
from edgecv.train.seeding import runtime_facts, seed_everything
from edgecv.train.state import RunState
from edgecv.train.transfer import freeze, init_from, set_bn_momentum, unfreeze_top

from edgecv.train.spec import STAGE_ORDER  # noqa: E402
ModelSource = Union[keras.Model, Callable[[], keras.Model]]


@dataclass
class StagesResult:
    model: Any                                 # keras.Model to export (pruning stripped; QAT-wrapped after qat)
    history: list[dict[str, Any]]              # the rows of history.csv
    stages: list[str] = field(default_factory=list)       # stages in the recipe, in order
    best: dict[str, dict[str, Any]] = field(default_factory=dict)  # stage -> {monitor, value, epoch}
    sparsity: Optional[dict[str, Any]] = None  # sparsity.json content when a prune stage ran
    quantized: bool = False                    # the model is QAT-wrapped
    is_chief: bool = True                      # False on non-chief workers (they wrote nothing)
    train_dir: Optional[Path] = None
    float_model: Any = None                    # the model before QAT wrapping (= model without a qat stage)


def run_stages(recipe, run_dir, *, model: ModelSource, train_data, val_data, task, resume: bool = False,
               callbacks: tuple = (), echo: Callable[[str], None] = print) -> StagesResult:
    """Run the recipe's train/prune/qat stages; see the module docstring for outputs.

    `model` is a keras.Model or a zero-argument factory returning one. A factory is
    called inside the strategy scope after seeding (reproducible initial weights,
    needed for multi-GPU/multi-worker and mixed precision); a ready model is used
    as is on one device and cloned into the scope otherwise.
    `callbacks` are extra Keras callbacks added to every stage.
    """
    info = get_strategy()
    seed_everything(recipe.seed)
    say = echo if info.is_chief else (lambda _line: None)
    train_dir = Path(run_dir) / "train" if info.is_chief else tempdirs.make("worker")
    say(info.describe())
    # export.*/bench.* may change on resume: the state records the training digest.
    state = RunState.open(train_dir, recipe_digest=recipe.training_digest(), resume=resume,
                          also_accept=(recipe.digest(),), digest_for=recipe.training_digest)
    if info.is_chief:   # what a bit-identical rerun needs the same (see edgecv.train.seeding)
        facts = runtime_facts(recipe.seed)
        write_json(train_dir / "runtime.json", facts)
        say(f"reproducibility: seed {facts['seed']}, {facts['intra_op_threads']} intra-op / "
            f"{facts['inter_op_threads']} inter-op threads, op determinism "
            f"{'on' if facts['op_determinism'] else 'off'}, oneDNN {'on' if facts['onednn'] else 'off'}, "
            f"{facts['cpu']}")
    specs = [(name, getattr(recipe, name)) for name in STAGE_ORDER if getattr(recipe, name) is not None]
    monitor, mode = _monitor(task, val_data)
    train_data, val_data = _shard_policy(info, train_data), _shard_policy(info, val_data)
    mixed = info.mixed_precision and not isinstance(model, keras.Model)
    if info.mixed_precision and not mixed:
        say("note: mixed precision needs a model factory; training in float32")
    result = StagesResult(model=None, history=[], stages=[n for n, _ in specs], is_chief=info.is_chief,
                          train_dir=train_dir if info.is_chief else None)
    runner = _StageRunner(recipe=recipe, info=info, state=state, task=task, monitor=monitor, mode=mode,
                          train_data=train_data, val_data=val_data, callbacks=list(callbacks), echo=say)
    try:
        with info.strategy.scope():
            if mixed:
                keras.mixed_precision.set_global_policy("mixed_float16")
            base = _build(model, info)
            set_bn_momentum(base, recipe.model.bn_momentum)
            if recipe.model.init_from is not None:
                init_from(base, recipe.model.init_from, echo=say)
            current, pruned_before = base, False
            float_model = base
            for name, spec in specs:
                current = runner.run(name, spec, base, preserve_sparsity=pruned_before)
                if name != "qat":
                    float_model = current
                pruned_before = pruned_before or name == "prune"
                st = state.stage(name)
                result.best[name] = {"monitor": monitor, "value": st.best_value, "epoch": st.best_epoch}
        if mixed:
            keras.mixed_precision.set_global_policy("float32")
            current = _float32_copy(model, current, quantized=recipe.qat is not None,
                                    preserve_sparsity=pruned_before)
        result.model, result.history = current, list(state.history)
        # Mixed precision rebuilt `current` in float32 above; the float model is then the same.
        result.float_model = current if mixed or recipe.qat is None else float_model
        result.quantized = recipe.qat is not None
        result.sparsity = runner.sparsity
        if result.sparsity is None and (train_dir / "sparsity.json").exists():
            import json

            result.sparsity = json.loads((train_dir / "sparsity.json").read_text(encoding="utf-8"))
        return result
    finally:
        if not info.is_chief:
            shutil.rmtree(train_dir, ignore_errors=True)


class _StageRunner:
    """Runs (or resumes, or skips when done) one stage at a time against the shared state."""

    def __init__(self, *, recipe, info: StrategyInfo, state: RunState, task, monitor: str, mode: str,
                 train_data, val_data, callbacks: list, echo: Callable[[str], None]):
        self.recipe, self.info, self.state, self.task = recipe, info, state, task
        self.monitor, self.mode = monitor, mode
        self.train_data, self.val_data = train_data, val_data
        self.callbacks, self.echo = callbacks, echo
        self.sparsity: Optional[dict[str, Any]] = None

    @property
    def train_dir(self) -> Path:
        return self.state.train_dir

    def run(self, name: str, spec, base: keras.Model, *, preserve_sparsity: bool) -> keras.Model:
        st = self.state.stage(name)
        steps = self._steps_per_epoch(name, spec)
        if name == "prune" and st.status != "done" and "unpruned_size" not in st.info:
            st.info["unpruned_size"] = self._tflite_size(base)
            self.state.save()
        stage_model = self._stage_model(name, spec, base, steps=steps, preserve_sparsity=preserve_sparsity)
        if st.status == "done":
            tf.train.Checkpoint(model=stage_model).read(str(self.train_dir / st.output)).expect_partial()
            self.echo(f"[{name}] already finished (best epoch {st.best_epoch}); not re-run")
            return base if name != "qat" else stage_model
        self._fit(name, spec, stage_model, steps=steps)
        tf.train.Checkpoint(model=stage_model).read(str(self.train_dir / st.best_checkpoint)).expect_partial()
        value = f"{st.best_value:.4f}" if st.best_value is not None else "n/a"
        self.echo(f"[{name}] restored best epoch {st.best_epoch}/{st.epochs_done} ({self.monitor} {value})")
        st.output = f"{name}/output"
        tf.train.Checkpoint(model=stage_model).write(str(self.train_dir / st.output))
        if name == "prune":
            # Wrapped layers share variables with `base`: it now holds the sparse weights.
            self.sparsity = pruning.sparsity_summary(base, spec=spec, wrapped=st.info["pruned_layers"],
                                                     unpruned_size=st.info["unpruned_size"])
            write_json(self.train_dir / "sparsity.json", self.sparsity)
            self.echo(f"[prune] achieved sparsity {self.sparsity['achieved_sparsity']:.3f} "
                      f"(target {spec.target_sparsity}) over {len(st.info['pruned_layers'])} layers")
        st.status = "done"
        # The per-epoch checkpoints are deleted next: state.json must not point at them
        # (a finished stage resumes from `output`).
        st.last_checkpoint = st.best_checkpoint = None
        self.state.save()
        shutil.rmtree(self.train_dir / name / "ckpt", ignore_errors=True)
        return base if name != "qat" else stage_model

    def _stage_model(self, name: str, spec, base: keras.Model, *, steps: int, preserve_sparsity: bool) -> keras.Model:
        if name == "train":
            freeze(base, self.recipe.model.freeze, echo=self.echo)
            return base
        if name == "finetune":   # top blocks of the (frozen) backbone join the head
            unfreeze_top(base, spec.unfreeze, echo=self.echo, train_bn=spec.train_bn)
            return base
        freeze(base, None)  # prune and qat fine-tune the whole network, as TAO's retrain does
        if name == "prune":
            pruned = pruning.prune_model(base, spec, total_steps=spec.epochs * steps, echo=self.echo)
            self.state.stage(name).info["pruned_layers"] = pruning.pruned_layer_names(pruned)
            return pruned
        quantized = quantize(base, preserve_sparsity=preserve_sparsity)
        set_bn_momentum(quantized, self.recipe.model.bn_momentum)
        self.keep_zeros = []
        if preserve_sparsity:
            self.keep_zeros = unmasked_pruned_kernels(quantized, self.state.stage("prune").info.get("pruned_layers", []))
            if self.keep_zeros:
                self.echo(f"note: PQAT: {len(self.keep_zeros)} pruned kernels have no tfmot sparsity mask; "
                          "re-zeroing them after every step")
        return quantized

    def _fit(self, name: str, spec, model: keras.Model, *, steps: int) -> None:
        st = self.state.stage(name)
        schedule = make_schedule(spec, steps)
        optimizer = make_optimizer(spec, schedule)
        model.compile(optimizer=optimizer, loss=self.task.loss(self.recipe), metrics=self.task.metrics(),
                      jit_compile=True if self.info.xla else None)
        checkpoint = tf.train.Checkpoint(model=model, optimizer=optimizer)
        initial_epoch = 0
        if st.last_checkpoint:
            optimizer.build(model.trainable_variables)  # create slots so they restore now, not lazily
            checkpoint.read(str(self.train_dir / st.last_checkpoint)).assert_existing_objects_matched()
            initial_epoch = st.epochs_done
        if initial_epoch >= spec.epochs or st.stopped_early:
            return
        self.echo(f"[{name}] {'resuming at' if initial_epoch else 'starting'} epoch {initial_epoch + 1}/{spec.epochs}: "
                  f"{spec.optimizer} lr {spec.learning_rate:g} {spec.schedule}, {steps} steps/epoch")
        st.status = "running"
        self.state.save()
        eligible_from = 1
        if name == "prune":  # only epochs at full target sparsity may be picked as best
            eligible_from = pruning.final_sparsity_step(spec, spec.epochs * steps) // steps + 1
        commit = EpochCommit(state=self.state, stage=name, checkpoint=checkpoint, monitor=self.monitor,
                             mode=self.mode, patience=spec.early_stopping, eligible_from=eligible_from,
                             learning_rate=lambda: float(schedule(optimizer.iterations)))
        stage_callbacks = pruning.pruning_callbacks() if name == "prune" else []
        if name == "qat" and getattr(self, "keep_zeros", None):
            stage_callbacks.append(keep_zeros_callback(self.keep_zeros))
        extra_validation = getattr(self.task, "validation_callbacks", None)   # Task's default: none
        if self.val_data is not None and extra_validation is not None:   # they add the monitor commit reads
            stage_callbacks += extra_validation(self.val_data)
        stage_callbacks += [
            commit,  # after UpdatePruningStep: its epoch end re-applies the masks before the checkpoint
            StepProgress(stage=name, epochs=spec.epochs, steps=steps, enabled=self.info.is_chief),
            ProgressPrinter(stage=name, epochs=spec.epochs, commit=commit, echo=self.echo),
            *_tensorboard(self.train_dir / "tb" / name, self.echo),
            *self.callbacks,
            _stop_on_sigterm(),
        ]
        data = self.train_data.repeat() if spec.steps_per_epoch else self.train_data
        model.fit(data, epochs=spec.epochs, initial_epoch=initial_epoch, steps_per_epoch=spec.steps_per_epoch,
                  validation_data=self.val_data, callbacks=stage_callbacks, verbose=0)

    def _steps_per_epoch(self, name: str, spec) -> int:
        if spec.steps_per_epoch:
            return spec.steps_per_epoch
        if "data" not in self.state.steps_per_epoch:
            self.state.steps_per_epoch["data"] = _count_batches(self.train_data)
            self.state.save()
        return self.state.steps_per_epoch["data"]

    def _tflite_size(self, model: keras.Model) -> Optional[dict[str, int]]:
        try:
            return pruning.gzipped_tflite_size(model)
        except Exception as exc:  # sizes are a report nicety; never fail training for them
            self.echo(f"note: could not measure the unpruned TFLite size ({type(exc).__name__}: {exc})")
            return None


def _tensorboard(log_dir: Path, echo: Callable[[str], None]) -> list:
    """TensorBoard logging when the `tensorboard` package is installed (tf.summary needs it)."""
    try:
        import tensorboard  # noqa: F401
    except ImportError:
        echo("note: TensorBoard logs skipped: pip install tensorboard")
        return []
    return [keras.callbacks.TensorBoard(log_dir=str(log_dir), write_graph=False, profile_batch=0)]


def _monitor(task, val_data) -> tuple[str, str]:
    monitor, mode = task.monitor, getattr(task, "mode", None)
    if val_data is None and monitor.startswith("val_"):
        fallback = getattr(task, "monitor_without_val", None)
        monitor, mode = (fallback, None) if fallback else (monitor[len("val_"):], mode)
    mode = mode or ("min" if "loss" in monitor else "max")
    if mode not in ("min", "max"):
        raise EdgecvError(f"task {getattr(task, 'name', task)!r}: mode must be 'min' or 'max', got {mode!r}")
    return monitor, mode


def _build(model: ModelSource, info: StrategyInfo) -> keras.Model:
    """The model inside the current strategy scope (see run_stages)."""
    if isinstance(model, keras.Model):
        if info.replicas == 1 and info.num_workers == 1:
            return model
        clone = keras.models.clone_model(model)
        clone.set_weights(model.get_weights())
        return clone
    if not callable(model):
        raise ModelError(f"run_stages: model must be a keras.Model or a factory returning one, got {type(model).__name__}")
    built = model()
    if not isinstance(built, keras.Model):
        raise ModelError(f"run_stages: the model factory returned {type(built).__name__}, not a keras.Model")
    return built


def _shard_policy(info: StrategyInfo, dataset):
    """Multi-worker: shard by element (the default FILE policy fails on generated/in-memory data)."""
    if dataset is None or info.num_workers == 1:
        return dataset
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options)


def _count_batches(dataset) -> int:
    count = int(dataset.cardinality())
    if count == int(tf.data.INFINITE_CARDINALITY):
        raise EdgecvError("train data repeats forever: set train.steps_per_epoch")
    if count < 0:  # unknown (e.g. filtered): one pass to count
        count = int(dataset.reduce(0, lambda n, *_: n + 1))
    if count == 0:
        raise EdgecvError("train data is empty: no batches to train on")
    return count


def _float32_copy(factory: Callable[[], keras.Model], trained: keras.Model, *, quantized: bool,
                  preserve_sparsity: bool) -> keras.Model:
    """Rebuild a mixed-precision model in float32 for export (variables are float32 either way)."""
    fresh = factory()
    if quantized:
        fresh = quantize(fresh, preserve_sparsity=preserve_sparsity)
    fresh.set_weights(trained.get_weights())
    return fresh


def _stop_on_sigterm():
    """A callback that re-raises a SIGTERM whose first raise TensorFlow swallowed."""
    from edgecv.signals import raise_if_terminated

    class StopOnSigterm(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            raise_if_terminated()

        def on_epoch_end(self, epoch, logs=None):
            raise_if_terminated()

    return StopOnSigterm()
