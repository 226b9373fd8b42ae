"""benchmarks/quantization.py's pure parts: the derived recipes (float without prune/qat, QAT and
PQAT as stages added after it), and report.json entries read into table rows. No TensorFlow."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from edgecv.recipe import load_recipe, validate_recipe
from edgecv.resume import _stages_added_after

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def quant():
    spec = importlib.util.spec_from_file_location("quantization_benchmark", REPO / "benchmarks" / "quantization.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_derived_recipes_strip_then_add_the_stages(quant):
    resolved = load_recipe(REPO / "recipes" / "quickstart.yaml",
                           overrides=["train.epochs=1", "prune.epochs=2", "prune.target_sparsity=0.8",
                                      "qat.epochs=3"]).to_dict()
    recipes = quant.derived_recipes(resolved)
    assert "prune" not in recipes["float"] and "qat" not in recipes["float"]
    assert recipes["float"]["export"]["calibration_samples"] == 100
    assert recipes["float"]["export"]["formats"] == ["float32", "int8"]
    assert recipes["qat"]["qat"]["epochs"] == 3 and "prune" not in recipes["qat"]
    assert recipes["pqat"]["prune"]["target_sparsity"] == 0.5          # forced, not the recipe's 0.8
    assert recipes["pqat"]["prune"]["epochs"] == 2
    for name in ("qat", "pqat"):
        validate_recipe(recipes[name])
        # only stages after the float run's are added: `edgecv train --resume` accepts them
        added = _stages_added_after(recipes["float"], recipes[name])
        assert added == ({"qat"} if name == "qat" else {"prune", "qat"})
        assert {k: v for k, v in recipes[name].items() if k not in added} == recipes["float"]


def test_recipe_without_stages_gets_the_defaults(quant):
    resolved = load_recipe(REPO / "recipes" / "quickstart.yaml").to_dict()
    recipes = quant.derived_recipes(resolved)
    checked = validate_recipe(recipes["pqat"])
    assert checked.qat is not None and checked.prune.target_sparsity == 0.5


def entry(fmt, value, reference, size, p50, **extra):
    return {"format": fmt, "size_bytes": size, "status": "ok", "latency_ms": {"p50": p50},
            "accuracy": {"metric": "mAP@0.5", "value": value, "reference": reference, **extra}}


def test_rows_read_from_reports_and_deltas_in_points(quant):
    reports = {
        "float": {"entries": [entry("float32", 0.80, 0.81, 4096, 2.0, map50_95=0.50),
                              entry("int8", 0.78, 0.81, 1024, 1.0, map50_95=0.47)]},
        "qat": {"entries": [entry("float32", 0.80, 0.80, 4096, 2.0),
                            entry("int8", 0.805, 0.80, 1024, 1.0, map50_95=0.49)]},
    }
    rows = quant.rows_from_reports(reports, {"ptq100": 64, "ptq500": None})
    assert set(rows) == {"float", "ptq100", "qat"}
    assert rows["float"]["value"] == 0.81               # the Keras reference, not the float32 file
    assert rows["float"]["size_bytes"] == 4096 and rows["float"]["map50_95"] == 0.50
    assert rows["ptq100"]["delta_value"] == pytest.approx(-3.0)
    assert rows["qat"]["delta_value"] == pytest.approx(-0.5)   # vs the float row, not its own reference
    assert rows["qat"]["delta_map50_95"] == pytest.approx(-1.0)
    assert rows["ptq100"]["calibration_images"] == 64
    lines = quant.table(rows)
    assert lines[0].startswith("| variant | mAP@0.5 | delta pts | mAP@0.5:0.95 |")
    assert [line.split(" | ")[0] for line in lines[2:]] == ["| float (Keras)", "| PTQ int8, 100 calib", "| QAT int8"]


def test_per_class_iou_columns(quant):
    iou = {"background": 0.9, "shirt": None}
    reports = {"float": {"entries": [entry("float32", 0.7, 0.7, 1, 1.0, per_class_iou=iou),
                                     entry("int8", 0.6, 0.7, 1, 1.0, per_class_iou=iou)]}}
    lines = quant.table(quant.rows_from_reports(reports, {}))
    assert "IoU background | IoU shirt" in lines[0]
    assert "| 0.900 | - |" in lines[2]


def test_out_must_be_new_empty_or_ours(quant, tmp_path):
    assert quant.owned_out(tmp_path / "new") and quant.owned_out(tmp_path)
    (tmp_path / "theirs.txt").write_text("x")
    assert not quant.owned_out(tmp_path)
    (tmp_path / quant.MARKER).write_text("")
    assert quant.owned_out(tmp_path)


def test_refuses_a_foreign_out_folder(quant, tmp_path, capsys):
    (tmp_path / "theirs.txt").write_text("x")
    assert quant.main([str(REPO / "recipes" / "quickstart.yaml"), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not made by benchmarks/quantization.py" in err


def test_calibration_count_from_the_log(quant, tmp_path):
    log = tmp_path / "float.log"
    log.write_text("data: ...\nexport: calibrating on 64 training images\nexport: int8 ...\n")
    assert quant.calibration_images(log) == 64
    assert quant.calibration_images(tmp_path / "missing.log") is None


def test_a_failed_variant_is_a_row_not_the_end_of_the_table(quant, tmp_path, monkeypatch, capsys):
    import json

    def float_run(out, recipes, retrain, log):      # stands in for `edgecv train` of the float run
        (out / "float").mkdir()
        report = {"entries": [entry("float32", 0.80, 0.81, 4096, 2.0), entry("int8", 0.78, 0.81, 1024, 1.0)]}
        (out / "float" / "report.json").write_text(json.dumps(report), encoding="utf-8")
        return False

    def failing_stage(out, variant, recipes, redo, log):
        raise quant.VariantFailed(f"edgecv train exited with 2; see {out / (variant + '.log')}")

    monkeypatch.setattr(quant, "run_float", float_run)
    monkeypatch.setattr(quant, "run_added_stage", failing_stage)
    out = tmp_path / "q"
    code = quant.main([str(REPO / "recipes" / "quickstart.yaml"), "--out", str(out),
                       "--variants", "float", "ptq100", "qat", "--json", str(tmp_path / "rows.json")])
    printed = capsys.readouterr().out
    assert code == 1
    assert "| PTQ int8, 100 calib | 0.7800 | -3.00 |" in printed           # the rows that ran are there
    assert f"| QAT int8 | FAILED: edgecv train exited with 2; see {out / 'qat.log'} |" in printed
    saved = json.loads((tmp_path / "rows.json").read_text(encoding="utf-8"))
    assert set(saved["rows"]) == {"float", "ptq100"} and "qat" in saved["failed"]
