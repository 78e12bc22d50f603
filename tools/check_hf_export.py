#!/usr/bin/env python3
"""Checks a folder written by `smoothread ckpt export-hf` against a fixture of
tools/make_hf_fixtures.py: transformers loads it and gives the fixture's logits and loss.

    python3 tools/check_hf_export.py EXPORTED FIXTURE [--rtol 1e-4]

EXPORTED: the exported folder (of an import of FIXTURE). FIXTURE: e.g. tests/fixtures/hf/qwen2-tied.
Checks, each printed on one line:
  - the config as transformers reads it: shape, tie, and layer_types/sliding_window;
  - every tensor equals the fixture's (exactly when the export is f32, within bf16 rounding else);
  - logits on the fixture's input ids: max |exported - expected| <= rtol * max |expected|
    (computed on the CPU in float32, eager attention), and the loss within rtol relative;
  - a tokenizer.json in EXPORTED, when present, loads with `tokenizers` and holds the Smooth
    Reading special tokens as special added tokens inside the model's vocabulary.
Exit 0: all passed; 1: a mismatch; 2: bad arguments or a folder that does not load.
"""

import argparse
import json
import os
import struct
import sys

SR_SPECIALS = ["<bos>", "<eos>", "<query>", "<chunk>", "<summary>", "<read>", "<stop>", "<answer>", "<pad>"]


def safetensors_dtypes(folder):
    dtypes = set()
    for fn in os.listdir(folder):
        if fn.endswith(".safetensors"):
            with open(os.path.join(folder, fn), "rb") as f:
                n = struct.unpack("<Q", f.read(8))[0]
                header = json.loads(f.read(n))
            dtypes.update(v["dtype"] for k, v in header.items() if k != "__metadata__")
    return dtypes


def main():
    ap = argparse.ArgumentParser(description="Compare an exported Hugging Face folder with a fixture.")
    ap.add_argument("exported")
    ap.add_argument("fixture")
    ap.add_argument("--rtol", type=float, default=None,
                    help="logit tolerance relative to max |logit| (default 1e-4 for f32, 2e-2 for bf16 weights)")
    args = ap.parse_args()
    for d in (args.exported, args.fixture):
        if not os.path.isdir(d):
            print("check_hf_export: %s is not a directory" % d, file=sys.stderr)
            return 2
    exp_path = os.path.join(args.fixture, "expected.json")
    try:
        with open(exp_path, encoding="utf-8") as f:
            expected = json.load(f)
    except (OSError, ValueError) as e:
        print("check_hf_export: %s: %s" % (exp_path, e), file=sys.stderr)
        return 2

    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    torch.set_num_threads(max(1, min(8, os.cpu_count() or 1)))
    dtypes = safetensors_dtypes(args.exported)
    exact = dtypes == {"F32"}
    rtol = args.rtol if args.rtol is not None else (1e-4 if exact else 2e-2)
    failures = []

    def report(ok, what):
        print("%s %s" % ("ok  " if ok else "FAIL", what))
        if not ok:
            failures.append(what)

    try:
        model = AutoModelForCausalLM.from_pretrained(args.exported, dtype=torch.float32, attn_implementation="eager")
        ref_cfg = AutoConfig.from_pretrained(args.fixture)
    except Exception as e:
        print("check_hf_export: transformers cannot load %s: %s" % (args.exported, e), file=sys.stderr)
        return 2
    model.eval()
    cfg = model.config
    keys = ["model_type", "vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers",
            "num_attention_heads", "num_key_value_heads", "tie_word_embeddings", "rms_norm_eps"]
    diff = [k for k in keys if getattr(cfg, k, None) != getattr(ref_cfg, k, None)]
    report(not diff, "config: " + (", ".join("%s %r != %r" % (k, getattr(cfg, k, None), getattr(ref_cfg, k, None))
                                             for k in diff) or "same shape, tie and eps"))
    theta = lambda c: (getattr(c, "rope_parameters", None) or {}).get("rope_theta", getattr(c, "rope_theta", None))
    report(theta(cfg) == theta(ref_cfg), "rope_theta %r (fixture %r)" % (theta(cfg), theta(ref_cfg)))
    lt, ref_lt = list(cfg.layer_types), list(ref_cfg.layer_types)
    windowed = "sliding_attention" in ref_lt
    ok = lt == ref_lt and (not windowed or cfg.sliding_window == ref_cfg.sliding_window)
    report(ok, "window: layer_types %s, sliding_window %r (fixture %s, %r)" %
           (lt, cfg.sliding_window, ref_lt, ref_cfg.sliding_window))

    # Tensors: the fixture's safetensors against what transformers loaded from the export.
    from safetensors.torch import load_file

    ref = {}
    for fn in sorted(os.listdir(args.fixture)):
        if fn.endswith(".safetensors"):
            ref.update(load_file(os.path.join(args.fixture, fn)))
    got = model.state_dict()
    worst, worst_name, missing = 0.0, "", []
    for name, t in ref.items():
        if name not in got:
            missing.append(name)
            continue
        g = got[name].float()
        t = t.float()
        if g.shape != t.shape:
            missing.append(name + " (shape)")
            continue
        d = float((g - t).abs().max()) / max(float(t.abs().max()), 1e-30)
        if d > worst:
            worst, worst_name = d, name
    tensor_tol = 0.0 if exact else 2.0 ** -8
    report(not missing and worst <= tensor_tol,
           "tensors (%s): %d compared, max relative difference %.3g%s%s" %
           ("/".join(sorted(dtypes)) or "none", len(ref), worst, " in " + worst_name if worst_name else "",
            "; missing " + ", ".join(missing) if missing else ""))

    ids = torch.tensor(expected["input_ids"], dtype=torch.long)
    with torch.no_grad():
        out = model(input_ids=ids, labels=ids)
    logits = out.logits.float()
    want = torch.tensor(expected["logits"], dtype=torch.float32).reshape(expected["logits_shape"])
    if tuple(logits.shape) != tuple(want.shape):
        report(False, "logits shape %s, expected %s" % (list(logits.shape), list(want.shape)))
    else:
        scale = float(want.abs().max())
        err = float((logits - want).abs().max())
        report(err <= rtol * scale, "logits: max |diff| %.3g, %.3g of max |logit| %.4g (tolerance %.0e)" %
               (err, err / scale, scale, rtol))
    loss, want_loss = float(out.loss), float(expected["loss"])
    report(abs(loss - want_loss) <= rtol * abs(want_loss), "loss %.7f, expected %.7f" % (loss, want_loss))

    tok_path = os.path.join(args.exported, "tokenizer.json")
    if os.path.exists(tok_path):
        from tokenizers import Tokenizer

        try:
            tok = Tokenizer.from_file(tok_path)
            with open(tok_path, encoding="utf-8") as f:
                added = {t["content"]: t for t in json.load(f).get("added_tokens", [])}
            bad = [s for s in SR_SPECIALS if s not in added or not added[s].get("special")
                   or added[s]["id"] >= cfg.vocab_size or tok.token_to_id(s) != added[s]["id"]]
            n = tok.get_vocab_size(with_added_tokens=True)
            enc = tok.encode("<query>What is it?<chunk>text<summary>", add_special_tokens=False).ids
            ok = not bad and n <= cfg.vocab_size and enc[0] == added["<query>"]["id"]
            report(ok, "tokenizer.json: %d tokens (vocab_size %d)%s" %
                   (n, cfg.vocab_size, "; bad or missing special tokens " + " ".join(bad) if bad else ""))
        except Exception as e:
            report(False, "tokenizer.json does not load: %s" % e)
    else:
        print("note no tokenizer.json in the export")

    if failures:
        print("check_hf_export: %d check(s) failed for %s" % (len(failures), args.exported))
        return 1
    print("check_hf_export: %s matches %s" % (args.exported, args.fixture))
    return 0


if __name__ == "__main__":
    sys.exit(main())
