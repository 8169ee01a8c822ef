"""Bad input: one clear message naming the file and record, exit code 2, no output written."""

import json
import shutil
import subprocess
import sys

import pytest

from conftest import REPO, write_params

# stage scripts in subprocesses, real training or the pipeline: `make test-fast` leaves these out
pytestmark = pytest.mark.slow



def preprocess(raw, base, out, params):
    return subprocess.run([sys.executable, str(REPO / "stages" / "preprocess.py"), "--params", str(params),
                           "--raw", str(raw), "--base-model", str(base), "--out", str(out), "--metrics",
                           str(out.parent / "metrics.json")], capture_output=True, text=True, cwd=REPO)


@pytest.fixture()
def raw(tmp_path, demo_dir):
    dst = tmp_path / "raw"
    shutil.copytree(demo_dir, dst)
    return dst


@pytest.fixture()
def params(tmp_path):
    path = tmp_path / "params.yaml"
    write_params(path, {"preprocess": {"sample_values": 0}})
    return path


def corrupt_first_record(raw, **changes):
    path = raw / "train_spider.json"
    records = json.loads(path.read_text())
    records[1].update(changes)
    path.write_text(json.dumps(records))


@pytest.mark.parametrize("breakage,message", [
    (lambda raw: (raw / "train_spider.json").write_text('[{"db_id": "retail", '), "train_spider.json: invalid JSON"),
    (lambda raw: (raw / "dev.json").write_bytes(b'[{"question": "caf\xe9"}]'), "dev.json: not valid UTF-8"),
    (lambda raw: corrupt_first_record(raw, db_id="nope"), "record 1 names unknown db_id 'nope'"),
    (lambda raw: corrupt_first_record(raw, question="  "), "record 1 has no 'question'"),
    (lambda raw: shutil.rmtree(raw / "database" / "retail"), "retail.sqlite is missing"),
])
def test_bad_dataset_is_named_and_nothing_is_written(raw, tiny_model, params, tmp_path, breakage, message):
    breakage(raw)
    out = tmp_path / "prepared"
    proc = preprocess(raw, tiny_model, out, params)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not out.exists() and not list(tmp_path.glob(".prepared.tmp-*"))


def test_wrong_param_type_exits_before_work(raw, tiny_model, tmp_path):
    bad = tmp_path / "bad.yaml"
    write_params(bad, {"preprocess": {"sample_values": "three"}})
    out = tmp_path / "prepared"
    proc = preprocess(raw, tiny_model, out, bad)
    assert proc.returncode == 2
    assert "'preprocess.sample_values': input should be a valid integer" in proc.stderr
    assert not out.exists()


def test_malformed_jsonl_between_stages_is_named(tmp_path, tiny_model, demo_records):
    train = tmp_path / "train.jsonl"
    lines = [json.dumps(r) for r in demo_records["train"][:3]]
    lines[1] = lines[1][:40]  # a record cut short, as by a full disk
    train.write_text("\n".join(lines) + "\n")
    out = tmp_path / "trees" / "shard-0"
    proc = subprocess.run([sys.executable, str(REPO / "stages" / "tree_build.py"), "--params", str(REPO / "params.yaml"),
                           "--shard", "0", "--train",
                           str(train), "--model", str(tiny_model), "--out", str(out), "--metrics",
                           str(tmp_path / "m.json"), "--checkpoint", str(tmp_path / "ckpt.json")],
                          capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 2
    assert f"{train}: record at line 2 is invalid JSON" in proc.stderr and "Traceback" not in proc.stderr
    assert not out.exists() and not (tmp_path / "m.json").exists() and not (tmp_path / "ckpt.json").exists()
