"""vLLM backend (GPU only; the GPU lock, requirements-gpu.lock).

Written against vLLM 0.33's offline API: `LLM`, `SamplingParams(n, logprobs,
prompt_logprobs, stop, seed, flat_logprobs)` and `LoRARequest`. Imported lazily
so that the CPU pipeline never needs vLLM installed.

Prompts go in as token ids, tokenized exactly as the transformers backend does
(no added special tokens: the chat template already wrote them), so both
backends see the same tokens. Outputs are turned into the same `Completion`s:
the token that ended a completion (EOS or a stop token id), which vLLM keeps in
`token_ids`, is dropped, and after a stop string only the log-probs of the
tokens that make up the kept text remain. `tests/test_vllm_contract.py` drives
this class with vLLM's real output classes on CPU.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Sequence

from sqlforge.engine.base import Completion, Score, kept_logprobs
from sqlforge.io import InputError


def _import_vllm():
    try:
        from vllm import LLM, SamplingParams
        from vllm.lora.request import LoRARequest
    except ImportError as e:
        raise InputError("params.yaml: engine.backend=vllm needs the GPU environment: make install-gpu "
                         f"(requirements-gpu.lock) or pip install 'sqlforge[gpu]' (vLLM is not importable: {e})"
                         ) from None
    return LLM, SamplingParams, LoRARequest


# the values vLLM 0.33 accepts for max_lora_rank (vllm.config.lora.MaxLoRARanks)
VLLM_LORA_RANKS = (1, 8, 16, 32, 64, 128, 256, 320, 512)


def max_lora_rank(rank: int) -> int:
    """The smallest max_lora_rank vLLM accepts that holds an adapter of rank `rank`."""
    for allowed in VLLM_LORA_RANKS:
        if allowed >= rank:
            return allowed
    raise InputError(f"params.yaml: engine.lora_adapter has LoRA rank {rank}; vLLM serves ranks up to "
                     f"{VLLM_LORA_RANKS[-1]}")


def position_logprob(logprobs: Any, position: int, token_id: int) -> float:
    """log p of `token_id` at `position` of vLLM's per-position log-probs.

    vLLM 0.33 returns either a list of {token id: Logprob} dicts or, with
    `flat_logprobs=True`, a `FlatLogprobs`, which answers the same indexing (one
    dict per position) from flat lists; only that shared Sequence API is used."""
    return float(logprobs[position][token_id].logprob)


class VLLMEngine:
    def __init__(self, model_path: str, dtype: str = "auto", tensor_parallel_size: int = 1,
                 gpu_memory_utilization: float = 0.85, lora_path: str | None = None, lora_rank: int = 16,
                 seed: int = 0):
        LLM, SamplingParams, LoRARequest = _import_vllm()
        self._SamplingParams = SamplingParams
        lora_args = {"enable_lora": True, "max_lora_rank": max_lora_rank(lora_rank)} if lora_path else {}
        self.llm = LLM(model=model_path, dtype=dtype, tensor_parallel_size=tensor_parallel_size,
                       gpu_memory_utilization=gpu_memory_utilization, seed=seed, **lora_args)
        # vLLM's own tokenizer for the model (the same files the transformers backend loads)
        self.tokenizer = self.llm.get_tokenizer()
        self.lora = LoRARequest("adapter", 1, lora_path) if lora_path else None
        self.show_progress = False  # a stage's own long generation loop turns on vLLM's progress bar
        self.calls = 0  # batched model invocations
        self.requests = 0  # prompts generated from or scored
        self.generated_tokens = 0

    def _token_prompts(self, texts: Sequence[str]) -> list[dict]:
        return [{"prompt_token_ids": self.tokenizer(t, add_special_tokens=False)["input_ids"]} for t in texts]

    def generate(self, prompts: Sequence[str], n: int = 1, temperature: float = 0.0, top_p: float = 1.0,
                 max_new_tokens: int = 128, stop: Sequence[str] = (), seed: int = 0) -> list[list[Completion]]:
        self.requests += len(prompts)
        # vLLM refuses n > 1 under greedy decoding (SamplingParams raises); greedy is deterministic, so
        # one completion stands for all n, as the transformers backend's n identical rows would
        copies = n if temperature == 0 else 1
        # logprobs=0: the sampled token's log-prob only; flat: one object per request instead of one per token
        params = self._SamplingParams(n=n // copies, temperature=temperature, top_p=top_p,
                                      max_tokens=max_new_tokens, stop=list(stop) or None, seed=seed, logprobs=0,
                                      flat_logprobs=True)
        outputs = self.llm.generate(self._token_prompts(prompts), params, lora_request=self.lora,
                                    use_tqdm=self.show_progress)
        self.calls += 1
        results = []
        for out in outputs:
            completions = [self._completion(c) for c in out.outputs]
            results.append([replace(c, token_logprobs=list(c.token_logprobs)) for c in completions
                            for _ in range(copies)])
        return results

    def _completion(self, c) -> Completion:
        ids = list(c.token_ids)
        lps = [position_logprob(c.logprobs, i, t) for i, t in enumerate(ids)] if c.logprobs is not None else []
        stopped_by_string = isinstance(c.stop_reason, str)
        if c.finish_reason == "stop" and not stopped_by_string and ids:
            ids, lps = ids[:-1], lps[:-1]  # EOS or a stop token id: not part of the text
        self.generated_tokens += len(ids)
        if stopped_by_string:
            lps = kept_logprobs(self.tokenizer, ids, lps, c.text)
        return Completion(c.text, lps, float(sum(lps)), "length" if c.finish_reason == "length" else "stop")

    def score(self, prompts: Sequence[str], continuations: Sequence[str]) -> list[Score]:
        # vLLM 0.33 reads no prefix cache for a request with prompt_logprobs (SamplingParams sets
        # skip_reading_prefix_cache): every scored prompt is computed in full
        self.requests += len(prompts)
        tok = self.tokenizer
        token_prompts, spans = [], []
        for p, c in zip(prompts, continuations):
            p_ids = tok(p, add_special_tokens=False)["input_ids"]
            c_ids = tok(c, add_special_tokens=False)["input_ids"]
            token_prompts.append({"prompt_token_ids": p_ids + c_ids})
            spans.append((len(p_ids), c_ids))
        params = self._SamplingParams(max_tokens=1, prompt_logprobs=0, temperature=0.0, flat_logprobs=True)
        outputs = self.llm.generate(token_prompts, params, lora_request=self.lora, use_tqdm=False)
        self.calls += 1
        scores = []
        for out, (start, c_ids) in zip(outputs, spans):
            lps = [position_logprob(out.prompt_logprobs, start + j, tid) for j, tid in enumerate(c_ids)]
            scores.append(Score(float(sum(lps)), lps))
        return scores
