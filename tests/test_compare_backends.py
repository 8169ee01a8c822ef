"""bench/compare_backends.py, the comparison bench/gpu_check.sh runs on a GPU, run here on CPU with the
transformers backend on both sides."""

from __future__ import annotations

import pytest

import json
import subprocess
import sys

from sqlforge.io import dump_jsonl

from conftest import REPO, write_params

# stage scripts in subprocesses, real training or the pipeline: `make test-fast` leaves these out
pytestmark = pytest.mark.slow



def run(*args, cwd):
    return subprocess.run([sys.executable, str(REPO / "bench" / "compare_backends.py"), *map(str, args)], cwd=cwd,
                          capture_output=True, text=True)


def test_transformers_twice_is_identical_and_a_changed_prediction_fails(tmp_path, tiny_model, demo_records):
    """Rule: the same backend twice gives identical greedy SQL (share 1.0, equal EX, exit 0), tokens/s is
    reported for each side, and a share below --min-identical exits 1."""
    params = tmp_path / "params.yaml"
    write_params(params, {"engine": {"batch_size": 8, "max_new_tokens": 16}})
    dev = tmp_path / "dev.jsonl"
    dump_jsonl(dev, demo_records["dev"][:6])
    common = ["--params", params, "--dev", dev]
    for name in ("a", "b"):
        proc = run(*common, "generate", "--backend", "transformers", "--model", tiny_model, "--questions", 5,
                   "--out", tmp_path / f"{name}.json", cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr[-2000:]
    first = json.loads((tmp_path / "a.json").read_text())
    assert len(first["sql"]) == 5 and first["tokens"] > 0 and first["engine"] == "TransformersEngine"

    proc = run(*common, "compare", tmp_path / "a.json", tmp_path / "b.json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(proc.stdout)
    assert report["identical_sql_share"] == 1.0 and report["questions"] == 5
    assert report["a"]["ex"] == report["b"]["ex"] and report["a"]["tokens_per_s"] > 0 < report["b"]["tokens_per_s"]

    changed = {**first, "sql": ["SELECT 1"] * 3 + first["sql"][3:]}
    (tmp_path / "c.json").write_text(json.dumps(changed))
    proc = run(*common, "compare", tmp_path / "c.json", tmp_path / "b.json", "--min-identical", 0.9, cwd=tmp_path)
    assert proc.returncode == 1 and "identical SQL share" in proc.stderr
