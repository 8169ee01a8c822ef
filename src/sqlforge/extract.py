"""Turn raw model output into one SQL statement."""

from __future__ import annotations

import re

_FENCE = re.compile(r"```(?:sql|sqlite)?\s*(.*?)(?:```|$)", re.S | re.I)
_START = re.compile(r"\b(SELECT|WITH)\b", re.I)


def _first_statement(text: str) -> str:
    """Text up to the first ';' that is outside quotes."""
    quote = None
    for i, ch in enumerate(text):
        if quote:
            if ch == quote:
                quote = None
        elif ch in "'\"`":
            quote = ch
        elif ch == ";":
            return text[:i]
    return text


def extract_sql(output: str) -> str:
    text = output.strip()
    fence = _FENCE.search(text)
    if fence:
        text = fence.group(1)
    start = _START.search(text)
    if start:
        text = text[start.start():]
    text = _first_statement(text)
    # prose after a blank line is not SQL
    text = re.split(r"\n\s*\n", text, maxsplit=1)[0]
    return " ".join(text.split())
