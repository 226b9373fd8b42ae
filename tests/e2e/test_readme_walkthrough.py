"""The README's "From a folder of JPEGs to a benchmarked int8 file", run verbatim.

The commands are read from the README (the bash block after the `<!-- walkthrough` marker)
and run by bash in a folder holding `recipes/` and generated `photos/<class>/*.jpg`, with
`edgecv` on PATH running this checkout. What a new user sees is checked too: stderr holds
edgecv's own lines only (TensorFlow's chatter is in runs/<name>/edgecv.log).
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest

from tests.helpers import REPO, latest_bench_report

CLASSES = {"red": (200, 40, 40), "green": (40, 170, 60), "blue": (40, 60, 200)}
PER_CLASS = 12
# What TensorFlow, oneDNN, the CUDA stub, absl and the converter print on a default run.
NOISE = re.compile(r"cuInit|oneDNN|absl|fully_quantize|cuda_|UserWarning|Warning:|"
                   r"tensorflow|I0000|E0000|W0000|legacy")


def walkthrough_commands() -> str:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    marker = text.index("<!-- walkthrough")
    match = re.search(r"```bash\n(.*?)```", text[marker:], re.S)
    assert match, "README: no ```bash block after the walkthrough marker"
    return match.group(1)


def write_photos(root) -> None:
    """Small JPEGs of three colours with noise: a classifier can tell them apart."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for name, colour in CLASSES.items():
        folder = root / "photos" / name
        folder.mkdir(parents=True)
        for i in range(PER_CLASS):
            h, w = rng.integers(40, 90, size=2)
            pixels = np.clip(np.array(colour) + rng.normal(0, 25, size=(h, w, 3)), 0, 255)
            Image.fromarray(pixels.astype(np.uint8)).save(folder / f"{name}_{i}.jpg", quality=90)


def test_walkthrough_block_is_what_the_test_runs():
    commands = walkthrough_commands()
    assert "cp recipes/classification.template.yaml my_classifier.yaml" in commands
    assert "edgecv train my_classifier.yaml" in commands and "edgecv bench runs/my_classifier" in commands


@pytest.mark.slow   # one tiny training run + export + two benches: ~45 s CPU, minutes on busy cores
def test_readme_walkthrough_runs_verbatim(tmp_path):
    write_photos(tmp_path)
    (tmp_path / "recipes").symlink_to(REPO / "recipes")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    shim = bin_dir / "edgecv"     # `edgecv` = this checkout, whatever is installed
    shim.write_text(f"#!/bin/sh\nexec {sys.executable} -m edgecv.cli \"$@\"\n")
    shim.chmod(0o755)
    env = dict(os.environ, PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
               PYTHONPATH=str(REPO))
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)     # a user's shell does not set it
    proc = subprocess.run(["bash", "-e", "-c", walkthrough_commands()], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]

    run = tmp_path / "runs" / "my_classifier"
    int8 = run / "export" / "my_classifier_int8.tflite"
    assert int8.is_file()
    # `edgecv info` read the int8 file's metadata: the folder names are its labels.
    assert "metadata: task classification, format int8, 3 labels" in proc.stdout
    trained = json.loads((run / "report.json").read_text())
    benched = json.loads(latest_bench_report(run).read_text())
    for report in (trained, benched):
        rows = {e["format"]: e for e in report["entries"]}
        assert set(rows) == {"float32", "int8"}
        assert rows["int8"]["accuracy"]["metric"] == "top1"
        assert rows["int8"]["accuracy"]["samples"] == len(CLASSES) * round(PER_CLASS * 0.2)
    assert benched["entries"][1]["latency_ms"]["runs"] == 20        # bench's --runs 20
    # 6 validation images: the run says it cannot measure much, on stderr and in the report.
    assert any("the eval set has only 6 sample(s)" in w for w in trained["warnings"])
    assert "warning: the eval set has only 6 sample(s)" in proc.stderr
    assert benched["warnings"] and "## Warnings" in (run / "report.md").read_text()
    # stderr: edgecv's lines only; TensorFlow's went into the run's log.
    noisy = [line for line in proc.stderr.splitlines() if NOISE.search(line)]
    assert noisy == [], noisy
    log = (run / "edgecv.log").read_text()
    assert "fully_quantize" in log or "oneDNN" in log or "absl" in log, log[:2000]
