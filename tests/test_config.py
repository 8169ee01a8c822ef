"""params.yaml is loaded strictly: unknown keys and wrong types fail with the key's name."""

import pytest
import yaml

from sqlforge.config import load_params, params_from_dict
from sqlforge.io import InputError

from conftest import REPO


def test_repo_params_load():
    params = load_params(REPO / "params.yaml")
    assert params.data.dataset == "demo"
    assert params.tree.shards == list(range(len(params.tree.shards)))


@pytest.mark.parametrize("data,message", [
    ({"sft": {"lerning_rate": 0.1}}, "sft.lerning_rate"),
    ({"sft": {"epochs": "many"}}, "'sft.epochs' must be float"),
    ({"mcts": {"iterations": 2.5}}, "'mcts.iterations' must be int"),
    ({"sft": {"method": "adapter"}}, "'sft.method' must be one of"),
    ({"tree": {"shards": [1, 2]}}, "tree.shards"),
    ({"bogus": {}}, "unknown key(s) bogus"),
])
def test_bad_params_are_named(data, message):
    with pytest.raises(InputError) as info:
        params_from_dict(data, "params.yaml")
    assert message in str(info.value) and "params.yaml" in str(info.value)


def test_invalid_yaml_names_the_file(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("sft: [unclosed\n")
    with pytest.raises(InputError, match="params.yaml: invalid YAML"):
        load_params(path)
    path.write_text(yaml.safe_dump({"sft": {"batch_size": 4}}))
    assert load_params(path).sft.batch_size == 4



@pytest.mark.parametrize("profile", sorted((REPO / "profiles").glob("*.yaml")), ids=lambda p: p.name)
def test_every_profile_passes_the_same_validation(profile, tmp_path):
    from sqlforge.profiles import apply_profile

    merged = apply_profile(profile, REPO / "params.yaml", check_only=True)
    assert merged["data"]["dataset"] in {"demo", "spider", "bird"}
    # and a typo in a profile would be caught the same way
    broken = tmp_path / "broken.yaml"
    broken.write_text(profile.read_text() + "\nsft: {lora_rank: 8}\n")
    with pytest.raises(InputError, match="sft.lora_rank"):
        apply_profile(broken, REPO / "params.yaml", check_only=True)
