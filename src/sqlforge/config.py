"""Typed view of params.yaml.

params.yaml is the one source of every default: the classes here declare each
field's type, allowed values and range, never a default, so a value can only
come from params.yaml (with `dvc exp run -S`, a profile or a test's overrides
merged on top). Loading is strict: a missing or unknown key, a value of the
wrong type, out of range or not among the allowed values, and a key written
twice all stop with one line that names the file and the key.

Validation is pydantic's; `load_params` turns its errors into that one line.
"""

from __future__ import annotations

import copy
import re
import typing
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import AfterValidator, AllowInfNan, ConfigDict, Field, Strict, TypeAdapter, ValidationError
from pydantic.dataclasses import dataclass

from sqlforge.io import InputError

# Scalars are strict (no "3" for 3, no true for 1); an int is accepted where a float is declared.
Int = Annotated[int, Strict()]
Float = Annotated[float, Strict(), AllowInfNan(False)]  # finite in every class, whatever its config
Str = Annotated[str, Strict()]
Bool = Annotated[bool, Strict()]


def _unique(values: list) -> list:
    if len(set(values)) != len(values):
        raise ValueError("each value at most once")
    return values


def _all_or_positive(value: int) -> int:
    if value != -1 and value < 1:
        raise ValueError("must be -1 (no limit) or >= 1")
    return value


Seed = Annotated[Int, Field(ge=0)]
Positive = Annotated[Int, Field(ge=1)]
NonNegative = Annotated[Int, Field(ge=0)]
Limit = Annotated[Int, AfterValidator(_all_or_positive)]  # -1 = all / no limit
Seconds = Annotated[Float, Field(gt=0)]
Fraction = Annotated[Float, Field(ge=0, le=1)]
Temperature = Annotated[Float, Field(gt=0, le=10)]
TopP = Annotated[Float, Field(gt=0, le=1)]
LearningRate = Annotated[Float, Field(gt=0, le=10)]
Dropout = Annotated[Float, Field(ge=0, lt=1)]
Epochs = Annotated[Float, Field(gt=0)]

_STRICT = ConfigDict(extra="forbid", allow_inf_nan=False)


@dataclass(config=_STRICT)
class DemoData:
    seed: Seed
    train_questions: Positive
    dev_questions: Positive
    layout: Literal["in_domain", "cross_database"]
    train_databases: Positive  # cross_database: dev's databases are others, never in train
    dev_databases: Positive


@dataclass(config=_STRICT)
class DataConfig:
    dataset: Literal["demo", "spider", "bird"]
    source: Str  # real datasets: folder, zip file or URL holding the official layout
    sha256: Annotated[Str, Field(pattern=r"^([0-9a-f]{64})?$")]  # pinned hash of the source; "" = report it
    dev_split: Literal["dev", "spider-dk", "spider-syn", "spider-realistic", "mini-dev"]  # Spider variants; BIRD mini-dev
    skip_missing_databases: Bool  # true: questions whose database is missing are left out (counted, printed)
    max_uncompressed_bytes: Positive  # an archive (zip) expanding past this is refused before extraction
    demo: DemoData


@dataclass(config=_STRICT)
class TinyModel:
    seed: Seed
    vocab_size: Annotated[Int, Field(ge=300)]  # byte-level BPE: 256 bytes + special tokens at least
    hidden_size: Positive
    num_layers: Positive
    num_heads: Positive
    num_kv_heads: Positive
    intermediate_size: Positive
    max_position_embeddings: Annotated[Int, Field(ge=64)]


@dataclass(config=_STRICT)
class ModelConfig:
    base: Annotated[Str, Field(min_length=1)]  # "demo" builds the tiny model; otherwise a local path or hub id
    tiny: TinyModel


@dataclass(config=_STRICT)
class EngineConfig:
    backend: Literal["transformers", "vllm"]
    batch_size: Positive
    dtype: Literal["auto", "float32", "bfloat16", "float16"]
    max_new_tokens: Positive  # the generation budget of every stage whose own max_new_tokens is 0, and of ask
    tensor_parallel_size: Positive
    gpu_memory_utilization: Annotated[Float, Field(gt=0, le=1)]
    prefix_cache_tokens: NonNegative  # transformers backend: prompt-prefix KV kept across calls; 0 = off
    lora_adapter: Str  # "" = the stage's merged model; else a LoRA adapter folder served on its base
    data_parallel: Literal["none", "ray"]  # ray: the backend in ray_workers Ray actors, prompts split (ray_pool)
    ray_workers: NonNegative  # 0 = one per GPU of the Ray cluster (tensor_parallel_size GPUs each)
    ray_address: Str  # "" = RAY_ADDRESS or a new local cluster; else a cluster address ("auto", "host:6379")

    def budget(self, stage_max_new_tokens: int) -> int:
        """A stage's generation budget: its own max_new_tokens, or this section's when that is 0 (a reasoning
        model needs room for a rationale in candidates and rl, a clause search or a separate tree writer less)."""
        return stage_max_new_tokens or self.max_new_tokens


@dataclass(config=_STRICT)
class PSGConfig:
    mode: Literal["none", "random", "hard", "all_prefixes"]
    ratio: Fraction
    min_tables: Positive
    hard_rule: Literal["original", "extended"]  # original (SQL-o1): prediction fails, reads 0 or min_tables+ tables
    clauses: Literal["nested", "top_level"]  # nested (SQL-o1): subquery keywords are cut points too
    keep_plain: Bool  # random, all_prefixes: false: a cut example replaces the plain one (SQL-o1); true: beside it
    hard_mix: Literal["add", "replace"]  # hard: add (SQL-o1's psg file beside the plain data) | replace
    max_new_tokens: NonNegative  # hard: the base model's budget for its predictions; 0 = engine.max_new_tokens


@dataclass(config=_STRICT)
class RationaleConfig:
    """preprocess.reasoning: teacher. Rationales sampled from a teacher, kept only when their SQL runs to the
    gold's result."""
    teacher: Annotated[Str, Field(min_length=1)]  # "base" = the stage's base model; else a local folder or hub id
    samples: Positive  # rationales sampled per train question
    temperature: Annotated[Float, Field(ge=0, le=10)]  # 0 = greedy (the llama-cookbook recipe: one reply)
    max_new_tokens: Positive  # the teacher's generation budget (rationale and SQL)
    keep: Literal["first", "vote"]  # first correct sample | vote (OmniSQL): majority result, kept if the gold's
    seed: Seed


@dataclass(config=_STRICT)
class PreprocessConfig:
    seed: Seed
    sample_values: NonNegative
    descriptions: Bool  # BIRD database_description/*.csv in the schema text
    max_schema_tokens: Annotated[Int, Field(ge=16)]
    gold_timeout_s: Seconds  # train gold SQL slower than this (or failing) is dropped
    workers: Positive  # sandbox processes running gold SQL
    revision_ratio: Fraction  # share of train questions that also get a revision example
    # SFT targets: bare gold SQL (none), a rationale from the gold SQL's clauses then the SQL (templated), or
    # a teacher's rationale whose SQL runs to the gold's result (teacher, `rationale`)
    reasoning: Literal["none", "templated", "teacher"]
    rationale: RationaleConfig
    psg: PSGConfig


LR_SCHEDULERS = ("linear", "cosine", "cosine_with_restarts", "polynomial", "constant", "constant_with_warmup",
                 "inverse_sqrt", "cosine_with_min_lr", "warmup_stable_decay")


@dataclass(config=_STRICT)
class ClusterConfig:
    """The machines a launched training stage (sft, train-rm, rl) runs on; each machine sets its own rank."""
    num_machines: Positive
    machine_rank: NonNegative  # this machine's; 0 is the rendezvous and writes the outputs
    main_process_ip: Str  # machine 0's address ("" only for one machine)
    main_process_port: Annotated[Int, Field(ge=0, le=65535)]  # 0 = a free local port (one machine only)


@dataclass(config=_STRICT)
class SFTConfig:
    seed: Seed
    method: Literal["lora", "qlora", "full"]
    epochs: Epochs
    max_steps: Limit  # -1 = run `epochs`
    learning_rate: LearningRate
    lr_scheduler: Literal[LR_SCHEDULERS]  # transformers' scheduler names
    warmup_ratio: Annotated[Float, Field(ge=0, lt=1)]
    batch_size: Positive
    grad_accum: Positive
    max_length: Annotated[Int, Field(ge=16)]
    lora_r: Positive
    lora_alpha: Positive
    lora_dropout: Dropout
    target_modules: Annotated[Str, Field(min_length=1)]
    modules_to_save: list[Str]
    max_examples: Limit
    save_steps: NonNegative  # checkpoint every N steps so a killed run resumes; 0 = never
    packing: Bool  # pack several short examples into one max_length row (trl)
    sampling: Literal["random", "by_kind", "group_by_length"]  # by_kind: revision examples batched together
    precision: Literal["auto", "fp32", "bf16", "fp16"]  # auto: bf16 on a GPU that has it, else fp32
    gradient_checkpointing: Literal["auto", "on", "off"]  # auto: on for GPU
    attn_implementation: Literal["auto", "eager", "sdpa", "flash_attention_2"]
    launcher: Literal["none", "ddp", "deepspeed_zero2", "deepspeed_zero3"]  # accelerate launch
    num_processes: Positive  # processes (GPUs) per machine for the launcher (machines: the cluster section)


@dataclass(config=_STRICT)
class TimeoutConfig:
    gold: Seconds  # a gold's own run, whose time the prediction timeout is derived from
    t_min: Seconds
    k: Annotated[Float, Field(ge=0)]
    c: Annotated[Float, Field(ge=0)]


@dataclass(config=_STRICT)
class TreeConfig:
    seed: Seed
    shards: Annotated[list[NonNegative], Field(min_length=1)]  # [0, 1, ..., n-1]
    branching: Positive
    max_depth: Positive  # generation levels (ReSQLver's max_depth): wrong nodes of the last level are not revised
    temperature: Temperature
    top_p: TopP
    max_questions: Limit
    timeout: TimeoutConfig
    # "policy" = the merged SFT policy (tree-build's --model); else a model folder or hub id (ReSQLver: a separate
    # instruct model, Qwen/Qwen2.5-Coder-3B-Instruct in its tree/run.sh)
    generator: Annotated[Str, Field(min_length=1)]
    max_new_tokens: NonNegative  # this stage's generation budget; 0 = engine.max_new_tokens


@dataclass(config=_STRICT)
class PairsConfig:
    seed: Seed
    # emerge, baseline: ReSQLver's tree pairs; execution: right against wrong samples of the policy (policy-samples)
    kinds: Annotated[list[Literal["emerge", "baseline", "execution"]], Field(min_length=1)]
    execution_per_question: Positive  # execution pairs per question at most
    test_fraction: Annotated[Float, Field(ge=0, lt=1)]
    keep_failed_siblings: Bool  # true: unreachable siblings of kept nodes join the pairs (not ReSQLver)


@dataclass(config=_STRICT)
class RMConfig:
    seed: Seed
    base: Annotated[Str, Field(min_length=1)]  # "sft" = the merged SFT model; otherwise a path or hub id
    epochs: Epochs
    max_steps: Limit
    learning_rate: LearningRate
    batch_size: Positive
    grad_accum: Positive  # gradient accumulation steps (ReSQLver: 2)
    weight_decay: Annotated[Float, Field(ge=0, lt=1)]
    max_length: Annotated[Int, Field(ge=16)]  # trl drops longer pairs; train-rm reports how many
    lora_r: Positive
    lora_alpha: Positive
    lora_dropout: Dropout
    center_rewards_coefficient: Annotated[Float, Field(ge=0)]
    margin_scale: Annotated[Float, Field(ge=0)]  # > 0: Bradley-Terry margin = scale * distance gap
    launcher: Literal["none", "ddp", "deepspeed_zero2", "deepspeed_zero3"]  # accelerate launch, as sft's
    num_processes: Positive  # processes (GPUs) per machine under the launcher


@dataclass(config=_STRICT)
class MCTSConfig:
    seed: Seed
    iterations: Positive
    expand_n: Positive
    top_k: Positive
    alpha: Fraction
    w_exp: Annotated[Float, Field(ge=0)]
    max_depth: Positive
    expansion: Literal["samples", "greedy_plus_samples"]  # samples: closest to SQL-o1's sampled beam search
    temperature: Temperature
    top_p: TopP
    clauses: Literal["nested", "top_level"]  # nested (SQL-o1): subquery clauses are actions too
    drop_truncated: Bool  # drop completions the token limit cut off (SQL-o1 keeps only SQL that ends)
    prompt: Literal["psg", "continuation"]  # psg: prefix also in the "incomplete SQL" slot (SQL-o1)
    selector: Literal["best_path", "best_path_or_reward", "best_reward", "most_visited", "vote", "reward_model"]
    max_questions: Limit
    timeout_s: Seconds
    rm_weight: Annotated[Float, Field(ge=0)]  # terminal reward += rm_weight * reward-model score
    exec_weight: Annotated[Float, Field(ge=0)]  # terminal reward += exec_weight if the SQL returns rows
    max_new_tokens: NonNegative  # an expansion's budget (and a reasoning model's rationale's); 0 = engine.max_new_tokens


@dataclass(config=_STRICT)
class CandidatesConfig:
    seed: Seed
    n: Positive  # sampled SQLs per question, besides the greedy one
    temperature: Temperature
    top_p: TopP
    max_questions: Limit
    max_new_tokens: NonNegative  # this stage's generation budget; 0 = engine.max_new_tokens


@dataclass(config=_STRICT)
class SamplesConfig:
    seed: Seed
    n: Positive  # sampled SQLs per train question
    temperature: Temperature
    top_p: TopP
    max_questions: Limit  # the first train questions in a seeded shuffle
    timeout_s: Seconds
    max_new_tokens: NonNegative  # this stage's generation budget; 0 = engine.max_new_tokens


@dataclass(config=_STRICT)
class RewardWeights:
    correct: Float  # the gold's result
    runs: Float     # executes without error, wrong result
    fails: Float    # error, timeout, refused write, empty


@dataclass(config=_STRICT)
class RLConfig:
    method: Literal["none", "grpo", "dpo"]
    seed: Seed
    max_steps: Positive
    learning_rate: LearningRate
    prompts_per_step: Positive  # grpo: questions per optimizer step (each with group_size rollouts); dpo: pairs
    drop_uniform_groups: Bool  # grpo: train only on questions whose policy samples were neither all right nor all wrong
    group_size: Annotated[Int, Field(ge=2)]
    temperature: Temperature
    top_p: TopP
    beta: Annotated[Float, Field(ge=0)]  # grpo: KL coefficient
    dpo_beta: Annotated[Float, Field(gt=0)]
    dpo_sft_weight: Annotated[Float, Field(ge=0)]  # dpo: + weight x the chosen SQL's NLL (0 = plain DPO, ExCoT)
    epsilon: Annotated[Float, Field(gt=0, lt=1)]  # grpo: PPO-style clip range
    reward: RewardWeights
    timeout_s: Seconds  # a rollout's SQL
    workers: Positive  # sandbox processes judging rollouts
    pairs_per_question: Positive  # dpo
    lora_r: Positive
    lora_alpha: Positive
    lora_dropout: Dropout
    use_vllm: Bool  # grpo rollouts through trl's vLLM integration (GPU profiles); false: trl's own generation
    max_new_tokens: NonNegative  # a rollout's budget and the dev greedy's; 0 = engine.max_new_tokens
    # accelerate launch as sft's; no ZeRO-3: rank 0 merges the adapter into its own full copy of the weights
    launcher: Literal["none", "ddp", "deepspeed_zero2"]
    num_processes: Positive  # processes (GPUs) per machine under the launcher; prompts_per_step is per process


@dataclass(config=_STRICT)
class ValidateConfig:
    rules: Literal["auto", "spider", "bird"]
    timeout_s: Seconds
    max_questions: Limit
    keep_distinct: Bool  # Spider test-suite flag --keep_distinct
    plug_value: Bool  # Spider test-suite flag --plug_value: gold values plugged into the prediction (Spider only)
    compare_budget_s: Seconds  # one result comparison past this is scored wrong and counted (compare_budget)
    workers: Positive  # sandbox worker processes executing queries in parallel
    bootstrap_resamples: Annotated[Int, Field(ge=100, le=1_000_000)]  # paired bootstrap draws (vs_greedy, compare)
    bootstrap_seed: Seed
    # under BIRD rules, besides EX: mini-dev Soft-F1, the original VES, mini-dev R-VES (docs/evaluation.md)
    bird_metrics: Annotated[list[Literal["f1", "ves", "rves"]], AfterValidator(_unique)]
    ves_runs: Annotated[Int, Field(ge=1, le=10000)]  # timed runs of each right pair (official VES: 100)
    rves_runs: Annotated[Int, Field(ge=1, le=10000)]  # (official R-VES: 100)
    outlier_sigmas: Annotated[Float, Field(gt=0)]  # time ratios beyond mean +- this many std dropped (3)
    timing_workers: Annotated[Int, Field(ge=1, le=256)]  # sandbox workers timing pairs, one query at a time each
    rm_logprob_weight: Annotated[Float, Field(ge=0)]  # best_of_n_rm_logprob: reward-model score + weight * policy log-prob


@dataclass(config=_STRICT)
class SandboxConfig:
    """Bounds of every query the sandbox runs (docs/sandbox.md). Predictions get the first four;
    golds are trusted (the official evaluators compare full results) but still bounded by the gold_* ones."""
    timeout_s: Seconds  # `sqlforge ask`: a query's time (stages and `evaluate` set theirs: tree, mcts, validate)
    memory_mb: Annotated[Int, Field(ge=64, le=65536)]  # worker address space (RLIMIT_AS)
    max_rows: Positive
    max_cells: Positive
    max_result_mb: Annotated[Int, Field(ge=1, le=65536)]  # result cost: Python objects counted, not characters
    cache_mb: Annotated[Int, Field(ge=0, le=65536)]  # in-process result cache (LRU by the same cost)
    gold_memory_mb: Annotated[Int, Field(ge=64, le=65536)]
    gold_max_rows: Positive  # also the row cap of a prediction being judged (the official scripts read all)
    gold_max_cells: Positive
    gold_max_result_mb: Annotated[Int, Field(ge=1, le=65536)]


@dataclass(config=_STRICT)
class Params:
    data: DataConfig
    model: ModelConfig
    engine: EngineConfig
    preprocess: PreprocessConfig
    sft: SFTConfig
    candidates: CandidatesConfig
    samples: SamplesConfig
    rl: RLConfig
    tree: TreeConfig
    pairs: PairsConfig
    rm: RMConfig
    mcts: MCTSConfig
    validate: ValidateConfig
    sandbox: SandboxConfig
    cluster: ClusterConfig


_PARAMS = TypeAdapter(Params)


def _describe(error: dict) -> str:
    key = ".".join(str(part) for part in error["loc"])
    if error["type"] == "missing":
        return f"missing key '{key}'"
    if error["type"] in ("unexpected_keyword_argument", "extra_forbidden"):
        return f"unknown key '{key}'"
    message = error["msg"].removeprefix("Value error, ")
    return f"'{key}': {message[:1].lower() + message[1:]}, got {error['input']!r}"


def _cross_checks(params: Params) -> str | None:
    shards = params.tree.shards
    if shards != list(range(len(shards))):
        return f"'tree.shards' must be [0, 1, ..., n-1], got {shards}"
    tiny = params.model.tiny
    if tiny.num_heads % tiny.num_kv_heads:  # grouped-query attention shares each KV head among whole groups
        return f"'model.tiny.num_heads' ({tiny.num_heads}) must be a multiple of num_kv_heads ({tiny.num_kv_heads})"
    return None


def params_from_dict(data: dict, source: str = "params") -> Params:
    """Validate a complete params mapping; the first problem becomes one InputError line."""
    try:
        params = _PARAMS.validate_python(data)
    except ValidationError as e:
        raise InputError(f"{source}: {_describe(e.errors()[0])}") from None
    problem = _cross_checks(params)
    if problem:
        raise InputError(f"{source}: {problem}")
    return params


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader with two fixes: a key written twice is an error (PyYAML keeps the last one
    silently), and 1e-3 is a float as in YAML 1.2 (YAML 1.1 needs a dot: 1.0e-3)."""


def _mapping(loader: _Loader, node: yaml.MappingNode) -> dict:
    seen = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if key in seen:
            raise yaml.constructor.ConstructorError(None, None, f"key '{key}' appears twice", key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node)


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"))


def load_yaml_mapping(path: str | Path) -> dict:
    path = Path(path)
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader)
    except FileNotFoundError:
        raise InputError(f"{path}: file not found") from None
    except yaml.YAMLError as e:
        raise InputError(f"{path}: invalid YAML: {' '.join(str(e).split())}") from None
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected a mapping at the top level")
    return data


def deep_merge(base: dict, override: dict) -> dict:
    """`override` on top of `base`, section by section (profiles, tests and `ask` overrides)."""
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def load_params(path: str | Path = "params.yaml", overrides: dict | None = None) -> Params:
    """The params file (complete: params.yaml is where defaults live), with optional overrides on top."""
    data = load_yaml_mapping(path)
    source = str(path)
    if overrides:
        data, source = deep_merge(data, overrides), f"{path} + overrides"
    return params_from_dict(data, source)



def choices(section: type, name: str) -> tuple:
    """The allowed values of a Literal field, read from its one declaration (e.g. every MCTS selector)."""
    return typing.get_args(typing.get_type_hints(section)[name])
