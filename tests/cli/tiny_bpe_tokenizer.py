#!/usr/bin/env python3
"""A byte-level BPE tokenizer.json with Qwen2's structure, for the command-line tests of
`ckpt import-hf` and `tools/replicate.sh --init-from` (standard library only):

    tiny_bpe_tokenizer.py OUT VARIANT

The 256 byte symbols, 4 merges (ids 256..259), and added tokens. Variants: plain
(<|endoftext|> = 260), two (and <|im_start|> = 261), all (also the nine Smooth Reading tokens,
261..269), wordpiece (model type WordPiece), big (a vocabulary of 300 entries).
"""
import json, sys
out, variant = sys.argv[1], sys.argv[2]
bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
cs, n = bs[:], 0
for b in range(256):
    if b not in bs:
        bs.append(b)
        cs.append(256 + n)
        n += 1
vocab = {chr(c): i for i, c in enumerate(sorted(cs, key=lambda c: bs[cs.index(c)]))}
merges = [("Ġ", "t"), ("h", "e"), ("Ġt", "he"), ("i", "n")]
for a, b in merges:
    vocab[a + b] = len(vocab)
if variant == "big":
    for i in range(300 - len(vocab)):
        vocab["x%d" % i] = len(vocab)
def tok(i, content):
    return {"id": i, "content": content, "single_word": False, "lstrip": False, "rstrip": False,
            "normalized": False, "special": True}
added = [tok(len(vocab), "<|endoftext|>")]
if variant == "two":
    added.append(tok(len(vocab) + 1, "<|im_start|>"))
if variant == "all":
    for name in ["<bos>", "<eos>", "<query>", "<chunk>", "<summary>", "<read>", "<stop>", "<answer>", "<pad>"]:
        added.append(tok(len(vocab) + len(added), name))
bl = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False}
regex = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
j = {"version": "1.0", "truncation": None, "padding": None, "added_tokens": added,
     "normalizer": {"type": "NFC"},
     "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
         {"type": "Split", "pattern": {"Regex": regex}, "behavior": "Isolated", "invert": False}, bl]},
     "post_processor": bl, "decoder": bl,
     "model": {"type": "WordPiece" if variant == "wordpiece" else "BPE", "dropout": None, "unk_token": None,
               "continuing_subword_prefix": "", "end_of_word_suffix": "", "fuse_unk": False,
               "byte_fallback": False, "ignore_merges": False, "vocab": vocab,
               "merges": ["%s %s" % m for m in merges]}}
with open(out, "w", encoding="utf-8") as f:
    json.dump(j, f, ensure_ascii=False, indent=2)
