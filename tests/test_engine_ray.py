"""engine.data_parallel=ray: the transformers engine in Ray workers of a local cluster gives the single-process
engine's completions and scores (per-prompt seeds do not depend on which worker runs a prompt).

Ray is an optional extra (the GPU lock), so these tests skip where it is not installed, except the one that
checks the refusal there."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile

import pytest

from sqlforge.engine import load_engine
from sqlforge.io import InputError
from sqlforge.prompts import example_prompt
from sqlforge.train.launch import _free_port  # the launcher's own pick of a free local port

from conftest import repo_params

HAS_RAY = importlib.util.find_spec("ray") is not None
needs_ray = pytest.mark.skipif(not HAS_RAY, reason="ray is not installed (optional: pip install 'sqlforge[gpu]')")


def cfg(**settings):
    return repo_params({"engine": {"batch_size": 4, **settings}}).engine


@pytest.fixture(scope="module")
def ray_session():
    """A local Ray cluster of 2 CPUs for this module; shut down after it."""
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def prompts(tiny_model, demo_records):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model)
    return [example_prompt(tok, rec) for rec in demo_records["dev"][:10]]


def texts(out):
    return [[c.text for c in row] for row in out]


@needs_ray
def test_ray_address_joins_a_running_cluster(tiny_model, prompts, monkeypatch):
    """engine.ray_address: the engine joins the cluster `ray start` runs (as on a team's head node) instead
    of starting its own. First in the file: it runs before this module's own local cluster starts."""
    import ray

    if ray.is_initialized():
        ray.shutdown()
    port = _free_port()
    # a localhost test cluster: no token auth (Ray >= 2.5x turns it on for clusters it starts itself)
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    # a short temp dir: Ray's unix sockets live there, and a socket path may be at most 107 bytes
    temp = tempfile.mkdtemp(prefix="rayhead-", dir="/tmp")
    command = [sys.executable, "-c", "from ray.scripts.scripts import main; main()"]
    head = subprocess.Popen([*command, "start", "--head", "--block", f"--port={port}", "--num-cpus=1",
                             "--include-dashboard=false", f"--temp-dir={temp}"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=os.environ.copy())
    try:
        log = []
        for line in head.stdout:  # `ray start --block` prints this once the head runs, then blocks
            log.append(line)
            if "Ray runtime started" in line:
                break
        assert head.poll() is None, "".join(log)[-2000:]
        address = f"127.0.0.1:{port}"
        engine = load_engine(str(tiny_model), cfg(data_parallel="ray", ray_workers=1, ray_address=address))
        assert ray.get_runtime_context().gcs_address.endswith(f":{port}")  # joined, not a new local cluster
        assert texts(engine.generate(prompts[:2], max_new_tokens=4)) == texts(
            load_engine(str(tiny_model), cfg()).generate(prompts[:2], max_new_tokens=4))
        engine.close()
    finally:
        ray.shutdown()
        head.terminate()  # --block: the head stops the processes it started
        head.wait(timeout=120)
        shutil.rmtree(temp, ignore_errors=True)


@needs_ray
def test_two_ray_workers_give_the_single_process_outputs(ray_session, tiny_model, prompts):
    from sqlforge.engine.hf import TransformersEngine
    from sqlforge.engine.ray_pool import RayEngine

    single = load_engine(str(tiny_model), cfg())
    pooled = load_engine(str(tiny_model), cfg(data_parallel="ray", ray_workers=2))
    try:
        assert isinstance(single, TransformersEngine) and isinstance(pooled, RayEngine)
        for kwargs in ({"n": 1}, {"n": 3, "temperature": 1.0, "top_p": 0.95, "seed": 7}):
            a = single.generate(prompts, max_new_tokens=16, **kwargs)
            b = pooled.generate(prompts, max_new_tokens=16, **kwargs)
            assert texts(a) == texts(b), kwargs
            assert [[c.finish_reason for c in row] for row in a] == [[c.finish_reason for c in row] for row in b]
            for row_a, row_b in zip(a, b):
                for ca, cb in zip(row_a, row_b):
                    assert cb.token_logprobs == pytest.approx(ca.token_logprobs, abs=1e-4)
        assert pooled.generated_tokens == single.generated_tokens > 0  # summed over the workers
        # the sampled run is a real sample: another seed changes it
        other = pooled.generate(prompts, n=3, temperature=1.0, top_p=0.95, seed=8, max_new_tokens=16)
        assert texts(other) != texts(b)
        sqls = [row[0].text or "SELECT 1" for row in a]
        sa, sb = single.score(prompts, sqls), pooled.score(prompts, sqls)
        assert [s.total for s in sb] == pytest.approx([s.total for s in sa], abs=1e-4)
        # both workers took part, and the counters add up over them
        assert len(pooled._stats) == 2
        assert pooled.requests == 4 * len(prompts) and single.requests == 3 * len(prompts)
    finally:
        pooled.close()


@needs_ray
def test_ray_workers_sets_how_many_workers_share_a_call(ray_session, tiny_model, prompts):
    one = load_engine(str(tiny_model), cfg(data_parallel="ray", ray_workers=1))
    try:
        one.generate(prompts, max_new_tokens=4)
        assert len(one.actors) == 1 and len(one._stats) == 1
    finally:
        one.close()


@needs_ray
def test_ray_workers_zero_means_one_per_gpu_and_is_refused_without_gpus(ray_session, tiny_model):
    if ray_session.cluster_resources().get("GPU", 0):
        pytest.skip("the cluster has GPUs")
    with pytest.raises(InputError, match="ray_workers=0 .* has no GPU"):
        load_engine(str(tiny_model), cfg(data_parallel="ray", ray_workers=0))


@pytest.mark.skipif(HAS_RAY, reason="ray is installed: the refusal is for environments without it")
def test_data_parallel_ray_is_refused_clearly_without_ray(tiny_model):
    with pytest.raises(InputError, match="engine.data_parallel=ray needs Ray"):
        load_engine(str(tiny_model), cfg(data_parallel="ray", ray_workers=2))
