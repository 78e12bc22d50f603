#!/usr/bin/env python3
"""PyTorch peer of `smoothread bench train`: trains the same Qwen2-style shape the same way (one
sample of T random tokens per step, forward + backward + AdamW) so that both systems' tokens/s can
be measured side by side on one GPU. Plain PyTorch (no transformers), as a PyTorch user would
write it: f32 parameters under bf16 autocast, fused AdamW, SDPA for full attention, compiled
FlexAttention for the sliding window, per-block activation checkpointing, chunked LM-head loss.

  python3 tools/peer_torch.py --config configs/model/swa-3b-4k.ini --tokens 16k --steps 3 \
      [--json runs.jsonl] [--sdpa auto|cudnn|flash|efficient] [--checkpoint block|none] [--compile]

--tokens takes a comma-separated list (4k,16k,64k) to measure several contexts in one process.
An out-of-memory run prints and records `oom` and the script still exits 0, so sweeps continue.
"""
import argparse, contextlib, datetime, json, math, os, sys, time, warnings
from pathlib import Path

os.environ.setdefault("PYTORCH_CUDA_ALLOC_CONF", "expandable_segments:True")  # long samples fragment
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.checkpoint import checkpoint

# ---- Model shape from smoothread's INI files ([model] keys are Hugging Face names) ----
DEFAULTS = dict(rope_theta=1e6, rms_norm_eps=1e-6, sliding_window=0, tie_word_embeddings=True,
                attention_bias=True)  # as src/model/config.h
INTS = ("hidden_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads",
        "intermediate_size", "vocab_size", "sliding_window")


def ini_sources(path, depth=0):
    """[model] settings of an INI file, then of its includes (paths relative to it), in the
    order smoothread gives them precedence: the file itself first."""
    if depth > 8:
        sys.exit(f"{path}: include nesting deeper than 8")
    own, includes, section = {}, [], ""
    for line in Path(path).read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line or line.startswith(";"):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1].strip()
        elif "=" in line:
            key, value = (s.strip() for s in line.split("=", 1))
            if not section and key == "include":
                includes.append(value)
            elif section == "model":
                own[key] = value
    out = [own]
    for inc in includes:
        out += ini_sources(Path(path).parent / inc, depth + 1)
    return out


def load_model_config(paths):
    cfg = dict(DEFAULTS)
    for path in paths:  # later --config files win, as in smoothread
        merged = {}
        for src in ini_sources(path):
            for k, v in src.items():
                merged.setdefault(k, v)
        cfg.update(merged)
    for k in INTS:
        cfg[k] = int(cfg[k])
    for k in ("rope_theta", "rms_norm_eps"):
        cfg[k] = float(cfg[k])
    for k in ("tie_word_embeddings", "attention_bias"):
        cfg[k] = str(cfg[k]).lower() in ("true", "1", "yes", "on")
    return cfg


def parse_tokens(s):
    s = s.strip().lower()
    mult = {"k": 1024, "m": 1024 * 1024}.get(s[-1:], 1)
    return int(s[:-1] if mult > 1 else s) * mult


def train_flops_per_token(c, n):
    """Same count as ModelConfig::train_flops_per_token (6·N plus in-window attention pairs)."""
    H, hd = c["hidden_size"], c["hidden_size"] // c["num_attention_heads"]
    q, kvd, L, W = c["num_attention_heads"] * hd, c["num_key_value_heads"] * hd, c["num_hidden_layers"], c["sliding_window"]
    params = L * (H * q + 2 * H * kvd + q * H + 3 * H * c["intermediate_size"]) + c["vocab_size"] * H
    keys = (n + 1) / 2 if W == 0 or W >= n else (W * (W + 1) / 2 + (n - W) * W) / n
    return 6 * params + L * 2 * 2 * 3 * keys * q


def describe(c):
    """One line like ModelConfig::summary, with the parameter count of ModelConfig::num_parameters."""
    H, hd = c["hidden_size"], c["hidden_size"] // c["num_attention_heads"]
    q, kvd = c["num_attention_heads"] * hd, c["num_key_value_heads"] * hd
    layer = H * q + 2 * H * kvd + q * H + (q + 2 * kvd if c["attention_bias"] else 0) + 3 * H * c["intermediate_size"] + 2 * H
    n = c["num_hidden_layers"] * layer + c["vocab_size"] * H * (1 if c["tie_word_embeddings"] else 2) + H
    return (f"layers {c['num_hidden_layers']}, hidden {H}, heads {c['num_attention_heads']}/{c['num_key_value_heads']} "
            f"(head dim {hd}), mlp {c['intermediate_size']}, vocab {c['vocab_size']}, "
            f"window {c['sliding_window'] or 'full'}, {n / 1e6:.2f}M parameters")


# ---- Qwen2 decoder (numerics as Hugging Face's Qwen2) ----
class RMSNorm(nn.Module):
    def __init__(self, n, eps):
        super().__init__()
        self.weight, self.eps = nn.Parameter(torch.ones(n)), eps

    def forward(self, x):  # in f32, as HF
        xf = x.float()
        return self.weight * (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)).to(x.dtype)


def rotate_half(x):
    a, b = x.chunk(2, dim=-1)
    return torch.cat((-b, a), dim=-1)


def rope_tables(c, T):
    """cos and sin (T × head_dim, f32) of RoPE's rotate-half layout: inverse frequencies θ^(−2k/hd)."""
    hd = c["hidden_size"] // c["num_attention_heads"]
    inv_freq = 1.0 / c["rope_theta"] ** (torch.arange(0, hd, 2, device="cuda", dtype=torch.float32) / hd)
    freqs = torch.outer(torch.arange(T, device="cuda", dtype=torch.float32), inv_freq)
    emb = torch.cat((freqs, freqs), dim=-1)
    return emb.cos(), emb.sin()


class Block(nn.Module):
    def __init__(self, c, attend):
        super().__init__()
        H, self.nq, self.nkv = c["hidden_size"], c["num_attention_heads"], c["num_key_value_heads"]
        self.hd, bias, I = H // self.nq, c["attention_bias"], c["intermediate_size"]
        self.attend = attend
        self.input_layernorm = RMSNorm(H, c["rms_norm_eps"])
        self.q_proj = nn.Linear(H, self.nq * self.hd, bias=bias)
        self.k_proj = nn.Linear(H, self.nkv * self.hd, bias=bias)
        self.v_proj = nn.Linear(H, self.nkv * self.hd, bias=bias)
        self.o_proj = nn.Linear(self.nq * self.hd, H, bias=False)
        self.post_attention_layernorm = RMSNorm(H, c["rms_norm_eps"])
        self.gate_proj, self.up_proj = nn.Linear(H, I, bias=False), nn.Linear(H, I, bias=False)
        self.down_proj = nn.Linear(I, H, bias=False)

    def forward(self, x, cos, sin):
        B, T, _ = x.shape
        h = self.input_layernorm(x)
        q = self.q_proj(h).view(B, T, self.nq, self.hd).transpose(1, 2)  # (B, heads, T, hd)
        k = self.k_proj(h).view(B, T, self.nkv, self.hd).transpose(1, 2)
        v = self.v_proj(h).view(B, T, self.nkv, self.hd).transpose(1, 2)
        cos, sin = cos.to(q.dtype), sin.to(q.dtype)  # RoPE in the activations' dtype, as HF
        q, k = q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin
        o = self.attend(q, k, v).transpose(1, 2).reshape(B, T, self.nq * self.hd)
        x = x + self.o_proj(o)
        h = self.post_attention_layernorm(x)
        return x + self.down_proj(F.silu(self.gate_proj(h)) * self.up_proj(h))


class ChunkedLMHeadLoss(torch.autograd.Function):
    """Mean cross-entropy of h·Wᵀ against targets, `chunk` rows at a time. The forward computes the
    gradients as it goes (the fused linear cross-entropy of Liger and others): the T×V logits
    never exist at once and each chunk's logits are computed once."""

    @staticmethod
    def forward(ctx, h, weight, targets, chunk):
        with torch.autocast("cuda", enabled=False):
            n, w = h.shape[0], weight.to(torch.bfloat16)
            grad_h = torch.empty(h.shape, dtype=torch.bfloat16, device=h.device)
            grad_w = torch.zeros(weight.shape, dtype=torch.float32, device=h.device)
            loss = torch.zeros((), dtype=torch.float32, device=h.device)
            for s in range(0, n, chunk):
                hc, tc = h[s:s + chunk].to(torch.bfloat16), targets[s:s + chunk, None]
                logits = (hc @ w.t()).float()
                lse = torch.logsumexp(logits, dim=-1, keepdim=True)
                loss += (lse - logits.gather(1, tc)).sum()
                p = logits.sub_(lse).exp_()  # softmax, in place
                p.scatter_add_(1, tc, torch.full(tc.shape, -1.0, device=h.device))
                g = p.mul_(1.0 / n).to(torch.bfloat16)
                grad_h[s:s + chunk] = g @ w
                grad_w += g.t() @ hc
        ctx.save_for_backward(grad_h, grad_w)
        ctx.h_dtype = h.dtype
        return loss / n

    @staticmethod
    def backward(ctx, grad_loss):
        grad_h, grad_w = ctx.saved_tensors
        return (grad_h * grad_loss).to(ctx.h_dtype), grad_w * grad_loss, None, None


class Qwen2(nn.Module):
    def __init__(self, c, attend, ckpt, chunk, compile_blocks):
        super().__init__()
        self.c, self.ckpt, self.chunk = c, ckpt, chunk
        self.embed_tokens = nn.Embedding(c["vocab_size"], c["hidden_size"])
        self.layers = nn.ModuleList(Block(c, attend) for _ in range(c["num_hidden_layers"]))
        self.norm = RMSNorm(c["hidden_size"], c["rms_norm_eps"])
        self.lm_head = None if c["tie_word_embeddings"] else nn.Parameter(torch.empty(c["vocab_size"], c["hidden_size"]))
        self.run_block = [torch.compile(b) if compile_blocks else b for b in self.layers]
        for name, p in self.named_parameters():  # N(0, 0.02) weights, zero biases, unit norms
            if "norm" in name:
                continue
            if name.endswith("bias"):
                nn.init.zeros_(p)
            else:
                nn.init.normal_(p, std=0.02)

    def forward(self, ids, targets, cos, sin):
        x = self.embed_tokens(ids)[None]  # batch of one sample
        for block in self.run_block:
            x = checkpoint(block, x, cos, sin, use_reentrant=False) if self.ckpt == "block" else block(x, cos, sin)
        h = self.norm(x)[0, :-1]  # position i predicts token i + 1
        w = self.embed_tokens.weight if self.lm_head is None else self.lm_head
        return ChunkedLMHeadLoss.apply(h, w, targets, self.chunk)


# ---- Attention backends ----
SDPA = {"cudnn": SDPBackend.CUDNN_ATTENTION, "flash": SDPBackend.FLASH_ATTENTION,
        "efficient": SDPBackend.EFFICIENT_ATTENTION}


def make_sdpa(choice, c):
    """Causal SDPA on the chosen backend, with native GQA if that backend takes it on this build
    (probed once on a short sample), else with the kv heads repeated. Returns (fn, label)."""
    group = c["num_attention_heads"] // c["num_key_value_heads"]

    def fn_for(native):
        def attend(q, k, v):
            with sdpa_kernel(SDPA[choice]) if choice != "auto" else contextlib.nullcontext():
                if native:
                    return F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)
                k, v = k.repeat_interleave(group, 1), v.repeat_interleave(group, 1)
                return F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return attend

    hd, errors = c["hidden_size"] // c["num_attention_heads"], []
    for native in (True, False):
        try:
            q = torch.randn(1, c["num_attention_heads"], 256, hd, device="cuda", dtype=torch.bfloat16, requires_grad=True)
            k, v = (torch.randn(1, c["num_key_value_heads"], 256, hd, device="cuda", dtype=torch.bfloat16,
                                requires_grad=True) for _ in range(2))
            fn_for(native)(q, k, v).sum().backward()
            label = f"sdpa-{choice}" if native else f"sdpa-{choice} (kv repeated)"
            if choice == "auto":  # which kernel auto picks (private API: best effort)
                try:
                    kk, vv = (k, v) if native else (k.repeat_interleave(group, 1), v.repeat_interleave(group, 1))
                    pick = torch._fused_sdp_choice(q, kk, vv, None, 0.0, True, enable_gqa=native)
                    label += ": " + next(n for n, b in SDPBackend.__members__.items() if int(b) == pick).lower()
                except Exception:
                    pass
            return fn_for(native), label
        except RuntimeError as e:
            errors.append(str(e).splitlines()[0])
    sys.exit(f"peer: SDPA backend '{choice}' unavailable here: {errors}")


def make_flex(c, T, W):
    """Compiled FlexAttention with a causal sliding-window block mask (keys i − W < j ≤ i)."""
    from torch.nn.attention.flex_attention import create_block_mask, flex_attention

    def window(b, h, q_idx, kv_idx):
        return (q_idx >= kv_idx) & (q_idx - kv_idx < W)

    try:  # compiled, so that no T × T mask is materialised at 64k
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            mask = create_block_mask(window, None, None, T, T, device="cuda", _compile=True)
    except TypeError:  # builds without the private _compile argument
        mask = create_block_mask(window, None, None, T, T, device="cuda")
    flex = torch.compile(flex_attention, dynamic=False)

    def attend(q, k, v):  # q, k, v are bf16 already; keep autocast out of the compiled kernel
        with torch.autocast("cuda", enabled=False):  # contiguous (B, heads, T, hd): the layout it compiles fast for
            return flex(q.contiguous(), k.contiguous(), v.contiguous(), block_mask=mask, enable_gqa=True)

    # Compile forward and backward here, outside activation checkpointing: compiled alone, both
    # took seconds at 16k, while a model whose first call came inside a checkpointed block spent
    # minutes compiling.
    hd = c["hidden_size"] // c["num_attention_heads"]
    q = torch.randn(1, c["num_attention_heads"], T, hd, device="cuda", dtype=torch.bfloat16, requires_grad=True)
    k, v = (torch.randn(1, c["num_key_value_heads"], T, hd, device="cuda", dtype=torch.bfloat16,
                        requires_grad=True) for _ in range(2))
    attend(q, k, v).sum().backward()
    return attend, "flex-attention (compiled)"


# ---- One measurement ----
def measure(args, c, name, T):
    W = c["sliding_window"]
    rec = dict(system="pytorch", model=name, tokens=T, window=W, attention=f"window {W}" if W else "full",
               checkpoint=args.checkpoint, compile=args.compile, steps=args.steps, torch=torch.__version__,
               device=torch.cuda.get_device_name(), date=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"))
    model = opt = None
    try:
        torch.cuda.empty_cache()
        # A window at least as long as the sample is the causal mask: use SDPA's faster kernels then.
        attend, rec["backend"] = make_flex(c, T, W) if 0 < W < T else make_sdpa(args.sdpa, c)
        torch.cuda.reset_peak_memory_stats()
        torch.manual_seed(args.seed)
        with torch.device("cuda"):  # build and initialise on the GPU
            model = Qwen2(c, attend, args.checkpoint, args.lm_head_chunk, args.compile)
        opt = torch.optim.AdamW(model.parameters(), lr=args.lr, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.1, fused=True)
        g = torch.Generator(device="cuda").manual_seed(args.seed)
        ids = torch.randint(0, c["vocab_size"], (T,), device="cuda", generator=g)
        targets = ids[1:].contiguous()
        cos, sin = rope_tables(c, T)

        def step():
            opt.zero_grad(set_to_none=True)
            with torch.autocast("cuda", dtype=torch.bfloat16):
                loss = model(ids, targets, cos, sin)
            loss.backward()
            opt.step()
            return loss.detach()

        t0 = time.perf_counter()
        step()  # warm-up (compilation, cuBLAS/cuDNN plans, allocator)
        torch.cuda.synchronize()
        rec["warmup_s"] = time.perf_counter() - t0
        print(f"peer: {name} T={T}: warm-up step {rec['warmup_s']:.1f} s [{rec['backend']}]", flush=True)
        t0 = time.perf_counter()
        losses = [step() for _ in range(args.steps)]
        torch.cuda.synchronize()
        sps = (time.perf_counter() - t0) / args.steps
        tflops = train_flops_per_token(c, T) * T / sps / 1e12
        rec.update(s_per_step=sps, tokens_per_s=T / sps, tflop_per_s=tflops, mfu=tflops / args.peak_tflops,
                   peak_gib=torch.cuda.max_memory_allocated() / 2**30, loss=float(losses[-1]))
        print(f"peer: {name} T={T} window {W}: {sps:.3f} s/step, {T / sps:,.0f} tokens/s, "
              f"{tflops:.1f} TFLOP/s ({100 * rec['mfu']:.1f}% MFU), peak {rec['peak_gib']:.1f} GiB, "
              f"loss {rec['loss']:.3f} [{rec['backend']}, checkpoint {args.checkpoint}]", flush=True)
    except Exception as e:  # OOM may also come wrapped by the compiler as another error type
        if not (isinstance(e, torch.cuda.OutOfMemoryError) or "out of memory" in str(e).lower()):
            raise
        rec.update(oom=True, tokens_per_s=None, peak_gib=torch.cuda.max_memory_allocated() / 2**30)
        print(f"peer: {name} T={T} window {W}: oom (peak {rec['peak_gib']:.1f} GiB) "
              f"[{rec.get('backend', '?')}, checkpoint {args.checkpoint}]", flush=True)
    del model, opt
    torch.cuda.empty_cache()
    if args.json:
        with open(args.json, "a") as f:
            f.write(json.dumps(rec) + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", action="append", required=True, help="model INI file (repeatable: later files win)")
    ap.add_argument("--tokens", default="16k", help="sample length T, e.g. 4096, 16k, 64k, or a list 4k,16k,64k")
    ap.add_argument("--steps", type=int, default=3, help="timed steps, after one warm-up step")
    ap.add_argument("--json", help="append one JSON line per measurement to this file")
    ap.add_argument("--sdpa", choices=["auto", "cudnn", "flash", "efficient"], default="auto",
                    help="SDPA backend for full attention")
    ap.add_argument("--checkpoint", choices=["block", "none"], default="block", help="activation checkpointing")
    ap.add_argument("--compile", action="store_true", help="torch.compile each block")
    ap.add_argument("--lm-head-chunk", type=int, default=2048, help="tokens per LM-head/cross-entropy chunk")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--peak-tflops", type=float, default=989.0, help="dense bf16 peak for MFU (smoothread's default)")
    args = ap.parse_args()
    if not torch.cuda.is_available():
        sys.exit("peer: needs a CUDA GPU")
    c = load_model_config(args.config)
    name = Path(args.config[-1]).stem
    print(f"peer: {name}: {describe(c)}; torch {torch.__version__}, {torch.cuda.get_device_name()}", flush=True)
    for T in (parse_tokens(t) for t in args.tokens.split(",")):
        if T < 2:
            sys.exit(f"peer: --tokens {T}: expected at least 2")
        measure(args, c, name, T)


if __name__ == "__main__":
    main()
