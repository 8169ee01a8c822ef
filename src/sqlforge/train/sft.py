"""SFT model and trainer construction (trl SFTTrainer on prompt/completion chat data)."""

from __future__ import annotations

from pathlib import Path

import torch
from datasets import Dataset
from peft import LoraConfig
from transformers import AutoModelForCausalLM, AutoTokenizer
from trl import SFTConfig, SFTTrainer

from sqlforge.config import SFTConfig as SFTParams
from sqlforge.train.common import check_attention, check_qlora, device_kwargs, live_callback, weights_dtype


def sft_dataset(records: list[dict]) -> Dataset:
    """Conversational prompt/completion pairs: SFTTrainer puts the loss on the completion (the SQL) only.
    `kind` (plain or revision) lets `sampling: by_kind` batch the long revision prompts together."""
    return Dataset.from_list([{"prompt": r["prompt"], "completion": r["completion"],
                               "kind": "revision" if r.get("revision_of") else "plain"} for r in records])


class KindBatchSampler(torch.utils.data.Sampler):
    """Random batches that each hold one kind of example.

    A revision prompt (schema + wrong SQL + feedback) is ~1.5x a plain one; in
    random batches nearly every batch holds one and pads to its length. Here
    batches are shuffled within and across kinds, seeded by (seed, epoch) so a
    resumed run sees the same order. Partial batches come last, so every other
    batch is exactly `batch_size` long (the DataLoader cuts batches by count).
    """

    def __init__(self, kinds: list[str], batch_size: int, seed: int):
        self.kinds, self.batch_size, self.seed, self.epoch = kinds, batch_size, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.kinds)

    def __iter__(self):
        g = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        full, partial = [], []
        for kind in sorted(set(self.kinds)):
            idx = [i for i, k in enumerate(self.kinds) if k == kind]
            idx = [idx[j] for j in torch.randperm(len(idx), generator=g).tolist()]
            for start in range(0, len(idx), self.batch_size):
                (full if len(idx) - start >= self.batch_size else partial).append(idx[start:start + self.batch_size])
        order = torch.randperm(len(full), generator=g).tolist()
        for b in order:
            yield from full[b]
        for batch in partial:
            yield from batch


class SQLSFTTrainer(SFTTrainer):
    """SFTTrainer plus the `by_kind` sampling option and a CPU loss that scores completion tokens only."""

    sampling = "random"

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        if return_outputs or not self._label_positions_only(model, inputs):
            return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        return completion_loss(self, model, inputs, num_items_in_batch)

    def _label_positions_only(self, model, inputs) -> bool:
        """trl's fused LM head scores only label positions on GPUs (Triton); on CPU it projects every position,
        prompt included: ~8x the demo's completion tokens and a third of an SFT step. One process (no DDP
        wrapper to bypass), padded batches, and a plain LM head (no softcap or logit scale) take the short path."""
        config = self.accelerator.unwrap_model(model).config.get_text_config()
        return (not torch.cuda.is_available() and self.args.world_size == 1 and "attention_mask" in inputs
                and getattr(config, "final_logit_softcapping", None) is None
                and getattr(config, "logit_scale", None) in (None, 1.0) and not self.aux_loss_enabled)

    def _get_train_sampler(self, train_dataset=None):
        """`by_kind`: batches of one kind (the trainer's own strategy is "random" then, see build_trainer).
        Kinds are read from self.train_dataset: the dataloader's copy has the `kind` column removed."""
        if self.sampling != "by_kind":
            return super()._get_train_sampler(train_dataset)
        batch = self.args.per_device_train_batch_size * max(1, self.args.world_size)
        return KindBatchSampler(list(self.train_dataset["kind"]), batch, self.args.seed)


def completion_loss(trainer: SFTTrainer, model, inputs: dict, num_items_in_batch=None) -> torch.Tensor:
    """Mean NLL of the completion tokens (trl's loss), projecting only their hidden states through the LM head;
    logs trl's entropy and mean_token_accuracy from the same logits."""
    causal_lm = model.get_base_model() if hasattr(model, "get_base_model") else model
    backbone = getattr(causal_lm, causal_lm.base_model_prefix)
    labels = inputs["labels"][:, 1:]
    mask = labels != -100
    hidden = backbone(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"],
                      use_cache=False).last_hidden_state[:, :-1][mask]
    logits = causal_lm.get_output_embeddings()(hidden).float()
    targets = labels[mask]
    n_items = mask.sum().clamp(min=1) if num_items_in_batch is None else num_items_in_batch
    loss = torch.nn.functional.cross_entropy(logits, targets, reduction="sum") / n_items
    with torch.no_grad():
        log_p = logits.log_softmax(-1)
        n = max(1, targets.numel())
        metrics = trainer._metrics["train" if model.training else "eval"]
        metrics["entropy"].append(-(log_p.exp() * log_p).sum(-1).sum().item() / n)
        metrics["mean_token_accuracy"].append((logits.argmax(-1) == targets).sum().item() / n)
    if model.training:
        trainer._total_train_tokens += int(inputs["attention_mask"].sum().item())
        metrics["num_tokens"] = [trainer._total_train_tokens]
    return loss


def load_policy(base: str, cfg: SFTParams):
    if cfg.method == "qlora":
        check_qlora()
    kwargs: dict = {"dtype": weights_dtype(cfg.precision), **check_attention(cfg.attn_implementation)}
    if cfg.method == "qlora":
        from transformers import BitsAndBytesConfig

        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=torch.bfloat16)
    torch.manual_seed(cfg.seed)
    return AutoTokenizer.from_pretrained(base), AutoModelForCausalLM.from_pretrained(base, **kwargs)


def lora_config(cfg: SFTParams) -> LoraConfig | None:
    if cfg.method == "full":
        return None
    return LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout,
                      target_modules=cfg.target_modules, modules_to_save=cfg.modules_to_save or None,
                      task_type="CAUSAL_LM")


def build_trainer(cfg: SFTParams, dataset: Dataset, base: str, work_dir: str | Path,
                  live_dir: str | Path | None = None, resume: bool = False) -> SFTTrainer:
    tokenizer, model = load_policy(base, cfg)
    args = SFTConfig(
        output_dir=str(work_dir), num_train_epochs=cfg.epochs, max_steps=cfg.max_steps,
        per_device_train_batch_size=cfg.batch_size, gradient_accumulation_steps=cfg.grad_accum,
        learning_rate=cfg.learning_rate, lr_scheduler_type=cfg.lr_scheduler, warmup_steps=cfg.warmup_ratio,
        max_length=cfg.max_length, seed=cfg.seed, data_seed=cfg.seed, logging_steps=10,
        save_strategy="steps" if cfg.save_steps > 0 else "no", save_steps=max(1, cfg.save_steps), save_total_limit=1,
        report_to="none", dataloader_num_workers=0, completion_only_loss=True, packing=cfg.packing,
        train_sampling_strategy="random" if cfg.sampling == "by_kind" else cfg.sampling,
        ddp_find_unused_parameters=False, **device_kwargs(cfg.precision, cfg.gradient_checkpointing))
    callbacks = [live_callback(live_dir, resume=resume)] if live_dir else []
    trainer = SQLSFTTrainer(model=model, args=args, train_dataset=dataset, processing_class=tokenizer,
                            peft_config=lora_config(cfg), callbacks=callbacks)
    trainer.sampling = cfg.sampling
    return trainer
