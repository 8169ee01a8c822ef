"""extract_sql on the replies of a bare-SQL model and of a reasoning model (rationale, then fenced SQL)."""

from __future__ import annotations

import pytest

from sqlforge.extract import extract_sql

RATIONALE = ("Let me think step by step.\n1. The rows come from the table singer.\n"
             "2. We select the name of singers with age above 30, so the query is:\n")


@pytest.mark.parametrize("raw,sql", [
    # zero fenced blocks: bare SQL, the current rules
    ("SELECT a FROM t", "SELECT a FROM t"),
    ("Here is the query: SELECT a FROM t WHERE b = 'x;y'; SELECT 2", "SELECT a FROM t WHERE b = 'x;y'"),
    ("SELECT a FROM t\n\nExplanation: it selects a", "SELECT a FROM t"),
    ("WITH x AS (SELECT 1) SELECT * FROM x", "WITH x AS (SELECT 1) SELECT * FROM x"),
    ("", ""),
    # one fenced block, tagged, untagged, inline, upper-case tag
    ("```sql\nSELECT a\nFROM t;\n```\nThis query lists a.", "SELECT a FROM t"),
    ("```\nSELECT a FROM t\n```", "SELECT a FROM t"),
    ("```sql SELECT a FROM t```", "SELECT a FROM t"),
    ("```SQLite\nSELECT a FROM t\n```", "SELECT a FROM t"),
    (RATIONALE + "```sql\nSELECT name FROM singer WHERE age > 30\n```", "SELECT name FROM singer WHERE age > 30"),
    # several fenced blocks: the last complete one is the answer, drafts before it are not
    (RATIONALE + "A draft:\n```sql\nSELECT * FROM singer\n```\nBut only names are asked:\n"
     "```sql\nSELECT name FROM singer\n```\nDone.", "SELECT name FROM singer"),
    # a block tagged as something else is not SQL
    ("```sql\nSELECT a FROM t\n```\nTo run it:\n```python\nconn.execute(q)\n```", "SELECT a FROM t"),
    # unterminated fences: the reply was cut off
    ("```sql\nSELECT a FROM t WHERE", "SELECT a FROM t WHERE"),
    (RATIONALE + "```sql\nSELECT name FROM singer\n```\nLet me refine:\n```sql\nSELECT name FROM sin",
     "SELECT name FROM singer"),
    # SQL-looking prose: the rationale says "select" and "with"; the fenced block still wins
    ("We select the singers with the highest age and then select their name.\n\n"
     "```sql\nSELECT name FROM singer ORDER BY age DESC LIMIT 1\n```", "SELECT name FROM singer ORDER BY age DESC LIMIT 1"),
    ("The gold would be SELECT x FROM y; instead we use\n```sql\nSELECT name FROM singer;\n```",
     "SELECT name FROM singer"),
])
def test_extract_sql(raw, sql):
    assert extract_sql(raw) == sql


def test_prose_without_a_fence_is_read_by_the_bare_rules():
    """A rationale cut off before its SQL block has no fence: the bare-SQL rules apply (from the first SELECT
    or WITH, cut at a blank line), so what comes out is prose that fails when run, never a fenced draft."""
    assert extract_sql("Let me think.\nWe start with the table singer.\n\nThen") == "with the table singer."
    assert extract_sql("The question asks for names") == "The question asks for names"


def test_split_rationale_gives_the_text_before_the_block_it_reads():
    from sqlforge.extract import split_rationale

    reply = RATIONALE + "```sql\nSELECT * FROM singer\n```\nOnly names:\n```sql\nSELECT name FROM singer\n```\nDone."
    rationale, sql = split_rationale(reply)
    assert sql == "SELECT name FROM singer"
    assert rationale.startswith("Let me think") and rationale.endswith("Only names:")
    assert split_rationale("SELECT a FROM t") == ("", "SELECT a FROM t")
