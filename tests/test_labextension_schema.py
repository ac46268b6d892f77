"""The lab extension's settings schema (js/labextension/schema/plugin.json) against the Python
side: every choice it offers is one the Explorer accepts, and it offers all of them. The schema is
static JSON read by JupyterLab, so this test is what keeps the two in step."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from backprop_lens import METHODS, models
from backprop_lens.render import ENCODINGS
from backprop_lens.widget import Explorer

SCHEMA = Path(__file__).resolve().parents[1] / "js" / "labextension" / "schema" / "plugin.json"


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    return dict(json.loads(SCHEMA.read_text(encoding="utf-8")))


def test_the_choices_are_the_zoo_the_methods_and_the_encodings(schema: dict[str, Any]) -> None:
    properties = schema["properties"]
    assert properties["defaultModel"]["enum"] == models.available(include_missing=True)
    assert properties["methods"]["items"]["enum"] == list(METHODS)
    assert sorted(properties["encoding"]["enum"]) == sorted(ENCODINGS)


def test_the_defaults_are_valid_and_what_the_explorer_is_given(schema: dict[str, Any]) -> None:
    defaults = {key: value["default"] for key, value in schema["properties"].items()}
    jsonschema.validate(defaults, schema)
    explorer = Explorer(model=defaults["defaultModel"], methods=defaults["methods"],
                        top_k=defaults["topK"], encoding=defaults["encoding"])
    try:
        assert explorer.wait(120)
        assert explorer.methods == defaults["methods"]
        assert explorer.top_k == defaults["topK"]
    finally:
        explorer.close()


@pytest.mark.parametrize("bad", [
    {"defaultModel": "no_such_model"}, {"defaultModel": 3}, {"methods": []},
    {"methods": ["saliency", "saliency"]}, {"methods": ["lrp"]}, {"topK": 0}, {"topK": 2.5},
    {"encoding": "gif"}, {"unknown": 1},
])
def test_bad_values_are_refused(schema: dict[str, Any], bad: dict[str, Any]) -> None:
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema)
