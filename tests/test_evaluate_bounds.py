"""`sqlforge evaluate` under hostile predictions: a comparison that is hard for any search is bounded by the
same budget as validate's, and peak memory does not grow with the number of prediction lines."""

from __future__ import annotations

import itertools
import json
import os
import random
import sqlite3
import subprocess
import sys
from pathlib import Path

import yaml

from conftest import REPO, write_params


def _cli(*args, cwd: Path = REPO) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    return subprocess.run([sys.executable, "-m", "sqlforge.commands", *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def _plane(q: int) -> list[tuple]:
    """PG(2, q) incidence rows (q prime): every column holds q + 1 ones, any two columns share one."""
    pts = [v for v in itertools.product(range(q), repeat=3) if any(v) and v[next(i for i, x in enumerate(v) if x)] == 1]
    return [tuple(int(sum(a * b for a, b in zip(p, line)) % q == 0) for line in pts) for p in pts]


def _spider_folder(tmp_path: Path, db_id: str, script: str) -> Path:
    db = tmp_path / "database"
    (db / db_id).mkdir(parents=True)
    conn = sqlite3.connect(db / db_id / f"{db_id}.sqlite")
    conn.executescript(script)
    conn.commit()
    conn.close()
    return db


def test_evaluate_takes_the_compare_budget_of_validate_and_a_flag(tmp_path):
    """Pinned: PG(2,7) against its shuffled copy (57 alike columns: the case that never finished) is scored
    right under the default budget (validate.compare_budget_s of --params); a tiny --compare-budget scores
    it wrong and counts it as a comparison past the budget."""
    rows = _plane(7)
    rng = random.Random(0)
    perm = rng.sample(range(57), 57)
    shuffled = [tuple(r[i] for i in perm) for r in rows]
    rng.shuffle(shuffled)
    cols = ", ".join(f"c{i} INTEGER" for i in range(57))
    script = f"CREATE TABLE g ({cols}); CREATE TABLE p ({cols});" + "".join(
        f"INSERT INTO {t} VALUES ({', '.join(map(str, r))});" for t, rs in (("g", rows), ("p", shuffled)) for r in rs)
    db = _spider_folder(tmp_path, "pg", script)
    (tmp_path / "gold.sql").write_text("SELECT * FROM g\tpg\n")
    (tmp_path / "pred.sql").write_text("SELECT * FROM p\n")
    common = ["evaluate", "--rules", "spider", "--gold", tmp_path / "gold.sql", "--pred", tmp_path / "pred.sql",
              "--db", db, "--etype", "exec"]
    out = tmp_path / "v.jsonl"
    proc = _cli(*common, "--out", out)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(out.read_text())["exec"] is True
    assert "past --compare-budget" not in proc.stdout
    proc = _cli(*common, "--out", out, "--compare-budget", "0.000001")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(out.read_text())["exec"] is False
    assert "result comparisons past --compare-budget, scored wrong: 1" in proc.stdout, proc.stdout


_PEAK_WRAPPER = """
import atexit, sys
def peak():
    with open('/proc/self/status') as f:
        print('PEAK_KB', next(int(l.split()[1]) for l in f if l.startswith('VmHWM:')), file=sys.stderr)
atexit.register(peak)
from sqlforge.commands import main
sys.exit(main(sys.argv[1:]))
"""


def _evaluate_peak_kb(tmp_path: Path, db: Path, params: Path, lines: int) -> int:
    """The evaluate process's own peak resident size (VmHWM), read as it exits; its sandbox workers are
    separate processes with their own cap."""
    # distinct queries (no two share a cache entry), each returning 60,000 rows, gold and prediction alike
    query = "SELECT x, x + {i} FROM n"
    (tmp_path / f"gold{lines}.sql").write_text("".join(f"{query.format(i=i)}\tbig\n" for i in range(lines)))
    (tmp_path / f"pred{lines}.sql").write_text("".join(f"{query.format(i=i)} WHERE 1\n" for i in range(lines)))
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    proc = subprocess.run([sys.executable, "-c", _PEAK_WRAPPER, "evaluate", "--rules", "spider",
                           "--gold", tmp_path / f"gold{lines}.sql", "--pred", tmp_path / f"pred{lines}.sql",
                           "--db", db, "--etype", "exec", "--workers", "1", "--params", params,
                           "--out", tmp_path / f"v{lines}.jsonl"], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    verdicts = [json.loads(line) for line in (tmp_path / f"v{lines}.jsonl").read_text().splitlines()]
    assert len(verdicts) == lines and all(v["exec"] for v in verdicts)
    return int(proc.stderr.rsplit("PEAK_KB", 1)[1].split()[0])


def test_evaluate_memory_does_not_grow_with_the_number_of_predictions(tmp_path):
    """Pinned: results are judged and dropped. 40 lines of 60,000-row results (about 10 MB a result in the
    evaluating process) peak within 60 MB of 10 such lines; before, each line's pair of results stayed until
    the end (about 20 MB more per line: 600 MB more for 40 than for 10). The result cache is kept small
    (sandbox.cache_mb 8) so that it is not what is measured."""
    db = _spider_folder(tmp_path, "big", "CREATE TABLE n (x INTEGER);"
                        "WITH RECURSIVE c(i) AS (SELECT 1000 UNION ALL SELECT i + 1 FROM c WHERE i < 60999) "
                        "INSERT INTO n SELECT i FROM c;")
    params = write_params(tmp_path / "params.yaml", {"sandbox": {"cache_mb": 8}})
    assert yaml.safe_load(params.read_text())["sandbox"]["cache_mb"] == 8
    peak10 = _evaluate_peak_kb(tmp_path, db, params, 10)
    peak40 = _evaluate_peak_kb(tmp_path, db, params, 40)
    print(f"evaluate peak RSS: 10 lines {peak10 / 1024:.0f} MB, 40 lines {peak40 / 1024:.0f} MB")
    assert peak40 - peak10 < 60 * 1024, (peak10, peak40)
