"""Makes the architecture-variant fixtures under Tests/AlignCoreTests/Fixtures with transformers (random tiny models):
  qwen2-tiny        Qwen2 (q/k/v biases, untied, GQA 4/2)
  llama3-rope-tiny  LLaMA with rope_type llama3 (factor 8, low 1, high 4, original context 16), tied
  llama-tied-head   a tied LLaMA whose model.safetensors also stores lm_head.weight (as some exports do)
each with config.json, model.safetensors and golden.safetensors: input_ids and targets [2, 40], logits, the mean
cross-entropy and every parameter's gradient (grad.NAME).
  gguf-tiny         tiny.gguf: a tiny tied LLaMA over the smollm2 fixture vocabulary (a LLaMA GGUF as llama.cpp's converter
                    writes it: q/k rows permuted, tensors in F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1 and Q8_0) with the
                    smollm2-shaped BPE fixture tokenizer and a ChatML template in its metadata; expected.safetensors
                    holds every tensor as gguf-py dequantises it, under its Hugging Face name and row order.
Run: scripts/ref-python scripts/reference/make_llama_variants.py
"""
import json
import os

import gguf
import numpy as np
import torch
from safetensors.torch import save_file
from transformers import LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM

FIX = os.path.normpath(os.path.join(os.path.dirname(__file__), "..", "..", "Tests", "AlignCoreTests", "Fixtures"))
B, T = 2, 40


def golden(model, out):
    g = torch.Generator().manual_seed(1)
    V = model.config.vocab_size
    ids = torch.randint(0, V, (B, T), generator=g)
    targets = torch.randint(0, V, (B, T), generator=g)
    targets[0, :5] = -100
    model.zero_grad()
    logits = model(input_ids=ids).logits
    loss = torch.nn.functional.cross_entropy(logits.reshape(-1, V), targets.reshape(-1), ignore_index=-100)
    loss.backward()
    t = {"input_ids": ids.to(torch.int32), "targets": targets.to(torch.int32), "logits": logits.detach().float().contiguous(),
         "loss": loss.detach().reshape(1)}
    for name, p in model.named_parameters():
        if p.grad is not None:
            t["grad." + name] = p.grad.detach().contiguous()
    save_file(t, os.path.join(out, "golden.safetensors"))


def randomize_biases(model, seed):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith(".bias") or "norm" in name:
                p.copy_(torch.randn(p.shape, generator=g) * 0.3 + (1.0 if "norm" in name else 0.0))


def save(model, out, extra=None):
    os.makedirs(out, exist_ok=True)
    model.config.save_pretrained(out)
    sd = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    if model.config.tie_word_embeddings and extra != "keep_head":
        sd.pop("lm_head.weight", None)
    if extra == "keep_head":
        sd["lm_head.weight"] = sd["model.embed_tokens.weight"].clone()
    save_file(sd, os.path.join(out, "model.safetensors"), metadata={"format": "pt"})
    golden(model, out)


def qwen2():
    torch.manual_seed(0)
    c = Qwen2Config(vocab_size=64, hidden_size=32, intermediate_size=48, num_hidden_layers=2, num_attention_heads=4,
                    num_key_value_heads=2, max_position_embeddings=64, rope_theta=10000.0, rms_norm_eps=1e-6,
                    tie_word_embeddings=False, bos_token_id=1, eos_token_id=2, use_sliding_window=False)
    m = Qwen2ForCausalLM(c).float()
    randomize_biases(m, 5)
    save(m, os.path.join(FIX, "qwen2-tiny"))


def llama3_config(scaled=True):
    rope = {"rope_type": "llama3", "rope_theta": 10000.0, "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
            "original_max_position_embeddings": 16} if scaled else {"rope_type": "default", "rope_theta": 10000.0}
    return LlamaConfig(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                       num_key_value_heads=2, max_position_embeddings=64, rms_norm_eps=1e-5, tie_word_embeddings=True,
                       bos_token_id=1, eos_token_id=2, rope_parameters=rope)


def llama3():
    torch.manual_seed(1)
    m = LlamaForCausalLM(llama3_config()).float()
    randomize_biases(m, 6)
    save(m, os.path.join(FIX, "llama3-rope-tiny"))
    return m


def tied_head():
    torch.manual_seed(2)
    m = LlamaForCausalLM(llama3_config(scaled=False)).float()
    randomize_biases(m, 7)
    save(m, os.path.join(FIX, "llama-tied-head"), extra="keep_head")
    return m


def permute(w, n_head):
    # llama.cpp convert_hf_to_gguf.py LlamaModel.permute
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def tiny_gguf(model):
    out = os.path.join(FIX, "gguf-tiny")
    os.makedirs(out, exist_ok=True)
    c = model.config
    Q = gguf.GGMLQuantizationType
    w = gguf.GGUFWriter(os.path.join(out, "tiny.gguf"), "llama")
    w.add_block_count(c.num_hidden_layers)
    w.add_context_length(c.max_position_embeddings)
    w.add_embedding_length(c.hidden_size)
    w.add_feed_forward_length(c.intermediate_size)
    w.add_head_count(c.num_attention_heads)
    w.add_head_count_kv(c.num_key_value_heads)
    w.add_rope_freq_base(10000.0)
    w.add_layer_norm_rms_eps(c.rms_norm_eps)
    w.add_rope_dimension_count(c.hidden_size // c.num_attention_heads)
    w.add_vocab_size(c.vocab_size)
    tj = json.load(open(os.path.join(FIX, "bpe", "smollm2", "tokenizer.json")))
    vocab = sorted(tj["model"]["vocab"].items(), key=lambda kv: kv[1])
    tokens = [t for t, _ in vocab]
    added = {a["id"]: a for a in tj["added_tokens"]}
    for i in sorted(added):   # added tokens after the BPE vocabulary (the SID tokens) follow it, as llama.cpp lists them
        if i >= len(vocab):
            assert i == len(tokens)
            tokens.append(added[i]["content"])
    types = [3 if i in added and added[i]["special"] else (4 if i in added else 1) for i in range(len(tokens))]
    merges = [m if isinstance(m, str) else " ".join(m) for m in tj["model"]["merges"]]
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("smollm")
    w.add_token_list(tokens)
    w.add_token_types(types)
    w.add_token_merges(merges)
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.add_pad_token_id(2)
    w.add_add_bos_token(False)
    w.add_chat_template("{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\nYou are a tiny test model<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")
    names = {"model.embed_tokens.weight": ("token_embd.weight", Q.Q8_0), "model.norm.weight": ("output_norm.weight", Q.F32)}
    kinds = {"input_layernorm": ("attn_norm", Q.F32), "post_attention_layernorm": ("ffn_norm", Q.F32),
             "self_attn.q_proj": ("attn_q", Q.Q4_0), "self_attn.k_proj": ("attn_k", Q.Q4_1),
             "self_attn.v_proj": ("attn_v", Q.Q5_0), "self_attn.o_proj": ("attn_output", Q.Q5_1),
             "mlp.gate_proj": ("ffn_gate", Q.F16), "mlp.up_proj": ("ffn_up", Q.BF16), "mlp.down_proj": ("ffn_down", Q.Q8_0)}
    expected = {}
    sd = model.state_dict()
    hd = c.hidden_size // c.num_attention_heads
    for name, t in sd.items():
        if name == "lm_head.weight":
            continue
        if name in names:
            gname, q = names[name]
        else:
            parts = name.split(".")
            layer, kind = parts[2], ".".join(parts[3:-1])
            gname, q = f"blk.{layer}.{kinds[kind][0]}.weight", kinds[kind][1]
        a = t.detach().float().numpy()
        if "q_proj" in name:
            a = permute(a, c.num_attention_heads)
        if "k_proj" in name:
            a = permute(a, c.num_key_value_heads)
        if q == Q.F32:
            data, back = a.astype(np.float32), a.astype(np.float32)
        elif q == Q.F16:
            data = a.astype(np.float16); back = data.astype(np.float32)
        else:
            data = gguf.quants.quantize(a, q)
            back = gguf.quants.dequantize(data, q).reshape(a.shape).astype(np.float32)
        w.add_tensor(gname, data, raw_dtype=q)
        # back to the HF row order
        if "q_proj" in name or "k_proj" in name:
            n = c.num_attention_heads if "q_proj" in name else c.num_key_value_heads
            back = back.reshape(n, hd // 2, 2, -1).swapaxes(1, 2).reshape(back.shape)
        expected[name] = torch.from_numpy(np.ascontiguousarray(back))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    save_file(expected, os.path.join(out, "expected.safetensors"))


def main():
    qwen2()
    llama3()
    tied_head()
    torch.manual_seed(3)
    tj = json.load(open(os.path.join(FIX, "bpe", "smollm2", "tokenizer.json")))
    vocab = len(tj["model"]["vocab"]) + sum(1 for a in tj["added_tokens"] if a["id"] >= len(tj["model"]["vocab"]))
    c = llama3_config(scaled=False)
    c.vocab_size = vocab
    c.max_position_embeddings = 256
    m = LlamaForCausalLM(c).float()
    randomize_biases(m, 8)
    tiny_gguf(m)
    for d in ["qwen2-tiny", "llama3-rope-tiny", "llama-tied-head", "gguf-tiny"]:
        p = os.path.join(FIX, d)
        print(d, sorted(os.listdir(p)), sum(os.path.getsize(os.path.join(p, f)) for f in os.listdir(p)), "bytes")


if __name__ == "__main__":
    main()
