"""Shared fixtures: a real demo dataset and a real tiny model, built once per test session."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
if os.environ.get("PYTEST_XDIST_WORKER_COUNT"):
    # under `pytest -n N` the cores are shared: one torch thread per worker, not every core per worker
    # (busy-waiting threads of N workers would otherwise fight over the same cores); subprocesses inherit it
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // int(os.environ["PYTEST_XDIST_WORKER_COUNT"]))))

REPO = Path(__file__).resolve().parents[1]


def repo_params(overrides: dict | None = None):
    """params.yaml (the one source of defaults) with a test's overrides on top."""
    from sqlforge.config import load_params

    return load_params(REPO / "params.yaml", overrides)


def make_executor(timeout_s: float = 30.0, workers: int = 1, gold_limits=None, **bounds):
    """An Executor with params.yaml's sandbox bounds (the library has no defaults of its own), a test's
    `bounds` (Executor keywords: max_rows, memory_mb, cache_bytes, kill_grace_s, ...) on top; `gold_limits`
    is a Limits, or a dict of fields changed from params.yaml's gold bounds."""
    import dataclasses

    from sqlforge.sandbox.executor import Executor, Limits, gold_limits as gold_of

    sandbox = repo_params().sandbox
    settings = dict(max_rows=sandbox.max_rows, max_bytes=sandbox.max_result_mb << 20, max_cells=sandbox.max_cells,
                    memory_mb=sandbox.memory_mb, cache_bytes=sandbox.cache_mb << 20)
    gold = gold_limits if isinstance(gold_limits, Limits) else dataclasses.replace(gold_of(sandbox), **(gold_limits or {}))
    return Executor(timeout_s=timeout_s, workers=workers, gold_limits=gold, **{**settings, **bounds})


def write_params(path: Path, overrides: dict) -> Path:
    """A complete params file for a stage script: params.yaml with the overrides merged in."""
    import yaml

    from sqlforge.config import deep_merge, load_yaml_mapping

    path.write_text(yaml.safe_dump(deep_merge(load_yaml_mapping(REPO / "params.yaml"), overrides), sort_keys=False))
    return path


@pytest.fixture(scope="session")
def demo_dir(tmp_path_factory) -> Path:
    from sqlforge.demo.generate import generate_demo

    out = tmp_path_factory.mktemp("demo")
    generate_demo(out, seed=0, train_questions=300, dev_questions=40, layout="in_domain", train_databases=12,
                  dev_databases=4)
    return out


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory, demo_dir) -> Path:
    """The real tiny base model (random weights), as fetch builds it."""
    import sys

    sys.path.insert(0, str(REPO / "stages"))
    from fetch import tokenizer_corpus

    from sqlforge.train.tiny_model import build_tiny_model

    out = tmp_path_factory.mktemp("tiny_model")
    params = repo_params({"model": {"tiny": {"hidden_size": 64, "num_layers": 2, "intermediate_size": 128}}})
    build_tiny_model(out, tokenizer_corpus(params, demo_dir), params.model.tiny)
    return out


@pytest.fixture(scope="session")
def demo_records(demo_dir, tiny_model) -> dict[str, list[dict]]:
    """Normalized records with schema text, as preprocess writes them."""
    from sqlforge.data.datasets import load_spider
    from sqlforge.data.schema import serialize_schema

    out = {}
    for split in ("train", "dev"):
        loaded = load_spider(demo_dir, split)
        out[split] = [{**ex.to_dict(), "schema": serialize_schema(loaded.tables[ex.db_id], ex.db_path, 0)}
                      for ex in loaded.examples]
    return out


def run_stage_main(module: str, argv: list[str], monkeypatch) -> None:
    """A stage script's own main() in this process (no interpreter start-up, and its module-level names can
    be spied on); `module` is a file name in stages/ without .py."""
    if str(REPO / "stages") not in sys.path:
        sys.path.insert(0, str(REPO / "stages"))
    stage = __import__(module)
    monkeypatch.setattr(sys, "argv", [f"{module}.py", *argv])
    stage.main()


# --- the smoke pipeline: `dvc repro` on profiles/smoke.yaml in a temp copy of the repo, once per session ---

COPY_EXCLUDE = {".git", ".venv", "data", "models", "metrics", ".pytest_cache", "dvc.lock"}


def run(cmd, cwd, check=True) -> subprocess.CompletedProcess:
    # the copy's own code, not the editable install's; its .venv-less PATH still finds this venv's dvc
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "PYTHONPATH": str(Path(cwd) / "src")}
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=env)
    if check:
        assert proc.returncode == 0, f"{cmd} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


def two_machines(params_for_rank, command_for_rank) -> None:
    """Run a training stage as two "machines" on localhost: two launches with cluster.machine_rank 0 and 1 and
    one rendezvous port, one process each (gloo). `params_for_rank(rank, cluster)` writes that machine's params
    file and returns it; `command_for_rank(rank, params)` is its stage command. Both must succeed."""
    from sqlforge.train.launch import _free_port  # the launcher's own pick of a free local rendezvous port

    cluster = {"num_machines": 2, "main_process_ip": "127.0.0.1", "main_process_port": _free_port()}
    procs = [subprocess.Popen(command_for_rank(rank, params_for_rank(rank, {**cluster, "machine_rank": rank})),
                              cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for rank in (0, 1)]
    outs = [proc.communicate(timeout=900)[0] for proc in procs]
    for rank, (proc, out) in enumerate(zip(procs, outs)):
        assert proc.returncode == 0, f"machine {rank}: {out[-3000:]}"


def commit_all(repo: Path, message: str) -> None:
    run(["git", "add", "-A"], repo)
    run(["git", "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", message, "--allow-empty"], repo)


def copy_repo(dst: Path) -> Path:
    """The working tree's code and params (no outputs, no DVC cache) as a fresh git repo."""
    def ignore(directory, names):
        return [n for n in names if Path(directory) == REPO and n in COPY_EXCLUDE or n == "__pycache__"
                or n in ("cache", "tmp") and Path(directory).name == ".dvc"]
    shutil.copytree(REPO, dst, ignore=ignore)
    for name in ("data", "models", "metrics"):
        (dst / name).mkdir(exist_ok=True)
    run(["git", "init", "-q"], dst)
    commit_all(dst, "copy")
    return dst


def stages_run(output: str) -> set[str]:
    return set(re.findall(r"Running stage '([^']+)'", output))


@pytest.fixture(scope="session")
def smoke_pipeline(tmp_path_factory) -> tuple[Path, str]:
    """(repo, dvc repro's stdout). Shared by every test in the session, across xdist workers too (the first
    to ask builds it, the others wait on the lock): read it, never change it (a test that commits, reruns or
    edits params takes `smoke_copy`)."""
    from filelock import FileLock

    from sqlforge.profiles import apply_profile

    base = tmp_path_factory.getbasetemp()
    root = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base  # the run's folder, not the worker's
    repo, log = root / "smoke-pipeline" / "repo", root / "smoke-pipeline" / "dvc-repro.log"
    with FileLock(root / "smoke-pipeline.lock"):
        if not log.is_file():
            copy_repo(repo)
            apply_profile(repo / "profiles" / "smoke.yaml", repo / "params.yaml")
            proc = run(["dvc", "repro"], repo)
            commit_all(repo, "smoke pipeline results")
            log.write_text(proc.stdout)
    return repo, log.read_text()


def pytest_collection_modifyitems(config, items):
    """The smoke pipeline's module goes first: it is the session's longest chain. Under `pytest -n --dist
    loadfile --no-loadscope-reorder` (make test) xdist hands files out in this order, so one worker builds the
    pipeline while the others share the rest of the suite; the README test, which also needs the pipeline,
    goes last, so no worker sits waiting for it to be built."""
    rank = {"test_pipeline": 0, "test_readme": 2}
    items.sort(key=lambda item: rank.get(item.module.__name__, 1))  # stable: the rest keep their order


@pytest.fixture
def smoke_copy(smoke_pipeline, tmp_path) -> Path:
    """A private copy of the smoke pipeline's repo (git history, DVC cache and outputs) to change freely."""
    repo, _ = smoke_pipeline
    dst = tmp_path / "repo"
    shutil.copytree(repo, dst, symlinks=True,  # not .dvc/tmp: its locks and state belong to the original
                    ignore=lambda d, names: ["tmp"] if Path(d) == repo / ".dvc" else [])
    return dst


@pytest.fixture(scope="session")
def tiny_lora_adapter(tmp_path_factory, tiny_model) -> Path:
    """A LoRA adapter folder on the tiny model (as sft writes one), with random non-zero weights, so
    serving base + adapter gives other log-probs than the base model alone."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    base = AutoModelForCausalLM.from_pretrained(tiny_model)
    config = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False,
                        task_type="CAUSAL_LM")
    model = get_peft_model(base, config)
    out = tmp_path_factory.mktemp("lora") / "adapter"
    model.save_pretrained(out)
    return out
