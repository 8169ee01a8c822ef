"""Turn raw model output into one SQL statement.

Every stage that generates SQL (preprocess's teacher and hard-example passes, candidates, tree-build, MCTS,
`sqlforge ask`) reads a reply through `extract_sql`, so a bare-SQL model and a reasoning model (a rationale,
then the SQL in a fenced block) are read the same way:

- fenced blocks: the SQL is taken from the last complete block tagged `sql`, `sqlite` or untagged (a
  rationale may show drafts before its final answer); an unterminated fence (a reply cut off by the token
  limit) counts only when no complete one exists; blocks tagged otherwise (```python) are not SQL.
- no fence (bare SQL, as the demo's model writes): the text from the first SELECT or WITH.
- in either case: up to the first `;` outside quotes, and not past a blank line (prose after the SQL).
"""

from __future__ import annotations

import re

# ``` + an optional tag word on the fence line + the body, up to the closing ``` or the end of the reply
_FENCE = re.compile(r"```(?:([A-Za-z][\w+-]*)(?=[ \t]*\n))?(.*?)(```|\Z)", re.S)
_SQL_TAGS = {"", "sql", "sqlite"}
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


def _sql_block(text: str) -> tuple[int, str] | None:
    """(where its fence starts, body) of the fenced SQL block to read (see the module docstring), or None."""
    blocks = []  # (start, body, closed)
    for match in _FENCE.finditer(text):
        tag, body, end = match.group(1) or "", match.group(2), match.group(3)
        if tag.lower() in _SQL_TAGS:
            # an inline fence (```sql SELECT 1```) has its tag in the body
            body = re.sub(r"^(?:sql|sqlite)\b", "", body.lstrip(), flags=re.I) if not tag else body
            blocks.append((match.start(), body, end == "```"))
    if not blocks:
        return None
    closed = [(start, body) for start, body, is_closed in blocks if is_closed]
    return closed[-1] if closed else blocks[-1][:2]


def split_rationale(output: str) -> tuple[str, str]:
    """(rationale, SQL) of a reasoning reply: the text before the fenced block `extract_sql` reads, and that
    SQL; ("", extract_sql(output)) for a reply without a fenced SQL block."""
    text = output.strip()
    block = _sql_block(text)
    return (text[:block[0]].strip() if block else ""), extract_sql(text)


def extract_sql(output: str) -> str:
    text = output.strip()
    block = _sql_block(text)
    if block is not None:
        text = block[1]
    start = _START.search(text)
    if start:
        text = text[start.start():]
    text = _first_statement(text)
    # prose after a blank line is not SQL
    text = re.split(r"\n\s*\n", text, maxsplit=1)[0]
    return " ".join(text.split())
