"""The text the official Spider evaluator actually scores and runs.

Two steps, both from taoyds/test-suite-sql-eval:
1. `official_prediction`: how its CLI reads a prediction line (used for EM and EX alike).
2. `exec_text`: what its execution path sends to SQLite, for gold and prediction alike:
   split comparison operators rejoined (`> =`, `< =`, `! =`, with exactly one space),
   DISTINCT dropped unless keep_distinct, and `YEAR(CURDATE())` replaced by 2020.
   Its DISTINCT removal works on SQL tokens of the first statement only: a DISTINCT inside
   a string, a quoted or bracketed name or a comment stays, and whatever follows the first
   top-level `;` is not run.
"""

from __future__ import annotations

import re

_CUR_YEAR = re.compile(r"YEAR\s*\(\s*CURDATE\s*\(\s*\)\s*\)\s*", re.IGNORECASE)

# The official DISTINCT removal drops the sqlparse tokens that read "distinct". Which text
# forms one token decides what is dropped (a DISTINCT inside a string, a quoted name, a
# comment, or glued to a name or an operator run stays), so tokens are cut as sqlparse cuts
# them, trying the same forms in the same order at each token start.
_TOKEN = re.compile(r"""
    /\*[\s\S]*?\*/                                  # block comment (closed)
  | (?:--|\#\ ).*?(?:\r\n|\r|\n|$)                  # line comment
  | \r\n | \s | := | :: | \*
  | `(?:``|[^`])*` | ´(?:´´|[^´])*´                 # quoted names
  | \? | %(?:\(\w+\))?s | (?<!\w)[$:?]\w+ | \\\w+   # placeholders, commands
  | (?:@|\#\#|\#)[^\W\d_]\w+                        # @name, #name
  | '(?:''|\\'|[^'])*'                              # string
  | "(?:""|\\"|[^"])*" | "" | ".*?[^\\]"            # double-quoted name or string
  | (?<![\w\])])\[[^\]\[]+\]                        # [name]
  | \w+                                            # a word: see _word_end
  | ->>? | \#>>? | @> | <@ | \?\|? | \?& | - | \#-  # operators, then operator runs
  | [<>=~!]+ | [+/@\#%^&|-]+
""", re.VERBOSE)
# sqlparse reads these words by rules that stop at the word's end; any other word also
# takes the "$" and "#" characters that follow it
_STOPPING_WORDS = {"case", "in", "values", "using", "from", "as", "join", "end", "asc", "desc",
                   "create", "like", "ilike", "rlike", "regexp"}
_WORD_TAIL = re.compile(r"[$#\w]*")
_NAME_AHEAD = re.compile(r"\s*\.(?!\d)|\(")  # a word before "(" or "." is a name, not a keyword
_END_COMPOUND = re.compile(r"\s+(?:if|loop|while|for|case)\b", re.IGNORECASE)
_LINE_TAIL = re.compile(r"(?:[^\S\r\n]|(?:--|\# ).*?(?:\r\n|\r|\n|$))*")


def official_prediction(pred: str) -> str:
    """A prediction as the official CLI reads it from its line: stripped, cut at the first tab,
    and every "value" (lower case, anywhere, even inside names) replaced by "1"."""
    return pred.strip().split("\t")[0].replace("value", "1")


def _word_end(sql: str, start: int, end: int) -> int:
    """End of the sqlparse token that starts with the word sql[start:end]."""
    word = sql[start:end]
    name_like = word[0].isalpha()
    if (name_like and (start > 0 and sql[start - 1] == "." or _NAME_AHEAD.match(sql, end))) \
            or word.isdigit() or word.lower() in _STOPPING_WORDS:
        return end
    return _WORD_TAIL.match(sql, end).end()


def _first_statement_without_distinct(sql: str) -> str:
    out, i, n = [], 0, len(sql)
    level, blocks, after_begin = 0, 0, False  # bracket/END level; open BEGIN blocks
    while i < n:
        start = i
        token = _TOKEN.match(sql, i)
        i = token.end() if token else i + 1
        if token and (sql[start].isalnum() or sql[start] == "_"):
            i = _word_end(sql, start, i)
        piece = sql[start:i]
        if piece.lower() == "distinct":  # dropped from the text, but seen by the statement split
            after_begin = False
            continue
        out.append(piece)
        # a ";" ends the statement outside brackets and BEGIN blocks
        keyword = piece.lower() if not (start > 0 and sql[start - 1] == ".") and not _NAME_AHEAD.match(sql, i) else ""
        if piece == "(":
            level += 1
        elif piece == ")":
            level -= 1
        elif keyword == "end" and not _END_COMPOUND.match(sql, i):
            level, blocks = level - 1, max(0, blocks - 1)
        elif keyword == "begin":
            level, blocks = level + 1, blocks + 1
        elif piece == ";":
            if after_begin:  # "BEGIN;" starts a transaction, not a block
                level, blocks = level - 1, blocks - 1
            if level <= 0 and not blocks:
                out.append(_LINE_TAIL.match(sql, i).group())
                break
        after_begin = keyword == "begin" or (after_begin and (piece.isspace() or piece.startswith(("--", "# ", "/*"))))
    return "".join(out)


def exec_text(sql: str, keep_distinct: bool = False) -> str:
    """The SQL the official execution path runs for this gold or (already read) prediction."""
    sql = sql.replace("> =", ">=").replace("< =", "<=").replace("! =", "!=")
    if not keep_distinct:
        sql = _first_statement_without_distinct(sql)
    return _CUR_YEAR.sub("2020", sql)
