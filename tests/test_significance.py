"""Telling a real change from noise: the interval and test code against cases worked by hand, the verdict
file validate commits, and `sqlforge compare` on two commits and an experiment of a real git + DVC repo."""

from __future__ import annotations

import json
import math
import os
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import REPO
from sqlforge.io import InputError
from sqlforge.scoring.significance import Z95, mcnemar_exact, paired, paired_bootstrap, wilson
from sqlforge.scoring.verdicts import compare_predictors, compare_runs, parse_verdicts, verdicts_text


# --- Wilson score interval --------------------------------------------------------------------------------

def test_wilson_matches_hand_computed_intervals():
    # 3 of 5: center (0.6 + z^2/10) / (1 + z^2/5) = 0.5566, half-width z / 1.7683 * sqrt(0.048 + z^2/100) = 0.3258
    assert wilson(3, 5) == pytest.approx((0.2307, 0.8824), abs=1e-4)
    # none right: [0, z^2 / (n + z^2)]; all right: its mirror
    assert wilson(0, 10) == (0.0, pytest.approx(Z95 ** 2 / (10 + Z95 ** 2)))
    assert wilson(10, 10) == (pytest.approx(10 / (10 + Z95 ** 2)), 1.0)
    assert wilson(1, 1) == (pytest.approx(1 / (1 + Z95 ** 2)), 1.0)  # tiny n: wide, not [1, 1] as Wald's
    assert wilson(0, 0) == (0.0, 1.0)  # nothing known
    # the README's greedy 260 of 360: close to Wald's p +- z sqrt(p(1-p)/n) at this size, shifted towards 1/2
    low, high = wilson(260, 360)
    wald = Z95 * math.sqrt(260 / 360 * 100 / 360 / 360)
    assert low == pytest.approx(260 / 360 - wald, abs=3e-3) and high == pytest.approx(260 / 360 + wald, abs=3e-3)
    assert (low + high) / 2 < 260 / 360
    with pytest.raises(ValueError):
        wilson(6, 5)


def test_wilson_covers_the_true_rate_about_95_percent_of_the_time():
    rng = random.Random(0)
    for rate, n in ((0.5, 30), (0.9, 40), (0.72, 360)):
        hits = 0
        for _ in range(2000):
            k = sum(rng.random() < rate for _ in range(n))
            low, high = wilson(k, n)
            hits += low <= rate <= high
        assert 0.93 <= hits / 2000 <= 0.975, (rate, n, hits)


# --- exact McNemar ----------------------------------------------------------------------------------------

def test_mcnemar_exact_matches_the_binomial_tail_by_hand():
    assert mcnemar_exact(0, 0) == 1.0  # no discordant pair: no evidence either way
    assert mcnemar_exact(1, 0) == 1.0  # 2 * 1/2, capped
    assert mcnemar_exact(1, 1) == 1.0
    assert mcnemar_exact(5, 0) == 2 / 32 and mcnemar_exact(0, 5) == 2 / 32  # two-sided: symmetric
    assert mcnemar_exact(6, 0) == 2 / 64  # the smallest all-one-way count below 0.05
    assert mcnemar_exact(7, 3) == 2 * (1 + 10 + 45 + 120) / 1024  # 0.34375
    assert mcnemar_exact(0, 10) == 2 / 1024
    # large counts stay exact (no float overflow) and agree with the continuity-corrected normal approximation
    p = mcnemar_exact(130, 100)
    z = (130 - 100 - 1) / math.sqrt(230)
    assert p == pytest.approx(math.erfc(z / math.sqrt(2)), rel=0.02)
    with pytest.raises(ValueError):
        mcnemar_exact(-1, 2)


def test_paired_counts_flips_and_all_discordant_and_none():
    ids = [f"q{i}" for i in range(10)]
    same = paired(ids, [1, 0] * 5, [1, 0] * 5, resamples=1000, seed=0)
    assert (same.fixed, same.broken, same.p_value, same.diff_low, same.diff_high) == ([], [], 1.0, 0.0, 0.0)
    assert not same.significant
    # every question flips: 7 fixed, 3 broken
    a = [0] * 7 + [1] * 3
    flipped = paired(ids, a, [1 - x for x in a], resamples=1000, seed=0)
    assert flipped.fixed == ids[:7] and flipped.broken == ids[7:]
    assert flipped.p_value == 0.34375 and flipped.diff == pytest.approx(0.4)
    # all fixed: the difference is 1 in every resample
    assert paired(ids, [0] * 10, [1] * 10, 1000, 0).to_json(with_ids=False)["diff_ci95"] == [1.0, 1.0]
    tiny = paired(["x"], [0], [1], 1000, 0)  # n = 1
    assert tiny.p_value == 1.0 and (tiny.diff_low, tiny.diff_high) == (1.0, 1.0)


def test_paired_bootstrap_is_the_question_resampling_bootstrap():
    """The multinomial shortcut against the textbook loop (resample question indices, take the mean)."""
    fixed, broken, n = 30, 10, 360
    low, high = paired_bootstrap(fixed, broken, n, resamples=20000, seed=0)
    d = np.array([1] * fixed + [-1] * broken + [0] * (n - fixed - broken))
    rng = np.random.default_rng(1)
    means = np.array([d[rng.integers(0, n, n)].mean() for _ in range(20000)])
    ref_low, ref_high = np.quantile(means, [0.025, 0.975])
    assert low == pytest.approx(ref_low, abs=0.003) and high == pytest.approx(ref_high, abs=0.003)
    # and the normal approximation by hand: 0.0556 +- 1.96 * 0.01732
    assert (low, high) == pytest.approx((0.0216, 0.0895), abs=0.004)
    assert paired_bootstrap(fixed, broken, n, 20000, seed=0) == (low, high)  # the seed fixes it
    assert paired_bootstrap(fixed, broken, n, 500, seed=0) != paired_bootstrap(fixed, broken, n, 500, seed=1)
    with pytest.raises(ValueError):
        paired_bootstrap(300, 100, 360, 100, 0)


# --- the verdict file ---------------------------------------------------------------------------------------

def records(n: int, prefix: str = "dev") -> list[dict]:
    dbs = ["california_schools", "card_games", "codebase_community", "debit_card_specializing", "european_football_2"]
    levels = ["simple", "moderate", "challenging"]
    return [{"id": f"{prefix}-{i}", "db_id": dbs[i % 5], "difficulty": levels[i % 3]} for i in range(n)]


def verdict_dicts(values: list[int], em: list[int] | None = None) -> list[dict]:
    return [{"correct": bool(v), **({"em": bool(e)} if em else {})} for v, e in zip(values, em or values)]


def test_verdict_file_round_trips_with_a_predictor_over_part_of_dev():
    recs = records(4)
    text = verdicts_text(recs, {"greedy": (recs, verdict_dicts([1, 0, 1, 0], [1, 0, 0, 0])),
                                "mcts_best_path": (recs[:2], verdict_dicts([0, 1], [0, 1]))})
    assert text.splitlines()[0] == "id\tdb_id\tdifficulty\tgreedy.ex\tgreedy.em\tmcts_best_path.ex\tmcts_best_path.em"
    assert text.splitlines()[3] == "dev-2\tcodebase_community\tchallenging\t1\t0\t-\t-"
    back = parse_verdicts(text, "v.tsv")
    assert back.ids == ["dev-0", "dev-1", "dev-2", "dev-3"] and back.predictors == ["greedy", "mcts_best_path"]
    assert back.columns["greedy"]["em"] == [1, 0, 0, 0]
    assert back.answered("mcts_best_path") == (["dev-0", "dev-1"], [0, 1])


def test_verdict_file_for_bird_dev_size_is_a_few_dozen_kb():
    """BIRD dev's 1,534 questions, seven predictors, EX and EM each: well under the issue's few hundred KB."""
    recs = records(1534)
    rng = random.Random(0)
    names = ["greedy", "greedy_rl", "majority_vote", "best_of_n_rm", "mcts_best_path", "greedy_on_mcts_questions",
             "mcts_vote"]
    text = verdicts_text(recs, {n: (recs, verdict_dicts([rng.randint(0, 1) for _ in recs],
                                                        [rng.randint(0, 1) for _ in recs])) for n in names})
    size = len(text.encode())
    assert len(text.splitlines()) == 1535 and size < 150_000, size
    assert parse_verdicts(text, "bird.tsv").predictors == names


@pytest.mark.parametrize("text, message", [
    ("", "v.tsv: empty verdict file"),
    ("id\tdb\tdifficulty\n", "line 1: header must start with"),
    ("id\tdb_id\tdifficulty\tgreedy\n", "line 1: column 'greedy' is not"),
    ("id\tdb_id\tdifficulty\tgreedy.ex\nq1\tdb\teasy\t1\nq2\tdb\teasy\n", "line 3: 3 fields, the header has 4"),
    ("id\tdb_id\tdifficulty\tgreedy.ex\nq1\tdb\teasy\tyes\n", "line 2 (q1): greedy.ex is 'yes'"),
    ("id\tdb_id\tdifficulty\tgreedy.ex\nq1\tdb\teasy\t1\nq1\tdb\teasy\t0\n", "a question id occurs twice"),
])
def test_a_bad_verdict_file_is_one_line_naming_file_and_line(text, message):
    with pytest.raises(InputError, match="v.tsv") as e:
        parse_verdicts(text, "v.tsv")
    assert message in str(e.value)


def test_compare_runs_pairs_questions_by_id_and_predictors_by_name():
    recs = records(6)
    a = parse_verdicts(verdicts_text(recs, {"greedy": (recs, verdict_dicts([1, 1, 0, 0, 1, 0])),
                                            "vote": (recs, verdict_dicts([1] * 6))}), "a")
    # B: another order, one question fewer, a predictor A lacks
    recs_b = list(reversed(recs[:5]))
    b = parse_verdicts(verdicts_text(recs_b, {"greedy": (recs_b, verdict_dicts([1, 1, 1, 0, 1])),
                                              "greedy_rl": (recs_b, verdict_dicts([1] * 5))}), "b")
    common, results = compare_runs(a, b, 1000, 0)
    assert common == 5 and list(results) == ["greedy"]
    r = results["greedy"]
    # A's greedy on dev-0..4: 1 1 0 0 1; B's, in B's order dev-4..0: 1 1 1 0 1, so dev-0..4: 1 0 1 1 1
    assert r.n == 5 and r.fixed == ["dev-2", "dev-3"] and r.broken == ["dev-1"] and (r.ex_a, r.ex_b) == (0.6, 0.8)
    assert r.p_value == 1.0  # 2 fixed, 1 broken: 2 * (1 + 3) / 8, capped
    within = compare_predictors(a, "greedy", 1000, 0)
    assert within["vote"].fixed == ["dev-2", "dev-3", "dev-5"] and within["vote"].broken == []
    other = parse_verdicts(verdicts_text(records(3, "train"), {"greedy": (records(3, "train"), verdict_dicts([1] * 3))}),
                           "c")
    with pytest.raises(InputError, match="no question in common"):
        compare_runs(a, other, 1000, 0)


# --- `sqlforge compare` on a real git + DVC repo --------------------------------------------------------------

STAGE = """import sys, yaml
p = yaml.safe_load(open("params.yaml"))["validate"]
right = set(range(p["first"], p["last"]))
lines = ["id\\tdb_id\\tdifficulty\\tgreedy.ex\\tgreedy.em\\tmajority_vote.ex"]
for i in range(40):
    lines.append(f"dev-{i}\\tshop\\teasy\\t{int(i in right)}\\t{int(i in right)}\\t{int(i < 25)}")
open(sys.argv[1], "w").write("\\n".join(lines) + "\\n")
"""
DVC_YAML = """stages:
  validate:
    cmd: python validate.py metrics/verdicts.tsv
    deps: [validate.py]
    params: [validate]
    outs:
      - metrics/verdicts.tsv:
          cache: false
"""


def sh(cwd: Path, *cmd: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
           "PYTHONPATH": os.pathsep.join([str(REPO / "src"), *filter(None, [os.environ.get("PYTHONPATH")])]),
           "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=env)


def ok(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def dvc_repo(repo: Path, files: dict[str, str]) -> Path:
    """A git + DVC repository holding `files` (a stage script, dvc.yaml, params.yaml), reproduced and committed
    on main: the base the compare, experiments and plots commands are tried on."""
    repo.mkdir(parents=True, exist_ok=True)
    ok(sh(repo, "git", "init", "-q", "-b", "main"))
    ok(sh(repo, sys.executable, "-m", "dvc", "init", "-q"))
    for name, text in files.items():
        (repo / name).write_text(text)
    ok(sh(repo, sys.executable, "-m", "dvc", "repro", "-q"))
    ok(sh(repo, "git", "add", "-A"))
    ok(sh(repo, "git", "commit", "-qm", "base"))
    return repo


def compare(repo: Path, *args: str) -> subprocess.CompletedProcess:
    return sh(repo, sys.executable, "-m", "sqlforge.commands", "compare", *args, "--params", str(REPO / "params.yaml"))


@pytest.mark.slow
def test_compare_two_commits_and_an_experiment_of_a_dvc_repo(tmp_path):
    (tmp_path / "repo" / "metrics").mkdir(parents=True)
    repo = dvc_repo(tmp_path / "repo", {"validate.py": STAGE, "dvc.yaml": DVC_YAML,
                                        "params.yaml": "validate:\n  first: 0\n  last: 20\n"})
    (repo / "params.yaml").write_text("validate:\n  first: 0\n  last: 30\n")  # greedy fixes dev-20..29
    ok(sh(repo, sys.executable, "-m", "dvc", "repro", "-q"))
    ok(sh(repo, "git", "add", "-A"))
    ok(sh(repo, "git", "commit", "-qm", "better"))
    # an experiment on top: greedy right on dev-2..31 (fixes 30, 31; breaks 0, 1)
    ok(sh(repo, sys.executable, "-m", "dvc", "exp", "run", "-q", "-n", "shifted", "-S", "validate.first=2",
          "-S", "validate.last=32"))

    two = json.loads(ok(compare(repo, "HEAD~1", "HEAD", "--json")))
    greedy = two["predictors"]["greedy"]
    assert (greedy["fixed"], greedy["broken"], greedy["ex_a"], greedy["ex_b"]) == (10, 0, 0.5, 0.75)
    assert greedy["mcnemar_p"] == 2 / 1024 and greedy["significant"] is True
    assert greedy["fixed_ids"] == [f"dev-{i}" for i in range(20, 30)]
    assert two["predictors"]["majority_vote"]["mcnemar_p"] == 1.0 and two["questions"] == 40

    exp = json.loads(ok(compare(repo, "HEAD", "shifted", "--json")))["predictors"]["greedy"]
    assert exp["fixed_ids"] == ["dev-30", "dev-31"] and exp["broken_ids"] == ["dev-0", "dev-1"]
    assert exp["mcnemar_p"] == 1.0 and exp["significant"] is False

    table = ok(compare(repo, "HEAD~1", "HEAD", "--list"))
    assert "not significant (p > 0.05)" in table  # majority vote: unchanged
    assert "greedy: fixed (10): dev-20 dev-21" in table and "greedy: broken (0): -" in table

    # one run: greedy against majority vote (right on dev-0..24): fixes 20..24 at HEAD~1
    within = json.loads(ok(compare(repo, "HEAD~1", "--json")))["predictors"]["majority_vote"]
    assert (within["fixed"], within["broken"], within["mcnemar_p"]) == (5, 0, 2 / 32)

    # a verdict file as a side, and the one-line errors
    (tmp_path / "old.tsv").write_text(ok(sh(repo, "git", "show", "HEAD~1:metrics/verdicts.tsv")))
    from_file = json.loads(ok(compare(repo, str(tmp_path / "old.tsv"), "HEAD", "--json")))
    assert from_file["predictors"]["greedy"]["fixed"] == 10
    missing = compare(repo, "nope", "HEAD")
    assert missing.returncode == 2 and "nope: not a verdict file, a git revision or an experiment name" in missing.stderr
    no_file = compare(repo, "HEAD", "HEAD", "--path", "metrics/other.tsv")
    assert no_file.returncode == 2 and "no metrics/other.tsv in that commit" in no_file.stderr
    assert "Traceback" not in missing.stderr + no_file.stderr


def test_validate_bootstrap_keys_set_the_interval_sqlforge_compare_prints(tmp_path):
    """validate.bootstrap_resamples and validate.bootstrap_seed: the draws behind every paired interval (validate's
    vs_greedy block passes the same two to the same function, sqlforge.scoring.significance.paired)."""
    from conftest import write_params

    recs = records(200)
    a = [1] * 100 + [0] * 100
    b = [1] * 92 + [0] * 8 + [1] * 20 + [0] * 80  # 20 fixed, 8 broken
    for name, values in (("a", a), ("b", b)):
        (tmp_path / f"{name}.tsv").write_text(verdicts_text(recs, {"greedy": (recs, verdict_dicts(values))}))

    def interval(**validate) -> list[float]:
        params = write_params(tmp_path / "params.yaml", {"validate": validate})
        proc = sh(tmp_path, sys.executable, "-m", "sqlforge.commands", "compare", "a.tsv", "b.tsv", "--json",
                  "--params", str(params))
        return json.loads(ok(proc))["predictors"]["greedy"]["diff_ci95"]

    assert interval(bootstrap_resamples=100, bootstrap_seed=0) != interval(bootstrap_resamples=100, bootstrap_seed=1)
    assert interval(bootstrap_seed=1) != interval(bootstrap_resamples=100, bootstrap_seed=1)
    assert interval(bootstrap_seed=1) == pytest.approx([0.01, 0.11])  # params.yaml's 10,000 resamples
