"""The files the official evaluators read, written and read by their rules.

Spider (test-suite `evaluation.py`): a gold file of `SQL<TAB>db_id` lines and a
prediction file of one SQL per line, in question order. Each line is
stripped and split at tabs (a prediction keeps its first field); a blank line
ends a session (SParC/CoSQL interactions), so Spider's files must have none:
the official CLI stops with "number of sessions must equal" when the two files
hold different numbers of sessions, and silently pairs lines up to the
shorter file. So every SQL is written on one line, tabs and newlines inside
literals become spaces, and an empty prediction is written as `SELECT`, which
the official evaluator scores wrong (a syntax error when executed, and a
query its parser cannot read, i.e. the empty query, for exact match).

BIRD (`evaluation.py` of June 2023): predictions are one JSON object whose
values are `SQL\\t----- bird -----\\tdb_id`, paired with the golds by position
in the object's key order (json.load keeps the file's order), so keys are
written in question order, never sorted. The SQL is kept as written (a JSON
string holds any whitespace; collapsing it would change string literals). A
value that is not a string is read officially as the SQL " " on database
`financial`. The gold file (`dev_gold.sql`) has `SQL<TAB>db_id` lines.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from sqlforge.data.datasets import check_db_id
from sqlforge.io import InputError, read_json, read_text

BIRD_SEPARATOR = "\t----- bird -----\t"
EMPTY_PLACEHOLDER = "SELECT"  # what an empty prediction is written as in Spider's line format
BIRD_NON_STRING = (" ", "financial")  # the official reading of a prediction value that is not a string

_PIECE = re.compile(r"""'(?:[^']|'')*'|"(?:[^"]|"")*"|`[^`]*`|\[[^\]]*\]|\s+|[^'"`\[\s]+|.""", re.DOTALL)


def one_line(sql: str) -> str:
    """`sql` on one line without tabs: whitespace between tokens becomes one space; inside quotes only
    tabs and line breaks become spaces (they cannot be written in a line-based file), the rest is kept."""
    out = []
    for piece in _PIECE.findall(sql.strip()):
        if piece.isspace():
            out.append(" ")
        elif piece[0] in "'\"`[":
            out.append(re.sub(r"[\t\r\n]", " ", piece))
        else:
            out.append(piece)
    return "".join(out)


# ---- writing ----------------------------------------------------------------------------------

def spider_prediction_text(sqls: list[str]) -> str:
    return "".join((one_line(sql) or EMPTY_PLACEHOLDER) + "\n" for sql in sqls)


def gold_text(golds: list[str], db_ids: list[str]) -> str:
    """Spider's gold file and BIRD's dev_gold.sql: `SQL<TAB>db_id` per line."""
    return "".join(f"{one_line(sql)}\t{db_id}\n" for sql, db_id in zip(golds, db_ids))


def bird_prediction_text(sqls: list[str], db_ids: list[str]) -> str:
    """predict_dev.json: keys "0", "1", ... in question order (json.dumps keeps insertion order)."""
    return json.dumps({str(i): f"{sql.strip()}{BIRD_SEPARATOR}{db_id}" for i, (sql, db_id)
                       in enumerate(zip(sqls, db_ids))}, indent=4, ensure_ascii=False) + "\n"


def difficulty_lines(difficulties: list[str]) -> str:
    """The mini-dev scripts' --diff_json_path (read line by line with json.loads): {"difficulty": ...} per
    question, in question order."""
    return "".join(json.dumps({"difficulty": d}) + "\n" for d in difficulties)


# ---- reading ----------------------------------------------------------------------------------

def _sessions(path: Path) -> list[list[tuple[int, list[str]]]]:
    """Sessions of (line number, tab-separated fields), split at blank lines as the official reader does."""
    sessions, current = [], []
    for lineno, line in enumerate(read_text(path).splitlines(), start=1):
        if not line.strip():
            sessions.append(current)
            current = []
        else:
            current.append((lineno, line.strip().split("\t")))
    if current:
        sessions.append(current)
    return sessions


def read_spider_files(gold_path: str | Path, pred_path: str | Path) -> list[dict]:
    """[{gold, db_id, pred}] in file order; files the official CLI would reject or pair wrongly are refused."""
    gold_path, pred_path = Path(gold_path), Path(pred_path)
    golds, preds = _sessions(gold_path), _sessions(pred_path)
    if len(golds) != len(preds):
        raise InputError(f"{pred_path}: {len(preds)} sessions (runs of lines between blank lines) but {gold_path} has "
                         f"{len(golds)}; write one non-empty line per gold line (an empty prediction as "
                         f"{EMPTY_PLACEHOLDER!r}), no blank lines")
    out = []
    for g_session, p_session in zip(golds, preds):
        if len(g_session) != len(p_session):
            raise InputError(f"{pred_path}: {len(p_session)} predictions for the {len(g_session)} questions of "
                             f"{gold_path} from its line {g_session[0][0] if g_session else 1}")
        for (g_line, g_fields), (_, p_fields) in zip(g_session, p_session):
            if len(g_fields) != 2 or not g_fields[1].strip():
                raise InputError(f"{gold_path}: line {g_line} is not SQL<TAB>db_id")
            db_id = check_db_id(g_fields[1].strip(), f"{gold_path}: line {g_line}")
            out.append({"gold": g_fields[0], "db_id": db_id, "pred": p_fields[0]})
    if not out:
        raise InputError(f"{gold_path}: no questions")
    return out


def _no_duplicates(path: Path):
    def hook(pairs: list[tuple]) -> dict:
        keys = [k for k, _ in pairs]
        if len(set(keys)) != len(keys):
            dup = next(k for k in keys if keys.count(k) > 1)
            raise InputError(f"{path}: key {dup!r} appears twice; predictions pair with golds by position")
        return dict(pairs)
    return hook


def read_bird_predictions(path: str | Path) -> list[tuple[str, str]]:
    """(SQL, db_id) per value of predict_dev.json, in the file's key order."""
    path = Path(path)
    try:
        data = json.loads(read_text(path), object_pairs_hook=_no_duplicates(path))
    except json.JSONDecodeError as e:
        raise InputError(f"{path}: invalid JSON at line {e.lineno} column {e.colno}: {e.msg}") from None
    except RecursionError:
        raise InputError(f"{path}: JSON nested too deeply to read") from None
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected a JSON object of index -> \"SQL\\t----- bird -----\\tdb_id\"")
    out = []
    for key, value in data.items():
        if not isinstance(value, str):
            out.append(BIRD_NON_STRING)
            continue
        parts = value.split(BIRD_SEPARATOR)
        if len(parts) != 2:
            raise InputError(f"{path}: entry {key!r} is not \"SQL\\t----- bird -----\\tdb_id\"")
        out.append((parts[0], check_db_id(parts[1].strip(), f"{path}: entry {key!r}")))
    return out


def read_bird_gold(path: str | Path) -> list[dict]:
    """[{gold, db_id, difficulty}] from BIRD's dev.json (difficulty 'unknown' in releases without it)."""
    path = Path(path)
    records = read_json(path)
    if not isinstance(records, list) or not records:
        raise InputError(f"{path}: expected a non-empty list of BIRD records")
    out = []
    for i, rec in enumerate(records):
        if not isinstance(rec, dict) or not isinstance(rec.get("SQL"), str) or not isinstance(rec.get("db_id"), str):
            raise InputError(f"{path}: record {i} has no string 'SQL' and 'db_id'")
        difficulty = rec.get("difficulty")
        out.append({"gold": rec["SQL"], "db_id": check_db_id(rec["db_id"], f"{path}: record {i}"),
                    "difficulty": difficulty if isinstance(difficulty, str) else "unknown"})
    return out
