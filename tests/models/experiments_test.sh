#!/usr/bin/env bash
# The three experiment scripts run and print what they claim: numbers the
# test checks against facts derived here (parameter counts and KV-cache
# sizes from the layout, the permutation property, the trend of softmax
# saturation with d_k), and heatmaps that are SVG with the causal mask drawn.
#
# Arguments: the exp1, exp2 and exp3 binaries.
set -uo pipefail

DIR="${TEST_TMPDIR:-$(mktemp -d)}/experiments"
rm -rf "${DIR}"
mkdir -p "${DIR}"
failures=0

fail() {
  echo "FAIL: $*"
  failures=$((failures + 1))
}

# The scripts write their SVG files into the caller's directory, which
# `bazel run` passes as BUILD_WORKING_DIRECTORY.
for binary in "$@"; do
  name="$(basename "${binary}")"
  if ! BUILD_WORKING_DIRECTORY="${DIR}" "${binary}" >"${DIR}/${name}.txt" 2>&1; then
    fail "${name} exited non-zero"
    cat "${DIR}/${name}.txt"
  fi
done

# awk exits 0 when the condition holds.
check() {
  local what="$1" condition="$2"
  awk "BEGIN { exit !(${condition}) }" || fail "${what} (${condition})"
}

# ---- exp1: permutation invariance without positions, not with RoPE --------
exp1="${DIR}/exp1_attention_basics.txt"
no_pos="$(sed -n 's/^no positions *max .* = \([0-9.e+-]*\).*/\1/p' "${exp1}")"
rope="$(sed -n 's/^with RoPE *max .* = \([0-9.e+-]*\).*/\1/p' "${exp1}")"
[[ -n "${no_pos}" && -n "${rope}" ]] || fail "exp1 does not print both permutation distances"
check "without positions the outputs are only permuted" "${no_pos:-1} < 1e-12"
check "with RoPE the outputs change" "${rope:-0} > 1e-3"
grep -q "row sums of the weights: 1.000000 1.000000 1.000000 1.000000" "${exp1}" ||
  fail "exp1 softmax rows do not sum to one"
# Causal weights: the first query sees only itself.
grep -A3 "^causal weights" "${exp1}" | grep -qE '^ +I +1\.000 +0\.000 +0\.000 +0\.000' ||
  fail "exp1 causal weights of the first token are not (1, 0, 0, 0)"

# ---- exp2: saturation grows with d_k unscaled, stays put scaled ----------
exp2="${DIR}/exp2_qkv_explained.txt"
rows="$(grep -E '^\| +[0-9]+ \|' "${exp2}")"
[[ "$(wc -l <<<"${rows}")" -ge 4 ]] || fail "exp2 prints fewer than 4 d_k rows"
# Columns: d_k, std, max unscaled, max scaled, entropy unscaled, scaled, ...
awk -F'[| ]+' '
  { dk = $2; max_u = $4; max_s = $5; ent_u = $6; ent_s = $7
    if (NR > 1 && !(max_u > prev_max_u)) bad = bad " max weight not rising at d_k=" dk
    if (NR > 1 && !(ent_u < prev_ent_u)) bad = bad " entropy not falling at d_k=" dk
    if (!(ent_s > ent_u)) bad = bad " scaled not less saturated at d_k=" dk
    if (max_s > 0.4) bad = bad " scaled max weight drifts at d_k=" dk
    prev_max_u = max_u; prev_ent_u = ent_u }
  END { if (bad != "") { print bad; exit 1 } }' <<<"${rows}" ||
  fail "exp2 saturation table does not show the trend"

# ---- exp3: parameter counts and KV-cache bytes from the layout -----------
exp3="${DIR}/exp3_multihead_attention.txt"
hidden=512
head_dim=64
for layout in "MHA 8" "GQA 2" "MQA 1"; do
  set -- ${layout}
  params=$(((8 + 2 * $2) * head_dim * hidden + hidden * hidden))
  kv_bytes=$((2 * $2 * head_dim * 4))
  grep -qE "^\| $1 +\| +$2 \| +${params} \| +${params} \| +${kv_bytes} \|" "${exp3}" ||
    fail "exp3 row for $1 should read n_kv $2, ${params} parameters, ${kv_bytes} bytes/token"
done
grep -q "max |difference| of the outputs = 0.000e+00" "${exp3}" ||
  fail "exp3 GQA is not the same as MHA with repeated K/V heads"

# ---- heatmaps: SVG, causal cells drawn masked -----------------------------
for svg in exp1_attention_weights exp2_qkv_weights exp3_heads; do
  file="${DIR}/${svg}.svg"
  [[ -s "${file}" ]] || { fail "${svg}.svg not written"; continue; }
  head -c 200 "${file}" | grep -q "^<svg " || fail "${svg}.svg does not start with <svg"
  tail -c 20 "${file}" | grep -q "</svg>" || fail "${svg}.svg is not closed"
done
# exp1 draws one causal panel of 4 tokens: 4 x 3 / 2 masked cells, each
# struck through with a grey line.
masked="$(grep -c '<line [^>]*stroke="#9e9e9e"' "${DIR}/exp1_attention_weights.svg")"
[[ "${masked}" == 6 ]] || fail "exp1 heatmap has ${masked} masked cells, expected 6"
# exp3 draws the 8 causal heads of 8 tokens: 8 x 28 masked cells.
masked="$(grep -c '<line [^>]*stroke="#9e9e9e"' "${DIR}/exp3_heads.svg")"
[[ "${masked}" == 224 ]] || fail "exp3 heatmap has ${masked} masked cells, expected 224"

if [[ "${failures}" != 0 ]]; then
  echo "${failures} check(s) failed"
  exit 1
fi
echo "experiments: all checks passed"
