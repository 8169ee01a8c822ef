"""How much BIRD's VES and R-VES move between runs of the same evaluation on the same machine.

Builds a BIRD-format database (one table of 60,000 rows, an index) and right (gold, prediction) pairs of
measurable duration (a few milliseconds): some far from an R-VES bucket boundary (a prediction that uses the
index where the gold scans: ratio >> 2; the reverse: << 0.25), some on one (a prediction identical to its gold:
ratio 1, the boundary between rewards 0.75 and 1). Then measures VES and R-VES `--repeats` times with the
library's own timing (sandbox workers, `--runs` paired runs, 3-sigma outliers dropped) and prints JSON: each
repeat's VES and R-VES, the largest difference between two repeats, and per question the rewards seen.

    python bench/bird_timing_stability.py [--runs 100] [--repeats 3] [--workers 1]
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import tempfile
import time
from pathlib import Path

from sqlforge.config import load_params
from sqlforge.official.bird_metrics import BirdMetrics
from sqlforge.official.judge import verdicts
from sqlforge.sandbox.executor import sandbox_executor

REPO = Path(__file__).resolve().parents[1]
SCHEMA = """
CREATE TABLE big (n INTEGER, m INTEGER, s TEXT);
WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r WHERE i < 60000)
INSERT INTO big SELECT i, i % 97, 'row ' || i FROM r;
CREATE INDEX big_m ON big (m);
"""
SCAN = "SELECT count(*) FROM big WHERE m + 0 = 13"  # no index: reads every row
SEEK = "SELECT count(*) FROM big WHERE m = 13"  # the index: a few hundred rows
PAIRS = [  # (name, gold, prediction)
    ("index: ratio >> 2", SCAN, SEEK),
    ("scan: ratio << 0.25", SEEK, SCAN),
    ("identical scan: ratio 1", SCAN, SCAN),
    ("identical sort: ratio 1", "SELECT max(s) FROM big", "SELECT max(s) FROM big"),
    ("same rows, gold by the index, prediction by a scan", "SELECT sum(n) FROM big WHERE m < 50",
     "SELECT sum(n) FROM big WHERE m + 0 < 50"),
    ("gold twice as slow: ratio near 2", "SELECT count(*) FROM big a WHERE a.m + 0 = 13 OR a.m + 1 = 14",
     SCAN),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    params = load_params(REPO / "params.yaml")
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "dev_databases" / "bench" / "bench.sqlite"
        db.parent.mkdir(parents=True)
        conn = sqlite3.connect(db)
        conn.executescript(SCHEMA)
        conn.commit()
        conn.close()
        records = [{"id": i, "db_path": str(db), "gold": gold, "difficulty": "simple"}
                   for i, (_, gold, _) in enumerate(PAIRS)]
        preds = [pred for _, _, pred in PAIRS]
        repeats = []
        with sandbox_executor(params.sandbox, 30.0, 1, judging=True) as executor, \
                sandbox_executor(params.sandbox, 30.0, args.workers, judging=True) as timer:
            judged = verdicts(records, preds, "bird", executor)
            assert all(v["correct"] for v in judged), judged
            metrics = BirdMetrics(("ves", "rves"), args.runs, args.runs, params.validate.outlier_sigmas, timer)
            for _ in range(args.repeats):
                start = time.monotonic()
                fresh = [dict(v) for v in judged]
                report = metrics.report(records, preds, fresh, 30.0)
                repeats.append({"ves": round(report["ves"], 2), "rves": round(report["rves"], 2),
                                "seconds": round(time.monotonic() - start, 1),
                                "ratios": [round(v["ves_ratio"], 3) for v in fresh],
                                "rewards": [v["rves_reward"] for v in fresh]})
    spread = {m: round(max(r[m] for r in repeats) - min(r[m] for r in repeats), 2) for m in ("ves", "rves")}
    print(json.dumps({"runs": args.runs, "timing_workers": args.workers, "questions": len(PAIRS),
                      "largest_difference_between_repeats": spread, "repeats": repeats,
                      "pairs": [name for name, _, _ in PAIRS]}, indent=1))


if __name__ == "__main__":
    main()
