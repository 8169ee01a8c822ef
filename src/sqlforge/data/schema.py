"""Serialize a database schema as CREATE TABLE text for prompts.

Column names and types come from tables.json (the names a dataset's gold SQL
uses) with declared types read from the database; primary keys (composite
ones too) and foreign keys are spelled out; each column may carry a few
distinct sample values read from the database, and BIRD's column and value
descriptions (`database_description/<table>.csv`) when present. Identifiers
are quoted wherever SQLite would not read them bare (`quote`): names with
spaces or punctuation (BIRD), leading digits, and SQL keywords of any case
(Spider's `railway` has a column `train.From`). Every query sqlforge builds
from a schema name goes through `quote`.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Callable

from sqlforge.identifiers import quote
from sqlforge.sandbox.sqlite import OK, RUNTIME, SYNTAX, open_readonly

_SCAN_ROWS = 1000


class SchemaReader:
    """Reads a dataset database for schema text through the sandbox (an Executor: its worker's memory cap,
    result bounds and timeout), never in this process: a view in a dataset can be endless or huge.

    `unsampled` holds (database, table) pairs whose sample values or declared types could not be read
    within those bounds: each is left unsampled (declared types fall back to TEXT), counted, never fatal."""

    def __init__(self, executor):
        self.executor = executor
        self.unsampled: set[tuple[str, str]] = set()

    def _run(self, db_path: str, table: str, sql: str):
        if (db_path, table) in self.unsampled:  # one overrun per table, not one per column
            return None
        result = self.executor.execute(db_path, sql)
        if result.error_kind not in (OK, RUNTIME, SYNTAX):  # timeout, too large, out of memory, crashed
            self.unsampled.add((db_path, table))
            return None
        return result

    def declared_types(self, db_path: str, table: str) -> dict[str, str] | None:
        """{column (lower case): declared type}, or None when the table could not be read within bounds."""
        result = self._run(db_path, table, f"PRAGMA table_info({quote(table)})")
        if result is None or not result.ok:
            self.unsampled.add((db_path, table))
            return None
        return {row[1].lower(): (row[2] or "").upper() for row in result.rows}

    def sample_values(self, db_path: str, table: str, column: str, k: int) -> list:
        if k <= 0:
            return []
        # distinct values among the first rows only: BIRD tables have millions of rows
        col = quote(column)
        sql = (f"SELECT DISTINCT {col} FROM (SELECT {col} FROM {quote(table)} WHERE {col} IS NOT NULL "
               f"ORDER BY rowid LIMIT {_SCAN_ROWS}) LIMIT {k}")
        for attempt in (sql, sql.replace(" ORDER BY rowid", "")):  # views, WITHOUT ROWID tables: unordered
            result = self._run(db_path, table, attempt)
            if result is None:
                return []
            if result.ok:
                return [row[0] for row in result.rows]
        return []  # e.g. a view over a table the database lacks: sample values are only a hint


def _pk_groups(entry: dict) -> list[list[int]]:
    return [pk if isinstance(pk, list) else [pk] for pk in entry.get("primary_keys", [])]


def _fmt(value) -> str:
    if isinstance(value, str):
        value = value if len(value) <= 30 else value[:27] + "..."
        return "'" + value.replace("'", "''") + "'"
    return str(value)


def _decode(path: Path) -> str:
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:  # several BIRD description files are Latin-1
        return raw.decode("latin-1")


def _clean(text: str, limit: int) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def load_descriptions(db_dir: str | Path, limit: int = 120) -> dict[str, dict[str, str]]:
    """BIRD `database_description/*.csv` as {table: {column: text}}, lower-cased names; {} when absent.

    The text is the column description (or the expanded column name) and the
    value description, trimmed to `limit` characters each.
    """
    folder = Path(db_dir) / "database_description"
    out: dict[str, dict[str, str]] = {}
    for path in sorted(folder.glob("*.csv")) if folder.is_dir() else []:
        rows = list(csv.DictReader(io.StringIO(_decode(path))))
        columns = {}
        for row in rows:
            row = {(k or "").strip().lower(): (v or "") for k, v in row.items()}
            name = row.get("original_column_name", "").strip()
            if not name:
                continue
            desc = _clean(row.get("column_description") or row.get("column_name", ""), limit)
            values = _clean(row.get("value_description", ""), limit)
            text = "; ".join(t for t in (desc, f"values: {values}" if values else "") if t)
            if text:
                columns[name.lower()] = text
        out[path.stem.strip().lower()] = columns
    return out


def _comment(values: list, description: str) -> str:
    parts = ([description] if description else []) + (["e.g. " + ", ".join(_fmt(v) for v in values)] if values else [])
    return " /* " + " | ".join(p.replace("*/", "* /") for p in parts) + " */" if parts else ""


def schema_blocks(entry: dict, db_path: str, sample_values: int = 2,
                  descriptions: dict[str, dict[str, str]] | None = None,
                  reader: SchemaReader | None = None) -> list[str]:
    """One CREATE TABLE statement per table. With a `reader` every query on the database (declared types,
    sample values) runs in its sandbox; without one, sample values cannot be read (ValueError when asked
    for) and declared types come from PRAGMA table_info in this process (schema only: no row is read)."""
    if reader is None and sample_values > 0:
        raise ValueError("sample values are read through the sandbox: pass a SchemaReader")
    descriptions = descriptions or {}
    tables = entry["table_names_original"]
    columns = entry["column_names_original"]
    by_table: dict[int, list[int]] = {i: [] for i in range(len(tables))}
    for idx, (t_idx, _) in enumerate(columns):
        if t_idx >= 0:
            by_table[t_idx].append(idx)
    pk_groups = _pk_groups(entry)
    single_pk = {g[0] for g in pk_groups if len(g) == 1}
    # keys carry no useful sample values
    key_columns = single_pk | {c for pair in entry.get("foreign_keys", []) for c in pair}
    # composite keys and foreign keys grouped by their table once: looked up per table, linear in tables
    composite: dict[int, list[list[int]]] = {}
    for group in pk_groups:
        if len(group) > 1:
            composite.setdefault(columns[group[0]][0], []).append(group)
    foreign: dict[int, list[tuple[int, int]]] = {}
    for src, dst in entry.get("foreign_keys", []):
        foreign.setdefault(columns[src][0], []).append((src, dst))
    conn = open_readonly(db_path) if reader is None else None
    try:
        parts = []
        for t_idx, table in enumerate(tables):
            if reader is not None:
                declared = reader.declared_types(db_path, table)
            else:
                assert conn is not None
                declared = {row[1].lower(): (row[2] or "").upper() for row in
                            conn.execute(f"PRAGMA table_info({quote(table)})").fetchall()}
            lines = []
            table_desc = descriptions.get(table.lower(), {})
            for idx in by_table[t_idx]:
                name = columns[idx][1]
                if declared is not None and name.lower() not in declared:
                    raise ValueError(f"column {table}.{name} from tables.json is not in the database")
                line = f"  {quote(name)} {(declared or {}).get(name.lower()) or 'TEXT'}"
                if idx in single_pk:
                    line += " PRIMARY KEY"
                values = ([] if idx in key_columns or reader is None
                          else reader.sample_values(db_path, table, name, sample_values))
                lines.append((line, _comment(values, table_desc.get(name.lower(), ""))))
            for group in composite.get(t_idx, []):
                lines.append((f"  PRIMARY KEY ({', '.join(quote(columns[i][1]) for i in group)})", ""))
            for src, dst in foreign.get(t_idx, []):
                ref_table = tables[columns[dst][0]]
                lines.append((f"  FOREIGN KEY ({quote(columns[src][1])}) REFERENCES "
                              f"{quote(ref_table)}({quote(columns[dst][1])})", ""))
            # one line per table keeps prompts short (prompt length is most of the training cost)
            body = ", ".join(text.strip() + comment for text, comment in lines)
            parts.append(f"CREATE TABLE {quote(table)} ({body});")
        return parts
    finally:
        if conn is not None:
            conn.close()


def serialize_schema(entry: dict, db_path: str, sample_values: int = 2,
                     descriptions: dict[str, dict[str, str]] | None = None,
                     reader: SchemaReader | None = None) -> str:
    return "\n".join(schema_blocks(entry, db_path, sample_values, descriptions, reader))


def fit_schema(entry: dict, db_path: str, sample_values: int, max_tokens: int,
               count_tokens: Callable[[str], int], descriptions: dict[str, dict[str, str]] | None = None,
               reader: SchemaReader | None = None) -> str:
    """Largest serialization under the token budget: fewer sample values first, then no
    descriptions, then fewer tables (the last ones, so the order stays deterministic)."""
    attempts = [(k, descriptions) for k in range(sample_values, -1, -1)] + ([(0, None)] if descriptions else [])
    for k, desc in attempts:
        blocks = schema_blocks(entry, db_path, k, desc, reader)
        if count_tokens("\n".join(blocks)) <= max_tokens:
            return "\n".join(blocks)
    # the most leading tables that fit (at least one), found by bisection: a prefix's token count grows with
    # its length, so this is the table-by-table trimming from the end in log(tables) counts, not tables
    low, high = 1, len(blocks)
    while low < high:
        mid = (low + high + 1) // 2
        if count_tokens("\n".join(blocks[:mid])) <= max_tokens:
            low = mid
        else:
            high = mid - 1
    return "\n".join(blocks[:low])


def database_entry(db_path: str | Path, db_id: str = "", skipped: list[tuple[str, str]] | None = None) -> dict:
    """A tables.json-style entry read from the database itself, for a database no dataset describes
    (`sqlforge ask`): tables in creation order, columns in declared order, primary keys (composite
    ones as a list) and foreign keys sorted by column, as Spider's tables.json lists them."""
    conn = open_readonly(db_path)
    try:
        tables = [name for (name,) in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' "
            "ORDER BY rowid")]
        columns: list[list] = [[-1, "*"]]
        index: dict[tuple[str, str], int] = {}
        primary_keys: list = []
        first_pk: dict[str, str] = {}  # table -> its single-column primary key (REFERENCES t without a column)
        described = []
        for table in tables:
            try:
                described.append((table, conn.execute(f"PRAGMA table_info({quote(table)})").fetchall()))
            except Exception as e:  # a virtual table of a module this SQLite lacks: left out, noted
                if skipped is not None:
                    skipped.append((table, " ".join(str(e).split())))
        tables = [table for table, _ in described]
        for t_idx, (table, info) in enumerate(described):
            pk = []
            for row in info:
                index[(table.lower(), row[1].lower())] = len(columns)
                if row[5]:
                    pk.append((row[5], len(columns)))
                columns.append([t_idx, row[1]])
            if pk:
                ordered = [i for _, i in sorted(pk)]
                primary_keys.append(ordered[0] if len(ordered) == 1 else ordered)
                if len(ordered) == 1:
                    first_pk[table.lower()] = columns[ordered[0]][1].lower()
        foreign_keys = []
        for table in tables:
            for row in conn.execute(f"PRAGMA foreign_key_list({quote(table)})").fetchall():
                ref_table, src, dst = row[2].lower(), row[3].lower(), row[4]
                if dst is None:  # REFERENCES t without a column: t's primary key
                    dst = first_pk.get(ref_table, "")
                pair = (index.get((table.lower(), src)), index.get((ref_table, dst.lower())))
                if None not in pair:  # a key to a table that does not exist carries no schema information
                    foreign_keys.append(list(pair))
    finally:
        conn.close()
    return {"db_id": db_id or Path(db_path).stem, "table_names_original": tables,
            "column_names_original": columns, "primary_keys": primary_keys, "foreign_keys": sorted(foreign_keys)}
