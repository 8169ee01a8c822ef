"""`engine.data_parallel: ray`: one engine per worker of a Ray cluster, the prompts of each call split between them.

Every worker is a Ray actor holding the backend `engine.backend` names (vLLM on GPU hosts,
transformers on CPU), loaded once for the stage. A call's prompts are cut into contiguous runs
of the prompts in sorted order (so prompts of one schema, whose prefix a worker caches, stay
together), handed to whichever worker is free next (ray.util.ActorPool: a slow worker takes
fewer runs) and put back in prompt order. Both backends seed each prompt's samples from the
call's seed and the prompt alone (transformers: `row_seed(seed, prompt, sample)`; vLLM: the
request's own seeded generator), never from the prompt's batch neighbours, so the split changes
no completion: the run equals the single-process one at the same seeds.

Ray is an optional extra of the GPU environment (`pip install 'sqlforge[gpu]'`, requirements-gpu.lock);
it is imported only when a stage asks for it. `engine.ray_address` "" starts a local cluster, or
joins the one `RAY_ADDRESS` names (a multi-host cluster started with `ray start`).
"""

from __future__ import annotations

import dataclasses
import math
from typing import TYPE_CHECKING, Any, Callable, Sequence

from sqlforge.config import EngineConfig
from sqlforge.engine.base import Completion, Engine, Score
from sqlforge.io import InputError
from sqlforge.stage_runner import progress

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

RUNS_PER_WORKER = 4  # runs a call is cut into per worker: enough for the pool to balance uneven workers


def _import_ray():
    try:
        import ray
        from ray.util import ActorPool
    except ImportError as e:
        raise InputError("params.yaml: engine.data_parallel=ray needs Ray: pip install 'sqlforge[gpu]' "
                         f"(ray is in requirements-gpu.lock) ({e})") from None
    return ray, ActorPool


class _Worker:
    """One engine in one Ray actor (the class is made remote in RayEngine, so Ray stays an optional import)."""

    def __init__(self, build: Callable[[str, EngineConfig], Engine], model_path: str, cfg: EngineConfig, threads: int):
        import torch

        if threads > 0:
            torch.set_num_threads(threads)
        self.engine = build(model_path, dataclasses.replace(cfg, data_parallel="none"))

    def _counters(self) -> tuple[int, int, int]:
        return self.engine.calls, self.engine.requests, self.engine.generated_tokens

    def generate(self, prompts: list[str], kwargs: dict[str, Any]) -> tuple[list[list[Completion]], tuple]:
        out = self.engine.generate(prompts, **kwargs)
        return out, self._counters()

    def score(self, prompts: list[str], continuations: list[str]) -> tuple[list[Score], tuple]:
        out = self.engine.score(prompts, continuations)
        return out, self._counters()


def _runs(order: list[int], pieces: int) -> list[list[int]]:
    size = max(1, math.ceil(len(order) / max(1, pieces)))
    return [order[i:i + size] for i in range(0, len(order), size)]


class RayEngine:
    """The Engine protocol over `workers` Ray actors (counters are the sums over the workers)."""

    tokenizer: PreTrainedTokenizerBase

    def __init__(self, model_path: str, cfg: EngineConfig, tokenizer_path: str,
                 build: Callable[[str, EngineConfig], Engine]):
        """`build` makes one worker's engine (sqlforge.engine.load_engine, passed in: no import cycle)."""
        from transformers import AutoTokenizer

        ray, ActorPool = _import_ray()
        if not ray.is_initialized():
            ray.init(address=cfg.ray_address or None, include_dashboard=False, log_to_driver=False,
                     configure_logging=False)
        gpus = int(ray.cluster_resources().get("GPU", 0))
        per_worker = cfg.tensor_parallel_size if gpus else 0
        workers = cfg.ray_workers or (gpus // per_worker if per_worker else 0)
        if workers < 1:
            raise InputError("params.yaml: engine.ray_workers=0 (one worker per GPU) but the Ray cluster has no GPU; "
                             "set engine.ray_workers")
        cpus = int(ray.cluster_resources().get("CPU", 1))
        # on CPU the workers divide the cluster's cores (each would otherwise start a thread per core)
        threads = 0 if per_worker else max(1, cpus // workers)
        remote = ray.remote(num_gpus=per_worker, num_cpus=0 if per_worker else min(threads, cpus))(_Worker)
        self.actors = [remote.remote(build, model_path, cfg, threads) for _ in range(workers)]
        self._ray, self._pool = ray, ActorPool(self.actors)
        self.tokenizer = AutoTokenizer.from_pretrained(tokenizer_path)
        self.workers = workers
        self.show_progress = False
        self.calls = 0  # summed over the workers
        self.requests = 0
        self.generated_tokens = 0
        self._stats: dict[int, tuple[int, int, int]] = {}  # each worker's counters as last reported

    def _count(self, actor: int, counters: tuple[int, int, int]) -> None:
        """Add what worker `actor` did since its last report to the counters (a stage may reset them)."""
        before = self._stats.get(actor, (0, 0, 0))
        self.calls += counters[0] - before[0]
        self.requests += counters[1] - before[1]
        self.generated_tokens += counters[2] - before[2]
        self._stats[actor] = counters

    def _run(self, method: str, order: list[int], args_of) -> list[Any]:
        """Results of `method` over the runs of `order`, in run order; workers' counters recorded."""
        runs = _runs(order, self.workers * RUNS_PER_WORKER)
        tagged = list(enumerate(runs))
        owner: dict[int, int] = {}

        def submit(actor, item):
            k, run = item
            owner[k] = self.actors.index(actor)
            return getattr(actor, method).remote(*args_of(run))

        results = []
        with progress("generating", len(order), enabled=self.show_progress) as advance:
            for (k, run), (out, counters) in zip(tagged, self._pool.map(submit, tagged)):
                self._count(owner[k], counters)
                results.append(out)
                advance(len(run))
        return results

    def generate(self, prompts: Sequence[str], n: int = 1, temperature: float = 0.0, top_p: float = 1.0,
                 max_new_tokens: int = 128, stop: Sequence[str] = (), seed: int = 0) -> list[list[Completion]]:
        kwargs = {"n": n, "temperature": temperature, "top_p": top_p, "max_new_tokens": max_new_tokens,
                  "stop": list(stop), "seed": seed}
        order = sorted(range(len(prompts)), key=lambda i: (prompts[i], i))
        runs = _runs(order, self.workers * RUNS_PER_WORKER)
        outs = self._run("generate", order, lambda run: ([prompts[i] for i in run], kwargs))
        results: list[list[Completion]] = [[] for _ in prompts]
        for run, out in zip(runs, outs):
            for i, completions in zip(run, out):
                results[i] = completions
        return results

    def score(self, prompts: Sequence[str], continuations: Sequence[str]) -> list[Score]:
        order = sorted(range(len(prompts)), key=lambda i: (prompts[i], continuations[i], i))
        runs = _runs(order, self.workers * RUNS_PER_WORKER)
        outs = self._run("score", order, lambda run: ([prompts[i] for i in run], [continuations[i] for i in run]))
        results: list[Score | None] = [None] * len(prompts)
        for run, out in zip(runs, outs):
            for i, s in zip(run, out):
                results[i] = s
        return results  # type: ignore[return-value]

    def close(self) -> None:
        for actor in self.actors:
            self._ray.kill(actor)
