"""One question about one database, end to end: schema -> prompt -> engine -> selection -> sandbox.

`Asker` holds what stays the same across questions on a database (the model,
its prompt settings, the schema text, the sandbox), so `sqlforge ask`'s
interactive mode loads the model once. The prompt is built exactly as
preprocess built the model's training prompts, with the settings stored in
the model folder (`prompt_settings`). Selectors reuse the library's own:

- greedy: the policy's greedy SQL;
- vote: greedy + n samples, majority vote over execution results (`selection.majority_vote`);
- best-of-n: greedy + n samples, the reward model's best (`models/rm` when present; otherwise
  the policy's own log p(SQL), evaluate-rm's reference ranker);
- mcts: SQL-o1's clause-level search (`mcts.MCTS`) and its best_reward choice.

Model-written SQL runs only in the read-only sandbox (`sandbox.executor`);
a refused or failing query comes back as an Answer carrying the sandbox's
reason, never as an exception.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from sqlforge import prompt_settings
from sqlforge.config import Params
from sqlforge.data.datasets import check_database
from sqlforge.extract import extract_sql
from sqlforge.io import InputError
from sqlforge.prompts import render, sql_messages
from sqlforge.data.schema import SchemaReader, database_entry, fit_schema, load_descriptions
from sqlforge.sandbox.executor import sandbox_executor
from sqlforge.sandbox.sqlite import ExecResult

SELECTORS = ("greedy", "best-of-n", "vote", "mcts")


@dataclass
class Answer:
    question: str
    sql: str
    selector: str
    result: ExecResult
    seconds: float  # the whole question: generation, selection and execution
    notes: list[str] = field(default_factory=list)  # how the choice was made, when that is not obvious

    def to_json(self) -> dict:
        """The `--json` object; `error` is null when the SQL ran."""
        ok = self.result.ok
        return {"question": self.question, "sql": self.sql, "columns": self.result.columns if ok else [],
                "rows": [list(row) for row in self.result.rows] if ok else [], "seconds": round(self.seconds, 4),
                "selector": self.selector,
                "error": None if ok else {"kind": self.result.error_kind, "message": self.result.error}}


def check_model_folder(model_dir: str | Path) -> Path:
    path = Path(model_dir)
    if not path.is_dir():
        raise InputError(f"{path}: model folder not found (run `make repro` for models/merged, or pass --model)")
    if not (path / "config.json").is_file():
        raise InputError(f"{path}: not a Hugging Face model folder (no config.json)")
    return path


def check_question(question: str, where: str = "question") -> str:
    """A question worth loading a model for: not empty, and text (argv and stdin can carry bytes that are
    not UTF-8; Python hands them on as lone surrogates, which the tokenizer cannot read)."""
    try:
        question.encode("utf-8")
    except UnicodeEncodeError as e:
        bad = e.object[e.start:e.end].encode("utf-8", "surrogateescape")  # the bytes as they were given
        raise InputError(f"{where}: not valid UTF-8 (byte {' '.join(f'0x{b:02x}' for b in bad)} at character "
                         f"{e.start})") from None
    if not question.strip():
        raise InputError(f"{where}: empty; ask something about the database")
    return question


# where a model folder states its context length: the model's config (by architecture), then the tokenizer's
_CONTEXT_KEYS = ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length")
_NO_LIMIT = 10**9  # tokenizers without a limit store a huge sentinel (int(1e30)) as model_max_length


def model_context(model_dir: Path) -> tuple[int, str] | None:
    """(tokens, where that number comes from): the smallest of config.json's position limit and
    tokenizer_config.json's model_max_length; None when the folder states neither."""
    import json

    found = []
    for name, keys in (("config.json", _CONTEXT_KEYS), ("tokenizer_config.json", ("model_max_length",))):
        try:
            data = json.loads((model_dir / name).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        for key in keys:
            value = data.get(key) if isinstance(data, dict) else None
            if isinstance(value, int) and not isinstance(value, bool) and 0 < value < _NO_LIMIT:
                found.append((value, f"{key} in {model_dir / name}"))
                break
    return min(found) if found else None


def open_database(db_path: str | Path) -> tuple[Path, dict, list[str]]:
    """The database's path, tables.json-style entry and notes on objects left out (a view that no longer
    compiles, a virtual table of a module this SQLite lacks: the rest of the database is still asked about);
    one-line InputError when it cannot be asked about at all."""
    path = Path(db_path)
    if path.is_dir():
        inside = sorted(p.name for p in path.glob("*.sqlite"))[:3]
        hint = f" (it holds {', '.join(inside)})" if inside else ""
        raise InputError(f"--db: {path} is a folder, not a database file: pass the SQLite file itself{hint}")
    skipped: list[tuple[str, str]] = []
    check_database(path, "--db", skipped)  # missing, not SQLite, corrupt; unreadable objects skipped
    entry = database_entry(path, skipped=skipped)
    if not entry["table_names_original"]:
        raise InputError(f"--db: {path} has no tables: there is nothing to ask about")
    notes = [f"{name}: left out of the schema ({error})" for name, error in dict(skipped).items()]
    return path, entry, notes


class Asker:
    def __init__(self, model_dir: str | Path, db_path: str | Path, params: Params, selector: str = "greedy",
                 n: int | None = None, temperature: float | None = None, timeout_s: float | None = None,
                 rm_dir: str | Path = "models/rm", seed: int = 0):
        """Settings come from `params` (the project's params.yaml: engine, candidates for sampling, mcts,
        preprocess for a model folder without its own prompt settings, sandbox for the bounds of every query);
        `n`, `temperature` and `timeout_s` (default: sandbox.timeout_s) override."""
        if selector not in SELECTORS:
            raise InputError(f"--select: {selector!r} is not one of {', '.join(SELECTORS)}")
        # every input is checked before the model loads: a typo costs no loading time
        self.db_path, entry, self.skipped_notes = open_database(db_path)
        self.model_dir = check_model_folder(model_dir)
        self.settings, self.settings_found = prompt_settings.read(self.model_dir, params.preprocess)
        self.selector, self.seed = selector, seed
        self.n = params.candidates.n if n is None else n
        self.temperature = params.candidates.temperature if temperature is None else temperature
        self.engine_cfg = replace(params.engine, batch_size=max(params.engine.batch_size, self.n + 1))
        self.mcts_cfg = replace(params.mcts, seed=seed,
                                temperature=params.mcts.temperature if temperature is None else temperature)
        # a model trained on reasoning targets writes a rationale first: MCTS searches after it
        self.reasoning = params.preprocess.reasoning != "none"
        self.rm_dir = Path(rm_dir)
        self.context = model_context(self.model_dir)
        if self.context and self.engine_cfg.max_new_tokens >= self.context[0]:
            raise InputError(f"--max-new-tokens: {self.engine_cfg.max_new_tokens:,} new tokens leave no room for a "
                             f"prompt in the model's context of {self.context[0]:,} tokens ({self.context[1]})")

        from sqlforge.engine import load_engine  # heavy: torch and transformers

        self.engine = load_engine(str(self.model_dir), self.engine_cfg)
        self.tokenizer = self.engine.tokenizer
        descriptions = load_descriptions(self.db_path.parent) if self.settings.descriptions else None
        self.executor = sandbox_executor(params.sandbox, params.sandbox.timeout_s if timeout_s is None else timeout_s)
        reader = SchemaReader(self.executor)  # the schema's queries run in the sandbox too
        try:
            self.schema = fit_schema(entry, str(self.db_path), self.settings.sample_values,
                                     self.settings.max_schema_tokens,
                                     lambda text: len(self.tokenizer(text)["input_ids"]), descriptions, reader)
        except Exception as e:
            self.executor.close()
            raise InputError(f"--db: {self.db_path}: cannot read the schema: {e}") from None
        self.skipped_notes += [f"{table}: left without sample values (reading it passed the sandbox's bounds)"
                               for _, table in sorted(reader.unsampled)]
        self._reward_model = None

    def notes(self) -> list[str]:
        """What the user should know about how questions are asked (shown once)."""
        if self.settings_found:
            return list(self.skipped_notes)
        return self.skipped_notes + [f"{self.model_dir} has no {prompt_settings.FILENAME}: prompting with this checkout's templates and "
                f"preprocess defaults (sample_values {self.settings.sample_values}, descriptions "
                f"{self.settings.descriptions}, max_schema_tokens {self.settings.max_schema_tokens})"]

    def messages(self, question: str) -> list[dict]:
        return sql_messages(self.schema, question, templates=self.settings.templates)

    def check_fits(self, question: str) -> None:
        """Refuse, before generating, a question whose prompt (schema and template included) and the new tokens
        do not fit the model's context: past it a model writes nothing useful, slowly, in growing memory."""
        if self.context is None:
            return
        limit, source = self.context
        max_new = self.engine_cfg.max_new_tokens
        prompt = render(self.tokenizer, self.messages(question))
        # verbose=False: the tokenizer's own warning about a sequence past its maximum is this check's job
        prompt_tokens = len(self.tokenizer(prompt, add_special_tokens=False, verbose=False)["input_ids"])
        if prompt_tokens + max_new > limit:
            own = len(self.tokenizer(question, add_special_tokens=False, verbose=False)["input_ids"])
            raise InputError(f"question: too long for the model: its {own:,} tokens make a prompt of "
                             f"{prompt_tokens:,} tokens with the schema, and with {max_new:,} new tokens "
                             f"(engine.max_new_tokens) that is past the model's context of {limit:,} ({source}); "
                             f"at most {max(0, limit - max_new - (prompt_tokens - own)):,} question tokens fit")

    def ask(self, question: str) -> Answer:
        """The chosen SQL and its result; InputError (nothing generated) for an empty question or one whose
        prompt does not fit the model's context."""
        question = " ".join(check_question(question).split())
        self.check_fits(question)
        start = time.monotonic()
        sql, notes = getattr(self, "_" + self.selector.replace("-", "_"))(question)
        result = self.executor.execute(self.db_path, sql)
        return Answer(question, sql, self.selector, result, time.monotonic() - start, notes)

    def close(self) -> None:
        self.executor.close()

    # selectors: each returns (sql, notes)

    def _generate(self, question: str, samples: int) -> tuple[list[str], list[float]]:
        """Greedy SQL first, then `samples` sampled ones, with their log-probabilities."""
        prompt = render(self.tokenizer, self.messages(question))
        max_new = self.engine_cfg.max_new_tokens
        outputs = self.engine.generate([prompt], n=1, temperature=0.0, max_new_tokens=max_new)[0]
        if samples > 0:
            outputs = outputs + self.engine.generate([prompt], n=samples, temperature=self.temperature,
                                                     max_new_tokens=max_new, seed=self.seed)[0]
        return [extract_sql(c.text) for c in outputs], [c.cumulative_logprob for c in outputs]

    def _greedy(self, question: str) -> tuple[str, list[str]]:
        return self._generate(question, 0)[0][0], []

    def _vote(self, question: str) -> tuple[str, list[str]]:
        from sqlforge.search.selection import majority_vote

        sqls, logprobs = self._generate(question, self.n)
        results = self.executor.execute_many([(self.db_path, sql) for sql in sqls])
        pick = majority_vote(results, logprobs)
        return sqls[pick], [f"majority vote over {len(sqls)} candidates ({len(set(sqls))} distinct)"]

    def _best_of_n(self, question: str) -> tuple[str, list[str]]:
        from sqlforge.search.scorers import RewardScorer, policy_logprob_scores
        from sqlforge.search.selection import best_of_n

        sqls, _ = self._generate(question, self.n)
        prompts = [self.messages(question)] * len(sqls)
        if (self.rm_dir / "config.json").is_file():
            if self._reward_model is None:
                self._reward_model = RewardScorer(str(self.rm_dir))
            scores, how = self._reward_model.score(prompts, sqls), f"reward model {self.rm_dir}"
        else:
            scores = policy_logprob_scores(self.engine, prompts, sqls)
            how = f"the policy's log p(SQL) (no reward model at {self.rm_dir})"
        return sqls[best_of_n(scores)], [f"best of {len(sqls)} candidates by {how}"]

    def _mcts(self, question: str) -> tuple[str, list[str]]:
        from sqlforge.search.mcts import MCTS, Search, choose_all

        record = {"schema": self.schema, "question": question, "evidence": "", "db_path": str(self.db_path)}
        search = Search(record, self.tokenizer, self.mcts_cfg.prompt == "psg", self.settings.templates,
                        reasoning=self.reasoning)
        MCTS(self.engine, self.tokenizer, self.mcts_cfg, self.engine_cfg.max_new_tokens).run([search])
        [(cands, chosen)] = choose_all([search], self.executor, self.mcts_cfg.selector)
        return (chosen["sql"] if chosen else ""), [
            f"MCTS, {self.mcts_cfg.iterations} iterations: {len(cands)} distinct SQL, chosen by "
            f"{self.mcts_cfg.selector}"]
