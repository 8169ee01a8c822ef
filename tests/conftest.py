"""Shared fixtures: a real demo dataset and a real tiny model, built once per test session."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def demo_dir(tmp_path_factory) -> Path:
    from sqlforge.demo.generate import generate_demo

    out = tmp_path_factory.mktemp("demo")
    generate_demo(out, seed=0, train_questions=300, dev_questions=40)
    return out


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory, demo_dir) -> Path:
    """The real tiny base model (random weights), as fetch builds it."""
    import sys

    sys.path.insert(0, str(REPO / "stages"))
    from fetch import tokenizer_corpus

    from sqlforge.config import Params, TinyModel
    from sqlforge.tiny_model import build_tiny_model

    out = tmp_path_factory.mktemp("tiny_model")
    build_tiny_model(out, tokenizer_corpus(Params(), demo_dir), TinyModel(hidden_size=64, num_layers=2, intermediate_size=128))
    return out


@pytest.fixture(scope="session")
def demo_records(demo_dir, tiny_model) -> dict[str, list[dict]]:
    """Normalized records with schema text, as preprocess writes them."""
    from sqlforge.datasets import load_spider
    from sqlforge.schema import serialize_schema

    out = {}
    for split in ("train", "dev"):
        loaded = load_spider(demo_dir, split)
        out[split] = [{**ex.to_dict(), "schema": serialize_schema(loaded.tables[ex.db_id], ex.db_path, 0)}
                      for ex in loaded.examples]
    return out


# the smoke pipeline, run once per session in a temp copy of the repo; tests that change it work on copies
EXCLUDE = {".git", ".venv", "data", "models", "metrics", ".pytest_cache", "dvc.lock"}


def run(cmd, cwd, check=True):
    # the copy's own code, not the editable install's
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "PYTHONPATH": str(Path(cwd) / "src")}
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=env)
    if check:
        assert proc.returncode == 0, f"{cmd} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


def copy_repo(dst: Path) -> Path:
    def ignore(directory, names):
        return [n for n in names if Path(directory) == REPO and n in EXCLUDE or n == "__pycache__"
                or n == "cache" and Path(directory).name == ".dvc" or n == "tmp" and Path(directory).name == ".dvc"]
    shutil.copytree(REPO, dst, ignore=ignore)
    for name in ("data", "models", "metrics"):
        (dst / name).mkdir(exist_ok=True)
    run(["git", "init", "-q"], dst)
    run(["git", "-c", "user.email=t@t", "-c", "user.name=t", "add", "-A"], dst)
    run(["git", "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "copy"], dst)
    return dst


def copy_workspace(src: Path, dst: Path) -> Path:
    """A finished DVC workspace, git history and DVC cache included (not DVC's machine-local state)."""
    shutil.copytree(src, dst, symlinks=True,
                    ignore=lambda d, names: ["tmp"] if Path(d) == src / ".dvc" and "tmp" in names else [])
    return dst


@pytest.fixture(scope="session")
def smoke_pipeline(tmp_path_factory):
    """`dvc repro` on the smoke profile in a temp copy of the repo: (repo, stdout). Do not modify it:
    take a copy_workspace of it."""
    from sqlforge.profiles import apply_profile

    repo = copy_repo(tmp_path_factory.mktemp("pipeline") / "repo")
    apply_profile(repo / "profiles" / "smoke.yaml", repo / "params.yaml")
    proc = run(["dvc", "repro"], repo)
    return repo, proc.stdout
