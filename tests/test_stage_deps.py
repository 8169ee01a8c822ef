"""dvc.yaml's deps are each stage's real inputs: every sqlforge module a stage script imports, directly or
through other modules, and the files those modules read. A missing dep makes `dvc repro` call stale results
up to date; a stale extra one reruns stages for nothing. Both fail here, with the fix in the message."""

from __future__ import annotations

import ast
from pathlib import Path

import yaml

from conftest import REPO

SRC = REPO / "src"
# files a module reads at run time, beside its imports
DATA_DEPS = {"sqlforge/prompts.py": "prompts", "sqlforge/launch.py": "configs/accelerate"}


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
