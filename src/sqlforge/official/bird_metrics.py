"""BIRD's metrics beyond execution accuracy, as the official scripts compute them (docs/evaluation.md).

- Soft-F1 (mini-dev `evaluation_f1.py`): `soft_f1(pred_rows, gold_rows)`, deterministic.
- VES (the original dev evaluator's `evaluation_ves.py`, June 2023): for a right prediction the time ratio gold / prediction
  of each of `runs` paired runs, ratios beyond `sigmas` standard deviations of their mean dropped, the rest
  averaged (`time_ratio`); VES = 100 x the mean over questions of sqrt(ratio), 0 for a wrong one (`ves`).
- R-VES (mini-dev `evaluation_ves.py`): the same ratio bucketed into a reward (`rves_reward`);
  R-VES = 100 x the mean of sqrt(reward) (`rves`).
The ratios come from time measurements (sandbox workers, `sqlforge.sandbox.executor.Executor.time_pairs`), so
VES and R-VES vary from run to run; given the same measurements they are deterministic, and these functions are
what is pinned against the official ones.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

TIMED = ("ves", "rves")
METRICS = ("ex", "f1", *TIMED)
# R-VES buckets of the mini-dev script: (lowest ratio, reward), checked from the top
RVES_BUCKETS = ((2.0, 1.25), (1.0, 1.0), (0.5, 0.75), (0.25, 0.5))
RVES_FLOOR = 0.25  # a right prediction slower than 4 times the gold


def _row_match(pred_row: tuple, gold_row: tuple) -> tuple[float, float, float]:
    """(matched, prediction-only, gold-only) cells of one row pair, each over the gold row's width. A value
    counts as matched when it occurs anywhere in the other row (Python `in`: `==`, so 1 matches 1.0)."""
    width = len(gold_row)
    matched = sum(1 for v in pred_row if v in gold_row)
    pred_only = len(pred_row) - matched
    gold_only = sum(1 for v in gold_row if v not in pred_row)
    if width == 0:  # the official divides by zero here; the script scores the question 0 (caught)
        raise ZeroDivisionError("gold row without columns")
    return matched / width, pred_only / width, gold_only / width


def soft_f1(pred_rows: list[tuple], gold_rows: list[tuple]) -> float:
    """The mini-dev Soft-F1 of one question: 1.0 when both results are empty; otherwise duplicate rows dropped
    (first kept, in order), rows paired by position, cells matched within each pair, a row without a partner
    counted wholly on its side; F1 of the cell precision and recall."""
    if not pred_rows and not gold_rows:
        return 1.0
    pred, gold = list(dict.fromkeys(pred_rows)), list(dict.fromkeys(gold_rows))
    tp = fp = fn = 0.0
    for i, gold_row in enumerate(gold):
        if i >= len(pred):
            fn += 1
            continue
        matched, pred_only, gold_only = _row_match(pred[i], gold_row)
        tp, fp, fn = tp + matched, fp + pred_only, fn + gold_only
    for _ in range(len(pred) - len(gold)):  # one at a time, as the official sums its list (same rounding)
        fp += 1
    precision = tp / (tp + fp) if tp + fp > 0 else 0.0
    recall = tp / (tp + fn) if tp + fn > 0 else 0.0
    return 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0


def soft_f1_or_zero(pred_rows: list[tuple], gold_rows: list[tuple]) -> float:
    try:
        return soft_f1(pred_rows, gold_rows)
    except ZeroDivisionError:  # the official script catches every exception and scores 0
        return 0.0


def drop_outliers(values: list[float], sigmas: float) -> list[float]:
    """The official `clean_abnormal`: keep x with mean - k*std < x < mean + k*std (population std, strict
    inequalities, so when every value is equal none is kept)."""
    if not values:
        return []
    import numpy as np  # numpy's mean and std, as the official: sums rounded alike (all-equal ratios: std 0)

    array = np.asarray(values, dtype=float)
    mean, std = float(array.mean()), float(array.std())
    return [x for x in values if mean - sigmas * std < x < mean + sigmas * std]


def time_ratio(pred_times: list[float], gold_times: list[float], sigmas: float) -> float:
    """Mean of the per-run ratios gold / prediction left after `drop_outliers`. 0.0 where the official raises
    ZeroDivisionError and scores the question 0: a prediction timed at 0 s, or no ratio left."""
    if not pred_times or any(t == 0 for t in pred_times):
        return 0.0
    kept = drop_outliers([g / p for p, g in zip(pred_times, gold_times)], sigmas)
    return sum(kept) / len(kept) if kept else 0.0


def rves_reward(ratio: float) -> float:
    """The mini-dev reward of a time ratio; 0 for a wrong, failed or timed-out prediction (ratio 0)."""
    if ratio == 0:
        return 0.0
    return next((reward for lowest, reward in RVES_BUCKETS if ratio >= lowest), RVES_FLOOR)


def ves(ratios: list[float]) -> float:
    """100 x mean of sqrt(time ratio) over questions (0 for a wrong one): the original `compute_ves`."""
    return 100 * sum(math.sqrt(r) for r in ratios) / len(ratios) if ratios else 0.0


def rves(rewards: list[float]) -> float:
    """100 x mean of sqrt(reward) over questions: the mini-dev `compute_ves`."""
    return ves(rewards)


@dataclass(frozen=True)
class TimingRules:
    """How a timed metric measures: `runs` paired runs (prediction, then gold, each on a fresh connection),
    within `budget_s` in all, timing `style` ("execute": the statement's first step, as the original VES times
    `cursor.execute` alone; "fetch": execute, fetch every row and close, as the mini-dev R-VES does)."""
    runs: int
    budget_s: float
    style: str


def timing_rules(metric: str, runs: int, timeout_s: float) -> TimingRules:
    """Both scripts wrap the whole measurement (first runs included) in one `func_timeout(meta_time_out *
    iterate_num)`: the judging timeout (30 s) times the runs."""
    if metric not in TIMED:
        raise ValueError(f"not a timed metric: {metric!r}")
    return TimingRules(runs, timeout_s * runs, "execute" if metric == "ves" else "fetch")


def by_difficulty(records: list[dict], values: list[float]) -> dict[str, list[float]]:
    groups: dict[str, list[float]] = {}
    for rec, value in zip(records, values):
        groups.setdefault(rec["difficulty"], []).append(value)
    return dict(sorted(groups.items()))


def timed_values(metric: str, records: list[dict], predictions: list[str], judged: list[dict], runs: int,
                 sigmas: float, timeout_s: float, timer, progress=None) -> list[float]:
    """Per question: the VES time ratio or the R-VES reward; 0 for a wrong prediction, a measurement that
    fails or passes its budget. Only right predictions are timed (the official times only those), on the
    question's database (`db_path`), each pair in one of the `timer` executor's workers. The budget left is the
    official one less what judging the pair took (the official's budget includes its first two runs)."""
    rule = timing_rules(metric, runs, timeout_s)
    todo = [i for i, v in enumerate(judged) if v["correct"] and rule.budget_s - v.get("seconds", 0.0) > 0]
    jobs = [(records[i]["db_path"], predictions[i], records[i]["gold"], rule.runs,
             rule.budget_s - judged[i].get("seconds", 0.0), rule.style) for i in todo]
    values = [0.0] * len(records)
    for i, timing in zip(todo, timer.time_pairs(jobs, progress=progress) if jobs else []):
        if timing.ok:
            ratio = time_ratio(timing.pred_seconds, timing.gold_seconds, sigmas)
            values[i] = ratio if metric == "ves" else rves_reward(ratio)
    return values


@dataclass
class BirdMetrics:
    """Which of BIRD's metrics besides EX to report (validate.bird_metrics, `sqlforge evaluate --metric`), and
    how the timed ones measure: runs (100 in both official scripts), the outlier rule (3 standard
    deviations) and `timer`, the executor whose workers time the pairs."""
    metrics: tuple[str, ...]
    ves_runs: int
    rves_runs: int
    outlier_sigmas: float
    timer: object = None

    def report(self, records: list[dict], predictions: list[str], judged: list[dict], timeout_s: float,
               progress=None) -> dict:
        """f1 (a fraction, as ex), ves and rves (on the official 100 scale), each with `_by_difficulty`, and
        the seconds each timed metric took; the per-question values are added to `judged`."""
        out: dict = {}
        if "f1" in self.metrics:
            self._add(out, "f1", records, [v.get("f1", 0.0) for v in judged], lambda vs: sum(vs) / len(vs))
        for metric, runs, score in (("ves", self.ves_runs, ves), ("rves", self.rves_runs, rves)):
            if metric not in self.metrics:
                continue
            if self.timer is None:
                raise ValueError(f"{metric} needs a timing executor")
            start = time.monotonic()
            values = timed_values(metric, records, predictions, judged, runs, self.outlier_sigmas, timeout_s,
                                  self.timer, progress)
            for v, value in zip(judged, values):
                v["ves_ratio" if metric == "ves" else "rves_reward"] = value
            self._add(out, metric, records, values, score)
            out[f"{metric}_seconds"] = round(time.monotonic() - start, 3)
        return out

    @staticmethod
    def _add(out: dict, metric: str, records: list[dict], values: list[float], score) -> None:
        out[metric] = score(values) if values else 0.0
        out[f"{metric}_by_difficulty"] = {d: score(vs) for d, vs in by_difficulty(records, values).items()}
