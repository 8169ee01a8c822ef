"""Real trl/peft training on the tiny model: parameters move, the merge is exact."""

import json
import subprocess
import sys

import pytest
import torch
import yaml
from transformers import AutoModelForCausalLM

from sqlforge.config import SFTConfig
from sqlforge.prompts import example_prompt, sql_messages
from sqlforge.sft import build_trainer, sft_dataset

from conftest import REPO


def sft_records(records):
    return [{"prompt": sql_messages(r["schema"], r["question"]), "completion": [{"role": "assistant",
                                                                                "content": r["gold"]}]}
            for r in records]


def test_every_trainable_parameter_changes_and_frozen_ones_do_not(tiny_model, demo_records, tmp_path):
    cfg = SFTConfig(max_steps=3, batch_size=4, learning_rate=1e-2, lora_r=8, lora_alpha=16)
    trainer = build_trainer(cfg, sft_dataset(sft_records(demo_records["train"][:24])), str(tiny_model),
                            tmp_path / "work")
    before = {n: p.detach().clone() for n, p in trainer.model.named_parameters()}
    trainer.train()
    trainable = 0
    for name, param in trainer.model.named_parameters():
        if param.requires_grad:
            trainable += 1
            assert not torch.equal(param, before[name]), f"{name} did not change"
        else:
            assert torch.equal(param, before[name]), f"frozen {name} changed"
    assert trainable > 0


def run_stage(script, *args):
    proc = subprocess.run([sys.executable, str(REPO / "stages" / script), *map(str, args)], cwd=REPO,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def test_sft_and_merge_scripts(tiny_model, demo_records, tmp_path):
    data = tmp_path / "sft.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in sft_records(demo_records["train"][:32])))
    params = tmp_path / "params.yaml"
    # 10 steps: the first loss is logged (and plotted) at step 10
    params.write_text(yaml.safe_dump({"sft": {"max_steps": 10, "batch_size": 8, "lora_r": 8, "lora_alpha": 16}}))
    run_stage("sft.py", "--params", params, "--data", data, "--base-model", tiny_model, "--out", tmp_path / "sft",
              "--live", tmp_path / "live", "--metrics", tmp_path / "sft.json")
    metrics = json.loads((tmp_path / "sft.json").read_text())
    assert metrics["steps"] == 10 and metrics["train_loss"] > 0
    assert (tmp_path / "sft" / "adapter_config.json").is_file()
    assert (tmp_path / "live" / "plots" / "metrics" / "loss.tsv").is_file()
    assert not (tmp_path / "sft-work").exists()

    run_stage("merge.py", "--sft", tmp_path / "sft", "--out", tmp_path / "merged", "--metrics", tmp_path / "m.json")
    from peft import PeftModel
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tmp_path / "merged")
    assert tokenizer.chat_template
    merged = AutoModelForCausalLM.from_pretrained(tmp_path / "merged").eval()
    adapter = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_model),
                                        tmp_path / "sft").eval()
    prompts = [example_prompt(tokenizer, r) + r["gold"] for r in demo_records["dev"][:4]]
    for prompt in prompts:
        ids = tokenizer(prompt, return_tensors="pt", add_special_tokens=False)["input_ids"]
        with torch.no_grad():
            diff = (merged(ids).logits - adapter(ids).logits).abs().max().item()
        assert diff < 1e-4


def test_qlora_on_cpu_stops_before_loading(tmp_path):
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump({"sft": {"method": "qlora"}}))
    proc = subprocess.run([sys.executable, str(REPO / "stages" / "sft.py"), "--params", str(params), "--data",
                           str(tmp_path / "missing.jsonl"), "--out", str(tmp_path / "out")], cwd=REPO,
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert "qlora needs a CUDA GPU" in proc.stderr
    assert not (tmp_path / "out").exists()
