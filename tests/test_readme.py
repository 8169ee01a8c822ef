"""The README's commands work as typed: its marked command blocks run, in order, on the smoke pipeline.

A fence preceded by `<!-- readme-test: setup -->` (activating the environment
`make repro` created) starts every block's shell; fences preceded by
`<!-- readme-test: run -->` run, each in a fresh `bash` that first runs the
setup block, in a copy of the finished smoke pipeline (tests/conftest.py) whose
results are committed, as in a clone of the project after `make repro`. Blocks
that need a GPU, a real dataset or the project's GitHub remote are not marked;
every unmarked command block must sit in one of the sections listed in UNTESTED.
"""

import csv
import io
import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import REPO, run

MARKER = re.compile(r"^<!-- readme-test: (setup|run) -->$")
FENCE = re.compile(r"^```(\w*)$")
# sections whose command blocks are not run here, and why
UNTESTED = {"Quickstart": "it is what built the smoke pipeline (make repro, make test)",
            "Use your data (Spider, BIRD)": "needs the real dataset files",
            "GPU recipes": "needs GPUs and the GPU extra",
            "Pull-request reports": "needs the project's main branch"}
# stand-ins for what a test machine has no real counterpart of; each must appear in the README as written
SUBSTITUTIONS = {"/mnt/shared/sqlforge": "{remote}",  # the shared folder
                 "<repo>": "{repo}",  # the project's git URL
                 "make install": "ln -s {venv} .venv"}  # no network here: the teammate gets the same venv


@dataclass
class Block:
    kind: str  # setup | run | "" (not marked)
    language: str
    code: str
    section: str
    line: int


def readme_blocks(text: str) -> list[Block]:
    """Every fenced block with its marker (the line right before the fence) and its `##` section."""
    blocks, section, marker, lines = [], "", "", text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("## "):
            section = line[3:].strip()
        found = MARKER.match(line)
        if found:
            if i + 1 >= len(lines) or not FENCE.match(lines[i + 1]):
                raise ValueError(f"README.md:{i + 1}: a readme-test marker must be followed by a fence")
            marker = found.group(1)
        fence = FENCE.match(line)
        if fence:
            end = next((j for j in range(i + 1, len(lines)) if lines[j].startswith("```")), None)
            if end is None:
                raise ValueError(f"README.md:{i + 1}: unclosed fence")
            blocks.append(Block(marker, fence.group(1), "\n".join(lines[i + 1:end]), section, i + 1))
            marker, i = "", end
        i += 1
    return blocks


def test_parser_reads_markers_sections_and_fences():
    text = ("# t\n## A\n<!-- readme-test: setup -->\n```bash\nsource x\n```\n## B\n```text\nout\n```\n"
            "<!-- readme-test: run -->\n```bash\necho 1\necho 2\n```\n```bash\nnot marked\n```\n")
    blocks = readme_blocks(text)
    assert [(b.kind, b.language, b.code, b.section) for b in blocks] == [
        ("setup", "bash", "source x", "A"), ("", "text", "out", "B"), ("run", "bash", "echo 1\necho 2", "B"),
        ("", "bash", "not marked", "B")]
    with pytest.raises(ValueError, match="must be followed by a fence"):
        readme_blocks("<!-- readme-test: run -->\n\n```bash\necho\n```\n")
    with pytest.raises(ValueError, match="unclosed"):
        readme_blocks("```bash\necho\n")


def test_every_command_block_after_the_quickstart_is_tested_or_exempt():
    """A new command block must be marked (and so run) or sit in a section that says why it cannot run."""
    blocks = readme_blocks((REPO / "README.md").read_text())
    setup = [b for b in blocks if b.kind == "setup"]
    assert len(setup) == 1 and setup[0].code.strip() == "source .venv/bin/activate"
    commands = [b for b in blocks if b.language in ("bash", "sh", "shell", "console")]
    untested = {b.section for b in commands if not b.kind}
    assert untested <= set(UNTESTED), untested - set(UNTESTED)
    tested = {b.section for b in blocks if b.kind == "run"}
    assert tested >= {"Results on the demo (committed in `metrics/`)", "Use the model", "Experiments",
                      "Team remote"}, tested
    tested_code = "\n".join(b.code for b in blocks if b.kind == "run")
    for command in ("dvc metrics show", "dvc plots show", "dvc exp run", "dvc push", "dvc pull", "sqlforge ask"):
        assert command in tested_code, command
    # what is substituted is really there: a README change cannot turn a substitution into a no-op
    for placeholder in SUBSTITUTIONS:
        assert placeholder in tested_code, placeholder


def fresh_shell_env(repo: Path) -> dict[str, str]:
    """A new terminal: no virtual environment on PATH. PYTHONPATH points at the copy's own code, which
    the editable install of the test's venv would otherwise shadow (as in tests/test_pipeline.py)."""
    venv_bin = str(Path(sys.executable).parent)
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONHOME")}
    env["PATH"] = os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep) if p != venv_bin)
    env.update(PYTHONPATH=str(repo / "src"), COLUMNS="100", GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@t",
               GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@t")
    return env


def finished_experiments(repo: Path) -> set[str]:
    """mcts.iterations of every experiment on HEAD that finished with metrics."""
    table = csv.DictReader(io.StringIO(run(["dvc", "exp", "show", "--csv", "--no-pager"], repo).stdout))
    return {row["mcts.iterations"] for row in table
            if row.get("Experiment") and row.get("greedy.ex") and row.get("oracle_pass_at_n.ex")}


@pytest.mark.slow
def test_readme_commands_run_as_written(smoke_copy, tmp_path):
    blocks = readme_blocks((REPO / "README.md").read_text())
    setup = next(b.code for b in blocks if b.kind == "setup")
    repo = smoke_copy
    # a clone of the project has its results committed, as the smoke pipeline's repo has
    venv = Path(sys.executable).parent.parent
    # what `make repro` created; after the commit: .gitignore's `.venv/` does not match a link
    (repo / ".venv").symlink_to(venv)
    values = {"remote": tmp_path / "remote", "repo": repo, "venv": venv}
    env = fresh_shell_env(repo)
    outputs = {}
    for block in (b for b in blocks if b.kind == "run"):
        code = block.code
        for placeholder, stand_in in SUBSTITUTIONS.items():
            code = code.replace(placeholder, stand_in.format(**values))
        proc = subprocess.run(["bash", "-c", f"set -eo pipefail\n{setup}\n{code}"], cwd=repo, env=env,
                              stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=1200)
        assert proc.returncode == 0, (f"README.md:{block.line} ({block.section}) failed:\n{block.code}\n"
                                      f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
        outputs[block.line] = proc.stdout
        if "sqlforge ask" in block.code:
            print(f"README.md:{block.line}\n$ {block.code}\n{proc.stdout}")  # the README's example output
        if "dvc exp run" in block.code:
            # now, not at the end: `dvc exp show` lists the experiments of HEAD, and the team block commits
            assert finished_experiments(repo) >= {"16", "1", "3"}, run(["dvc", "exp", "show", "--csv"], repo).stdout
            assert_exp_show_columns(repo)

    by_code = {b.code: outputs[b.line] for b in blocks if b.kind == "run"}
    ask_plain = next(out for code, out in by_code.items() if code.startswith("sqlforge ask"))
    assert "SELECT" in ask_plain and "SQL ran in" in ask_plain
    ask_json = next(out for code, out in by_code.items() if "--json" in code and "sqlforge ask" in code)
    assert json.loads(ask_json.strip().splitlines()[-1])["error"] is None
    teammate = next(out for code, out in by_code.items() if "git clone" in code)
    assert "Running stage" not in teammate  # restored from the remote, nothing re-run
    for restored in ("models/merged/model.safetensors", "data/pairs/train.jsonl"):
        assert (repo / "sqlforge-teammate" / restored).is_file(), restored
    assert not (repo / "sqlforge-teammate" / "models" / "sft").exists()  # push: false, hence --allow-missing


def assert_exp_show_columns(repo: Path) -> None:
    """The experiment table shows the headline metrics, and `--only-changed` the swept param without a
    flood of logged training arguments (DVCLive keeps those out of dvc.yaml)."""
    full = run(["dvc", "exp", "show", "--no-pager", "--csv"], repo).stdout.splitlines()[0].split(",")
    assert "mcts_best_path.ex" in full and "greedy.ex" in full, full
    # --only-changed drops a metric that happens to tie between the runs, hence the full table above
    columns = run(["dvc", "exp", "show", "--only-changed", "--no-pager", "--csv"], repo).stdout.splitlines()[0]
    columns = columns.split(",")
    assert "mcts.iterations" in columns, columns
    assert not [c for c in columns if "learning_rate" in c or "per_device" in c or "metrics/sft" in c], columns
