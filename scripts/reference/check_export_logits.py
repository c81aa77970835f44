"""Local check: a checkpoint align wrote (e.g. the merged LoRA export in runs/X/best) in transformers. Loads it with
AutoModelForCausalLM and AutoTokenizer (reports missing/unexpected tensors), encodes PROMPT with transformers'
tokenizer and with align's, and compares the logits of every prompt position: transformers (fp32) against
`align generate --logits-out` (fp32). Exits 1 when the ids differ or the largest logit difference exceeds 1e-4.
  scripts/ref-python scripts/reference/check_export_logits.py CHECKPOINT_DIR [PROMPT] [ALIGN_BINARY]
"""
import os
import subprocess
import sys
import tempfile

import torch
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM, AutoTokenizer

ROOT = os.path.normpath(os.path.join(os.path.dirname(__file__), "..", ".."))
ck = sys.argv[1]
prompt = sys.argv[2] if len(sys.argv) > 2 else "The user watched Heat (1995); Casino (1995); Toy Story (1995). What comes next?"
align = sys.argv[3] if len(sys.argv) > 3 else os.path.join(ROOT, ".build", "release", "align")

model, info = AutoModelForCausalLM.from_pretrained(ck, dtype=torch.float32, output_loading_info=True)
bad = {k: v for k, v in info.items() if v}
print("loading:", "clean (no missing, unexpected or mismatched tensors)" if not bad else bad)
tok = AutoTokenizer.from_pretrained(ck)
ids = tok(prompt, add_special_tokens=False).input_ids
with tempfile.TemporaryDirectory() as d:
    out = os.path.join(d, "logits.safetensors")
    subprocess.run([align, "generate", "--model", ck, "--prompt", prompt, "--no-bos", "--greedy", "--max-new-tokens", "1",
                    "--precision", "fp32", "--logits-out", out], check=True, capture_output=True)
    t = load_file(out)
mine_ids = t["input_ids"].tolist()
print(f"ids: transformers {len(ids)}, align {len(mine_ids)}: {'same' if ids == mine_ids else 'DIFFERENT'}")
with torch.no_grad():
    ref = model(input_ids=torch.tensor([mine_ids])).logits[0]
err = (ref - t["logits"]).abs().max().item()
print(f"logits of {len(mine_ids)} positions x {ref.shape[1]} tokens: max |transformers - align| = {err:.3g}")
sys.exit(0 if ids == mine_ids and err <= 1e-4 else 1)
