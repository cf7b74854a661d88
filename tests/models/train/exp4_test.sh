#!/usr/bin/env bash
# Experiment 4 end to end: the two-layer MiniMind learns the copy task (the
# binary exits 0 only above 99% accuracy on fresh sequences, which it
# prints), names a layer-1 head that attends from each repeated symbol to
# the one after its first occurrence, and writes that head's heatmap.
#
# Argument: the exp4_induction_heads binary.
set -uo pipefail

DIR="${TEST_TMPDIR:-$(mktemp -d)}/exp4"
rm -rf "${DIR}"
mkdir -p "${DIR}"
if ! BUILD_WORKING_DIRECTORY="${DIR}" "$1" >"${DIR}/out.txt" 2>&1; then
  cat "${DIR}/out.txt"
  echo "FAIL: exp4 did not learn the copy task"
  exit 1
fi
cat "${DIR}/out.txt"
accuracy="$(sed -n 's/^learnt: \([0-9.]*\)% .*/\1/p' "${DIR}/out.txt")"
[[ -n "${accuracy}" ]] || { echo "FAIL: no accuracy line"; exit 1; }
awk "BEGIN { exit !(${accuracy} > 99.0) }" || {
  echo "FAIL: accuracy ${accuracy}% <= 99%"
  exit 1
}
# The head the heatmap shows puts most of its weight on the induction
# target.
best="$(sed -n 's/^layer 1 head [0-9]*: .* = \([0-9.]*\)$/\1/p' "${DIR}/out.txt" |
  sort -g | tail -1)"
awk "BEGIN { exit !(${best} > 0.5) }" || {
  echo "FAIL: no head looks back (best ${best})"
  exit 1
}
svg="${DIR}/exp4_induction_head.svg"
grep -q "<svg" "${svg}" || { echo "FAIL: ${svg} is not SVG"; exit 1; }
echo "1 passed, 0 failed"
