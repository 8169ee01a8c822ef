"""Where the base model lives: the tiny demo model built by fetch, or a hub id / path from params."""

from __future__ import annotations

import hashlib
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


def model_fingerprint(path: str | Path, head_bytes: int = 64 << 20) -> str:
    """Cheap identity of a model folder: each file's name, size and the sha256 of its first
    64 MiB (safetensors headers and the first weights differ between any two trainings)."""
    digest = hashlib.sha256()
    for file in sorted(p for p in Path(path).rglob("*") if p.is_file()):
        digest.update(f"{file.relative_to(path)}:{file.stat().st_size}:".encode())
        with file.open("rb") as f:
            digest.update(hashlib.sha256(f.read(head_bytes)).digest())
    return digest.hexdigest()
