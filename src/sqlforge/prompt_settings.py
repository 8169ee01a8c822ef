"""The prompt a model was trained on, kept in its folder so inference asks in the same words.

sft writes `sqlforge_prompt.json` next to the weights: the template texts of
`prompts/` that inference prompts use and the schema serialisation options of
preprocess (sample values per column, BIRD descriptions, schema token budget).
merge copies it, so `models/merged` carries it too. `sqlforge ask` reads it
from the model folder; a folder without it (any other Hugging Face model) gets
the defaults below, and `found` is False so the caller can say so.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

from sqlforge.config import PreprocessConfig
from sqlforge.io import InputError
from sqlforge.prompts import TEMPLATE_DIR

FILENAME = "sqlforge_prompt.json"
TEMPLATES = ("system.txt", "user.txt")  # what an inference prompt is made of (prompts.sql_messages)


@dataclass(frozen=True)
class PromptSettings:
    templates: dict[str, str]
    sample_values: int
    descriptions: bool
    max_schema_tokens: int


def from_preprocess(cfg: PreprocessConfig, template_dir: Path = TEMPLATE_DIR) -> PromptSettings:
    """The settings preprocess built the SFT prompts with: its params and the template files."""
    templates = {name: (template_dir / name).read_text(encoding="utf-8") for name in TEMPLATES}
    return PromptSettings(templates, cfg.sample_values, cfg.descriptions, cfg.max_schema_tokens)


def write(model_dir: str | Path, settings: PromptSettings) -> None:
    path = Path(model_dir) / FILENAME
    path.write_text(json.dumps(asdict(settings), indent=2, sort_keys=True) + "\n", encoding="utf-8")


def copy(src_dir: str | Path, dst_dir: str | Path) -> None:
    """Hand the settings on (merge); a folder without them stays without."""
    src = Path(src_dir) / FILENAME
    if src.is_file():
        shutil.copyfile(src, Path(dst_dir) / FILENAME)


def read(model_dir: str | Path, fallback: PreprocessConfig) -> tuple[PromptSettings, bool]:
    """The model's own settings and True; for a folder sqlforge did not train (it has none), this
    checkout's templates and the given preprocess params, and False."""
    path = Path(model_dir) / FILENAME
    if not path.is_file():
        return from_preprocess(fallback), False
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        settings = PromptSettings(templates={name: data["templates"][name] for name in TEMPLATES},
                                  sample_values=int(data["sample_values"]), descriptions=bool(data["descriptions"]),
                                  max_schema_tokens=int(data["max_schema_tokens"]))
    except (ValueError, KeyError, TypeError) as e:
        raise InputError(f"{path}: not a valid prompt settings file ({type(e).__name__}: {e})") from None
    return settings, True
