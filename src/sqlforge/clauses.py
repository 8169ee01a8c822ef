"""Cut SQL into clauses at clause keywords, by real tokenization.

Used by PSG (prefix augmentation) and by MCTS (one action = one clause).
Keywords inside strings or identifiers never cut: the text is tokenized by sqlglot's SQLite tokenizer, which
knows every quoting SQLite accepts (string literals, double quotes, backticks and square brackets, each with
its doubled-quote escape), so a quoted name such as `from`, [order by] or `Women's Team` is one token, as a
quoted name or a string is one token to sqlparse, which SQL-o1 cuts on. Two segmentations:

- nested (SQL-o1, the default): SQL-o1 segments the flattened token stream, so
  every clause keyword cuts, the SELECT/FROM/WHERE of a subquery and the SELECT
  after a set operator included ("... WHERE id IN (" | "SELECT tid" | "FROM u)").
- top_level: only keywords outside parentheses cut, and a set operator keeps
  the SELECT after it (a subquery is one clause).
"""

from __future__ import annotations

from sqlglot.dialects.sqlite import SQLite
from sqlglot.tokens import TokenType

CLAUSE_TOKENS = {
    TokenType.SELECT, TokenType.FROM, TokenType.WHERE, TokenType.GROUP_BY, TokenType.HAVING,
    TokenType.ORDER_BY, TokenType.LIMIT, TokenType.UNION, TokenType.INTERSECT, TokenType.EXCEPT,
}
SET_OPS = {TokenType.UNION, TokenType.INTERSECT, TokenType.EXCEPT}


NESTED, TOP_LEVEL = "nested", "top_level"


def clause_starts(sql: str, mode: str = NESTED) -> list[int]:
    """Character offsets where clauses begin (the first is 0)."""
    try:
        tokens = SQLite.Tokenizer().tokenize(sql)
    except Exception:  # untokenizable text (unterminated string): no cut points
        return [0] if sql.strip() else []
    starts, depth, prev = [], 0, None
    for tok in tokens:
        if tok.token_type == TokenType.L_PAREN:
            depth += 1
        elif tok.token_type == TokenType.R_PAREN:
            depth = max(0, depth - 1)
        elif tok.token_type in CLAUSE_TOKENS and (mode == NESTED or depth == 0):
            if mode == NESTED or not (tok.token_type == TokenType.SELECT and prev in SET_OPS):
                starts.append(tok.start)
        if tok.token_type != TokenType.ALL:  # UNION ALL SELECT: the SELECT still follows a set operator
            prev = tok.token_type
    if not starts or starts[0] != 0:
        starts.insert(0, 0)
    return starts


def split_clauses(sql: str, mode: str = NESTED) -> list[str]:
    sql = sql.strip()
    starts = clause_starts(sql, mode) + [len(sql)]
    return [sql[a:b].strip() for a, b in zip(starts, starts[1:]) if sql[a:b].strip()]


def prefixes(sql: str, mode: str = NESTED) -> list[str]:
    """Every proper clause prefix, never the empty one: PSG's cut points."""
    sql = sql.strip()
    return [sql[:i].rstrip() for i in clause_starts(sql, mode)[1:]]


def next_clause(prefix: str, continuation: str, mode: str = NESTED) -> tuple[str, bool]:
    """The first clause of `continuation` (text generated after `prefix`) and whether the SQL ends there."""
    full = prefix + continuation
    start = len(prefix) + len(continuation) - len(continuation.lstrip())
    cuts = [i for i in clause_starts(full, mode) if i > start]
    if not cuts:
        return full[start:].strip(), True
    return full[start:cuts[0]].strip(), False
