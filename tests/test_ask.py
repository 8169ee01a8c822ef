"""`sqlforge ask` on a really trained tiny model and a database it has never seen.

The model: the tiny base model fine-tuned for a few dozen steps by the real
sft and merge stage scripts, so the prompt settings travel as in the pipeline.
"""

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from sqlforge import prompt_settings
from sqlforge.prompts import sql_messages

from conftest import REPO, repo_params

# stage scripts in subprocesses, real training or the pipeline: `make test-fast` leaves these out
pytestmark = pytest.mark.slow


SQLFORGE = Path(sys.executable).parent / "sqlforge"  # the console script of the environment running the tests


@pytest.fixture(scope="module")
def merged_model(tmp_path_factory, tiny_model, demo_records) -> Path:
    """The tiny base model fine-tuned (full, 24 steps of 4) on demo questions, saved with its prompt settings as
    sft writes them (that the stage scripts write and copy the file: tests/test_training.py)."""
    from sqlforge.train.sft import build_trainer, sft_dataset

    work = tmp_path_factory.mktemp("ask_model")
    records = [{"prompt": sql_messages(r["schema"], r["question"]),
                "completion": [{"role": "assistant", "content": r["gold"]}]} for r in demo_records["train"][:160]]
    cfg = repo_params({"sft": {"method": "full", "max_steps": 24, "batch_size": 4, "learning_rate": 0.005,
                               "save_steps": 0, "modules_to_save": []}}).sft
    trainer = build_trainer(cfg, sft_dataset(records), str(tiny_model), work / "work")
    trainer.train()
    out = work / "merged"
    trainer.save_model(str(out))
    # demo_records' schema text has 0 sample values: what the model is trained on is what it is asked with
    preprocess = repo_params({"preprocess": {"sample_values": 0, "max_schema_tokens": 512}}).preprocess
    prompt_settings.write(out, prompt_settings.from_preprocess(preprocess))
    return out


@pytest.fixture(scope="module")
def shop_db(tmp_path_factory) -> Path:
    """A database no training example used: other tables, other columns, a composite key."""
    path = tmp_path_factory.mktemp("shop") / "shop.sqlite"
    conn = sqlite3.connect(path)
    conn.executescript("""
        CREATE TABLE customer (customer_id INTEGER PRIMARY KEY, name TEXT, city TEXT);
        CREATE TABLE orders (order_id INTEGER PRIMARY KEY, customer_id INTEGER, total REAL,
                             FOREIGN KEY (customer_id) REFERENCES customer(customer_id));
        CREATE TABLE order_line (order_id INTEGER, line INTEGER, product TEXT, PRIMARY KEY (order_id, line),
                                 FOREIGN KEY (order_id) REFERENCES orders(order_id));
    """)
    conn.executemany("INSERT INTO customer VALUES (?, ?, ?)",
                     [(i, f"Customer {i}", ["Oslo", "Lima", "Pune"][i % 3]) for i in range(1, 13)])
    conn.executemany("INSERT INTO orders VALUES (?, ?, ?)", [(i, 1 + i % 5, 10.0 * i) for i in range(1, 31)])
    conn.commit()
    conn.close()
    return path


def ask(*args, stdin=None):
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "COLUMNS": "120"}
    return subprocess.run([str(SQLFORGE), "ask", *map(str, args)], input=stdin, capture_output=True, text=True,
                          env=env, cwd=REPO, timeout=300)


def test_ask_builds_the_training_prompt_and_reads_settings_from_the_model(merged_model, demo_dir, demo_records,
                                                                          tmp_path):
    """On a training database the prompt equals the SFT prompt byte for byte; the stored sample_values
    (not a default) decide the schema text; a folder without settings falls back and says so."""
    import shutil

    from sqlforge.commands.asker import Asker

    rec = demo_records["train"][0]
    asker = Asker(merged_model, rec["db_path"], repo_params())
    assert asker.messages(rec["question"]) == sql_messages(rec["schema"], rec["question"])
    assert asker.notes() == []
    asker.close()

    other = tmp_path / "model"
    shutil.copytree(merged_model, other)
    settings, _ = prompt_settings.read(other, repo_params().preprocess)
    prompt_settings.write(other, prompt_settings.PromptSettings(settings.templates, 3, True, 1024))
    asker = Asker(other, rec["db_path"], repo_params())
    assert "e.g." in asker.schema and asker.schema != rec["schema"]  # 3 sample values per column now
    asker.close()

    (other / prompt_settings.FILENAME).unlink()
    asker = Asker(other, rec["db_path"], repo_params())
    assert asker.notes() and "no sqlforge_prompt.json" in asker.notes()[0]
    asker.close()


def test_greedy_on_an_unseen_database_prints_sql_and_a_table(merged_model, shop_db):
    proc = ask("--db", shop_db, "--model", merged_model, "How many customers are there?")
    assert "Traceback" not in proc.stderr
    out = proc.stdout
    assert "SELECT" in out.upper()
    if proc.returncode == 0:  # the SQL ran: a table, its row count and the time
        assert "SQL ran in" in out and " row" in out
    else:  # the tiny model wrote SQL the database refused: the sandbox's reason, exit 1
        assert proc.returncode == 1 and "the SQL did not run" in out


def test_interactive_json_with_a_sampling_selector_through_stdin(merged_model, shop_db):
    """Not a terminal: one JSON object per question (nothing else on stdout), blank lines skipped,
    `exit` ends the session; each object's rows are its SQL's own result on the database."""
    stdin = "Which customers live in Oslo?\n\nHow many orders are there?\nexit\nWhat is ignored?\n"
    proc = ask("--db", shop_db, "--model", merged_model, "--select", "vote", "--n", "4", "--json", stdin=stdin)
    assert "Traceback" not in proc.stderr, proc.stderr[-2000:]
    answers = [json.loads(line) for line in proc.stdout.strip().splitlines()]
    # exit 1 exactly when some question's SQL did not run (test_piped_mode_exits_1_when_a_question_failed)
    assert proc.returncode == (1 if any(a["error"] for a in answers) else 0), proc.stderr[-2000:]
    assert [a["question"] for a in answers] == ["Which customers live in Oslo?", "How many orders are there?"]
    conn = sqlite3.connect(shop_db)
    for answer in answers:
        assert set(answer) == {"question", "sql", "columns", "rows", "seconds", "selector", "error"}
        assert answer["selector"] == "vote" and answer["seconds"] > 0 and answer["sql"]
        if answer["error"] is None:
            assert [list(r) for r in conn.execute(answer["sql"]).fetchall()] == answer["rows"]
            assert answer["columns"] and all(len(row) == len(answer["columns"]) for row in answer["rows"])
        else:  # refused or failed: the sandbox's kind and message, no rows
            assert answer["error"]["kind"] != "ok" and answer["error"]["message"] and answer["rows"] == []


def test_best_of_n_and_mcts_choose_among_their_own_candidates(merged_model, shop_db, tmp_path):
    """best-of-n without a reward model ranks by the policy's log p(SQL) and says so; MCTS returns a SQL
    its search found. Both run the chosen SQL in the sandbox."""
    from sqlforge.commands.asker import Asker
    asker = Asker(merged_model, shop_db, repo_params(), "best-of-n", n=3, rm_dir=tmp_path / "no-rm")
    answer = asker.ask("How many customers are there?")
    assert answer.sql and "log p(SQL)" in answer.notes[0] and "no reward model" in answer.notes[0]
    assert answer.result.ok or answer.result.error
    asker.close()
    small = repo_params({"mcts": {"iterations": 2, "expand_n": 2, "top_k": 2}, "engine": {"max_new_tokens": 48}})
    asker = Asker(merged_model, shop_db, small, "mcts")
    answer = asker.ask("How many customers are there?")
    assert answer.selector == "mcts" and answer.sql and "2 iterations" in answer.notes[0]
    asker.close()


def test_sandbox_refusal_is_shown_with_its_reason(merged_model, shop_db, capsys):
    """SQL that writes is refused by the sandbox; `ask` shows the reason, not a traceback."""
    from argparse import Namespace

    from sqlforge.commands.asker import Answer, Asker
    from sqlforge.commands.ask import show

    asker = Asker(merged_model, shop_db, repo_params())
    for sql, kind in (("DELETE FROM customer", "denied"), ("SELECT nope FROM customer", "runtime")):
        result = asker.executor.execute(shop_db, sql)
        assert result.error_kind == kind
        show(Answer("q", sql, "greedy", result, 0.1), Namespace(json=False, rows=20))
        out = capsys.readouterr().out
        assert f"the SQL did not run ({kind})" in out and result.error in out
    asker.close()
    assert sqlite3.connect(shop_db).execute("SELECT count(*) FROM customer").fetchone() == (12,)


def test_ask_runs_sql_under_the_sandbox_section_of_its_params(merged_model, shop_db):
    """`sqlforge ask` takes every bound from the params it loads: sandbox.timeout_s as the query's time (unless
    --timeout), sandbox.max_rows as the result's row cap."""
    from sqlforge.commands.asker import Asker

    tight = repo_params({"sandbox": {"timeout_s": 7.5, "max_rows": 5}})
    for params, timeout, rows_kind in ((repo_params(), repo_params().sandbox.timeout_s, "ok"), (tight, 7.5, "too_large")):
        asker = Asker(merged_model, shop_db, params)
        assert asker.executor.timeout_s == timeout
        assert asker.executor.execute(shop_db, "SELECT * FROM customer").error_kind == rows_kind  # 12 rows
        asker.close()
    asker = Asker(merged_model, shop_db, tight, timeout_s=2.0)  # the flag wins
    assert asker.executor.timeout_s == 2.0
    asker.close()


@pytest.mark.parametrize("case,message", [
    ("missing_db", "database file"),
    ("not_sqlite", "is not an SQLite database"),
    ("empty_db", "has no tables"),
    ("not_a_model", "not a Hugging Face model folder"),
])
def test_bad_input_is_one_line_and_exit_2(case, message, tmp_path, shop_db):
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text("{}")  # passes the folder check: the database errors come first
    db = {"missing_db": tmp_path / "nope.sqlite", "not_sqlite": tmp_path / "text.sqlite",
          "empty_db": tmp_path / "empty.sqlite", "not_a_model": shop_db}[case]
    if case == "not_sqlite":
        db.write_text("id,name\n1,a\n")
    if case == "empty_db":
        sqlite3.connect(db).execute("PRAGMA user_version = 1").connection.close()
    if case == "not_a_model":
        (model / "config.json").unlink()
    proc = ask("--db", db, "--model", model, "How many?")
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and message in proc.stderr, proc.stderr


def ask_bytes(*args, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    """`python -m sqlforge.commands ask` with bytes in and out: stdin may hold what is not UTF-8."""
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "COLUMNS": "120"}
    return subprocess.run([sys.executable, "-m", "sqlforge.commands", "ask", *map(str, args)], input=stdin,
                          capture_output=True, env=env, cwd=REPO, timeout=300)


def test_a_question_past_the_models_context_is_refused_before_generating(merged_model, shop_db):
    """The tiny model's context is 2,048 tokens (max_position_embeddings; its tokenizer says 4,096): a question
    of ~6,000 tokens is refused in one line that says by how much, nothing is generated or printed, exit 2.
    Piped, the same question is one `error:` line among answered ones, and the session's exit code is 2."""
    import time

    long_question = "How many customers live in " + " and ".join(["Oslo"] * 3000) + "?"
    start = time.monotonic()
    proc = ask_bytes("--db", shop_db, "--model", merged_model, long_question)
    err = proc.stderr.decode()
    assert proc.returncode == 2 and proc.stdout == b"" and "Traceback" not in err, err[-2000:]
    # stderr may show the weights loading (as any `ask` does); the one error line ends it, and no warning
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and err.splitlines()[-1] == errors[0], err
    assert errors[0].startswith("error: question: too long for the model") and "sequence length" not in err
    assert "context of 2,048 (max_position_embeddings in" in err and "question tokens fit" in err
    assert time.monotonic() - start < 120

    stdin = f"How many customers are there?\n{long_question}\nHow many orders are there?\n".encode()
    proc = ask_bytes("--db", shop_db, "--model", merged_model, "--json", stdin=stdin)
    err = proc.stderr.decode()
    assert proc.returncode == 2 and "Traceback" not in err, err[-2000:]
    assert [line for line in err.splitlines() if line.startswith("error: ")] == [line for line in err.splitlines()
                                                                                 if "too long" in line]
    assert err.count("error: question: too long") == 1
    answered = [json.loads(line)["question"] for line in proc.stdout.decode().splitlines()]
    assert answered == ["How many customers are there?", "How many orders are there?"]


def test_invalid_utf8_on_stdin_is_one_line_and_the_session_goes_on(merged_model, shop_db):
    """A piped line that is not UTF-8 used to reach the tokenizer as lone surrogates (a TypeError traceback);
    now it is refused by line number and byte, the other questions are answered, exit 2."""
    stdin = b"How many customers are there?\nWhich \xff\xfe customers?\nHow many orders are there?\n"
    proc = ask_bytes("--db", shop_db, "--model", merged_model, "--json", stdin=stdin)
    err = proc.stderr.decode()
    assert proc.returncode == 2 and "Traceback" not in err, err[-2000:]
    assert "error: stdin line 2: not valid UTF-8 at byte 6 (b'\\xff')" in err.splitlines(), err
    answered = [json.loads(line)["question"] for line in proc.stdout.decode().splitlines()]
    assert answered == ["How many customers are there?", "How many orders are there?"]


def test_piped_mode_exits_1_when_a_question_failed(tiny_model, shop_db):
    """The untrained tiny model writes SQL the database refuses: the session used to end with exit 0 whatever
    its questions' fate. Exit 1 exactly when some question's SQL did not run (the JSON `error` says which)."""
    stdin = "How many customers are there?\nWhich city has most customers?\n"
    proc = ask_bytes("--db", shop_db, "--model", tiny_model, "--json", stdin=stdin.encode())
    assert "Traceback" not in proc.stderr.decode(), proc.stderr.decode()[-2000:]
    answers = [json.loads(line) for line in proc.stdout.decode().splitlines()]
    assert len(answers) == 2
    failed = [a for a in answers if a["error"] is not None]
    assert failed, "the untrained model's SQL was expected to fail somewhere"
    assert proc.returncode == 1


NEW_SCHEMA_QUESTIONS = [  # (question in the demo's phrasing, the one table its SQL must read)
    ("How many customers are there?", "customers"),
    ("Count the orders.", "orders"),
    ("List the name and age of every customer.", "customers"),
    ("Which customers have city Oslo?", "customers"),
    ("What is the number of orders?", "orders"),
]


def tables_read(sql: str) -> set[str]:
    import sqlglot
    from sqlglot import exp

    return {t.name.lower() for t in sqlglot.parse_one(sql, read="sqlite").find_all(exp.Table)}


@pytest.mark.xfail(strict=True, reason="the demo's tiny model recalls the demo's schemas instead of reading a new "
                   "one (docs/experiments.md, Cross-database demo); strict: a model that generalises turns this red")
def test_the_pipeline_model_asks_a_database_it_never_saw_in_that_databases_own_names(smoke_pipeline, tmp_path):
    """The pipeline's model on a database no generator made (other names, other columns): for simple
    questions its SQL should run and read the table the question is about, named as this database names it.
    The smoke pipeline's model is the default code path on a smaller budget."""
    from sqlforge.commands.asker import Asker
    from sqlforge.config import load_params

    repo, _ = smoke_pipeline
    db = tmp_path / "store.sqlite"
    conn = sqlite3.connect(db)
    conn.executescript("""
        CREATE TABLE customers (customer_id INTEGER PRIMARY KEY, name TEXT, city TEXT, age INTEGER);
        CREATE TABLE orders (order_id INTEGER PRIMARY KEY, customer_id INTEGER, amount INTEGER, status TEXT,
                             FOREIGN KEY (customer_id) REFERENCES customers(customer_id));
    """)
    conn.executemany("INSERT INTO customers VALUES (?, ?, ?, ?)",
                     [(i, f"Customer {i}", ["Oslo", "Lima", "Pune"][i % 3], 20 + i) for i in range(1, 10)])
    conn.executemany("INSERT INTO orders VALUES (?, ?, ?, ?)",
                     [(i, 1 + i % 9, 10 * i, ["open", "paid"][i % 2]) for i in range(1, 21)])
    conn.commit()
    conn.close()
    asker = Asker(repo / "models" / "merged", db, load_params(repo / "params.yaml"))
    answers = [(q, table, asker.ask(q)) for q, table in NEW_SCHEMA_QUESTIONS]
    asker.close()
    wrong = [(q, a.sql, a.result.error) for q, table, a in answers
             if not a.result.ok or tables_read(a.sql) != {table}]
    assert not wrong, wrong
