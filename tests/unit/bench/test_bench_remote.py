"""`--remote` through a real OpenSSH server on a high localhost port (throwaway keys)."""
from __future__ import annotations

import getpass
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import edgecv  # noqa: F401
from edgecv.bench import bench_file, runner
from edgecv.bench.remote import RemoteTarget, remote_benchmark
from edgecv.errors import BenchError
from tests.helpers import latest_bench_report

SSHD = shutil.which("sshd") or ("/usr/sbin/sshd" if os.path.exists("/usr/sbin/sshd") else None)
pytestmark = pytest.mark.skipif(
    SSHD is None or shutil.which("ssh-keygen") is None,
    reason="OpenSSH server not installed (apt-get install openssh-server openssh-client)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def keygen(path: Path) -> None:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)


@pytest.fixture(scope="module")
def sshd(tmp_path_factory):
    """sshd -D on 127.0.0.1:PORT with a throwaway host key and user key; stopped afterwards."""
    root = tmp_path_factory.mktemp("sshd")
    keygen(root / "host_key")
    keygen(root / "id_user")
    keygen(root / "id_stranger")  # a key the server does not accept
    shutil.copy(root / "id_user.pub", root / "authorized_keys")
    port = free_port()
    config = root / "sshd_config"
    config.write_text("\n".join([
        "ListenAddress 127.0.0.1",
        f"HostKey {root / 'host_key'}",
        f"AuthorizedKeysFile {root / 'authorized_keys'}",
        f"PidFile {root / 'sshd.pid'}",
        "StrictModes no", "UsePAM no", "PasswordAuthentication no",
        "KbdInteractiveAuthentication no", "PubkeyAuthentication yes",
        "PermitRootLogin prohibit-password", "Subsystem sftp internal-sftp",
        "LogLevel ERROR", ""]))
    if os.geteuid() == 0:
        os.makedirs("/run/sshd", exist_ok=True)  # sshd's privilege-separation directory
    log = open(root / "sshd.log", "w")
    proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(config), "-p", str(port)],
                            stdout=log, stderr=subprocess.STDOUT)
    deadline = time.time() + 15
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                if s.recv(64).startswith(b"SSH-"):
                    break
        except OSError:
            pass
        if proc.poll() is not None or time.time() > deadline:
            proc.kill()
            pytest.fail(f"sshd did not start: {(root / 'sshd.log').read_text()}")
        time.sleep(0.1)
    host_key = (root / "host_key.pub").read_text().split()
    known_hosts = root / "known_hosts"
    known_hosts.write_text(f"[127.0.0.1]:{port} {host_key[0]} {host_key[1]}\n")
    yield {"port": port, "root": root, "known_hosts": known_hosts, "key": root / "id_user",
           "stranger": root / "id_stranger", "user": getpass.getuser()}
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    from test_bench import build_models
    return build_models(tmp_path_factory.mktemp("remote_models"))


def target(sshd, **kw) -> RemoteTarget:
    options = dict(python=sys.executable, key_filename=str(sshd["key"]),
                   known_hosts=str(sshd["known_hosts"]))
    options.update(kw)
    return RemoteTarget.parse(f"{sshd['user']}@127.0.0.1:{sshd['port']}", **options)


def python_wrapper(path: Path, lines: str) -> str:
    path.write_text("#!/bin/sh\n" + lines + "\n")
    path.chmod(0o755)
    return str(path)


def test_remote_bench_matches_local_and_cleans_up(sshd, models):
    before = set(Path(tempfile_dir()).glob("edgecv-bench.*"))
    result = remote_benchmark(target(sshd), models["int8"], models["eval"], runs=4, warmup=1, threads=1)
    local = runner.benchmark(models["int8"], data=models["eval"], runs=2, warmup=0, threads=1)
    assert result["host"] == f"{sshd['user']}@127.0.0.1:{sshd['port']}"
    assert result["latency_ms"]["runs"] == 4 and result["latency_ms"]["threads"] == 1
    assert result["size_bytes"] == models["int8"].stat().st_size
    np.testing.assert_array_equal(result["outputs"][0], local["outputs"][0])
    assert result["accuracy"] == local["accuracy"]
    # The device's temp dir (same machine here) is gone after the run.
    assert set(Path(tempfile_dir()).glob("edgecv-bench.*")) == before


def tempfile_dir() -> str:
    return os.environ.get("TMPDIR", "/tmp")


def test_cli_remote_run_dir_via_ssh_config(sshd, models, tmp_path, monkeypatch):
    """`edgecv bench RUN_DIR --remote box` with ~/.ssh/config + known_hosts, like a user's Pi."""
    from edgecv.cli import main
    from test_bench import make_run_dir

    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "config").write_text(
        f"Host benchbox\n  HostName 127.0.0.1\n  Port {sshd['port']}\n  User {sshd['user']}\n"
        f"  IdentityFile {sshd['key']}\n")
    shutil.copy(sshd["known_hosts"], home / ".ssh" / "known_hosts")
    monkeypatch.setenv("HOME", str(home))
    run_dir = make_run_dir(models, tmp_path)
    code = main(["bench", str(run_dir), "--remote", "benchbox", "--remote-python", sys.executable,
                 "--runs", "3", "--warmup", "1", "--gate", "max_accuracy_drop=0.5"])
    assert code == 0
    report_path = latest_bench_report(run_dir)
    report = json.loads(report_path.read_text())
    assert [e["format"] for e in report["entries"]] == ["float32", "int8"]
    for entry in report["entries"]:
        assert entry["host"] == f"{sshd['user']}@127.0.0.1:{sshd['port']}"
        assert entry["status"] == "ok" and entry["accuracy"]["value"] >= 0.75
    assert "on " + report["entries"][0]["host"] in (report_path.parent / "report.md").read_text()


def test_closed_port_is_a_clear_error(sshd, models, capsys):
    from edgecv.cli import main

    port = free_port()  # nothing listens here
    with pytest.raises(BenchError, match=rf"^remote \S+@127.0.0.1:{port}: connection refused"):
        remote_benchmark(RemoteTarget.parse(f"127.0.0.1:{port}", timeout=5), models["int8"])
    assert main(["bench", str(models["int8"]), "--remote", f"me@127.0.0.1:{port}"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == (f"error: remote me@127.0.0.1:{port}: connection refused "
                       f"(is sshd running and port {port} open?)")
    assert not any("Traceback" in line for line in err)


def test_authentication_failure_and_unknown_host_key(sshd, models, monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))  # no agent keys or ~/.ssh/id_* to fall back on
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    with pytest.raises(BenchError, match="authentication failed"):
        remote_benchmark(target(sshd, key_filename=str(sshd["stranger"])), models["int8"])
    with pytest.raises(BenchError, match=r"host key not in ~/.ssh/known_hosts"):
        remote_benchmark(target(sshd, known_hosts=None), models["int8"])


def test_remote_without_numpy_or_litert(sshd, models, tmp_path):
    # -S: no site-packages, so neither numpy nor LiteRT can be imported.
    bare = python_wrapper(tmp_path / "bare-python", f'exec {sys.executable} -S "$@"')
    with pytest.raises(BenchError, match=r"has no numpy; install it on the device"):
        remote_benchmark(target(sshd, python=bare), models["int8"])
    shim = tmp_path / "no_litert"
    shim.mkdir()
    for name in ("ai_edge_litert", "tflite_runtime"):
        (shim / f"{name}.py").write_text("raise ImportError('not on this device')\n")
    no_litert = python_wrapper(tmp_path / "no-litert-python",
                               f'PYTHONPATH={shim} exec {sys.executable} "$@"')
    with pytest.raises(BenchError, match=r"has no LiteRT; install it on the device: .* -m pip "
                                         r"install ai-edge-litert"):
        remote_benchmark(target(sshd, python=no_litert), models["int8"])
    with pytest.raises(BenchError, match="not found on the device"):
        remote_benchmark(target(sshd, python="/nonexistent/python3"), models["int8"])


def test_parse_remote_target():
    t = RemoteTarget.parse("pi@raspberrypi.local:2222")
    assert (t.user, t.host, t.port, str(t)) == ("pi", "raspberrypi.local", 2222, "pi@raspberrypi.local:2222")
    assert RemoteTarget.parse("pi@[fe80::1]:22").host == "fe80::1"
    assert RemoteTarget.parse("coral").user is None
    with pytest.raises(BenchError, match="expected USER@HOST"):
        RemoteTarget.parse("pi@host:port")
    with pytest.raises(BenchError, match="out of range"):
        RemoteTarget.parse("pi@host:70000")


def test_bench_file_remote_entry(sshd, models):
    entry = bench_file(models["uint8"], models["eval"], reference=1.0, runs=3, warmup=0,
                       remote=target(sshd), gates={"max_accuracy_drop": 0.5}).to_dict()
    assert entry["host"].endswith(f"127.0.0.1:{sshd['port']}") and entry["format"] == "tiny_uint8"
    assert entry["accuracy"]["delta"] == pytest.approx(entry["accuracy"]["value"] - 1.0)


def test_ssh_config_user_known_hosts_file(sshd, models, tmp_path, monkeypatch):
    """A Host block's UserKnownHostsFile is trusted like ~/.ssh/known_hosts (how the
    emulated Pi of scripts/pi_emulator.py is reached); without it the key is unknown."""
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    block = (f"Host box\n  HostName 127.0.0.1\n  Port {sshd['port']}\n  User {sshd['user']}\n"
             f"  IdentityFile {sshd['key']}\n")
    monkeypatch.setenv("HOME", str(home))
    (home / ".ssh" / "config").write_text(block)
    with pytest.raises(BenchError, match=r"host key not in ~/.ssh/known_hosts"):
        remote_benchmark(RemoteTarget.parse("box", python=sys.executable), models["int8"], runs=1)
    (home / ".ssh" / "config").write_text(block + f"  UserKnownHostsFile /nonexistent {sshd['known_hosts']}\n")
    result = remote_benchmark(RemoteTarget.parse("box", python=sys.executable), models["int8"],
                              runs=1, warmup=0)
    assert result["host"] == f"{sshd['user']}@127.0.0.1:{sshd['port']}"
    assert result["latency_ms"]["runs"] == 1
