#!/usr/bin/env python3
"""Writes copy-rich text for pre-training small models to retrieve (tools/replicate.sh
--pretrain-steps): blocks that list random key-value records, then recall some of them in another
order. With the loss on every token (`smoothread data from-text`), a recalled value is
predictable only by finding its key earlier in the block. That is the content-addressed copying
every long-context task needs, and a pretrained model brings it while a model trained from scratch
on the tasks alone does not learn it (docs/results.md). The keys, values and sentences are not the
tasks' own: the skill is meant to transfer, not the templates.

  tools/recall_text.py --bytes N --out FILE [--seed S] [--block-bytes B] [--repeat-share F]

Each block is at most about B bytes (default 800, below the window of the replication's models),
one of:
  Records: <key> = <value>; ... Recall: <key> = <value>; ...
  Repeat: <random printable characters> | <the same again>   (the string's length varies)
Keys are 2-3 random syllables (unique within a block); values are 5 digits or 5 capitals. A
share F of the blocks (default 0.5) are repeats: the plainest copying signal there is (continue
what followed the last occurrence of this text), from which small models learn induction heads
fastest; the records then ask for the same copying addressed by a key.

It also prints two bounds on the training loss with the byte tokenizer, in nats per byte, so that
a pre-training run's loss says whether the model retrieves. Without retrieval, a recalled record
costs what a new one does, and a repeat's second copy what its first did. With perfect
retrieval, only the choice of which record is recalled next costs anything, and a second copy
nothing. A loss at the first bound means the model has learned the format and nothing
more.
"""
import argparse
import math
import random
import sys

SYLLABLES = [c + v for c in "bdfgklmnprstvz" for v in "aeiou"]
MAX_BLOCK_BYTES = 100_000  # ~4k records: far from running out of the 70^2 + 70^3 keys


def record_nats(key, value):
    """Entropy of a new record: 2 or 3 syllables, then a value of 5 digits or 5 capitals."""
    return (math.log(2) + len(key) // 2 * math.log(len(SYLLABLES)) + math.log(2) +
            5 * math.log(10 if value[0].isdigit() else 26))


# Every printable ASCII character but the space and the separator: with 94 symbols, the character
# before a position often identifies it within a string and the two before it nearly always do,
# so the plainest induction heads (match the previous characters, copy the next) predict the
# second copy.
REPEAT_ALPHABET = "".join(chr(c) for c in range(33, 127) if chr(c) != "|")


def repeat_block(rng, budget):
    """A random string and the same again: its text and entropy without and with retrieval.
    The string's length is drawn from a quarter to all of what the block holds: at one fixed
    length the copy sits a fixed distance back, which a head can find by position alone,
    without matching any content, and the tasks' copying needs the content."""
    longest = max(1, (budget - len("Repeat:  | \n")) // 2)
    n = rng.randint(max(1, longest // 4), longest)
    body = "".join(rng.choices(REPEAT_ALPHABET, k=n))
    nats = n * math.log(len(REPEAT_ALPHABET))
    return f"Repeat: {body} | {body}\n", 2 * nats, nats


def record_block(rng, budget):
    """One block's text, its entropy without retrieval and with perfect retrieval (nats)."""
    records = []  # (text, nats)
    used = set()
    size = len("Records: ") + len(" Recall: ") + 1
    # The records fill about 60 % of the block and the recall the rest.
    while size < 0.6 * budget:
        key = "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 3)))
        if key in used:
            continue
        used.add(key)
        if rng.random() < 0.5:
            value = "".join(rng.choice("0123456789") for _ in range(5))
        else:
            value = "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ") for _ in range(5))
        records.append((f"{key} = {value};", record_nats(key, value)))
        size += len(records[-1][0]) + 1
    recall = rng.sample(records, k=max(1, round(len(records) * 2 / 3)))
    nats = sum(n for _, n in records)
    blind = nats + sum(n for _, n in recall)
    # Recalled i-th: one of the records not yet recalled.
    seeing = nats + sum(math.log(len(records) - i) for i in range(len(recall)))
    text = "Records: " + " ".join(t for t, _ in records) + " Recall: " + " ".join(t for t, _ in recall) + "\n"
    return text, blind, seeing


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bytes", type=int, required=True, help="bytes of text to write (at least)")
    ap.add_argument("--out", required=True, help="the text file")
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--block-bytes", type=int, default=800, help="bytes per block (records + recall, or a repeat)")
    ap.add_argument("--repeat-share", type=float, default=0.5, help="share of the blocks that are repeats")
    a = ap.parse_args()
    def fail(message):
        print(f"recall_text.py: {message}", file=sys.stderr)
        sys.exit(2)
    if a.bytes < 1:
        fail(f"--bytes {a.bytes}: expected a positive count")
    if not 64 <= a.block_bytes <= MAX_BLOCK_BYTES:
        fail(f"--block-bytes {a.block_bytes}: expected 64 to {MAX_BLOCK_BYTES}")
    if not 0.0 <= a.repeat_share <= 1.0:
        fail(f"--repeat-share {a.repeat_share}: expected 0 to 1")
    rng = random.Random(a.seed)
    written, blind, seeing = 0, 0.0, 0.0
    with open(a.out, "w") as f:
        while written < a.bytes:
            kind = repeat_block if rng.random() < a.repeat_share else record_block
            b, nb, ns = kind(rng, a.block_bytes)
            f.write(b)
            written += len(b)
            blind += nb
            seeing += ns
    print(f"recall_text.py: wrote {a.out}: {written} bytes; loss bounds (nats per byte): "
          f"{blind / written:.3f} without retrieval, {seeing / written:.3f} with perfect retrieval")


if __name__ == "__main__":
    main()
