#!/usr/bin/env bash
# Benchmarks. Figures, and the command that produced them, go into docs/benchmarks.md.
#   scripts/bench.sh micro     codec, header and storage micro-benchmarks (criterion and bench binaries)
#   scripts/bench.sh reader    reader workload, Tidings against INN 2.7 side by side (node issue)
#   scripts/bench.sh ingest    streaming ingest, Tidings against INN 2.7 side by side (peering issue)
set -euo pipefail
cd "$(dirname "$0")/.."

what=${1:-micro}
case "$what" in
  micro)
    cargo bench --locked -p tidings-proto --bench unstuff -- --warm-up-time 1 --measurement-time 3
    cargo bench --locked -p tidings-article --bench headers -- --warm-up-time 1 --measurement-time 3
    for b in crates/tidings-store/benches/*.rs; do
      [ -e "$b" ] || continue
      cargo bench --locked -p tidings-store --bench "$(basename "$b" .rs)"
    done
    ;;
  reader|ingest)
    echo "scripts/bench.sh $what: not yet. It needs the daemon (node and peering issues)." >&2
    exit 2
    ;;
  *)
    echo "usage: scripts/bench.sh [micro|reader|ingest]" >&2
    exit 64
    ;;
esac
