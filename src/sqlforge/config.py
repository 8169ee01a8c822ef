"""Typed view of params.yaml.

Each pipeline stage reads its own section. Loading is strict: an unknown key
or a value of the wrong type is an error that names the key, so a typo in a
recipe fails before any work is done.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from sqlforge.io import InputError


@dataclass
class DemoData:
    seed: int = 0
    train_questions: int = 2400
    dev_questions: int = 360


@dataclass
class DataConfig:
    dataset: str = "demo"  # demo | spider | bird
    source: str = ""  # real datasets: folder, zip file or URL holding the official layout
    sha256: str = ""  # pinned hash of the source (zip/download bytes, or folder tree); "" = report it
    dev_split: str = "dev"  # dev | spider-dk | spider-syn | spider-realistic (Spider variants)
    demo: DemoData = field(default_factory=DemoData)


@dataclass
class TinyModel:
    seed: int = 0
    vocab_size: int = 4096
    hidden_size: int = 192
    num_layers: int = 4
    num_heads: int = 6
    num_kv_heads: int = 2
    intermediate_size: int = 512
    max_position_embeddings: int = 2048


@dataclass
class ModelConfig:
    base: str = "demo"  # "demo" builds the tiny model; otherwise a local path or hub id
    tiny: TinyModel = field(default_factory=TinyModel)


@dataclass
class EngineConfig:
    backend: str = "transformers"  # transformers | vllm
    batch_size: int = 64
    dtype: str = "auto"  # auto | float32 | bfloat16 | float16
    max_new_tokens: int = 128
    tensor_parallel_size: int = 1
    gpu_memory_utilization: float = 0.85
    # transformers backend: prompt-prefix KV kept across calls (tokens; 0 = off). vLLM caches prefixes itself
    prefix_cache_tokens: int = 65536
    # "" = the stage's merged model; else a LoRA adapter folder (e.g. models/sft) served on its base
    lora_adapter: str = ""


@dataclass
class PSGConfig:
    mode: str = "random"  # none | random | hard | all_prefixes
    ratio: float = 0.2
    min_tables: int = 3
    hard_rule: str = "original"  # original (SQL-o1: prediction fails or reads min_tables+ tables) | extended
    clauses: str = "nested"  # nested (SQL-o1: subquery keywords cut too) | top_level
    keep_plain: bool = False  # False: a cut example replaces the plain one (SQL-o1); True: added beside it


@dataclass
class PreprocessConfig:
    seed: int = 0
    sample_values: int = 2
    descriptions: bool = True  # BIRD database_description/*.csv in the schema text
    max_schema_tokens: int = 1024
    gold_timeout_s: float = 30.0  # train gold SQL slower than this (or failing) is dropped
    workers: int = 2  # sandbox processes running gold SQL
    revision_ratio: float = 0.0  # share of train questions that also get a revision example (wrong SQL -> gold)
    psg: PSGConfig = field(default_factory=PSGConfig)


@dataclass
class SFTConfig:
    seed: int = 0
    method: str = "lora"  # lora | qlora | full
    epochs: float = 6.0
    max_steps: int = -1
    learning_rate: float = 2e-3
    lr_scheduler: str = "cosine"
    warmup_ratio: float = 0.03
    batch_size: int = 32
    grad_accum: int = 1
    max_length: int = 1024
    lora_r: int = 64
    lora_alpha: int = 128
    lora_dropout: float = 0.0
    target_modules: str = "all-linear"
    modules_to_save: list[str] = field(default_factory=lambda: ["embed_tokens", "lm_head"])
    max_examples: int = -1
    save_steps: int = 200  # checkpoint every N steps so a killed run resumes; 0 = never
    packing: bool = False  # pack several short examples into one max_length row (trl)
    sampling: str = "random"  # random | by_kind (revision examples batched together) | group_by_length
    precision: str = "auto"  # auto (bf16 on a GPU that has it, else fp32) | fp32 | bf16 | fp16
    gradient_checkpointing: str = "auto"  # auto (on for GPU) | on | off
    attn_implementation: str = "auto"  # auto (transformers' default) | eager | sdpa | flash_attention_2
    launcher: str = "none"  # none | ddp | deepspeed_zero2 | deepspeed_zero3 (accelerate launch)
    num_processes: int = 1  # processes (GPUs) for the launcher


@dataclass
class TimeoutConfig:
    t_min: float = 2.0
    k: float = 1.2
    c: float = 1.0


@dataclass
class TreeConfig:
    seed: int = 0
    shards: list[int] = field(default_factory=lambda: [0, 1])
    branching: int = 2
    max_depth: int = 3  # generation levels (ReSQLver's max_depth): wrong nodes of the last level are not revised
    temperature: float = 0.7
    top_p: float = 1.0
    max_questions: int = 600
    timeout: TimeoutConfig = field(default_factory=TimeoutConfig)


@dataclass
class PairsConfig:
    seed: int = 0
    kinds: list[str] = field(default_factory=lambda: ["emerge", "baseline"])
    test_fraction: float = 0.2
    keep_failed_siblings: bool = False  # True: unreachable siblings of kept nodes join the pairs (not ReSQLver)


@dataclass
class RMConfig:
    seed: int = 0
    base: str = "sft"  # "sft" = the merged SFT model; otherwise a path or hub id
    epochs: float = 2.0
    max_steps: int = -1
    learning_rate: float = 1e-3
    batch_size: int = 16
    grad_accum: int = 1  # gradient accumulation steps (ReSQLver: 2)
    weight_decay: float = 0.01
    max_length: int = 4096  # trl drops longer pairs; train-rm reports how many
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    center_rewards_coefficient: float = 0.01
    margin_scale: float = 0.0  # > 0: Bradley-Terry margin = scale * (rejected - chosen revision distance)


@dataclass
class MCTSConfig:
    seed: int = 0
    iterations: int = 8
    expand_n: int = 3
    top_k: int = 3
    alpha: float = 0.4
    w_exp: float = 100.0
    max_depth: int = 20
    expansion: str = "samples"  # samples (expand_n samples: closest to SQL-o1's sampled beams) | greedy_plus_samples
    temperature: float = 0.9
    top_p: float = 0.7
    clauses: str = "nested"  # nested (SQL-o1: subquery clauses are actions too) | top_level
    drop_truncated: bool = True  # drop completions the token limit cut off (SQL-o1 keeps only SQL that ends)
    prompt: str = "psg"  # psg: prefix also in the "incomplete SQL" slot (SQL-o1) | continuation: reply only
    selector: str = "best_path"  # best_path | best_reward | most_visited | vote | reward_model
    max_questions: int = -1
    timeout_s: float = 10.0
    rm_weight: float = 0.0  # terminal reward += rm_weight * reward-model score (0 = SQL-o1's self-reward only)
    exec_weight: float = 0.0  # terminal reward += exec_weight if the SQL runs and returns rows


@dataclass
class CandidatesConfig:
    seed: int = 0
    n: int = 8  # sampled SQLs per question, besides the greedy one
    temperature: float = 0.8
    top_p: float = 0.95
    max_questions: int = -1


@dataclass
class ValidateConfig:
    rules: str = "auto"  # auto | spider | bird
    timeout_s: float = 60.0
    max_questions: int = -1
    keep_distinct: bool = False  # Spider test-suite flag --keep_distinct
    workers: int = 2  # sandbox worker processes executing queries in parallel


@dataclass
class Params:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    engine: EngineConfig = field(default_factory=EngineConfig)
    preprocess: PreprocessConfig = field(default_factory=PreprocessConfig)
    sft: SFTConfig = field(default_factory=SFTConfig)
    candidates: CandidatesConfig = field(default_factory=CandidatesConfig)
    tree: TreeConfig = field(default_factory=TreeConfig)
    pairs: PairsConfig = field(default_factory=PairsConfig)
    rm: RMConfig = field(default_factory=RMConfig)
    mcts: MCTSConfig = field(default_factory=MCTSConfig)
    validate: ValidateConfig = field(default_factory=ValidateConfig)


CHOICES = {
    "data.dataset": {"demo", "spider", "bird"},
    "data.dev_split": {"dev", "spider-dk", "spider-syn", "spider-realistic"},
    "engine.backend": {"transformers", "vllm"},
    "engine.dtype": {"auto", "float32", "bfloat16", "float16"},
    "preprocess.psg.mode": {"none", "random", "hard", "all_prefixes"},
    "preprocess.psg.hard_rule": {"original", "extended"},
    "preprocess.psg.clauses": {"nested", "top_level"},
    "sft.method": {"lora", "qlora", "full"},
    "sft.precision": {"auto", "fp32", "bf16", "fp16"},
    "sft.sampling": {"random", "by_kind", "group_by_length"},
    "sft.gradient_checkpointing": {"auto", "on", "off"},
    "sft.attn_implementation": {"auto", "eager", "sdpa", "flash_attention_2"},
    "sft.launcher": {"none", "ddp", "deepspeed_zero2", "deepspeed_zero3"},
    "mcts.selector": {"best_path", "best_reward", "most_visited", "vote", "reward_model"},
    "mcts.expansion": {"samples", "greedy_plus_samples"},
    "mcts.clauses": {"nested", "top_level"},
    "mcts.prompt": {"psg", "continuation"},
    "validate.rules": {"auto", "spider", "bird"},
}


def _check_type(value: Any, tp: Any, key: str, source: str) -> Any:
    origin = typing.get_origin(tp)
    if origin is list:
        (item_tp,) = typing.get_args(tp)
        if not isinstance(value, list):
            raise InputError(f"{source}: '{key}' must be a list, got {type(value).__name__}")
        return [_check_type(v, item_tp, f"{key}[{i}]", source) for i, v in enumerate(value)]
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise InputError(f"{source}: '{key}' must be a mapping, got {type(value).__name__}")
        return _build(tp, value, key, source)
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if tp in (int, float, str, bool) and (type(value) is not tp):
        raise InputError(f"{source}: '{key}' must be {tp.__name__}, got {type(value).__name__} {value!r}")
    allowed = CHOICES.get(key)
    if allowed is not None and value not in allowed:
        raise InputError(f"{source}: '{key}' must be one of {sorted(allowed)}, got {value!r}")
    return value


def _build(cls: type, data: dict, prefix: str, source: str) -> Any:
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        where = f"{prefix}." if prefix else ""
        raise InputError(f"{source}: unknown key(s) {', '.join(where + k for k in unknown)}")
    kwargs = {}
    for name, value in data.items():
        key = f"{prefix}.{name}" if prefix else name
        kwargs[name] = _check_type(value, hints[name], key, source)
    return cls(**kwargs)


def params_from_dict(data: dict, source: str = "params") -> Params:
    params = _build(Params, data or {}, "", source)
    shards = params.tree.shards
    if shards != list(range(len(shards))) or not shards:
        raise InputError(f"{source}: 'tree.shards' must be [0, 1, ..., n-1], got {shards}")
    return params


def load_yaml_mapping(path: str | Path) -> dict:
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{path}: file not found") from None
    except yaml.YAMLError as e:
        raise InputError(f"{path}: invalid YAML: {e}") from None
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected a mapping at the top level")
    return data


def load_params(path: str | Path = "params.yaml") -> Params:
    return params_from_dict(load_yaml_mapping(path), str(path))

