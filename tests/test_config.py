"""params.yaml is the one source of defaults and is loaded strictly: a missing, unknown, mistyped,
out-of-range or repeated key fails with one line naming the file and the key."""

import dataclasses
import typing

import pytest
import yaml

from sqlforge import config
from sqlforge.config import deep_merge, load_params, load_yaml_mapping, params_from_dict
from sqlforge.io import InputError

from conftest import REPO


def repo_dict() -> dict:
    return load_yaml_mapping(REPO / "params.yaml")


def test_repo_params_load():
    params = load_params(REPO / "params.yaml")
    assert params.data.dataset == "demo"
    assert params.tree.shards == list(range(len(params.tree.shards)))


def test_no_section_declares_a_default():
    """Defaults live in params.yaml only: a field with a default in code could drift from it (it once did)."""
    def walk(cls):
        for f in dataclasses.fields(cls):
            assert f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING, \
                f"{cls.__name__}.{f.name} declares a default"
            tp = typing.get_type_hints(cls)[f.name]
            if dataclasses.is_dataclass(tp):
                walk(tp)
    walk(config.Params)


@pytest.mark.parametrize("override,message", [
    ({"sft": {"lerning_rate": 0.1}}, "unknown key 'sft.lerning_rate'"),
    ({"sft": {"epochs": "many"}}, "'sft.epochs': input should be a valid number"),
    ({"mcts": {"iterations": 2.5}}, "'mcts.iterations': input should be a valid integer"),
    ({"sft": {"method": "adapter"}}, "'sft.method': input should be 'lora', 'qlora' or 'full'"),
    ({"tree": {"shards": [1, 2]}}, "'tree.shards' must be [0, 1, ..., n-1]"),
    ({"bogus": {}}, "unknown key 'bogus'"),
    ({"validate": {"keep_distinct": 1}}, "'validate.keep_distinct': input should be a valid boolean"),
    # ranges (issue: every value below was once accepted silently)
    ({"sft": {"epochs": -1.0}}, "'sft.epochs': input should be greater than 0"),
    ({"validate": {"timeout_s": float("nan")}}, "'validate.timeout_s': input should be a finite number"),
    ({"preprocess": {"gold_timeout_s": -1.0}}, "'preprocess.gold_timeout_s': input should be greater than 0"),
    ({"validate": {"workers": -3}}, "'validate.workers': input should be greater than or equal to 1"),
    ({"engine": {"batch_size": 0}}, "'engine.batch_size': input should be greater than or equal to 1"),
    ({"tree": {"branching": -2}}, "'tree.branching'"),
    ({"sft": {"learning_rate": float("inf")}}, "'sft.learning_rate': input should be a finite number"),
    ({"preprocess": {"psg": {"ratio": 7.5}}}, "'preprocess.psg.ratio': input should be less than or equal to 1"),
    ({"pairs": {"test_fraction": 1.5}}, "'pairs.test_fraction': input should be less than 1"),
    ({"engine": {"gpu_memory_utilization": 3.0}}, "'engine.gpu_memory_utilization'"),
    ({"data": {"sha256": "not-hex"}}, "'data.sha256': string should match pattern"),
    ({"mcts": {"iterations": -1}}, "'mcts.iterations'"),
    ({"data": {"demo": {"train_questions": -5}}}, "'data.demo.train_questions'"),
    ({"sft": {"max_steps": 0}}, "'sft.max_steps': must be -1 (no limit) or >= 1"),
    ({"model": {"tiny": {"num_heads": 6, "num_kv_heads": 4}}}, "'model.tiny.num_heads' (6) must be a multiple"),
])
def test_bad_params_are_named(override, message):
    with pytest.raises(InputError) as info:
        params_from_dict(deep_merge(repo_dict(), override), "params.yaml")
    assert str(info.value).startswith("params.yaml: ") and message in str(info.value)
    assert "\n" not in str(info.value)


def test_missing_key_is_named(tmp_path):
    data = repo_dict()
    del data["sft"]["lora_r"]
    with pytest.raises(InputError, match=r"params.yaml: missing key 'sft.lora_r'"):
        params_from_dict(data, "params.yaml")


def test_invalid_yaml_names_the_file(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("sft: [unclosed\n")
    with pytest.raises(InputError, match="params.yaml: invalid YAML"):
        load_params(path)


def test_a_section_written_twice_is_an_error_not_a_silent_replacement(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text((REPO / "params.yaml").read_text() + "\nsft:\n  epochs: 1.0\n")
    with pytest.raises(InputError, match="key 'sft' appears twice"):
        load_params(path)


def test_exponent_floats_are_numbers_as_every_user_means(tmp_path):
    """YAML 1.1 reads 1e-3 (no dot) as a string; params accept it as the number."""
    path = tmp_path / "params.yaml"
    path.write_text((REPO / "params.yaml").read_text().replace("learning_rate: 0.002", "learning_rate: 1e-3"))
    assert load_params(path).sft.learning_rate == 1e-3


def test_overrides_apply_on_top_of_the_file():
    params = load_params(REPO / "params.yaml", {"sft": {"batch_size": 4}})
    assert params.sft.batch_size == 4
    assert params.sft.lora_r == repo_dict()["sft"]["lora_r"]


@pytest.mark.parametrize("profile", sorted((REPO / "profiles").glob("*.yaml")), ids=lambda p: p.name)
def test_every_profile_passes_the_same_validation(profile, tmp_path):
    from sqlforge.profiles import apply_profile

    merged = apply_profile(profile, REPO / "params.yaml", check_only=True)
    assert merged["data"]["dataset"] in {"demo", "spider", "bird"}
    # and a typo in a profile would be caught the same way
    broken = tmp_path / "broken.yaml"
    broken.write_text(yaml.safe_dump(deep_merge(load_yaml_mapping(profile), {"rm": {"lora_rank": 8}})))
    with pytest.raises(InputError, match="rm.lora_rank"):
        apply_profile(broken, REPO / "params.yaml", check_only=True)
    written = tmp_path / "params.yaml"
    written.write_text((REPO / "params.yaml").read_text())
    apply_profile(profile, written)
    assert yaml.safe_load(written.read_text()) == merged


def test_non_finite_numbers_in_a_params_file_are_one_line_exit_2(tmp_path):
    """Rule pinned: YAML's .nan and .inf are refused for a Seconds key (sandbox.timeout_s) and a plain float key
    (rm.margin_scale), naming the key, and a command given such a file exits 2 with that one line."""
    import os
    import subprocess
    import sys

    from conftest import REPO, write_params

    for key, section, value in (("timeout_s", "sandbox", ".nan"), ("timeout_s", "sandbox", ".inf"),
                                ("margin_scale", "rm", ".inf"), ("margin_scale", "rm", "-.inf")):
        path = write_params(tmp_path / "params.yaml", {})
        text = path.read_text()
        start = text.index(f"\n{section}:")
        at = text.index(f"  {key}: ", start)
        end = text.index("\n", at)
        path.write_text(text[:at] + f"  {key}: {value}" + text[end:])
        with pytest.raises(InputError) as info:
            load_params(path)
        assert f"'{section}.{key}': input should be a finite number" in str(info.value)
        proc = subprocess.run([sys.executable, "-m", "sqlforge.commands", "evaluate", "--rules", "bird", "--gold",
                               tmp_path / "dev.json", "--pred", tmp_path / "p.json", "--db", tmp_path,
                               "--out", tmp_path / "v.jsonl", "--params", path], capture_output=True, text=True,
                              env={**os.environ, "PYTHONPATH": str(REPO / "src")}, cwd=REPO, timeout=60)
        assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
        assert f"'{section}.{key}': input should be a finite number" in proc.stderr
