"""The per-question verdict file validate writes (`metrics/verdicts.tsv`, small and kept in git).

One header line, then one line per dev question in dev order, tab-separated:

    id  db_id  difficulty  greedy.ex  greedy.em  majority_vote.ex  majority_vote.em  ...

`<predictor>.ex` is the execution verdict (1 right, 0 wrong) and `<predictor>.em` Spider's exact-set match
(written only under Spider rules); `-` where the predictor did not answer that question (an MCTS run over
part of dev). The predictors are whatever columns the file has, so a predictor validate adds later needs
no change here. Two of these files (two commits, two experiments) are compared question by question
without pulling any data (`sqlforge compare`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from sqlforge.io import InputError

KEYS = ("id", "db_id", "difficulty")
KINDS = ("ex", "em")
MISSING = "-"


@dataclass
class Verdicts:
    """A verdict file read back: the questions, and for each predictor and kind one 0/1/None per question."""
    ids: list[str]
    db_ids: list[str]
    difficulty: list[str]
    columns: dict[str, dict[str, list[int | None]]] = field(default_factory=dict)  # predictor -> kind -> values

    @property
    def predictors(self) -> list[str]:
        return list(self.columns)

    def answered(self, predictor: str, kind: str = "ex") -> tuple[list[str], list[int]]:
        """(ids, verdicts) of the questions the predictor answered."""
        values = self.columns[predictor][kind]
        pairs = [(q, v) for q, v in zip(self.ids, values) if v is not None]
        return [q for q, _ in pairs], [v for _, v in pairs]


def verdicts_text(records: list[dict], predictors: dict[str, tuple[list[dict], list[dict]]]) -> str:
    """The file's text. `predictors`: name -> (the records it answered, one verdict dict per record with
    `correct` and, under Spider rules, `em`). Columns follow the predictors' order."""
    header = list(KEYS)
    cells: dict[str, dict[str, str]] = {}
    for name, (recs, verdicts) in predictors.items():
        if "\t" in name or "." in name:
            raise ValueError(f"predictor name {name!r}: no tabs or dots")
        kinds = ["ex"] + (["em"] if verdicts and all("em" in v for v in verdicts) else [])
        header += [f"{name}.{kind}" for kind in kinds]
        for kind in kinds:
            col = cells[f"{name}.{kind}"] = {}
            for rec, v in zip(recs, verdicts):
                col[rec["id"]] = str(int(bool(v["correct"] if kind == "ex" else v["em"])))
    lines = ["\t".join(header)]
    for rec in records:
        row = [str(rec["id"]), str(rec["db_id"]), str(rec["difficulty"])]
        row += [cells[h].get(rec["id"], MISSING) for h in header[len(KEYS):]]
        lines.append("\t".join(row))
    return "\n".join(lines) + "\n"


def parse_verdicts(text: str, source: str) -> Verdicts:
    """A verdict file's text (`source` names it in errors: a path, `commit:path`)."""
    lines = text.splitlines()
    if not lines:
        raise InputError(f"{source}: empty verdict file")
    header = lines[0].split("\t")
    if tuple(header[:len(KEYS)]) != KEYS:
        raise InputError(f"{source}: line 1: header must start with {'<TAB>'.join(KEYS)}, got {lines[0][:80]!r}")
    out = Verdicts([], [], [])
    names: list[tuple[str, str]] = []
    for col in header[len(KEYS):]:
        name, _, kind = col.rpartition(".")
        if not name or kind not in KINDS:
            raise InputError(f"{source}: line 1: column {col!r} is not <predictor>.ex or <predictor>.em")
        out.columns.setdefault(name, {})[kind] = []
        names.append((name, kind))
    for number, line in enumerate(lines[1:], start=2):
        row = line.split("\t")
        if len(row) != len(header):
            raise InputError(f"{source}: line {number}: {len(row)} fields, the header has {len(header)}")
        out.ids.append(row[0])
        out.db_ids.append(row[1])
        out.difficulty.append(row[2])
        for (name, kind), cell in zip(names, row[len(KEYS):]):
            if cell not in ("0", "1", MISSING):
                raise InputError(f"{source}: line {number} ({row[0]}): {name}.{kind} is {cell!r}, not 0, 1 or -")
            out.columns[name][kind].append(None if cell == MISSING else int(cell))
    if len(set(out.ids)) != len(out.ids):
        raise InputError(f"{source}: a question id occurs twice")
    return out


def read_verdicts(path: str | Path) -> Verdicts:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"{path}: cannot read the verdict file ({e.__class__.__name__})") from None
    return parse_verdicts(text, str(path))


def compare_runs(a: Verdicts, b: Verdicts, resamples: int, seed: int,
                 source_a: str = "A", source_b: str = "B") -> tuple[int, dict]:
    """Each predictor both files have, A's verdicts against B's on the questions both answered.
    Returns (questions both files hold, predictor -> significance.Paired)."""
    from sqlforge.scoring.significance import paired

    common = set(a.ids) & set(b.ids)
    if not common:
        raise InputError(f"{source_a} and {source_b}: no question in common (different dev sets?)")
    out = {}
    for name in [p for p in a.predictors if p in b.columns]:
        ids_a, va = a.answered(name)
        ids_b, vb = b.answered(name)
        right_b = dict(zip(ids_b, vb))
        pairs = [(q, x, right_b[q]) for q, x in zip(ids_a, va) if q in right_b]
        if pairs:
            out[name] = paired([q for q, _, _ in pairs], [x for _, x, _ in pairs], [y for _, _, y in pairs],
                               resamples, seed)
    return len(common), out


def compare_predictors(v: Verdicts, baseline: str, resamples: int, seed: int, source: str = "") -> dict:
    """Within one run: `baseline` (greedy) against every other predictor, on the questions both answered."""
    from sqlforge.scoring.significance import paired

    if baseline not in v.columns:
        raise InputError(f"{source}: no predictor {baseline!r} (it has {', '.join(v.predictors)})")
    base = dict(zip(*v.answered(baseline)))
    out = {}
    for name in v.predictors:
        if name == baseline:
            continue
        pairs = [(q, base[q], y) for q, y in zip(*v.answered(name)) if q in base]
        if pairs:
            out[name] = paired([q for q, _, _ in pairs], [x for _, x, _ in pairs], [y for _, _, y in pairs],
                               resamples, seed)
    return out
