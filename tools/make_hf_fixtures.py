#!/usr/bin/env python3
"""Makes the Hugging Face fixtures of the round-trip proof (issue 10) under --out.

    python3 tools/make_hf_fixtures.py --out tests/fixtures/hf

Needs torch, transformers 5.x, tokenizers and safetensors (no network). Everything is
regenerated from fixed seeds, so a second run writes the same files. It writes:

  qwen2-untied/   a random tiny Qwen2ForCausalLM (hidden 64, 2 layers, 4 q / 2 kv heads of 16,
  qwen2-tied/     MLP 128, vocab 384, q/k/v biases) saved by transformers in f32: untied head,
  qwen2-window/   tied head, a sliding window of 8 on every layer (tied head), and sharded into several
  qwen2-sharded/  safetensors files with model.safetensors.index.json.
                  Each folder has expected.json: two sequences of input ids, the f32 logits
                  transformers computes for them on the CPU (eager attention) and the mean
                  next-token cross-entropy.
  tokenizer/      tokenizer.json with the structure of Qwen2's (NFC, the split regex, byte-level
                  BPE, three added special tokens) trained by `tokenizers` on a built-in
                  mixed-script corpus; corpus.txt (test lines) and expected_ids.json (the ids of
                  each line, without its newline, add_special_tokens=False); expected_multiline.json
                  (texts holding newlines, carriage returns and tabs, with their ids).

The C++ side (tests/unit/test_hf_roundtrip.cpp, tests/gpu/test_cuda_hf.cpp) reads these files;
tools/check_hf_export.py compares a smoothread export with them.
"""

import argparse
import json
import os
import random
import shutil
import sys
import unicodedata

# Tiny but complete: GQA (4 query heads share 2 kv heads), head_dim 16, biases on q/k/v.
HIDDEN, LAYERS, HEADS, KV_HEADS, INTERMEDIATE, VOCAB = 64, 2, 4, 2, 128, 384
SEQ_LEN, BATCH = 24, 2
WINDOW = 8

# name: (tied head, sliding window or 0, rope theta, rms eps, max shard size or None, seed)
MODELS = {
    "qwen2-untied": (False, 0, 10000.0, 1e-6, None, 1001),
    "qwen2-tied": (True, 0, 1000000.0, 1e-5, None, 1002),
    "qwen2-window": (True, WINDOW, 10000.0, 1e-6, None, 1003),
    "qwen2-sharded": (False, 0, 10000.0, 1e-6, "200KB", 1004),
}

QWEN2_SPLIT_REGEX = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}|"
                     r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
ADDED_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
TOKENIZER_VOCAB = 2000


def fail(msg):
    print("make_hf_fixtures: " + msg, file=sys.stderr)
    sys.exit(1)


def fmt_floats(values):
    # 8 significant digits (far below the 1e-4 tolerance of the comparisons); compact to keep the fixtures small.
    out = []
    for v in values:
        if v != v or v in (float("inf"), float("-inf")):
            fail("non-finite value in the logits")
        out.append("%.8g" % v)
    return "[" + ",".join(out) + "]"


def write_expected(path, obj, logits):
    # One key a line; the long float list is formatted by hand.
    items = ['  "%s": %s' % (k, json.dumps(v)) for k, v in obj.items()]
    items.append('  "logits": ' + fmt_floats(logits))
    text = "{\n" + ",\n".join(items) + "\n}\n"
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


# ----------------------------------------------------------------------------------------------
# Models


def qwen2_config(tied, window, theta, eps):
    from transformers import Qwen2Config

    kw = dict(
        vocab_size=VOCAB,
        hidden_size=HIDDEN,
        intermediate_size=INTERMEDIATE,
        num_hidden_layers=LAYERS,
        num_attention_heads=HEADS,
        num_key_value_heads=KV_HEADS,
        hidden_act="silu",
        max_position_embeddings=4096,
        rms_norm_eps=eps,
        tie_word_embeddings=tied,
        rope_parameters={"rope_type": "default", "rope_theta": theta},
        attention_dropout=0.0,
    )
    if window:
        # smoothread windows every layer: max_window_layers 0 makes transformers window layers
        # >= 0, and layer_types says the same explicitly.
        kw.update(use_sliding_window=True, sliding_window=window, max_window_layers=0,
                  layer_types=["sliding_attention"] * LAYERS)
    else:
        kw.update(use_sliding_window=False, max_window_layers=LAYERS,
                  layer_types=["full_attention"] * LAYERS)
    return Qwen2Config(**kw)


def randomize(model, seed):
    """Overwrites every parameter from a seeded generator. transformers' own init leaves the
    biases at zero and the norms at one, which would not test that they are read."""
    import torch

    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in sorted(model.named_parameters(), key=lambda kv: kv[0]):
            noise = torch.randn(p.shape, generator=g, dtype=torch.float32)
            if name.endswith("norm.weight"):
                p.copy_(1.0 + 0.2 * noise)
            elif name.endswith(".bias"):
                p.copy_(0.5 * noise)
            elif "embed_tokens" in name or name == "lm_head.weight":
                p.copy_(0.4 * noise)
            else:
                fan_in = p.shape[1]
                p.copy_(noise / (fan_in ** 0.5))


def eager_logits(model, ids):
    import torch

    with torch.no_grad():
        out = model(input_ids=ids, labels=ids)
    return out.logits.float(), float(out.loss)


def make_model(out_root, name, spec):
    import torch
    from transformers import AutoModelForCausalLM, Qwen2ForCausalLM

    tied, window, theta, eps, shard, seed = spec
    folder = os.path.join(out_root, name)
    shutil.rmtree(folder, ignore_errors=True)
    torch.manual_seed(seed)
    cfg = qwen2_config(tied, window, theta, eps)
    model = AutoModelForCausalLM.from_config(cfg, attn_implementation="eager")
    randomize(model, seed)
    if tied and model.lm_head.weight.data_ptr() != model.model.embed_tokens.weight.data_ptr():
        fail(name + ": the head is not tied to the embedding")
    model.eval()
    kwargs = {"max_shard_size": shard} if shard else {}
    model.save_pretrained(folder, **kwargs)

    files = sorted(os.listdir(folder))
    if shard:
        if "model.safetensors.index.json" not in files or sum(f.endswith(".safetensors") for f in files) < 2:
            fail(name + ": expected several shards and an index, got " + str(files))
    elif "model.safetensors" not in files:
        fail(name + ": expected model.safetensors, got " + str(files))
    # generation_config.json is not part of what smoothread reads; keep the fixture small.
    gen = os.path.join(folder, "generation_config.json")
    if os.path.exists(gen):
        os.remove(gen)

    # The expected values come from the saved folder as transformers loads it.
    loaded = Qwen2ForCausalLM.from_pretrained(folder, dtype=torch.float32, attn_implementation="eager")
    loaded.eval()
    want_types = ["sliding_attention" if window else "full_attention"] * LAYERS
    if list(loaded.config.layer_types) != want_types:
        fail(name + ": transformers reads layer_types " + str(loaded.config.layer_types))
    if window and loaded.config.sliding_window != window:
        fail(name + ": transformers reads sliding_window " + str(loaded.config.sliding_window))
    sd_a, sd_b = model.state_dict(), loaded.state_dict()
    for k, v in sd_a.items():
        if not torch.equal(v, sd_b[k]):
            fail(name + ": tensor " + k + " changed by save/load")

    g = torch.Generator().manual_seed(seed + 7)
    ids = torch.randint(0, VOCAB, (BATCH, SEQ_LEN), generator=g)
    logits, loss = eager_logits(loaded, ids)
    # The mean next-token cross-entropy, as smoothread computes it (every position but the last
    # of each sequence predicts the next token).
    lp = torch.log_softmax(logits[:, :-1, :].double(), dim=-1)
    manual = float(-lp.gather(-1, ids[:, 1:].unsqueeze(-1)).mean())
    if abs(manual - loss) > 1e-4 * abs(manual):
        fail(name + ": transformers' loss %.8g differs from the mean cross-entropy %.8g" % (loss, manual))

    if window:
        # The window must change the logits past it and nothing before it: the same weights
        # with full attention.
        full = AutoModelForCausalLM.from_config(qwen2_config(tied, 0, theta, eps), attn_implementation="eager")
        full.load_state_dict(loaded.state_dict())
        full.eval()
        flog, _ = eager_logits(full, ids)
        if not torch.allclose(flog[:, :window], logits[:, :window], rtol=1e-5, atol=1e-5):
            fail(name + ": the window changed logits inside the first window")
        if torch.allclose(flog[:, window:], logits[:, window:], rtol=1e-3, atol=1e-3):
            fail(name + ": the window did not change the logits past it")

    import transformers

    obj = {
        "model": name,
        "made_by": "tools/make_hf_fixtures.py",
        "transformers_version": transformers.__version__,
        "torch_version": torch.__version__,
        "dtype": "float32",
        "attn_implementation": "eager",
        "tie_word_embeddings": tied,
        "sliding_window": window,
        "vocab_size": VOCAB,
        "input_ids": ids.tolist(),
        "loss": loss,
        "logits_shape": list(logits.shape),
    }
    write_expected(os.path.join(folder, "expected.json"), obj, logits.reshape(-1).tolist())
    print("%-14s loss %.6f, files %s" % (name, loss, " ".join(sorted(os.listdir(folder)))))


# ----------------------------------------------------------------------------------------------
# Tokenizer

LATIN = ("the of and to in is was for on with as by at from that this it be are have not "
         "but they we you he she his her their will would could should there which what when "
         "where who how time people year day way thing man woman child world life hand part place "
         "case week company system program question work government number night point home water "
         "room mother area money story fact month lot right study book eye job word business issue "
         "side kind head house service friend father power hour game line end member law car city "
         "reading summary window chunk model token answer query memory context long short").split()
CONTRACTIONS = ["I'm", "don't", "can't", "won't", "it's", "they're", "we've", "you'll", "she'd",
                "He's", "THEY'LL", "We'D", "isn't", "Let's", "o'clock", "rock'n'roll", "y'all"]
ACCENTED = ("café naïve résumé über Straße Ålesund façade niño señor coöperate déjà vu élève "
            "crème brûlée Zürich São Paulo Kraków Łódź Dvořák Ærøskøbing").split()
CYRILLIC = "привет мир как дела это длинный текст чтение модель окно память Москва".split()
GREEK = "καλημέρα κόσμε λόγος ἀρχή Ἀθῆναι μῆνιν ἄειδε θεά".split()
ARABIC = "مرحبا بالعالم هذا نص طويل القراءة النموذج".split()
HEBREW = "שלום עולם זה טקסט ארוך".split()
DEVANAGARI = "नमस्ते दुनिया यह लंबा पाठ है पढ़ना".split()
THAI = "สวัสดีชาวโลก นี่คือข้อความ".split()
CJK = ("我们今天读一篇很长的文章然后写一个简短的摘要模型的记忆是一个固定的窗口"
       "日本語の文章を読みますこれはテストですカタカナトークナイザー"
       "한국어문장을읽습니다요약모델창기억")
EMOJI = ["😀", "🚀", "👍", "👍🏽", "👩\u200d💻", "👨\u200d👩\u200d👧\u200d👦", "🏳️\u200d🌈", "🇯🇵", "🇫🇷",
         "❤️", "1️⃣", "🧑🏿\u200d🔬", "✨", "🤖", "🙂"]
CODE = [
    "def f(x):\n    return x * 2 + 1",
    "for (int i = 0; i < n; ++i) {\n\tsum += a[i];\n}",
    "if (x != nullptr && x->next) return x->next->value;",
    '{"key": "value", "list": [1, 2, 3], "nested": {"a": null}}',
    "import numpy as np\narr = np.zeros((3, 4), dtype=np.float32)",
    "std::vector<std::string> names{\"a\", \"b\"};  // comment",
    "SELECT name, COUNT(*) FROM users WHERE age >= 18 GROUP BY name;",
    "x = [i**2 for i in range(10) if i % 2 == 0]  # squares",
    "#include <cstdio>\nint main() { printf(\"%d\\n\", 42); }",
    "    self.weight = nn.Parameter(torch.randn(out_f, in_f) / math.sqrt(in_f))",
]


def training_texts():
    """A deterministic mixed-script corpus, large enough for a vocabulary of 2000."""
    rng = random.Random(20240610)
    texts = []
    for _ in range(2500):
        kind = rng.random()
        words = []
        n = rng.randint(4, 14)
        for _ in range(n):
            r = rng.random()
            if r < 0.45:
                w = rng.choice(LATIN)
                if rng.random() < 0.15:
                    w = w.capitalize()
                words.append(w)
            elif r < 0.52:
                words.append(rng.choice(CONTRACTIONS))
            elif r < 0.58:
                words.append(rng.choice(ACCENTED))
            elif r < 0.63:
                words.append(rng.choice(CYRILLIC))
            elif r < 0.66:
                words.append(rng.choice(GREEK))
            elif r < 0.69:
                words.append(rng.choice(ARABIC + HEBREW))
            elif r < 0.72:
                words.append(rng.choice(DEVANAGARI + THAI))
            elif r < 0.82:
                a = rng.randrange(len(CJK))
                words.append(CJK[a:a + rng.randint(1, 6)])
            elif r < 0.87:
                words.append(rng.choice(EMOJI))
            elif r < 0.93:
                words.append(str(rng.randint(0, 10 ** rng.randint(1, 7))))
            else:
                words.append(rng.choice([",", ".", "!", "?", ";", ":", "...", "(", ")", "-", "—", "\"", "'"]))
        line = " ".join(words)
        if kind < 0.1:
            line = rng.choice(CODE)
        elif kind < 0.15:
            line = line.replace(" ", "  ", 2) + rng.choice(["", " ", "\t", "\n", "\n\n"])
        texts.append(line)
    # Paragraphs, so that newline pieces get merges too.
    paras = ["\n".join(texts[i:i + 5]) for i in range(0, len(texts), 5)]
    return texts + paras


# The test lines: every category the C++ tokenizer must get right. Not all of their words are in
# the training corpus, so they also exercise pieces that BPE splits into smaller tokens.
CORPUS_LINES = [
    "Hello, world! This is a test of the tokenizer.",
    "I'm sure they're here; we've seen it, you'll see, she'd know, it's fine, don't worry.",
    "THEY'LL say We'D and IT'S and I'M — the contractions ignore case.",
    "rock'n'roll y'all o'clock 'quoted' \"double\"",
    "Numbers: 0 7 42 1234567890 3.14159 -2.5e-3 1,000,000 ١٢٣ ٤٥ 二〇二四",
    "我们今天读一篇很长的文章，然后写一个简短的摘要。",
    "日本語の文章を読みます。これはテストです！カタカナ",
    "한국어 문장을 읽습니다. 요약 모델",
    "Mixed: English 中文 日本語 한국어 русский ελληνικά العربية עברית हिन्दी ไทย",
    "Emoji: 😀 🚀 👍🏽 👩\u200d💻 👨\u200d👩\u200d👧\u200d👦 🏳️\u200d🌈 🇯🇵🇫🇷 ❤️ 1️⃣ 🧑🏿\u200d🔬",
    "😀😀😀🤖✨ stuck together🙂and words",
    "def f(x):    return x * 2 + 1",
    "\tfor (int i = 0; i < n; ++i) { sum += a[i]; }",
    "\t\tindented with two tabs\tand one inside",
    '{"key": "value", "list": [1, 2, 3], "nested": {"a": null}}',
    "std::vector<std::string> names{\"a\", \"b\"};  // comment",
    "x = [i**2 for i in range(10) if i % 2 == 0]  # squares",
    "spaces:     five      six       seven",
    "   leading spaces and trailing spaces   ",
    " one leading space",
    "trailing tab\t",
    "",
    "Combining marks: e\u0301 a\u0308 o\u0302 n\u0303 A\u030a q\u0303 x\u0327\u0301",
    "Precomposed: é ä ô ñ Å Ω Ǆ ﬁ",
    "Devanagari marks: नमस्ते किताब पढ़ना",
    "Added token: <|im_start|>user\\nhello<|im_end|> then <|endoftext|>",
    "glued<|im_start|>assistant<|im_end|>glued",
    "Punctuation runs: !!! ??? ... --- === *** ~~~ ^^^ @@@ ### $$$ %%%",
    "URL https://example.com/path?query=1&x=y#frag and e-mail a.b@example.org",
    "Zero width: a\u200bb c\u200cd e\u2060f, no-break\u00a0space, ideographic\u3000space",
    "Arabic: مرحبا بالعالم، هذا نص طويل.",
    "Greek polytonic: μῆνιν ἄειδε θεὰ Πηληϊάδεω Ἀχιλῆος",
    "Math: ∑ ∫ √2 ≤ ≥ ≠ ∞ π≈3.14 x² y₃ ½",
    "Supplementary planes: 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝐛𝐨𝐥𝐝 𠀀𠀁",
]

# Texts with line breaks, which the one-text-per-line corpus cannot hold.
MULTILINE_TEXTS = [
    "line one\nline two\n",
    "para\n\n\nafter three newlines",
    "windows\r\nline endings\r\n",
    "trailing spaces   \nand tabs\t\t\n\tindented",
    "code:\n    if x:\n        return 1\n",
    "  \n  \n",
    "<|im_start|>system\nYou are helpful.<|im_end|>\n<|im_start|>user\nHi 👋<|im_end|>\n",
]


def make_tokenizer(out_root):
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

    folder = os.path.join(out_root, "tokenizer")
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)

    tok = Tokenizer(models.BPE(unk_token=None, fuse_unk=False, byte_fallback=False))
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(QWEN2_SPLIT_REGEX), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=TOKENIZER_VOCAB,
        min_frequency=2,
        show_progress=False,
        special_tokens=[],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(training_texts(), trainer=trainer)
    tok.add_special_tokens([AddedToken(t, single_word=False, lstrip=False, rstrip=False, normalized=False,
                                       special=True) for t in ADDED_TOKENS])

    # Rewrite the parts around the trained vocabulary exactly as Qwen2's tokenizer.json spells
    # them (the Python bindings do not expose every flag, e.g. trim_offsets of the pre-tokenizer).
    j = json.loads(tok.to_str())
    byte_level = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False}
    model = j["model"]
    if model.get("type") != "BPE":
        fail("trained model is not BPE")
    merges = []
    for m in model["merges"]:
        if isinstance(m, str):
            merges.append(m)
        else:
            a, b = m
            if " " in a or " " in b:
                fail("a byte-level merge holds a space: %r %r" % (a, b))
            merges.append(a + " " + b)
    vocab = model["vocab"]
    added = []
    for t in sorted(j["added_tokens"], key=lambda t: t["id"]):
        added.append({"id": t["id"], "content": t["content"], "single_word": False, "lstrip": False,
                      "rstrip": False, "normalized": False, "special": True})
    out = {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": added,
        "normalizer": {"type": "NFC"},
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": QWEN2_SPLIT_REGEX}, "behavior": "Isolated", "invert": False},
            dict(byte_level),
        ]},
        "post_processor": dict(byte_level),
        "decoder": dict(byte_level),
        "model": {
            "type": "BPE",
            "dropout": None,
            "unk_token": None,
            "continuing_subword_prefix": "",
            "end_of_word_suffix": "",
            "fuse_unk": False,
            "byte_fallback": False,
            "ignore_merges": False,
            "vocab": dict(sorted(vocab.items(), key=lambda kv: kv[1])),
            "merges": merges,
        },
    }
    text = json.dumps(out, ensure_ascii=False, indent=2) + "\n"
    path = os.path.join(folder, "tokenizer.json")
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)

    final = Tokenizer.from_file(path)
    n_vocab = len(vocab)
    ids_added = [t["id"] for t in added]
    if ids_added != list(range(n_vocab, n_vocab + len(ADDED_TOKENS))):
        fail("added tokens got ids %s, expected them right after the %d vocabulary entries" % (ids_added, n_vocab))
    if final.get_vocab_size(with_added_tokens=True) != n_vocab + len(ADDED_TOKENS):
        fail("reloaded tokenizer has %d tokens" % final.get_vocab_size(with_added_tokens=True))

    def encode(s):
        ids = final.encode(s, add_special_tokens=False).ids
        back = final.decode(ids, skip_special_tokens=False)
        if back != unicodedata.normalize("NFC", s):
            # Python's and the tokenizers crate's Unicode versions may differ on rare characters.
            print("WARNING: decode(encode(%r)) = %r, not the NFC text" % (s, back))
        return ids

    for line in CORPUS_LINES:
        if "\n" in line or "\r" in line:
            fail("corpus line holds a line break: %r" % line)
    with open(os.path.join(folder, "corpus.txt"), "w", encoding="utf-8", newline="") as f:
        f.write("".join(line + "\n" for line in CORPUS_LINES))
    expected = [encode(line) for line in CORPUS_LINES]
    with open(os.path.join(folder, "expected_ids.json"), "w", encoding="utf-8") as f:
        f.write("[\n" + ",\n".join(json.dumps(ids) for ids in expected) + "\n]\n")
    multi = [{"text": t, "ids": encode(t)} for t in MULTILINE_TEXTS]
    with open(os.path.join(folder, "expected_multiline.json"), "w", encoding="utf-8") as f:
        f.write("[\n" + ",\n".join(json.dumps(m, ensure_ascii=False) for m in multi) + "\n]\n")

    # transformers' fast tokenizer over the same file must agree (it is what a user of the
    # exported folder gets).
    try:
        from transformers import PreTrainedTokenizerFast
    except ImportError:
        PreTrainedTokenizerFast = None
    hf = None
    if PreTrainedTokenizerFast is not None:
        try:
            hf = PreTrainedTokenizerFast(tokenizer_file=path)
        except Exception as e:  # an API change there is not a fault of the fixture
            print("note: transformers could not load tokenizer.json (%s); ids checked with tokenizers only" % e)
    if hf is not None:
        for line, ids in zip(CORPUS_LINES, expected):
            got = hf.encode(line, add_special_tokens=False)
            if got != ids:
                # The fixture is defined by `tokenizers`; say so loudly, but write it.
                print("WARNING: transformers encodes %r as %s, tokenizers as %s" % (line, got, ids))

    print("tokenizer      vocab %d + %d added, %d merges, %d corpus lines, %d tokens" %
          (n_vocab, len(added), len(merges), len(CORPUS_LINES), sum(map(len, expected))))


def write_readme(out_root):
    text = """# Hugging Face round-trip fixtures

Made by `python3 tools/make_hf_fixtures.py --out tests/fixtures/hf` (torch, transformers 5.x,
tokenizers, safetensors; deterministic: a rerun writes the same files). Do not edit by hand.

- `qwen2-untied/`, `qwen2-tied/`, `qwen2-window/` (sliding window %d on every layer),
  `qwen2-sharded/` (several safetensors shards and model.safetensors.index.json): random tiny
  Qwen2ForCausalLM models (hidden %d, %d layers, %d query / %d kv heads, MLP %d, vocab %d, q/k/v
  biases) saved by transformers in float32. `expected.json`: `input_ids` (%d sequences of %d),
  `logits` (float32, row-major `logits_shape` = [batch, position, vocab]) and `loss` (mean
  next-token cross-entropy over every position but each sequence's last) computed by transformers
  on the CPU with eager attention.
- `tokenizer/`: `tokenizer.json` with the structure of Qwen2's (NFC, Qwen2's split regex,
  byte-level BPE, added special tokens %s), trained by `tokenizers` to %d entries; `corpus.txt`
  (one text per line: lines are split at `\\n` only, the file ends with one); `expected_ids.json`
  (the ids of each line without its newline, add_special_tokens=False);
  `expected_multiline.json` (`[{"text", "ids"}]` for texts holding line breaks).

Checked by tests/unit/test_hf_roundtrip.cpp (CPU, f32), tests/gpu/test_cuda_hf.cpp (CUDA, bf16)
and, for an exported folder, tools/check_hf_export.py.
""" % (WINDOW, HIDDEN, LAYERS, HEADS, KV_HEADS, INTERMEDIATE, VOCAB, BATCH, SEQ_LEN,
       ", ".join("`%s`" % t for t in ADDED_TOKENS), TOKENIZER_VOCAB)
    with open(os.path.join(out_root, "README.md"), "w", encoding="utf-8") as f:
        f.write(text)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True, help="the fixtures directory (tests/fixtures/hf)")
    ap.add_argument("--only", choices=["models", "tokenizer"], help="make only one part")
    args = ap.parse_args()
    try:
        import torch
    except ImportError:
        fail("needs torch, transformers 5.x, tokenizers and safetensors")
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.set_num_threads(1)  # the same reduction order on every run
    os.makedirs(args.out, exist_ok=True)
    if args.only != "tokenizer":
        for name, spec in MODELS.items():
            make_model(args.out, name, spec)
    if args.only != "models":
        make_tokenizer(args.out)
    write_readme(args.out)
    total = 0
    for root, _, files in os.walk(args.out):
        total += sum(os.path.getsize(os.path.join(root, f)) for f in files)
    print("total %.2f MB under %s" % (total / 1e6, args.out))
    if total > 3e6:
        print("WARNING: the fixtures take %.2f MB, more than the 3 MB budget" % (total / 1e6))


if __name__ == "__main__":
    main()
