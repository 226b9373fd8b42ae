#!/usr/bin/env python3
"""Standalone TFLite benchmark runner: latency like `benchmark_model`, plus accuracy.

This file is copied on its own to the device (Raspberry Pi, Coral dev board) and run
with `python3 runner.py MODEL.tflite --data eval.npz`. It therefore imports only the
standard library, numpy and LiteRT (`ai_edge_litert`, else `tflite_runtime`) — never
TensorFlow, OpenCV or other edgecv modules.

Measurement follows TFLite's benchmark_model: init = interpreter creation + tensor
allocation, then one first inference timed on its own, then warmup runs, then timed
`invoke()` calls (time.perf_counter) until both `runs` and `min_seconds` are reached.
Accuracy: every eval sample goes through the model one at a time (batch 1); inputs are
quantized and outputs dequantized with the model's own parameters.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

try:
    import numpy as np
except ImportError:  # pragma: no cover - exercised on bare devices
    np = None

EDGETPU_LIBRARY = {"Linux": "libedgetpu.so.1", "Darwin": "libedgetpu.1.dylib",
                   "Windows": "edgetpu.dll"}
DELEGATES = ("auto", "xnnpack", "none", "edgetpu")
# LiteRT segfaults creating absurd thread pools (--threads 100000); no device needs > 1024.
MAX_THREADS = 1024
# Progress: `tick(phase, done, total)` about every TICK_SECONDS, between bursts of timed runs
# (the timed loop itself stays a bare invoke + clock). `--progress-lines` prints each tick as
# PROGRESS_PREFIX + "phase done total" on stderr for edgecv on the host to draw its bar.
TICK_SECONDS = 0.5
PROGRESS_PREFIX = "@progress "


class RunnerError(Exception):
    """A user-facing failure (missing runtime, bad model, bad data): one line, exit 2."""


def _require_numpy():
    if np is None:
        raise RunnerError(f"numpy is not installed for {sys.executable} "
                          "(install it: python3 -m pip install numpy)")


def load_litert():
    """Return (interpreter module, runtime name): ai_edge_litert, else tflite_runtime."""
    try:
        from ai_edge_litert import interpreter as module
        return module, "ai_edge_litert"
    except ImportError:
        pass
    try:
        from tflite_runtime import interpreter as module
        return module, "tflite_runtime"
    except ImportError:
        raise RunnerError(
            f"no LiteRT runtime for {sys.executable}: install ai-edge-litert "
            "(python3 -m pip install ai-edge-litert) or tflite-runtime") from None


def make_interpreter(model_path, *, threads=None, delegate="auto"):
    """Create the interpreter for `delegate` (auto | xnnpack | none | edgetpu)."""
    if delegate not in DELEGATES:
        raise RunnerError(f"--delegate {delegate!r}: expected one of {', '.join(DELEGATES)}")
    if not os.path.isfile(model_path):
        raise RunnerError(f"{model_path}: model file not found")
    module, _ = load_litert()
    kwargs = {"model_path": str(model_path)}
    if threads is not None:
        kwargs["num_threads"] = int(threads)
    resolver = getattr(module, "OpResolverType", None)
    if delegate == "edgetpu":
        library = EDGETPU_LIBRARY.get(platform.system(), "libedgetpu.so.1")
        kwargs["experimental_delegates"] = [_load_delegate(module, library)]
    elif resolver is not None and delegate == "none":
        # BUILTIN_WITHOUT_DEFAULT_DELEGATES turns XNNPACK off: plain reference CPU kernels.
        kwargs["experimental_op_resolver_type"] = resolver.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    elif resolver is not None and delegate == "xnnpack":
        kwargs["experimental_op_resolver_type"] = resolver.BUILTIN
    try:
        interpreter = module.Interpreter(**kwargs)
    except ValueError as exc:
        raise RunnerError(f"{model_path}: not a loadable TFLite model ({_first_line(exc)})") from None
    return interpreter


def _load_delegate(module, library):
    """load_delegate with a one-line error when the library (or the device) is missing."""
    # LiteRT's Delegate.__del__ raises on a half-built delegate and prints a traceback at
    # garbage collection; silence only that while the failed object is freed.
    hook = sys.unraisablehook
    sys.unraisablehook = lambda unraisable: None
    try:
        try:
            return module.load_delegate(library)
        except (ValueError, OSError) as exc:
            message = _first_line(exc)
        import gc
        gc.collect()
    finally:
        sys.unraisablehook = hook
    raise RunnerError(f"--delegate edgetpu: cannot load {library} ({message}); install the "
                      "Edge TPU runtime (apt-get install libedgetpu1-std) and plug in the device")


def _first_line(exc):
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _ensure_batch_one(interpreter):
    """Models exported with a dynamic batch get batch 1: one sample per invoke."""
    resized = False
    for detail in interpreter.get_input_details():
        shape = list(detail["shape"])
        signature = list(detail.get("shape_signature", shape))
        if shape and (shape[0] != 1 or (signature and signature[0] == -1)):
            interpreter.resize_tensor_input(detail["index"], [1] + shape[1:])
            resized = True
    return resized


def _describe(details):
    out = []
    for d in details:
        scale, zero_point = d.get("quantization", (0.0, 0))
        out.append({"name": d["name"], "shape": [int(s) for s in d["shape"]],
                    "dtype": np.dtype(d["dtype"]).name, "scale": float(scale),
                    "zero_point": int(zero_point)})
    return out


def quantize_input(x_float, detail):
    """float32 sample -> the input tensor's dtype using its own scale/zero point."""
    dtype = np.dtype(detail["dtype"])
    if dtype.kind == "f":
        return x_float.astype(dtype)
    scale, zero_point = detail["quantization"]
    if not scale:
        raise RunnerError(f"input {detail['name']!r} is {dtype.name} but has no quantization scale")
    info = np.iinfo(dtype)
    # Round half away from zero like TFLite's own Quantize kernel (std::round), not numpy's
    # round-half-to-even.
    v = x_float / np.float32(scale) + np.float32(zero_point)
    q = np.sign(v) * np.floor(np.abs(v) + np.float32(0.5))
    return np.clip(q, info.min, info.max).astype(dtype)


def dequantize_output(q, detail):
    """Output tensor -> float32 using its own scale/zero point (floats pass through)."""
    dtype = np.dtype(detail["dtype"])
    if dtype.kind == "f":
        return q.astype(np.float32)
    scale, zero_point = detail["quantization"]
    if not scale:
        return q.astype(np.float32)
    return ((q.astype(np.float32) - zero_point) * scale).astype(np.float32)


def load_eval_data(path):
    """Read the eval npz written by edgecv.bench.evalset (x uint8 + mean/std + targets)."""
    if not os.path.isfile(path):
        raise RunnerError(f"{path}: eval data file not found")
    try:
        with np.load(path, allow_pickle=False) as npz:
            data = {key: npz[key] for key in npz.files}
    except (OSError, ValueError) as exc:
        raise RunnerError(f"{path}: not a readable eval npz ({_first_line(exc)})") from None
    for key in ("x", "mean", "std"):
        if key not in data:
            raise RunnerError(f"{path}: eval npz has no {key!r} array (found {sorted(data)})")
    if data["x"].ndim != 4:
        raise RunnerError(f"{path}: 'x' must be [N,H,W,C], got shape {list(data['x'].shape)}")
    return data


def _synthetic_input(detail, rng):
    dtype = np.dtype(detail["dtype"])
    shape = detail["shape"]
    if dtype.kind == "f":
        return rng.uniform(-1.0, 1.0, size=shape).astype(dtype)
    if dtype == np.bool_:
        return rng.integers(0, 2, size=shape).astype(dtype)
    info = np.iinfo(dtype)
    return rng.integers(max(info.min, -128), min(info.max, 255) + 1, size=shape).astype(dtype)


def sample_input(data, i, detail):
    """Eval sample i as the input tensor takes it. An integer input quantized for raw pixels
    (scale 1/std, zero point within half a level of mean: what edgecv exports) gets the raw
    pixels, as apps and MediaPipe feed them; normalising first would land every pixel on an
    exact half (zero point 128 for mean 127.5) and round it up by one level."""
    dtype = np.dtype(detail["dtype"])
    scale, zero_point = detail.get("quantization") or (0.0, 0)
    if dtype.kind in "iu" and scale and data["x"].dtype == np.uint8 \
            and np.ndim(data["mean"]) == 0 and np.ndim(data["std"]) == 0:
        offset = 128 if dtype == np.int8 else 0
        if abs(scale * float(data["std"]) - 1.0) < 1e-5 and \
                abs(zero_point + offset - float(data["mean"])) <= 0.5:
            return (data["x"][i:i + 1].astype(np.int16) - offset).astype(dtype)
    return quantize_input(_normalized_sample(data, i), detail)


def _normalized_sample(data, i):
    mean = np.asarray(data["mean"], dtype=np.float32)
    std = np.asarray(data["std"], dtype=np.float32)
    return (data["x"][i:i + 1].astype(np.float32) - mean) / std


def _latency_stats(times_ms, *, runs, warmup, threads, init_ms, first_ms):
    t = np.asarray(times_ms, dtype=np.float64)
    p50, p90, p99 = np.percentile(t, [50, 90, 99])
    return {"mean": float(t.mean()), "std": float(t.std()), "min": float(t.min()),
            "p50": float(p50), "p90": float(p90), "p99": float(p99), "max": float(t.max()),
            "runs": int(len(t)), "warmup": int(warmup), "threads": threads,
            "init_ms": float(init_ms), "first_ms": float(first_ms)}


def peak_rss_mb():
    """Peak resident memory of this process in MiB.

    Linux: VmHWM of this process image; ru_maxrss is not used there because it survives
    execve and would report a large parent's peak for a freshly spawned runner.
    Elsewhere ru_maxrss (KiB, bytes on macOS).
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return float(line.split()[1]) / 1024
    except OSError:
        pass
    try:
        import resource
    except ImportError:  # Windows
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return float(peak) / (1024 * 1024 if sys.platform == "darwin" else 1024)


def top_k(probs, labels, k):
    """Fraction of rows whose label is among the k highest scores."""
    k = min(k, probs.shape[1])
    best = np.argsort(-probs, axis=1)[:, :k]
    return float(np.mean(np.any(best == labels[:, None], axis=1)))


def benchmark(model_path, *, data=None, runs=50, warmup=5, min_seconds=0.0, threads=None,
              delegate="auto", progress=None, tick=None):
    """Benchmark one .tflite file; with `data` (eval npz path or dict) also run every sample.
    progress(message) gets a line per phase; tick(phase, done, total) ("timing" | "eval")
    about every TICK_SECONDS.

    Returns a dict: latency_ms {mean,std,min,p50,p90,p99,max,runs,warmup,threads,init_ms,
    first_ms}, latency_samples_ms, peak_rss_mb, input_details, output_details, runtime,
    and with data: samples, outputs (list of float32 arrays [N, ...], one per model output)
    and, for a classification npz with labels, accuracy {metric: top1, value, top5}.
    """
    _require_numpy()
    if runs < 1:
        raise RunnerError(f"--runs must be >= 1, got {runs}")
    if warmup < 0:
        raise RunnerError(f"--warmup must be >= 0, got {warmup}")
    if threads is not None and not 1 <= int(threads) <= MAX_THREADS:
        raise RunnerError(f"--threads must be between 1 and {MAX_THREADS}, got {threads}")
    say = progress or (lambda message: None)
    if isinstance(data, (str, os.PathLike)):
        data = load_eval_data(os.fspath(data))

    start = time.perf_counter()
    interpreter = make_interpreter(model_path, threads=threads, delegate=delegate)
    _ensure_batch_one(interpreter)
    try:
        interpreter.allocate_tensors()
    except RuntimeError as exc:
        raise RunnerError(f"{model_path}: cannot allocate tensors ({_first_line(exc)})") from None
    init_ms = (time.perf_counter() - start) * 1e3

    inputs = interpreter.get_input_details()
    outputs = interpreter.get_output_details()
    if data is not None and len(inputs) != 1:
        raise RunnerError(f"{model_path}: eval data needs a single-input model, "
                          f"this one has {len(inputs)} inputs")
    if data is not None:
        want = [int(s) for s in inputs[0]["shape"][1:]]
        got = [int(s) for s in data["x"].shape[1:]]
        if want != got:
            raise RunnerError(f"{model_path}: model input is {want} but eval samples are {got}")

    # Latency input: the first real sample when there is one, else seeded random values.
    rng = np.random.default_rng(0)
    for detail in inputs:
        if data is not None:
            value = sample_input(data, 0, detail)
        else:
            value = _synthetic_input(detail, rng)
        interpreter.set_tensor(detail["index"], value)

    invoke = interpreter.invoke
    perf_counter = time.perf_counter
    try:
        t0 = perf_counter()
        invoke()
        first_ms = (perf_counter() - t0) * 1e3
    except RuntimeError as exc:
        raise RunnerError(f"{model_path}: inference failed ({_first_line(exc)})") from None
    for _ in range(warmup):
        invoke()
    say(f"timing {runs} runs" + (f" / {min_seconds:g} s" if min_seconds else ""))
    times = _timed_runs(invoke, runs=runs, min_seconds=min_seconds, first_ms=first_ms, tick=tick)

    result = {
        "model": os.fspath(model_path),
        "size_bytes": os.path.getsize(model_path),
        "runtime": _runtime_name(),
        "delegate": delegate,
        "machine": f"{platform.system()} {platform.machine()}",
        "cpu": cpu_name(),
        "emulation": emulation(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "latency_ms": _latency_stats(times, runs=runs, warmup=warmup, threads=threads,
                                     init_ms=init_ms, first_ms=first_ms),
        "latency_samples_ms": [round(t, 4) for t in times],
        "input_details": _describe(inputs),
        "output_details": _describe(outputs),
    }
    if data is not None:
        result.update(_run_eval(interpreter, inputs[0], outputs, data, say, tick))
    result["peak_rss_mb"] = peak_rss_mb()
    return result


def _timed_runs(invoke, *, runs, min_seconds, first_ms, tick):
    """Latencies in ms of `runs` invokes (and more until `min_seconds` have passed).

    The timed loop does nothing but invoke and read the clock, so the harness adds no
    measurable overhead over a bare invoke() loop (benchmarks/harness_overhead.py). With
    `tick`, runs go in bursts of about TICK_SECONDS and tick is called between bursts."""
    perf_counter = time.perf_counter
    burst = runs if tick is None else max(1, int(TICK_SECONDS * 1e3 / max(first_ms, 1e-3)))
    times = []
    append = times.append
    loop_start = perf_counter()
    while len(times) < runs or perf_counter() - loop_start < min_seconds:
        left = runs - len(times)
        # Past `runs`, --min-seconds is checked after every run (every burst with tick).
        count = min(burst, left) if left > 0 else (burst if tick is not None else 1)
        burst_start = perf_counter()
        for _ in range(count):
            t0 = perf_counter()
            invoke()
            append((perf_counter() - t0) * 1e3)
        if tick is not None:
            tick("timing", len(times), runs)
            # The first inference is slower than the rest: size the next burst from this one.
            elapsed = max(perf_counter() - burst_start, 1e-6)
            burst = max(1, min(burst * 10, int(count * TICK_SECONDS / elapsed)))
    return times


def _run_eval(interpreter, input_detail, output_details, data, say, tick=None):
    n = int(data["x"].shape[0])
    collected = [[] for _ in output_details]
    say(f"evaluating {n} samples")
    start = last_tick = time.perf_counter()
    for i in range(n):
        interpreter.set_tensor(input_detail["index"],
                               sample_input(data, i, input_detail))
        interpreter.invoke()
        for slot, detail in zip(collected, output_details):
            slot.append(dequantize_output(interpreter.get_tensor(detail["index"]), detail))
        if tick is not None and (i + 1 == n or time.perf_counter() - last_tick >= TICK_SECONDS):
            last_tick = time.perf_counter()
            tick("eval", i + 1, n)
    outputs = [np.concatenate(slot, axis=0) for slot in collected]
    found = {"samples": n, "eval_seconds": time.perf_counter() - start, "outputs": outputs}
    task = str(data["task"]) if "task" in data else None
    if task == "classification" and "labels" in data and outputs and outputs[0].ndim == 2:
        labels = np.asarray(data["labels"]).astype(np.int64)
        found["accuracy"] = {"metric": "top1", "value": top_k(outputs[0], labels, 1),
                             "top5": top_k(outputs[0], labels, 5)}
    return found


# ARM's "CPU part" numbers (implementer 0x41) for the cores Raspberry Pis and common boards
# use; /proc/cpuinfo on arm64 names no model, and the runner cannot rely on lscpu (whose
# table this follows, util-linux sys-utils/lscpu-arm.c) being installed on the device.
ARM_PARTS = {0xb76: "ARM1176", 0xc07: "Cortex-A7", 0xd03: "Cortex-A53", 0xd04: "Cortex-A35",
             0xd05: "Cortex-A55", 0xd07: "Cortex-A57", 0xd08: "Cortex-A72", 0xd09: "Cortex-A73",
             0xd0a: "Cortex-A75", 0xd0b: "Cortex-A76", 0xd0c: "Neoverse-N1", 0xd0d: "Cortex-A77",
             0xd40: "Neoverse-V1", 0xd41: "Cortex-A78", 0xd44: "Cortex-X1", 0xd46: "Cortex-A510",
             0xd47: "Cortex-A710", 0xd48: "Cortex-X2", 0xd49: "Neoverse-N2", 0xd4d: "Cortex-A715"}


def _arch_family(machine):
    """Architectures one kernel runs natively: a 64-bit kernel runs its 32-bit userland too
    (Raspberry Pi OS armhf on an aarch64 kernel is not emulation)."""
    if machine in ("x86_64", "amd64") or (len(machine) == 4 and machine[0] == "i" and machine.endswith("86")):
        return "x86"
    if machine in ("aarch64", "arm64") or machine.startswith("arm"):
        return "arm"
    return machine


def _read_text(path):
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.read()
    except OSError:
        return ""


def cpu_name(cpuinfo=None, board=None):
    """The CPU as the device describes it: "Raspberry Pi 5 Model B Rev 1.0, 4 x Cortex-A76",
    "8 x AMD EPYC", or None. Reads /proc/cpuinfo and the device-tree board model."""
    cpuinfo = _read_text("/proc/cpuinfo") if cpuinfo is None else cpuinfo
    board = _read_text("/proc/device-tree/model") if board is None else board
    fields = {}
    cores = 0
    for line in cpuinfo.splitlines():
        key, sep, value = line.partition(":")
        if not sep:
            continue
        key = key.strip()
        # "Model" (Raspberry Pi kernels: the board); x86's lower-case "model" is a number.
        key = key if key == "Model" else key.lower()
        cores += key == "processor"
        fields.setdefault(key, value.strip())
    name = None
    if fields.get("cpu implementer", "").lower() == "0x41":
        try:
            name = ARM_PARTS.get(int(fields.get("cpu part", ""), 16))
        except ValueError:
            pass
    name = name or fields.get("model name") or fields.get("cpu model") or fields.get("hardware")
    if name and cores > 1:
        name = f"{cores} x {name}"
    board = (board.strip("\x00 \n") or fields.get("Model", "")).strip()
    parts = [p for p in (board, name) if p]
    return ", ".join(parts) or None


def emulation(machine=None, kernel_arch=None, real_exe=None):
    """How this process is emulated, or None when it runs natively.

    Under user-mode emulation (qemu-user, e.g. via binfmt_misc) `uname -m` and /proc/self/exe
    are answered by the emulator and look like the guest's. Two things it does not rewrite:
    the kernel's own architecture (/proc/sys/kernel/arch, Linux >= 6.1) and the executable
    of this thread as /proc/self/task/TID/exe shows it (qemu-user intercepts only
    /proc/self/exe). Either one naming another machine is the signal.
    """
    machine = machine or platform.machine()
    if kernel_arch is None:
        kernel_arch = _read_text("/proc/sys/kernel/arch").strip()
    if real_exe is None:
        try:
            real_exe = os.readlink(f"/proc/self/task/{os.getpid()}/exe")
        except OSError:
            real_exe = ""
    if "qemu" in os.path.basename(real_exe):
        return f"qemu-user: {real_exe} runs this {machine} process" + (
            f" on an {kernel_arch} kernel" if kernel_arch else "")
    if kernel_arch and _arch_family(kernel_arch) != _arch_family(machine):
        return f"user-mode emulation: an {kernel_arch} kernel runs this {machine} process"
    return None


def _runtime_name():
    module, name = load_litert()
    try:
        from importlib.metadata import version
        return f"{name} {version(name.replace('_', '-'))}"
    except Exception:  # metadata missing on some device images; the name is enough
        return name


def save_outputs(path, outputs):
    """Write the dequantized outputs as output_0, output_1, ... (temp file + rename)."""
    tmp = f"{path}.tmp"
    with open(tmp, "wb") as handle:
        np.savez(handle, **{f"output_{i}": o for i, o in enumerate(outputs)})
    os.replace(tmp, path)


def save_json(path, result):
    tmp = f"{path}.tmp"
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump({k: v for k, v in result.items() if k != "outputs"}, handle, indent=2)
        handle.write("\n")
    os.replace(tmp, path)


def format_summary(result):
    lat = result["latency_ms"]
    lines = [
        f"model:    {result['model']} ({result['size_bytes'] / 2**20:.2f} MiB)",
        f"runtime:  {result['runtime']}, delegate {result['delegate']}, threads {lat['threads']}",
        f"device:   {result['machine']}" + (f", {result['cpu']}" if result.get("cpu") else ""),
        f"init:     {lat['init_ms']:.2f} ms   first inference: {lat['first_ms']:.2f} ms",
        f"latency:  p50 {lat['p50']:.3f} ms  p90 {lat['p90']:.3f} ms  p99 {lat['p99']:.3f} ms  "
        f"mean {lat['mean']:.3f} ± {lat['std']:.3f} ms  ({lat['runs']} runs, {lat['warmup']} warmup)",
        f"fps:      {1000.0 / lat['p50']:.1f} (from p50)" if lat["p50"] > 0 else "fps: n/a",
    ]
    if result.get("emulation"):
        lines.append(f"EMULATED: {result['emulation']}; these timings are not the device's")
    if result.get("peak_rss_mb") is not None:
        lines.append(f"peak RSS: {result['peak_rss_mb']:.1f} MiB")
    if "accuracy" in result:
        acc = result["accuracy"]
        lines.append(f"accuracy: top-1 {acc['value']:.4f}  top-5 {acc['top5']:.4f} "
                     f"on {result['samples']} samples")
    elif "samples" in result:
        lines.append(f"eval:     {result['samples']} samples run (score them on the host)")
    return "\n".join(lines)


def build_parser():
    parser = argparse.ArgumentParser(
        description="Benchmark a .tflite model with LiteRT: latency (like benchmark_model) "
                    "and, with --data, accuracy on an edgecv eval npz.")
    parser.add_argument("model", help="path to MODEL.tflite")
    parser.add_argument("--data", help="eval npz written by `edgecv bench` (x, mean, std, labels)")
    parser.add_argument("--runs", type=int, default=50, help="timed runs (default 50)")
    parser.add_argument("--warmup", type=int, default=5, help="warmup runs (default 5)")
    parser.add_argument("--min-seconds", type=float, default=0.0,
                        help="keep timing until this many seconds have passed too")
    parser.add_argument("--threads", type=int, default=None, help="interpreter threads")
    parser.add_argument("--delegate", choices=DELEGATES, default="auto")
    parser.add_argument("--json", help="write the result (without outputs) to this JSON file")
    parser.add_argument("--outputs", help="write the dequantized outputs to this npz file")
    parser.add_argument("--quiet", action="store_true", help="no summary on stdout")
    parser.add_argument("--progress-lines", action="store_true",
                        help=f"print '{PROGRESS_PREFIX.strip()} PHASE DONE TOTAL' lines on stderr "
                             "(for a program that draws its own progress bar)")
    return parser


def progress_line(phase, done, total):
    """The --progress-lines line for one tick (edgecv's host side parses it back)."""
    return f"{PROGRESS_PREFIX}{phase} {int(done)} {int(total)}"


def _print_progress_line(phase, done, total):
    print(progress_line(phase, done, total), file=sys.stderr, flush=True)


class _TerminalTicks:
    """Bars on a terminal: tqdm when the device has it (optional: the runner needs only numpy
    and LiteRT), else one updating line."""

    def __init__(self, stream):
        self.stream, self.bars, self.phase = stream, {}, None
        try:
            from tqdm import tqdm
        except ImportError:
            tqdm = None
        self.tqdm = tqdm

    def __call__(self, phase, done, total):
        if self.tqdm is not None:
            bar = self.bars.get(phase)
            if bar is None:
                bar = self.bars[phase] = self.tqdm(total=total, desc=phase, unit="run" if phase == "timing"
                                                   else "sample", file=self.stream, leave=False)
            bar.update(done - bar.n)
            return
        self.stream.write(f"\r{phase}: {done}/{total}")
        self.stream.flush()
        self.phase = phase

    def close(self):
        for bar in self.bars.values():
            bar.close()
        if self.phase is not None:
            self.stream.write("\r\033[K")
            self.stream.flush()


def main(argv=None):
    args = build_parser().parse_args(argv)
    progress = None if args.quiet else (lambda m: print(m, file=sys.stderr, flush=True))
    ticks = None
    if args.progress_lines:
        tick = _print_progress_line
    elif not args.quiet and sys.stderr.isatty():
        tick = ticks = _TerminalTicks(sys.stderr)
    else:
        tick = None
    try:
        result = benchmark(args.model, data=args.data, runs=args.runs, warmup=args.warmup,
                           min_seconds=args.min_seconds, threads=args.threads,
                           delegate=args.delegate, progress=progress, tick=tick)
        if args.json:
            save_json(args.json, result)
        if args.outputs and "outputs" in result:
            save_outputs(args.outputs, result["outputs"])
    except RunnerError as exc:
        if ticks is not None:
            ticks.close()
            ticks = None
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        if ticks is not None:
            ticks.close()
    if not args.quiet:
        print(format_summary(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
