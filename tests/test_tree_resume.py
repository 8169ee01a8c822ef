"""tree-build killed with SIGKILL part-way resumes from its checkpoint, byte-identical to a clean run."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from conftest import REPO, write_params

# stage scripts in subprocesses, real training or the pipeline: `make test-fast` leaves these out
pytestmark = pytest.mark.slow


QUESTIONS = 24


def tree_build(workdir, train, model, params, name):
    """Start the real stage script on one shard; outputs under workdir/<name>."""
    cmd = [sys.executable, str(REPO / "stages" / "tree_build.py"), "--params", str(params), "--shard", "0",
           "--train", str(train), "--model", str(model), "--out", str(workdir / name / "shard-0"),
           "--metrics", str(workdir / name / "metrics.json"), "--checkpoint", str(workdir / name / "ckpt.json")]
    return subprocess.Popen(cmd, cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_killed_shard_resumes_to_identical_output(tmp_path, tiny_model, demo_records):
    train = tmp_path / "train.jsonl"
    train.write_text("".join(json.dumps(r) + "\n" for r in demo_records["train"][:QUESTIONS]))
    params = tmp_path / "params.yaml"
    # the random tiny model answers wrongly, so every level has revisions to make
    write_params(params, {"tree": {"shards": [0], "branching": 2, "max_depth": 2,
                                               "max_questions": -1},
                                      "engine": {"batch_size": 8, "max_new_tokens": 48}})

    clean = tree_build(tmp_path, train, tiny_model, params, "clean")
    out, err = clean.communicate(timeout=600)
    assert clean.returncode == 0, err[-3000:]
    expected = (tmp_path / "clean" / "shard-0" / "trees.jsonl").read_bytes()
    assert not (tmp_path / "clean" / "ckpt.json").exists()  # removed once the shard is complete
    assert sum(len(json.loads(line)["nodes"]) for line in expected.splitlines()) > 2 * QUESTIONS

    killed = tree_build(tmp_path, train, tiny_model, params, "resumed")
    checkpoint = tmp_path / "resumed" / "ckpt.json"
    deadline = time.monotonic() + 600
    while not checkpoint.exists() and killed.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert killed.poll() is None, "the stage finished before it could be killed"
    os.kill(killed.pid, signal.SIGKILL)
    killed.wait()
    state = json.loads(checkpoint.read_text())
    assert state["next_depth"] == 1 and state["open"]
    # nothing DVC could take for a finished output
    assert not (tmp_path / "resumed" / "shard-0").exists()
    assert not (tmp_path / "resumed" / "metrics.json").exists()

    rerun = tree_build(tmp_path, train, tiny_model, params, "resumed")
    out, err = rerun.communicate(timeout=600)
    assert rerun.returncode == 0, err[-3000:]
    assert "resumed from" in err and "at level 1" in err
    assert (tmp_path / "resumed" / "shard-0" / "trees.jsonl").read_bytes() == expected
    assert not checkpoint.exists()
    assert not list((tmp_path / "resumed").glob(".*.tmp-*"))


def test_checkpoint_of_other_inputs_is_ignored(tmp_path, tiny_model, demo_records):
    train = tmp_path / "train.jsonl"
    train.write_text("".join(json.dumps(r) + "\n" for r in demo_records["train"][:6]))
    params = tmp_path / "params.yaml"
    write_params(params, {"tree": {"shards": [0], "max_depth": 1, "max_questions": -1},
                                      "engine": {"max_new_tokens": 24}})
    stale = tmp_path / "run" / "ckpt.json"
    stale.parent.mkdir()
    stale.write_text(json.dumps({"fingerprint": "from another model", "next_depth": 9, "nodes": [], "open": []}))
    proc = tree_build(tmp_path, train, tiny_model, params, "run")
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err[-3000:]
    assert "resumed" not in err
    trees = [json.loads(line) for line in (tmp_path / "run" / "shard-0" / "trees.jsonl").read_text().splitlines()]
    assert len(trees) == 6 and all(t["nodes"] for t in trees)


def test_two_shards_run_at_the_same_time(tmp_path, tiny_model, demo_records):
    """Shards are independent processes: here both at once on CPU, as they would be on two GPUs."""
    records = demo_records["train"][:20]
    train = tmp_path / "train.jsonl"
    train.write_text("".join(json.dumps(r) + "\n" for r in records))
    params = tmp_path / "params.yaml"
    write_params(params, {"tree": {"shards": [0, 1], "max_depth": 1, "max_questions": -1},
                                      "engine": {"max_new_tokens": 24}})
    procs = []
    for shard in (0, 1):
        cmd = [sys.executable, str(REPO / "stages" / "tree_build.py"), "--params", str(params), "--shard", str(shard),
               "--train", str(train), "--model", str(tiny_model), "--out", str(tmp_path / f"shard-{shard}"),
               "--metrics", str(tmp_path / f"m{shard}.json"), "--checkpoint", str(tmp_path / f"c{shard}.json")]
        procs.append(subprocess.Popen(cmd, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    assert all(p.poll() is None for p in procs)  # both started before either finished
    for p in procs:
        _, err = p.communicate(timeout=600)
        assert p.returncode == 0, err[-2000:]
    ids = [{json.loads(line)["question_id"] for line in (tmp_path / f"shard-{s}" / "trees.jsonl").read_text().splitlines()}
           for s in (0, 1)]
    assert ids[0] and ids[1] and not ids[0] & ids[1]
    assert ids[0] | ids[1] == {r["id"] for r in records}
