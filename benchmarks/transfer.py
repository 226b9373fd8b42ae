"""What transfer buys with few labels: pretrain on Fashion-MNIST, fine-tune on OpenCV's digits.

    python benchmarks/transfer.py --out /tmp/transfer          # pretrain + 6 fine-tunes, prints the table
    python benchmarks/transfer.py --out /tmp/transfer --budgets 10 --pretrain-epochs 1   # quicker

Needs Debian's `dataset-fashion-mnist` and `opencv-doc` (digits.png). Every run is a
real `edgecv train` (own process) on a generated recipe, ending in an int8 .tflite:
  1. pretrain MobileNetV2 (alpha 0.35, 32x32x1) on Fashion-MNIST train images; its
     weights (model.keras -> backbone.h5) are the pretrained backbone;
  2. digits.png (5,000 digits, 500 per class) is split per class with a fixed seed:
     200 per class = the held-out test split (2,000 images, never trained on), and the
     first K of the other 300 per class = the labelled budget (K = 10, 50, 100);
  3. per budget, the same model and the same number of epochs two ways:
     scratch  - random init, every layer trained (train: lr 0.005 cosine);
     transfer - model.weights: backbone.h5 (fresh head), model.freeze: backbone for the
                first epochs (head only), then finetune: unfreeze all at a 10x lower lr with
                train_bn: false (BN keeps Fashion-MNIST's statistics, in inference mode).
     Both hold out 20 % of their K per class for best-epoch selection (val_split 0.2).
The table is the int8 TFLite top-1 on the 2,000 test images (report.json of each run).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
FASHION = Path("/usr/share/datasets/fashion-mnist")
DIGITS = Path("/usr/share/doc/opencv-doc/examples/data/digits.png")
TEST_PER_CLASS = 200
MODEL = {"arch": "mobilenet_v2", "alpha": 0.35, "input_shape": [32, 32, 1]}


def edgecv(recipe: dict, path: Path, out: Path) -> float:
    """`edgecv train` in its own process (fresh TF/Keras state); returns wall seconds."""
    import yaml

    path.write_text(yaml.safe_dump(recipe, sort_keys=False), encoding="utf-8")
    started = time.perf_counter()
    code = "import sys; from edgecv.cli import main; sys.exit(main(sys.argv[1:]))"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    log = out.with_suffix(".log")
    with open(log, "w", encoding="utf-8") as handle:
        done = subprocess.run([sys.executable, "-c", code, "train", str(path), "--out", str(out), "--force"],
                              stdout=handle, stderr=subprocess.STDOUT, env=env, check=False)
    if done.returncode not in (0, 1):
        raise SystemExit(f"edgecv train {path} failed (exit {done.returncode}); see {log}")
    return time.perf_counter() - started


def common(name: str, train: dict, epochs: int) -> dict:
    return {"name": name, "task": "classification", "seed": 0, "model": dict(MODEL),
            "data": {"train": train, "val_split": 0.2, "batch_size": 32},
            "train": {"epochs": epochs, "optimizer": "adam", "learning_rate": 0.005, "schedule": "cosine"},
            "export": {"formats": ["int8"], "calibration_samples": 100},
            "bench": {"runs": 5, "warmup": 1, "threads": 2, "gates": {}}}


def pretrain(out: Path, epochs: int, limit: int, reuse: bool = False) -> tuple[Path, float, float]:
    if reuse and (out / "backbone.h5").exists():
        return out / "backbone.h5", 0.0, int8_accuracy(out / "pretrain")
    recipe = common("pretrain_fashion", {"format": "idx", "path": str(FASHION), "split": "train", "limit": limit},
                    epochs)
    recipe["data"].update(val_split=0.05, batch_size=64)
    run = out / "pretrain"
    seconds = edgecv(recipe, out / "pretrain.yaml", run)
    import tf_keras as keras

    model = keras.models.load_model(run / "model.keras", compile=False)
    backbone = out / "backbone.h5"
    model.save_weights(str(backbone))    # edgecv's own layers; the digits model keeps a fresh head
    return backbone, seconds, int8_accuracy(run)


def split_digits(out: Path, budgets: list[int], seed: int = 0) -> dict:
    """Write test/ and train_K/ image folders (one sub-folder per digit)."""
    import cv2

    from edgecv.data.readers.digits import digit_cells

    images, labels = digit_cells(DIGITS)
    rng = np.random.default_rng(seed)
    folders = {"test": out / "digits" / "test", **{k: out / "digits" / f"train_{k}" for k in budgets}}
    for digit in range(10):
        order = rng.permutation(np.flatnonzero(labels == digit))
        parts = {"test": order[:TEST_PER_CLASS], **{k: order[TEST_PER_CLASS:TEST_PER_CLASS + k] for k in budgets}}
        for key, index in parts.items():
            folder = folders[key] / str(digit)
            folder.mkdir(parents=True, exist_ok=True)
            for i in index:
                cv2.imwrite(str(folder / f"{i:04d}.png"), images[i])
    return folders


def int8_accuracy(run: Path) -> float:
    report = json.loads((run / "report.json").read_text(encoding="utf-8"))
    entry = next(e for e in report["entries"] if e["format"] == "int8")
    return float(entry["accuracy"]["value"])


def fine_tune(out: Path, folders: dict, k: int, arm: str, backbone: Path, epochs: int, head_epochs: int,
              train_bn: bool = True):
    recipe = common(f"digits_{k}_{arm}", {"format": "folder", "path": str(folders[k])}, epochs)
    recipe["data"]["test"] = {"format": "folder", "path": str(folders["test"])}
    recipe["data"]["batch_size"] = 16 if k <= 10 else 32
    if arm == "transfer":
        recipe["model"].update(weights=str(backbone), freeze="backbone")
        recipe["train"]["epochs"] = head_epochs
        recipe["finetune"] = {"epochs": epochs - head_epochs, "learning_rate": 0.0005, "unfreeze": "all",
                              "schedule": "cosine", "train_bn": train_bn}
    run = out / f"digits_{k}_{arm}"
    seconds = edgecv(recipe, out / f"digits_{k}_{arm}.yaml", run)
    return int8_accuracy(run), seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("/tmp/edgecv_transfer"))
    parser.add_argument("--budgets", type=int, nargs="+", default=[10, 50, 100])
    parser.add_argument("--pretrain-epochs", type=int, default=3)
    parser.add_argument("--pretrain-limit", type=int, default=30000)
    parser.add_argument("--epochs", type=int, default=30, help="fine-tune epochs per arm (both arms)")
    parser.add_argument("--head-epochs", type=int, default=10, help="transfer: epochs on the frozen backbone")
    parser.add_argument("--train-bn", action="store_true",
                        help="transfer: finetune.train_bn true (BN re-estimated on the few digits)")
    parser.add_argument("--reuse-pretrain", action="store_true", help="keep OUT/backbone.h5 from an earlier run")
    parser.add_argument("--arms", nargs="+", default=["scratch", "transfer"])
    args = parser.parse_args()
    for need in (FASHION, DIGITS):
        if not need.exists():
            raise SystemExit(f"missing {need}: apt install dataset-fashion-mnist opencv-doc")
    args.out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    backbone, seconds, fashion_acc = pretrain(args.out, args.pretrain_epochs, args.pretrain_limit,
                                              reuse=args.reuse_pretrain)
    print(f"pretrain: Fashion-MNIST {args.pretrain_limit} images x {args.pretrain_epochs} epochs, "
          f"int8 val top-1 {fashion_acc:.4f}, {seconds / 60:.1f} min", flush=True)
    folders = split_digits(args.out, args.budgets)
    rows = []
    for k in args.budgets:
        scratch, s_sec = (fine_tune(args.out, folders, k, "scratch", backbone, args.epochs, args.head_epochs)
                          if "scratch" in args.arms else (float("nan"), 0.0))
        transfer, t_sec = (fine_tune(args.out, folders, k, "transfer", backbone, args.epochs, args.head_epochs,
                                     train_bn=args.train_bn) if "transfer" in args.arms else (float("nan"), 0.0))
        rows.append((k, scratch, transfer, s_sec, t_sec))
        print(f"  {k} per class: scratch {scratch:.4f} ({s_sec:.0f} s), transfer {transfer:.4f} ({t_sec:.0f} s)",
              flush=True)
    print()
    print("| labelled images per class | from scratch (int8) | transferred (int8) | gain (points) |")
    print("|---:|---:|---:|---:|")
    for k, scratch, transfer, _, _ in rows:
        print(f"| {k} | {scratch:.4f} | {transfer:.4f} | {100 * (transfer - scratch):+.1f} |")
    print(f"\ntest split: {TEST_PER_CLASS * 10} held-out digits; total {(time.perf_counter() - started) / 60:.1f} min; "
          f"load average {'/'.join(f'{v:.1f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
