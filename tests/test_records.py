"""The records stages pass to each other are defined once (sqlforge.records) and checked when read."""

import json
import math

import pytest

from sqlforge.io import InputError
from sqlforge.prompts import sql_messages
from sqlforge.records import (Example, Pair, distance_from_json, distance_to_json, inference_messages,
                              read_records)


def test_a_record_missing_a_field_is_named_with_file_and_line(tmp_path, demo_records):
    path = tmp_path / "dev.jsonl"
    good = demo_records["dev"][0]
    bad = {k: v for k, v in good.items() if k != "evidence"}
    path.write_text(json.dumps(good) + "\n" + json.dumps(bad) + "\n")
    with pytest.raises(InputError, match=r"dev.jsonl: record at line 2 is not a Example: missing evidence"):
        read_records(path, Example)
    path.write_text(json.dumps(good) + "\n")
    assert read_records(path, Example) == [good]


def test_every_prepared_example_has_the_example_fields(demo_records):
    assert all(set(Example.__annotations__) <= set(r) for r in demo_records["train"] + demo_records["dev"])


def test_inference_messages_are_the_prompt_of_the_example(demo_records):
    rec = {**demo_records["dev"][0], "evidence": "a hint"}
    assert inference_messages(rec, "SELECT") == sql_messages(rec["schema"], rec["question"], "a hint", "SELECT")


def test_distances_are_infinite_in_code_and_null_in_json():
    assert distance_to_json(math.inf) is None and distance_to_json(2) == 2
    assert distance_from_json(None) == math.inf and distance_from_json(0) == 0
    assert json.loads(json.dumps(distance_to_json(math.inf))) is None
    assert "chosen_distance" in Pair.__annotations__
