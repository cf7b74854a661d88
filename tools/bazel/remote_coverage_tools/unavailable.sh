#!/usr/bin/env bash
# Bazel's coverage tools are normally downloaded; this offline build has none.
echo "$(basename "$0"): coverage tools are not available in the offline" \
  "build; 'bazel coverage' is unsupported here." >&2
exit 1
