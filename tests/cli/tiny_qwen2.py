#!/usr/bin/env python3
"""A tiny random Qwen2 folder as Hugging Face writes it, for the command-line tests of
`ckpt import-hf` and `ckpt export-hf` (standard library only):

    tiny_qwen2.py OUT [--vocab 272] [--untied] [--dtype BF16|F16|F32] [--shards N]
                      [--f64-norm] [--drop TENSOR] [--seed 7] [--config v4|v5]

hidden 64, 2 layers, 4 query / 2 key-value heads (q/k/v biases), MLP 176, in HF's tensor order.
Values: norms 1 + N(0, 0.1), everything else N(0, 0.1), drawn in that order from --seed.
--shards N splits the tensors over N files with model.safetensors.index.json; --f64-norm stores
model.norm.weight as F64 (a dtype import-hf refuses); --drop leaves a tensor out. --config v4
writes the keys transformers 4 writes (rope_theta, rope_scaling, a sliding_window that
use_sliding_window turns off), v5 those of transformers 5 (rope_parameters).
"""
import argparse, json, os, random, struct

H, L, NH, NKV, I = 64, 2, 4, 2, 176


def config(vocab, tied, style):
    cfg = {"architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "hidden_size": H,
           "num_hidden_layers": L, "num_attention_heads": NH, "num_key_value_heads": NKV,
           "intermediate_size": I, "vocab_size": vocab, "hidden_act": "silu", "rms_norm_eps": 1e-6,
           "tie_word_embeddings": tied, "use_sliding_window": False}
    if style == "v4":
        cfg.update({"rope_theta": 10000.0, "rope_scaling": None, "sliding_window": 4096, "max_window_layers": 28})
    else:
        cfg.update({"rope_parameters": {"rope_type": "default", "rope_theta": 10000.0}, "sliding_window": None})
    return cfg


def shapes(vocab, tied):
    hd = H // NH
    out = [("model.embed_tokens.weight", [vocab, H])]
    for l in range(L):
        p = "model.layers.%d." % l
        out += [(p + "input_layernorm.weight", [H]), (p + "self_attn.q_proj.weight", [NH * hd, H]),
                (p + "self_attn.q_proj.bias", [NH * hd]), (p + "self_attn.k_proj.weight", [NKV * hd, H]),
                (p + "self_attn.k_proj.bias", [NKV * hd]), (p + "self_attn.v_proj.weight", [NKV * hd, H]),
                (p + "self_attn.v_proj.bias", [NKV * hd]), (p + "self_attn.o_proj.weight", [H, NH * hd]),
                (p + "post_attention_layernorm.weight", [H]), (p + "mlp.gate_proj.weight", [I, H]),
                (p + "mlp.up_proj.weight", [I, H]), (p + "mlp.down_proj.weight", [H, I])]
    out.append(("model.norm.weight", [H]))
    if not tied:
        out.append(("lm_head.weight", [vocab, H]))
    return out


def pack(values, dtype):
    n = len(values)
    if dtype == "F64":
        return struct.pack("<%dd" % n, *values)
    if dtype == "F32":
        return struct.pack("<%df" % n, *values)
    if dtype == "F16":
        return struct.pack("<%de" % n, *values)
    raw = struct.pack("<%df" % n, *values)  # BF16: the upper half of each f32
    return b"".join(raw[i + 2:i + 4] for i in range(0, len(raw), 4))


def write_safetensors(path, items):
    header, off = {"__metadata__": {"format": "pt"}}, 0
    for name, shape, dtype, data in items:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [off, off + len(data)]}
        off += len(data)
    h = json.dumps(header).encode()
    h += b" " * ((8 - (8 + len(h)) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(i[3] for i in items))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--vocab", type=int, default=272)
    ap.add_argument("--untied", action="store_true")
    ap.add_argument("--dtype", choices=["BF16", "F16", "F32"], default="BF16")
    ap.add_argument("--shards", type=int, default=1)
    ap.add_argument("--f64-norm", action="store_true")
    ap.add_argument("--drop", default="")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--config", choices=["v4", "v5"], default="v4")
    a = ap.parse_args()
    os.makedirs(a.out)
    rng = random.Random(a.seed)
    items = []
    for name, shape in shapes(a.vocab, not a.untied):
        if name == a.drop:
            continue
        n = 1
        for d in shape:
            n *= d
        values = [(1.0 if "norm" in name else 0.0) + rng.gauss(0, 0.1) for _ in range(n)]
        dtype = "F64" if a.f64_norm and name == "model.norm.weight" else a.dtype
        items.append((name, shape, dtype, pack(values, dtype)))
    if a.shards == 1:
        write_safetensors(os.path.join(a.out, "model.safetensors"), items)
    else:
        per, weight_map = (len(items) + a.shards - 1) // a.shards, {}
        for k in range(a.shards):
            fn = "model-%05d-of-%05d.safetensors" % (k + 1, a.shards)
            part = items[k * per:(k + 1) * per]
            write_safetensors(os.path.join(a.out, fn), part)
            weight_map.update({i[0]: fn for i in part})
        json.dump({"metadata": {"total_size": sum(len(i[3]) for i in items)}, "weight_map": weight_map},
                  open(os.path.join(a.out, "model.safetensors.index.json"), "w"))
    json.dump(config(a.vocab, not a.untied, a.config), open(os.path.join(a.out, "config.json"), "w"), indent=2)


if __name__ == "__main__":
    main()
