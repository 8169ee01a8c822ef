"""merge: fold the LoRA adapter into the base weights (peft merge_and_unload).

The merged folder is a plain HF model with the tokenizer and chat template
beside it, so every later stage and vLLM load it like any hub model. A
full fine-tune is handed through unchanged.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from transformers import AutoModelForCausalLM, AutoTokenizer

from sqlforge import prompt_settings
from sqlforge.stage_runner import run_stage, summary
from sqlforge.io import atomic_path, write_json


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sft", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--metrics", required=True)
    args = parser.parse_args()
    sft = Path(args.sft)
    is_adapter = (sft / "adapter_config.json").is_file()

    with atomic_path(args.out, is_dir=True) as out:
        if is_adapter:
            from peft import PeftModel

            base_path = (sft / "base_model.txt").read_text().strip()
            base = AutoModelForCausalLM.from_pretrained(base_path, dtype="auto")
            model = PeftModel.from_pretrained(base, sft).merge_and_unload()
            model.save_pretrained(out)
            AutoTokenizer.from_pretrained(sft).save_pretrained(out)
            prompt_settings.copy(sft, out)
            parameters = sum(p.numel() for p in model.parameters())
        else:
            shutil.copytree(sft, out, dirs_exist_ok=True)
            parameters = None
    metrics = {"merged_adapter": is_adapter, "parameters": parameters}
    write_json(args.metrics, metrics)
    summary("merge", metrics)


if __name__ == "__main__":
    run_stage(main)
