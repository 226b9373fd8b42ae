"""Recipe validation: every malformed recipe is one clear line, exit code 2, no run dir."""
from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from edgecv.cli import main
from edgecv.errors import RecipeError
from edgecv.recipe import apply_override, dump_recipe, load_recipe
from tests.helpers import REPO

VALID = {
    "name": "tiny",
    "task": "classification",
    "model": {"arch": "mobilenet_v2", "alpha": 0.35, "input_shape": [32, 32, 3]},
    "data": {"train": {"format": "synthetic_shapes", "samples": 64},
             "val": {"format": "synthetic_shapes", "samples": 16, "seed": 1},
             "batch_size": 16},
    "train": {"epochs": 1},
}


def with_change(path: str, value) -> dict:
    """A copy of VALID with one dotted key set (value None = delete the key)."""
    recipe = copy.deepcopy(VALID)
    *parents, last = path.split(".")
    node = recipe
    for part in parents:
        node = node[part]
    if value is None:
        del node[last]
    else:
        node[last] = value
    return recipe


def misspell(section: str, good: str, bad: str) -> dict:
    recipe = copy.deepcopy(VALID)
    recipe[section][bad] = 0.01
    return recipe


# (id, file text or dict, extra CLI args, substrings the one-line error must contain)
MALFORMED = [
    ("invalid-yaml", "name: [unclosed\ntask: classification\n", [], ["invalid YAML", "line"]),
    ("empty-file", "", [], ["empty"]),
    ("list-top-level", "- name: x\n- task: y\n", [], ["top level must be a mapping", "list"]),
    ("unknown-key", {**VALID, "colour": "red"}, [], ["colour: unknown key"]),
    ("misspelt-key", misspell("train", "learning_rate", "learing_rate"), [],
     ["train.learing_rate: unknown key; did you mean learning_rate?"]),
    ("wrong-type", with_change("train.epochs", "five"), [], ["train.epochs", "five"]),
    ("negative-epochs", with_change("train.epochs", -3), [], ["train.epochs", "-3"]),
    ("unknown-arch-close", with_change("model.arch", "mobilenet_v3"), [],
     ["model.arch", "mobilenet_v3", "did you mean mobilenet_v2"]),
    ("unknown-task", with_change("task", "clasification"), [],
     ["task", "clasification", "did you mean classification"]),
    ("missing-data-path", with_change("data.train", {"format": "folder", "path": "no/such/dir"}), [],
     ["data.train.path", "no such file or directory"]),
    ("bad-set-syntax", VALID, ["--set", "train.epochs"], ["--set", "KEY=VALUE"]),
    ("alpha-out-of-range", with_change("model.alpha", 9.0), [], ["model.alpha", "9.0"]),
    ("alpha-zero", with_change("model.alpha", 0), [], ["model.alpha"]),
    ("missing-section", with_change("model", None), [], ["model: required key is missing"]),
    ("unknown-model-arg", with_change("model.alpah", 0.5), [],
     ["model.alpah", "did you mean alpha"]),
    ("unknown-export-format", with_change("export", {"formats": ["int4"]}), [],
     ["export.formats.0", "int4"]),
    ("unknown-gate", with_change("bench", {"gates": {"max_latency": 3}}), [],
     ["bench.gates", "max_latency"]),
    ("unknown-data-format", with_change("data.train", {"format": "foldr", "path": "."}), [],
     ["data.train.format", "did you mean folder"]),
    ("set-into-scalar", VALID, ["--set", "name.x=1"], ["--set name.x", "name is a string"]),
    ("bad-input-shape", with_change("model.input_shape", [32, 32, 4]), [],
     ["model.input_shape", "channels"]),
    ("unknown-per-format-gate", with_change("bench", {"gates": {"int8": {"max_sise_mb": 1}}}), [],
     ["bench.gates", "int8: unknown gate 'max_sise_mb'; did you mean max_size_mb"]),
    ("unknown-resize-mode", with_change("data.resize", "squash"), [],
     ["data.resize", "squash", "letterbox"]),
    # nan passes `le=10` (every comparison with it is False): refused as not finite.
    ("nan-learning-rate", VALID, ["--set", "train.learning_rate=.nan"],
     ["train.learning_rate: Input should be a finite number (got nan)"]),
    ("inf-alpha", VALID, ["--set", "model.alpha=.inf"], ["model.alpha", "finite number"]),
]


def write_recipe(tmp_path: Path, content) -> Path:
    path = tmp_path / "recipe.yaml"
    path.write_text(content if isinstance(content, str) else yaml.safe_dump(content))
    return path


@pytest.mark.parametrize("content,args,expected", [m[1:] for m in MALFORMED], ids=[m[0] for m in MALFORMED])
def test_malformed_recipe_is_one_clear_line(tmp_path, capsys, content, args, expected):
    recipe = write_recipe(tmp_path, content)
    run_dir = tmp_path / "run"
    code = main(["train", str(recipe), "--out", str(run_dir), *args])
    out, err = capsys.readouterr()
    assert code == 2
    assert "Traceback" not in out + err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    for fragment in expected:
        assert fragment in lines[0]
    assert not run_dir.exists()


def test_malformed_recipe_in_a_real_process(tmp_path):
    """The installed console script behaves the same: exit 2, one line, no traceback."""
    recipe = write_recipe(tmp_path, misspell("train", "learning_rate", "learing_rate"))
    proc = subprocess.run([sys.executable, "-m", "edgecv.cli", "train", str(recipe), "--out",
                           str(tmp_path / "run")], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip() == ("error: train.learing_rate: unknown key; "
                                   "did you mean learning_rate?")
    assert "Traceback" not in proc.stdout + proc.stderr


def test_debug_shows_the_traceback(tmp_path):
    recipe = write_recipe(tmp_path, with_change("train.epochs", -1))
    with pytest.raises(RecipeError, match="train.epochs"):
        main(["--debug", "train", str(recipe), "--out", str(tmp_path / "run")])


def test_validator_message_shows_the_value_once(tmp_path, capsys):
    recipe = write_recipe(tmp_path, VALID)
    assert main(["train", str(recipe), "--set", "name=über run"]) == 2
    assert capsys.readouterr().err.strip() == (
        "error: name: must be ASCII letters, digits, '_', '-' or '.', starting with a letter or digit"
        " (got 'über run')")


def test_debug_works_after_the_sub_command(tmp_path):
    """--debug (and --verbose) are accepted wherever they are typed, before any `--`."""
    from edgecv.cli import hoist_global_flags

    recipe = write_recipe(tmp_path, with_change("train.epochs", -1))
    with pytest.raises(RecipeError, match="train.epochs"):
        main(["train", str(recipe), "--out", str(tmp_path / "run"), "--debug"])
    assert hoist_global_flags(["train", "r.yaml", "--verbose", "--set", "a=1", "--debug"]) == \
        ["--verbose", "--debug", "train", "r.yaml", "--set", "a=1"]
    assert hoist_global_flags(["train", "--", "--debug"]) == ["train", "--", "--debug"]


def test_classification_template_is_valid_beside_a_photos_folder(tmp_path):
    """recipes/classification.template.yaml, copied next to photos/<class>/: a valid recipe."""
    import shutil

    template = tmp_path / "my_classifier.yaml"
    shutil.copy(REPO / "recipes" / "classification.template.yaml", template)
    (tmp_path / "photos" / "cat").mkdir(parents=True)
    recipe = load_recipe(template)
    assert recipe.task == "classification" and recipe.data.train.format == "folder"
    assert Path(recipe.data.train.path) == (tmp_path / "photos").resolve()


def test_readme_lists_every_dataset_format_with_an_example():
    from edgecv.data.formats import FORMATS

    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text[text.index("## Your own data"):]
    section = section[:section.index("\n## ", 5)]
    for name in FORMATS.names():
        assert f"| `{name}` |" in section and f"{{format: {name}" in section, name


def test_missing_recipe_file_is_named(tmp_path, capsys):
    assert main(["train", str(tmp_path / "nope.yaml")]) == 2
    assert "nope.yaml: no such recipe file" in capsys.readouterr().err


def test_overrides_convert_types(tmp_path):
    path = write_recipe(tmp_path, VALID)
    recipe = load_recipe(path, ["train.epochs=3", "train.learning_rate=5e-4",
                                "model.input_shape=[48, 48, 3]", "export.formats=[int8, float16]",
                                "data.augment.flip=true", "qat.epochs=2"])
    assert recipe.train.epochs == 3 and isinstance(recipe.train.epochs, int)
    assert recipe.train.learning_rate == pytest.approx(5e-4)
    assert recipe.model.input_shape == (48, 48, 3)
    assert recipe.export.formats == ["int8", "float16"]
    assert recipe.data.augment.flip is True
    assert recipe.qat is not None and recipe.qat.epochs == 2


def test_override_creates_nested_sections():
    raw = {"a": 1}
    apply_override(raw, "bench.gates.max_p90_ms=12.5")
    assert raw == {"a": 1, "bench": {"gates": {"max_p90_ms": 12.5}}}


def test_resolved_recipe_round_trips(tmp_path):
    data_dir = tmp_path / "images"
    data_dir.mkdir()
    recipe_dict = with_change("data.train", {"format": "folder", "path": "images"})
    recipe = load_recipe(write_recipe(tmp_path, recipe_dict))
    # Relative paths are resolved against the recipe's folder.
    assert recipe.data.train.path == data_dir.resolve()
    again_path = tmp_path / "again.yaml"
    again_path.write_text(dump_recipe(recipe))
    again = load_recipe(again_path)
    assert again == recipe
    assert again.digest() == recipe.digest()


def test_builder_kwargs_exclude_edgecv_keys(tmp_path):
    recipe = load_recipe(write_recipe(tmp_path, VALID))
    assert recipe.model.builder_kwargs() == {"input_shape": (32, 32, 3), "alpha": 0.35}


def test_every_shipped_recipe_is_valid():
    for path in sorted(REPO.joinpath("recipes").glob("*.yaml")):
        if path.name.endswith(".template.yaml"):
            continue
        load_recipe(path)
