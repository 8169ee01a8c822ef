"""Batched transformers backend (CPU and GPU).

Requests are grouped by shared token prefix and run in left-padded batches
with the KV cache. Text-to-SQL prompts of one database share their system
prompt and schema, which is most of the prompt: each batch encodes that
common prefix once and copies its KV cache to every row (prefix caching, as
vLLM does automatically), so only the question and partial SQL are encoded
per row. That KV also outlives the call (`PrefixStore`), and so does each
generated-from prompt's: the next call on the same schema prompt, or the same
prompt sampled again or scored, computes only what the store lacks. n samples
per prompt are n rows. Log-probs are the model's own (temperature-free)
distribution, like vLLM's default.
"""

from __future__ import annotations

import hashlib
import math
from typing import Sequence

import torch
from transformers import DynamicCache, LogitsProcessorList

from sqlforge.stage_runner import progress
from sqlforge.engine.base import Completion, Score, kept_logprobs, truncate_at_stop
from sqlforge.engine.prefix_store import LayerKV, PrefixStore
from sqlforge.device import default_device, resolve_dtype


def _common_prefix(a: list[int], *others: list[int]) -> int:
    """Length of the common prefix. For a sorted list, first and last give the whole list's."""
    n = min(len(a), *(len(o) for o in others)) if others else len(a)
    for i in range(n):
        if any(o[i] != a[i] for o in others):
            return i
    return n


class RowSampler:
    """Sampling with one seeded random stream per row (a logits processor under greedy search).

    Gumbel-max: argmax(logits / T + Gumbel noise), with tokens outside the top-p
    nucleus masked, is a draw from the tempered, truncated softmax. Each row's
    noise comes from its own generator keyed by (seed, prompt, sample index),
    as vLLM's per-request seed does, so a sample does not depend on which other
    prompts share its batch: batched and one-at-a-time runs give the same SQL.
    """

    def __init__(self, keys: list[int], temperature: float, top_p: float):
        self.generators = [torch.Generator().manual_seed(k) for k in keys]
        self.temperature = temperature
        self.top_p = top_p

    def keep(self, rows: list[int]) -> None:
        self.generators = [self.generators[r] for r in rows]

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        scores = scores.float() / self.temperature
        if self.top_p < 1.0:
            probs, order = torch.softmax(scores, dim=-1).sort(dim=-1, descending=True)
            outside = probs.cumsum(dim=-1) - probs >= self.top_p  # the most likely token always stays
            scores = scores.masked_fill(outside.scatter(-1, order, outside), -math.inf)
        uniform = torch.stack([torch.rand(scores.shape[-1], generator=g) for g in self.generators])
        gumbel = -torch.log(-torch.log(uniform.clamp(1e-10, 1 - 1e-10)))
        return scores + gumbel.to(scores.device)


def row_seed(seed: int, prompt: str, sample: int) -> int:
    digest = hashlib.sha256(f"{seed}:{sample}:{prompt}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & (2**63 - 1)


class TransformersEngine:
    def __init__(self, model_path: str, batch_size: int = 64, dtype: str = "auto", device: str | None = None,
                 segment_tokens: int = 16, lora_path: str | None = None, prefix_cache_tokens: int = 65536):
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.device = device or default_device()
        self.tokenizer = AutoTokenizer.from_pretrained(model_path)
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.model = AutoModelForCausalLM.from_pretrained(model_path, dtype=resolve_dtype(dtype, self.device))
        if lora_path:  # fold the adapter in once: generation then costs what the merged model costs
            from peft import PeftModel

            self.model = PeftModel.from_pretrained(self.model, lora_path).merge_and_unload()
        self.model.to(self.device).eval()
        self.batch_size = batch_size
        self.segment_tokens = segment_tokens
        self.prefix_store = PrefixStore(prefix_cache_tokens)
        self.show_progress = False  # a stage's own long generation loop turns this on (one live bar at a time)
        self.calls = 0  # batched model invocations
        self.requests = 0  # prompts generated from or scored
        self.generated_tokens = 0

    @staticmethod
    def _prefix_groups(seqs: list[list[int]], limits: list[int], keep: float = 0.8) -> list[tuple[int, int, int]]:
        """(start, end, shared prefix length) of runs of sorted rows that share a prefix.

        A run ends where the next row would cut its shared prefix below `keep` of
        what it was. Row r's part of the prefix is at most limits[r] tokens (at least
        one token must stay outside it, to be computed with its logits)."""
        groups, start, shared = [], 0, limits[0] if seqs else 0
        for r in range(1, len(seqs) + 1):
            if r < len(seqs):
                common = min(_common_prefix(seqs[start], seqs[r]), limits[r])
                if common >= keep * shared:
                    shared = min(shared, common)
                    continue
            groups.append((start, r, max(0, shared)))
            if r < len(seqs):
                start, shared = r, limits[r]
        return groups

    def _group_prefixes(self, seqs: list[list[int]], groups: list[tuple[int, int, int]]) -> list[list[LayerKV]]:
        """KV of every group's shared prefix (as consecutive segments): from the prefix store where it
        has it, the rest computed in one forward pass on top of it and added to the store."""
        prefixes = [seqs[start][:shared] for start, _, shared in groups]
        found = [self.prefix_store.lookup_blocks(p) for p in prefixes]
        todo = [g for g, (p, (n, _)) in enumerate(zip(prefixes, found)) if n < len(p)]
        tails = self._extend([prefixes[g] for g in todo], [found[g] for g in todo]) if todo else []
        kv = [blocks for _, blocks in found]
        for g, tail in zip(todo, tails):
            kv[g] = kv[g] + [tail]
            self.prefix_store.add(prefixes[g], tail, offset=found[g][0])
        return kv

    def _stack(self, kv: list[list[LayerKV]], width: int) -> DynamicCache:
        """One cache row per entry (its segments one after another), right-padded to `width`."""
        k0 = next(segments[0][0][0] for segments in kv if segments)
        data = []
        for i in range(self.model.config.num_hidden_layers):
            keys = k0.new_zeros((len(kv), k0.shape[0], width, k0.shape[2]))
            values = torch.zeros_like(keys)
            for r, segments in enumerate(kv):
                at = 0
                for layers in segments:
                    n = layers[i][0].shape[1]
                    keys[r, :, at:at + n], values[r, :, at:at + n] = layers[i]
                    at += n
            data.append((keys, values))
        return DynamicCache(data, config=self.model.config)

    def _extend(self, prefixes: list[list[int]], found: list[tuple[int, list[LayerKV]]]) -> list[LayerKV]:
        """KV of the rest of each prefix, given the KV segments of its first n tokens (one batched forward).

        Layout: [stored part, right-padded to the longest][remaining tokens, right-padded]."""
        held = [n for n, _ in found]
        past_width = max(held)
        tails = [p[n:] for p, n in zip(prefixes, held)]
        tail_width = max(len(t) for t in tails)
        pad = self.tokenizer.pad_token_id
        ids = torch.full((len(prefixes), tail_width), pad, dtype=torch.long)
        mask = torch.zeros((len(prefixes), past_width + tail_width), dtype=torch.long)
        for g, (n, tail) in enumerate(zip(held, tails)):
            ids[g, :len(tail)] = torch.tensor(tail, dtype=torch.long)
            mask[g, :n] = 1
            mask[g, past_width:past_width + len(tail)] = 1
        past = self._stack([blocks for _, blocks in found], past_width) if past_width else None
        positions = torch.tensor(held).unsqueeze(1) + torch.arange(tail_width).unsqueeze(0)
        out = self.model(input_ids=ids.to(self.device), attention_mask=mask.to(self.device),
                         position_ids=positions.to(self.device), past_key_values=past, use_cache=True,
                         logits_to_keep=1)  # only the cache is wanted
        self.calls += 1
        cache = out.past_key_values
        return [[(layer.keys[g, :, past_width:past_width + len(tail)],
                  layer.values[g, :, past_width:past_width + len(tail)]) for layer in cache.layers]
                for g, tail in enumerate(tails)]

    def _layout(self, seqs: list[list[int]], limits: list[int] | None = None):
        """Input ids, attention mask, KV cache of each row's known prefix, and that prefix's length per row.

        A row's known prefix is its group's shared prefix, or more where the prefix store
        holds more of the row (a prompt generated from earlier, now scored or sampled again).
        Row layout: [known prefix][right padding to the longest][left padding][own tokens]."""
        pad = self.tokenizer.pad_token_id
        limits = limits or [len(s) - 1 for s in seqs]
        groups = self._prefix_groups(seqs, limits)
        group_kv = self._group_prefixes(seqs, groups) if any(shared for _, _, shared in groups) else []
        kv: list[list[LayerKV]] = []
        known: list[int] = []
        for g, (start, end, shared) in enumerate(groups):
            for r in range(start, end):
                n, blocks = self.prefix_store.lookup_blocks(seqs[r][:limits[r]]) if shared else (0, [])
                kv.append(blocks if n > shared else group_kv[g] if shared else [])
                known.append(max(n, shared))
        width = max(known)
        own = [len(seq) - n for seq, n in zip(seqs, known)]
        ids = torch.full((len(seqs), width + max(own)), pad, dtype=torch.long)
        mask = torch.zeros_like(ids)
        for r, (seq, n) in enumerate(zip(seqs, known)):
            ids[r, :n] = torch.tensor(seq[:n], dtype=torch.long)
            mask[r, :n] = 1
            ids[r, ids.shape[1] - own[r]:] = torch.tensor(seq[n:], dtype=torch.long)
            mask[r, ids.shape[1] - own[r]:] = 1
        cache = self._stack(kv, width) if width else None
        return ids.to(self.device), mask.to(self.device), cache, known

    def _remember(self, cache, seqs: list[list[int]], known: list[int], width: int) -> None:
        """Add each distinct prompt's KV (its known prefix + its own tokens, as the prefill left them) to the store:
        the next call on the same prompt (MCTS samples after the greedy pass, then scores) starts from it."""
        if self.prefix_store.max_tokens <= 0:
            return
        seen = set()
        for r, (seq, n) in enumerate(zip(seqs, known)):
            if len(seq) < self.prefix_store.block or id(seq) in seen:
                continue
            seen.add(id(seq))
            own = len(seq) - n
            layers = [(torch.cat([layer.keys[r, :, :n], layer.keys[r, :, width - own:width]], dim=1),
                       torch.cat([layer.values[r, :, :n], layer.values[r, :, width - own:width]], dim=1))
                      for layer in cache.layers]
            self.prefix_store.add(seq, layers)

    def _decode(self, ids, mask, cache, max_new_tokens: int, stop: Sequence[str], sampler: RowSampler | None,
                after_prefill=None):
        """(token ids, log-probs, hit EOS) per row.

        Decodes in segments of `segment_tokens`; after each, finished rows are
        dropped and the rest continue from the same KV cache, so one long output
        does not make every row of the batch run to max_new_tokens.
        """
        tok = self.tokenizer
        eos = self.model.generation_config.eos_token_id or tok.eos_token_id
        stop_ids = set(eos if isinstance(eos, list) else [eos])
        out_ids: list[list[int]] = [[] for _ in range(ids.shape[0])]
        out_lps: list[list[float]] = [[] for _ in range(ids.shape[0])]
        hit_eos = [False] * ids.shape[0]
        active = list(range(ids.shape[0]))
        remaining = max_new_tokens
        while active and remaining > 0:
            steps = min(self.segment_tokens, remaining)
            out = self.model.generate(
                input_ids=ids, attention_mask=mask, past_key_values=cache, max_new_tokens=steps,
                stop_strings=list(stop) or None, tokenizer=tok if stop else None, return_dict_in_generate=True,
                output_logits=True, pad_token_id=tok.pad_token_id, do_sample=False, temperature=None, top_p=None,
                top_k=None, logits_processor=LogitsProcessorList([sampler] if sampler else []))
            self.calls += 1
            if after_prefill is not None:
                after_prefill(out.past_key_values)
                after_prefill = None
            new = out.sequences[:, ids.shape[1]:]
            # one step at a time: stacking rows x steps x vocab logits costs more than it saves
            lps = torch.stack([torch.log_softmax(step.float(), dim=-1).gather(-1, new[:, t:t + 1])[:, 0]
                               for t, step in enumerate(out.logits)], dim=1).tolist()
            keep = []
            for j, row in enumerate(active):
                done = False
                for t, lp in zip(new[j].tolist(), lps[j]):
                    if t in stop_ids or t == tok.pad_token_id:  # pad follows a stop string
                        hit_eos[row], done = t in stop_ids, True
                        break
                    out_ids[row].append(t)
                    out_lps[row].append(lp)
                if not done and stop and truncate_at_stop(tok.decode(out_ids[row]), stop)[1]:
                    done = True
                if not done:
                    keep.append(j)
            remaining -= steps
            if not keep or remaining <= 0:
                break
            if sampler:
                sampler.keep(keep)
            rows = torch.tensor(keep, device=self.device)
            cache = out.past_key_values
            cache.batch_select_indices(rows)
            ids = out.sequences[rows]
            mask = torch.cat([mask[rows], torch.ones_like(new[rows])], dim=1)
            active = [active[j] for j in keep]
        return out_ids, out_lps, hit_eos

    @torch.inference_mode()
    def generate(self, prompts: Sequence[str], n: int = 1, temperature: float = 0.0, top_p: float = 1.0,
                 max_new_tokens: int = 128, stop: Sequence[str] = (), seed: int = 0) -> list[list[Completion]]:
        self.requests += len(prompts)
        tok = self.tokenizer
        encoded = [tok(p, add_special_tokens=False)["input_ids"] for p in prompts]
        results: list[list[Completion]] = [[] for _ in prompts]
        # group size keeps the number of rows (prompts x n) near batch_size
        per_batch = max(1, self.batch_size // max(1, n))
        order = sorted(range(len(prompts)), key=lambda i: (encoded[i], i))  # shared prefixes side by side
        with progress("generating", len(prompts), enabled=self.show_progress) as advance:
            for start in range(0, len(order), per_batch):
                self._generate_batch(order[start:start + per_batch], prompts, encoded, n, temperature, top_p,
                                     max_new_tokens, stop, seed, results)
                advance(min(per_batch, len(order) - start))
        return results

    def _generate_batch(self, idx: list[int], prompts, encoded, n, temperature, top_p, max_new_tokens, stop, seed,
                        results: list[list[Completion]]) -> None:
        """Generate for prompts `idx` (sorted by token ids) and append their completions to `results`."""
        tok = self.tokenizer
        seqs = [encoded[i] for i in idx for _ in range(n)]  # n rows per prompt
        ids, mask, cache, known = self._layout(seqs)
        sampler = RowSampler([row_seed(seed, prompts[i], j) for i in idx for j in range(n)], temperature,
                             top_p) if temperature > 0 else None
        width = ids.shape[1]
        out_ids, out_lps, hit_eos = self._decode(ids, mask, cache, max_new_tokens, stop, sampler,
                                                 lambda filled: self._remember(filled, seqs, known, width))
        for row, (ids_out, lps) in enumerate(zip(out_ids, out_lps)):
            text, stopped = truncate_at_stop(tok.decode(ids_out, skip_special_tokens=True), stop)
            if stopped:
                lps = kept_logprobs(tok, ids_out, lps, text)
            reason = "stop" if hit_eos[row] or stopped else "length"
            self.generated_tokens += len(ids_out)
            results[idx[row // n]].append(Completion(text, lps, float(sum(lps)), reason))

    @torch.inference_mode()
    def score(self, prompts: Sequence[str], continuations: Sequence[str]) -> list[Score]:
        """log p(continuation | prompt). Shared prompt prefixes are encoded once, as in generate."""
        self.requests += len(prompts)
        tok = self.tokenizer
        pairs = [(tok(p, add_special_tokens=False)["input_ids"], tok(c, add_special_tokens=False)["input_ids"])
                 for p, c in zip(prompts, continuations)]
        results: list[Score | None] = [None] * len(pairs)
        order = sorted(range(len(pairs)), key=lambda i: (pairs[i][0] + pairs[i][1], i))
        for start in range(0, len(order), self.batch_size):
            idx = order[start:start + self.batch_size]
            seqs = [pairs[i][0] + pairs[i][1] for i in idx]
            # the last prompt token stays outside the shared prefix: its logits score the first continuation token
            ids, mask, cache, _ = self._layout(seqs, [len(pairs[i][0]) - 1 for i in idx])
            shared = cache.get_seq_length() if cache is not None else 0
            positions = (mask.cumsum(-1) - 1).clamp(min=0)[:, shared:]
            logits = self.model(input_ids=ids[:, shared:], attention_mask=mask, past_key_values=cache,
                                position_ids=positions).logits.float()
            self.calls += 1
            width = ids.shape[1] - shared
            for r, i in enumerate(idx):
                c_ids = pairs[i][1]
                first = width - len(c_ids)  # own tokens are right-aligned: the continuation is last
                logp = torch.log_softmax(logits[r, first - 1:width - 1], dim=-1)
                token_lps = logp.gather(-1, torch.tensor(c_ids, device=logp.device).unsqueeze(-1)).squeeze(-1).tolist()
                results[i] = Score(float(sum(token_lps)), token_lps)
        return results  # type: ignore[return-value]
