"""Strategy choice from TF_CONFIG, and a real two-worker MultiWorkerMirroredStrategy
run on localhost (CPU): both workers finish, only the chief writes the run dir."""
from __future__ import annotations

import csv
import json
import os
import socket
import subprocess
import sys
import textwrap

import pytest

from edgecv.errors import EdgecvError
from edgecv.train.distribute import cluster_from_env

SCRIPT = textwrap.dedent('''
    import sys
    from pathlib import Path
    import edgecv
    from edgecv.train.distribute import get_strategy
    info = get_strategy()  # before any TensorFlow op: MultiWorkerMirroredStrategy requires it
    import numpy as np, tensorflow as tf, tf_keras as keras
    from edgecv.recipe import validate_recipe
    from edgecv.tasks.classification import TASK
    from edgecv.train import run_stages

    def data(n, seed):
        rng = np.random.default_rng(seed)
        y = rng.integers(0, 2, n).astype(np.int32)
        x = rng.normal(0, 0.3, (n, 32, 32, 3)).astype(np.float32)
        x[y == 1, 8:24, 8:24, :] += 1.0
        return tf.data.Dataset.from_tensor_slices((x, y)).batch(16)  # 16 = the global batch

    def factory():
        i = keras.Input((32, 32, 3))
        h = keras.layers.Conv2D(8, 3, strides=2, name="c1")(i)
        h = keras.layers.BatchNormalization(name="bn1")(h)
        h = keras.layers.ReLU(name="r1")(h)
        h = keras.layers.GlobalAveragePooling2D(name="avg_pool")(h)
        return keras.Model(i, keras.layers.Dense(2, activation="softmax", name="logits")(h))

    recipe = validate_recipe({"name": "mw", "task": "classification", "model": {"arch": "mobilenet_v2"},
                              "data": {"train": {"format": "synthetic_shapes"}},
                              "train": {"epochs": 2, "steps_per_epoch": 3, "learning_rate": 0.01}})
    result = run_stages(recipe, Path(sys.argv[1]), model=factory, train_data=data(96, 0),
                        val_data=data(32, 1), task=TASK)
    kernel = result.model.get_layer("c1").get_weights()[0]
    print("RESULT", info.kind, info.replicas, info.is_chief, len(result.history), float(np.abs(kernel).sum()))
''')


def free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def test_cluster_from_env(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    assert cluster_from_env() == (1, 0, True)
    cluster = {"worker": ["a:1", "b:2", "c:3"]}
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": cluster, "task": {"type": "worker", "index": 2}}))
    assert cluster_from_env() == (3, 2, False)
    cluster = {"chief": ["a:1"], "worker": ["b:2"]}
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": cluster, "task": {"type": "chief", "index": 0}}))
    assert cluster_from_env() == (2, 0, True)
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": cluster, "task": {"type": "worker", "index": 0}}))
    assert cluster_from_env() == (2, 1, False)
    monkeypatch.setenv("TF_CONFIG", "{not json")
    with pytest.raises(EdgecvError, match="TF_CONFIG: not a JSON object"):
        cluster_from_env()


def test_two_workers_on_localhost(tmp_path):
    script = tmp_path / "worker.py"
    script.write_text(SCRIPT)
    workers = [f"127.0.0.1:{port}" for port in free_ports(2)]
    procs = []
    for index in range(2):
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "CUDA_VISIBLE_DEVICES": "",
               "TF_CONFIG": json.dumps({"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}})}
        procs.append(subprocess.Popen([sys.executable, str(script), str(tmp_path / f"run{index}")],
                                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env))
    outputs = []
    try:
        for proc in procs:
            outputs.append(proc.communicate(timeout=240)[0])
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
    for index, (proc, out) in enumerate(zip(procs, outputs)):
        assert proc.returncode == 0, f"worker {index}:\n{out[-3000:]}"
    results = [next(line.split()[1:] for line in out.splitlines() if line.startswith("RESULT")) for out in outputs]
    assert [r[:3] for r in results] == [["multi_worker", "2", "True"], ["multi_worker", "2", "False"]]
    assert results[0][4] == results[1][4]  # replicas stay in sync: identical trained weights
    # Only the chief writes a run directory.
    assert not (tmp_path / "run1").exists()
    with open(tmp_path / "run0" / "train" / "history.csv", newline="") as f:
        assert [(r["stage"], r["epoch"]) for r in csv.DictReader(f)] == [("train", "1"), ("train", "2")]
    assert "strategy multi_worker (2 replica(s) on CPU, worker 1/2)" in outputs[0]
