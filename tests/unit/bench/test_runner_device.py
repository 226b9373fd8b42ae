"""What the runner says about the machine it ran on: the CPU as the device describes it
and whether the process was emulated (runner.cpu_name / runner.emulation), and how the
report shows both. No model, no TensorFlow: golden /proc texts."""
from __future__ import annotations

from edgecv.bench import runner
from edgecv.bench.entry import BenchEntry
from edgecv.bench.report import device_line, emulated_note, render_markdown

PI5_CPUINFO = "".join(
    f"processor\t: {n}\nBogoMIPS\t: 108.00\nFeatures\t: fp asimd evtstrm aes pmull\n"
    "CPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x4\nCPU part\t: 0xd0b\n"
    "CPU revision\t: 1\n\n" for n in range(4)) + "Revision\t: c04170\nModel\t\t: Raspberry Pi 5 Model B Rev 1.0\n"
X86_CPUINFO = ("processor\t: 0\nvendor_id\t: AuthenticAMD\ncpu family\t: 25\nmodel\t\t: 17\n"
               "model name\t: AMD EPYC 9454\n\nprocessor\t: 1\nvendor_id\t: AuthenticAMD\n"
               "model\t\t: 17\nmodel name\t: AMD EPYC 9454\n")


def test_cpu_name_from_cpuinfo_and_device_tree():
    assert runner.cpu_name(PI5_CPUINFO, "") == "Raspberry Pi 5 Model B Rev 1.0, 4 x Cortex-A76"
    # The device tree's board model (NUL-terminated) wins over cpuinfo's Model line.
    pi4 = PI5_CPUINFO.replace("0xd0b", "0xd08")
    assert runner.cpu_name(pi4, "Raspberry Pi 4 Model B Rev 1.5\x00") == \
        "Raspberry Pi 4 Model B Rev 1.5, 4 x Cortex-A72"
    # x86's numeric "model" is not a board name.
    assert runner.cpu_name(X86_CPUINFO, "") == "2 x AMD EPYC 9454"
    unknown_part = "processor\t: 0\nCPU implementer\t: 0x41\nCPU part\t: 0xfff\n"
    assert runner.cpu_name(unknown_part, "") is None
    assert runner.cpu_name("", "") is None


def test_emulation_signals():
    # qemu named by the real executable (/proc/self/task/TID/exe, which qemu-user leaves alone)
    assert runner.emulation("aarch64", "x86_64", "/usr/bin/qemu-aarch64-static") == (
        "qemu-user: /usr/bin/qemu-aarch64-static runs this aarch64 process on an x86_64 kernel")
    # or a kernel of another architecture family than the process
    assert runner.emulation("aarch64", "x86_64", "/usr/bin/python3.11") == (
        "user-mode emulation: an x86_64 kernel runs this aarch64 process")
    # native: same family, 32-bit userland on a 64-bit kernel, or no kernel.arch (Linux < 6.1)
    for machine, kernel in (("aarch64", "aarch64"), ("armv7l", "aarch64"), ("i686", "x86_64"),
                            ("aarch64", ""), ("x86_64", "x86_64")):
        assert runner.emulation(machine, kernel, "/usr/bin/python3") is None, (machine, kernel)


def test_this_host_is_native_and_named():
    assert runner.emulation() is None
    assert runner.cpu_name()     # every Linux /proc/cpuinfo names something


def test_report_names_the_device_and_marks_emulated_latency():
    latency = {"mean": 3.0, "std": 0.1, "min": 2.9, "p50": 3.0, "p90": 3.2, "p99": 3.3, "max": 3.4,
               "runs": 5, "warmup": 1, "threads": 1, "init_ms": 9.0, "first_ms": 5.0}
    entry = BenchEntry(format="int8", path="m_int8.tflite", size_bytes=1000, latency_ms=latency,
                       machine="Linux aarch64", cpu="4 x Cortex-A76", runtime="ai_edge_litert 2.3.0",
                       host="pi@127.0.0.1:2222", delegate="auto",
                       emulated="qemu-user: /usr/bin/qemu-aarch64-static runs this aarch64 process")
    assert device_line(entry) == "on pi@127.0.0.1:2222 (Linux aarch64, 4 x Cortex-A76, ai_edge_litert 2.3.0)"
    md = render_markdown([entry.to_dict()], title="t")
    assert device_line(entry) in md
    assert emulated_note(entry) in md and "not the device's latency" in md
    native = BenchEntry(format="int8", latency_ms=latency, machine="Linux x86_64", host="local")
    assert "Emulated" not in render_markdown([native], title="t")


def test_runner_summary_names_the_device_and_emulation():
    """`python3 runner.py MODEL` on the device prints where it ran and flags emulation."""
    latency = {"mean": 50.0, "std": 1.0, "min": 49.0, "p50": 50.0, "p90": 51.0, "p99": 52.0,
               "max": 53.0, "runs": 5, "warmup": 1, "threads": 1, "init_ms": 9.0, "first_ms": 60.0}
    result = {"model": "m.tflite", "size_bytes": 2 ** 20, "runtime": "ai_edge_litert 2.3.0",
              "delegate": "auto", "latency_ms": latency, "machine": "Linux aarch64",
              "cpu": "4 x Cortex-A76", "emulation": "qemu-user: /usr/bin/qemu-aarch64-static runs this"}
    lines = runner.format_summary(result).splitlines()
    assert "device:   Linux aarch64, 4 x Cortex-A76" in lines
    assert "EMULATED: qemu-user: /usr/bin/qemu-aarch64-static runs this; these timings are not the device's" in lines
    native = runner.format_summary(dict(result, emulation=None, cpu=None))
    assert "device:   Linux aarch64" in native.splitlines() and "EMULATED" not in native
