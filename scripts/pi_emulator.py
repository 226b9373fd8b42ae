#!/usr/bin/env python3
"""An emulated Raspberry Pi: an arm64 Debian root filesystem with Python, numpy, LiteRT and
sshd, run under qemu-user on a loopback port, so `edgecv bench --remote` reaches it as it
reaches a Pi. Needs root (chroot, mounts) on a Debian/Ubuntu host.

    sudo scripts/pi_emulator.py setup-host   # apt tools + binfmt_misc (once per boot)
    sudo scripts/pi_emulator.py build        # once per machine, cached
    sudo scripts/pi_emulator.py start        # prints the ~/.ssh/config block and the target
    edgecv bench MODEL.tflite --data eval.npz --remote pi-emulator
    sudo scripts/pi_emulator.py stop

A script, not an `edgecv` command: it needs root, Debian's mmdebstrap and qemu-user-static
and changes the host's mounts and binfmt registry, none of which a model toolkit should do;
and it imports nothing from edgecv (standard library only), so it runs before edgecv is
installed (CI builds the board in the background while the test suite starts).

How the board works (the three traps of emulating a Pi with qemu-user):
- every board process runs with QEMU_CPU=cortex-a76 (Pi 5) or cortex-a72 (Pi 4): qemu's
  default CPU `max` has SME, whose XNNPACK int8 kernels give wrong outputs under qemu;
- an arm64 /proc/cpuinfo of that core is bind-mounted over the board's /proc/cpuinfo:
  qemu passes the host's x86 one through and LiteRT's CPU detection crashes on it;
- /proc, /sys, /dev, /run and /tmp are mounted in a private mount namespace and the board
  runs in its own pid namespace (`unshare`), so stopping it, or killing it, removes every
  board process and every mount with it: nothing is left mounted on the host.
"""
from __future__ import annotations

import argparse
import fcntl
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

BUILD_VERSION = 1   # bump when the build steps change: the cache key changes with it
PYTHON = {"bookworm": "3.11", "trixie": "3.13"}   # Raspberry Pi OS 12 / 13
LITERT = "2.3.0"     # when the host has no ai-edge-litert to match
NUMPY = "2.4.6"
# numpy versions installed side by side under /opt/numpy-<version> (PYTHONPATH) for the
# runner compatibility check: Raspberry Pi OS users have Debian's numpy (bookworm's
# python3-numpy is 1.24.2) or pip's (1.26 is the last 1.x; 2.x). numpy 1.x has no wheel for
# trixie's Python 3.13, whose python3-numpy is 2.x.
EXTRA_NUMPY = {"bookworm": ("1.24.2", "1.26.4"), "trixie": ()}
# LiteRT 2.x has manylinux_2_27 aarch64 wheels only (manylinux2014 finds only 1.x); pip's
# --platform matches exactly, so older numpy wheels need their own tags.
PLATFORMS = ("manylinux_2_27_aarch64", "manylinux_2_28_aarch64", "manylinux_2_17_aarch64",
             "manylinux2014_aarch64")
# The board's packages, on top of Debian's Essential set (no apt, no docs): what the runner
# and sshd need. libstdc++6 for LiteRT's shared library.
PACKAGES = ("python3", "openssh-server", "libstdc++6")
# dpkg leaves these out of the board: nothing on it reads documentation.
EXCLUDES = ("/usr/share/man/*", "/usr/share/doc/*", "/usr/share/locale/*", "/usr/share/info/*",
            "/usr/share/lintian/*")
CPUS = ("cortex-a76", "cortex-a72")
BOARD_USER = "pi"
TOOLS = {"mmdebstrap": "mmdebstrap", "qemu-aarch64-static": "qemu-user-static",
         "unshare": "util-linux", "chroot": "coreutils", "ssh-keygen": "openssh-client",
         "arch-test": "arch-test", "update-binfmts": "binfmt-support"}
BINFMT = Path("/proc/sys/fs/binfmt_misc")


class BoardError(Exception):
    """A one-line reason the board cannot be built or started."""


def say(message: str) -> None:
    print(f"pi-emulator: {message}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------ host checks
def host_problem(*, build: bool = True) -> str | None:
    """Why this machine cannot build (or, build=False, start) a board; None when it can."""
    if sys.platform != "linux":
        return f"needs Linux, this is {sys.platform}"
    if os.geteuid() != 0:
        return "needs root (chroot and mounts): run it with sudo"
    needed = TOOLS if build else {k: v for k, v in TOOLS.items() if k in ("unshare", "chroot", "ssh-keygen")}
    missing = sorted({pkg for tool, pkg in needed.items() if shutil.which(tool) is None})
    if missing:
        return f"missing host packages: apt-get install {' '.join(missing)} (or: {Path(__file__).name} setup-host)"
    entry = BINFMT / "qemu-aarch64"
    if not (BINFMT / "status").exists():
        return f"binfmt_misc is not mounted at {BINFMT}: arm64 programs cannot run (setup-host mounts it)"
    if not entry.exists() or "enabled" not in entry.read_text(errors="replace"):
        return "no enabled qemu-aarch64 binfmt_misc entry: arm64 programs cannot run (setup-host enables it)"
    return None


def setup_host() -> None:
    """Install the host tools and register qemu-aarch64 with binfmt_misc (root, Debian)."""
    if os.geteuid() != 0:
        raise BoardError("setup-host needs root")
    missing = sorted({pkg for tool, pkg in TOOLS.items() if shutil.which(tool) is None})
    if missing:
        say(f"apt-get install {' '.join(missing)}")
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
        subprocess.run(["apt-get", "install", "-y", "-qq", *missing], check=True, env=env,
                       stdout=subprocess.DEVNULL)
    # Containers and minimal VMs boot without binfmt_misc mounted (systemd would mount it).
    if not (BINFMT / "status").exists():
        say(f"mounting binfmt_misc at {BINFMT}")
        subprocess.run(["mount", "-t", "binfmt_misc", "binfmt_misc", str(BINFMT)], check=True)
    subprocess.run(["update-binfmts", "--enable", "qemu-aarch64"], check=False,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    check = subprocess.run(["arch-test", "arm64"], capture_output=True, text=True, check=False)
    if check.returncode != 0:
        raise BoardError(f"arch-test arm64: {check.stdout.strip() or check.stderr.strip()}")
    say("host ready: arch-test arm64 ok")


def host_mirror() -> str:
    """The Debian mirror the host's apt uses (deb822 or one-line sources), else deb.debian.org."""
    sources = sorted(Path("/etc/apt/sources.list.d").glob("*.sources")) + \
        sorted(Path("/etc/apt/sources.list.d").glob("*.list")) + [Path("/etc/apt/sources.list")]
    for path in sources:
        try:
            text = path.read_text(errors="replace")
        except OSError:
            continue
        for line in text.splitlines():
            words = line.split("#", 1)[0].split()
            if words[:1] == ["URIs:"]:
                uris = words[1:]
            elif words[:1] == ["deb"]:
                uris = [w for w in words[1:] if "://" in w][:1]
            else:
                continue
            for uri in uris:
                if uri.rstrip("/").endswith("/debian"):
                    return uri.rstrip("/")
    return "http://deb.debian.org/debian"


# ------------------------------------------------------------------ the board's recipe
def host_litert() -> str:
    """The host's ai-edge-litert version: the board gets the same one, so a parity check
    compares architectures, not LiteRT releases."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("ai-edge-litert")
    except PackageNotFoundError:
        return LITERT


@dataclass(frozen=True)
class BoardSpec:
    """Everything that decides a board's contents; its hash names the cache folder."""
    suite: str = "bookworm"
    mirror: str = field(default_factory=host_mirror)
    packages: tuple = PACKAGES
    excludes: tuple = EXCLUDES
    litert: str = field(default_factory=host_litert)
    numpy: str = NUMPY
    extra_numpy: tuple | None = None    # None: EXTRA_NUMPY of the suite
    version: int = BUILD_VERSION

    @property
    def python(self) -> str:
        try:
            return PYTHON[self.suite]
        except KeyError:
            raise BoardError(f"--suite {self.suite!r}: expected one of {', '.join(PYTHON)}") from None

    def __post_init__(self):
        if self.extra_numpy is None:
            object.__setattr__(self, "extra_numpy", EXTRA_NUMPY.get(self.suite, ()))

    @property
    def key(self) -> str:
        text = json.dumps(asdict(self), sort_keys=True)
        return f"{self.suite}-{hashlib.sha256(text.encode()).hexdigest()[:12]}"


def cache_root() -> Path:
    return Path(os.environ.get("EDGECV_PI_CACHE") or Path.home() / ".cache/edgecv/pi-board")


def board_dir(spec: BoardSpec, cache: Path | None = None) -> Path:
    return (cache or cache_root()) / spec.key


def built(spec: BoardSpec, cache: Path | None = None) -> dict | None:
    """The manifest of a finished board build, or None."""
    path = board_dir(spec, cache) / "board.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


# ------------------------------------------------------------------ build
def _run(args, **kw):
    return subprocess.run([str(a) for a in args], check=True, **kw)


def fetch_wheels(spec: BoardSpec, cache: Path, numpy: str, *, litert: bool = True) -> Path:
    """aarch64 wheels of numpy (+ LiteRT and its dependencies) for the board's Python,
    downloaded once into the cache."""
    py = spec.python
    name = f"cp{py.replace('.', '')}-" + (f"litert{spec.litert}-" if litert else "") + f"numpy{numpy}"
    folder = cache / "wheels" / name
    if (folder / ".complete").exists():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    say(f"downloading aarch64 wheels for Python {py} into {folder}")
    wanted = [f"numpy=={numpy}"] + ([f"ai-edge-litert=={spec.litert}"] if litert else ["--no-deps"])
    _run([sys.executable, "-m", "pip", "download", "-q", "--only-binary=:all:", *_platform_args(),
          "--python-version", py, "-d", folder, *wanted])
    (folder / ".complete").write_text("")
    return folder


def _platform_args() -> list[str]:
    return [arg for tag in PLATFORMS for arg in ("--platform", tag)]


def _install_wheels(spec: BoardSpec, wheels: Path, target: Path, numpy: str, *, deps=True) -> None:
    """pip on the host installs the aarch64 wheels into the board: nothing runs emulated and
    the board needs neither pip nor a network."""
    args = [sys.executable, "-m", "pip", "install", "-q", "--no-index", "--find-links", wheels,
            "--only-binary=:all:", *_platform_args(), "--python-version", spec.python, "--target", target, "--no-warn-script-location"]
    if f"{sys.version_info[0]}.{sys.version_info[1]}" != spec.python:
        args.append("--no-compile")   # the host's bytecode would be for another Python
    packages = [f"numpy=={numpy}"] + ([f"ai-edge-litert=={spec.litert}"] if deps else [])
    _run(args + ([] if deps else ["--no-deps"]) + packages)


def _mountpoints_under(path: Path) -> list[str]:
    prefix = str(path.resolve()) + "/"
    with open("/proc/self/mountinfo") as handle:
        points = [line.split()[4] for line in handle]
    return [p for p in points if p.startswith(prefix) or p == prefix[:-1]]


def _remove_own_tree(path: Path) -> None:
    """Delete a build folder this script made, never crossing into a mount."""
    mounted = _mountpoints_under(path)
    if mounted:
        raise BoardError(f"{path}: still has mounts ({', '.join(mounted[:3])}); not removing it")
    _run(["rm", "-rf", "--one-file-system", path])


def _sweep_failed_builds(cache: Path) -> None:
    """Remove `<key>.build-<pid>` folders of build processes that no longer exist."""
    for folder in cache.glob("*.build-*"):
        pid = folder.name.rsplit("-", 1)[-1]
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            say(f"removing {folder} (left by a build that died)")
            _remove_own_tree(folder)


CPUINFO_A76 = """\
processor\t: {n}
BogoMIPS\t: 108.00
Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp
CPU implementer\t: 0x41
CPU architecture: 8
CPU variant\t: 0x4
CPU part\t: 0xd0b
CPU revision\t: 1
"""
CPUINFO_A72 = """\
processor\t: {n}
BogoMIPS\t: 108.00
Features\t: fp asimd evtstrm crc32 cpuid
CPU implementer\t: 0x41
CPU architecture: 8
CPU variant\t: 0x0
CPU part\t: 0xd08
CPU revision\t: 3
"""


def cpuinfo_text(cpu: str) -> str:
    """An arm64 /proc/cpuinfo of a 4-core Pi 5 (cortex-a76) or Pi 4 (cortex-a72)."""
    template = {"cortex-a76": CPUINFO_A76, "cortex-a72": CPUINFO_A72}[cpu]
    body = "\n".join(template.format(n=n) for n in range(4))
    return body + f"\nModel\t\t: edgecv pi-emulator (qemu-user {cpu})\n"


def build(spec: BoardSpec, cache: Path | None = None) -> Path:
    """Build the board once (cached by `spec.key`); return its folder. Concurrent callers
    wait for one build (flock) and then reuse it."""
    problem = host_problem()
    if problem:
        raise BoardError(problem)
    cache = cache or cache_root()
    cache.mkdir(parents=True, exist_ok=True)
    final = board_dir(spec, cache)
    with open(cache / f".{spec.key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if built(spec, cache):
            return final
        _sweep_failed_builds(cache)
        started, cpu_before = time.monotonic(), _children_cpu_seconds()
        wheels = fetch_wheels(spec, cache, spec.numpy)
        extra = {v: fetch_wheels(spec, cache, v, litert=False) for v in spec.extra_numpy}
        work = cache / f"{spec.key}.build-{os.getpid()}"
        work.mkdir()
        rootfs = work / "rootfs"
        try:
            _mmdebstrap(spec, rootfs)
            _finish_rootfs(spec, rootfs, wheels, extra)
            manifest = {"spec": asdict(spec), "key": spec.key, "python": spec.python,
                        "build_seconds": round(time.monotonic() - started, 1),
                        # CPU time of everything the build ran: what the wall time is on an idle machine
                        "cpu_seconds": round(_children_cpu_seconds() - cpu_before, 1),
                        "disk_bytes": _disk_bytes(rootfs), "built": time.strftime("%Y-%m-%dT%H:%M:%S")}
            (work / "board.json").write_text(json.dumps(manifest, indent=2) + "\n")
            os.rename(work, final)
        except BaseException:
            if work.exists() and not _mountpoints_under(work):
                _remove_own_tree(work)
            raise
    say(f"built {final} in {manifest['build_seconds']:.0f} s ({manifest['cpu_seconds']:.0f} s of CPU), "
        f"{manifest['disk_bytes'] / 2**20:.0f} MiB")
    return final


def _mmdebstrap(spec: BoardSpec, rootfs: Path) -> None:
    say(f"mmdebstrap {spec.suite} arm64 ({', '.join(spec.packages)}) from {spec.mirror}")
    args = ["mmdebstrap", "--arch=arm64", "--variant=essential", "--mode=root", "--quiet",
            f"--include={','.join(spec.packages)}", "--dpkgopt=force-unsafe-io"]
    args += [f"--dpkgopt=path-exclude={p}" for p in spec.excludes]
    # Host keys are made per start (ssh-keygen on the host): skip the emulated RSA keygen of
    # openssh-server's postinst by providing placeholders it leaves alone, removed after.
    args += [("--essential-hook=mkdir -p \"$1/etc/ssh\" && for t in rsa ecdsa ed25519; do "
              "touch \"$1/etc/ssh/ssh_host_${t}_key\" \"$1/etc/ssh/ssh_host_${t}_key.pub\"; done"),
             "--customize-hook=rm -f \"$1\"/etc/ssh/ssh_host_*",
             spec.suite, rootfs, f"deb {spec.mirror} {spec.suite} main"]
    # A private mount namespace: mmdebstrap's /proc, /sys, /dev mounts die with it, even if
    # it is killed halfway.
    _run(["unshare", "--mount", "--propagation", "private", *args])


def _finish_rootfs(spec: BoardSpec, rootfs: Path, wheels: Path, extra: dict) -> None:
    """User pi, LiteRT + numpy, the cpuinfo files, QEMU_CPU for login shells."""
    # The host's useradd edits the board's files (-R): nothing emulated. "*": no password
    # but not locked (sshd refuses locked accounts even for keys).
    _run(["useradd", "-R", rootfs, "-m", "-s", "/bin/sh", "-p", "*", BOARD_USER])
    site = rootfs / f"usr/local/lib/python{spec.python}/dist-packages"
    say(f"installing ai-edge-litert {spec.litert} + numpy {spec.numpy} into the board")
    _install_wheels(spec, wheels, site, spec.numpy)
    for version, folder in extra.items():
        _install_wheels(spec, folder, rootfs / f"opt/numpy-{version}", version, deps=False)
        # `python3-numpy<version>`: the board's python3 with that numpy first on the path,
        # usable as `--remote-python` (edgecv runs the device's python by name).
        wrapper = rootfs / f"usr/local/bin/python3-numpy{version}"
        wrapper.write_text(f'#!/bin/sh\nPYTHONPATH=/opt/numpy-{version} exec python3 "$@"\n')
        wrapper.chmod(0o755)
    if f"{sys.version_info[0]}.{sys.version_info[1]}" != spec.python:
        say("compiling the wheels' bytecode with the board's Python (emulated)")
        _run(["chroot", rootfs, f"/usr/bin/python{spec.python}", "-m", "compileall", "-q",
              f"/usr/local/lib/python{spec.python}/dist-packages", "/opt"],
             env=_board_env("cortex-a76"))
    board = rootfs / "etc/edgecv-board"
    board.mkdir(parents=True, exist_ok=True)
    for cpu in CPUS:
        (board / f"cpuinfo-{cpu}").write_text(cpuinfo_text(cpu))


def _children_cpu_seconds() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _disk_bytes(path: Path) -> int:
    out = subprocess.run(["du", "-sxb", str(path)], capture_output=True, text=True, check=True)
    return int(out.stdout.split()[0])


def _board_env(cpu: str) -> dict:
    return {"PATH": "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", "QEMU_CPU": cpu,
            "LANG": "C.UTF-8", "HOME": "/root"}


# ------------------------------------------------------------------ start / stop
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@dataclass
class Board:
    """A started board: its ssh target and the files a client needs."""
    state: Path
    port: int
    pid: int
    cpu: str

    @property
    def target(self) -> str:
        return f"{BOARD_USER}@127.0.0.1:{self.port}"

    @property
    def key(self) -> Path:
        return self.state / "id_ed25519"

    @property
    def known_hosts(self) -> Path:
        return self.state / "known_hosts"

    def ssh_config(self, host: str = "pi-emulator") -> str:
        return (f"Host {host}\n  HostName 127.0.0.1\n  Port {self.port}\n  User {BOARD_USER}\n"
                f"  IdentityFile {self.key}\n  UserKnownHostsFile {self.known_hosts}\n")

    def alive(self) -> bool:
        return _is_our_board(self.pid, self.state)

    def stop(self, timeout: float = 15.0) -> None:
        stop_board(self.state, timeout=timeout)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


_SSHD_CONFIG = """\
ListenAddress 127.0.0.1
Port {port}
HostKey /run/board/host_key
AuthorizedKeysFile /run/board/authorized_keys
PidFile /run/sshd.pid
StrictModes no
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
PermitRootLogin no
AllowUsers {user}
Subsystem sftp internal-sftp
SetEnv QEMU_CPU={cpu}
LogLevel ERROR
"""

# Runs as pid 1 of the board's pid namespace, in its private mount namespace.
_BOARD_SCRIPT = """\
set -eu
R="$1"; S="$2"; CPU="$3"
mount -t proc proc "$R/proc"
mount --bind "$R/etc/edgecv-board/cpuinfo-$CPU" "$R/proc/cpuinfo"
mount -t sysfs -o ro sysfs "$R/sys"
mount -t tmpfs -o mode=755,size=16m tmpfs "$R/dev"
for d in null zero full random urandom tty; do touch "$R/dev/$d"; mount --bind "/dev/$d" "$R/dev/$d"; done
mount -t tmpfs -o mode=755,size=16m tmpfs "$R/run"
mount -t tmpfs -o mode=1777,size=1g tmpfs "$R/tmp"
mkdir -p "$R/run/sshd" "$R/run/board"
cp "$S/sshd_config" "$S/host_key" "$S/authorized_keys" "$R/run/board/"
chmod 600 "$R/run/board/host_key"; chmod 644 "$R/run/board/authorized_keys"
exec env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin QEMU_CPU="$CPU" LANG=C.UTF-8 \\
    chroot "$R" /usr/sbin/sshd -D -e -f /run/board/sshd_config
"""


STATE_FILES = ("board.json", "board.log", "sshd_config", "authorized_keys", "known_hosts",
               "host_key", "host_key.pub", "id_ed25519", "id_ed25519.pub")


def _keygen(path: Path, comment: str) -> None:
    _run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", path])


def _is_our_board(pid: int, state: Path) -> bool:
    """pid is the supervisor of the board whose state folder is `state` (not a reused pid)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return str(state).encode() in cmdline and b"unshare" in cmdline


def start(spec: BoardSpec | None = None, *, cache: Path | None = None, port: int = 0,
          cpu: str = "cortex-a76", lifetime: float = 3600.0, state: Path | None = None,
          timeout: float = 120.0) -> Board:
    """Start a built board on 127.0.0.1:port (0: a free one) and wait for its SSH banner.
    It stops by itself after `lifetime` seconds (a forgotten or orphaned board)."""
    spec = spec or BoardSpec()
    if cpu not in CPUS:
        raise BoardError(f"--cpu {cpu!r}: expected one of {', '.join(CPUS)}")
    problem = host_problem(build=False)
    if problem:
        raise BoardError(problem)
    root = board_dir(spec, cache)
    if not built(spec, cache):
        raise BoardError(f"no board built at {root}: run `{Path(__file__).name} build` first")
    port = port or free_port()
    if not _port_free(port):   # else the banner check below would greet whatever listens there
        raise BoardError(f"--port {port}: 127.0.0.1:{port} is already in use")
    state = Path(state or (cache or cache_root()) / "boards" / str(port)).resolve()
    old = _read_state(state)
    if old and _is_our_board(old["pid"], state):
        raise BoardError(f"a board already runs with state {state} (pid {old['pid']}); stop it first")
    state.mkdir(parents=True, exist_ok=True)
    for name in STATE_FILES:   # a stopped or dead board's leftovers (ssh-keygen will not overwrite)
        (state / name).unlink(missing_ok=True)
    _keygen(state / "host_key", "pi-emulator host")
    _keygen(state / "id_ed25519", "pi-emulator client")
    shutil.copy(state / "id_ed25519.pub", state / "authorized_keys")
    host_key = (state / "host_key.pub").read_text().split()
    (state / "known_hosts").write_text(f"[127.0.0.1]:{port} {host_key[0]} {host_key[1]}\n")
    (state / "sshd_config").write_text(_SSHD_CONFIG.format(port=port, cpu=cpu, user=BOARD_USER))
    # timeout ends the board after `lifetime`; unshare --kill-child makes the board's pid 1
    # die with its parent, and with pid 1 the kernel ends every board process and mount.
    with open(state / "board.log", "wb") as log:
        proc = subprocess.Popen(
            ["timeout", "-k", "10", f"{lifetime:g}", "unshare", "--mount", "--pid", "--fork",
             "--kill-child", "--propagation", "private", "sh", "-c", _BOARD_SCRIPT, "board",
             str(root / "rootfs"), str(state), cpu],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    board = Board(state=state, port=port, pid=proc.pid, cpu=cpu)
    (state / "board.json").write_text(json.dumps(
        {"pid": proc.pid, "port": port, "cpu": cpu, "target": board.target,
         "rootfs": str(root / "rootfs"), "started": time.time(), "lifetime": lifetime}) + "\n")
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            text = "; ".join((state / "board.log").read_text(errors="replace").split("\n")[-5:]).strip("; ")
            stop_board(state)
            raise BoardError(f"the board exited ({proc.returncode}): {text[-500:] or 'no output'}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as conn:
                if conn.recv(64).startswith(b"SSH-"):
                    return board
        except OSError:
            pass
        if time.monotonic() > deadline:
            stop_board(state)
            raise BoardError(f"the board's sshd did not answer on 127.0.0.1:{port} within {timeout:g} s")
        time.sleep(0.25)


def _read_state(state: Path) -> dict | None:
    try:
        return json.loads((state / "board.json").read_text())
    except (OSError, ValueError):
        return None


def stop_board(state: Path, timeout: float = 15.0) -> bool:
    """Stop the board started with this state folder; True if one was running."""
    state = Path(state).resolve()   # as start recorded it in the board's command line
    info = _read_state(state)
    if not info:
        return False
    pid = int(info["pid"])
    running = _is_our_board(pid, Path(state))
    if running:
        os.killpg(pid, signal.SIGTERM)   # timeout passes it on; unshare kills pid 1
        deadline = time.monotonic() + timeout
        while _is_our_board(pid, Path(state)) and time.monotonic() < deadline:
            time.sleep(0.1)
        if _is_our_board(pid, Path(state)):
            os.killpg(pid, signal.SIGKILL)
    try:   # reap it when this process started it
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass
    for name in STATE_FILES:   # what start wrote; the folder goes too when nothing else is in it
        (Path(state) / name).unlink(missing_ok=True)
    try:
        Path(state).rmdir()
    except OSError:
        pass
    return running


def running_boards(cache: Path | None = None) -> list[dict]:
    boards = []
    for state in sorted(((cache or cache_root()) / "boards").glob("*")):
        info = _read_state(state)
        if info and _is_our_board(int(info["pid"]), state.resolve()):
            boards.append(dict(info, state=str(state)))
    return boards


# ------------------------------------------------------------------ command line
def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cache", type=Path, help="cache folder (default ~/.cache/edgecv/pi-board "
                        "or $EDGECV_PI_CACHE)")
    parser.add_argument("--suite", default="bookworm", choices=sorted(PYTHON),
                        help="Debian release: bookworm = Python 3.11, trixie = Python 3.13")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("setup-host", help="apt-get the tools, mount binfmt_misc, enable qemu-aarch64")
    sub.add_parser("build", help="build the board (once; later calls reuse it)")
    p_start = sub.add_parser("start", help="start the board on a loopback port")
    p_start.add_argument("--port", type=int, default=0, help="127.0.0.1 port (default: a free one)")
    p_start.add_argument("--cpu", default="cortex-a76", choices=CPUS,
                         help="cortex-a76 = Raspberry Pi 5, cortex-a72 = Raspberry Pi 4")
    p_start.add_argument("--lifetime", type=float, default=3600,
                         help="stop by itself after this many seconds (default 3600)")
    p_stop = sub.add_parser("stop", help="stop a running board (all of them without --port)")
    p_stop.add_argument("--port", type=int)
    sub.add_parser("status", help="the built board and the running ones")
    args = parser.parse_args(argv)
    try:
        spec = BoardSpec(suite=args.suite)
        if args.command == "setup-host":
            setup_host()
        elif args.command == "build":
            print(build(spec, args.cache))
        elif args.command == "start":
            board = start(spec, cache=args.cache, port=args.port, cpu=args.cpu, lifetime=args.lifetime)
            print(f"# add to ~/.ssh/config, then: edgecv bench MODEL.tflite --remote pi-emulator\n"
                  f"{board.ssh_config()}# target: {board.target} (stops by itself in "
                  f"{args.lifetime:g} s; `{Path(__file__).name} stop --port {board.port}`)")
        elif args.command == "stop":
            boards = running_boards(args.cache)
            if args.port is not None:
                boards = [b for b in boards if b["port"] == args.port]
            if not boards:
                say("no board running")
            for info in boards:
                stop_board(Path(info["state"]))
                say(f"stopped the board on 127.0.0.1:{info['port']}")
        elif args.command == "status":
            manifest = built(spec, args.cache)
            print(json.dumps({"board": str(board_dir(spec, args.cache)), "built": manifest,
                              "running": running_boards(args.cache),
                              "host_problem": host_problem()}, indent=2))
    except BoardError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except subprocess.CalledProcessError as exc:
        print(f"error: {' '.join(map(str, exc.cmd))[:200]} failed with exit code {exc.returncode}",
              file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
