"""The standard metadata codec and description, without TensorFlow: tables round-trip
through the flatbuffer, outputs are matched by name, mismatches are refused by message."""
from __future__ import annotations

import pytest

from edgecv.errors import ExportError
from edgecv.export.standard import codec
from edgecv.export.standard.describe import describe
from edgecv.tasks.app_outputs import AppOutputs, OutputTensor

DETECTOR = {
    "name": "det", "version": "1", "min_parser_version": "1.2.0",
    "subgraph_metadata": [{
        "output_tensor_metadata": [
            {"name": "location", "content": {"content_properties": (
                "BoundingBoxProperties", {"index": [0, 1, 2, 3], "type": 1}),
                "range": {"min": 2, "max": 2}}},
            {"name": "score", "process_units": [{"options": (
                "ScoreThresholdingOptions", {"global_score_threshold": 0.25})}],
             "associated_files": [{"name": "labels.txt", "type": 3}]}],
        "output_tensor_groups": [{"name": "detection_result", "tensor_names": ["location", "score"]}]}],
}


def test_tables_round_trip_through_the_flatbuffer():
    data = codec.encode("ModelMetadata", DETECTOR)
    assert data[4:8] == b"M001"
    back = codec.decode(data)
    assert back["name"] == "det" and back["min_parser_version"] == "1.2.0"
    sub = back["subgraph_metadata"][0]
    kind, box = sub["output_tensor_metadata"][0]["content"]["content_properties"]
    assert kind == "BoundingBoxProperties" and box == {"index": [0, 1, 2, 3], "type": 1}
    assert sub["output_tensor_metadata"][0]["content"]["range"] == {"min": 2, "max": 2}
    option, value = sub["output_tensor_metadata"][1]["process_units"][0]["options"]
    assert option == "ScoreThresholdingOptions"
    assert value["global_score_threshold"] == pytest.approx(0.25)
    assert sub["output_tensor_groups"] == [{"name": "detection_result",
                                            "tensor_names": ["location", "score"]}]


def test_unknown_field_and_corrupt_buffer_are_refused():
    with pytest.raises(ExportError, match="ModelMetadata has no field 'autor'"):
        codec.encode("ModelMetadata", {"autor": "me"})
    with pytest.raises(ExportError, match="not a TFLite metadata flatbuffer"):
        codec.decode(b"\x00" * 16)
    with pytest.raises(ExportError, match="corrupt or truncated"):
        codec.decode(codec.encode("ModelMetadata", DETECTOR)[:40])


def test_outputs_are_described_in_the_files_order_by_name():
    meta = {"task": "x", "labels": ["a", "b"], "normalization": {"mean": 127.5, "std": 127.5},
            "inputs": [{"dtype": "uint8", "shape": [1, 8, 8, 1]}]}
    app = AppOutputs((OutputTensor("scores_key", "score", "s", labels="axis"),
                      OutputTensor("boxes_key", "location", "b", boxes=True)))
    model, files = describe(meta, ["boxes_key", "scores_key"], app, name="m")
    sub = model["subgraph_metadata"][0]
    assert [t["name"] for t in sub["output_tensor_metadata"]] == ["location", "score"]
    image = sub["input_tensor_metadata"][0]
    assert image["content"]["content_properties"] == ("ImageProperties", {"color_space": 2})
    assert image["stats"] == {"min": [0.0], "max": [255.0]}
    assert files == {"labels.txt": b"a\nb\n"}
    with pytest.raises(ExportError, match=r"outputs \['boxes_key', 'other'\] do not match"):
        describe(meta, ["boxes_key", "other"], app, name="m")


def test_recipe_author_version_license_reach_the_standard_metadata():
    from edgecv.export.metadata import recorded_task_part, run_metadata
    from edgecv.recipe import validate_recipe
    from edgecv.tasks import get_task

    raw = {"name": "shapes", "task": "classification",
           "model": {"arch": "mobilenet_v2", "alpha": 0.35, "input_shape": [32, 32, 3]},
           "data": {"train": {"format": "synthetic_shapes", "samples": 8}}, "train": {"epochs": 1},
           "export": {"formats": ["float32"], "author": "Ada Lovelace", "version": "2.1.0",
                      "license": "Apache-2.0"}}
    recipe = validate_recipe(raw)
    meta = run_metadata(recipe=recipe, task=get_task("classification", recipe), labels=["a", "b"])
    assert meta["about"] == {"author": "Ada Lovelace", "version": "2.1.0", "license": "Apache-2.0"}
    assert "about" not in recorded_task_part(meta)          # a run fact, not the task's part
    model, _ = describe(meta, ["probs"], name="shapes_float32")
    assert (model["author"], model["version"], model["license"]) == ("Ada Lovelace", "2.1.0", "Apache-2.0")

    del raw["export"]["author"], raw["export"]["version"], raw["export"]["license"]
    plain = run_metadata(recipe=validate_recipe(raw), labels=["a", "b"])
    model, _ = describe(plain, ["probs"], name="shapes_float32")
    assert "about" not in plain and "license" not in model
    assert (model["author"], model["version"]) == ("edgecv", plain["recipe_hash"])
    raw["export"]["autor"] = "me"
    with pytest.raises(Exception, match="export.autor: unknown key; did you mean author"):
        validate_recipe(raw)


def bare_tflite() -> bytes:
    """The smallest TFLite flatbuffer the schema accepts: version 3, nothing else."""
    import flatbuffers

    from edgecv.export.metadata import TFLITE_IDENTIFIER, schema_module

    model = schema_module().ModelT()
    model.version = 3
    builder = flatbuffers.Builder(64)
    builder.Finish(model.Pack(builder), file_identifier=TFLITE_IDENTIFIER)
    return bytes(builder.Output())


def test_packed_labels_survive_a_later_entry_and_a_second_standard_embed():
    """Writing any entry rebuilds the flatbuffer: the zip of associated files packed after
    it is packed again (it used to be dropped), and embedding the standard metadata again
    replaces the files instead of appending a second copy."""
    from edgecv.export.metadata import embed_metadata, packed_files, read_metadata
    from edgecv.export.standard.embed import embed_standard, read_standard

    labelled = embed_standard(bare_tflite(), DETECTOR, {"labels.txt": b"a\nb\n"})
    later = embed_metadata(labelled, {"task": "detection"})
    assert read_metadata(later)["task"] == "detection"
    assert read_standard(later)["files"] == {"labels.txt": b"a\nb\n"}
    again = embed_standard(later, DETECTOR, {"labels.txt": b"c\n"})
    assert packed_files(again) == {"labels.txt": b"c\n"}
    assert read_standard(again)["metadata"]["name"] == "det"
    assert packed_files(bare_tflite()) == {}
