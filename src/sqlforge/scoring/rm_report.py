"""How a reward model ranks: pairwise accuracy and margin (overall and per pair group) and calibration."""

from __future__ import annotations


def pairwise_report(chosen: list[float], rejected: list[float]) -> dict:
    n = len(chosen)
    margins = [c - r for c, r in zip(chosen, rejected)]
    return {"pairwise_accuracy": sum(m > 0 for m in margins) / n if n else 0.0,
            "mean_margin": sum(margins) / n if n else 0.0, "n_pairs": n}


def pair_group(pair: dict) -> str:
    """Whether a pair's preference can be checked at all: "chosen_correct" pairs put a correct SQL
    against a wrong one; in "both_wrong" pairs the chosen side is only fewer revisions from a correct
    SQL, which nothing in either SQL or its prompt needs to reveal (two wrong names copied into WHERE)."""
    return "chosen_correct" if pair["chosen_distance"] == 0 else "both_wrong"


def grouped_reports(groups: list[str], chosen: list[float], rejected: list[float]) -> dict:
    """`pairwise_report` per group label, groups in sorted order."""
    return {g: pairwise_report([c for c, k in zip(chosen, groups) if k == g],
                               [r for r, k in zip(rejected, groups) if k == g]) for g in sorted(set(groups))}


def calibration_bins(scores: list[float], correct: list[bool], bins: int = 10) -> list[dict]:
    """Equal-count bins of reward score: mean score and share of correct candidates in each."""
    order = sorted(range(len(scores)), key=lambda i: scores[i])
    out = []
    for b in range(bins):
        idx = order[b * len(order) // bins:(b + 1) * len(order) // bins]
        if idx:
            out.append({"bin": b, "mean_rm_score": sum(scores[i] for i in idx) / len(idx),
                        "fraction_correct": sum(correct[i] for i in idx) / len(idx), "candidates": len(idx)})
    return out
