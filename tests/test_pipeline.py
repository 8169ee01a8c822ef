"""The real pipeline: `dvc repro` in a temp copy of the repo with the smoke profile."""

import hashlib
import json
from pathlib import Path

import pytest

import yaml

from conftest import run, stages_run

# stage scripts in subprocesses, real training or the pipeline: `make test-fast` leaves these out
pytestmark = pytest.mark.slow

PIPELINE_STAGES = {"fetch", "preprocess", "sft", "merge", "candidates", "policy-samples", "rl", "tree-build@0",
                   "tree-build@1", "merge-shards", "train-rm", "evaluate-rm", "mcts-explore", "validate"}


def test_full_pipeline_artifacts_and_metrics(smoke_pipeline):
    repo, output = smoke_pipeline
    assert stages_run(output) == PIPELINE_STAGES
    for path in ["data/raw/tables.json", "data/raw/train_spider.json", "models/base/config.json",
                 "models/base/tokenizer.json", "data/prepared/sft.jsonl", "data/prepared/dev.jsonl",
                 "models/sft/adapter_config.json", "models/merged/model.safetensors",
                 "data/trees/shard-0/trees.jsonl", "data/trees/shard-1/trees.jsonl", "data/pairs/train.jsonl",
                 "data/pairs/test.jsonl", "models/rm/config.json", "data/mcts/results.jsonl",
                 "data/candidates/dev.jsonl", "data/rm_eval/scores.jsonl", "metrics/rm_eval/calibration.json",
                 "data/validate/greedy.sql", "data/validate/gold.sql", "data/validate/mcts_best_path.sql",
                 "metrics/validate/ex_by_difficulty.json", "metrics/validate/mcts_ex_by_iterations.json",
                 "metrics/sft/plots/metrics/loss.tsv"]:
        assert (repo / path).is_file(), path

    metrics = {name: json.loads((repo / "metrics" / f"{name}.json").read_text())
               for name in ("validate", "rm", "trees", "sft", "preprocess", "mcts")}
    for predictor in ("greedy", "majority_vote", "best_of_n_rm", "mcts_best_path", "oracle_pass_at_n"):
        block = metrics["validate"][predictor]
        assert set(block) >= {"ex", "n", "ex_by_difficulty"} and 0 <= block["ex"] <= 1 and block["n"] > 0
    assert 0 <= metrics["validate"]["greedy"]["em"] <= 1
    # an oracle that may look at the gold can only do better than any predictor on the same candidates
    assert metrics["validate"]["oracle_pass_at_n"]["ex"] >= max(metrics["validate"][p]["ex"] for p in
                                                                 ("greedy", "majority_vote", "best_of_n_rm"))
    assert set(metrics["validate"]["mcts_ex_by_iterations"]) == {"1", "2"}
    # the configured selector re-chosen from the stored candidates gives mcts-explore's own choice;
    # no selector can beat "any candidate MCTS found is right"
    by_selector = metrics["validate"]["mcts_ex_by_selector"]
    # no RM scores unless the search used the RM
    assert set(by_selector) == {"best_path", "best_path_or_reward", "best_reward", "most_visited", "vote"}
    assert by_selector["best_path"] == metrics["validate"]["mcts_best_path"]["ex"]
    assert metrics["validate"]["oracle_mcts_any_candidate"]["ex"] >= max(by_selector.values())
    assert metrics["validate"]["rules"]["name"] == "spider" and metrics["validate"]["dataset"]["name"] == "demo"
    assert set(metrics["rm"]) >= {"pairwise_accuracy", "mean_margin", "n_pairs", "candidates",
                                  "reference_policy_logprob"}
    assert metrics["rm"]["candidates"]["greedy_ex"] == metrics["validate"]["greedy"]["ex"]
    for report in (metrics["rm"], metrics["rm"]["reference_policy_logprob"]):
        assert sum(g["n_pairs"] for g in report["by_group"].values()) == report["n_pairs"]
    assert set(metrics["trees"]) >= {"questions", "solved_at_root", "solved_by_revision", "unsolved", "pairs"}
    assert metrics["trees"]["questions"] == 40 and sum(metrics["trees"]["pairs"].values()) > 0
    assert metrics["sft"]["steps"] == 300 and metrics["sft"]["train_loss"] > 0
    assert metrics["preprocess"]["train"] == 600 and metrics["preprocess"]["dev"] == 30
    assert set(metrics["mcts"]) >= {"seconds_per_question", "model_calls_per_question"}
    # greedy SQL file: one line per dev question, in order
    assert len((repo / "data/validate/greedy.sql").read_text().splitlines()) == 30
    # pipeline outputs are DVC's, not git's
    ignored = run(["git", "check-ignore", "data/raw", "models/base", "data/mcts"], repo).stdout.split()
    assert ignored == ["data/raw", "models/base", "data/mcts"]


def fingerprint(repo: Path) -> dict[str, object]:
    """sha256 of every data and model file, and every metric except wall-clock timings."""
    out: dict[str, object] = {}
    for folder in ("data", "models"):
        for path in sorted((repo / folder).rglob("*")):
            if path.is_file() and path.name != ".gitignore":
                out[str(path.relative_to(repo))] = hashlib.sha256(path.read_bytes()).hexdigest()

    def untimed(obj):
        if isinstance(obj, dict):
            # GRPO logs its own wall-clock per step as step_time
            return {k: untimed(v) for k, v in obj.items() if "seconds" not in k and "runtime" not in k
                    and "per_second" not in k and k != "step_time"}
        return obj

    for path in sorted((repo / "metrics").rglob("*.json")):
        out[str(path.relative_to(repo))] = untimed(json.loads(path.read_text()))
    return out


def test_forced_rerun_gives_byte_identical_outputs(smoke_copy):
    """Rule: the same params give the same bytes. Every stage but sft is forced to run again here (sft is
    most of the pipeline's time; its own byte-identity is test_training's two clean runs)."""
    repo = smoke_copy
    first = fingerprint(repo)
    assert any(k.startswith("models/merged") for k in first) and "metrics/validate.json" in first
    rerun = run(["dvc", "repro", "--force", "--single-item", "fetch", "preprocess"], repo).stdout
    rerun += run(["dvc", "repro", "--force", "--downstream", "merge"], repo).stdout
    assert stages_run(rerun) == PIPELINE_STAGES - {"sft"}
    second = fingerprint(repo)
    changed = sorted(k for k in first.keys() | second.keys() if first.get(k) != second.get(k))
    assert not changed, changed
    # sft's inputs came back byte-identical, so the adapter it did not rerun is still the right one
    assert "up to date" in run(["dvc", "status"], repo).stdout


def test_every_declared_plot_renders(smoke_pipeline):
    repo, _ = smoke_pipeline
    declared = [next(iter(p)) for p in yaml.safe_load((repo / "dvc.yaml").read_text())["plots"]]
    rendered = json.loads(run(["dvc", "plots", "show", "--json"], repo).stdout)
    assert not rendered.get("errors"), rendered["errors"]
    plots = rendered.get("data", rendered)
    for plot_id in declared:
        assert plot_id in plots, f"plot {plot_id!r} not rendered: {sorted(plots)}"
        datapoints = [d for entry in plots[plot_id] for d in entry.get("content", {}).get("data", {}).get("values", [])]
        assert datapoints, f"plot {plot_id!r} has no data"


def test_rerun_is_up_to_date_and_rm_param_reruns_only_downstream(smoke_copy):
    repo = smoke_copy
    status = run(["dvc", "status"], repo).stdout
    assert "up to date" in status, status
    assert stages_run(run(["dvc", "repro"], repo).stdout) == set()

    params = (repo / "params.yaml").read_text()
    assert "margin_scale: 0.0" in params
    (repo / "params.yaml").write_text(params.replace("margin_scale: 0.0", "margin_scale: 0.5"))
    # what DVC would run, not run here (training with the margin column runs in test_fidelity's train-rm
    # test): train-rm itself, and downstream of it only: evaluate-rm and mcts-explore read the reward model,
    # validate their outputs
    assert stages_run(run(["dvc", "repro", "--dry"], repo).stdout) == {"train-rm"}
    planned = stages_run(run(["dvc", "repro", "--dry", "--force-downstream"], repo).stdout)
    assert planned == {"train-rm", "evaluate-rm", "mcts-explore", "validate"}
