#!/usr/bin/env bash
# The GPU check, for whoever holds a CUDA GPU (target: under 10 minutes on one GPU, the install included when
# pip's cache already holds the wheels). Exits non-zero on any failure.
#
#   1. installs requirements-gpu.lock into .venv-gpu (make install-gpu) and checks that torch sees the GPU;
#   2. runs the smoke pipeline (profiles/smoke.yaml) in a scratch copy of the committed HEAD with
#      engine.backend=vllm, bf16 (engine.dtype and sft.precision) and the SFT LoRA adapter served by vLLM
#      (engine.lora_adapter=models/sft; sft.modules_to_save=[] because vLLM serves LoRA matrices only);
#   3. generates greedy SQL for the same dev questions with vLLM and with transformers (same params, same
#      adapter, each in its own process) and prints the share of identical SQL, EX and tokens/s of each
#      (bench/compare_backends.py); fails below GPU_CHECK_MIN_IDENTICAL.
#
# Settings (environment): GPU_CHECK_DIR (scratch folder; default a new one under /tmp), GPU_CHECK_QUESTIONS
# (default 30), GPU_CHECK_MIN_IDENTICAL (default 0.9). Paste the last JSON block and the timings into the README.
set -euo pipefail

REPO="$(cd "$(dirname "$0")/.." && pwd)"
WORK="${GPU_CHECK_DIR:-$(mktemp -d /tmp/sqlforge-gpu-check.XXXXXX)}"
QUESTIONS="${GPU_CHECK_QUESTIONS:-30}"
MIN_IDENTICAL="${GPU_CHECK_MIN_IDENTICAL:-0.9}"
START=$SECONDS

log() { printf '[gpu_check +%4ds] %s\n' "$((SECONDS - START))" "$*"; }
fail() { echo "gpu_check FAILED: $*" >&2; exit 1; }
trap 'echo "gpu_check FAILED at line $LINENO (exit $?)" >&2' ERR

# 0. a GPU
command -v nvidia-smi >/dev/null || fail "nvidia-smi not found: this check needs a CUDA GPU"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
git -C "$REPO" diff --quiet HEAD || log "note: uncommitted changes are not checked (the scratch copy is HEAD)"

# 1. the GPU environment
log "installing requirements-gpu.lock into $REPO/.venv-gpu"
make -C "$REPO" install-gpu
PY="$REPO/.venv-gpu/bin/python"
"$PY" - <<'EOF'
import torch, transformers, vllm
assert torch.cuda.is_available(), "torch sees no CUDA device"
print(f"torch {torch.__version__}, transformers {transformers.__version__}, vllm {vllm.__version__}, "
      f"{torch.cuda.get_device_name(0)}, bf16: {torch.cuda.is_bf16_supported()}")
EOF
INSTALLED=$SECONDS

# 2. the smoke pipeline on vLLM, bf16, served adapter
log "scratch copy of HEAD in $WORK"
mkdir -p "$WORK"
git -C "$REPO" archive --format=tar HEAD | tar -x -C "$WORK"
cd "$WORK"
rm -rf data models metrics dvc.lock
mkdir -p data models metrics
git init -q
git add -A
git -c user.email=gpu-check@localhost -c user.name=gpu-check commit -qm "gpu check: scratch copy"
export PYTHONPATH="$WORK/src" PATH="$REPO/.venv-gpu/bin:$PATH" HF_HUB_OFFLINE=1 VLLM_NO_USAGE_STATS=1 DO_NOT_TRACK=1
OVERRIDES="$(mktemp /tmp/gpu-check-profile.XXXXXX.yaml)"
cat > "$OVERRIDES" <<'EOF'
engine: {backend: vllm, dtype: bfloat16, lora_adapter: models/sft, gpu_memory_utilization: 0.5}
sft: {precision: bf16, modules_to_save: []}
EOF
"$PY" -m sqlforge.profiles profiles/smoke.yaml
"$PY" -m sqlforge.profiles "$OVERRIDES"
log "dvc repro (smoke profile, engine.backend=vllm)"
dvc repro 2>&1 | tee "$WORK/repro.log"
for stage in preprocess candidates "tree-build@0" mcts-explore evaluate-rm validate; do
  grep -qF "Running stage '$stage'" "$WORK/repro.log" || fail "stage $stage did not run"
done
grep -q "engine: transformers instead of engine.backend=vllm" "$WORK/repro.log" \
  || fail "evaluate-rm did not announce its transformers policy engine"
dvc metrics show
PIPELINE=$SECONDS

# 3. vLLM against transformers: same questions, same params and adapter, greedy
log "greedy SQL, $QUESTIONS dev questions, vLLM then transformers"
"$PY" bench/compare_backends.py generate --backend vllm --questions "$QUESTIONS" --out "$WORK/preds-vllm.json"
"$PY" bench/compare_backends.py generate --backend transformers --questions "$QUESTIONS" \
  --out "$WORK/preds-transformers.json"
"$PY" bench/compare_backends.py compare "$WORK/preds-vllm.json" "$WORK/preds-transformers.json" \
  --min-identical "$MIN_IDENTICAL"

log "install $((INSTALLED - START)) s, pipeline $((PIPELINE - INSTALLED)) s, comparison $((SECONDS - PIPELINE)) s"
[ $((SECONDS - START)) -le 600 ] || log "WARNING: took $((SECONDS - START)) s, over the 10-minute target"
log "gpu_check PASSED (scratch copy kept in $WORK)"
