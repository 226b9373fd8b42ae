"""Issue 21's red-team probes: faults a user meets, each one line, exit 2 (130 for Ctrl-C),
nothing half-written, and the command works again once the cause is gone.

Disk full and read-only use small tmpfs mounts (root only; skipped otherwise).
"""
from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
from pathlib import Path

import numpy as np
import pytest

from edgecv.cli import main
from tests.helpers import REPO, TINY_QUICKSTART
from tests.safety_helpers import cli, env, one_error_line

QUICKSTART = REPO / "recipes" / "quickstart.yaml"
# The shrunk quickstart, one float32 file: these tests are about faults, not formats.
FAST = [*TINY_QUICKSTART, "--set", "export.formats=[float32]", "--set", "bench.runs=2"]


@contextlib.contextmanager
def tmpfs(path: Path, *options: str):
    """A small tmpfs at `path` (root only): the disk-full / read-only file system of the probes."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    path.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", ",".join(options), "tmpfs", str(path)],
                            capture_output=True, text=True, check=False)
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {result.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def remount(path: Path, *options: str) -> None:
    subprocess.run(["mount", "-o", ",".join(("remount", *options)), str(path)], check=True)


def edgecv_leftovers(folder: Path) -> list[str]:
    """Temp names edgecv or TensorFlow would leave when a write is cut short."""
    return [str(p) for p in Path(folder).rglob("*") if p.name.startswith(".tmp-") or p.name.endswith("_temp")]


def test_read_only_out_is_one_line(tmp_path, capsys):
    with tmpfs(tmp_path / "ro", "size=1m", "ro") as ro:
        assert main(["train", str(QUICKSTART), "--out", str(ro / "run"), *FAST]) == 2
        one_error_line(capsys.readouterr().err, f"{ro / 'run'}: read-only file system")
        assert not (ro / "run").exists()
        from edgecv.fileio import atomic_dir, write_json

        with pytest.raises(OSError) as caught:   # the file asked for, not mkstemp's temp name
            write_json(ro / "report.json", {})
        assert caught.value.filename == str(ro / "report.json")
        with pytest.raises(OSError) as caught, atomic_dir(ro / "saved_model"):
            pass
        assert caught.value.filename == str(ro / "saved_model")


def without_root_file_access() -> list[str]:
    """A command prefix that runs as root without CAP_DAC_OVERRIDE / CAP_DAC_READ_SEARCH, so
    file permissions apply as they do for a user (root passes every check otherwise)."""
    import shutil

    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("a permission probe needs root and util-linux setpriv")
    return ["setpriv", "--bounding-set", "-dac_override,-dac_read_search", "--"]


def test_no_permission_out_and_unreadable_images_are_one_line(tmp_path):
    """EACCES: --out under a folder the user may not write ends exit 2 naming the path, nothing
    created; an image the user may not read is reported by name and skipped (data check)."""
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    locked.chmod(0o555)
    as_user = without_root_file_access()
    done = subprocess.run([*as_user, *cli("train", QUICKSTART, "--out", locked / "run", *FAST)],
                          capture_output=True, text=True, env=env(), timeout=300, check=False)
    assert done.returncode == 2, done.stderr
    one_error_line(done.stderr, f"{locked / 'run'}: permission denied")
    assert list(locked.iterdir()) == []

    import cv2

    for name in ("a", "b"):
        (tmp_path / "data" / name).mkdir(parents=True)
        for i in range(3):
            cv2.imwrite(str(tmp_path / "data" / name / f"{i}.png"), np.full((16, 16, 3), 40 * i, np.uint8))
    secret = tmp_path / "data" / "a" / "0.png"
    secret.chmod(0)
    spec = tmp_path / "spec.yaml"
    spec.write_text(f"format: folder\npath: {tmp_path / 'data'}\n")
    done = subprocess.run([*as_user, *cli("data", "check", spec, "--task", "classification")],
                          capture_output=True, text=True, env=env(), timeout=300, check=False)
    assert "Traceback" not in done.stderr
    assert "samples: 5 usable, 1 bad" in done.stdout, done.stdout
    assert f"{secret}: cannot read: Permission denied" in done.stdout, done.stdout


def test_disk_full_before_training_leaves_no_folder(tmp_path, capsys):
    """The first file after the lock and marker (the run's edgecv.log) does not fit: the fresh
    folder goes again, so the same command can be rerun."""
    with tmpfs(tmp_path / "wee", "size=8k") as wee:     # room for the lock and marker pages only
        assert main(["train", str(QUICKSTART), "--out", str(wee / "run"), *FAST]) == 2
        one_error_line(capsys.readouterr().err, f"{wee / 'run' / 'edgecv.log'}: no space left on device")
        assert list(wee.iterdir()) == []


@pytest.mark.slow
def test_disk_full_during_training_then_resume(tmp_path, capsys):
    """~60 s: the first checkpoint does not fit 3 MB; with room again, --resume finishes the run."""
    with tmpfs(tmp_path / "disk", "size=3m") as disk:
        run = disk / "run"
        assert main(["train", str(QUICKSTART), "--out", str(run), *FAST]) == 2
        line = one_error_line(capsys.readouterr().err, "no space left on device", "--resume")
        assert f"{run}/train/train/ckpt/epoch-1:" in line      # the checkpoint, not TF's staging name
        assert (run / "train" / "state.json").is_file()        # the commit point survived
        remount(disk, "size=40m")
        assert main(["train", str(QUICKSTART), "--out", str(run), *FAST, "--resume"]) == 0
        capsys.readouterr()
        assert (run / "report.json").is_file() and (run / "export" / "quickstart_float32.tflite").is_file()
        assert edgecv_leftovers(run) == []                     # the staging folder went with the lock


@pytest.mark.slow
def test_disk_full_while_exporting_then_again(quickstart_run, tmp_path, capsys):
    """~70 s under load (two float32 exports of the shared quickstart run)."""
    _, _, run_dir = quickstart_run
    with tmpfs(tmp_path / "small", "size=600k") as small:    # the float32 file is ~1.5 MB
        args = ["export", str(run_dir), "--format", "float32", "--out", str(small)]
        assert main(args) == 2
        one_error_line(capsys.readouterr().err, f"{small / 'quickstart_float32.tflite'}: no space left on device")
        assert list(small.iterdir()) == []                    # no half-written file, no temp file
        remount(small, "size=8m")
        assert main(args) == 0
        capsys.readouterr()
        from edgecv.export.info import inspect_tflite

        assert inspect_tflite(small / "quickstart_float32.tflite")["size_bytes"] > 0


@pytest.mark.slow
def test_ctrl_c_during_export_exits_130_and_leaves_whole_files(quickstart_run, tmp_path):
    """~55 s under load (a child process imports TF and exports). SIGINT once the int8 conversion (calibration inside the converter's C++) has started."""
    _, _, run_dir = quickstart_run
    out = tmp_path / "exp"
    child = subprocess.Popen(cli("export", run_dir, "--format", "float32", "--format", "int8",
                                 "--calibration-samples", "100", "--out", out),
                             env=env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             # a shell-started background child would ignore SIGINT
                             preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    stdout = []
    for line in child.stdout:
        stdout.append(line)
        if line.startswith("export: int8"):
            threading.Timer(0.5, child.send_signal, (signal.SIGINT,)).start()
            break
    remaining_out, err = child.communicate(timeout=300)
    assert child.returncode == 130, "".join(stdout) + remaining_out + err
    assert "Traceback" not in err and err.strip().splitlines()[-1] == "aborted", err
    assert edgecv_leftovers(out) == []
    from edgecv.export.info import inspect_tflite

    for path in out.glob("*.tflite"):       # what was written is whole (float32 went before)
        assert inspect_tflite(path)["size_bytes"] == path.stat().st_size


def test_an_exception_after_ctrl_c_is_the_interrupt(request):
    """The converter turned a Ctrl-C into `SystemError: ... bad argument to internal function`."""
    from edgecv.signals import interrupted, raise_if_terminated, sigterm_as_interrupt

    # Start from Python's own Ctrl-C handler, as `edgecv` does: passed alone, failed once in the
    # suite's order (some earlier test leaves another SIGINT handler, and an inherited non-default
    # handler is kept on purpose: signals.sigterm_as_interrupt).
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    request.addfinalizer(lambda: signal.signal(signal.SIGINT, previous))

    with pytest.raises(KeyboardInterrupt) as caught, sigterm_as_interrupt():
        try:
            os.kill(os.getpid(), signal.SIGINT)            # the handler runs right here
        except KeyboardInterrupt:
            pass                                           # swallowed, as C++ code does
        assert interrupted()
        with pytest.raises(KeyboardInterrupt):
            raise_if_terminated()
        raise SystemError("Objects/listobject.c:338: bad argument to internal function")
    assert isinstance(caught.value.__cause__, SystemError)
    assert not interrupted()


def test_bench_class_mismatch_names_the_users_dataset_spec(quickstart_run, tmp_path, capsys):
    import cv2

    _, _, run_dir = quickstart_run
    for name in ("cat", "dog"):
        (tmp_path / "two" / name).mkdir(parents=True)
        for i in range(2):
            cv2.imwrite(str(tmp_path / "two" / name / f"{i}.png"), np.full((32, 32, 3), 40 * i, np.uint8))
    spec = tmp_path / "two.yaml"
    spec.write_text(f"format: folder\npath: {tmp_path / 'two'}\n")
    model = run_dir / "export" / "quickstart_int8.tflite"
    assert main(["bench", str(model), "--data", str(spec), "--runs", "1"]) == 2
    one_error_line(capsys.readouterr().err, "the model outputs 5 classes but", f"{spec} has 2 (cat, dog)")


def test_two_runs_starting_on_one_out_at_once(tmp_path, monkeypatch):
    """The loser of the mkdir race gets the busy message, not FileExistsError."""
    from edgecv import rundir
    from edgecv.recipe import load_recipe

    recipe = load_recipe(QUICKSTART)
    run_dir = tmp_path / "run"
    other = {}

    def the_other_process_wins(folder, recipe):   # runs between the exists() check and mkdir
        run_dir.mkdir()
        other["lock"] = rundir.RunLock(run_dir).acquire()

    monkeypatch.setattr(rundir, "check_not_inside_data", the_other_process_wins)
    with pytest.raises(rundir.RunFolderError, match=f"pid {os.getpid()}.*is writing this run folder"):
        with rundir.prepare(run_dir, recipe=recipe, recipe_path=QUICKSTART, resume=False, force=False):
            pass
    other["lock"].release()
    assert [p.name for p in run_dir.iterdir()] == [rundir.LOCK]   # the loser wrote nothing


def test_unicode_and_spaces_in_every_path(quickstart_run, tmp_path, capsys):
    """Data, spec, model and --json under non-ASCII names with spaces."""
    import cv2

    _, _, run_dir = quickstart_run
    root = tmp_path / "dossier ü" / "données d'entrée"
    for name in ("chat noir", "狗", "c", "d", "e"):
        (root / name).mkdir(parents=True)
        _, png = cv2.imencode(".png", np.full((32, 32, 3), 90, np.uint8))
        (root / name / "ïmage 1.png").write_bytes(png.tobytes())
    spec = tmp_path / "dossier ü" / "spéc.yaml"
    spec.write_text(f'format: folder\npath: "{root}"\n', encoding="utf-8")
    model = tmp_path / "dossier ü" / "modèle int8.tflite"
    model.write_bytes((run_dir / "export" / "quickstart_int8.tflite").read_bytes())
    assert main(["data", "check", str(spec)]) == 0
    out = tmp_path / "dossier ü" / "résultat.json"
    assert main(["bench", str(model), "--data", str(spec), "--runs", "1", "--json", str(out)]) == 0
    capsys.readouterr()
    import json

    assert json.loads(out.read_text(encoding="utf-8"))["entries"][0]["accuracy"]["samples"] == 5


def test_checkpoint_staging_folders_are_leftovers_only_under_train(tmp_path):
    from edgecv.rundir import leftovers

    (tmp_path / "train" / "train" / "ckpt" / "epoch-3_temp").mkdir(parents=True)
    (tmp_path / "train" / "qat" / "output_temp").mkdir(parents=True)
    (tmp_path / "data" / "epoch-3_temp").mkdir(parents=True)       # not edgecv's
    (tmp_path / "train" / "train" / "ckpt" / "notes_temp").mkdir()  # not TF's name
    assert sorted(p.relative_to(tmp_path).as_posix() for p in leftovers(tmp_path)) == [
        "train/qat/output_temp", "train/train/ckpt/epoch-3_temp"]


def test_file_system_faults_are_read_from_python_and_tensorflow_errors():
    import errno

    import tensorflow as tf

    from edgecv.oserrors import fault, user_message

    saved = tf.errors.ResourceExhaustedError(None, None, (
        "{{function_node __wrapped__SaveV2_dtypes_581}} /runs/r/train/train/ckpt/epoch-1_temp/"
        "part-00000-of-00001.data-00000-of-00001.tempstate314; No space left on device [Op:SaveV2]"))
    assert fault(saved) == (errno.ENOSPC, "/runs/r/train/train/ckpt/epoch-1")
    wrapped = RuntimeError("while saving")
    wrapped.__cause__ = OSError(errno.EROFS, "Read-only file system", "/mnt/ro/report.json")
    assert user_message(wrapped).startswith("/mnt/ro/report.json: read-only file system (")
    # Not a user-fixable file-system fault: left to the code (and the traceback) that knows.
    assert fault(OSError(errno.ENOENT, "No such file or directory", "/x")) is None
    assert fault(ValueError("/tmp/x; No space left on device")) is None   # only TF's own errors are parsed
