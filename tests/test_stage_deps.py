"""dvc.yaml's deps are each stage's real inputs: every sqlforge module a stage script imports, directly or
through other modules, and the files those modules read. A missing dep makes `dvc repro` call stale results
up to date; a stale extra one reruns stages for nothing. Both fail here, with the fix in the message."""

from __future__ import annotations

import ast
import shlex
from pathlib import Path

import yaml

from conftest import REPO

SRC = REPO / "src"
# files a module reads at run time, beside its imports
DATA_DEPS = {"sqlforge/prompts.py": "prompts", "sqlforge/train/launch.py": "configs/accelerate"}


def module_file(name: str) -> Path | None:
    base = SRC.joinpath(*name.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def imported_files(path: Path) -> set[Path]:
    """sqlforge modules named by any import in the file (top level or inside functions), with their packages."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names |= {f"{node.module}.{a.name}" for a in node.names}  # `from pkg import submodule`
    files = set()
    for name in names:
        if name.split(".")[0] != "sqlforge":
            continue
        parts = name.split(".")
        for i in range(1, len(parts) + 1):  # importing a.b.c runs a/__init__ and a/b/__init__ first
            found = module_file(".".join(parts[:i]))
            if found:
                files.add(found)
    return files


def closure(script: Path) -> set[Path]:
    todo, seen = [script], set()
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        todo.extend(imported_files(path) - seen)
    return seen


def required_deps(script: Path) -> set[str]:
    files = closure(script)
    deps = {str(f.relative_to(REPO)) for f in files}
    deps |= {extra for module, extra in DATA_DEPS.items() if SRC / module in files}
    return deps


def covered(dep_list: list[str], path: str) -> bool:
    return any(path == d or path.startswith(d.rstrip("/") + "/") for d in dep_list)


def stage_scripts() -> dict[str, tuple[Path, list[str]]]:
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    out = {}
    for name, stage in stages.items():
        stage = stage.get("do", stage)
        script = next(w for w in stage["cmd"].split() if w.startswith("stages/") and w.endswith(".py"))
        out[name] = (REPO / script, stage["deps"])
    return out


def test_every_stage_lists_its_transitive_imports_and_their_files():
    problems = []
    for name, (script, deps) in stage_scripts().items():
        needed = required_deps(script)
        missing = sorted(p for p in needed if not covered(deps, p))
        if missing:
            problems.append(f"{name}: add {missing}")
    assert not problems, "dvc.yaml deps miss imported code:\n" + "\n".join(problems)


def test_no_stage_lists_code_it_does_not_use():
    problems = []
    for name, (script, deps) in stage_scripts().items():
        needed = required_deps(script)
        code_deps = [d for d in deps if d.startswith(("src/", "stages/", "prompts", "configs/"))]
        unused = sorted(d for d in code_deps if not any(covered([d], p) for p in needed))
        if unused:
            problems.append(f"{name}: remove {unused}")
    assert not problems, "dvc.yaml deps list code the stage never imports:\n" + "\n".join(problems)


def test_the_import_walk_sees_function_level_and_package_imports(tmp_path):
    """The checker itself: preprocess imports the engine inside a function (PSG hard mode); that counts,
    and so do the package __init__ files an import runs."""
    needed = required_deps(REPO / "stages" / "preprocess.py")
    assert "src/sqlforge/engine/__init__.py" in needed and "src/sqlforge/__init__.py" in needed
    assert "src/sqlforge/config.py" in needed and "prompts" in needed


def params_read(script: Path) -> set[str]:
    """Dotted params paths a stage script reads: `params.a.b` -> "a.b", `params.a` (whole section) -> "a".
    Library functions take sections or values, never the whole params, so the script shows every read."""
    tree = ast.parse(script.read_text())
    inner = {id(n.value) for n in ast.walk(tree) if isinstance(n, ast.Attribute)}  # part of a longer chain
    chains = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Attribute) \
                and isinstance(node.value.value, ast.Name) and node.value.value.id == "params":
            chains.add(f"{node.value.attr}.{node.attr}")
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "params" \
                and id(node) not in inner:
            chains.add(node.attr)
    return chains


def test_every_stage_lists_the_params_it_reads():
    from sqlforge.config import Params
    import dataclasses

    sections = {f.name for f in dataclasses.fields(Params)}
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    problems = []
    for name, (script, _) in stage_scripts().items():
        stage = stages[name.split("@")[0]]
        listed = [p if isinstance(p, str) else next(iter(p)) for p in stage.get("do", stage).get("params", [])]
        for chain in sorted(params_read(script)):
            if chain.split(".")[0] not in sections:
                continue  # an attribute of something else named params
            if not any(chain == p or chain.startswith(p + ".") for p in listed):
                problems.append(f"{name}: add params '{chain}'")
    assert not problems, "dvc.yaml params miss what stages read:\n" + "\n".join(problems)


def test_a_package_folder_is_one_dep_only_where_the_stage_uses_all_of_it():
    """`src/sqlforge/sandbox` as one dep says the stage runs every module in it; if it used only some, an
    edit to another would rerun the stage for nothing: list the modules instead."""
    problems = []
    for name, (script, deps) in stage_scripts().items():
        needed = required_deps(script)
        for dep in deps:
            folder = REPO / dep
            if dep.startswith("src/") and folder.is_dir():
                unused = sorted(str(f.relative_to(REPO)) for f in folder.rglob("*.py")
                                if str(f.relative_to(REPO)) not in needed)
                if unused:
                    problems.append(f"{name}: {dep} holds modules the stage never imports: {unused}")
    assert not problems, "\n".join(problems)


# --- the data paths a stage reads and writes: named once, in its dvc.yaml cmd ---------------------------

OUTPUT_FLAGS = {"--out", "--metrics", "--plots", "--live", "--data-out", "--model-out", "--verdicts", "--predictions"}
SCRATCH_FLAGS = {"--checkpoint"}  # resume state of a killed run, removed when the stage ends: never an output
NOT_PATHS = {"--params", "--shard"}  # params.yaml reaches DVC through `params:`; a shard is a number


def cmd_paths(stage: dict) -> tuple[list[str], list[str]]:
    """(inputs, outputs) named in a stage's cmd as `--flag value` pairs."""
    words = shlex.split(stage["cmd"])
    inputs, outputs = [], []
    for flag, value in zip(words, words[1:]):
        if not flag.startswith("--"):
            continue
        if flag in OUTPUT_FLAGS:
            outputs.append(value)
        elif flag not in NOT_PATHS | SCRATCH_FLAGS:
            inputs.append(value)
    return inputs, outputs


def outs_of(stage: dict) -> list[str]:
    paths = []
    for key in ("outs", "metrics", "plots"):
        for entry in stage.get(key, []):
            paths.append(entry if isinstance(entry, str) else next(iter(entry)))
    return paths


def test_every_path_a_stage_reads_is_a_dep_and_every_path_it_writes_an_out():
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    problems = []
    for name, stage in stages.items():
        stage = stage.get("do", stage)
        inputs, outputs = cmd_paths(stage)
        deps, outs = [str(d) for d in stage["deps"]], outs_of(stage)
        problems += [f"{name} reads {p}: add it to deps" for p in inputs if not covered(deps, p)]
        problems += [f"{name} writes {p}: add it to outs or metrics" for p in outputs if p not in outs]
        problems += [f"{name} declares out {p} that its cmd never names" for p in outs
                     if not any(covered([o], p) for o in outputs)]
    assert not problems, "\n".join(problems)


def path_literals(script: Path) -> list[str]:
    """String constants in a stage script that look like pipeline paths, and argparse path defaults."""
    found = []
    for node in ast.walk(ast.parse(script.read_text())):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) \
                and node.value.startswith(("data/", "models/", "metrics/", "params.yaml")):
            found.append(node.value)
        if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "add_argument":
            for kw in node.keywords:
                if kw.arg == "default" and isinstance(kw.value, ast.Constant) and isinstance(kw.value.value, str) \
                        and "/" in kw.value.value:
                    found.append(f"default={kw.value.value}")
    return found


def test_stage_scripts_take_every_path_from_their_cmd():
    """No path is hard-coded in a stage script (a default or a literal): the cmd in dvc.yaml names each one,
    so the deps and outs test above sees everything the stage touches."""
    problems = {s.name: path_literals(s) for s in sorted((REPO / "stages").glob("*.py"))}
    problems = {k: v for k, v in problems.items() if v}
    assert not problems, problems


def test_the_path_checks_fail_on_a_missing_dep_an_undeclared_out_and_a_hard_coded_path(tmp_path):
    stage = {"cmd": "python stages/x.py --params params.yaml --dev data/prepared/dev.jsonl --out data/x "
                    "--metrics metrics/x.json", "deps": ["stages/x.py", "data/prepared/train.jsonl"],
             "outs": ["data/x"]}
    inputs, outputs = cmd_paths(stage)
    assert inputs == ["data/prepared/dev.jsonl"] and outputs == ["data/x", "metrics/x.json"]
    assert not covered(stage["deps"], inputs[0])
    assert "metrics/x.json" not in outs_of(stage)
    script = tmp_path / "x.py"
    script.write_text('import argparse\np = argparse.ArgumentParser()\np.add_argument("--dev", default="data/a/b")\n'
                      'open("models/base/x")\n')
    assert sorted(path_literals(script)) == ["data/a/b", "default=data/a/b", "models/base/x"]
