"""What a user sees: edgecv's lines on stderr, TensorFlow's in a log; bars on a terminal,
plain lines elsewhere; the --resume command after Ctrl-C."""
from __future__ import annotations

import fcntl
import io
import os
import pty
import shlex
import struct
import subprocess
import sys
import termios
import textwrap

import pytest

from tests.helpers import REPO

CAPTURE_SCRIPT = textwrap.dedent("""
    import logging, os, sys, warnings
    sys.path.insert(0, {repo!r})
    from edgecv import console
    with console.capture_stderr(["demo"]):
        os.write(2, b"I0000 port.cc:153] oneDNN custom operations are on\\n")   # C++ on fd 2
        warnings.warn("saving as HDF5 is legacy")                             # Python warning
        logging.getLogger("absl").warning("trackable_obj")                    # absl logging
        console.warn("the eval set has only 6 sample(s)")
        if {keep!r}:
            console.keep_log({keep!r})
            os.write(2, b"fully_quantize: 0, inference_type: 6\\n")
        print("edgecv line", file=console.user_stderr(), flush=True)
    print("after", file=sys.stderr)
""")


@pytest.mark.parametrize("keep", [False, True])
def test_capture_keeps_tensorflow_chatter_off_the_terminal(tmp_path, keep):
    log = str(tmp_path / "edgecv.log") if keep else ""
    proc = subprocess.run([sys.executable, "-c", CAPTURE_SCRIPT.format(repo=str(REPO), keep=log)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.splitlines() == ["warning: the eval set has only 6 sample(s)", "edgecv line",
                                        "after"]
    if keep:    # everything captured, from before keep_log too, is in the run folder's log
        text = (tmp_path / "edgecv.log").read_text()
        for line in ("== edgecv demo", "oneDNN custom operations", "saving as HDF5 is legacy",
                     "trackable_obj", "fully_quantize: 0"):
            assert line in text
        assert "edgecv line" not in text


def test_verbose_shows_everything_and_a_crash_shows_what_was_captured(tmp_path):
    """A bug (not an EdgecvError) replays the captured output before the traceback."""
    script = textwrap.dedent(f"""
        import os, sys
        sys.path.insert(0, {str(REPO)!r})
        import edgecv.cli as cli
        import click

        @cli.cli.command("boom")
        def boom():
            os.write(2, b"E0000 cuda_platform.cc:52] failed call to cuInit\\n")
            raise RuntimeError("a bug")

        cli.COMMANDS["boom"] = "x:y"
        cli.HELP["boom"] = "crash"
        cli.LazyGroup.get_command = lambda self, ctx, name: boom
        sys.exit(cli.main(sys.argv[1:]))
    """)
    quiet = subprocess.run([sys.executable, "-c", script, "boom"], capture_output=True, text=True)
    assert quiet.returncode == 1
    assert "failed call to cuInit" in quiet.stderr and "RuntimeError: a bug" in quiet.stderr
    assert quiet.stderr.index("cuInit") < quiet.stderr.index("Traceback")
    verbose = subprocess.run([sys.executable, "-c", script, "boom", "--verbose"],
                             capture_output=True, text=True)
    assert "failed call to cuInit" in verbose.stderr and "== edgecv" not in verbose.stderr


def test_plain_progress_prints_a_line_at_most_every_interval():
    from edgecv.progress import PlainProgress, bar

    now = [0.0]
    lines = []
    progress = PlainProgress(1000, "[train] epoch 1/3", unit="step", write=lines.append,
                             every=10.0, clock=lambda: now[0])
    for step in range(1, 1001):
        now[0] = step / 20      # 1000 steps over 50 s
        progress.update(1)
    assert lines[0] == "[train] epoch 1/3: 200/1000 step (20%)"
    assert len(lines) == 5 and lines[3] == "[train] epoch 1/3: 800/1000 step (80%)" and lines[-1] == "[train] epoch 1/3: 1000/1000 step (100%)"
    stream = io.StringIO()      # not a terminal: no bar, no escape codes
    with bar(10, "x", stream=stream) as quick:
        quick.update(10)
    assert isinstance(quick, PlainProgress) and stream.getvalue() == ""


def test_bar_on_a_terminal_is_a_tqdm_bar():
    from edgecv.progress import bar

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    with open(slave, "w", closefd=True) as terminal:
        with bar(50, "bench: int8 timing", unit="run", stream=terminal) as progress:
            progress.update(50)
    os.set_blocking(master, False)
    drawn = os.read(master, 65536).decode()
    os.close(master)
    # tqdm draws at once (0/50) and redraws at most every 0.2 s; leave=False wipes the line
    assert "bench: int8 timing:   0%|" in drawn and "0/50" in drawn and drawn.endswith("\r")


def test_ctrl_c_prints_the_exact_resume_command(tmp_path, monkeypatch, capsys):
    """Interrupted once the run folder holds recipe.yaml: the line names the command that
    continues it (same recipe, --out, --set values, --resume)."""
    import edgecv.workflow
    from edgecv.cli import main

    def interrupted(recipe, run_dir, **kwargs):
        (run_dir / "recipe.yaml").write_text("name: q\n")
        raise KeyboardInterrupt

    monkeypatch.setattr(edgecv.workflow, "run_recipe", interrupted)
    run = tmp_path / "my run"
    recipe = REPO / "recipes" / "quickstart.yaml"
    assert main(["train", str(recipe), "--out", str(run), "--set", "train.epochs=2",
                 "--set", "model.input_shape=[32, 32, 3]"]) == 130
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines        # not the captured log: Ctrl-C is not a crash
    line = lines[0]
    prefix = "aborted; continue with: "
    assert line.startswith(prefix)
    assert shlex.split(line[len(prefix):]) == [
        "edgecv", "train", str(recipe), "--out", str(run), "--set", "train.epochs=2",
        "--set", "model.input_shape=[32, 32, 3]", "--resume"]


@pytest.mark.parametrize("mangled", [False, True], ids=["raised_in_python", "came_out_as_another_error"])
def test_sigterm_prints_the_resume_command(tmp_path, monkeypatch, capsys, mangled):
    """SIGTERM raised in Python code: click wraps the Terminated into Abort and signals.py wraps
    that again, so the hint is found down the chain of causes. SIGTERM landing in C++ code (the
    converter, the runner's subprocess) surfaces as another exception: the run still ends 130
    with the --resume command (CI once printed a bare 'aborted (SIGTERM)' for it)."""
    import signal

    import edgecv.workflow
    from edgecv.cli import main
    from edgecv.errors import EdgecvError
    from edgecv.signals import Terminated

    def killed(recipe, run_dir, **kwargs):
        (run_dir / "recipe.yaml").write_text("name: q\n")
        try:
            os.kill(os.getpid(), signal.SIGTERM)
        except Terminated:
            if not mangled:
                raise
            raise EdgecvError("the runner exited with code -15") from None

    monkeypatch.setattr(edgecv.workflow, "run_recipe", killed)
    run = tmp_path / "run"
    recipe = REPO / "recipes" / "quickstart.yaml"
    assert main(["train", str(recipe), "--out", str(run)]) == 130
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert line == f"aborted (SIGTERM); continue with: edgecv train {recipe} --out {run} --resume"
    assert (run / "recipe.yaml").is_file()       # kept for the --resume it names
