"""`edgecv bench --remote` on an emulated Raspberry Pi (scripts/pi_emulator.py): an aarch64
Debian with LiteRT's aarch64 build, run by qemu-user behind sshd on a loopback port.

The board is built once per machine (cached in ~/.cache/edgecv/pi-board, several minutes the
first time; .ci/run starts that build in the background) and started for this module only.
The int8 file is the quickstart the session fixture already trained: nothing is trained here.
Skips, saying why, where no board can run (not root, no qemu-user/binfmt_misc, no mirror).
"""
from __future__ import annotations

import json
import socket
from urllib.parse import urlparse

import numpy as np
import pytest

# The board tests take ~1 min with a cached board (emulated Python imports numpy in ~5 s);
# the first run on a machine also builds the board (minutes; .ci/run starts it early).
slow = pytest.mark.slow


def _mirror_unreachable(mirror: str) -> str | None:
    url = urlparse(mirror)
    try:
        socket.create_connection((url.hostname, url.port or (443 if url.scheme == "https" else 80)), timeout=10).close()
    except OSError as exc:
        return f"Debian mirror {mirror} unreachable ({exc})"
    return None


@pytest.fixture(scope="module")
def emulator():
    from scripts import pi_emulator

    return pi_emulator


@pytest.fixture(scope="module")
def board(emulator, tmp_path_factory):
    """A started board (built or reused first); stopped at the end, also on failure."""
    spec = emulator.BoardSpec()
    problem = emulator.host_problem() or (None if emulator.built(spec) else _mirror_unreachable(spec.mirror))
    if problem:
        pytest.skip(f"no emulated Pi here: {problem}")
    emulator.build(spec)
    started = emulator.start(spec, state=tmp_path_factory.mktemp("pi_board"), lifetime=1800)
    try:
        yield started
    finally:
        started.stop()
        # Stopped means gone: no board process and nothing left mounted in the cached rootfs.
        assert not started.alive()
        assert emulator._mountpoints_under(emulator.board_dir(spec) / "rootfs") == []


@pytest.fixture(scope="module")
def quickstart_int8(quickstart_run):
    code, output, run_dir = quickstart_run
    assert code == 0, output
    return run_dir / "export" / "quickstart_int8.tflite", run_dir / "eval.npz"


def remote_target(board, **kw):
    from edgecv.bench.remote import RemoteTarget

    return RemoteTarget.parse(board.target, key_filename=str(board.key),
                              known_hosts=str(board.known_hosts), timeout=60, **kw)


def ssh_config_home(board, tmp_path, monkeypatch) -> None:
    """A HOME whose ~/.ssh/config holds the block `start` prints, as `pi-emulator`."""
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "config").write_text(board.ssh_config("pi-emulator"))
    monkeypatch.setenv("HOME", str(home))


@pytest.fixture(scope="module")
def host_result(quickstart_int8):
    from edgecv.bench import runner

    tflite, eval_npz = quickstart_int8
    return runner.benchmark(str(tflite), data=str(eval_npz), runs=2, warmup=0, threads=1)


@slow
def test_board_runs_aarch64_litert_with_the_hosts_top1(board, quickstart_int8, host_result):
    """The runner on the board under Debian's numpy (Raspberry Pi OS bookworm's apt numpy is
    1.24; the CLI test below uses the board's pip numpy 2.x): aarch64, emulation detected,
    and the int8 outputs of the aarch64 LiteRT build equal the host's sample by sample."""
    from edgecv.bench.remote import remote_benchmark

    tflite, eval_npz = quickstart_int8
    result = remote_benchmark(remote_target(board, python="python3-numpy1.24.2"), tflite,
                              eval_npz, runs=3, warmup=1, threads=1)
    assert result["machine"] == "Linux aarch64" and host_result["machine"] == "Linux x86_64"
    assert result["numpy"] == "1.24.2" and result["python"].startswith("3.11.")
    assert "qemu" in result["emulation"] and host_result["emulation"] is None
    assert "Cortex-A76" in result["cpu"]
    assert result["runtime"] == host_result["runtime"]     # same LiteRT release, other build
    board_out, host_out = result["outputs"][0], host_result["outputs"][0]
    assert board_out.shape == host_out.shape == (48, 5)
    np.testing.assert_array_equal(board_out.argmax(1), host_out.argmax(1))
    scale = host_result["output_details"][0]["scale"]
    # Equal so far (benchmarks/README.md); aarch64 requantization may legitimately round one
    # step apart (seen on a U-Net), never more.
    assert np.abs(board_out - host_out).max() / scale < 1.5
    assert result["accuracy"] == host_result["accuracy"]


@slow
def test_cli_bench_remote_reports_the_board_and_emulation(board, quickstart_int8, host_result,
                                                          tmp_path, monkeypatch, capsys):
    """`edgecv bench FILE --remote pi-emulator` with the ~/.ssh/config block `start` prints."""
    from edgecv.bench.report import render_markdown
    from edgecv.cli import main

    tflite, eval_npz = quickstart_int8
    ssh_config_home(board, tmp_path, monkeypatch)
    out = tmp_path / "report.json"
    code = main(["bench", str(tflite), "--data", str(eval_npz), "--remote", "pi-emulator",
                 "--runs", "3", "--warmup", "1", "--threads", "1", "--json", str(out)])
    err = capsys.readouterr().err
    assert code == 0, err
    entry = json.loads(out.read_text())["entries"][0]
    assert entry["host"] == board.target and entry["machine"] == "Linux aarch64"
    assert "Cortex-A76" in entry["cpu"] and entry["runtime"].startswith("ai_edge_litert ")
    assert "qemu" in entry["emulated"]
    assert entry["accuracy"]["value"] == host_result["accuracy"]["value"]
    assert "Emulated: latency was measured under emulation (qemu-user" in err
    md = render_markdown([entry], title="pi")
    assert f"on {board.target} (Linux aarch64, " in md and "**Emulated**" in md


@pytest.fixture(scope="module")
def embedding_int8(tmp_path_factory):
    """A tiny embedding run (tests/embedding_data.py) shipping centred features projected to
    4 dims, as recipes/fashion_mnist_embedding.yaml does; int8 only."""
    from tests.embedding_data import train_identities

    code, output, run_dir = train_identities(
        tmp_path_factory.mktemp("pi_embedding"), "pi_embedding",
        {"loss": "prototype", "features": "auto", "center": "validation", "project": 4},
        export={"formats": ["int8"], "calibration_samples": 8})
    assert code == 0, output
    return run_dir / "export" / "pi_embedding_int8.tflite", run_dir / "eval.npz"


@slow
def test_board_embeds_like_the_host_and_bench_scores_its_verification(board, embedding_int8, tmp_path,
                                                                      monkeypatch, capsys):
    """Embedding outputs through the board: the aarch64 int8 embeddings of the 16 held-out
    images equal the host's (one requantisation step at most), and `edgecv bench --remote`
    scores them as verification, as the local bench does."""
    from edgecv.bench import runner
    from edgecv.bench.remote import remote_benchmark
    from edgecv.cli import main

    tflite, eval_npz = embedding_int8
    host = runner.benchmark(str(tflite), data=str(eval_npz), runs=2, warmup=0, threads=1)
    result = remote_benchmark(remote_target(board), tflite, eval_npz, runs=2, warmup=0, threads=1)
    assert result["machine"] == "Linux aarch64"
    board_out, host_out = result["outputs"][0], host["outputs"][0]
    assert board_out.shape == host_out.shape == (16, 4)
    assert np.abs(board_out - host_out).max() / host["output_details"][0]["scale"] < 1.5

    ssh_config_home(board, tmp_path, monkeypatch)
    scored = {}
    for where, remote in (("host", []), ("board", ["--remote", "pi-emulator"])):
        out = tmp_path / f"{where}.json"
        code = main(["bench", str(tflite), "--data", str(eval_npz), *remote, "--runs", "2", "--warmup", "0",
                     "--threads", "1", "--json", str(out)])
        assert code == 0, capsys.readouterr().err
        scored[where] = json.loads(out.read_text())["entries"][0]["accuracy"]
    assert scored["board"]["metric"] == scored["host"]["metric"] == "roc_auc"
    assert (scored["board"]["samples"], scored["board"]["pairs"]) == (16, 120)
    # one rank swap among 56 x 64 same/different pairs moves the AUC by 0.0003
    assert scored["board"]["value"] == pytest.approx(scored["host"]["value"], abs=0.002)
    assert scored["board"]["threshold"] == scored["host"]["threshold"]     # the file's own


@slow
def test_start_refuses_a_second_board_on_the_same_state(emulator, board):
    with pytest.raises(emulator.BoardError, match="a board already runs with state"):
        emulator.start(state=board.state)
    with pytest.raises(emulator.BoardError, match=rf"--port {board.port}: .* already in use"):
        emulator.start(port=board.port)
    assert board.alive()


def test_board_cpuinfo_reads_as_a_pi_and_the_cache_key_follows_the_spec(emulator):
    """No board needed: the cpuinfo the board mounts is what the runner names, and the cache
    folder changes with anything that changes the board's contents."""
    from edgecv.bench import runner

    assert runner.cpu_name(emulator.cpuinfo_text("cortex-a76"), "") == (
        "edgecv pi-emulator (qemu-user cortex-a76), 4 x Cortex-A76")
    assert runner.cpu_name(emulator.cpuinfo_text("cortex-a72"), "").endswith("4 x Cortex-A72")
    spec = emulator.BoardSpec(mirror="http://deb.debian.org/debian", litert="2.3.0")
    assert spec.key == emulator.BoardSpec(mirror="http://deb.debian.org/debian", litert="2.3.0").key
    assert spec.key.startswith("bookworm-") and spec.python == "3.11"
    for other in ({"litert": "2.4.0"}, {"numpy": "2.3.0"}, {"suite": "trixie"}):
        assert emulator.BoardSpec(**{"mirror": spec.mirror, "litert": "2.3.0", **other}).key != spec.key
    assert emulator.BoardSpec(suite="trixie", mirror=spec.mirror).extra_numpy == ()
    with pytest.raises(emulator.BoardError, match="--suite 'sid'"):
        _ = emulator.BoardSpec(suite="sid", mirror=spec.mirror).python

