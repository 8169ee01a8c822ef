"""Prompt construction from the template files in `prompts/`.

Prompts are chat messages rendered by the tokenizer's own chat template, so
the tiny demo model and Qwen/Llama see their native formats. A rendered
prompt ends with the assistant header (a clean token boundary), and the SQL
is the assistant's reply.

Inference prompts (`sql_messages`) never contain gold SQL or gold rows; only
`revision_messages`, used to make training data in tree-build, carries
execution feedback derived from the gold, and `rationale_messages`, preprocess's
teacher prompt for reasoning targets (`preprocess.reasoning: teacher`), shows the
gold SQL itself: both make training data, never an inference prompt.
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


def rationale_messages(schema: str, question: str, evidence: str, sql: str) -> list[dict]:
    """The teacher's prompt (prompts/teacher/rationale.txt; a subfolder, because the demo's tokenizer is trained
    on the templates in prompts/ itself and the teacher's words are no input of the tiny model): schema,
    question, evidence and the gold SQL, asking for step-by-step reasoning that ends with the SQL in one
    fenced block (the llama-cookbook recipe's teacher input). Training data only."""
    user = _template("teacher/rationale.txt").format(schema=schema, question=question,
                                                     evidence=_evidence(evidence), sql=sql).strip()
    return [{"role": "user", "content": user}]


def render(tokenizer, messages: list[dict]) -> str:
    """Chat-template text ending at the assistant header, ready for generation."""
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


def example_prompt(tokenizer, record: dict, prefix: str = "") -> str:
    """Inference prompt of a normalized example record (schema text added by preprocess)."""
    return render(tokenizer, sql_messages(record["schema"], record["question"], record["evidence"], prefix))


def _sample_rows(rows: list[tuple], k: int = 3) -> str:
    return "; ".join(str(tuple(r)) for r in rows[:k]) or "(none)"


def feedback(result, gold) -> str:
    """Execution feedback for a wrong SQL, with what ReSQLver's sql_utils.py shows: the error, or the
    column counts with column names, the row counts, samples of missing and unexpected rows, and the
    first rows of the expected and the actual result. `gold` is the gold's ExecResult: derived from
    gold rows, so training data only, never an inference prompt."""
    if not result.ok:
        return f"The query failed ({result.error_kind}): {result.error}"
    lines = ["The result is wrong."]
    got_cols = len(result.columns) if result.columns else (len(result.rows[0]) if result.rows else 0)
    want_cols = len(gold.columns) if gold.columns else (len(gold.rows[0]) if gold.rows else 0)
    if got_cols != want_cols:
        lines.append(f"It returned {got_cols} columns ({', '.join(result.columns)}); the expected result has "
                     f"{want_cols} columns ({', '.join(gold.columns)}).")
    if len(result.rows) != len(gold.rows):
        lines.append(f"It returned {len(result.rows)} rows; the expected result has {len(gold.rows)} rows.")
    got, want = set(result.rows), set(gold.rows)
    missing = [r for r in gold.rows if r not in got]
    unexpected = [r for r in result.rows if r not in want]
    if missing:
        lines.append(f"Missing rows, e.g. {_sample_rows(missing)}")
    if unexpected:
        lines.append(f"Unexpected rows, e.g. {_sample_rows(unexpected)}")
    lines.append(f"Expected result, first rows: {_sample_rows(gold.rows)}")
    lines.append(f"Actual result, first rows: {_sample_rows(result.rows)}")
    return "\n".join(lines)
