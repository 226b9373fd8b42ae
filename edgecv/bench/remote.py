"""`--remote USER@HOST[:PORT]`: run runner.py on a device over SSH and bring the result back.

Copies runner.py, the model and the eval npz into a fresh temp dir on the device, runs
them with the device's `python3`, fetches result.json + outputs.npz, removes the temp dir.

Built on paramiko rather than the ssh/scp binaries: every failure arrives as a typed
exception (refused, timed out, bad key, unknown host key) that maps to one clear line,
instead of parsing OpenSSH's stderr; SFTP runs in-process; and it works where no OpenSSH
client is installed. ~/.ssh/config (HostName, User, Port, IdentityFile, UserKnownHostsFile)
and ~/.ssh/known_hosts are honoured; an unknown host key is refused, never silently trusted.
"""
from __future__ import annotations

import getpass
import json
import os
import re
import shlex
import socket
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from edgecv.errors import BenchError

_TARGET = re.compile(r"^(?:(?P<user>[^@\s]+)@)?(?:\[(?P<ipv6>[^\]]+)\]|(?P<host>[^:@\s\[\]]+))"
                     r"(?::(?P<port>\d+))?$")

# Runs on the device with its python3: which of numpy / LiteRT are importable.
_PROBE = (
    "import json, sys\n"
    "found = {'python': sys.version.split()[0]}\n"
    "for key, names in (('numpy', ['numpy']), ('litert', ['ai_edge_litert.interpreter', "
    "'tflite_runtime.interpreter'])):\n"
    "    found[key] = None\n"
    "    for name in names:\n"
    "        try:\n"
    "            __import__(name)\n"
    "            found[key] = name.split('.')[0]\n"
    "            break\n"
    "        except Exception:\n"
    "            pass\n"
    "print(json.dumps(found))\n"
)


@dataclass(frozen=True)
class RemoteTarget:
    host: str
    user: str | None = None
    port: int | None = None
    python: str = "python3"
    key_filename: str | None = None     # extra private key (else ~/.ssh/config, agent, ~/.ssh/id_*)
    known_hosts: str | None = None      # extra known_hosts file (besides ~/.ssh/known_hosts)
    timeout: float = 10.0

    @classmethod
    def parse(cls, text: str, **options) -> "RemoteTarget":
        match = _TARGET.match(str(text).strip())
        if not match:
            raise BenchError(f"--remote {text!r}: expected USER@HOST[:PORT], e.g. pi@raspberrypi.local")
        port = match["port"]
        if port is not None and not 0 < int(port) < 65536:
            raise BenchError(f"--remote {text!r}: port {port} is out of range 1-65535")
        return cls(host=match["ipv6"] or match["host"], user=match["user"],
                   port=None if port is None else int(port), **options)

    def __str__(self) -> str:
        user = f"{self.user}@" if self.user else ""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{user}{host}" + (f":{self.port}" if self.port else "")


def _resolved(target: RemoteTarget) -> tuple[RemoteTarget, list[str], list[str]]:
    """Apply ~/.ssh/config (HostName, User, Port, IdentityFile, UserKnownHostsFile) to the
    target -> (target, identity files, extra known_hosts files)."""
    import paramiko

    identity = [target.key_filename] if target.key_filename else []
    known = [target.known_hosts] if target.known_hosts else []
    path = Path(os.path.expanduser("~/.ssh/config"))
    if not path.is_file():
        return target, identity, known
    config = paramiko.SSHConfig.from_path(str(path)).lookup(target.host)
    identity += [os.path.expanduser(p) for p in config.get("identityfile", [])
                 if os.path.isfile(os.path.expanduser(p))]
    # One value may list several files, as in OpenSSH.
    known += [os.path.expanduser(p) for p in config.get("userknownhostsfile", "").split()
              if os.path.isfile(os.path.expanduser(p))]
    return replace(target, host=config.get("hostname", target.host),
                   user=target.user or config.get("user"),
                   port=target.port or (int(config["port"]) if "port" in config else None)), identity, known


def _quiet_paramiko() -> None:
    """paramiko's transport thread logs every failed handshake with two tracebacks on the
    "paramiko" logger; with no handler configured, logging's last resort prints them to
    stderr before edgecv's one line. A NullHandler keeps them out (an application that
    configures logging itself still receives them)."""
    import logging

    logger = logging.getLogger("paramiko")
    if not any(isinstance(h, logging.NullHandler) for h in logger.handlers):
        logger.addHandler(logging.NullHandler())


def connect(target: RemoteTarget):
    """An authenticated paramiko SSHClient, or BenchError with one clear line."""
    try:
        import paramiko
    except ImportError:
        raise BenchError("--remote needs paramiko: pip install 'edgecv[remote]'") from None
    _quiet_paramiko()
    resolved, identity, known_hosts = _resolved(target)
    port = resolved.port or 22
    user = resolved.user or getpass.getuser()
    where = f"{user}@{resolved.host}:{port}"
    client = paramiko.SSHClient()
    client.load_system_host_keys()
    for path in known_hosts:
        client.load_host_keys(path)
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    try:
        client.connect(resolved.host, port=port, username=user,
                       key_filename=identity or None, timeout=target.timeout,
                       banner_timeout=target.timeout, auth_timeout=target.timeout)
    except socket.gaierror:
        raise BenchError(f"remote {where}: cannot resolve host {resolved.host!r}") from None
    except paramiko.ssh_exception.NoValidConnectionsError:
        raise BenchError(f"remote {where}: connection refused (is sshd running and port "
                         f"{port} open?)") from None
    except (socket.timeout, TimeoutError):
        raise BenchError(f"remote {where}: connection timed out after {target.timeout:g} s "
                         "(host unreachable?)") from None
    except paramiko.AuthenticationException:
        raise BenchError(f"remote {where}: authentication failed (no accepted key; tried "
                         f"{', '.join(identity) or 'ssh-agent and ~/.ssh/id_*'}; "
                         f"set one up with ssh-copy-id -p {port} {user}@{resolved.host})") from None
    except paramiko.SSHException as exc:
        text = str(exc)
        if "known_hosts" in text:
            raise BenchError(f"remote {where}: host key not in ~/.ssh/known_hosts; connect once "
                             f"with `ssh -p {port} {user}@{resolved.host}` to verify and "
                             "store it") from None
        if "banner" in text:  # something answered and hung up, or is not an SSH server
            raise BenchError(f"remote {where}: no SSH server answered on port {port} ({text}); "
                             "check the host and port") from None
        raise BenchError(f"remote {where}: SSH failed ({text})") from None
    except OSError as exc:  # no route to host, network unreachable
        raise BenchError(f"remote {where}: cannot connect ({exc.strerror or exc})") from None
    return client, where


def _run(client, command: str, timeout: float | None = None, on_stderr=None) -> tuple[int, str, str]:
    """(exit status, stdout, stderr) of a remote command. on_stderr(line) sees each stderr line
    as it arrives and returns True for lines it consumed (progress), which are left out."""
    _, stdout, stderr = client.exec_command(command, timeout=timeout)
    if on_stderr is None:
        err = stderr.read().decode("utf-8", "replace")
    else:   # line by line while it runs; the runner prints nothing on stdout meanwhile (--quiet)
        err = "".join(line for line in stderr if not on_stderr(line))
    out = stdout.read().decode("utf-8", "replace")
    return stdout.channel.recv_exit_status(), out, err


def _upload(sftp, files: list[tuple[Path, str]], remote_dir: str, where: str) -> None:
    """Copy (local path, remote name) pairs into remote_dir with one bar over all bytes."""
    from edgecv.progress import bar

    total = sum(path.stat().st_size for path, _ in files)
    with bar(total, f"remote {where}: copying", unit="B", unit_scale=True) as progress:
        for path, name in files:
            sent = [0]

            def advance(done: int, size: int, sent=sent) -> None:
                progress.update(done - sent[0])
                sent[0] = done

            sftp.put(str(path), f"{remote_dir}/{name}", callback=advance)


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1].removeprefix("error: ") if lines else "no output"


def check_remote_python(client, where: str, python: str) -> dict:
    """BenchError unless the device's python has numpy and LiteRT."""
    code, out, err = _run(client, f"{shlex.quote(python)} -c {shlex.quote(_PROBE)}", timeout=60)
    if code != 0:
        if code == 127 or "not found" in err:
            raise BenchError(f"remote {where}: {python} not found on the device")
        raise BenchError(f"remote {where}: {python} failed: {_last_line(err)}")
    try:
        found = json.loads(out.strip().splitlines()[-1])
    except (ValueError, IndexError):
        raise BenchError(f"remote {where}: unexpected reply from {python}: {out.strip()[:200]!r}") from None
    if not found.get("numpy"):
        raise BenchError(f"remote {where}: {python} (Python {found.get('python')}) has no numpy; "
                         f"install it on the device: {python} -m pip install numpy")
    if not found.get("litert"):
        raise BenchError(f"remote {where}: {python} (Python {found.get('python')}) has no LiteRT; "
                         f"install it on the device: {python} -m pip install ai-edge-litert "
                         "(or tflite-runtime)")
    return found


def remote_benchmark(target, model_path, eval_npz=None, *, runs=50, warmup=5, min_seconds=0.0,
                     threads=None, delegate="auto", progress=None) -> dict:
    """runner.benchmark on a device over SSH -> the same dict (outputs included), plus host."""
    from edgecv.bench import runner

    if not isinstance(target, RemoteTarget):
        target = RemoteTarget.parse(target)
    say = progress or (lambda message: None)
    client, where = connect(target)
    remote_dir = None
    try:
        check_remote_python(client, where, target.python)
        code, out, err = _run(client, "mktemp -d -t edgecv-bench.XXXXXX", timeout=30)
        if code != 0:
            raise BenchError(f"remote {where}: cannot create a temp dir ({_last_line(err)})")
        remote_dir = out.strip()
        say(f"remote {where}: copying runner, model{' and eval set' if eval_npz else ''}")
        sftp = client.open_sftp()
        try:
            uploads = [(Path(runner.__file__), "runner.py"), (Path(model_path), "model.tflite")]
            if eval_npz is not None:
                uploads.append((Path(eval_npz), "eval.npz"))
            _upload(sftp, uploads, remote_dir, where)
            args = [target.python, "runner.py", "model.tflite", "--runs", str(runs), "--warmup",
                    str(warmup), "--min-seconds", str(min_seconds), "--delegate", delegate,
                    "--json", "result.json", "--quiet", "--progress-lines"]
            if threads is not None:
                args += ["--threads", str(threads)]
            if eval_npz is not None:
                args += ["--data", "eval.npz", "--outputs", "outputs.npz"]
            say(f"remote {where}: running {runs} runs")
            from edgecv.bench.runprogress import RunnerProgress

            with RunnerProgress(f"{Path(model_path).stem} on {where}") as bars:
                code, out, err = _run(client, f"cd {shlex.quote(remote_dir)} && "
                                      + " ".join(shlex.quote(a) for a in args), on_stderr=bars.feed)
            if code != 0:
                from edgecv.bench.failures import runner_failure

                raise BenchError(f"remote {where}: {runner_failure(code, err, threads=threads, remote=True)}")
            from edgecv.tempdirs import temp_dir

            with temp_dir("remote") as local:
                sftp.get(f"{remote_dir}/result.json", f"{local}/result.json")
                result = json.loads(Path(local, "result.json").read_text(encoding="utf-8"))
                if eval_npz is not None:
                    sftp.get(f"{remote_dir}/outputs.npz", f"{local}/outputs.npz")
                    with np.load(f"{local}/outputs.npz", allow_pickle=False) as npz:
                        result["outputs"] = [npz[f"output_{i}"] for i in range(len(npz.files))]
        finally:
            sftp.close()
    finally:
        if remote_dir:
            _run(client, f"rm -rf {shlex.quote(remote_dir)}", timeout=30)
        client.close()
    result["host"] = where
    result["model"] = os.fspath(model_path)
    return result
