"""Where the base model lives: the tiny demo model built by fetch, or a hub id / path from params."""

from __future__ import annotations

import json
from pathlib import Path

POINTER = "base_model.json"


def write_base_pointer(out_dir: Path, name_or_path: str) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / POINTER).write_text(json.dumps({"name_or_path": name_or_path}) + "\n")


def resolve_model(path: str | Path) -> str:
    """A model folder, or the hub id / path a pointer file in it names."""
    path = Path(path)
    pointer = path / POINTER
    if pointer.is_file():
        return json.loads(pointer.read_text())["name_or_path"]
    return str(path)
