#!/usr/bin/env bash
# Checks the layering rules of ARCHITECTURE.md with `cargo tree`:
#  - the pure crates (proto, article) and the blocking store never pull in tokio, rustls or quinn;
#  - proto, article and net depend on no workspace crate; store depends on article at most;
#  - feed and reader never depend on each other (in either direction).
# Crates that do not exist yet are skipped. Exit status 1 on any violation.
set -euo pipefail
cd "$(dirname "$0")/.."

fail=0
have() { [ -f "crates/$1/Cargo.toml" ]; }
# Normal (non-dev, non-build) dependencies of a crate, one name per line, without the crate itself.
deps() {
  local out
  if ! out=$(cargo tree --locked -q -p "$1" -e normal --prefix none --format '{p}'); then
    echo "layering: cargo tree failed for $1" >&2
    exit 1
  fi
  printf '%s\n' "$out" | awk 'NF {print $1}' | sort -u | grep -vx "$1" || true
}
violation() { echo "layering: $*" >&2; fail=1; }

for crate in tidings-proto tidings-article tidings-store; do
  have "$crate" || continue
  bad=$(deps "$crate" | grep -E '^(tokio|tokio-[a-z-]+|rustls|tokio-rustls|quinn|quinn-proto|mio)$' || true)
  [ -z "$bad" ] || violation "$crate must not depend on: $(echo $bad)"
done

workspace_deps() { deps "$1" | grep -E '^tidings(-|$)' || true; }
for crate in tidings-proto tidings-article tidings-net; do
  have "$crate" || continue
  ws=$(workspace_deps "$crate")
  [ -z "$ws" ] || violation "$crate must depend on no workspace crate, found: $(echo $ws)"
done
if have tidings-store; then
  ws=$(workspace_deps tidings-store | grep -vx tidings-article || true)
  [ -z "$ws" ] || violation "tidings-store may depend only on tidings-article, found: $(echo $ws)"
fi
if have tidings-feed && deps tidings-feed | grep -qx tidings-reader; then
  violation "tidings-feed must not depend on tidings-reader"
fi
if have tidings-reader && deps tidings-reader | grep -qx tidings-feed; then
  violation "tidings-reader must not depend on tidings-feed"
fi

if [ "$fail" -ne 0 ]; then
  echo "layering check FAILED" >&2
  exit 1
fi
echo "layering check passed"
