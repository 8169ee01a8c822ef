"""The test-suite evaluator's `--plug_value`: score a prediction with the gold's values plugged in.

For models that do not predict values (DB-GPT-Hub reports Spider EX this way). The official
rule, reproduced on our own scanner: the values of a query are its quoted strings (single or
double quotes; the official tokenizer reads a double-quoted token as a string) and its numbers
(not digits inside a name such as T1); each value position of the prediction is a slot. The
prediction is tried as written first, then with every assignment of the gold's distinct values to
its slots (|values| ** slots of them); it is right if any alternative matches on every database.
"""

from __future__ import annotations

import itertools
import re

# quoted strings (doubled quotes inside), bracketed or backquoted names, words, numbers, anything else
_TOKEN = re.compile(r"""'(?:[^']|'')*'|"(?:[^"]|"")*"|`[^`]*`|\[[^\]]*\]|[A-Za-z_][A-Za-z0-9_$]*|"""
                    r"""\d+\.\d*|\.\d+|\d+|\s+|.""", re.DOTALL)
# the official enumeration has no bound; this one stops here so one question cannot run for hours
MAX_ALTERNATIVES = 10_000


def _is_value(token: str) -> bool:
    return token[0] in "'\"" or token[0].isdigit() or (token[0] == "." and token[1:2].isdigit())


def tokens(sql: str) -> list[str]:
    return _TOKEN.findall(sql)


def values(sql: str) -> list[str]:
    """Distinct value tokens of `sql`, in order of appearance."""
    return list(dict.fromkeys(t for t in tokens(sql) if _is_value(t)))


def plugged_predictions(gold: str, pred: str, limit: int = MAX_ALTERNATIVES) -> list[str]:
    """The prediction with the gold's values in its slots, every assignment (the prediction itself excluded)."""
    pred_tokens = tokens(pred)
    slots = [i for i, t in enumerate(pred_tokens) if _is_value(t)]
    gold_values = values(gold)
    if not slots or not gold_values:
        return []
    out = []
    for assignment in itertools.islice(itertools.product(gold_values, repeat=len(slots)), limit):
        filled = list(pred_tokens)
        for i, value in zip(slots, assignment):
            filled[i] = value
        out.append("".join(filled))
    return out
