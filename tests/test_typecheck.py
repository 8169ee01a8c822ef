"""The static type check (`make typecheck`): mypy fails on an engine backend that does not meet the Protocol."""

from __future__ import annotations

import subprocess
import sys

import pytest

from conftest import REPO

pytest.importorskip("mypy", reason="mypy is not installed (it is pinned in both lock files)")

BACKEND = '''
from typing import Sequence

from sqlforge.engine.base import Completion, Engine, Score


class Backend:
    def __init__(self) -> None:
{members}
    def generate(self, prompts: Sequence[str], n: int = 1, temperature: float = 0.0, top_p: float = 1.0,
                 max_new_tokens: int = 128, stop: Sequence[str] = (), seed: int = 0) -> list[list[Completion]]:
        return []

    def score(self, prompts: Sequence[str], continuations: Sequence[str]) -> list[Score]:
        return []


def conforms(engine: Backend) -> Engine:
    return engine
'''
MEMBERS = {"tokenizer": "object()", "calls": "0", "requests": "0", "generated_tokens": "0", "show_progress": "False"}


def mypy(tmp_path, members: dict[str, str]):
    source = BACKEND.format(members="".join(f"        self.{k} = {v}\n" for k, v in members.items()))
    (tmp_path / "backend.py").write_text(source)
    # the project's own mypy config; only the one file is checked
    return subprocess.run([sys.executable, "-m", "mypy", "--config-file", str(REPO / "pyproject.toml"),
                           "--cache-dir", str(tmp_path / ".mypy_cache"), str(tmp_path / "backend.py")],
                          cwd=REPO, capture_output=True, text=True, env={"MYPYPATH": str(REPO / "src"),
                                                                         "PATH": "/usr/bin:/bin"})


def test_a_backend_missing_a_member_fails_the_type_check(tmp_path):
    """Rule: a backend without `tokenizer` (what stopped every GPU profile) fails mypy; a complete one passes."""
    complete = mypy(tmp_path, MEMBERS)
    assert complete.returncode == 0, complete.stdout + complete.stderr
    missing = mypy(tmp_path, {k: v for k, v in MEMBERS.items() if k != "tokenizer"})
    assert missing.returncode == 1 and "tokenizer" in missing.stdout, missing.stdout
