# Shared by the command-line test scripts (sourced; not a test itself).

fails=0
# expect_user_error NAME EXPECTED_TEXT COMMAND...: exit code 2, one stderr line with the text.
# Runs in the current directory, leaving out.txt and err.txt there.
expect_user_error() {
  local name=$1 want=$2
  shift 2
  local rc=0
  "$@" >out.txt 2>err.txt || rc=$?
  local lines
  lines=$(wc -l <err.txt)
  if [[ $rc -ne 2 || $lines -ne 1 ]] || ! grep -qF -- "$want" err.txt; then
    echo "FAIL $name: rc=$rc, $lines stderr line(s), expected '$want':"
    cat err.txt
    fails=$((fails + 1))
  else
    echo "ok   $name: $(cat err.txt)"
  fi
}

# expect_success NAME COMMAND...: the command exits 0; its output is shown when it does not.
expect_success() {
  local name=$1
  shift
  if "$@" >log.txt 2>&1; then
    echo "ok   $name"
  else
    echo "FAIL $name:"
    cat log.txt
    fails=$((fails + 1))
  fi
}
