#!/usr/bin/env bash
# Runs every fuzz target for a bounded time with cargo-fuzz on the stable toolchain.
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]     (default: 60 s, all targets)
# Installs cargo-fuzz if it is missing. Crashes land in fuzz/artifacts/<target>/ and make this
# script exit non-zero. The corpus grows in fuzz/corpus/<target>/ (git-ignored).
set -euo pipefail
cd "$(dirname "$0")/.."

secs=${1:-60}
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(command_decoder block_decoder header_parser)
fi

if ! cargo fuzz --version >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked
fi

status=0
for t in "${targets[@]}"; do
  echo "==> fuzzing $t for ${secs}s"
  mkdir -p "fuzz/corpus/$t"
  # --sanitizer none: no nightly-only sanitizer flags, so this runs on stable.
  if ! cargo fuzz run --sanitizer none "$t" "fuzz/corpus/$t" -- \
      -max_total_time="$secs" -max_len=65536 -print_final_stats=1; then
    echo "fuzz target $t FAILED (see fuzz/artifacts/$t/)" >&2
    status=1
  fi
done
exit $status
