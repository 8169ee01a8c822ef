"""The package's layout is its architecture: each subpackage is one concern, and imports only run down the
layers below (docs/architecture.md draws them). A new import that runs back up, sideways between two
packages of one layer, or round in a cycle fails here with the file that made it."""

from __future__ import annotations

import ast
from pathlib import Path

from conftest import REPO

PACKAGE = REPO / "src" / "sqlforge"
# a module at the top of the package is the shared core (layer 0); every subpackage has its layer
LAYERS = {
    "sandbox": 1, "engine": 1, "train": 1,  # model-written SQL runs here only; generation; training
    "official": 2,                          # the official evaluators' rules, on sandbox results
    "data": 3, "demo": 3, "search": 3,      # datasets and training data; the demo generator; MCTS, trees, selection
    "scoring": 4,                           # scoring prediction files and reward models the official way
    "commands": 5,                          # the `sqlforge` console script
}


def room(module: str) -> str:
    """"core" for a top-level module, else its subpackage."""
    parts = module.split(".")
    return parts[1] if len(parts) > 2 or (len(parts) == 2 and (PACKAGE / parts[1]).is_dir()) else "core"


def layer(module: str) -> int:
    return LAYERS.get(room(module), 0)


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path, top_level_only: bool = False) -> set[str]:
    tree = ast.parse(path.read_text())
    nodes = tree.body if top_level_only else ast.walk(tree)
    found = set()
    for node in nodes:
        if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("sqlforge"):
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("sqlforge")}
    return found


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def test_every_subpackage_has_a_layer():
    folders = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").is_file()}
    assert folders == set(LAYERS), f"give each subpackage a layer here and in docs/architecture.md: {folders ^ set(LAYERS)}"


def test_imports_run_only_down_the_layers():
    problems = []
    for name, path in modules().items():
        for target in imports(path):
            if target == "sqlforge":
                continue
            if layer(target) > layer(name):
                problems.append(f"{path.relative_to(REPO)} (layer {layer(name)}) imports {target} (layer {layer(target)})")
            elif layer(target) == layer(name) and room(target) != room(name) and layer(name) > 0:
                problems.append(f"{path.relative_to(REPO)} imports {target} sideways (both layer {layer(name)})")
    assert not problems, "\n".join(problems)


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1 on the current path, 2 done

    def visit(node: str, path: list[str]) -> list[str] | None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [node, nxt] if nxt in path else [node, nxt]
            if nxt not in state:
                found = visit(nxt, path + [node])
                if found:
                    return found
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node, [])
            if found:
                return found
    return None


def test_no_module_imports_itself_round_a_cycle():
    known = modules()
    graph = {name: {t for t in imports(path) if t in known and t != name} for name, path in known.items()}
    cycle = find_cycle(graph)
    assert cycle is None, " -> ".join(cycle or [])


def test_the_checks_catch_an_import_up_and_a_cycle():
    assert layer("sqlforge.commands.asker") == 5 and layer("sqlforge.io") == 0 and layer("sqlforge.engine") == 1
    assert room("sqlforge.engine") == "engine" and room("sqlforge.prompts") == "core"
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) is not None
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


def test_the_folders_the_package_finds_beside_itself_exist():
    """Paths computed from a module's own file move with it: after a move each must still point at the
    repository's folders (the accelerate configs, the prompt templates, the src/ folder a sandbox worker
    imports sqlforge from)."""
    from sqlforge.prompts import TEMPLATE_DIR
    from sqlforge.sandbox import worker
    from sqlforge.train.launch import CONFIG_DIR

    assert TEMPLATE_DIR == REPO / "prompts" and CONFIG_DIR == REPO / "configs" / "accelerate"
    assert (CONFIG_DIR / "ddp.yaml").is_file() and any(TEMPLATE_DIR.glob("*.txt"))
    assert worker.SRC_DIR == REPO / "src" and (worker.SRC_DIR / "sqlforge" / "__init__.py").is_file()
