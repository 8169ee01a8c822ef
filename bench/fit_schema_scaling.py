"""fit_schema's time against the number of tables: 100 to 2,000 tables, each with a primary key and a foreign
key to the one before, trimmed to a token budget of about an eighth of them (so the table trimming is timed
too). Prints JSON: seconds and microseconds per table for each size; per-table time should stay flat.

    python bench/fit_schema_scaling.py
"""

from __future__ import annotations

import json
import sqlite3
import tempfile
import time
from pathlib import Path

from sqlforge.data.schema import database_entry, fit_schema


def main() -> None:
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for n in (100, 200, 500, 1000, 2000):
            path = Path(tmp) / f"t{n}.sqlite"
            conn = sqlite3.connect(path)
            conn.executescript("".join(f"CREATE TABLE t{i} (id INTEGER PRIMARY KEY, "
                                       f"ref INTEGER REFERENCES t{max(0, i - 1)}, a TEXT, b TEXT);" for i in range(n)))
            conn.close()
            start = time.monotonic()
            entry = database_entry(path)
            read_s = time.monotonic() - start
            start = time.monotonic()
            text = fit_schema(entry, str(path), 0, n // 5, lambda s: len(s.split()) // 10)
            fit_s = time.monotonic() - start
            out[n] = {"database_entry_s": round(read_s, 4), "fit_schema_s": round(fit_s, 4),
                      "fit_us_per_table": round(fit_s / n * 1e6, 1), "tables_kept": text.count("CREATE TABLE")}
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
