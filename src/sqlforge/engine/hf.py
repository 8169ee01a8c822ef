"""Batched transformers backend (CPU and GPU).

Requests are sorted by length and run in left-padded batches with the KV
cache; `num_return_sequences` gives n samples per prompt. Log-probs are the
model's own (temperature-free) distribution, like vLLM's default.
"""

from __future__ import annotations

from typing import Sequence

import torch

from sqlforge.engine.base import Completion, Score, truncate_at_stop
from sqlforge.device import default_device, resolve_dtype


class TransformersEngine:
    def __init__(self, model_path: str, batch_size: int = 64, dtype: str = "auto", device: str | None = None):
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.device = device or default_device()
        self.tokenizer = AutoTokenizer.from_pretrained(model_path)
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.model = AutoModelForCausalLM.from_pretrained(model_path, dtype=resolve_dtype(dtype, self.device))
        self.model.to(self.device).eval()
        self.batch_size = batch_size
        self.calls = 0  # batched model invocations
        self.requests = 0  # prompts generated from or scored
        self.generated_tokens = 0

    def _batches(self, lengths: list[int], size: int):
        order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
        for start in range(0, len(order), size):
            yield order[start:start + size]

    @torch.inference_mode()
    def generate(self, prompts: Sequence[str], n: int = 1, temperature: float = 0.0, top_p: float = 1.0,
                 max_new_tokens: int = 128, stop: Sequence[str] = (), seed: int = 0) -> list[list[Completion]]:
        self.requests += len(prompts)
        tok = self.tokenizer
        encoded = [tok(p, add_special_tokens=False)["input_ids"] for p in prompts]
        results: list[list[Completion]] = [[] for _ in prompts]
        eos = self.model.generation_config.eos_token_id or tok.eos_token_id
        eos_ids = set(eos if isinstance(eos, list) else [eos])
        # group size keeps the number of rows (prompts x n) near batch_size
        per_batch = max(1, self.batch_size // max(1, n))
        for batch_no, idx in enumerate(self._batches([len(e) for e in encoded], per_batch)):
            batch = tok.pad({"input_ids": [encoded[i] for i in idx]}, return_tensors="pt").to(self.device)
            torch.manual_seed(seed * 100_003 + batch_no)
            sample = temperature > 0
            out = self.model.generate(
                **batch, do_sample=sample, temperature=temperature if sample else None,
                top_p=top_p if sample else None, top_k=None, num_return_sequences=n,
                max_new_tokens=max_new_tokens, stop_strings=list(stop) or None,
                tokenizer=tok if stop else None, return_dict_in_generate=True, output_logits=True,
                pad_token_id=tok.pad_token_id)
            self.calls += 1
            new_tokens = out.sequences[:, batch["input_ids"].shape[1]:]
            logits = torch.stack(out.logits, dim=1).float()  # rows x steps x vocab
            logprobs = torch.log_softmax(logits, dim=-1).gather(-1, new_tokens.unsqueeze(-1)).squeeze(-1)
            for row in range(new_tokens.shape[0]):
                ids, lps, reason = [], [], "length"
                for t, lp in zip(new_tokens[row].tolist(), logprobs[row].tolist()):
                    if t in eos_ids:
                        reason = "stop"
                        break
                    if t == tok.pad_token_id:
                        break
                    ids.append(t)
                    lps.append(lp)
                text, stopped = truncate_at_stop(tok.decode(ids, skip_special_tokens=True), stop)
                if stopped:
                    reason = "stop"
                    # keep the log-probs of the tokens that make up the kept text
                    keep = 0
                    while keep < len(ids) and len(tok.decode(ids[:keep + 1])) <= len(text):
                        keep += 1
                    lps = lps[:keep]
                self.generated_tokens += len(ids)
                results[idx[row // n]].append(Completion(text, lps, float(sum(lps)), reason))
        return results

    @torch.inference_mode()
    def score(self, prompts: Sequence[str], continuations: Sequence[str]) -> list[Score]:
        self.requests += len(prompts)
        tok = self.tokenizer
        pairs = [(tok(p, add_special_tokens=False)["input_ids"], tok(c, add_special_tokens=False)["input_ids"])
                 for p, c in zip(prompts, continuations)]
        results: list[Score | None] = [None] * len(pairs)
        for idx in self._batches([len(p) + len(c) for p, c in pairs], self.batch_size):
            seqs = [pairs[i][0] + pairs[i][1] for i in idx]
            width = max(len(s) for s in seqs)
            ids = torch.full((len(seqs), width), tok.pad_token_id, dtype=torch.long)
            mask = torch.zeros((len(seqs), width), dtype=torch.long)
            for r, s in enumerate(seqs):  # right padding keeps positions of real tokens at 0..len-1
                ids[r, :len(s)] = torch.tensor(s)
                mask[r, :len(s)] = 1
            logits = self.model(input_ids=ids.to(self.device), attention_mask=mask.to(self.device)).logits.float()
            self.calls += 1
            logprobs = torch.log_softmax(logits[:, :-1], dim=-1).gather(-1, ids[:, 1:].to(self.device).unsqueeze(-1))
            logprobs = logprobs.squeeze(-1).cpu()
            for r, i in enumerate(idx):
                p_len, c_len = len(pairs[i][0]), len(pairs[i][1])
                token_lps = logprobs[r, p_len - 1:p_len - 1 + c_len].tolist()
                results[i] = Score(float(sum(token_lps)), token_lps)
        return results  # type: ignore[return-value]
