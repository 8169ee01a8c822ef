"""vLLM backend (GPU only; `pip install sqlforge[gpu]`).

Written against vLLM 0.33's offline API: `LLM`, `SamplingParams(n, logprobs,
prompt_logprobs, stop, seed)` and `LoRARequest`. Imported lazily so that the
CPU pipeline never needs vLLM installed.
"""

from __future__ import annotations

from typing import Sequence

from sqlforge.engine.base import Completion, Score
from sqlforge.io import InputError


def _import_vllm():
    try:
        import vllm  # noqa: F401
        from vllm import LLM, SamplingParams
        from vllm.lora.request import LoRARequest
    except ImportError as e:
        raise InputError("params.yaml: engine.backend=vllm needs the GPU extra: pip install 'sqlforge[gpu]' "
                         f"(vLLM is not importable: {e})") from None
    return LLM, SamplingParams, LoRARequest


class VLLMEngine:
    def __init__(self, model_path: str, dtype: str = "auto", tensor_parallel_size: int = 1,
                 gpu_memory_utilization: float = 0.85, lora_path: str | None = None, max_lora_rank: int = 16,
                 seed: int = 0):
        LLM, SamplingParams, LoRARequest = _import_vllm()
        self._SamplingParams = SamplingParams
        lora_args = {"enable_lora": True, "max_lora_rank": max_lora_rank} if lora_path else {}
        self.llm = LLM(model=model_path, dtype=dtype, tensor_parallel_size=tensor_parallel_size,
                       gpu_memory_utilization=gpu_memory_utilization, seed=seed, **lora_args)
        self.lora = LoRARequest("adapter", 1, lora_path) if lora_path else None
        self.tokenizer = self.llm.get_tokenizer()  # prompts are rendered with it, as with the transformers engine
        self.calls = 0  # batched model invocations
        self.requests = 0  # prompts generated from or scored

    def generate(self, prompts: Sequence[str], n: int = 1, temperature: float = 0.0, top_p: float = 1.0,
                 max_new_tokens: int = 128, stop: Sequence[str] = (), seed: int = 0) -> list[list[Completion]]:
        self.requests += len(prompts)
        params = self._SamplingParams(n=n, temperature=temperature, top_p=top_p, max_tokens=max_new_tokens,
                                      stop=list(stop) or None, seed=seed, logprobs=0)
        outputs = self.llm.generate(list(prompts), params, lora_request=self.lora, use_tqdm=False)
        self.calls += 1
        results = []
        for out in outputs:
            comps = []
            for c in out.outputs:
                lps = [step[tid].logprob for tid, step in zip(c.token_ids, c.logprobs or [])]
                comps.append(Completion(c.text, lps, float(c.cumulative_logprob or sum(lps)),
                                        "length" if c.finish_reason == "length" else "stop"))
            results.append(comps)
        return results

    def score(self, prompts: Sequence[str], continuations: Sequence[str]) -> list[Score]:
        self.requests += len(prompts)
        tok = self.llm.get_tokenizer()
        token_prompts, spans = [], []
        for p, c in zip(prompts, continuations):
            p_ids = tok(p, add_special_tokens=False)["input_ids"]
            c_ids = tok(c, add_special_tokens=False)["input_ids"]
            token_prompts.append({"prompt_token_ids": p_ids + c_ids})
            spans.append((len(p_ids), c_ids))
        params = self._SamplingParams(max_tokens=1, prompt_logprobs=0, temperature=0.0)
        outputs = self.llm.generate(token_prompts, params, lora_request=self.lora, use_tqdm=False)
        self.calls += 1
        scores = []
        for out, (start, c_ids) in zip(outputs, spans):
            lps = [out.prompt_logprobs[start + j][tid].logprob for j, tid in enumerate(c_ids)]
            scores.append(Score(float(sum(lps)), lps))
        return scores
