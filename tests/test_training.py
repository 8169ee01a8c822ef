"""Real trl/peft training on the tiny model: parameters move, the merge is exact."""

import importlib.util
import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from transformers import AutoModelForCausalLM

from sqlforge.prompts import example_prompt, sql_messages
from sqlforge.train.sft import build_trainer, sft_dataset

from conftest import REPO, repo_params, two_machines, write_params

# stage scripts in subprocesses, real training or the pipeline: `make test-fast` leaves these out
pytestmark = pytest.mark.slow



def sft_records(records):
    """SFT examples as preprocess writes them (sqlforge.records.SFTExample), plain ones."""
    return [{"id": r["id"], "psg_prefix": "", "revision_of": "", "prompt": sql_messages(r["schema"], r["question"]),
             "completion": [{"role": "assistant", "content": r["gold"]}]} for r in records]


def test_every_trainable_parameter_changes_and_frozen_ones_do_not(tiny_model, demo_records, tmp_path):
    cfg = repo_params({"sft": {"max_steps": 3, "batch_size": 4, "learning_rate": 1e-2, "lora_r": 8, "lora_alpha": 16}}).sft
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


def test_completion_loss_equals_trl_fused_loss(tiny_model, demo_records, tmp_path):
    """The CPU short path (completion positions only) gives trl's loss and gradients on a real batch."""
    from sqlforge.train.sft import SFTTrainer, completion_loss

    cfg = repo_params({"sft": {"max_steps": 1, "batch_size": 8, "lora_r": 8, "lora_alpha": 16,
                               "modules_to_save": ["lm_head"]}}).sft
    trainer = build_trainer(cfg, sft_dataset(sft_records(demo_records["train"][:8])), str(tiny_model),
                            tmp_path / "work")
    assert trainer._label_positions_only(trainer.model, {"attention_mask": None})
    batch = next(iter(trainer.get_train_dataloader()))
    assert (batch["labels"] == -100).float().mean() > 0.5  # prompts are masked: most positions carry no label
    trainable = [p for p in trainer.model.parameters() if p.requires_grad]
    trainer.model.train()
    results = []
    for loss_fn in (lambda: SFTTrainer.compute_loss(trainer, trainer.model, dict(batch)),
                    lambda: completion_loss(trainer, trainer.model, dict(batch))):
        trainer.model.zero_grad()
        loss = loss_fn()
        loss.backward()
        results.append((loss.item(), [p.grad.clone() for p in trainable]))
    (trl_loss, trl_grads), (our_loss, our_grads) = results
    assert our_loss == pytest.approx(trl_loss, rel=1e-5)
    for ours, theirs in zip(our_grads, trl_grads):
        torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=1e-6)
    assert trainer._metrics["train"]["mean_token_accuracy"][-1] >= 0


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
    write_params(params, {"sft": {"max_steps": 10, "batch_size": 8, "lora_r": 8, "lora_alpha": 16}})
    from sqlforge import prompt_settings

    # preprocess writes the settings its prompts were built with beside the SFT data
    prompt_settings.write(tmp_path, prompt_settings.from_preprocess(repo_params({"preprocess": {"sample_values": 3}}).preprocess))
    run_stage("sft.py", "--params", params, "--data", data, "--base-model", tiny_model, "--out", tmp_path / "sft",
              "--live", tmp_path / "live", "--metrics", tmp_path / "sft.json")
    metrics = json.loads((tmp_path / "sft.json").read_text())
    assert metrics["steps"] == 10 and metrics["train_loss"] > 0
    assert (tmp_path / "sft" / "adapter_config.json").is_file()
    loss_rows = (tmp_path / "live" / "plots" / "metrics" / "loss.tsv").read_text().splitlines()
    assert [row.split("\t")[0] for row in loss_rows] == ["step", "10"]  # the trainer's step (logging_steps=10)
    assert not (tmp_path / "sft-work").exists()

    run_stage("merge.py", "--sft", tmp_path / "sft", "--out", tmp_path / "merged", "--metrics", tmp_path / "m.json")
    # the prompt the data was built with travels with the model: sft stores it, merge copies it (sqlforge ask)
    for folder in ("sft", "merged"):
        settings, found = prompt_settings.read(tmp_path / folder, repo_params().preprocess)
        assert found and settings.sample_values == 3, folder
        assert settings.templates["user.txt"] == (REPO / "prompts" / "user.txt").read_text()
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
    write_params(params, {"sft": {"method": "qlora"}})
    proc = subprocess.run([sys.executable, str(REPO / "stages" / "sft.py"), "--params", str(params), "--data",
                           str(tmp_path / "missing.jsonl"), "--base-model", str(tmp_path / "no-model"), "--out",
                           str(tmp_path / "out"), "--live", str(tmp_path / "live"), "--metrics",
                           str(tmp_path / "sft.json")], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 2
    assert "qlora needs a CUDA GPU" in proc.stderr
    assert not (tmp_path / "out").exists()


def test_sft_is_byte_identical_and_a_killed_run_resumes(tiny_model, demo_records, tmp_path):
    from safetensors.torch import load_file

    data = tmp_path / "sft.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in sft_records(demo_records["train"][:64])))
    params = tmp_path / "params.yaml"
    write_params(params, {"sft": {"max_steps": 24, "batch_size": 4, "lora_r": 8, "lora_alpha": 16,
                                              "save_steps": 8, "modules_to_save": []}})

    def start(name):
        cmd = [sys.executable, str(REPO / "stages" / "sft.py"), "--params", str(params), "--data", str(data),
               "--base-model", str(tiny_model), "--out", str(tmp_path / name / "sft"),
               "--live", str(tmp_path / name / "live"), "--metrics", str(tmp_path / name / "sft.json")]
        return subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    # two clean runs side by side: the same params give a byte-identical adapter (the pipeline's
    # forced-rerun test relies on this for sft)
    clean, again = start("clean"), start("again")
    for proc in (clean, again):
        _, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err[-3000:]
    assert ((tmp_path / "clean" / "sft" / "adapter_model.safetensors").read_bytes()
            == (tmp_path / "again" / "sft" / "adapter_model.safetensors").read_bytes())

    killed = start("resumed")
    checkpoint = tmp_path / "resumed" / "sft-work" / "checkpoint-8"
    while not (checkpoint / "trainer_state.json").exists() and killed.poll() is None:
        time.sleep(0.05)
    assert killed.poll() is None, "training finished before it could be killed"
    os.kill(killed.pid, signal.SIGKILL)
    killed.wait()
    assert not (tmp_path / "resumed" / "sft").exists() and not (tmp_path / "resumed" / "sft.json").exists()

    rerun = start("resumed")
    _, err = rerun.communicate(timeout=600)
    assert rerun.returncode == 0, err[-3000:]
    assert "resuming from" in err and "checkpoint-" in err
    assert json.loads((tmp_path / "resumed" / "sft.json").read_text())["steps"] == 24
    ours = load_file(tmp_path / "resumed" / "sft" / "adapter_model.safetensors")
    theirs = load_file(tmp_path / "clean" / "sft" / "adapter_model.safetensors")
    assert ours.keys() == theirs.keys()
    for name in ours:
        torch.testing.assert_close(ours[name], theirs[name], rtol=0, atol=1e-5, msg=name)
    assert not (tmp_path / "resumed" / "sft-work").exists()


def test_ddp_with_two_cpu_processes_over_gloo(tiny_model, demo_records, tmp_path):
    """sft.launcher=ddp: the stage re-runs itself under `accelerate launch` with configs/accelerate/ddp.yaml."""
    data = tmp_path / "sft.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in sft_records(demo_records["train"][:32])))
    params = tmp_path / "params.yaml"
    write_params(params, {"sft": {"epochs": 1.0, "batch_size": 8, "lora_r": 8, "lora_alpha": 16,
                                              "launcher": "ddp", "num_processes": 2}})
    proc = run_stage("sft.py", "--params", params, "--data", data, "--base-model", tiny_model, "--out",
                     tmp_path / "sft", "--live", tmp_path / "live", "--metrics", tmp_path / "sft.json")
    metrics = json.loads((tmp_path / "sft.json").read_text())
    # two ranks in one process group, each taking half of every global batch: 32 / (8 x 2) = 2 steps
    assert metrics["processes"] == 2 and metrics["steps"] == 2, proc.stdout[-2000:]
    assert (tmp_path / "sft" / "adapter_model.safetensors").is_file()
    assert not (tmp_path / "sft" / "training_args.bin").exists() and not (tmp_path / "sft-work").exists()
    from peft import PeftModel

    trained = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_model), tmp_path / "sft")
    lora_b = [p for n, p in trained.named_parameters() if "lora_B" in n]
    assert lora_b and all(p.abs().sum() > 0 for p in lora_b)  # lora_B starts at zero: training moved it


def test_two_machines_on_localhost_train_as_one_process_does(tiny_model, demo_records, tmp_path):
    """cluster.*: two "machines" (two accelerate launches, machine_rank 0 and 1, rendezvous at 127.0.0.1) form one
    gloo process group of 2; with half the per-process batch each, they take the single process's steps and end
    with its adapter (within float tolerance). Each machine gets its own output paths, as on separate hosts;
    machine 0 (rank 0) alone writes."""
    from safetensors.torch import load_file

    data = tmp_path / "sft.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in sft_records(demo_records["train"][:16])))
    common = {"epochs": 1.0, "lora_r": 8, "lora_alpha": 16, "sampling": "random"}

    def argv(name):
        return ["--params", tmp_path / f"{name}.yaml", "--data", data, "--base-model", tiny_model, "--out",
                tmp_path / name / "sft", "--live", tmp_path / name / "live", "--metrics", tmp_path / name / "sft.json"]

    write_params(tmp_path / "single.yaml", {"sft": {**common, "batch_size": 8}})
    run_stage("sft.py", *argv("single"))
    two_machines(lambda rank, cluster: write_params(tmp_path / f"machine{rank}.yaml", {
                     "sft": {**common, "batch_size": 4, "launcher": "ddp", "num_processes": 1}, "cluster": cluster}),
                 lambda rank, params: [sys.executable, str(REPO / "stages" / "sft.py"),
                                       *map(str, argv(f"machine{rank}"))])
    single = json.loads((tmp_path / "single" / "sft.json").read_text())
    multi = json.loads((tmp_path / "machine0" / "sft.json").read_text())
    assert multi["processes"] == 2 and multi["steps"] == single["steps"] == 2
    assert not (tmp_path / "machine1" / "sft").exists() and not (tmp_path / "machine1" / "sft.json").exists()
    ours = load_file(tmp_path / "machine0" / "sft" / "adapter_model.safetensors")
    theirs = load_file(tmp_path / "single" / "sft" / "adapter_model.safetensors")
    assert ours.keys() == theirs.keys()
    moved = 0
    for name in ours:
        torch.testing.assert_close(ours[name], theirs[name], rtol=1e-3, atol=1e-4, msg=name)
        moved += "lora_B" in name and bool(ours[name].abs().sum() > 0)
    assert moved  # lora_B starts at zero: both runs really trained
    # (train_loss is not compared: under DDP the Trainer logs rank 0's own half-batch loss)


def test_train_rm_under_ddp_equals_one_process(tiny_model, demo_records, tmp_path):
    """rm.launcher=ddp: train-rm re-runs itself under accelerate; 2 gloo processes with half the batch each end
    with the single process's reward model (adapter within float tolerance), and rank 0 alone writes."""
    from safetensors.torch import load_file

    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text("".join(json.dumps({"id": f"{r['id']}-0", "question_id": r["id"], "db_id": r["db_id"],
                                         "prompt": sql_messages(r["schema"], r["question"]), "chosen": r["gold"],
                                         "rejected": "SELECT 1", "chosen_distance": 0, "rejected_distance": 1,
                                         "kind": "emerge"}) + "\n" for r in demo_records["train"][:8]))
    common = {"max_steps": 2, "learning_rate": 0.001}
    for name, rm in (("single", {"batch_size": 4}), ("ddp", {"batch_size": 2, "launcher": "ddp", "num_processes": 2})):
        write_params(tmp_path / f"{name}.yaml", {"rm": {**common, **rm}})
        run_stage("train_rm.py", "--params", tmp_path / f"{name}.yaml", "--pairs", pairs, "--sft-model", tiny_model,
                  "--out", tmp_path / name / "rm", "--live", tmp_path / name / "live", "--metrics",
                  tmp_path / name / "rm.json")
    assert json.loads((tmp_path / "ddp" / "rm.json").read_text())["steps"] == 2
    ours = load_file(tmp_path / "ddp" / "rm" / "adapter" / "adapter_model.safetensors")
    theirs = load_file(tmp_path / "single" / "rm" / "adapter" / "adapter_model.safetensors")
    assert ours.keys() == theirs.keys()
    for name in ours:
        torch.testing.assert_close(ours[name], theirs[name], rtol=1e-3, atol=1e-4, msg=name)
    assert any("lora_B" in n and ours[n].abs().sum() > 0 for n in ours)  # trained, not the initial adapter


@pytest.mark.parametrize("sft,message", [
    # the CPU lock has no deepspeed; the GPU lock has it, installed on a CPU machine too (make test-gpu-env)
    ({"launcher": "deepspeed_zero3", "num_processes": 2},
     "needs deepspeed: pip install 'sqlforge[gpu]'" if importlib.util.find_spec("deepspeed") is None
     else "sft.launcher=deepspeed_zero3 needs a CUDA GPU"),
    ({"attn_implementation": "flash_attention_2"}, "flash_attention_2 needs a CUDA GPU"),
    ({"precision": "fp16"}, "sft.precision=fp16 needs a CUDA GPU"),
])
def test_gpu_only_choices_stop_before_loading_on_cpu(tmp_path, sft, message):
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    params = tmp_path / "params.yaml"
    write_params(params, {"sft": sft})
    proc = subprocess.run([sys.executable, str(REPO / "stages" / "sft.py"), "--params", str(params), "--data",
                           str(tmp_path / "missing.jsonl"), "--base-model", str(tmp_path / "no-model"), "--out",
                           str(tmp_path / "out"), "--live", str(tmp_path / "live"), "--metrics",
                           str(tmp_path / "sft.json")], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 2 and message in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "out").exists()


def test_kind_batches_are_one_kind_each_and_reseeded_by_epoch():
    from sqlforge.train.sft import KindBatchSampler

    kinds = ["plain"] * 45 + ["revision"] * 19
    sampler = KindBatchSampler(kinds, batch_size=8, seed=0)
    first = list(sampler)
    assert sorted(first) == list(range(64)) and first == list(sampler)  # a permutation, same within an epoch
    full = [first[i:i + 8] for i in range(0, 40 + 16, 8)]  # 5 plain + 2 revision full batches come first
    assert all(len({kinds[i] for i in batch}) == 1 for batch in full)
    assert sum(kinds[b[0]] == "revision" for b in full) == 2
    sampler.set_epoch(1)
    assert list(sampler) != first and sorted(sampler) == list(range(64))


@pytest.mark.parametrize("sampling", ["by_kind", "random", "group_by_length"])
def test_configured_trainer_draws_batches_with_the_configured_sampler(sampling, tiny_model, demo_records, tmp_path):
    """sft.sampling reaches the trainer's dataloader: by_kind batches hold one kind each (this once was dead code)."""
    from torch.utils.data import RandomSampler
    from transformers.trainer_pt_utils import LengthGroupedSampler

    from sqlforge.train.sft import KindBatchSampler

    records = sft_records(demo_records["train"][:24])
    for r in records[::3]:  # a third become revision examples (their kind comes from `revision_of`)
        r["revision_of"] = "x"
    cfg = repo_params({"sft": {"max_steps": 1, "batch_size": 4, "lora_r": 8, "lora_alpha": 16, "sampling": sampling}}).sft
    trainer = build_trainer(cfg, sft_dataset(records), str(tiny_model), tmp_path / "work")
    loader = trainer.get_train_dataloader()
    expected = {"by_kind": KindBatchSampler, "random": RandomSampler, "group_by_length": LengthGroupedSampler}
    sampler = loader.batch_sampler.sampler  # accelerate wraps the dataloader; its batch sampler holds ours
    assert isinstance(sampler, expected[sampling])  # accelerate swaps RandomSampler for its seedable subclass
    if sampling == "by_kind":
        kinds = list(trainer.train_dataset["kind"])
        order = list(sampler)
        batches = [order[i:i + 4] for i in range(0, 24, 4)]
        assert all(len({kinds[i] for i in b}) == 1 for b in batches)


@pytest.mark.parametrize("setting,expected", [("on", True), ("off", False)])
def test_checkpointing_setting_reaches_trl_configs_on_either_transformers(tmp_path, setting, expected):
    """Rule: sft.gradient_checkpointing reaches trl's SFTConfig and RewardConfig under the argument name the
    installed transformers has (5.23, CPU lock: activation_checkpointing; 5.20, GPU lock: gradient_checkpointing),
    where the wrong name is a TypeError before training starts."""
    from trl import RewardConfig, SFTConfig as TrlSFTConfig

    from sqlforge.train.common import checkpointing_argument, device_kwargs

    for config_class in (TrlSFTConfig, RewardConfig):
        args = config_class(output_dir=str(tmp_path), report_to="none", **device_kwargs("fp32", setting))
        assert bool(getattr(args, checkpointing_argument())) is expected
