"""Seed variance of a recipe: train it once per seed, report mean / min / max per format.

    python benchmarks/seed_variance.py recipes/fashion_mnist_mobilenet_v2.yaml \\
        --seeds 0 1 2 --out /tmp/seeds/fmnist
    python benchmarks/seed_variance.py RECIPE --seeds 0 1 2 --out DIR --set train.epochs=2
    python benchmarks/seed_variance.py RECIPE --seeds 0 1 2 --out DIR --measure-only

Each seed is one `edgecv train RECIPE --out DIR/seed-N --set seed=N` in its own process
(a fresh TensorFlow: op determinism and thread pools are process-wide). The seed moves
the initial weights, the validation split, the shuffle order and the augmentation draws.
The numbers come from each run's own report.json (the recipe's bench stage: the float
Keras reference and every exported file scored on the same eval set) and its
train/history.csv (training seconds); nothing is re-measured here. A seed whose run
folder already holds a report.json from the same training (recipe digest without the
export/bench sections) is reused, so an
interrupted benchmark continues where it stopped (`--retrain` trains it again).

The table: one row per seed and format, then mean / min / max over the seeds, and the
recipe's `min_metric` gate checked on every seed (a recipe promises its gate on every
seed, not on its best one).
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def run_seed(recipe: Path, out: Path, seed: int, overrides: list[str], log) -> float:
    """Train one seed in a child process; returns its wall seconds."""
    command = [sys.executable, "-m", "edgecv.cli", "train", str(recipe), "--out", str(out),
               "--set", f"seed={seed}"]
    command += [part for item in overrides for part in ("--set", item)]
    if (out / ".edgecv-run").exists():
        command.append("--force")  # our own earlier, incomplete run of this seed
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    log(f"$ {' '.join(command)}")
    started = time.perf_counter()
    with open(out.parent / f"seed-{seed}.log", "w", encoding="utf-8") as handle:
        code = subprocess.call(command, env=env, stdout=handle, stderr=subprocess.STDOUT)
    wall = time.perf_counter() - started
    if code not in (0, 1):  # 1 = a gate failed: the run is complete and is measured
        raise SystemExit(f"seed {seed}: edgecv train exited with {code}; see {out.parent / f'seed-{seed}.log'}")
    return wall


def read_seed(run_dir: Path) -> dict:
    """Per format: metric value, the float reference, size; plus training seconds and kept epochs."""
    report = json.loads((run_dir / "report.json").read_text(encoding="utf-8"))
    formats = {}
    for entry in report["entries"]:
        accuracy = entry.get("accuracy") or {}
        formats[entry["format"]] = {"value": accuracy.get("value"), "reference": accuracy.get("reference"),
                                    "metric": accuracy.get("metric"), "size_bytes": entry.get("size_bytes"),
                                    "passed": entry.get("passed")}
    seconds: dict[str, float] = {}
    with open(run_dir / "train" / "history.csv", newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            seconds[row["stage"]] = seconds.get(row["stage"], 0.0) + float(row["seconds"])
    state = json.loads((run_dir / "train" / "state.json").read_text(encoding="utf-8"))
    kept = {name: stage.get("best_epoch") for name, stage in state.get("stages", {}).items()}
    return {"formats": formats, "train_seconds": seconds, "kept_epoch": kept, "passed": report.get("passed")}


def same_recipe(run_dir: Path, recipe: Path, seed: int, overrides: list[str]) -> bool:
    """The run folder trained this recipe with this seed and these overrides. The training
    digest leaves out export/bench: a changed gate is checked here, not retrained for."""
    from edgecv.recipe import load_recipe

    if not (run_dir / "report.json").exists() or not (run_dir / "recipe.yaml").exists():
        return False
    wanted = load_recipe(recipe, overrides=[f"seed={seed}", *overrides])
    return load_recipe(run_dir / "recipe.yaml").training_digest() == wanted.training_digest()


def spread(values: list[float]) -> str:
    return f"{statistics.fmean(values):.4f} | {min(values):.4f} | {max(values):.4f}"


def print_table(results: dict[int, dict], gate: float | None, print_=print) -> bool:
    seeds = sorted(results)
    formats = sorted({f for r in results.values() for f in r["formats"]})
    metric = next((v["metric"] for r in results.values() for v in r["formats"].values() if v["metric"]), "metric")
    print_(f"\nper seed ({metric}; 'float' = the float Keras model on the same eval set):")
    print_("| seed | float | " + " | ".join(formats) + " | size KiB (" + ", ".join(formats) +
           ") | train min | kept epoch |")
    print_("|---:|---:|" + "---:|" * len(formats) + "---|---:|---|")
    for seed in seeds:
        r = results[seed]
        first = next(iter(r["formats"].values()))
        cells = [f"{r['formats'].get(f, {}).get('value') or float('nan'):.4f}" for f in formats]
        sizes = ", ".join(f"{(r['formats'].get(f, {}).get('size_bytes') or 0) / 1024:.0f}" for f in formats)
        kept = ", ".join(f"{k} {v}" for k, v in r["kept_epoch"].items())
        print_(f"| {seed} | {first['reference']:.4f} | " + " | ".join(cells) +
               f" | {sizes} | {sum(r['train_seconds'].values()) / 60:.1f} | {kept} |")
    print_(f"\nover {len(seeds)} seeds ({', '.join(map(str, seeds))}):")
    print_("| model | mean | min | max |")
    print_("|---|---:|---:|---:|")
    print_(f"| float Keras | {spread([next(iter(r['formats'].values()))['reference'] for r in results.values()])} |")
    for fmt in formats:
        values = [r["formats"][fmt]["value"] for r in results.values() if r["formats"].get(fmt, {}).get("value") is not None]
        if values:
            print_(f"| {fmt} | {spread(values)} |")
    minutes = [sum(r["train_seconds"].values()) / 60 for r in results.values()]
    print_(f"| training minutes | {statistics.fmean(minutes):.1f} | {min(minutes):.1f} | {max(minutes):.1f} |")
    if gate is None:
        return all(r["passed"] for r in results.values())
    ok = True
    for fmt in formats:
        worst = min(r["formats"][fmt]["value"] for r in results.values())
        passed = worst >= gate
        ok = ok and passed
        print_(f"gate min_metric {gate}: {fmt} worst seed {worst:.4f} (margin {worst - gate:+.4f}) "
               f"{'PASS' if passed else 'FAIL'}")
    return ok


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("recipe", type=Path)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--out", type=Path, required=True, help="one sub-folder seed-N per seed")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--measure-only", action="store_true", help="read existing runs, train nothing")
    parser.add_argument("--retrain", action="store_true", help="train every seed even if its report exists")
    parser.add_argument("--json", type=Path, help="also write the numbers here")
    args = parser.parse_args(argv)

    from edgecv.recipe import load_recipe

    recipe = load_recipe(args.recipe, overrides=args.overrides)
    args.out.mkdir(parents=True, exist_ok=True)
    log = lambda line: print(line, flush=True)
    log(f"recipe {args.recipe} ({recipe.name}), seeds {args.seeds}, out {args.out}, load {os.getloadavg()[0]:.1f}")
    results: dict[int, dict] = {}
    for seed in args.seeds:
        run_dir = args.out / f"seed-{seed}"
        if not args.measure_only and (args.retrain or not same_recipe(run_dir, args.recipe, seed, args.overrides)):
            wall = run_seed(args.recipe, run_dir, seed, args.overrides, log)
            log(f"seed {seed}: done in {wall / 60:.1f} min wall (load {os.getloadavg()[0]:.1f})")
        if not (run_dir / "report.json").exists():
            log(f"seed {seed}: no report.json in {run_dir}; left out")
            continue
        results[seed] = read_seed(run_dir)
        log(f"seed {seed}: " + ", ".join(f"{f} {v['value']:.4f}" for f, v in results[seed]["formats"].items()
                                         if v["value"] is not None))
    if not results:
        raise SystemExit("no finished seed to report")
    gates = recipe.bench.gates if recipe.bench is not None else {}
    passed = print_table(results, gates.get("min_metric") if isinstance(gates, dict) else None)
    if args.json:
        from edgecv.fileio import write_json

        write_json(args.json, {"recipe": str(args.recipe), "overrides": args.overrides,
                               "seeds": {str(k): v for k, v in results.items()}})
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
