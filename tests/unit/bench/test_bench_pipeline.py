"""The one bench pipeline: the typed report entry, settings, and the three front doors
(`edgecv train`'s bench stage, `edgecv bench RUN_DIR`, `edgecv bench FILE`) agreeing."""
from __future__ import annotations

import ast
import json
import shutil
from pathlib import Path

import pytest

import edgecv  # noqa: F401  (TF_USE_LEGACY_KERAS before TF loads)
from edgecv.bench import BenchEntry, BenchSettings, ExportedFile, bench_files, failed_entry
from edgecv.bench.gates import evaluate_gates
from edgecv.bench.report import report_dict
from edgecv.errors import BenchError

EDGECV = Path(edgecv.__file__).parent

# DESIGN.md "report.json" (format ... passed) plus ARCHITECTURE.md's additions, in the order
# report.json has always written them: a timed file carries its run facts, a failed row its error.
TIMED_KEYS = ["format", "path", "size_bytes", "latency_ms", "accuracy", "gates", "passed", "status",
              "fps", "peak_rss_mb", "delegate", "runtime", "machine", "cpu", "emulated", "host",
              "latency_samples_ms"]
FAILED_KEYS = ["format", "path", "size_bytes", "latency_ms", "accuracy", "gates", "passed", "status",
               "error"]
DESIGN_KEYS = {"format", "path", "size_bytes", "latency_ms", "accuracy", "gates", "passed"}
LATENCY = {"mean": 2.0, "std": 0.1, "min": 1.8, "p50": 2.0, "p90": 2.2, "p99": 2.4, "max": 2.5,
           "runs": 5, "warmup": 1, "threads": 1, "init_ms": 3.0, "first_ms": 4.0}


def timed_entry(**kw) -> BenchEntry:
    values = dict(format="int8", path="m_int8.tflite", size_bytes=3 * 2 ** 20, latency_ms=LATENCY,
                  accuracy={"metric": "top1", "value": 0.9, "reference": 0.93, "delta": -0.03,
                            "samples": 48},
                  fps=500.0, peak_rss_mb=40.0, delegate="xnnpack", runtime="ai_edge_litert 1.0",
                  machine="x86_64", host="local", latency_samples_ms=[2.0, 2.1])
    values.update(kw)
    return BenchEntry(**values)


# ------------------------------------------------------------------ the typed entry
def test_entry_to_dict_keys_are_the_report_json_keys():
    entry = timed_entry().with_gates({})
    assert list(entry.to_dict()) == TIMED_KEYS and DESIGN_KEYS <= set(entry.to_dict())
    assert list(failed_entry("edgetpu", "no compiler").to_dict()) == FAILED_KEYS
    bench_failed = failed_entry("int8", "crash", status="bench failed", path=Path("a/m.tflite"))
    assert bench_failed.to_dict()["path"] == "a/m.tflite" and bench_failed.passed is False
    json.dumps(entry.to_dict())
    # report.json rows read back into the same entries (`edgecv bench RUN_DIR` keeps old rows).
    for row in (entry, bench_failed):
        assert BenchEntry.from_dict(json.loads(json.dumps(row.to_dict()))) == row
    report = report_dict([entry, bench_failed.to_dict()])  # objects and dicts alike
    assert report["passed"] is False
    assert [list(e) for e in report["entries"]] == [TIMED_KEYS, FAILED_KEYS]


def test_gates_set_status_and_read_entries_or_dicts():
    entry = timed_entry()
    gates = {"max_accuracy_drop": 0.02, "max_size_mb": 3}
    results = evaluate_gates(entry, gates)
    assert results == evaluate_gates(entry.to_dict(), gates)
    judged = entry.with_gates(results)
    assert (judged.passed, judged.status) == (False, "gate failed")
    assert judged.gates["max_accuracy_drop"]["value"] == pytest.approx(0.03)
    assert entry.with_gates({"max_size_mb": results["max_size_mb"]}).status == "ok"
    with pytest.raises(BenchError, match="gate min_metric cannot be checked for m.tflite"):
        evaluate_gates(BenchEntry("int8", path="m.tflite"), {"min_metric": 0.5})


def test_settings_fall_back_to_the_recipe_then_defaults():
    from edgecv.recipe import BenchSpec

    spec = BenchSpec(runs=7, threads=2, gates={"max_size_mb": 4, "int8": {"max_p50_ms": 9}})
    settings = BenchSettings.resolve(spec, warmup=0, gates={"max_p50_ms": 5})
    assert (settings.runs, settings.warmup, settings.threads, settings.delegate) == (7, 0, 2, "auto")
    assert settings.gates == {"max_size_mb": 4, "max_p50_ms": 5.0}   # a CLI gate wins everywhere
    assert BenchSettings.resolve(None, runs=3) == BenchSettings(runs=3)
    assert BenchSettings.resolve(None).runs == 50 and spec.gates["int8"] == {"max_p50_ms": 9}


def test_bench_files_rows_for_failed_exports_and_errors(tmp_path):
    lines = []
    missing = tmp_path / "m_int8.tflite"
    entries = bench_files([{"format": "edgetpu", "path": None, "status": "export failed",
                            "error": "edgetpu_compiler not found"},
                           ExportedFile("int8", str(missing))], None, echo=lines.append)
    assert [(e.format, e.status) for e in entries] == [("edgetpu", "export failed"),
                                                       ("int8", "bench failed")]
    assert entries[1].error == f"{missing}: model file not found"
    assert any("int8 failed" in line for line in lines)
    with pytest.raises(BenchError, match="model file not found"):
        bench_files([missing], None, echo=lines.append, stop_on_error=True)


# ------------------------------------------------------------------ the three front doors agree
def test_front_doors_give_the_same_entries_for_the_same_files(quickstart_run, tmp_path):
    """`edgecv train`'s report, `edgecv bench RUN_DIR` and `edgecv bench FILE` on the same
    files and eval set: same formats, same entry shape, same accuracy numbers."""
    from edgecv.bench import bench_single
    from edgecv.workflow import bench_run_dir

    code, output, trained = quickstart_run
    assert code == 0, output
    run_dir = tmp_path / "run"          # a copy: the session fixture's report stays as trained
    run_dir.mkdir()
    for name in ("recipe.yaml", "model.keras", "eval.npz", "report.json", "export"):
        copy = shutil.copytree if (trained / name).is_dir() else shutil.copy
        copy(trained / name, run_dir / name)
    train_report = json.loads((trained / "report.json").read_text())
    # An earlier export failure must survive re-benching.
    old = dict(train_report, entries=train_report["entries"]
               + [failed_entry("edgetpu", "edgetpu_compiler not found").to_dict()])
    (run_dir / "report.json").write_text(json.dumps(old))

    before = {p.name: p.read_bytes() for p in run_dir.iterdir() if p.is_file()}
    bench_report, md_path = bench_run_dir(run_dir, runs=2, warmup=0, echo=lambda line: None)
    # Written beside what training wrote, into a new folder; training's report, plots and
    # eval set are byte for byte as they were.
    assert md_path.parent.parent == run_dir and md_path.parent.name.startswith("bench-")
    assert {p.name: p.read_bytes() for p in run_dir.iterdir() if p.is_file()} == before
    single = {fmt: bench_single(run_dir / "export" / f"quickstart_{fmt}.tflite", runs=2, warmup=0,
                                data=run_dir / "eval.npz", reference=run_dir / "model.keras",
                                echo=lambda line: None)["entries"][0]
              for fmt in ("float32", "int8")}

    trained_rows = {e["format"]: e for e in train_report["entries"]}
    bench_rows = {e["format"]: e for e in bench_report["entries"]}
    assert list(trained_rows) == ["float32", "int8"]
    assert list(bench_rows) == ["float32", "int8", "edgetpu"]
    assert bench_rows["edgetpu"]["status"] == "export failed"
    assert json.loads((md_path.parent / "report.json").read_text()) == bench_report
    for fmt, trained_row in trained_rows.items():
        for row in (bench_rows[fmt], single[fmt]):
            assert list(row) == list(trained_row) == TIMED_KEYS
            assert set(row["latency_ms"]) == set(trained_row["latency_ms"])
            assert row["latency_ms"]["runs"] == 2 and row["size_bytes"] == trained_row["size_bytes"]
            assert set(row["accuracy"]) == set(trained_row["accuracy"])
            for key in ("metric", "samples", "class_names"):
                assert row["accuracy"][key] == trained_row["accuracy"][key]
            for key in ("value", "reference", "delta"):
                assert row["accuracy"][key] == pytest.approx(trained_row["accuracy"][key], abs=1e-6)
            assert (row["status"], row["passed"]) == ("ok", True)


# ------------------------------------------------------------------ layering
def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_bench_never_imports_the_workflow_and_splits_stay_in_the_data_layer():
    for path in sorted((EDGECV / "bench").glob("*.py")):
        assert not {n for n in _imports(path) if n.startswith(("edgecv.workflow", "edgecv.cli"))}, path
    above_data = ("edgecv.recipe", "edgecv.tasks", "edgecv.bench", "edgecv.train", "edgecv.export",
                  "edgecv.workflow", "edgecv.optimize", "edgecv.cli")
    assert not {n for n in _imports(EDGECV / "data" / "splits.py") if n.startswith(above_data)}
    # The package face only re-exports.
    tree = ast.parse((EDGECV / "bench" / "__init__.py").read_text(encoding="utf-8"))
    assert not [n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))]
