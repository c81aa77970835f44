"""PyTorch reference of `align bench`'s training step (see scripts/bench-torch)."""
import argparse
import json
import math
import os
import time

import torch
import torch.nn.functional as F


class Block(torch.nn.Module):
    def __init__(self, c, heads, kv, f, eps):
        super().__init__()
        self.h, self.kv, self.hd, self.eps = heads, kv, c // heads, eps
        self.ln1 = torch.nn.Parameter(torch.ones(c))
        self.qkv = torch.nn.Linear(c, (heads + 2 * kv) * self.hd, bias=False)
        self.o = torch.nn.Linear(heads * self.hd, c, bias=False)
        self.ln2 = torch.nn.Parameter(torch.ones(c))
        self.gate_up = torch.nn.Linear(c, 2 * f, bias=False)
        self.down = torch.nn.Linear(f, c, bias=False)

    def forward(self, x, cos, sin):
        B, T, C = x.shape
        h = F.rms_norm(x, (C,), self.ln1, self.eps)
        q, k, v = self.qkv(h).split([self.h * self.hd, self.kv * self.hd, self.kv * self.hd], dim=-1)
        q = q.view(B, T, self.h, self.hd).transpose(1, 2)
        k = k.view(B, T, self.kv, self.hd).transpose(1, 2)
        v = v.view(B, T, self.kv, self.hd).transpose(1, 2)
        q, k = rope(q, cos, sin), rope(k, cos, sin)
        a = F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=self.kv != self.h)
        x = x + self.o(a.transpose(1, 2).reshape(B, T, self.h * self.hd))
        g, u = self.gate_up(F.rms_norm(x, (C,), self.ln2, self.eps)).chunk(2, dim=-1)
        return x + self.down(F.silu(g) * u)


def rope(x, cos, sin):
    half = x.shape[-1] // 2
    x1, x2 = x[..., :half], x[..., half:]
    return torch.cat([x1 * cos - x2 * sin, x2 * cos + x1 * sin], dim=-1).to(x.dtype)


class Llama(torch.nn.Module):
    def __init__(self, m):
        super().__init__()
        c = m["hidden_size"]
        self.eps = m.get("rms_norm_eps", 1e-5)
        self.embed = torch.nn.Embedding(m["vocab_size"], c)
        kv = m.get("num_key_value_heads", m["num_attention_heads"])
        self.blocks = torch.nn.ModuleList(
            Block(c, m["num_attention_heads"], kv, m["intermediate_size"], self.eps) for _ in range(m["num_hidden_layers"]))
        self.norm = torch.nn.Parameter(torch.ones(c))
        self.head = torch.nn.Linear(c, m["vocab_size"], bias=False)
        hd = c // m["num_attention_heads"]
        theta = m.get("rope_theta", 10000.0)
        inv = 1.0 / theta ** (torch.arange(0, hd, 2, dtype=torch.float32) / hd)
        ang = torch.arange(m.get("max_position_embeddings", 2048), dtype=torch.float32)[:, None] * inv[None, :]
        self.register_buffer("cos", ang.cos(), persistent=False)
        self.register_buffer("sin", ang.sin(), persistent=False)
        for p in self.parameters():
            if p.dim() == 2:
                torch.nn.init.normal_(p, std=0.02)

    def forward(self, tokens, targets):
        T = tokens.shape[1]
        x = self.embed(tokens)
        cos, sin = self.cos[:T], self.sin[:T]
        for b in self.blocks:
            x = b(x, cos, sin)
        logits = self.head(F.rms_norm(x, (x.shape[-1],), self.norm, self.eps))
        return F.cross_entropy(logits.float().view(-1, logits.shape[-1]), targets.view(-1), ignore_index=-100)


def bench(preset, precision, steps, threads):
    torch.manual_seed(0)
    m = preset["model"]
    B, T = preset["batch"], preset["seq"]
    model = Llama(m)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.1, betas=(0.9, 0.95), foreach=True)
    tokens = torch.randint(0, m["vocab_size"], (B, T))
    targets = torch.roll(tokens, -1, dims=1)
    targets[:, -1] = -100

    def step():
        opt.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
            loss = model(tokens, targets)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        return loss

    step()
    best = math.inf
    for _ in range(steps):
        t0 = time.perf_counter()
        step()
        best = min(best, time.perf_counter() - t0)
    return B * T / best, best


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--preset", action="append", help="A, B, … (configs/bench-<name>.json) or a path; default A and B")
    ap.add_argument("--precision", default="both", choices=["fp32", "bf16", "both"])
    ap.add_argument("--steps", type=int, default=3, help="timed steps after one warm-up step (best is reported)")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    load = open("/proc/loadavg").read().split()[0]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, 1-min load average {load}")
    print("preset | precision | train tok/s | step ms")
    for name in a.preset or ["A", "B"]:
        path = name if name.endswith(".json") else f"configs/bench-{name.lower()}.json"
        preset = json.load(open(path))
        for p in (["fp32", "bf16"] if a.precision == "both" else [a.precision]):
            tps, secs = bench(preset, p, a.steps, a.threads)
            print(f"{preset['name']} | {p} | {tps:.0f} | {secs * 1000:.1f}", flush=True)


if __name__ == "__main__":
    main()
