"""Prompt construction from the template files in `prompts/`.

Prompts are chat messages rendered by the tokenizer's own chat template, so
the tiny demo model and Qwen/Llama see their native formats. A rendered
prompt ends with the assistant header (a clean token boundary), and the SQL
is the assistant's reply.

Inference prompts (`sql_messages`) never contain gold SQL or gold rows; only
`revision_messages`, used to make training data in tree-build, carries
execution feedback derived from the gold.
"""

from __future__ import annotations

from pathlib import Path

TEMPLATE_DIR = Path(__file__).resolve().parents[2] / "prompts"


def _template(name: str, templates: dict[str, str] | None = None) -> str:
    """A template's text: from `templates` (a model folder's own, see prompt_settings) or from prompts/."""
    if templates is not None:
        return templates[name]
    return (TEMPLATE_DIR / name).read_text(encoding="utf-8")


def _evidence(evidence: str) -> str:
    return f"\nHint: {evidence}" if evidence else ""


def sql_messages(schema: str, question: str, evidence: str = "", prefix: str = "",
                 templates: dict[str, str] | None = None) -> list[dict]:
    """The SFT / inference prompt; `prefix` fills PSG's "incomplete SQL" slot. `templates` (file name ->
    text) replaces the files in prompts/, so a model is asked with the templates it was trained on."""
    user = _template("user.txt", templates).format(schema=schema, question=question, evidence=_evidence(evidence),
                                                   prefix=prefix).rstrip()
    return [{"role": "system", "content": _template("system.txt", templates).strip()},
            {"role": "user", "content": user}]


def revision_messages(schema: str, question: str, evidence: str, sql: str, feedback: str) -> list[dict]:
    user = _template("revision.txt").format(schema=schema, question=question, evidence=_evidence(evidence),
                                            sql=sql, feedback=feedback).rstrip()
    return [{"role": "system", "content": _template("system.txt").strip()}, {"role": "user", "content": user}]


def render(tokenizer, messages: list[dict]) -> str:
    """Chat-template text ending at the assistant header, ready for generation."""
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


def example_prompt(tokenizer, record: dict, prefix: str = "") -> str:
    """Inference prompt of a normalized example record (schema text added by preprocess)."""
    return render(tokenizer, sql_messages(record["schema"], record["question"], record["evidence"], prefix))
