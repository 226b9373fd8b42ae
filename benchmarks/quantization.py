"""Quantization variants of one recipe in one table: float, PTQ int8 (100 / 500 calibration
images), QAT int8, pruned 50 % + PQAT int8.

    python benchmarks/quantization.py recipes/quickstart.yaml --out /tmp/quant/quick
    python benchmarks/quantization.py RECIPE --out DIR --set train.epochs=1 --set qat.epochs=1 \\
        --variants float ptq100 qat --json DIR/numbers.json

How each variant is produced (each command in its own process; logs in DIR/<variant>.log):
- float + ptq100: `edgecv train DIR/float.yaml --out DIR/float`. DIR/float.yaml is the
  recipe with the --set values applied, its prune/qat stages removed and
  export {formats: [float32, int8], calibration_samples: 100}. Its report.json holds the
  float Keras reference (row "float", size and p50 of its float32 .tflite) and the
  post-training int8 file (row "ptq100").
- ptq500: `edgecv export DIR/float --format int8 --calibration-samples 500 --out DIR/ptq500/export`,
  then `edgecv bench DIR/ptq500/export/NAME_int8.tflite --data DIR/float/eval.npz
  --reference DIR/float/model.keras --runs/--warmup/--threads (the recipe's bench) --json
  DIR/ptq500/report.json`: the same eval set and the same float model as the float run.
- qat: DIR/float copied to DIR/qat (its report.*, export/ removed), then
  `edgecv train DIR/qat.yaml --out DIR/qat --resume`, DIR/qat.yaml = DIR/float.yaml plus the
  recipe's qat section (or the QAT defaults). `--resume` keeps the finished train stage and
  runs the added stage from its weights (edgecv/resume.py), then exports and benches.
- pqat: the same in DIR/pqat with a prune section (the recipe's, target_sparsity forced to
  0.5) and the qat section added: the QAT after a prune stage keeps the zeros
  (edgecv/train/stages.py, preserve_sparsity).
  So QAT and PQAT start from the very float weights of the float row (resume with added
  stages, not init_from).

The float row's main metric is the float Keras model (the float run's accuracy.reference);
report.json keeps only that one number of the Keras model, so the float row's mAP@0.5:0.95 /
per-class IoU, size and p50 are those of the float run's float32 .tflite (same eval set).
Every number in the table is read from a report.json edgecv wrote (accuracy.value, the float
reference, the task's extra metrics, size_bytes, latency_ms.p50); the script only takes
differences ("delta" = variant minus the float row, in points) and reads the calibration image
count from each export's log line ("export: calibrating on N training images": with a small
training set both PTQ rows may calibrate on the same N). A variant whose folder already holds
a report from the same derived recipe is reused (`--retrain` redoes it); a new float run
redoes the variants built on it. --out must be new, empty, or a folder this script made.
A variant whose edgecv command fails (exit code other than 0 or 1 = a failed gate) is a
"FAILED" line under the table and the script exits 1; the other variants still run. A
failed float run ends the script (exit 2): every other variant starts from it.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MARKER = ".edgecv-quantization"          # written into --out: the folder is ours to reuse
VARIANTS = ("float", "ptq100", "ptq500", "qat", "pqat")
BUILT_ON_FLOAT = ("ptq500", "qat", "pqat")
CALIBRATION = {"ptq100": 100, "ptq500": 500}
PRUNE_SPARSITY = 0.5
LABELS = {"float": "float (Keras)", "ptq100": "PTQ int8, 100 calib", "ptq500": "PTQ int8, 500 calib",
          "qat": "QAT int8", "pqat": "prune 50% + PQAT int8"}
CALIB_LINE = re.compile(r"export: calibrating on (\d+) training images")


# ---------------------------------------------------------------- derived recipes (TF-free)
def derived_recipes(resolved: dict) -> dict[str, dict]:
    """The recipe dicts the runs use, from the resolved recipe (`Recipe.to_dict()`, --set
    values applied): "float" without prune/qat, "qat" and "pqat" = float + added stages."""
    base = {k: v for k, v in resolved.items() if k not in ("prune", "qat")}
    base["export"] = {**(resolved.get("export") or {}), "formats": ["float32", "int8"],
                      "calibration_samples": CALIBRATION["ptq100"]}
    qat = dict(resolved.get("qat") or {})
    prune = {**(resolved.get("prune") or {}), "target_sparsity": PRUNE_SPARSITY}
    return {"float": base, "qat": {**base, "qat": qat}, "pqat": {**base, "prune": prune, "qat": qat}}


def owned_out(out: Path) -> bool:
    """--out may be used: new, empty, or made by this script (its marker inside)."""
    return not out.exists() or (out.is_dir() and (not any(out.iterdir()) or (out / MARKER).exists()))


# ---------------------------------------------------------------- reading reports (TF-free)
def entry_row(entry: dict, *, value=None) -> dict:
    """One table row from a report.json entry: the metric(s), size and p50."""
    acc = entry.get("accuracy") or {}
    row = {"format": entry.get("format"), "metric": acc.get("metric"),
           "value": acc.get("value") if value is None else value,
           "own_reference": acc.get("reference"), "size_bytes": entry.get("size_bytes"),
           "p50_ms": (entry.get("latency_ms") or {}).get("p50"), "status": entry.get("status")}
    if "map50_95" in acc:
        row["map50_95"] = acc["map50_95"]
    if acc.get("per_class_iou"):
        row["per_class_iou"] = dict(acc["per_class_iou"])
    return row


def report_entry(report: dict, fmt: str) -> dict | None:
    return next((e for e in report.get("entries", []) if e.get("format") == fmt), None)


def rows_from_reports(reports: dict[str, dict], calibration: dict[str, int | None]) -> dict[str, dict]:
    """Variant -> row. reports: "float" (the float run, also holding ptq100), "ptq500",
    "qat", "pqat" -> report.json content; the int8 entry of each is its row, the float row
    is the float run's Keras reference with its float32 file's size, p50 and extra metrics."""
    rows: dict[str, dict] = {}
    float_report = reports.get("float")
    if float_report is not None:
        f32 = report_entry(float_report, "float32")
        if f32 is not None:
            rows["float"] = entry_row(f32, value=(f32.get("accuracy") or {}).get("reference"))
            rows["float"]["extras_from"] = "float32 .tflite"
    for variant, source in (("ptq100", "float"), ("ptq500", "ptq500"), ("qat", "qat"), ("pqat", "pqat")):
        report = reports.get(source)
        entry = report_entry(report, "int8") if report is not None else None
        if entry is not None:
            rows[variant] = entry_row(entry)
            rows[variant]["calibration_images"] = calibration.get(variant)
    reference = rows.get("float", {})
    for row in rows.values():
        for key in ("value", "map50_95"):
            if row.get(key) is not None and reference.get(key) is not None:
                row[f"delta_{key}"] = (row[key] - reference[key]) * 100
    return rows


def table(rows: dict[str, dict]) -> list[str]:
    """The markdown table, one line per variant in VARIANTS order."""
    first = next(iter(rows.values()))
    metric = first.get("metric") or "metric"
    extra = any("map50_95" in r for r in rows.values())
    classes = list(next((r["per_class_iou"] for r in rows.values() if r.get("per_class_iou")), {}))
    head = ["variant", metric, "delta pts"] + (["mAP@0.5:0.95", "delta pts"] if extra else []) + \
        [f"IoU {c}" for c in classes] + ["size KiB", "p50 ms", "calib imgs"]
    lines = ["| " + " | ".join(head) + " |", "|---|" + "---:|" * (len(head) - 1)]

    def num(value, spec=".4f"):
        return format(value, spec) if isinstance(value, (int, float)) else "-"

    for variant in VARIANTS:
        r = rows.get(variant)
        if r is None:
            continue
        cells = [LABELS[variant], num(r.get("value")), num(r.get("delta_value"), "+.2f")]
        if extra:
            cells += [num(r.get("map50_95")), num(r.get("delta_map50_95"), "+.2f")]
        cells += [num((r.get("per_class_iou") or {}).get(c), ".3f") for c in classes]
        cells += [num((r.get("size_bytes") or 0) / 1024, ".0f") if r.get("size_bytes") else "-",
                  num(r.get("p50_ms"), ".3f"), str(r.get("calibration_images") or "-")]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def calibration_images(log: Path) -> int | None:
    """N of the last "export: calibrating on N training images" line of an edgecv log."""
    if not log.is_file():
        return None
    found = CALIB_LINE.findall(log.read_text(encoding="utf-8", errors="replace"))
    return int(found[-1]) if found else None


# ---------------------------------------------------------------- running edgecv
class VariantFailed(Exception):
    """An edgecv command of one variant exited with an error (not a failed gate)."""


def edgecv(args: list[str], log_path: Path, log) -> None:
    command = [sys.executable, "-m", "edgecv.cli", *args]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    log(f"$ edgecv {' '.join(args)}")
    with open(log_path, "a", encoding="utf-8") as handle:
        code = subprocess.call(command, env=env, stdout=handle, stderr=subprocess.STDOUT)
    if code not in (0, 1):  # 1 = a gate failed: the report is written and is measured
        raise VariantFailed(f"edgecv {args[0]} exited with {code}; see {log_path}")


def same_recipe(run_dir: Path, wanted: dict) -> bool:
    import yaml

    from edgecv.recipe import dump_recipe, load_recipe, validate_recipe

    if not (run_dir / "report.json").is_file() or not (run_dir / "recipe.yaml").is_file():
        return False
    as_run = yaml.safe_load(dump_recipe(load_recipe(run_dir / "recipe.yaml")))
    return as_run == yaml.safe_load(dump_recipe(validate_recipe(wanted)))


def write_recipe(path: Path, recipe: dict) -> None:
    import yaml

    from edgecv.fileio import write_text

    write_text(path, yaml.safe_dump(recipe, sort_keys=False))


def run_float(out: Path, recipes: dict, retrain: bool, log) -> bool:
    """Train the float run unless it is already there; True when it was (re)trained."""
    run = out / "float"
    if not retrain and same_recipe(run, recipes["float"]):
        log("float: reused")
        return False
    if run.exists():
        shutil.rmtree(run)
    (out / "float.log").unlink(missing_ok=True)
    edgecv(["train", str(out / "float.yaml"), "--out", str(run)], out / "float.log", log)
    return True


def run_added_stage(out: Path, variant: str, recipes: dict, redo: bool, log) -> None:
    """qat / pqat: a copy of the float run resumed with the added stage(s)."""
    run = out / variant
    if not redo and same_recipe(run, recipes[variant]):
        log(f"{variant}: reused")
        return
    if run.exists():
        shutil.rmtree(run)
    shutil.copytree(out / "float", run)
    for name in ("report.json", "report.md", "export"):
        target = run / name
        shutil.rmtree(target) if target.is_dir() else target.unlink(missing_ok=True)
    (out / f"{variant}.log").unlink(missing_ok=True)
    edgecv(["train", str(out / f"{variant}.yaml"), "--out", str(run), "--resume"], out / f"{variant}.log", log)


def run_ptq500(out: Path, recipe: dict, redo: bool, log) -> None:
    folder, float_run = out / "ptq500", out / "float"
    if not redo and (folder / "report.json").is_file():
        log("ptq500: reused")
        return
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    log_path = out / "ptq500.log"
    log_path.unlink(missing_ok=True)
    edgecv(["export", str(float_run), "--format", "int8", "--calibration-samples",
            str(CALIBRATION["ptq500"]), "--out", str(folder / "export")], log_path, log)
    tflite = next((folder / "export").glob("*_int8.tflite"))
    model = next(p for p in (float_run / "model.keras", float_run / "model.h5") if p.is_file())
    bench = recipe.get("bench") or {}
    command = ["bench", str(tflite), "--data", str(float_run / "eval.npz"), "--reference", str(model),
               "--json", str(folder / "report.json")]
    for key in ("runs", "warmup", "threads"):
        if bench.get(key) is not None:
            command += [f"--{key}", str(bench[key])]
    edgecv(command, log_path, log)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("recipe", type=Path)
    parser.add_argument("--out", type=Path, required=True, help="one sub-folder per run")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="passed to every run (applied before the stages are derived)")
    parser.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS))
    parser.add_argument("--retrain", action="store_true", help="redo every variant even if its report exists")
    parser.add_argument("--json", type=Path, help="also write the rows here")
    args = parser.parse_args(argv)

    from edgecv.errors import EdgecvError
    from edgecv.recipe import load_recipe, validate_recipe

    if not owned_out(args.out):
        print(f"error: --out {args.out}: not empty and not made by benchmarks/quantization.py "
              f"(no {MARKER}); pick a new folder", file=sys.stderr)
        return 2
    try:
        resolved = load_recipe(args.recipe, overrides=args.overrides).to_dict()
        recipes = derived_recipes(resolved)
        for recipe in recipes.values():
            validate_recipe(recipe)
    except EdgecvError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / MARKER).write_text("made by benchmarks/quantization.py\n", encoding="utf-8")
    for name, recipe in recipes.items():
        write_recipe(args.out / f"{name}.yaml", recipe)
    log = lambda line: print(line, flush=True)
    log(f"recipe {args.recipe} ({resolved['name']}, {resolved['task']}), variants {args.variants}, "
        f"out {args.out}, load {os.getloadavg()[0]:.1f}")

    wanted = set(args.variants)
    try:
        redo = run_float(args.out, recipes, args.retrain, log) or args.retrain
    except VariantFailed as exc:    # every other variant starts from the float run
        print(f"error: float: {exc}", file=sys.stderr)
        return 2
    failed: dict[str, str] = {}     # one variant's error is a row of the table, not the end of it
    steps = [("ptq500", lambda: run_ptq500(args.out, resolved, redo, log))] + \
        [(v, lambda v=v: run_added_stage(args.out, v, recipes, redo, log)) for v in ("qat", "pqat")]
    for variant, run in steps:
        if variant in wanted:
            try:
                run()
            except VariantFailed as exc:
                failed[variant] = str(exc)
                log(f"{variant}: FAILED: {exc}")

    reports = {}
    for source, path in (("float", "float/report.json"), ("ptq500", "ptq500/report.json"),
                         ("qat", "qat/report.json"), ("pqat", "pqat/report.json")):
        if (source in wanted or source == "float") and source not in failed and (args.out / path).is_file():
            reports[source] = json.loads((args.out / path).read_text(encoding="utf-8"))
    calibration = {v: calibration_images(args.out / f"{'float' if v == 'ptq100' else v}.log")
                   for v in CALIBRATION}
    rows = {k: v for k, v in rows_from_reports(reports, calibration).items() if k in wanted}
    if not rows:
        print("error: no variant produced a report; see the logs in " + str(args.out), file=sys.stderr)
        return 2
    samples = next(((e.get("accuracy") or {}).get("samples") for e in reports["float"]["entries"]), None)
    command = shlex.join(["python", "benchmarks/quantization.py", str(args.recipe), "--out", str(args.out),
                          *[part for o in args.overrides for part in ("--set", o)],
                          *(["--variants", *args.variants] if set(args.variants) != set(VARIANTS) else [])])
    print()
    print(f"recipe {args.recipe} ({resolved['task']}), eval set {samples} samples "
          f"({args.out / 'float' / 'eval.npz'}); delta = points vs the float row (its main metric: the "
          f"Keras model; its other columns: the float32 .tflite); `{command}`")
    for line in table(rows):
        print(line)
    for variant, message in failed.items():
        print(f"| {LABELS[variant]} | FAILED: {message} |")
    if args.json:
        from edgecv.fileio import write_json

        write_json(args.json, {"recipe": str(args.recipe), "overrides": args.overrides,
                               "eval_samples": samples, "rows": rows, "failed": failed})
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
