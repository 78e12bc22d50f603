#!/usr/bin/env bash
# Every command and subcommand answers --help with exit code 0, its usage on stdout and nothing
# on stderr. The commands are read from the program's own help (the "commands:" list of
# `smoothread --help`, then each command's "subcommands:" list), so a new one is covered too.
set -u
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
fails=0
checked=0

# The first word of each indented line under a "commands:" or "subcommands:" header, up to the
# next blank line.
listed() { awk '/^(sub)?commands:$/ {on = 1; next} on && /^$/ {on = 0} on && /^  [a-z]/ {print $1}' "$1"; }

check_help() {  # check_help WORD... : `smoothread WORD... --help`
  local rc=0
  "$SR_BIN" "$@" --help >out.txt 2>err.txt || rc=$?
  checked=$((checked + 1))
  if [[ $rc -ne 0 || -s err.txt ]] || ! grep -q "smoothread" out.txt; then
    echo "FAIL smoothread $* --help: rc=$rc, stderr:"
    cat err.txt
    fails=$((fails + 1))
  else
    echo "ok   smoothread $* --help"
  fi
}

"$SR_BIN" --help >top.txt || { echo "FAIL smoothread --help"; exit 1; }
commands=$(listed top.txt)
for c in $commands; do
  check_help "$c"
  cp out.txt "cmd_$c.txt"
  for s in $(listed "cmd_$c.txt"); do check_help "$c" "$s"; done
done

# The walk itself must have found the commands the README documents.
for want in "train" "data from-text" "data synth" "data build" "data inspect" "bench train" \
            "bench reader" "bench comm" "ckpt inspect"; do
  c=${want%% *}
  s=${want#* }
  if [[ $c == "$s" ]]; then
    grep -qx "$c" <<<"$commands" || { echo "FAIL '$c' is not in the commands of smoothread --help"; fails=$((fails + 1)); }
  else
    listed "cmd_$c.txt" 2>/dev/null | grep -qx "$s" ||
      { echo "FAIL '$s' is not in the subcommands of smoothread $c --help"; fails=$((fails + 1)); }
  fi
done

# A command word without a subcommand is an error, not help.
for c in data bench ckpt; do
  rc=0
  "$SR_BIN" "$c" >/dev/null 2>err.txt || rc=$?
  [[ $rc -eq 2 && $(wc -l <err.txt) -eq 1 ]] ||
    { echo "FAIL smoothread $c without a subcommand: rc=$rc"; cat err.txt; fails=$((fails + 1)); }
done

echo "$checked help texts checked, $fails failure(s)"
exit $((fails > 0))
