"""int8 parity across architectures: the same .tflite files and samples on the host (x86_64)
and on the emulated Raspberry Pi (aarch64 LiteRT under qemu-user, scripts/pi_emulator.py).

    sudo python benchmarks/pi_parity.py RUN_DIR [RUN_DIR ...]        # each an `edgecv train` run
    sudo python benchmarks/pi_parity.py --compat RUN_DIR             # + numpy / Python versions
    sudo python benchmarks/pi_parity.py --suite trixie --compat RUN_DIR   # Python 3.13 board

For every run's int8 file and its eval.npz: the dequantized outputs of both machines compared
sample by sample (exactly equal, or the max difference in the output's quantized steps), the
agreement of the predicted class (per sample, per pixel for segmentation), and the task's metric scored by edgecv on the host
from each machine's outputs (`edgecv bench FILE --data eval.npz [--remote ...]`). --compat
runs the runner on the board with each numpy it carries (`python3-numpy<version>` wrappers)
and reports the Python / numpy / LiteRT versions the board itself printed. Latency is
reported for completeness only: under emulation it is qemu's, not a Pi's.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def quantized_steps(board_outputs, host_outputs, output_details) -> tuple[bool, int, float]:
    """(all outputs bit-equal, max |difference| in each output's quantization steps, fraction
    of output values that differ)."""
    equal, worst, differing, total = True, 0, 0, 0
    for board, host, detail in zip(board_outputs, host_outputs, output_details):
        equal &= bool(np.array_equal(board, host))
        scale = detail.get("scale") or 0.0
        diff = np.abs(board.astype(np.float64) - host.astype(np.float64))
        steps = np.rint(diff / scale) if scale else diff
        worst = max(worst, int(steps.max()) if steps.size else 0)
        differing += int(np.count_nonzero(diff))
        total += diff.size
    return equal, worst, differing / max(total, 1)


def parity_row(run_dir: Path, target, *, runs: int) -> dict:
    from edgecv.bench import bench_file, runner
    from edgecv.bench.remote import remote_benchmark
    from edgecv.export.metadata import read_metadata

    int8 = next(iter(sorted((run_dir / "export").glob("*_int8.tflite"))), None)
    eval_npz = run_dir / "eval.npz"
    if int8 is None or not eval_npz.is_file():
        raise SystemExit(f"{run_dir}: needs export/*_int8.tflite and eval.npz (an `edgecv train` run)")
    task = (read_metadata(int8) or {}).get("task", "?")
    host = runner.benchmark(str(int8), data=str(eval_npz), runs=runs, warmup=2, threads=1)
    started = time.perf_counter()
    board = remote_benchmark(target, int8, eval_npz, runs=runs, warmup=2, threads=1)
    board_seconds = time.perf_counter() - started
    equal, steps, differing = quantized_steps(board["outputs"], host["outputs"], host["output_details"])
    row = {"run": str(run_dir), "file": int8.name, "task": task, "samples": host["samples"],
           "bit_equal": equal, "max_steps": steps, "differing": differing,
           "board_machine": board["machine"],
           "board_cpu": board["cpu"], "board_runtime": board["runtime"],
           "board_python": board["python"], "board_numpy": board["numpy"],
           "emulated": board["emulation"], "host_machine": host["machine"],
           "host_runtime": host["runtime"], "host_p50_ms": host["latency_ms"]["p50"],
           "board_p50_ms": board["latency_ms"]["p50"], "board_seconds": round(board_seconds, 1)}
    if task in ("classification", "segmentation"):   # per-sample / per-pixel class agreement
        row["argmax_agree"] = float(np.mean(board["outputs"][0].argmax(-1) == host["outputs"][0].argmax(-1)))
    # The product path: edgecv's scorer on each machine's outputs (`edgecv bench --remote`).
    for where, remote in (("host", None), ("board", target)):
        entry = bench_file(int8, eval_npz, runs=runs, warmup=2, threads=1, remote=remote)
        row[f"{where}_metric"] = entry.accuracy["metric"]
        row[f"{where}_value"] = entry.accuracy["value"]
    return row


def compat_rows(run_dir: Path, target, pythons: list[str]) -> list[dict]:
    """The runner under each of the board's Pythons / numpys: versions and outputs vs host."""
    from dataclasses import replace

    from edgecv.bench import runner
    from edgecv.bench.remote import remote_benchmark

    int8 = next(iter(sorted((run_dir / "export").glob("*_int8.tflite"))))
    eval_npz = run_dir / "eval.npz"
    host = runner.benchmark(str(int8), data=str(eval_npz), runs=3, warmup=1, threads=1)
    rows = []
    for python in pythons:
        board = remote_benchmark(replace(target, python=python), int8, eval_npz, runs=3,
                                 warmup=1, threads=1)
        equal, steps, _ = quantized_steps(board["outputs"], host["outputs"], host["output_details"])
        rows.append({"python_command": python, "python": board["python"], "numpy": board["numpy"],
                     "runtime": board["runtime"], "machine": board["machine"],
                     "bit_equal": equal, "max_steps": steps,
                     "accuracy": (board.get("accuracy") or {}).get("value")})
    return rows


def markdown(rows: list[dict], compat: list[dict]) -> str:
    lines = ["| file | task | samples | outputs board vs host | class agreement | metric | host | board |",
             "|---|---|---:|---|---:|---|---:|---:|"]
    for r in rows:
        same = "bit-equal" if r["bit_equal"] else (
            f"max {r['max_steps']} step(s), {r['differing']:.2e} of values differ")
        agree = f"{r['argmax_agree']:.6f}" if "argmax_agree" in r else "—"
        lines.append(f"| {r['file']} | {r['task']} | {r['samples']} | {same} | {agree} | "
                     f"{r['host_metric']} | {r['host_value']:.4f} | {r['board_value']:.4f} |")
    if rows:
        r = rows[0]
        lines += ["", (f"board: {r['board_machine']}, {r['board_cpu']}, {r['board_runtime']}, "
                       f"Python {r['board_python']}, numpy {r['board_numpy']}; emulated: {r['emulated']}"),
                  f"host: {r['host_machine']}, {r['host_runtime']}"]
    if compat:
        lines += ["", "| board python | Python | numpy | LiteRT | outputs vs host | top-1 |",
                  "|---|---|---|---|---|---:|"]
        for c in compat:
            same = "bit-equal" if c["bit_equal"] else f"max {c['max_steps']} step(s)"
            acc = "—" if c["accuracy"] is None else f"{c['accuracy']:.4f}"
            lines.append(f"| `{c['python_command']}` | {c['python']} | {c['numpy']} | {c['runtime']} | "
                         f"{same} | {acc} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs_dirs", nargs="+", type=Path, metavar="RUN_DIR")
    parser.add_argument("--suite", default="bookworm", help="board's Debian release (bookworm | trixie)")
    parser.add_argument("--cpu", default="cortex-a76", help="cortex-a76 (Pi 5) | cortex-a72 (Pi 4)")
    parser.add_argument("--runs", type=int, default=20, help="timed runs per file (default 20)")
    parser.add_argument("--compat", action="store_true",
                        help="also run the first file under every numpy the board carries")
    parser.add_argument("--json", type=Path, help="write the rows here too")
    args = parser.parse_args(argv)

    import edgecv  # noqa: F401  (TF_USE_LEGACY_KERAS before anything imports TensorFlow)
    from edgecv.bench.remote import RemoteTarget

    sys.path.insert(0, str(REPO))     # scripts/ and this checkout's edgecv
    from scripts import pi_emulator as emulator
    spec = emulator.BoardSpec(suite=args.suite)
    started = time.perf_counter()
    emulator.build(spec)
    print(f"board ready in {time.perf_counter() - started:.0f} s: {emulator.board_dir(spec)}", file=sys.stderr)
    with emulator.start(spec, cpu=args.cpu, lifetime=3600) as board:
        target = RemoteTarget.parse(board.target, key_filename=str(board.key),
                                    known_hosts=str(board.known_hosts), timeout=60)
        rows = [parity_row(run_dir, target, runs=args.runs) for run_dir in args.runs_dirs]
        compat = []
        if args.compat:
            pythons = ["python3"] + [f"python3-numpy{v}" for v in spec.extra_numpy]
            compat = compat_rows(args.runs_dirs[0], target, pythons)
    print(markdown(rows, compat))
    if args.json:
        args.json.write_text(json.dumps({"parity": rows, "compat": compat}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
