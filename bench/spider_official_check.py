"""Check sqlforge's Spider EM, hardness and execution text against the official code itself.

Needs a checkout of taoyds/test-suite-sql-eval (`--official`) and a Python that has nltk and
sqlparse (`--python`; keep them out of the project's venv). Runs the committed test cases
(tests/test_official_exact_match.py, test_official_hardness.py, test_official_prediction_text.py) and `--pairs` generated
(gold, prediction) pairs over the databases of tests/spider_fixture.py through both, and
prints every disagreement and a JSON summary. NLTK's sentence splitter needs model data that
is often absent; the official tokenizer is run with preserve_line=True (one sentence), which
is what sqlforge reproduces. Exit 1 when anything disagrees.

    python bench/spider_official_check.py --official ../test-suite-sql-eval --python /tmp/venv/bin/python
"""

from __future__ import annotations

import argparse
import json
import random
import re
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

import spider_fixture  # noqa: E402
import test_official_hardness  # noqa: E402
import test_official_exact_match  # noqa: E402
import test_official_prediction_text  # noqa: E402
from sqlforge.official.hardness import spider_hardness  # noqa: E402
from sqlforge.official.exact_match import exact_match  # noqa: E402
from sqlforge.official.prediction_text import exec_text  # noqa: E402

# Runs under --python with the official folder on sys.path: the official CLI's steps, per item.
HARNESS = r'''
import json, os, sys
sys.path.insert(0, sys.argv[1])
import process_sql
from nltk import word_tokenize
process_sql.word_tokenize = lambda s: word_tokenize(s, preserve_line=True)
from process_sql import Schema, get_schema, get_sql
from evaluation import Evaluator, build_foreign_key_map, build_valid_col_units, rebuild_sql_col, rebuild_sql_val
from exec_eval import postprocess, replace_cur_year
from parse import remove_distinct
job = json.load(sys.stdin)
kmaps = {e["db_id"]: build_foreign_key_map(e) for e in job["tables"]}
schema = lambda db: Schema(get_schema(os.path.join(job["db_dir"], db, db + ".sqlite")))
EMPTY = {"except": None, "from": {"conds": [], "table_units": []}, "groupBy": [], "having": [], "intersect": None,
         "limit": None, "orderBy": [], "select": [False, []], "union": None, "where": []}
out = {"em": [], "hardness": [], "exec": []}
for gold, pred, db in job["pairs"]:
    s = schema(db)
    try:
        g = get_sql(s, gold)
    except Exception:
        out["em"].append(None); continue
    try:
        p = get_sql(s, pred.strip().split("\t")[0].replace("value", "1"))
    except Exception:
        p = json.loads(json.dumps(EMPTY))
    g = rebuild_sql_col(build_valid_col_units(g["from"]["table_units"], s), rebuild_sql_val(g), kmaps[db])
    p = rebuild_sql_col(build_valid_col_units(p["from"]["table_units"], s), rebuild_sql_val(p), kmaps[db])
    out["em"].append(bool(Evaluator().eval_exact_match(p, g)))
for sql, db in job["hardness"]:
    try:
        out["hardness"].append(Evaluator().eval_hardness(get_sql(schema(db), sql)))
    except Exception:
        out["hardness"].append(None)
for sql, keep in job["exec"]:
    out["exec"].append(replace_cur_year(postprocess(sql) if keep else remove_distinct(postprocess(sql))))
json.dump(out, sys.stdout)
'''

TABLES = {"singer": ["singer_id", "name", "country", "age"], "stadium": ["stadium_id", "name", "location", "capacity"],
          "concert": ["concert_id", "concert_name", "stadium_id", "year"], "singer_in_concert": ["concert_id", "singer_id"]}
JOINS = [("singer", "singer_in_concert", "singer_id", "singer_id"), ("concert", "singer_in_concert", "concert_id", "concert_id"),
         ("concert", "stadium", "stadium_id", "stadium_id"), ("singer", "stadium", "singer_id", "stadium_id")]


def random_query(rng: random.Random, depth: int = 0) -> str:
    """Spider-style SQL over the music database, most of it readable by the official parser."""
    if rng.random() < 0.5:
        tables = [rng.choice(list(TABLES))]
        alias = {tables[0]: "T1" if rng.random() < 0.3 else tables[0]}
        source = tables[0] + (" AS T1" if alias[tables[0]] == "T1" else "")
    else:
        a, b, ca, cb = rng.choice(JOINS)
        if rng.random() < 0.5:
            a, b, ca, cb = b, a, cb, ca
        tables, alias = [a, b], {a: "T1", b: "T2"}
        source = f"{a} AS T1 JOIN {b} AS T2 ON T1.{ca} = T2.{cb}"

    def column(aggregate: bool = True) -> str:
        table = rng.choice(tables)
        name = rng.choice(TABLES[table])
        ref = f"{alias[table]}.{name}" if alias[table] != table or rng.random() < 0.3 else name
        if aggregate and rng.random() < 0.25:
            return f"{rng.choice(['count', 'max', 'min', 'sum', 'avg'])}({'DISTINCT ' * (rng.random() < 0.2)}{ref})"
        return "count(*)" if aggregate and rng.random() < 0.07 else ref

    def value() -> str:
        return rng.choice(["1", "2.5", "'x'", '"USA"', "-3", "value"])
    sql = f"SELECT {'DISTINCT ' * (rng.random() < 0.2)}{', '.join(column() for _ in range(rng.choice([1, 1, 2, 3])))} FROM {source}"
    if rng.random() < 0.5:
        conds = []
        for _ in range(rng.choice([1, 1, 2, 3])):
            r, col = rng.random(), column(False)
            if r < 0.5:
                conds.append(f"{col} {rng.choice(['=', '>', '<', '>=', '!=', '! =', '> ='])} {value()}")
            elif r < 0.6:
                conds.append(f"{col} {rng.choice(['LIKE', 'NOT LIKE'])} '%a%'")
            elif r < 0.7:
                conds.append(f"{col} BETWEEN {value()} AND {value()}")
            elif depth < 1:
                conds.append(f"{col} {rng.choice(['IN', 'NOT IN', '>'])} ({random_query(rng, depth + 1)})")
            else:
                conds.append(f"{col} = {value()}")
        sql += " WHERE " + conds[0] + "".join(f" {rng.choice(['AND', 'AND', 'OR'])} {c}" for c in conds[1:])
    if rng.random() < 0.3:
        sql += " GROUP BY " + ", ".join(column(False) for _ in range(rng.choice([1, 1, 2])))
        sql += f" HAVING count(*) > {value()}" if rng.random() < 0.4 else ""
    if rng.random() < 0.3:
        sql += " ORDER BY " + ", ".join(column() + rng.choice(["", " DESC", " ASC"]) for _ in range(rng.choice([1, 1, 2])))
        sql += f" LIMIT {rng.randint(1, 5)}" if rng.random() < 0.5 else ""
    if depth < 1 and rng.random() < 0.15:
        sql += f" {rng.choice(['UNION', 'INTERSECT', 'EXCEPT'])} {random_query(rng, depth + 1)}"
    return f"SELECT count(*) FROM ({sql})" if depth == 0 and rng.random() < 0.05 else sql


def perturb(rng: random.Random, sql: str) -> str:
    """A near miss of the kind models make: DISTINCT, values, qualifiers, connectives, ON sides."""
    swap_on = re.sub(r"ON (\S+) = (\S+)", r"ON \2 = \1", sql, count=1)
    return rng.choice([
        sql.replace("DISTINCT ", "", 1) if "DISTINCT" in sql else sql.replace("SELECT ", "SELECT DISTINCT ", 1),
        sql.replace("'x'", "'y'").replace("1", "7"), sql.replace("T1.", "T2.", 1), sql.replace(" DESC", "", 1),
        sql.replace(" AND ", " OR ", 1), sql.replace(" AS T1", "", 1).replace("T1.", ""), swap_on,
        sql.replace("T2.singer_id", "T1.singer_id"), sql.lower()])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--official", required=True, help="checkout of taoyds/test-suite-sql-eval")
    parser.add_argument("--python", required=True, help="a Python with nltk and sqlparse")
    parser.add_argument("--pairs", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    pairs = [[c[2], c[3], c[1]] for c in test_official_exact_match.CASES]
    for _ in range(args.pairs):
        gold = random_query(rng)
        pred = perturb(rng, gold) if rng.random() < 0.8 else random_query(rng)
        pairs.append([gold, perturb(rng, pred) if rng.random() < 0.3 else pred, "music"])
    hardness = [[h[2], h[1]] for h in test_official_hardness.HARDNESS] + [[g, db] for g, _, db in pairs]
    texts = [[c[1], c[2]] for c in test_official_prediction_text.CASES]
    with tempfile.TemporaryDirectory() as tmp:
        spider_fixture.build_databases(Path(tmp))
        job = {"tables": list(spider_fixture.TABLES.values()), "db_dir": tmp, "pairs": pairs, "hardness": hardness, "exec": texts}
        official = json.loads(subprocess.run([args.python, "-c", HARNESS, args.official], input=json.dumps(job),
                                             capture_output=True, text=True, check=True).stdout)
    bad = []
    for (gold, pred, db), verdict in zip(pairs, official["em"]):
        if verdict is not None and exact_match(gold, pred, spider_fixture.TABLES[db]) != verdict:
            bad.append({"em": verdict, "gold": gold, "pred": pred})
    for (sql, db), label in zip(hardness, official["hardness"]):
        if label is not None and spider_hardness(sql, spider_fixture.TABLES[db]) != label:
            bad.append({"hardness": label, "sql": sql})
    for (sql, keep), text in zip(texts, official["exec"]):
        if exec_text(sql, keep) != text:
            bad.append({"exec_text": text, "sql": sql})
    for item in bad:
        print(json.dumps(item))
    print(json.dumps({"em_pairs": sum(v is not None for v in official["em"]), "em_matches": sum(bool(v) for v in official["em"]),
                      "hardness_labels": sum(v is not None for v in official["hardness"]), "exec_texts": len(texts),
                      "disagreements": len(bad)}))
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
