"""Makes Tests/AlignCoreTests/Fixtures/sp-interop: the ids transformers' AutoTokenizer gives, on the 1,100 strings of
the BPE fixture plus prompt-like strings, for a checkpoint whose tokenizer align wrote (`align convert`: the
SentencePiece unigram fixture botchan_en_unigram_1000.model with <s>, </s>, <pad> and 3 x 8 SID tokens as added tokens, with the tokenizer.json
and tokenizer_config.json align writes beside tokenizer.model). The Swift test checks that align encodes every string
to transformers' ids.
Needs a debug build of align (swift build).  Run: scripts/ref-python scripts/reference/make_sp_interop_fixture.py
"""
import json
import os
import shutil
import subprocess
import tempfile

import torch
from safetensors.torch import save_file
from transformers import AutoTokenizer

ROOT = os.path.normpath(os.path.join(os.path.dirname(__file__), "..", ".."))
FIX = os.path.join(ROOT, "Tests", "AlignCoreTests", "Fixtures")
OUT = os.path.join(FIX, "sp-interop")
ALIGN = os.path.join(ROOT, ".build", "debug", "align")
SIDS = [f"<{l}_{c}>" for l in "abc" for c in range(8)]


def prompt_strings():
    titles = ["Toy Story (1995)", "Heat (1995)", "Casino (1995)", "Amélie (Fabuleux destin d'Amélie Poulain, Le) (2001)",
              "Léon: The Professional (a.k.a. The Professional) (Léon) (1994)", "Seven (a.k.a. Se7en) (1995)"]
    out = []
    for i in range(len(titles)):
        hist = "; ".join(titles[: i + 1])
        sid = "".join(SIDS[j * 8 + (i + j) % 8] for j in range(3))
        out.append(f"### Instruction:\nThe user watched {hist}. What comes next?\n### Response:")
        out.append(f"### Instruction:\nWhich movie is {sid}?\n### Response:{titles[i]}")
        out.append(f"Given {sid}{sid} and {titles[i]}, recommend")
    return out


def main():
    os.makedirs(OUT, exist_ok=True)
    tmp = tempfile.mkdtemp()
    try:
        ck = os.path.join(tmp, "ck")
        os.makedirs(ck)
        shutil.copy(os.path.join(FIX, "sentencepiece", "botchan_en_unigram_1000.model"), os.path.join(ck, "tokenizer.model"))
        # As align's trained tokenizers: <s> and </s> are the model's control pieces, <pad> and the SIDs appended.
        added = ([{"content": "<s>", "id": 1, "special": True}, {"content": "</s>", "id": 2, "special": True},
                  {"content": "<pad>", "id": 1000, "special": True}] + [{"content": s, "id": 1001 + i, "special": False} for i, s in enumerate(SIDS)])
        json.dump({"format": "align-added-tokens", "version": 1, "sentencepiece_vocab_size": 1000, "tokens": added},
                  open(os.path.join(ck, "align_tokens.json"), "w"))
        V, C = 1000 + len(added), 8
        json.dump({"vocab_size": V, "hidden_size": C, "intermediate_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2,
                   "max_position_embeddings": 64, "tie_word_embeddings": True, "bos_token_id": 1, "eos_token_id": 2, "model_type": "llama"},
                  open(os.path.join(ck, "config.json"), "w"))
        g = torch.Generator().manual_seed(0)
        t = {"model.embed_tokens.weight": torch.randn(V, C, generator=g), "model.norm.weight": torch.ones(C)}
        p = "model.layers.0."
        for n, s in [("input_layernorm.weight", [C]), ("post_attention_layernorm.weight", [C]), ("self_attn.q_proj.weight", [C, C]),
                     ("self_attn.k_proj.weight", [C, C]), ("self_attn.v_proj.weight", [C, C]), ("self_attn.o_proj.weight", [C, C]),
                     ("mlp.gate_proj.weight", [16, C]), ("mlp.up_proj.weight", [16, C]), ("mlp.down_proj.weight", [C, 16])]:
            t[p + n] = torch.randn(*s, generator=g)
        save_file(t, os.path.join(ck, "model.safetensors"))
        conv = os.path.join(tmp, "conv")
        subprocess.run([ALIGN, "convert", "--model", ck, "--out", conv], check=True)
        shutil.copy(os.path.join(conv, "align_tokens.json"), os.path.join(OUT, "align_tokens.json"))
        tok = AutoTokenizer.from_pretrained(conv)
        cases = [json.loads(l)["text"] for l in open(os.path.join(FIX, "bpe", "cases.jsonl"))] + prompt_strings()
        with open(os.path.join(OUT, "cases.jsonl"), "w") as f:
            for text in cases:
                ids = tok(text, add_special_tokens=False).input_ids
                f.write(json.dumps({"text": text, "ids": ids, "with_bos": tok(text).input_ids[:1]}, ensure_ascii=False) + "\n")
        print(f"{type(tok).__name__}: wrote {len(cases)} cases to {OUT}")
    finally:
        shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
