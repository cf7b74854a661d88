#!/usr/bin/env bash
# End-to-end tests of the `minigraph` command line: every verb, help output,
# exit codes, and bad input (truncated, corrupted, empty, oversized and
# wrongly formatted files, unknown ops, bad dimensions, dtype mismatches,
# missing tensors): a clear message, exit code 2, nothing written.
#
# Arguments: the minigraph binary and the fixture maker.
set -uo pipefail

MG="$1"
FIXTURES="$2"
DIR="${TEST_TMPDIR:-$(mktemp -d)}/cli"
rm -rf "${DIR}"
mkdir -p "${DIR}"
"${FIXTURES}" make "${DIR}" || { echo "fixtures failed"; exit 1; }

failures=0
checks=0
OUT="${DIR}/stdout"
ERR="${DIR}/stderr"

fail() {
  echo "FAIL: $*"
  echo "--- stdout:"; head -c 2000 "${OUT}"
  echo "--- stderr:"; head -c 2000 "${ERR}"
  failures=$((failures + 1))
}

# mg EXIT ARGS...: runs minigraph and checks its exit code.
mg() {
  local expected="$1"
  shift
  checks=$((checks + 1))
  "${MG}" "$@" >"${OUT}" 2>"${ERR}"
  local status=$?
  if [[ "${status}" != "${expected}" ]]; then
    fail "minigraph $* exited ${status}, expected ${expected}"
    return 1
  fi
  return 0
}

# has FILE PATTERN: a fixed string must appear.
has() {
  checks=$((checks + 1))
  grep -qF -- "$2" "$1" || fail "'$2' not found in $(basename "$1")"
}

# lacks FILE PATTERN
lacks() {
  checks=$((checks + 1))
  ! grep -qF -- "$2" "$1" || fail "'$2' unexpectedly found in $(basename "$1")"
}

# absent FILE: nothing (not even a temporary) was written.
absent() {
  checks=$((checks + 1))
  if ls "$1"* >/dev/null 2>&1; then fail "$1 was written"; fi
}

# ---- help and verbs --------------------------------------------------------
mg 0 --help && has "${OUT}" "dump" && has "${OUT}" "gradcheck" &&
  has "${OUT}" "stats" && has "${OUT}" "run" && has "${OUT}" "ops"
mg 2
mg 2 frobnicate && has "${ERR}" "unknown verb 'frobnicate'"
mg 0 dump --help && has "${OUT}" "usage: minigraph dump" &&
  has "${OUT}" "--format" && has "${OUT}" "--backward" &&
  has "${OUT}" "--train-step" && lacks "${OUT}" "--second-order"
mg 0 gradcheck --help && has "${OUT}" "--second-order" &&
  has "${OUT}" "--eps" && lacks "${OUT}" "--weights"
mg 0 run --help && has "${OUT}" "--inputs" && lacks "${OUT}" "--format"
mg 2 dump --frobnicate "${DIR}/tiny.pb" && has "${ERR}" "unknown flag --frobnicate"
mg 2 dump --second-order "${DIR}/tiny.pb" &&
  has "${ERR}" "unknown flag --second-order"
mg 2 dump --batch=abc --model x && has "${ERR}" "--batch=abc"

# ---- ops -------------------------------------------------------------------
mg 0 ops && has "${OUT}" "registered ops" && has "${OUT}" "matmul" &&
  has "${OUT}" "transpose_b: bool = false" &&
  has "${OUT}" "exponent: float (required)"

# ---- dump ------------------------------------------------------------------
mg 0 dump "${DIR}/tiny.pb" && has "${OUT}" "input x : float32[B, T, 6]" &&
  has "${OUT}" "= matmul(x, w1, transpose_a=false, transpose_b=true) : float32[B, T, 4]" &&
  has "${OUT}" "output y ="
cp "${OUT}" "${DIR}/summary_pb.txt"
for ext in pbtxt json; do
  mg 0 dump "${DIR}/tiny.${ext}" --format summary
  cmp -s "${OUT}" "${DIR}/summary_pb.txt" ||
    fail "summary of tiny.${ext} differs from tiny.pb's"
done
# Conversions: pbtxt -> json -> pb give the same graph.
mg 0 dump "${DIR}/tiny.pbtxt" --format json --with-weights --output "${DIR}/conv.json"
mg 0 dump "${DIR}/conv.json" --format pb --with-weights --output "${DIR}/conv.pb"
mg 0 dump "${DIR}/conv.pb" && cmp -s "${OUT}" "${DIR}/summary_pb.txt" ||
  fail "summary after pbtxt -> json -> pb differs"
mg 0 dump "${DIR}/tiny.pb" --backward --format summary &&
  has "${OUT}" "# grad of" && has "${OUT}" "output grad/w1 ="
mg 0 dump "${DIR}/tiny.pb" --backward --format dot &&
  has "${OUT}" "subgraph cluster_forward" && has "${OUT}" "subgraph cluster_backward"
# Stored tensors: the constant 0.5 always, the three parameters with
# --with-weights only.
count_data() { grep -c 'data:' "${OUT}"; }
mg 0 dump "${DIR}/tiny.pb" --format=pbtxt && has "${OUT}" "format_version: 1" &&
  { [[ "$(count_data)" == 1 ]] || fail "pbtxt without weights stores $(count_data) tensors"; }
mg 0 dump "${DIR}/tiny.pb" --format=pbtxt --with-weights &&
  { [[ "$(count_data)" == 4 ]] || fail "pbtxt with weights stores $(count_data) tensors"; }
if command -v dot >/dev/null; then
  mg 0 dump "${DIR}/tiny.pb" --backward --format svg --out "${DIR}/tiny.svg" &&
    has "${DIR}/tiny.svg" "<svg"
else
  mg 2 dump "${DIR}/tiny.pb" --format svg --output "${DIR}/tiny.svg" &&
    has "${ERR}" "apt-get install graphviz"
  absent "${DIR}/tiny.svg"
fi
mg 2 dump "${DIR}/tiny.pb" --format bogus && has "${ERR}" "unknown --format 'bogus'"
mg 2 dump && has "${ERR}" "either a graph file"
mg 2 dump "${DIR}/tiny.pb" "${DIR}/tiny.pbtxt" && has "${ERR}" "one graph file"

# ---- run -------------------------------------------------------------------
mg 0 run "${DIR}/tiny.pb" --inputs "${DIR}/inputs.safetensors" \
  --output "${DIR}/out.safetensors" && has "${OUT}" "y: float32[2, 3]"
checks=$((checks + 1))
"${FIXTURES}" same "${DIR}/out.safetensors" "${DIR}/expected.safetensors" ||
  fail "run output differs from the eager output"
mg 0 run "${DIR}/tiny_noweights.pbtxt" --inputs "${DIR}/inputs_params.safetensors" \
  --output "${DIR}/out2.safetensors"
checks=$((checks + 1))
"${FIXTURES}" same "${DIR}/out2.safetensors" "${DIR}/expected.safetensors" ||
  fail "run with fed parameters differs from the eager output"
mg 2 run "${DIR}/tiny_noweights.pb" --inputs "${DIR}/inputs.safetensors" \
  --output "${DIR}/nw.safetensors" && has "${ERR}" "parameter 'w1'" &&
  absent "${DIR}/nw.safetensors"
mg 2 run "${DIR}/tiny.pb" --inputs "${DIR}/inputs_missing.safetensors" \
  --output "${DIR}/miss.safetensors" &&
  has "${ERR}" "inputs_missing.safetensors: no tensor 'x' for graph input 'x'" &&
  absent "${DIR}/miss.safetensors"
mg 2 run "${DIR}/tiny.pb" --inputs "${DIR}/inputs_f64.safetensors" \
  --output "${DIR}/f64.safetensors" && has "${ERR}" "expects float32[B, T, 6], got float64[2, 3, 6]" &&
  absent "${DIR}/f64.safetensors"
mg 2 run "${DIR}/tiny.pb" --inputs "${DIR}/nonexistent.safetensors" \
  --output "${DIR}/ne.safetensors" && has "${ERR}" "nonexistent.safetensors" &&
  absent "${DIR}/ne.safetensors"
mg 2 run "${DIR}/tiny.pb" --inputs "${DIR}/inputs.safetensors" &&
  has "${ERR}" "--output OUT.safetensors is required"

# ---- bad safetensors inputs: exit 2, the file named, nothing written -------
st_size=$(stat -c %s "${DIR}/inputs.safetensors")
: >"${DIR}/empty.safetensors"
# The last 16 bytes of x's data missing: the header promises more.
head -c $((st_size - 16)) "${DIR}/inputs.safetensors" \
  >"${DIR}/truncated.safetensors"
# Bytes 12 to 15 sit inside the JSON header (it starts at byte 8).
cp "${DIR}/inputs.safetensors" "${DIR}/corrupted.safetensors"
printf '\xff\xff\xff\xff' |
  dd of="${DIR}/corrupted.safetensors" bs=1 seek=12 conv=notrunc status=none
declare -A st_expect=(
  [empty.safetensors]="the file has 0 bytes, expected at least 8"
  [truncated.safetensors]="run past the end of the data buffer"
  [corrupted.safetensors]="the header is not valid JSON"
)
for file in "${!st_expect[@]}"; do
  mg 2 run "${DIR}/tiny.pb" --inputs "${DIR}/${file}" \
    --output "${DIR}/st_out.safetensors" &&
    has "${ERR}" "${DIR}/${file}: invalid safetensors file" &&
    has "${ERR}" "${st_expect[${file}]}" &&
    absent "${DIR}/st_out.safetensors"
done

# ---- bad graph files: exit 2, the file named, nothing written --------------
pb_size=$(stat -c %s "${DIR}/tiny.pb")
: >"${DIR}/empty.pb"
head -c $((pb_size / 2)) "${DIR}/tiny.pb" >"${DIR}/truncated.pb"
cp "${DIR}/tiny.pb" "${DIR}/corrupted.pb"
printf '\xff\xff\xff\xff\xff\xff' |
  dd of="${DIR}/corrupted.pb" bs=1 seek=20 conv=notrunc status=none
truncate -s 3G "${DIR}/oversized.pb"
cp "${DIR}/tiny.pbtxt" "${DIR}/wrong_format.pb"
cp "${DIR}/tiny.pb" "${DIR}/wrong_format.json"
sed 's/op: "silu"/op: "swish"/' "${DIR}/tiny.pbtxt" >"${DIR}/unknown_op.pbtxt"
sed '0,/size: 6/s//size: -6/' "${DIR}/tiny.pbtxt" >"${DIR}/negative.pbtxt"
sed '0,/size: 6/s//size: 4000000000000000/' "${DIR}/tiny.pbtxt" >"${DIR}/enormous.pbtxt"
# x becomes float64 while w1 stays float32.
sed '0,/dtype: FLOAT32/s//dtype: FLOAT64/' "${DIR}/tiny.pbtxt" \
  >"${DIR}/dtype_mismatch.pbtxt"
declare -A expect=(
  [empty.pb]="empty file"
  [truncated.pb]="not a binary graph protobuf"
  [corrupted.pb]="corrupted.pb"
  [oversized.pb]="over the limit"
  [wrong_format.pb]="wrong_format.pb"
  [wrong_format.json]="not a graph in protobuf JSON"
  [unknown_op.pbtxt]="unknown op 'swish'"
  [negative.pbtxt]="negative dimension"
  [enormous.pbtxt]="more than 2^40 elements"
  [dtype_mismatch.pbtxt]="(matmul)"
)
for file in "${!expect[@]}"; do
  for verb in dump stats run; do
    extra=()
    [[ "${verb}" == dump ]] && extra=(--output "${DIR}/bad_out")
    [[ "${verb}" == run ]] &&
      extra=(--inputs "${DIR}/inputs.safetensors" --output "${DIR}/bad_out")
    mg 2 "${verb}" "${DIR}/${file}" "${extra[@]}" &&
      has "${ERR}" "${expect[${file}]}" && has "${ERR}" "${file}" &&
      absent "${DIR}/bad_out"
  done
done
rm -f "${DIR}/oversized.pb"

# ---- stats -----------------------------------------------------------------
mg 0 stats "${DIR}/tiny.pb" && has "${OUT}" "parameters: 52 elements" &&
  has "${OUT}" "peak activation memory" && has "${OUT}" "total FLOPs: 678"
mg 0 stats "${DIR}/tiny.pb" --backward && has "${OUT}" "gradient)"
# Views and copies do no arithmetic; a [1, 16, 512] x [512, 512]^T matmul
# does 2 * 16 * 512 * 512.
mg 0 stats --model attention --seq 16 && {
  grep -qE "^attention/q_proj/reshape_1 +reshape +0 " "${OUT}" ||
    fail "stats counts FLOPs for a reshape"
  grep -qE "^attention/q_proj/matmul_0 +matmul +8388608 " "${OUT}" ||
    fail "stats miscounts the q_proj matmul"
}

# ---- gradcheck -------------------------------------------------------------
mg 0 gradcheck "${DIR}/tiny64.pb" && has "${OUT}" "full Jacobian" &&
  has "${OUT}" "w1" && has "${OUT}" "full: PASS"
mg 0 gradcheck "${DIR}/tiny64.pb" --second-order && has "${OUT}" "second-order"
mg 0 gradcheck "${DIR}/tiny64.pb" --backward --fast &&
  has "${OUT}" "random projections" && has "${OUT}" "PASS"
# Tolerances of zero cannot be met by finite differences: exit code 1.
mg 1 gradcheck "${DIR}/tiny64.pb" --atol=0 --rtol=0 && has "${OUT}" "FAIL"
mg 2 gradcheck "${DIR}/tiny.pb" && has "${ERR}" "needs float64"
mg 0 gradcheck --op exp && has "${OUT}" "exp / " && has "${OUT}" "PASS"
mg 0 gradcheck --op matmul --no-second-order && has "${OUT}" "matmul / "
mg 2 gradcheck --op frobnicate && has "${ERR}" "unknown op 'frobnicate'"
mg 2 gradcheck --op equal && has "${ERR}" "no gradient"

# ---- the registered attention model (linked into the binary) ---------------
mg 0 dump --model attention --batch 2 --seq 4 &&
  has "${OUT}" "input x : float32[B, T, 512]"
mg 0 dump --model attention --seq 4 --backward --format summary &&
  has "${OUT}" "# grad of"
mg 0 stats --model attention --seq 4 && has "${OUT}" "matmul"
mg 0 demo --seq 4 --output-dir "${DIR}/demo" &&
  has "${OUT}" "demo: all checks passed" &&
  lacks "${OUT}" "DIFFERS"
for f in forward.pb forward.pbtxt backward.pb backward.pbtxt; do
  checks=$((checks + 1))
  [[ -s "${DIR}/demo/${f}" ]] || fail "demo did not write ${f}"
done
mg 2 dump --model attention --set heads=0 && has "${ERR}" "heads"
mg 2 dump --model no_such_model && has "${ERR}" "unknown model 'no_such_model'"

echo "minigraph CLI: ${checks} checks, ${failures} failures"
if [[ "${failures}" != 0 ]]; then exit 1; fi
exit 0
