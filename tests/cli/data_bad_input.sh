#!/usr/bin/env bash
# Every malformed token dataset given to `smoothread data inspect` exits with code 2 and one
# line on stderr naming the file and what is wrong; so do a missing file and bad options.
set -euo pipefail
: "${SR_BIN:?}" "${SR_PYTHON:?}"
source "$(dirname "${BASH_SOURCE[0]}")/lib.bash"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"

# A valid file to start from, then one broken copy per kind of damage (made with h5py).
printf 'one two three four five six seven eight nine ten eleven twelve\n%.0s' $(seq 1 200) > t.txt
"$SR_BIN" data from-text t.txt --out good.h5 --sample-tokens 64 --no-compress >/dev/null
"$SR_BIN" data inspect good.h5 >/dev/null

"$SR_PYTHON" - <<'EOF'
import shutil
import h5py
import numpy as np

def variant(name, change):
    shutil.copy("good.h5", name)
    with h5py.File(name, "r+") as f:
        change(f)

def replace(f, key, data):
    del f[key]
    f[key] = data

variant("no_offsets.h5", lambda f: f.__delitem__("offsets"))
variant("no_tokens.h5", lambda f: f.__delitem__("tokens"))
variant("no_format.h5", lambda f: f.attrs.__delitem__("format"))
variant("no_vocab.h5", lambda f: f.attrs.__delitem__("vocab_size"))
variant("flat_offsets.h5", lambda f: replace(f, "offsets", np.concatenate(
    [f["offsets"][:2], f["offsets"][1:]]).astype("u8")))
variant("offsets_beyond.h5", lambda f: replace(f, "offsets", np.concatenate(
    [f["offsets"][:-1], [f["offsets"][-1] + 10]]).astype("u8")))
variant("short_mask.h5", lambda f: replace(f, "loss_mask", f["loss_mask"][:-1]))
variant("int64_tokens.h5", lambda f: replace(f, "tokens", f["tokens"][:].astype("i8")))
def bad_id(f):
    t = f["tokens"][:]
    t[int(f["offsets"][3]) + 5] = 999  # in sample 3
    replace(f, "tokens", t)
variant("bad_id.h5", bad_id)
EOF
head -c 3000 good.h5 > truncated.h5
echo "not hdf5" > text.h5

expect_user_error missing-file      "nothing.h5: no such file"            "$SR_BIN" data inspect nothing.h5
expect_user_error not-hdf5          "text.h5: not an HDF5 file"           "$SR_BIN" data inspect text.h5
expect_user_error truncated         "truncated.h5: damaged HDF5 file"          "$SR_BIN" data inspect truncated.h5
expect_user_error missing-offsets   "no_offsets.h5: missing dataset /offsets" "$SR_BIN" data inspect no_offsets.h5
expect_user_error missing-tokens    "no_tokens.h5: missing dataset /tokens"   "$SR_BIN" data inspect no_tokens.h5
expect_user_error missing-format    "no_format.h5: missing attribute 'format'" "$SR_BIN" data inspect no_format.h5
expect_user_error missing-vocab     "no_vocab.h5: missing attribute 'vocab_size'" "$SR_BIN" data inspect no_vocab.h5
expect_user_error offsets-flat      "flat_offsets.h5: /offsets must increase" "$SR_BIN" data inspect flat_offsets.h5
expect_user_error offsets-beyond    "offsets_beyond.h5: /offsets ends at"  "$SR_BIN" data inspect offsets_beyond.h5
expect_user_error mask-length       "short_mask.h5: /loss_mask has"        "$SR_BIN" data inspect short_mask.h5
expect_user_error tokens-type       "int64_tokens.h5: /tokens has type int64, expected uint32" "$SR_BIN" data inspect int64_tokens.h5
expect_user_error id-beyond-vocab   "bad_id.h5: sample 3 has token id 999" "$SR_BIN" data inspect bad_id.h5
expect_user_error unknown-option    "--frobnicate"                        "$SR_BIN" data inspect good.h5 --frobnicate
expect_user_error sample-range      "good.h5: --sample 100000 is out of range" "$SR_BIN" data inspect good.h5 --sample 100000
expect_user_error no-text-file      "absent.txt: no such file"            "$SR_BIN" data from-text absent.txt --out x.h5 --sample-tokens 64
expect_user_error missing-out       "--out"                               "$SR_BIN" data from-text t.txt --sample-tokens 64
expect_user_error bad-subcommand    "unknown subcommand 'frob'"           "$SR_BIN" data frob
[[ ! -e x.h5 && ! -e x.h5.tmp ]] || { echo "FAIL: a failed from-text left x.h5 or x.h5.tmp"; fails=$((fails + 1)); }

if [[ $fails -ne 0 ]]; then
  echo "data_bad_input: $fails failure(s)"
  exit 1
fi
echo "data_bad_input: ok"
