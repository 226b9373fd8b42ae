"""Degenerate eval data is said out loud: too small for the gates, one class, chance level;
the warnings land in report.json and report.md."""
from __future__ import annotations

import json

import numpy as np

from edgecv.bench.entry import BenchEntry
from edgecv.bench.evalset import EvalSet
from edgecv.bench.report import write_report
from edgecv.bench.sanity import data_warnings, smallest_drop_gate
from edgecv.tasks import get_task


def evalset(labels, classes=("cat", "dog", "owl")) -> EvalSet:
    labels = np.asarray(labels, np.int32)
    return EvalSet(x=np.zeros((len(labels), 8, 8, 3), np.uint8), task="classification",
                   targets=labels, class_names=list(classes))


def entry(fmt, value, reference):
    return BenchEntry(format=fmt, path=f"{fmt}.tflite", size_bytes=1,
                      accuracy={"metric": "top1", "value": value, "reference": reference,
                                "delta": value - reference})


def test_small_eval_set_cannot_measure_the_drop_gate():
    labels = [0, 1, 2] * 16                                   # 48 samples: one = 0.0208
    found = data_warnings(evalset(labels), {"int8": {"max_accuracy_drop": 0.01}},
                          [entry("int8", 0.9, 0.9)], "classification")
    assert found == ["the eval set has 48 sample(s): one sample moves the metric by 0.0208, more "
                     "than the max_accuracy_drop gate 0.01, so the gate cannot be measured; use "
                     "at least 100 validation samples"]
    assert data_warnings(evalset([0, 1, 2] * 40), {"max_accuracy_drop": 0.01},
                         [entry("int8", 0.9, 0.9)], "classification") == []
    assert smallest_drop_gate({"max_accuracy_drop": 0.05, "int8": {"max_accuracy_drop": 0.02}}) == 0.02


def test_tiny_eval_set_without_gates_is_named():
    found = data_warnings(evalset([0, 1] * 9), {}, [entry("int8", 0.9, 0.9)], "classification")
    assert len(found) == 1 and "only 18 sample(s)" in found[0] and "at least 30" in found[0]


def test_single_class_and_chance_level():
    """One class: any model scores 1.0; the chance level is then 1.0 as well."""
    found = data_warnings(evalset([1] * 40), {}, [entry("int8", 1.0, 1.0)], "classification")
    assert any("a single class (dog)" in w for w in found)
    assert any("top1 of the float model, int8 is at chance level (1.0000" in w for w in found)
    # 3 classes, 50 % of the samples in class 0: 0.5 is what "always class 0" scores.
    labels = [0] * 30 + [1] * 15 + [2] * 15
    assert get_task("classification").chance_level(np.asarray(labels), ["a", "b", "c"]) == 0.5
    found = data_warnings(evalset(labels), {}, [entry("float32", 0.9, 0.9), entry("int8", 0.5, 0.9)],
                          "classification")
    assert found == ["top1 of int8 is at chance level (0.5000, what a model that learnt nothing "
                     "scores on this eval set): it learnt nothing measurable; train longer or "
                     "check the data"]
    assert data_warnings(evalset(labels), {}, [entry("int8", 0.51, 0.9)], "classification") == []


def test_warnings_are_written_into_both_reports(tmp_path):
    rows = [entry("int8", 0.5, 0.9).with_gates({})]
    json_path, md_path = write_report(tmp_path, rows, plots=False, warnings=["the eval set is tiny"])
    assert json.loads(json_path.read_text())["warnings"] == ["the eval set is tiny"]
    md = md_path.read_text()
    assert "## Warnings\n\n- the eval set is tiny" in md
    assert md.index("## Warnings") < md.index("| Format |")
    json_path, md_path = write_report(tmp_path, rows, plots=False)
    assert "warnings" not in json.loads(json_path.read_text()) and "Warnings" not in md_path.read_text()
