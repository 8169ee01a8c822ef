"""Reasoning targets for SFT: a step-by-step rationale, then the SQL in one fenced block.

`preprocess.reasoning` chooses them:

- templated: written from the gold SQL's own clauses (tables and joins, filters, grouping, ordering, what is
  returned), naming the words of the schema a column stands for. The demo's questions are made from
  templates, one pattern per SQL shape, so this is the template's own explanation; it needs no model, which
  is why the CPU demo uses it. Any Spider or BIRD gold gets one too (a gold sqlglot cannot parse gets a
  one-line rationale, counted).
- teacher: `rationale.samples` rationales per question sampled from a teacher model prompted with schema,
  evidence, question and gold SQL (prompts/teacher/rationale.txt, the llama-cookbook recipe). Each sample's SQL
  (extract.split_rationale: the last fenced block) is judged against the gold under the official rules
  (official.judge.verdicts) in the sandbox; `keep: first` keeps the first correct sample, `keep: vote`
  (OmniSQL) the first sample of the largest group of samples sharing an execution result, and only when
  that result is the gold's. A question with no kept rationale keeps its bare gold SQL as target, so a
  target never teaches a wrong query.

Targets are `rationale + "\\n\\n```sql\\n" + SQL + "\\n```"` (`target`), the format MCTS searches after
(search/mcts.py: `reasoning_lead`).
"""

from __future__ import annotations

import hashlib
from collections import Counter

import sqlglot
from sqlglot import exp

from sqlforge.extract import split_rationale
from sqlforge.official.judge import verdicts
from sqlforge.prompts import rationale_messages, render

FENCE_OPEN = "```sql\n"
FENCE_CLOSE = "\n```"


def target(rationale: str, sql: str) -> str:
    """The SFT completion: the rationale, a blank line, the SQL in one fenced block."""
    return f"{rationale.strip()}\n\n{FENCE_OPEN}{sql.strip()}{FENCE_CLOSE}"


# --- templated ---

def _column_words(table_entry: dict | None) -> dict[str, str]:
    """Column name (lower case) -> the schema's natural-language name, where the two differ in words."""
    if not table_entry:
        return {}
    words = {}
    for (_, original), (_, natural) in zip(table_entry.get("column_names_original", []),
                                           table_entry.get("column_names", [])):
        if original != "*" and natural.lower() != original.replace("_", " ").lower():
            words.setdefault(original.lower(), natural)
    return words


def _sql(node: exp.Expression) -> str:
    return node.sql(dialect="sqlite")


def _select_steps(select: exp.Select) -> list[str]:
    steps = []
    source = select.args.get("from_") or select.args.get("from")
    joins = select.args.get("joins") or []
    if source is not None:
        steps.append(f"The rows come from {_sql(source.this)}.")
    for join in joins:
        on = join.args.get("on")
        steps.append(f"Join {_sql(join.this)}" + (f" on {_sql(on)}." if on is not None else "."))
    where = select.args.get("where")
    if where is not None:
        steps.append(f"Keep the rows where {_sql(where.this)}.")
    group = select.args.get("group")
    if group is not None:
        steps.append(f"Group them by {', '.join(_sql(e) for e in group.expressions)}.")
    having = select.args.get("having")
    if having is not None:
        steps.append(f"Keep the groups where {_sql(having.this)}.")
    order = select.args.get("order")
    if order is not None:
        steps.append(f"Sort by {', '.join(_sql(e) for e in order.expressions)}.")
    limit = select.args.get("limit")
    if limit is not None:
        count = _sql(limit.expression) if limit.expression is not None else _sql(limit)
        steps.append(f"Keep the first {count} row{'' if count == '1' else 's'}.")
    returned = ", ".join(_sql(e) for e in select.expressions)
    steps.append(f"Return {'the distinct values of ' if select.args.get('distinct') else ''}{returned}.")
    return steps


def _steps(node: exp.Expression) -> list[str]:
    if isinstance(node, exp.SetOperation):
        kind = {exp.Union: "UNION", exp.Intersect: "INTERSECT", exp.Except: "EXCEPT"}.get(type(node), "a set operation")
        if kind == "UNION" and not node.args.get("distinct", True):
            kind = "UNION ALL"
        left = " ".join(_steps(node.this))
        right = " ".join(_steps(node.expression))
        return [f"The answer combines two queries with {kind}.", f"First query: {left}", f"Second query: {right}"]
    if isinstance(node, exp.Select):
        return _select_steps(node)
    raise ValueError(f"not a query: {type(node).__name__}")


def templated_rationale(gold: str, table_entry: dict | None = None) -> tuple[str, bool]:
    """(rationale, parsed): numbered steps that read the gold SQL clause by clause, with the schema words of
    the columns it uses; `parsed` is False when sqlglot could not read the gold (a one-line rationale)."""
    try:
        tree = sqlglot.parse_one(gold, read="sqlite")
        steps = _steps(tree)
    except (sqlglot.errors.SqlglotError, ValueError):
        return "Let me think step by step.\nWrite the query that answers the question.", False
    words = _column_words(table_entry)
    used = sorted({c.name.lower() for c in tree.find_all(exp.Column)} & set(words))
    if used:
        steps.insert(0, "The question's words name these columns: "
                     + "; ".join(f"{words[c]} is {c}" for c in used) + ".")
    return "Let me think step by step.\n" + "\n".join(f"{i}. {s}" for i, s in enumerate(steps, 1)), True


def templated_targets(records: list[dict], tables: dict[str, dict]) -> tuple[dict[str, str], dict]:
    """Question id -> templated target (every question gets one), and the metrics."""
    targets, unparsed = {}, 0
    for rec in records:
        rationale, parsed = templated_rationale(rec["gold"], tables.get(rec["db_id"]))
        unparsed += not parsed
        targets[rec["id"]] = target(rationale, rec["gold"])
    return targets, {"mode": "templated", "questions": len(records), "generated": len(records),
                     "kept": len(records), "dropped_by_reason": {}, "gold_unparsed": unparsed}


# --- teacher ---

def teacher_replies(records: list[dict], engine, cfg) -> list[list[str]]:
    """`cfg.samples` replies per record from the teacher `engine` (`cfg`: config.RationaleConfig)."""
    prompts = [render(engine.tokenizer, rationale_messages(r["schema"], r["question"], r["evidence"], r["gold"]))
               for r in records]
    outputs = engine.generate(prompts, n=cfg.samples, temperature=cfg.temperature, top_p=1.0,
                              max_new_tokens=cfg.max_new_tokens, seed=cfg.seed)
    return [[o.text for o in outs] for outs in outputs]


def _result_key(result) -> str:
    return hashlib.sha1(repr(sorted(map(repr, result.rows))).encode()).hexdigest()


def select_rationales(records: list[dict], replies: list[list[str]], executor, rules: str,
                      keep: str) -> tuple[dict[str, str], dict, list[dict]]:
    """Question id -> target built from the kept reply, for questions where one is kept; the metrics:
    replies generated, kept, and dropped by reason (`no_sql_block`: no fenced SQL; `no_rationale`: nothing
    before it; `wrong_result`; the
    sandbox's error kind when the SQL fails; `not_chosen`: correct but another sample was kept;
    `vote_lost`: correct, but most samples agreed on another result); and per question every reply with its
SQL and verdict (`kept` or the reason), for data/prepared/rationales.jsonl. Never changes a gold."""
    split = [[split_rationale(reply) if "```" in reply else ("", "") for reply in group] for group in replies]
    flat = [(rec, sql) for rec, group in zip(records, split) for _, sql in group]
    judged = iter(verdicts([rec for rec, _ in flat], [sql for _, sql in flat], rules, executor))
    keys: list[str | None] = [None] * len(flat)  # execution result of each sample's SQL (vote only)
    if keep == "vote":
        ran = [i for i, (_, sql) in enumerate(flat) if sql]
        for i, res in zip(ran, executor.execute_many([(flat[i][0]["db_path"], flat[i][1]) for i in ran])):
            keys[i] = _result_key(res) if res.ok else None
    key_iter = iter(keys)
    targets: dict[str, str] = {}
    dropped: Counter = Counter()
    details = []
    for rec, group, texts in zip(records, split, replies):
        reasons = []
        for rationale, sql in group:
            v = next(judged)
            if not sql:
                reasons.append("no_sql_block")
            elif not rationale:
                reasons.append("no_rationale")
            elif not v["correct"]:
                reasons.append("wrong_result" if v["error_kind"] == "ok" else v["error_kind"])
            else:
                reasons.append("")
        group_keys = [next(key_iter) for _ in group]
        chosen = next((i for i, r in enumerate(reasons) if not r), None)
        if keep == "vote":
            counts = Counter(k for k in group_keys if k is not None)
            top = max(counts.values(), default=0)
            majority = next((k for k in group_keys if k is not None and counts[k] == top), None)  # first on ties
            chosen = next((i for i, r in enumerate(reasons) if not r and group_keys[i] == majority), None)
            if chosen is None:
                reasons = [r or "vote_lost" for r in reasons]
        verdict_of = [("kept" if i == chosen else reason or "not_chosen") for i, reason in enumerate(reasons)]
        dropped.update(v for v in verdict_of if v != "kept")
        details.append({"id": rec["id"], "kept": chosen is not None,
                        "samples": [{"reply": text, "sql": sql, "verdict": v}
                                    for text, (_, sql), v in zip(texts, group, verdict_of)]})
        if chosen is not None:
            rationale, sql = group[chosen]
            targets[rec["id"]] = target(rationale, sql)
    generated = sum(len(g) for g in replies)
    return targets, {"mode": "teacher", "keep": keep, "questions": len(records), "generated": generated,
                     "kept": len(targets), "questions_without_rationale": len(records) - len(targets),
                     "dropped_by_reason": dict(sorted(dropped.items()))}, details
