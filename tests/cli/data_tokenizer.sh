#!/usr/bin/env bash
# Datasets in a BPE vocabulary: `data synth|from-text --tokenizer tokenizer.json` write the
# tokenizer's identity, vocab_size and special ids, `data inspect` reads them back, and
# `bench tokenizer` runs; a tokenizer without the Smooth Reading specials and one of another
# model type are refused with one line.
set -euo pipefail
: "${SR_BIN:?}" "${SR_PYTHON:?}" "${SR_SOURCE_DIR:?}"
source "$(dirname "${BASH_SOURCE[0]}")/lib.bash"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
tok="$SR_SOURCE_DIR/tests/fixtures/tokenizer/mini_sr.json"
fail() { echo "FAIL: $*"; exit 1; }

"$SR_BIN" data synth --task passkey --context-tokens 2048 --samples 4 --chunk-tokens 256 \
  --tokenizer "$tok" --out bpe.h5 >/dev/null
"$SR_BIN" data inspect bpe.h5 --tokenizer "$tok" > inspect.txt
identity=$(grep -o 'tokenizer bpe-[0-9a-f]\{16\}' inspect.txt | cut -d' ' -f2)
[ -n "$identity" ] || fail "data inspect shows no bpe-<hash> tokenizer: $(head -3 inspect.txt)"
grep -q 'vocab_size 298' inspect.txt || fail "vocab_size is not the tokenizer's 298"
# The special counts come from the token_id.* attributes: <chunk> is the fixture's added token 290.
grep -Eq '<chunk> +290: ([2-9]|[1-9][0-9]+)$' inspect.txt || fail "<chunk> is not id 290 or too rare: $(grep '<chunk>' inspect.txt)"
grep -q 'The pass key is' inspect.txt || fail "the decoded sample lacks the needle text"

# Another tokenizer.json than the dataset's is refused by inspect.
sed 's/"<pad>"/"<pad>" /' "$tok" > other.json
expect_user_error inspect_other "is bpe-" "$SR_BIN" data inspect bpe.h5 --tokenizer other.json

printf 'hello world. %.0s' $(seq 1 300) > t.txt
"$SR_BIN" data from-text t.txt --out text.h5 --sample-tokens 64 --tokenizer "$tok" >/dev/null
"$SR_BIN" data inspect text.h5 | grep -q "tokenizer $identity" || fail "from-text wrote another identity"

# Refusals: no Smooth Reading specials; another model type.
"$SR_PYTHON" - "$tok" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
j["added_tokens"] = [a for a in j["added_tokens"] if a["content"] != "<read>"]
json.dump(j, open("nospecial.json", "w"), ensure_ascii=False)
j = json.load(open(sys.argv[1]))
j["model"]["type"] = "WordPiece"
json.dump(j, open("wordpiece.json", "w"), ensure_ascii=False)
j = json.load(open(sys.argv[1]))
j["model"]["ignore_merges"] = "yes"
json.dump(j, open("badtype.json", "w"), ensure_ascii=False)
j = json.load(open(sys.argv[1]))
j["model"]["vocab"]["!"] = 2**31
json.dump(j, open("hugeid.json", "w"), ensure_ascii=False)
PY
mkdir dir.json
# A field of the wrong type is named, not read as its default; a huge id is refused before
# any table of that size is allocated; a directory is named as one.
expect_user_error bad_type "badtype.json: model.ignore_merges is a string, expected true or false" \
  "$SR_BIN" data from-text t.txt --out y.h5 --sample-tokens 64 --tokenizer badtype.json
expect_user_error huge_id "hugeid.json: model.vocab['!'] is 2147483648, expected an integer id from 0 to 16777215" \
  "$SR_BIN" data synth --task passkey --context-tokens 1024 --samples 1 --tokenizer hugeid.json --out x.h5
expect_user_error dir_tokenizer "dir.json: is a directory, not a tokenizer.json file" \
  "$SR_BIN" data inspect bpe.h5 --tokenizer dir.json
# A byte dataset inspected with a BPE tokenizer.json: refused too, not ignored.
"$SR_BIN" data from-text t.txt --out bytes.h5 --sample-tokens 64 >/dev/null
expect_user_error inspect_byte_with_bpe "the dataset's tokenizer is byte but --tokenizer $tok is $identity" \
  "$SR_BIN" data inspect bytes.h5 --tokenizer "$tok"
"$SR_BIN" data inspect bytes.h5 --tokenizer byte >/dev/null || fail "inspect of a byte dataset with --tokenizer byte"
expect_user_error no_specials "import the model with \`smoothread ckpt import-hf\`" \
  "$SR_BIN" data synth --task passkey --context-tokens 1024 --samples 1 --tokenizer nospecial.json --out x.h5
expect_user_error wordpiece "model type 'WordPiece' is not supported" \
  "$SR_BIN" data from-text t.txt --out y.h5 --sample-tokens 64 --tokenizer wordpiece.json
[ ! -e x.h5 ] && [ ! -e y.h5 ] || fail "a refused command left an output file"

"$SR_BIN" bench tokenizer --tokenizer "$tok" --mb 1 > bench.txt || fail "bench tokenizer exited $?"
grep -q 'round trip ok' bench.txt || fail "bench tokenizer: $(cat bench.txt)"
"$SR_BIN" bench tokenizer --mb 0.5 | grep -q 'round trip ok' || fail "bench tokenizer (byte)"
expect_user_error bench_mb "--mb" "$SR_BIN" bench tokenizer --mb 0
if [ "$fails" -ne 0 ]; then
  echo "data_tokenizer: $fails failure(s)"
  exit 1
fi
echo "data_tokenizer: ok"
