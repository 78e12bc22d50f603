#!/usr/bin/env bash
# `smoothread data from-text` writes a token dataset that h5py reads with the exact snippet of
# docs/formats.md; the samples give back the text, cut at whitespace, with the documented masks
# and attributes. `data inspect` summarises the same file.
set -euo pipefail
: "${SR_BIN:?}" "${SR_PYTHON:?}" "${SR_SOURCE_DIR:?}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"

# Two files: short words, a tab, blank lines, and multi-byte UTF-8.
{
  for i in $(seq 1 40); do printf 'line %d of the first file, with a few words\tand a tab.\n' "$i"; done
  printf '\nZürich and Kraków — naïve café.\n'
} > a.txt
printf 'The second file is short.' > b.txt

"$SR_BIN" data from-text a.txt b.txt --out d.h5 --sample-tokens 40

sed -n '/# --- begin read-sample snippet ---/,/# --- end read-sample snippet ---/p' \
  "$SR_SOURCE_DIR/docs/formats.md" > snippet.py
grep -q 'def read_sample' snippet.py || { echo "snippet not found in docs/formats.md"; exit 1; }

cat > check.py <<'EOF'
import sys

exec(open("snippet.py").read())  # defines read_sample(path, i) exactly as documented
import h5py

with h5py.File("d.h5", "r") as f:
    n = len(f["offsets"]) - 1
    attrs = dict(f.attrs)
    assert f["tokens"].dtype == "uint32" and f["loss_mask"].dtype == "uint8", "dtypes"
    assert f["offsets"].dtype == "uint64", "offsets dtype"
assert attrs["vocab_size"] == 265 and attrs["tokenizer"] == "byte", attrs
assert attrs["source_files"] == "a.txt\nb.txt" and attrs["sample_tokens"] == "40", attrs
assert attrs["token_id.<bos>"] == 256 and attrs["token_id.<eos>"] == 257, attrs

text = open("a.txt", "rb").read() + open("b.txt", "rb").read()
bodies = []
for i in range(n):
    tokens, mask, decoded = read_sample("d.h5", i)
    assert 3 <= len(tokens) <= 40, (i, len(tokens))
    assert tokens[0] == 256 and tokens[-1] == 257, (i, tokens)
    assert mask.tolist() == [0] + [1] * (len(tokens) - 1), (i, mask)
    body = bytes(tokens[1:-1].tolist())
    assert decoded == "<bos>" + body.decode("utf-8", errors="replace") + "<eos>", (i, decoded)
    bodies.append(body)
assert b"".join(bodies) == text, "samples do not give back the text"
# Cut at whitespace: every sample but the last of each file ends with whitespace (a.txt itself
# ends with a newline, b.txt with ".").
ends = [b[-1:] for b in bodies]
assert all(e in (b" ", b"\n", b"\t") for e in ends[:-1]) and ends[-1] == b".", ends
print(f"h5py read {n} samples; snippet ok")
EOF
"$SR_PYTHON" check.py

"$SR_BIN" data inspect d.h5 --sample 0 > inspect.txt
cat inspect.txt
samples=$("$SR_PYTHON" -c 'import h5py; print(len(h5py.File("d.h5")["offsets"]) - 1)')
grep -q "^samples *$samples\$" inspect.txt
grep -q "source_files *a.txt; b.txt" inspect.txt
grep -q "<bos> *256: $samples\$" inspect.txt
grep -q "<bos>⟦line" inspect.txt
grep -q "<eos>⟧" inspect.txt
echo "data_h5py: ok"
