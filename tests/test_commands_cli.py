"""The `sqlforge` console script as a user meets it: hostile numeric flags, wrong places and wrong paths.

Every case runs `python -m sqlforge.commands` in a subprocess (the exit code is what scripts see) and needs
no trained model: each refusal comes before a model would load, which is part of what is pinned.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO


def sqlforge(*args, cwd: Path = REPO, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    return subprocess.run([sys.executable, "-m", "sqlforge.commands",
                           *(a if isinstance(a, bytes) else str(a) for a in args)], input=stdin, cwd=cwd,
                          env=env, capture_output=True, timeout=120)


def one_line_error(proc: subprocess.CompletedProcess) -> str:
    """The single `error: ...` line of a refused command (exit 2, nothing on stdout, no traceback)."""
    err = proc.stderr.decode()
    assert proc.returncode == 2, (proc.returncode, err[-2000:])
    assert "Traceback" not in err and proc.stdout == b"", err[-2000:]
    assert err.count("\n") == 1 and err.startswith("error: "), err
    return err


@pytest.fixture()
def shop(tmp_path) -> Path:
    path = tmp_path / "shop.sqlite"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE customer (id INTEGER PRIMARY KEY, name TEXT)")
    conn.commit()
    conn.close()
    return path


@pytest.fixture()
def fake_model(tmp_path) -> Path:
    """Passes the folder check but cannot load: any command that gets as far as loading it fails."""
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text("{}")
    return model


# ---- item 2: numeric flags are finite and in range, checked where they are parsed ------------------------

EVALUATE_FLAGS = [("--timeout", "nan"), ("--timeout", "inf"), ("--timeout", "-1"), ("--timeout", "0"),
                  ("--timeout", "1e300"), ("--workers", "0"), ("--workers", "-3"), ("--workers", "2.5"),
                  ("--workers", "100000")]
ASK_FLAGS = [("--timeout", "nan"), ("--timeout", "inf"), ("--timeout", "-1"), ("--n", "-1"), ("--n", "nan"),
             ("--n", "1000000"), ("--temperature", "nan"), ("--temperature", "inf"), ("--temperature", "-0.5"),
             ("--temperature", "11"), ("--rows", "-1"), ("--rows", "inf"), ("--max-new-tokens", "0"),
             ("--max-new-tokens", "inf")]


@pytest.mark.parametrize("flag,value", EVALUATE_FLAGS)
def test_evaluate_refuses_a_bad_number_naming_the_flag(flag, value, tmp_path):
    """`--timeout nan` used to spin forever, `inf` to die with an OverflowError, `-1` to time out every query.
    The flag is checked before any file is read (the files here do not even exist) and nothing is written."""
    out = tmp_path / "verdicts.jsonl"
    proc = sqlforge("evaluate", "--rules", "bird", "--gold", tmp_path / "dev.json", "--pred", tmp_path / "p.json",
                    "--db", tmp_path / "db", "--out", out, flag, value)
    err = one_line_error(proc)
    assert f"argument {flag}: " in err and repr(value) in err
    assert not out.exists()


@pytest.mark.parametrize("flag,value", ASK_FLAGS)
def test_ask_refuses_a_bad_number_naming_the_flag(flag, value, shop, fake_model):
    err = one_line_error(sqlforge("ask", "--db", shop, "--model", fake_model, flag, value, "How many?"))
    assert f"argument {flag}: " in err and repr(value) in err


def test_a_number_in_range_still_parses(shop, fake_model, tmp_path):
    """The checks refuse only what is out of range: with good flags the command goes on to the next check
    (here the missing params file, reported for its own reason)."""
    proc = sqlforge("ask", "--db", shop, "--model", fake_model, "--timeout", "2.5", "--n", "0", "--temperature",
                    "0", "--rows", "0", "--max-new-tokens", "8", "--params", tmp_path / "none.yaml", "How many?")
    assert "none.yaml" in one_line_error(proc)


# ---- item 10: wording a new user meets -------------------------------------------------------------------

def test_ask_outside_the_repository_says_what_params_is_for_and_how_to_pass_it(shop, fake_model, tmp_path):
    err = one_line_error(sqlforge("ask", "--db", shop, "--model", fake_model, "How many?", cwd=tmp_path))
    assert "params.yaml" in err and "--params" in err and "repository root" in err, err


def test_evaluate_outside_the_repository_says_how_to_pass_params(tmp_path):
    err = one_line_error(sqlforge("evaluate", "--rules", "bird", "--gold", "dev.json", "--pred", "p.json",
                                  "--db", "db", "--out", "v.jsonl", cwd=tmp_path))
    assert "params.yaml" in err and "--params" in err, err


def test_a_folder_as_db_is_called_a_folder(tmp_path, fake_model, shop):
    err = one_line_error(sqlforge("ask", "--db", shop.parent, "--model", fake_model, "How many?"))
    assert "is a folder, not a database file" in err and "missing" not in err, err
    assert "shop.sqlite" in err  # the database file inside it is suggested


@pytest.mark.parametrize("question", ["", "   "])
def test_an_empty_question_is_refused_before_the_model_loads(question, shop, fake_model):
    """`fake_model` cannot load: the refusal must come first (it used to come after 5 s of loading)."""
    err = one_line_error(sqlforge("ask", "--db", shop, "--model", fake_model, question))
    assert "question: empty" in err, err


def test_a_question_of_invalid_utf8_in_argv_is_one_line(shop, fake_model):
    err = one_line_error(sqlforge("ask", "--db", shop, "--model", fake_model, b"How many \xff?"))
    assert "not valid UTF-8" in err, err


def test_evaluate_numbers_questions_from_1_as_it_numbers_lines(tmp_path):
    """The second question names a database that is not there: `question 2`, and the verdicts' 0-based index
    beside it, so neither count is mistaken for the other."""
    db = tmp_path / "database"
    (db / "a").mkdir(parents=True)
    sqlite3.connect(db / "a" / "a.sqlite").execute("CREATE TABLE t (x)").connection.close()
    (tmp_path / "gold.sql").write_text("SELECT 1\ta\nSELECT 2\tb\n")
    (tmp_path / "pred.sql").write_text("SELECT 1\nSELECT 2\n")
    out = tmp_path / "v.jsonl"
    err = one_line_error(sqlforge("evaluate", "--rules", "spider", "--gold", tmp_path / "gold.sql",
                                  "--pred", tmp_path / "pred.sql", "--db", db, "--out", out, "--etype", "exec"))
    assert "question 2 (verdicts index 1) names database 'b'" in err, err
    assert not out.exists()
