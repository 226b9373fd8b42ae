"""--resume: a training process killed with SIGKILL mid-epoch resumes and finishes
with the same epochs and no duplicated or lost history rows."""
from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

# Trains `train` (3 epochs) then `prune` (1 epoch). In epoch 2 of `train` it drops a
# marker after batch 2 and then slows down, so the test can kill it mid-epoch.
SCRIPT = textwrap.dedent('''
    import sys, time
    from pathlib import Path
    import edgecv
    import numpy as np, tensorflow as tf, tf_keras as keras
    from edgecv.recipe import validate_recipe
    from edgecv.tasks.classification import TASK
    from edgecv.train import run_stages

    run_dir, marker, resume = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3] == "resume"

    def data(n, seed):
        rng = np.random.default_rng(seed)
        y = rng.integers(0, 2, n).astype(np.int32)
        x = rng.normal(0, 0.3, (n, 32, 32, 3)).astype(np.float32)
        x[y == 1, 8:24, 8:24, :] += 1.0
        return tf.data.Dataset.from_tensor_slices((x, y)).batch(16)

    def factory():
        i = keras.Input((32, 32, 3))
        h = keras.layers.Conv2D(8, 3, strides=2, name="c1")(i)
        h = keras.layers.BatchNormalization(name="bn1")(h)
        h = keras.layers.ReLU(name="r1")(h)
        h = keras.layers.GlobalAveragePooling2D(name="avg_pool")(h)
        return keras.Model(i, keras.layers.Dense(2, activation="softmax", name="logits")(h))

    class Marker(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch
        def on_train_batch_end(self, batch, logs=None):
            if self.epoch == 1 and not resume:
                if batch == 2:
                    marker.write_text("epoch 2 batch 3")
                if batch >= 2:
                    time.sleep(0.5)

    recipe = validate_recipe({"name": "resume", "task": "classification", "model": {"arch": "mobilenet_v2"},
                              "data": {"train": {"format": "synthetic_shapes"}},
                              "train": {"epochs": 3, "learning_rate": 0.01},
                              "prune": {"epochs": 1, "target_sparsity": 0.5}})
    result = run_stages(recipe, run_dir, model=factory, train_data=data(128, 0), val_data=data(32, 1),
                        task=TASK, resume=resume, callbacks=[Marker()])
    print("FINISHED", [(r["stage"], r["epoch"]) for r in result.history])
''')


def test_sigkill_mid_epoch_then_resume(tmp_path):
    script = tmp_path / "train_script.py"
    script.write_text(SCRIPT)
    run_dir, marker = tmp_path / "run", tmp_path / "marker"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, str(script), str(run_dir), str(marker), "fresh"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    deadline = time.monotonic() + 120
    while not marker.exists():
        if proc.poll() is not None:
            pytest.fail("training exited before epoch 2:\n" + proc.stdout.read().decode()[-3000:])
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail("no marker after 120 s")
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    first_output = proc.stdout.read().decode()
    assert "[train] epoch 1/3" in first_output and "[train] epoch 2/3" not in first_output

    state = json.loads((run_dir / "train" / "state.json").read_text())
    assert state["stages"]["train"]["epochs_done"] == 1
    assert "prune" not in state["stages"]

    done = subprocess.run([sys.executable, str(script), str(run_dir), str(marker), "resume"],
                          capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "[train] resuming at epoch 2/3" in done.stdout
    assert "[train] epoch 1/3" not in done.stdout  # finished epochs are not re-run
    with open(run_dir / "train" / "history.csv", newline="") as f:
        rows = [(r["stage"], int(r["epoch"])) for r in csv.DictReader(f)]
    assert rows == [("train", 1), ("train", 2), ("train", 3), ("prune", 1)]

    # A finished run resumed again re-runs nothing and keeps its history.
    again = subprocess.run([sys.executable, str(script), str(run_dir), str(marker), "resume"],
                           capture_output=True, text=True, env=env, timeout=300)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "[train] already finished" in again.stdout and "[prune] already finished" in again.stdout
    assert "epoch 1/" not in again.stdout
    with open(run_dir / "train" / "history.csv", newline="") as f:
        assert len(list(csv.DictReader(f))) == 4
