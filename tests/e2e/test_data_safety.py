"""Issue 22, inputs and mismatches: YAML alias bombs (F4), decompression-bomb images (F13),
memory estimates (F14), model/data class and task mismatches (F5, F9, F12), bench options
(F8, F10) and remote noise (F11).

Every case is exit 2 with one `error:` line, no traceback, and the user's files unchanged
(hashed before and after). Bombs are generated; each is refused before any large
allocation (subprocesses run under an address-space limit, so a regression fails fast
instead of eating the machine)."""
from __future__ import annotations

import socket
import struct
import subprocess
import sys
import threading
import zlib
from pathlib import Path

import numpy as np
import pytest
import yaml

import edgecv  # noqa: F401  (TF_USE_LEGACY_KERAS before TF loads)
from edgecv.cli import main
from tests.safety_helpers import QUICKSTART, cli, env, limit_memory, one_error_line, tree_hash

from tests.helpers import TINY_QUICKSTART


# ---------------------------------------------------------------- F4: YAML alias bombs
def alias_bomb(levels: int = 9, width: int = 9, indent: str = "  ") -> list[str]:
    """Lines of a billion-laughs bomb: width**levels values once every alias is expanded."""
    lines = [f"{indent}l0: &l0 [" + ", ".join(['"lol"'] * width) + "]"]
    for i in range(1, levels):
        lines.append(f"{indent}l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * width) + "]")
    return lines


def run_limited(args, tmp_path, timeout=120):
    return subprocess.run(args, capture_output=True, text=True, env=env(), timeout=timeout,
                          cwd=tmp_path, preexec_fn=limit_memory(3 * 1024 ** 3))


def test_alias_bomb_nested_under_model_fails_fast(tmp_path):
    """F4: `edgecv data check` and `edgecv train` of a recipe with a 9-level bomb under model:."""
    recipe = tmp_path / "bomb.yaml"
    text = QUICKSTART.read_text().replace(
        "model: {arch: mobilenet_v2, alpha: 0.35, input_shape: [64, 64, 3]}",
        "model:\n  arch: mobilenet_v2\n" + "\n".join(alias_bomb()))
    assert "l8:" in text
    recipe.write_text(text)
    before = tree_hash(tmp_path)
    for command in (["data", "check", recipe], ["train", recipe, "--out", tmp_path / "run"]):
        done = run_limited(cli(*command), tmp_path)
        assert done.returncode == 2, done.stderr[-2000:]
        one_error_line(done.stderr, str(recipe), "aliases", "100000 values")
    assert tree_hash(tmp_path) == before    # no run folder, recipe untouched


@pytest.mark.parametrize("where", ["dataset-spec", "set-value", "bench-data"])
def test_alias_bombs_everywhere_yaml_comes_from_the_user(tmp_path, where):
    """Dataset spec files, `--set` values and `edgecv bench --data SPEC.yaml` have the limit too."""
    spec = tmp_path / "spec.yaml"
    spec.write_text("format: synthetic_shapes\nsamples: 4\nextra:\n" + "\n".join(alias_bomb()) + "\n")
    before = tree_hash(tmp_path)
    if where == "dataset-spec":
        done = run_limited(cli("data", "check", spec), tmp_path)
        needle = str(spec)
    elif where == "set-value":
        flow = "[" + ", ".join(["&a [1, 1, 1, 1, 1, 1, 1, 1, 1]"] + [f"&{c} [" + ", ".join([f"*{p}"] * 9) + "]"
                                for p, c in zip("abcdefgh", "bcdefghi")]) + "]"
        done = run_limited(cli("train", QUICKSTART, "--out", tmp_path / "run", "--set", f"model.x={flow}"),
                           tmp_path)
        needle = "--set model.x"
    else:
        code = ("import sys; from pathlib import Path; from edgecv.errors import EdgecvError\n"
                "from edgecv.bench.evaldata import _eval_from_spec\n"
                "try:\n"
                f"    _eval_from_spec(Path({str(spec)!r}), Path({str(tmp_path / 'e.npz')!r}),"
                " task='classification', input_shape=[32, 32, 3])\n"
                "except EdgecvError as exc:\n"
                "    print(f'error: {exc}', file=sys.stderr); sys.exit(2)\n")
        done = run_limited([sys.executable, "-c", code], tmp_path)
        needle = f"--data {spec}"
    assert done.returncode == 2, done.stderr[-2000:]
    one_error_line(done.stderr, needle, "aliases")
    assert tree_hash(tmp_path) == before


def test_yaml_limits_unit():
    from edgecv import yamlsafe

    with pytest.raises(yamlsafe.YamlLimitError, match="refers to itself"):
        yamlsafe.load("a: &a [*a]\n", where="x.yaml")
    with pytest.raises(yamlsafe.YamlLimitError, match="nested too deeply"):
        yamlsafe.load("[" * 5000 + "]" * 5000, where="x.yaml")
    # Ordinary anchors and merge keys still work; a long class list is fine.
    assert yamlsafe.load("a: &a {b: 1}\nc: *a\nd: {<<: *a, e: 2}\n", where="x") == \
        {"a": {"b": 1}, "c": {"b": 1}, "d": {"b": 1, "e": 2}}
    names = [f"class{i}" for i in range(20000)]
    assert yamlsafe.load(yaml.safe_dump({"classes": names}), where="x")["classes"] == names


def test_a_device_is_not_read_as_a_recipe(tmp_path, capsys):
    assert main(["data", "check", "/dev/zero"]) == 2
    one_error_line(capsys.readouterr().err, "/dev/zero", "not a regular file")


# ---------------------------------------------------------------- F13: decompression bombs
def big_png(path: Path, width: int, height: int) -> None:
    """A valid greyscale PNG of width x height zeros, written in chunks (never in memory)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    compressor = zlib.compressobj(9)
    row = b"\x00" * (width + 1)          # filter byte + one byte per pixel
    with open(path, "wb") as handle:
        handle.write(b"\x89PNG\r\n\x1a\n")
        handle.write(chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)))
        data = bytearray()
        for _ in range(height):
            data += compressor.compress(row)
        data += compressor.flush()
        handle.write(chunk(b"IDAT", bytes(data)))
        handle.write(chunk(b"IEND", b""))


def small_images(root: Path) -> None:
    import cv2

    rng = np.random.default_rng(0)
    for label in ("a", "b"):
        (root / label).mkdir(parents=True, exist_ok=True)
        for i in range(3):
            cv2.imwrite(str(root / label / f"{i}.png"), rng.integers(0, 255, (16, 16, 3), dtype=np.uint8))


def test_oversized_image_is_named_and_skipped_never_decoded(tmp_path, capsys, monkeypatch):
    """F13: a 20000x20000 PNG (~400 KB file) in a class folder is a named skip for
    `edgecv data check` and for training's dataset, and no decoder ever opens it."""
    import cv2

    data = tmp_path / "data"
    small_images(data)
    bomb = data / "a" / "bomb.png"
    big_png(bomb, 20000, 20000)
    assert bomb.stat().st_size < 1_000_000
    spec = tmp_path / "spec.yaml"
    spec.write_text(f"format: folder\npath: {data}\n")
    before = tree_hash(tmp_path)

    real_imread = cv2.imread
    def imread(path, *args):
        assert Path(path) != bomb, "the bomb was decoded"
        return real_imread(path, *args)
    monkeypatch.setattr(cv2, "imread", imread)

    assert main(["data", "check", str(spec)]) == 2
    captured = capsys.readouterr()
    one_error_line(captured.err, "1 problem(s) found")
    assert f"{bomb}: image is 20000x20000 = 400.0 Mpx, over the 89.5 Mpx limit" in captured.out
    assert "samples: 6 usable, 1 bad" in captured.out

    from edgecv.data import load_dataset

    train = load_dataset({"format": "folder", "path": str(data)}, task="classification")
    assert len(train) == 6 and str(bomb) not in [train.source.paths[i] for i in train.indices]
    assert [p.file for p in train.problems] == [str(bomb)] and train.skipped == 1
    assert tree_hash(tmp_path) == before


def test_max_pixels_is_a_dataset_key(tmp_path):
    from edgecv.data import load_dataset
    from edgecv.recipe import validate_recipe

    data = tmp_path / "data"
    small_images(data)
    tight = load_dataset({"format": "folder", "path": str(data), "max_pixels": 100}, task="classification")
    assert len(tight) == 0 and tight.skipped == 6 and "over the 0.0 Mpx limit" in str(tight.problems[0])
    recipe = validate_recipe({"name": "x", "task": "classification", "model": {"arch": "mobilenet_v2"},
                              "data": {"train": {"format": "folder", "path": str(data),
                                                 "max_pixels": 1_000_000}},
                              "train": {"epochs": 1}})
    assert recipe.data.train.max_pixels == 1_000_000


# ---------------------------------------------------------------- F14: memory estimates
@pytest.fixture
def eight_gb(monkeypatch):
    from edgecv import memory

    monkeypatch.setattr(memory, "machine_ram", lambda: 8 * 1000 ** 3)


@pytest.mark.parametrize("override, needles", [
    ("model.input_shape=[4096,4096,3]", ["model.input_shape=[4096, 4096, 3] with data.batch_size=32",
                                         "this machine has 8.0 GB", "lower model.input_shape"]),
    ("data.batch_size=100000000000000000000", ["data.batch_size=100000000000000000000", "needs at least"]),
    ("data.batch_size=1e20", ["data.batch_size", "1e20"]),
])
def test_sizes_beyond_the_machine_are_refused_before_training(tmp_path, capsys, eight_gb, override, needles):
    """F14 and `batch_size=1e20`: exit 2 naming the keys, before the run folder exists."""
    before = tree_hash(tmp_path)
    assert main(["train", str(QUICKSTART), "--out", str(tmp_path / "run"), "--set", override]) == 2
    one_error_line(capsys.readouterr().err, *needles)
    assert tree_hash(tmp_path) == before


def test_eval_set_estimate_and_the_machine_ram():
    from edgecv import memory
    from edgecv.recipe import load_recipe

    ram = memory.machine_ram()
    assert ram is not None and ram > 100 * 1024 ** 2
    # batch 1 fits a training step, but 400 val samples of 4096x4096x3 (20 GB) do not fit 8 GB.
    recipe = load_recipe(QUICKSTART, ["model.input_shape=[4096,4096,3]", "data.batch_size=1"])
    with pytest.raises(memory.MemoryLimitError, match=r"the eval set \(400 samples"):
        memory.check_training_fits(recipe, ram=8 * 1000 ** 3)
    memory.check_training_fits(load_recipe(QUICKSTART), ram=8 * 1000 ** 3)  # the quickstart fits


# ---------------------------------------------------------------- F5/F12: classes
def folder_data(root: Path, classes: list[str]) -> Path:
    import cv2

    rng = np.random.default_rng(1)
    for label in classes:
        (root / label).mkdir(parents=True, exist_ok=True)
        for i in range(4):
            cv2.imwrite(str(root / label / f"{i}.png"), rng.integers(0, 255, (16, 16, 3), dtype=np.uint8))
    return root


def write_recipe(path: Path, **changes) -> Path:
    recipe = {"name": "mine", "task": "classification",
              "model": {"arch": "mobilenet_v2", "alpha": 0.35, "input_shape": [32, 32, 3]},
              "data": {"batch_size": 4}, "train": {"epochs": 1}}
    for key, value in changes.items():
        recipe[key].update(value)
    path.write_text(yaml.safe_dump(recipe))
    return path


@pytest.mark.parametrize("case", ["3-model-5-data", "3-model-2-data", "val-other-classes"])
def test_class_count_mismatch_is_one_line_before_training(tmp_path, capsys, case):
    """F5/F12: model.num_classes != the data's classes, and a val split with other classes."""
    user = tmp_path / "user"
    if case == "3-model-5-data":
        args = ["train", str(QUICKSTART), *TINY_QUICKSTART, "--set", "model.num_classes=3"]
        needles = ["model.num_classes: 3, but data.train has 5 classes", "circle", "make it 5"]
    elif case == "3-model-2-data":
        recipe = write_recipe(tmp_path / "r.yaml", model={"num_classes": 3},
                              data={"train": {"format": "folder", "path": str(folder_data(user, ["a", "b"]))}})
        args, needles = ["train", str(recipe)], ["model.num_classes: 3, but data.train has 2 classes [a, b]"]
    else:
        recipe = write_recipe(tmp_path / "r.yaml", data={
            "train": {"format": "folder", "path": str(folder_data(user / "train", ["a", "b"]))},
            "val": {"format": "folder", "path": str(folder_data(user / "val", ["a", "b", "c"]))}})
        args, needles = ["train", str(recipe)], ["data.val: has 3 classes [a, b, c] but data.train has 2 [a, b]"]
    before = tree_hash(tmp_path)
    assert main([*args, "--out", str(tmp_path / "run")]) == 2
    one_error_line(capsys.readouterr().err, *needles)
    assert tree_hash(tmp_path) == before      # and the fresh run folder is gone again


# ---------------------------------------------------------------- F9/F8/F10/F11: bench
@pytest.fixture(scope="module")
def bench_files(tmp_path_factory):
    """Tiny untrained float32 TFLite files (3- and 5-class classifiers, a 3-class segmenter)
    and eval sets for classification (5 classes) and segmentation (3 classes)."""
    import tensorflow as tf
    import tf_keras as keras

    from edgecv.bench.evalset import write_eval_set

    root = tmp_path_factory.mktemp("bench_safety")
    keras.utils.set_random_seed(0)

    def classifier(k):
        return keras.Sequential([keras.Input((32, 32, 3)), keras.layers.Conv2D(4, 3, strides=4),
                                 keras.layers.GlobalAveragePooling2D(),
                                 keras.layers.Dense(k, activation="softmax")])

    def segmenter(k):
        return keras.Sequential([keras.Input((32, 32, 3)), keras.layers.Conv2D(4, 3, padding="same"),
                                 keras.layers.Conv2D(k, 1, activation="softmax")])

    files = {"root": root}
    for name, model in (("cls5", classifier(5)), ("cls3", classifier(3)), ("seg3", segmenter(3))):
        files[name] = root / f"{name}_float32.tflite"
        files[name].write_bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())
    rng = np.random.default_rng(0)
    x = rng.integers(0, 255, (8, 32, 32, 3), dtype=np.uint8)
    files["cls_npz"] = write_eval_set(root / "cls.npz", x_uint8=x, task="classification",
                                      targets=rng.integers(0, 5, 8), class_names=list("abcde"))
    files["seg_npz"] = write_eval_set(root / "seg.npz", x_uint8=x, task="segmentation",
                                      targets=rng.integers(0, 3, (8, 32, 32)),
                                      class_names=["background", "x", "y"])
    return files


@pytest.mark.parametrize("model, data, needles", [
    ("seg3", "cls_npz", ["classification eval set", "[1, 32, 32, 3]", "not [N, classes]"]),
    ("cls5", "seg_npz", ["segmentation eval set", "not [N, H, W, classes]"]),
    ("cls3", "cls_npz", ["the model outputs 3 classes but", "has 5 (a, b, c, d, e)"]),
])
def test_bench_refuses_a_model_that_does_not_fit_the_eval_set(bench_files, capsys, model, data, needles):
    """F9 (and F12 at bench time): checked from shapes before anything is scored."""
    before = tree_hash(bench_files["root"])
    assert main(["bench", str(bench_files[model]), "--data", str(bench_files[data]), "--runs", "1"]) == 2
    one_error_line(capsys.readouterr().err, str(bench_files[model]), *needles)
    assert tree_hash(bench_files["root"]) == before


def test_bench_scores_a_model_that_fits(bench_files, capsys):
    assert main(["bench", str(bench_files["cls5"]), "--data", str(bench_files["cls_npz"]), "--runs", "1"]) == 0
    assert main(["bench", str(bench_files["seg3"]), "--data", str(bench_files["seg_npz"]), "--runs", "1"]) == 0
    capsys.readouterr()


def test_bench_json_to_a_directory_is_refused_up_front(bench_files, tmp_path, capsys):
    """F8: `--json DIR` is refused before the benchmark runs, not with a traceback after it."""
    target = tmp_path / "reports"
    target.mkdir()
    (target / "old.json").write_text("{}")
    before = tree_hash(tmp_path)
    assert main(["bench", str(bench_files["cls5"]), "--json", str(target)]) == 2
    one_error_line(capsys.readouterr().err, f"--json {target}: is a directory", "report.json")
    (tmp_path / "afile").write_text("x")
    before = tree_hash(tmp_path)
    assert main(["bench", str(bench_files["cls5"]), "--json", str(tmp_path / "afile" / "r.json")]) == 2
    one_error_line(capsys.readouterr().err, "is a file, not a directory")
    assert tree_hash(tmp_path) == before


def test_absurd_thread_counts_are_refused_in_one_line(bench_files, capsys):
    """F10: `--threads 100000` is refused before LiteRT sees it (CLI, recipe and runner)."""
    assert main(["bench", str(bench_files["cls5"]), "--threads", "100000"]) == 2
    err = capsys.readouterr().err
    one_error_line(err, "--threads 100000: must be between 1 and 1024")
    assert "INFO" not in err
    from edgecv.bench import runner

    done = subprocess.run([sys.executable, runner.__file__, str(bench_files["cls5"]), "--threads", "100000"],
                          capture_output=True, text=True)
    assert done.returncode == 2
    one_error_line(done.stderr, "--threads must be between 1 and 1024, got 100000")
    from edgecv.errors import RecipeError
    from edgecv.recipe import load_recipe

    with pytest.raises(RecipeError, match="bench.threads"):
        load_recipe(QUICKSTART, ["bench.threads=100000"])


def test_a_crashing_runner_is_reported_as_a_crash(bench_files, tmp_path, monkeypatch):
    """F10: when the runner dies of a signal (LiteRT segfaults creating 100000 threads), the
    error says so — not LiteRT's last INFO line."""
    from edgecv.bench import bench_file, runner
    from edgecv.errors import BenchError

    unguarded = tmp_path / "runner.py"   # the real runner without its thread-count guard
    unguarded.write_text(Path(runner.__file__).read_text().replace("MAX_THREADS = 1024", "MAX_THREADS = 10**9"))
    monkeypatch.setattr(runner, "__file__", str(unguarded))
    try:
        entry = bench_file(bench_files["cls5"], runs=1, warmup=0, threads=100000)
    except BenchError as exc:
        assert str(exc) == "the runner crashed (signal 11, SIGSEGV) with --threads 100000"
    else:
        pytest.skip(f"this LiteRT build survives 100000 threads: {entry['latency_ms']['threads']}")


def test_runner_failure_messages():
    from edgecv.bench.failures import runner_failure

    crashed = subprocess.run([sys.executable, "-c", "import sys, ctypes; print('INFO: Created TensorFlow "
                              "Lite XNNPACK delegate for CPU.', file=sys.stderr, flush=True); ctypes.string_at(0)"],
                             capture_output=True, text=True)
    assert crashed.returncode == -11
    assert runner_failure(crashed.returncode, crashed.stderr, threads=8) == \
        "the runner crashed (signal 11, SIGSEGV) with --threads 8"
    assert runner_failure(139, "INFO: x\n", remote=True) == "the runner crashed (signal 11, SIGSEGV)"
    assert runner_failure(2, "INFO: x\nerror: bad model\n") == "bad model"
    assert runner_failure(1, "INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\n") == \
        "the runner failed (exit 1) without an error message"


def test_remote_port_that_accepts_and_closes_prints_one_line(bench_files, tmp_path):
    """F11: paramiko's two handshake tracebacks stay out of stderr; edgecv's line remains."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    port = server.getsockname()[1]

    def serve():
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            conn.close()

    threading.Thread(target=serve, daemon=True).start()
    try:
        done = subprocess.run(cli("bench", bench_files["cls5"], "--remote", f"me@127.0.0.1:{port}"),
                              capture_output=True, text=True, env=env(), timeout=120)
    finally:
        server.close()
    assert done.returncode == 2
    one_error_line(done.stderr, f"remote me@127.0.0.1:{port}: no SSH server answered on port {port}")
    assert "Exception" not in done.stderr and "paramiko" not in done.stderr
    noise = [line for line in done.stderr.splitlines() if line and not line.startswith(("error:", "bench:"))]
    assert noise == []
