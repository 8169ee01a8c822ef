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


def test_qlora_on_cpu_stops_before_loading_anything(tmp_path):
    import subprocess
    import sys

    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump({"sft": {"method": "qlora"}}))
    out = tmp_path / "sft"
    proc = subprocess.run([sys.executable, str(REPO / "stages" / "sft.py"), "--params", str(params), "--data",
                           str(tmp_path / "missing.jsonl"), "--base-model", str(tmp_path / "no-model"),
                           "--out", str(out), "--metrics", str(tmp_path / "m.json")],
                          capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 2
    # named before the (missing) data or model is touched
    assert "sft.method=qlora needs a CUDA GPU" in proc.stderr and "Traceback" not in proc.stderr
    assert not out.exists()
