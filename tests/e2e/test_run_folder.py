"""Issue 22, run folders: --force deletes only edgecv's own runs (F1), one writer per run
folder (F2), honest --resume (F3), temp files removed on SIGTERM and after SIGKILL (F15, F16).

Every refusal is exit 2 with one `error:` line, no traceback, and not one byte of the
user's files changed (each folder is hashed before and after)."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from edgecv import rundir
from edgecv.cli import main
from edgecv.recipe import dump_recipe, load_recipe
from tests.safety_helpers import QUICKSTART, cli, env, one_error_line, tree_hash

from tests.helpers import REPO, TINY_QUICKSTART


def png(path: Path, seed: int = 0) -> None:
    import cv2

    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    cv2.imwrite(str(path), rng.integers(0, 255, (12, 12, 3), dtype=np.uint8))


def folder_recipe(tmp_path: Path, data: Path, name: str = "r.yaml", **extra) -> Path:
    """A tiny recipe training on a folder dataset at `data` (absolute path)."""
    recipe = {"name": "mine", "task": "classification",
              "model": {"arch": "mobilenet_v2", "alpha": 0.35, "input_shape": [32, 32, 3]},
              "data": {"train": {"format": "folder", "path": str(data)}, "batch_size": 4},
              "train": {"epochs": 1}, **extra}
    path = tmp_path / name
    path.write_text(yaml.safe_dump(recipe))
    return path


def user_folder(root: Path) -> Path:
    """A folder a user cares about: notes, photos and a two-class dataset."""
    (root / "notes").mkdir(parents=True)
    (root / "notes" / "ideas.txt").write_text("do not lose me\n")
    (root / "train").mkdir()
    for label in ("cats", "dogs"):
        for i in range(3):
            png(root / "data" / label / f"{i}.png", seed=i)
    return root


# ---------------------------------------------------------------- F1: --force
def test_force_on_a_folder_not_made_by_edgecv_keeps_every_file(tmp_path, capsys):
    """F1: `--force` on an ordinary folder holding the recipe's own dataset deletes nothing."""
    precious = user_folder(tmp_path / "P")
    recipe = folder_recipe(tmp_path, precious / "data")
    before = tree_hash(precious)
    assert main(["train", str(recipe), "--out", str(precious), "--force"]) == 2
    one_error_line(capsys.readouterr().err, "--force", "refusing to delete it",
                   "data.train.path")
    assert tree_hash(precious) == before


def test_force_on_a_folder_without_data_and_without_marker_is_refused(tmp_path, capsys):
    precious = tmp_path / "notes"
    precious.mkdir()
    (precious / "todo.md").write_text("- everything\n")
    (precious / "recipe.yaml").write_text("not a run\n")
    recipe = folder_recipe(tmp_path, user_folder(tmp_path / "elsewhere") / "data")
    before = tree_hash(precious)
    assert main(["train", str(recipe), "--out", str(precious), "--force"]) == 2
    one_error_line(capsys.readouterr().err, "not made by edgecv", rundir.MARKER)
    assert tree_hash(precious) == before


def test_force_never_deletes_the_recipe_or_the_data_even_in_an_edgecv_run(tmp_path, capsys):
    """A marked run folder that holds the recipe file itself (or its data) is refused too."""
    run = tmp_path / "run"
    run.mkdir()
    rundir.write_marker(run, "mine")
    data = user_folder(tmp_path / "d") / "data"
    recipe = folder_recipe(run, data)          # the recipe file lives inside the run folder
    before = tree_hash(run)
    assert main(["train", str(recipe), "--out", str(run), "--force"]) == 2
    one_error_line(capsys.readouterr().err, "refusing to delete it", "the recipe file")
    assert tree_hash(run) == before
    # init_from inside the folder: refused as well.
    weights = run / "weights.h5"
    weights.write_bytes(b"weights")
    other = folder_recipe(tmp_path, data, model={"arch": "mobilenet_v2", "alpha": 0.35,
                                                 "input_shape": [32, 32, 3], "init_from": str(weights)})
    before = tree_hash(run)
    assert main(["train", str(other), "--out", str(run), "--force"]) == 2
    one_error_line(capsys.readouterr().err, "model.init_from")
    assert tree_hash(run) == before


def test_force_refuses_an_old_run_without_marker_and_says_to_delete_it_by_hand(tmp_path, capsys):
    """Runs of edgecv versions before the marker: recipe.yaml + train/ (conservative: refused)."""
    old = tmp_path / "runs" / "quickstart"
    (old / "train").mkdir(parents=True)
    (old / "train" / "state.json").write_text("{}")
    (old / "recipe.yaml").write_text("name: quickstart\n")
    before = tree_hash(old)
    assert main(["train", str(QUICKSTART), "--out", str(old), "--force", *TINY_QUICKSTART]) == 2
    one_error_line(capsys.readouterr().err, "no .edgecv-run marker", "delete it yourself")
    assert tree_hash(old) == before


def test_already_exists_names_the_safe_choices(tmp_path, capsys):
    precious = user_folder(tmp_path / "P")
    before = tree_hash(precious)
    assert main(["train", str(QUICKSTART), "--out", str(precious), *TINY_QUICKSTART]) == 2
    line = one_error_line(capsys.readouterr().err, "already exists", "not an edgecv run folder",
                          "--resume", "--out NEW_DIR")
    assert "only an edgecv run folder can be replaced" in line
    assert tree_hash(precious) == before


def test_force_replaces_an_edgecv_run_folder_and_keeps_the_marker(tmp_path, capsys):
    """The one case --force is for: an edgecv run folder is emptied and reused. (The new run
    then stops at a class-count mismatch, F5, so no training is needed here.)"""
    run = tmp_path / "run"
    (run / "export").mkdir(parents=True)
    (run / "export" / "old_int8.tflite").write_bytes(b"old")
    (run / "report.md").write_text("old report")
    rundir.write_marker(run, "quickstart")
    assert main(["train", str(QUICKSTART), "--out", str(run), "--force", *TINY_QUICKSTART,
                 "--set", "model.num_classes=3"]) == 2
    one_error_line(capsys.readouterr().err, "model.num_classes: 3", "5 classes")
    assert not (run / "export").exists() and not (run / "report.md").exists()
    assert rundir.is_edgecv_run(run) and (run / "recipe.yaml").is_file()


# ---------------------------------------------------------------- F2: one writer
def wait_for(predicate, proc, timeout=180.0, what="condition"):
    deadline = time.monotonic() + timeout
    while not predicate():
        if proc.poll() is not None:
            pytest.fail(f"process exited before {what}:\n{proc.stdout.read()[-3000:]}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)


def test_second_writer_is_refused_naming_the_live_pid(tmp_path, capsys):
    """F2: while one `edgecv train --out D` runs, a second train (--force or --resume),
    `edgecv bench D` and `edgecv export D` get exit 2 naming its pid and change nothing;
    SIGTERM then ends the first one through the Ctrl-C path (exit 130) and frees the lock."""
    run = tmp_path / "D"
    args = ["train", str(QUICKSTART), "--out", str(run), *TINY_QUICKSTART, "--set", "train.epochs=30"]
    first = subprocess.Popen(cli(*args), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             text=True, env=env())
    try:
        wait_for(lambda: (run / "recipe.yaml").exists() and rundir.holder_pid(run) == first.pid,
                 first, what="the first run to lock its folder")
        os.kill(first.pid, signal.SIGSTOP)       # freeze its writes so the folder can be hashed
        before = tree_hash(run)
        assert main([*args, "--force"]) == 2
        one_error_line(capsys.readouterr().err, f"pid {first.pid}", "is writing this run folder")
        assert main([*args, "--resume"]) == 2
        one_error_line(capsys.readouterr().err, f"pid {first.pid}")
        assert main(args) == 2                    # no flag: the message names the writer too
        one_error_line(capsys.readouterr().err, f"pid {first.pid}")
        (run / "export").mkdir(exist_ok=True)
        before = tree_hash(run)
        assert main(["bench", str(run)]) == 2
        one_error_line(capsys.readouterr().err, f"pid {first.pid}")
        assert tree_hash(run) == before
        os.kill(first.pid, signal.SIGCONT)
        os.kill(first.pid, signal.SIGTERM)
        out, _ = first.communicate(timeout=120)
    finally:
        if first.poll() is None:
            first.kill()
    assert first.returncode == 130, out[-3000:]
    assert "aborted (SIGTERM)" in out and "Traceback" not in out
    assert rundir.holder_pid(run) is None         # released: the next writer is not blocked
    assert not rundir.leftovers(run)


def test_lock_of_a_killed_process_does_not_block(tmp_path):
    """flock dies with its process: a SIGKILLed holder leaves a lock file but no lock."""
    folder = tmp_path / "run"
    folder.mkdir()
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {str(REPO)!r})
        from pathlib import Path
        from edgecv.rundir import RunLock
        RunLock(Path({str(folder)!r})).acquire()
        print("locked", flush=True)
        time.sleep(120)
    """)], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "locked"
    assert rundir.holder_pid(folder) == holder.pid
    with pytest.raises(rundir.RunFolderError, match=f"pid {holder.pid}"):
        rundir.RunLock(folder).acquire()
    holder.kill()
    holder.wait()
    assert (folder / rundir.LOCK).read_text().strip() == str(holder.pid)   # stale file ...
    assert rundir.holder_pid(folder) is None                                # ... no lock
    lock = rundir.RunLock(folder).acquire()
    assert (folder / rundir.LOCK).read_text().strip() == str(os.getpid())
    lock.release()


def test_non_chief_workers_never_lock_or_touch_the_run_folder(tmp_path):
    """Multi-worker: only the chief writes the run folder, so only it takes the lock."""
    run = tmp_path / "run"
    run.mkdir()
    rundir.write_marker(run, "mw")
    (run / "recipe.yaml").write_text("x: 1\n")
    recipe = load_recipe(QUICKSTART)
    chief = rundir.RunLock(run).acquire()
    try:
        before = tree_hash(run)
        with rundir.prepare(run, recipe=recipe, recipe_path=QUICKSTART, resume=False, force=True,
                            is_chief=False) as folder:
            assert folder.lock is None and not folder.created
        assert tree_hash(run) == before
    finally:
        chief.release()


# ---------------------------------------------------------------- F3: honest --resume
def fake_run(run: Path, overrides: list[str]) -> None:
    """A run folder as `edgecv train` leaves it after an interrupted first epoch."""
    recipe = load_recipe(QUICKSTART, overrides)
    (run / "train").mkdir(parents=True)
    (run / "recipe.yaml").write_text(dump_recipe(recipe))
    (run / "train" / "state.json").write_text(json.dumps({"recipe_digest": "x", "stages": {}, "history": []}))
    rundir.write_marker(run, recipe.name)


def test_resume_with_a_different_recipe_is_refused_naming_the_keys(tmp_path, capsys):
    """F3: started with --set train.epochs=3, resumed without it: refused, nothing changes."""
    run = tmp_path / "run"
    fake_run(run, [*TINY_QUICKSTART[1::2], "train.epochs=3"])
    before = tree_hash(run)
    assert main(["train", str(QUICKSTART), "--out", str(run), "--resume", *TINY_QUICKSTART]) == 2
    line = one_error_line(capsys.readouterr().err, "--resume", "train.epochs (3 -> 2)", "--out NEW_DIR",
                          "export.*", "bench.*")
    assert "resuming anyway" not in line
    assert tree_hash(run) == before
    # Several keys: the first ones are named, the rest counted.
    assert main(["train", str(QUICKSTART), "--out", str(run), "--resume", "--set", "seed=3"]) == 2
    one_error_line(capsys.readouterr().err, "seed (0 -> 3)", "model.input_shape", "and 1 more")
    assert tree_hash(run) == before


def test_resume_safe_keys_are_export_and_bench_only(tmp_path):
    from edgecv.resume import ResumeError, check_resumable

    run = tmp_path / "run"
    base = list(TINY_QUICKSTART[1::2])
    fake_run(run, base)
    ok = load_recipe(QUICKSTART, [*base, "bench.runs=3", "bench.threads=1", "export.formats=[int8]"])
    check_resumable(run, ok)        # bench.* and export.* may change
    for key in ("seed=7", "data.augment.flip=false", "data.train.samples=161", "name=other"):
        with pytest.raises(ResumeError, match=key.split("=")[0].replace(".", r"\.")):
            check_resumable(run, load_recipe(QUICKSTART, [*base, key]))


def test_resume_of_a_folder_that_is_no_run_is_refused(tmp_path, capsys):
    """A user's folder that happens to hold a recipe.yaml is not resumed (it would be rewritten)."""
    precious = tmp_path / "proj"
    precious.mkdir()
    (precious / "recipe.yaml").write_text(QUICKSTART.read_text())
    before = tree_hash(precious)
    assert main(["train", str(precious / "recipe.yaml"), "--out", str(precious), "--resume"]) == 2
    one_error_line(capsys.readouterr().err, "not an edgecv run folder")
    assert tree_hash(precious) == before


def test_train_state_refuses_a_changed_training_recipe(tmp_path):
    """The backstop under the CLI check: run_stages' state refuses another training digest."""
    from edgecv.errors import EdgecvError
    from edgecv.train.state import RunState

    state = RunState.open(tmp_path, recipe_digest="aaaa", resume=False)
    state.save()
    assert RunState.open(tmp_path, recipe_digest="aaaa", resume=True).recipe_digest == "aaaa"
    assert RunState.open(tmp_path, recipe_digest="bbbb", resume=True, also_accept=("aaaa",)).recipe_digest == "bbbb"
    with pytest.raises(EdgecvError, match="training settings changed"):
        RunState.open(tmp_path, recipe_digest="cccc", resume=True)


# ---------------------------------------------------------------- F15/F16: temp files
def edgecv_bench_dirs(pid: int) -> list[Path]:
    return sorted(Path(tempfile.gettempdir()).glob(f"edgecv-bench-{pid}-*"))


@pytest.mark.slow   # one tiny training run plus a resume: ~1.5 min on 2 busy cores
def test_sigterm_during_bench_removes_temp_files_and_resume_cleans_leftovers(tmp_path):
    """F15: SIGTERM while the runner benchmarks: exit 130, one line, the runner child and
    /tmp/edgecv-bench-PID-* gone, no .tmp-* in the run folder. A 0-byte .tmp-*-eval.npz as a
    SIGKILL leaves it is removed by the next --resume, which may change bench.* only; the
    exported files then carry the recipe that produced them."""
    run = tmp_path / "run"
    small = ["train.epochs=1", "data.train.samples=64", "data.val.samples=16", "export.formats=[float32]"]
    args = ["train", str(QUICKSTART), "--out", str(run), *TINY_QUICKSTART,
            *[part for key in small for part in ("--set", key)]]
    proc = subprocess.Popen(cli(*args, "--set", "bench.runs=100000000", "--set", "bench.warmup=0"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env())
    lines = []
    try:
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("bench: float32 ("):
                break
        wait_for(lambda: edgecv_bench_dirs(proc.pid), proc, timeout=60, what="the runner's temp dir")
        time.sleep(1.0)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, "".join(lines) + err
    assert "Traceback" not in err
    last = err.strip().splitlines()[-1]      # with the command that continues the run
    assert last.startswith("aborted (SIGTERM); continue with: edgecv train ") and last.endswith(" --resume")
    assert edgecv_bench_dirs(proc.pid) == []
    assert not [p for p in run.rglob(".tmp-*")]
    runner_alive = [p for p in Path("/proc").iterdir() if p.name.isdigit()
                    and str(run) in (p / "cmdline").read_bytes().decode(errors="replace")
                    if (p / "cmdline").exists()] if Path("/proc").exists() else []
    assert runner_alive == []

    # What a SIGKILL during write_eval_set leaves; the next run in the folder removes it.
    (run / ".tmp-abcd1234-eval.npz").write_bytes(b"")
    (run / ".tmp-notes").write_text("a user's file; not an edgecv temp name\n")
    done = subprocess.run(cli(*args, "--resume", "--set", "bench.runs=3"), capture_output=True,
                          text=True, env=env(), timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert not (run / ".tmp-abcd1234-eval.npz").exists() and (run / ".tmp-notes").exists()
    resumed = load_recipe(QUICKSTART, [*TINY_QUICKSTART[1::2], *small, "bench.runs=3"])
    assert yaml.safe_load((run / "recipe.yaml").read_text())["bench"]["runs"] == 3
    sidecar = json.loads((run / "export" / "quickstart_float32.json").read_text())
    assert sidecar["recipe_hash"] == resumed.digest()   # the recipe that produced this export


def test_sigterm_inside_an_atomic_write_removes_the_temp_file(tmp_path):
    """The mechanism under F15: edgecv's SIGTERM handler unwinds `atomic_path`."""
    script = textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {str(REPO)!r})
        from pathlib import Path
        from edgecv.fileio import atomic_path
        from edgecv.signals import Terminated, sigterm_as_interrupt
        try:
            with sigterm_as_interrupt():
                with atomic_path(Path({str(tmp_path)!r}) / "eval.npz") as tmp:
                    print(tmp.name, flush=True)
                    time.sleep(60)
        except Terminated:
            sys.exit(130)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    name = proc.stdout.readline().strip()
    assert name.startswith(".tmp-") and (tmp_path / name).exists()
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 130
    assert list(tmp_path.iterdir()) == []


def test_sigkill_during_saved_model_export_is_cleaned_by_the_next_export(tmp_path, capsys):
    """F16: a `.NAME_saved_model.XXXXXXXX/` staging folder left by SIGKILL is removed by the
    next command in the run folder; the killed process' lock does not block it, and files
    that only look similar are kept."""
    import tf_keras as keras

    from edgecv.data import load_dataset

    run = tmp_path / "run"
    run.mkdir()
    recipe = load_recipe(QUICKSTART, TINY_QUICKSTART[1::2])
    (run / "recipe.yaml").write_text(dump_recipe(recipe))
    rundir.write_marker(run, recipe.name)
    classes = len(load_dataset(recipe.data.train, task="classification").class_names)
    model = keras.Sequential([keras.Input((32, 32, 3)), keras.layers.Conv2D(4, 3, strides=4),
                              keras.layers.GlobalAveragePooling2D(),
                              keras.layers.Dense(classes, activation="softmax")])
    model.save(run / "model.keras")
    (run / "export").mkdir()
    (run / "export" / ".my_saved_model_notes").write_text("keep")
    staging = lambda: [p for p in (run / "export").iterdir()  # noqa: E731
                       if p.name.startswith(".quickstart_saved_model.")]
    proc = subprocess.Popen(cli("export", run, "--format", "saved_model"), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=env())
    try:
        wait_for(lambda: staging(), proc, timeout=120, what="the SavedModel staging folder")
        proc.kill()
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    left = staging()
    assert left and rundir.leftovers(run) == left
    assert main(["export", str(run), "--format", "saved_model"]) == 0
    capsys.readouterr()
    assert staging() == [] and (run / "export" / "quickstart_saved_model" / "saved_model.pb").is_file()
    assert (run / "export" / ".my_saved_model_notes").read_text() == "keep"


def test_a_run_folder_inside_the_dataset_is_refused(tmp_path, capsys):
    """--out inside data.train.path: the run's folders would turn into classes next time."""
    data = user_folder(tmp_path / "P") / "data"
    recipe = folder_recipe(tmp_path, data)
    before = tree_hash(tmp_path)
    assert main(["train", str(recipe), "--out", str(data / "run")]) == 2
    one_error_line(capsys.readouterr().err, f"--out {data / 'run'}: is inside data.train.path")
    assert tree_hash(tmp_path) == before
