"""Small datasets in the real Spider and BIRD on-disk formats (reference §3), for tests and benches.

Each fixture has the quirks the loaders must handle: composite primary keys,
train_others.json, the dev variants, BIRD's names with spaces, dated dev
folders, a nested `dev_databases.zip`, Latin-1 description CSVs, releases
with and without question_id/difficulty, and train gold SQL that fails or
times out.
"""

from __future__ import annotations

import csv
import io
import json
import sqlite3
import zipfile
from pathlib import Path

SLOW_SQL = ("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 300000000) "
            "SELECT count(*) FROM c")


def _sqlite(path: Path, script: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path)
    conn.executescript(script)
    conn.commit()
    conn.close()


def _columns(tables: list[tuple[str, list[tuple[str, str]]]]) -> tuple[list, list]:
    names, types = [[-1, "*"]], ["text"]
    for t_idx, (_, cols) in enumerate(tables):
        for name, tp in cols:
            names.append([t_idx, name])
            types.append(tp)
    return names, types


def tables_entry(db_id: str, tables: list, primary_keys: list, foreign_keys: list) -> dict:
    names, types = _columns(tables)
    return {"db_id": db_id, "table_names_original": [t for t, _ in tables],
            "table_names": [t.lower().replace("_", " ") for t, _ in tables],
            "column_names_original": names, "column_names": [[t, n.lower()] for t, n in names],
            "column_types": types, "primary_keys": primary_keys, "foreign_keys": foreign_keys}


# ---- Spider ---------------------------------------------------------------------------------

CONCERT = [("singer", [("singer_id", "number"), ("name", "text"), ("country", "text")]),
           ("concert", [("concert_id", "number"), ("concert_name", "text"), ("year", "number")]),
           ("singer_in_concert", [("concert_id", "number"), ("singer_id", "number")])]
CONCERT_SQL = """
CREATE TABLE singer (singer_id INTEGER PRIMARY KEY, name TEXT, country TEXT);
CREATE TABLE concert (concert_id INTEGER PRIMARY KEY, concert_name TEXT, year INTEGER);
CREATE TABLE singer_in_concert (concert_id INTEGER, singer_id INTEGER, PRIMARY KEY (concert_id, singer_id),
  FOREIGN KEY (concert_id) REFERENCES concert(concert_id), FOREIGN KEY (singer_id) REFERENCES singer(singer_id));
INSERT INTO singer VALUES (1, 'Joe Sharp', 'Netherlands'), (2, 'Timbaland', 'United States'), (3, 'Rose White', 'France');
INSERT INTO concert VALUES (1, 'Auditions', 2014), (2, 'Super bootcamp', 2015), (3, 'Home Visits', 2015);
INSERT INTO singer_in_concert VALUES (1, 1), (1, 2), (2, 2), (3, 3);
"""
PETS = [("student", [("stuid", "number"), ("fname", "text"), ("age", "number")]),
        ("pets", [("petid", "number"), ("pettype", "text")]),
        ("has_pet", [("stuid", "number"), ("petid", "number")])]
PETS_SQL = """
CREATE TABLE student (stuid INTEGER PRIMARY KEY, fname TEXT, age INTEGER);
CREATE TABLE pets (petid INTEGER PRIMARY KEY, pettype TEXT);
CREATE TABLE has_pet (stuid INTEGER REFERENCES student(stuid), petid INTEGER REFERENCES pets(petid));
INSERT INTO student VALUES (1, 'Linda', 18), (2, 'Tracy', 19), (3, 'Shiela', 21);
INSERT INTO pets VALUES (1, 'cat'), (2, 'dog'), (3, 'dog');
INSERT INTO has_pet VALUES (1, 1), (1, 2), (2, 3);
"""


def _spider_record(db_id: str, question: str, query: str, **extra) -> dict:
    # the real files also carry token lists and a parsed `sql` tree, which loaders ignore
    return {"db_id": db_id, "question": question, "question_toks": question.split(), "query": query,
            "query_toks": query.split(), "sql": {"select": [False, []]}, **extra}


SPIDER_TRAIN = [
    ("concert_singer", "How many singers are there?", "SELECT count(*) FROM singer"),
    ("concert_singer", "List the names of singers from France.", "SELECT name FROM singer WHERE country = 'France'"),
    ("concert_singer", "Which singers sang in a concert in 2015?",
     "SELECT DISTINCT T1.name FROM singer AS T1 JOIN singer_in_concert AS T2 ON T1.singer_id = T2.singer_id "
     "JOIN concert AS T3 ON T2.concert_id = T3.concert_id WHERE T3.year = 2015"),
    ("concert_singer", "Show concert names ordered by year.", "SELECT concert_name FROM concert ORDER BY year"),
    ("concert_singer", "What is the singers' average age?", "SELECT avg(age) FROM singer"),  # gold fails: no age
]
SPIDER_OTHERS = [("pets_1", "How many dogs are there?", "SELECT count(*) FROM pets WHERE pettype = 'dog'")]
SPIDER_DEV = [
    ("pets_1", "How many students have a pet?", "SELECT count(DISTINCT stuid) FROM has_pet"),
    ("pets_1", "Find the first names of students older than 18.", "SELECT fname FROM student WHERE age > 18"),
    ("concert_singer", "How many concerts are there in each year?",
     "SELECT year, count(*) FROM concert GROUP BY year"),
]


def make_spider(root: Path) -> Path:
    """Spider folder with train_others.json and all three dev variants."""
    root.mkdir(parents=True, exist_ok=True)
    _sqlite(root / "database" / "concert_singer" / "concert_singer.sqlite", CONCERT_SQL)
    (root / "database" / "concert_singer" / "schema.sql").write_text(CONCERT_SQL)
    _sqlite(root / "database" / "pets_1" / "pets_1.sqlite", PETS_SQL)
    tables = [tables_entry("concert_singer", CONCERT, [1, 4, [7, 8]], [[7, 4], [8, 1]]),
              tables_entry("pets_1", PETS, [1, 4], [[6, 1], [7, 4]])]
    (root / "tables.json").write_text(json.dumps(tables, indent=1))
    (root / "train_spider.json").write_text(json.dumps([_spider_record(*r) for r in SPIDER_TRAIN], indent=1))
    (root / "train_others.json").write_text(json.dumps([_spider_record(*r) for r in SPIDER_OTHERS], indent=1))
    (root / "dev.json").write_text(json.dumps([_spider_record(*r) for r in SPIDER_DEV], indent=1))
    (root / "Spider-DK.json").write_text(json.dumps(
        [_spider_record("pets_1", "How many students own a pet animal?", "SELECT count(DISTINCT stuid) FROM has_pet")]))
    (root / "Spider-Syn").mkdir(exist_ok=True)
    (root / "Spider-Syn" / "dev.json").write_text(json.dumps([
        {"db_id": "pets_1", "SpiderSynQuestion": "How many pupils have an animal?",
         "SpiderQuestion": "How many students have a pet?", "query": "SELECT count(DISTINCT stuid) FROM has_pet"}]))
    (root / "spider-realistic.json").write_text(json.dumps(
        [_spider_record("concert_singer", "How many concerts happened each year?",
                        "SELECT year, count(*) FROM concert GROUP BY year")]))
    return root


# ---- BIRD -----------------------------------------------------------------------------------

SOCCER = [("Player Attributes", [("id", "integer"), ("player name", "text"), ("overall rating", "integer")]),
          ("Team", [("team_api_id", "integer"), ("team long name", "text")])]
SOCCER_SQL = """
CREATE TABLE "Player Attributes" (id INTEGER PRIMARY KEY, "player name" TEXT, "overall rating" INTEGER);
CREATE TABLE Team (team_api_id INTEGER PRIMARY KEY, "team long name" TEXT);
INSERT INTO "Player Attributes" VALUES (1, 'Aaron Appindangoye', 67), (2, 'Aaron Cresswell', 74), (3, 'Abdelaziz Barrada', 68);
INSERT INTO Team VALUES (9987, 'KRC Genk'), (9993, 'Beerschot AC');
"""
SCHOOLS = [("schools", [("CDSCode", "text"), ("County", "text"), ("Charter School (Y/N)", "integer")])]
SCHOOLS_SQL = """
CREATE TABLE schools (CDSCode TEXT PRIMARY KEY, County TEXT, "Charter School (Y/N)" INTEGER);
INSERT INTO schools VALUES ('01100170109835', 'Alameda', 1), ('01100170112607', 'Alameda', 0), ('19647331930924', 'Los Angeles', 1);
"""
DESCRIPTION_HEADER = ["original_column_name", "column_name", "column_description", "data_format", "value_description"]


def _description(path: Path, rows: list[list[str]], encoding: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.StringIO()
    csv.writer(buf).writerows([DESCRIPTION_HEADER] + rows)
    path.write_bytes(buf.getvalue().encode(encoding))


BIRD_TRAIN = [
    ("european_football_2", "What is Aaron Cresswell's overall rating?", "overall rating refers to `overall rating`",
     "SELECT `overall rating` FROM `Player Attributes` WHERE `player name` = 'Aaron Cresswell'", "simple"),
    ("european_football_2", "How many teams are there?", "", "SELECT COUNT(*) FROM Team", "simple"),
    ("european_football_2", "Name the team with the largest id.", "",
     "SELECT `team long name` FROM Team ORDER BY team_api_id DESC LIMIT 1", "moderate"),
    ("european_football_2", "Average height of players?", "", "SELECT AVG(height) FROM Player", "simple"),  # fails
    ("european_football_2", "Count a lot.", "", SLOW_SQL, "challenging"),  # times out
]
BIRD_DEV = [
    ("california_schools", "How many charter schools are in Alameda?", "charter schools refers to `Charter School (Y/N)` = 1",
     "SELECT COUNT(*) FROM schools WHERE County = 'Alameda' AND `Charter School (Y/N)` = 1", "simple"),
    ("california_schools", "List the counties with more than one school.", "",
     "SELECT County FROM schools GROUP BY County HAVING COUNT(*) > 1", "moderate"),
]


def _bird_records(rows: list[tuple], new_release: bool) -> list[dict]:
    out = []
    for i, (db_id, question, evidence, sql, difficulty) in enumerate(rows):
        record = {"db_id": db_id, "question": question, "evidence": evidence, "SQL": sql}
        if new_release:
            record = {"question_id": i, **record, "difficulty": difficulty}
        out.append(record)
    return out


def make_bird(root: Path, new_release: bool = True) -> Path:
    """BIRD folder: train/ and dev/ (old release) or dev_20240627/ with a nested databases zip (new)."""
    train = root / "train"
    db = train / "train_databases" / "european_football_2"
    _sqlite(db / "european_football_2.sqlite", SOCCER_SQL)
    _description(db / "database_description" / "Player Attributes.csv",
                 [["id", "", "the unique id", "integer", ""],
                  ["player name", "", "player's name", "text", ""],
                  ["overall rating", "", "the overall rating of the player", "integer",
                   "commonsense reasoning: higher is better; range 0-100 in ½ steps"]], "latin-1")
    _description(db / "database_description" / "Team.csv",
                 [["team_api_id", "team api id", "", "integer", ""],
                  ["team long name", "", "the full name of the team", "text", ""]], "utf-8-sig")
    (train / "train_tables.json").write_text(json.dumps(
        [tables_entry("european_football_2", SOCCER, [1, 4], [])]))
    (train / "train.json").write_text(json.dumps(_bird_records(BIRD_TRAIN, new_release), indent=1))

    dev = root / ("dev_20240627" if new_release else "dev")
    dev_db = dev / "dev_databases" / "california_schools"
    _sqlite(dev_db / "california_schools.sqlite", SCHOOLS_SQL)
    _description(dev_db / "database_description" / "schools.csv",
                 [["CDSCode", "CDSCode", "California Department Schools code", "text", ""],
                  ["Charter School (Y/N)", "", "whether it is a charter school", "integer", "1: yes; 0: no"]],
                 "utf-8")
    (dev / "dev_tables.json").write_text(json.dumps([tables_entry("california_schools", SCHOOLS, [1], [])]))
    (dev / "dev.json").write_text(json.dumps(_bird_records(BIRD_DEV, new_release), indent=1))
    if new_release:  # the official dev zip holds its databases as another zip
        zip_folder(dev / "dev_databases", dev / "dev_databases.zip", prefix="dev_databases")
        for path in sorted((dev / "dev_databases").rglob("*"), reverse=True):
            path.rmdir() if path.is_dir() else path.unlink()
        (dev / "dev_databases").rmdir()
    return root


# the mini-dev release's records: question_id, db_id, question, evidence, SQL, difficulty (its own numbering)
BIRD_MINI_DEV = [
    (1471, "california_schools", "Which county has the most schools?", "",
     "SELECT County FROM schools GROUP BY County ORDER BY COUNT(*) DESC LIMIT 1", "moderate"),
    (1472, "california_schools", "How many schools are charter schools?", "charter refers to `Charter School (Y/N)` = 1",
     "SELECT COUNT(*) FROM schools WHERE `Charter School (Y/N)` = 1", "simple"),
    (1480, "california_schools", "List the CDS codes of Alameda's schools.", "",
     "SELECT CDSCode FROM schools WHERE County = 'Alameda'", "challenging"),
]


def add_mini_dev(root: Path) -> Path:
    """The mini-dev release's mini_dev_sqlite.json and mini_dev_sqlite_gold.sql, put in BIRD's dev folder."""
    dev = next(p for p in (root / "dev", root / "dev_20240627") if p.is_dir())
    (dev / "mini_dev_sqlite.json").write_text(json.dumps(
        [{"question_id": qid, "db_id": db, "question": q, "evidence": e, "SQL": sql, "difficulty": d}
         for qid, db, q, e, sql, d in BIRD_MINI_DEV], indent=4))
    (dev / "mini_dev_sqlite_gold.sql").write_text("".join(f"{sql}\t{db}\n" for _, db, _, _, sql, _ in BIRD_MINI_DEV))
    return dev


def zip_folder(folder: Path, archive: Path, prefix: str = "") -> Path:
    """Zip `folder` with member names under `prefix/` (deterministic member order)."""
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                zf.write(path, str(Path(prefix) / path.relative_to(folder)) if prefix else path.relative_to(folder))
    return archive


# ---- Spider with names SQLite reads only quoted, and evaluation corner cases -------------------

# Spider's `railway` has a column train.From; other real databases have tables named like keywords
RAILWAY = [("train", [("Train_ID", "number"), ("From", "text"), ("To", "text")]),
           ("order", [("id", "number"), ("group", "text"), ("2nd place", "text"), ("Train_ID", "number")])]
RAILWAY_SQL = """
CREATE TABLE train ("Train_ID" INTEGER PRIMARY KEY, "From" TEXT, "To" TEXT);
CREATE TABLE "order" (id INTEGER PRIMARY KEY, "group" TEXT, "2nd place" TEXT, "Train_ID" INTEGER
  REFERENCES train("Train_ID"));
INSERT INTO train VALUES (1, 'London', 'Paris'), (2, 'Paris', 'Berlin'), (3, 'Berlin', 'Rome');
INSERT INTO "order" VALUES (1, 'alpha', 'x', 1), (2, 'beta', 'y', 1), (3, 'alpha', 'z', 3);
"""
# (question, gold, a prediction): the gold uses double-quoted values (22% of Spider dev golds do)
RAILWAY_DEV = [
    ("Where do trains to Paris start?", 'SELECT "From" FROM train WHERE "To" = "Paris"',
     "SELECT `From` FROM train WHERE `To` = 'Paris'"),
    ("How many orders per group?", 'SELECT "group", count(*) FROM "order" GROUP BY "group"',
     'SELECT count(*), "group" FROM "order" GROUP BY "group"'),
    ("Which trains have no order?",
     'SELECT Train_ID FROM train WHERE Train_ID NOT IN (SELECT Train_ID FROM "order")', ""),  # empty prediction
    ("List the groups.", 'SELECT DISTINCT "group" FROM "order"', 'SELECT "group" FROM "order"'),
    ("A question whose gold names a missing column.", "SELECT speed FROM train", "SELECT 1"),  # failing gold
]
RAILWAY_TRAIN = [("How many trains are there?", "SELECT count(*) FROM train"),
                 ("Show each order's group.", 'SELECT "group" FROM "order"')]


def make_spider_keywords(root: Path) -> Path:
    """Spider folder over one database whose table, column names are SQL keywords, spaces or start with a
    digit; its dev set has a double-quoted value, a nested query and a gold that fails."""
    root.mkdir(parents=True, exist_ok=True)
    _sqlite(root / "database" / "railway" / "railway.sqlite", RAILWAY_SQL)
    (root / "tables.json").write_text(json.dumps([tables_entry("railway", RAILWAY, [1, 4], [[7, 1]])]))
    (root / "train_spider.json").write_text(json.dumps([_spider_record("railway", q, s) for q, s in RAILWAY_TRAIN]))
    (root / "dev.json").write_text(json.dumps([_spider_record("railway", q, s) for q, s, _ in RAILWAY_DEV]))
    return root
