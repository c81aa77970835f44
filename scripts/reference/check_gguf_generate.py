"""Local check (needs scripts/fetch-smollm2 and a release build): greedy decoding of SmolLM2-135M-Instruct.Q4_1.gguf in
align against transformers on the same file (transformers dequantises it with gguf-py), for three prompts, plain and
chat-templated; and align's tokenizer against transformers' tokenizer of the GGUF on the 1,100 strings of the BPE
fixture. Prints one line per prompt and exits 1 on any difference.
  scripts/ref-python scripts/reference/check_gguf_generate.py [GGUF] [ALIGN_BINARY]
"""
import json
import os
import subprocess
import sys

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

ROOT = os.path.normpath(os.path.join(os.path.dirname(__file__), "..", ".."))
GGUF = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "models", "SmolLM2-135M-Instruct.Q4_1.gguf")
ALIGN = sys.argv[2] if len(sys.argv) > 2 else os.path.join(ROOT, ".build", "release", "align")
PROMPTS = [
    ("plain", "Toy Story (1995) is a movie about"),
    ("chat", "Recommend three movies like Heat (1995) and say why in one sentence each."),
    ("chat", "What is the capital of France?"),
]
N = 32


def align_generate(kind, prompt):
    cmd = [ALIGN, "generate", "--model", GGUF, "--prompt", prompt, "--greedy", "--max-new-tokens", str(N), "--ids",
           "--precision", "fp32"]
    if kind == "chat":
        cmd.append("--chat")
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip().splitlines()
    return [int(x) for x in out[-1].split()]


def main():
    d, f = os.path.dirname(GGUF), os.path.basename(GGUF)
    tok = AutoTokenizer.from_pretrained(d, gguf_file=f)
    model = AutoModelForCausalLM.from_pretrained(d, gguf_file=f, dtype=torch.float32)
    model.eval()
    bad = 0
    for kind, prompt in PROMPTS:
        if kind == "chat":
            text = tok.apply_chat_template([{"role": "user", "content": prompt}], tokenize=False, add_generation_prompt=True)
        else:
            text = prompt
        ids = tok(text, add_special_tokens=False, return_tensors="pt").input_ids
        with torch.no_grad():
            out = model.generate(ids, max_new_tokens=N, do_sample=False, eos_token_id=tok.convert_tokens_to_ids("<|im_end|>"))
        ref = out[0, ids.shape[1]:].tolist()
        got = align_generate(kind, prompt)
        same = got == ref
        bad += not same
        print(f"{kind:5s} {prompt[:50]!r:54s} transformers {len(ref)} tokens, align {len(got)}: {'same' if same else 'DIFFERENT'}")
        if not same:
            print("  transformers", ref, "\n  align       ", got)
        print("  ", tok.decode(ref, skip_special_tokens=False).replace("\n", "\\n")[:120])
    cases = [json.loads(l) for l in open(os.path.join(ROOT, "Tests", "AlignCoreTests", "Fixtures", "bpe", "cases.jsonl"))]
    texts = [c["text"] for c in cases]
    with open("/tmp/align-bpe-texts.json", "w") as fh:
        json.dump(texts, fh)
    got = subprocess.run([ALIGN, "tokenizer", "encode", "--model", GGUF, "--texts", "/tmp/align-bpe-texts.json"], check=True,
                         capture_output=True, text=True).stdout
    mine = json.loads(got)
    diff = [t for t, m in zip(texts, mine) if tok(t, add_special_tokens=False).input_ids != m]
    print(f"tokenizer: {len(texts) - len(diff)} of {len(texts)} strings give the ids of transformers' GGUF tokenizer")
    for t in diff[:3]:
        print("  differs:", repr(t), tok(t, add_special_tokens=False).input_ids, mine[texts.index(t)])
    # transformers' GGUF loader builds a ByteLevel-only pre-tokenizer, whatever tokenizer.ggml.pre says; llama.cpp's
    # 'smollm' (and SmolLM2's own tokenizer.json) first isolates every digit. With that pre-tokenizer restored,
    # the `tokenizers` library must give align's ids on every string.
    from tokenizers import Tokenizer, pre_tokenizers
    fixed = Tokenizer.from_str(tok.backend_tokenizer.to_str())
    fixed.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True),
                                                   pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)])
    diff2 = [t for t, m in zip(texts, mine) if fixed.encode(t, add_special_tokens=False).ids != m]
    print(f"tokenizer: {len(texts) - len(diff2)} of {len(texts)} strings give the ids of `tokenizers` with the GGUF's "
          f"pre-tokenizer (Digits + ByteLevel)")
    for t in diff2[:3]:
        print("  differs:", repr(t), fixed.encode(t, add_special_tokens=False).ids, mine[texts.index(t)])
    bad += len(diff2) > 0
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
