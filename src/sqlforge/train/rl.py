"""The rl stage's trainers: trl's GRPOTrainer (execution reward, Arctic-Text2SQL-R1) and DPOTrainer
(execution-verified pairs of the policy's own samples, ExCoT), both with LoRA on the merged SFT policy."""

from __future__ import annotations

from pathlib import Path

import torch
from datasets import Dataset
from peft import LoraConfig

from sqlforge.config import EngineConfig, RLConfig
from sqlforge.train.common import device_kwargs, live_callback


def rl_lora(cfg: RLConfig) -> LoraConfig:
    return LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout,
                      target_modules="all-linear", task_type="CAUSAL_LM")


def _common_args(cfg: RLConfig, work_dir: str | Path, save_steps: int) -> dict:
    return dict(output_dir=str(work_dir), max_steps=cfg.max_steps, learning_rate=cfg.learning_rate,
                lr_scheduler_type="constant", seed=cfg.seed, data_seed=cfg.seed, logging_steps=5,
                save_strategy="steps" if save_steps > 0 else "no", save_steps=max(1, save_steps), save_total_limit=1,
                report_to="none", dataloader_num_workers=0, **device_kwargs())


def grpo_args(cfg: RLConfig, engine: EngineConfig, work_dir: str | Path, save_steps: int = 0):
    """GRPOConfig of the rl params: each step takes `prompts_per_step` questions with `group_size` rollouts
    each (in each process under a launcher); with use_vllm, trl generates them through vLLM in each training
    process (colocate, no server to start). A rollout's budget is rl.max_new_tokens (0: the engine's)."""
    from trl import GRPOConfig

    return GRPOConfig(**_common_args(cfg, work_dir, save_steps),
                      per_device_train_batch_size=cfg.prompts_per_step * cfg.group_size,
                      num_generations=cfg.group_size, max_completion_length=engine.budget(cfg.max_new_tokens),
                      temperature=cfg.temperature, top_p=cfg.top_p, beta=cfg.beta, epsilon=cfg.epsilon,
                      use_vllm=cfg.use_vllm, vllm_mode="colocate", shuffle_dataset=True)


def build_grpo_trainer(cfg: RLConfig, dataset: Dataset, policy: str, reward_fn, engine: EngineConfig,
                       work_dir: str | Path, live_dir: str | Path | None = None, resume: bool = False,
                       save_steps: int = 0):
    """GRPO on conversational prompts (`prompt`, plus the `question_id` column the reward reads)."""
    from trl import GRPOTrainer

    args = grpo_args(cfg, engine, work_dir, save_steps)
    torch.manual_seed(cfg.seed)
    callbacks = [live_callback(live_dir, resume=resume)] if live_dir else []
    return GRPOTrainer(model=policy, reward_funcs=reward_fn, args=args, train_dataset=dataset,
                       peft_config=rl_lora(cfg), callbacks=callbacks)


def build_dpo_trainer(cfg: RLConfig, dataset: Dataset, policy: str, work_dir: str | Path,
                      live_dir: str | Path | None = None, resume: bool = False, save_steps: int = 0):
    """DPO on conversational preference pairs (`prompt`, `chosen`, `rejected`); the reference is the
    policy itself (the adapter switched off), as trl does for a peft model."""
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import DPOConfig, DPOTrainer

    # dpo_sft_weight > 0 adds the chosen SQL's own NLL (trl's "sft" loss, as RPO): plain DPO can lower the
    # likelihood of both sides together, the end of the SQL included, and the policy stops ending its queries
    losses = {"loss_type": ["sigmoid", "sft"], "loss_weights": [1.0, cfg.dpo_sft_weight]} if cfg.dpo_sft_weight > 0 \
        else {"loss_type": ["sigmoid"]}
    args = DPOConfig(**_common_args(cfg, work_dir, save_steps), per_device_train_batch_size=cfg.prompts_per_step,
                     beta=cfg.dpo_beta, max_length=4096, **losses)
    torch.manual_seed(cfg.seed)
    model = AutoModelForCausalLM.from_pretrained(policy, dtype="auto")
    callbacks = [live_callback(live_dir, resume=resume)] if live_dir else []
    return DPOTrainer(model=model, args=args, train_dataset=dataset,
                      processing_class=AutoTokenizer.from_pretrained(policy), peft_config=rl_lora(cfg),
                      callbacks=callbacks)
