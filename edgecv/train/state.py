"""`run_dir/train/state.json`: the commit point of a resumable run.

Every epoch first writes its checkpoint, then this file (atomically), then
`history.csv`, which is always re-rendered from the state. A SIGKILL at any
moment therefore leaves either the old or the new epoch recorded, never half of
one, and history rows can neither be duplicated nor lost on resume.
"""
from __future__ import annotations

import csv
import io
import json
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Optional

from edgecv.errors import EdgecvError
from edgecv.fileio import write_json, write_text

STATE_VERSION = 1
FIRST_COLUMNS = ("stage", "epoch", "loss")


@dataclass
class StageState:
    status: str = "pending"                 # pending | running | done
    epochs_done: int = 0
    last_checkpoint: Optional[str] = None   # prefix relative to the train dir
    best_checkpoint: Optional[str] = None
    best_value: Optional[float] = None
    best_epoch: Optional[int] = None
    wait: int = 0                           # epochs without improvement (early stopping)
    stopped_early: bool = False
    output: Optional[str] = None            # weights file the next stage starts from
    info: dict[str, Any] = field(default_factory=dict)  # stage extras (e.g. unpruned model size)


@dataclass
class RunState:
    train_dir: Path
    recipe_digest: str = ""
    steps_per_epoch: dict[str, int] = field(default_factory=dict)
    stages: dict[str, StageState] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)

    @property
    def path(self) -> Path:
        return self.train_dir / "state.json"

    @classmethod
    def open(cls, train_dir: Path, *, recipe_digest: str, resume: bool,
             also_accept: tuple[str, ...] = (), digest_for=None) -> "RunState":
        """Load the saved state when resuming; otherwise start clean (old checkpoints removed).

        Resuming needs the digest the run started with (`also_accept`: older spellings of
        it, e.g. the full-recipe digest edgecv wrote before Recipe.training_digest)."""
        train_dir = Path(train_dir)
        path = train_dir / "state.json"
        if resume and path.exists():
            try:
                raw = json.loads(path.read_text(encoding="utf-8"))
                state = cls(train_dir=train_dir, recipe_digest=raw["recipe_digest"],
                            steps_per_epoch={k: int(v) for k, v in raw.get("steps_per_epoch", {}).items()},
                            stages={k: StageState(**v) for k, v in raw["stages"].items()},
                            history=list(raw["history"]))
            except (ValueError, KeyError, TypeError) as exc:
                raise EdgecvError(f"{path}: cannot resume, state file is unreadable ({exc})") from None
            # digest_for(stages the run started): the recipe's digest over just those stages,
            # so stages added after the ones that ran (a qat stage after train) may resume.
            accepted = (recipe_digest, *also_accept,
                        *(() if digest_for is None else (digest_for(set(state.stages)),)))
            if state.recipe_digest not in accepted:
                # edgecv train names the differing keys first (edgecv.resume); this is the backstop.
                raise EdgecvError(f"{path}: cannot resume, the recipe's training settings changed "
                                  "since this run started; start a new run with --out NEW_DIR")
            state.recipe_digest = recipe_digest
            state.write_history()
            return state
        if resume:
            print(f"note: nothing to resume in {train_dir}; starting from the beginning", flush=True)
        for stale in ("state.json", "history.csv", "sparsity.json"):
            (train_dir / stale).unlink(missing_ok=True)
        for stage_dir in ("train", "finetune", "prune", "qat", "tb"):
            shutil.rmtree(train_dir / stage_dir, ignore_errors=True)
        train_dir.mkdir(parents=True, exist_ok=True)
        return cls(train_dir=train_dir, recipe_digest=recipe_digest)

    def stage(self, name: str) -> StageState:
        return self.stages.setdefault(name, StageState())

    def save(self) -> None:
        write_json(self.path, {
            "version": STATE_VERSION,
            "recipe_digest": self.recipe_digest,
            "steps_per_epoch": self.steps_per_epoch,
            "stages": {name: asdict(st) for name, st in self.stages.items()},
            "history": self.history,
        })

    def record_epoch(self, row: dict[str, Any]) -> None:
        """Add one epoch's row, replacing any earlier row for the same (stage, epoch)."""
        key = (row["stage"], row["epoch"])
        self.history = [r for r in self.history if (r["stage"], r["epoch"]) != key] + [row]

    def write_history(self) -> None:
        columns = list(FIRST_COLUMNS)
        for row in self.history:
            columns += [k for k in row if k not in columns]
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=columns, restval="", lineterminator="\n")
        writer.writeheader()
        writer.writerows(self.history)
        write_text(self.train_dir / "history.csv", buffer.getvalue())
