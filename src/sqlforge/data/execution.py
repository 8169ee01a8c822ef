"""The policy's own SQL on train questions, judged by execution against the gold.

Three consumers, one judgement:
- policy-samples labels each sampled SQL (`label_samples`);
- merge-shards turns the labels into the reward model's `execution` pairs and
  the rl stage into DPO pairs (`execution_pairs`: a right SQL against a wrong
  one for the same question, wrong ones that run preferred as hard negatives);
- the rl stage's GRPO reward runs each completion in the sandbox
  (`ExecutionReward`, Arctic-Text2SQL-R1's shaping by default).
The gold is used only to label training data, never to pick a prediction.
"""

from __future__ import annotations

import random
from itertools import product
from typing import Any

from sqlforge.extract import extract_sql


def reward_of(verdict: dict, correct: float, runs: float, fails: float) -> float:
    """Arctic-Text2SQL-R1's shaped reward: `correct` for the gold's result, `runs` for SQL that executes
    without error (a wrong result), `fails` for anything else (error, timeout, refused write, empty)."""
    if verdict["correct"]:
        return correct
    return runs if verdict["error_kind"] == "ok" else fails


def label_samples(records: list[dict], sql_lists: list[list[str]], logprob_lists: list[list[float]],
                  judge) -> list[dict]:
    """One `PolicySamples` record per question: every sample with its log-prob and verdict."""
    flat = [(rec, sql) for rec, sqls in zip(records, sql_lists) for sql in sqls]
    verdicts = iter(judge.verdicts([rec for rec, _ in flat], [sql for _, sql in flat]))
    out = []
    for rec, sqls, logprobs in zip(records, sql_lists, logprob_lists):
        samples = []
        for sql, logprob in zip(sqls, logprobs):
            v = next(verdicts)
            samples.append({"sql": sql, "logprob": logprob, "correct": v["correct"], "error_kind": v["error_kind"]})
        out.append({"id": rec["id"], "db_id": rec["db_id"], "samples": samples})
    return out


def execution_pairs(samples: list[dict], per_question: int, rng: random.Random) -> list[tuple[dict, dict]]:
    """Up to `per_question` (right, wrong) pairs of distinct SQL texts for one question.

    Wrong SQL that runs (a wrong result) comes before SQL that fails: a hard negative looks like an
    answer, which is what a reward model picking among candidates has to tell apart. Within each
    group the policy's more likely SQL comes first.
    """
    right = _distinct([s for s in samples if s["correct"]])
    wrong = _distinct([s for s in samples if not s["correct"]])
    if not right or not wrong:
        return []
    wrong.sort(key=lambda s: (s["error_kind"] != "ok", -s["logprob"]))
    right.sort(key=lambda s: -s["logprob"])
    # (0,0), (1,0), (0,1), (1,1), (2,0), ...: outward from the likeliest right SQL and the hardest negative
    order = sorted(product(range(len(right)), range(len(wrong))), key=lambda ij: (max(ij), ij[1], ij[0]))
    pairs = [(right[i], wrong[j]) for i, j in order[:per_question]]
    rng.shuffle(pairs)  # no order among a question's pairs for a trainer to learn
    return pairs


def _distinct(samples: list[dict]) -> list[dict]:
    seen: dict[str, dict] = {}
    for s in samples:
        if s["sql"] not in seen or s["logprob"] > seen[s["sql"]]["logprob"]:
            seen[s["sql"]] = s
    return list(seen.values())


class ExecutionReward:
    """A trl reward function: each completion's SQL (extracted as every stage extracts it) is run in the
    sandbox against its question's gold. The judge's executor bounds time, memory and rows and opens
    databases read-only, so hostile or broken SQL scores `fails` and harms nothing."""

    __name__ = "execution"  # trl logs a reward function under its name

    def __init__(self, records: dict[str, dict], judge, correct: float, runs: float, fails: float):
        self.records, self.judge = records, judge
        self.weights = (correct, runs, fails)
        self.calls = 0

    def __call__(self, completions: list[Any], question_id: list[str], **_: Any) -> list[float]:
        texts = [c[-1]["content"] if isinstance(c, list) else c for c in completions]
        sqls = [extract_sql(text) for text in texts]
        verdicts = self.judge.verdicts([self.records[q] for q in question_id], sqls)
        self.calls += len(sqls)
        return [reward_of(v, *self.weights) for v in verdicts]
