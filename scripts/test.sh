#!/usr/bin/env bash
# The whole test suite: the README's test command, and what CI (.ci/run) runs.
# Steps: formatting, clippy with warnings denied, the layering check, every test (nextest, then
# doc tests), and a build of the fuzz targets. Any failing step stops the run with a non-zero exit.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

if ! cargo nextest --version >/dev/null 2>&1; then
  step "installing cargo-nextest (not on this machine)"
  cargo install cargo-nextest --locked
fi

step "cargo fmt --check"
cargo fmt --all --check

step "cargo clippy (warnings are errors)"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "layering check"
scripts/check-layering.sh

step "tests (cargo nextest)"
cargo nextest run --workspace --locked --no-fail-fast

step "doc tests"
cargo test --workspace --doc --locked

step "fuzz targets build"
# The fuzz crate lives outside the workspace (own lockfile); a plain build links libFuzzer and
# checks that every target compiles. scripts/fuzz.sh runs them with cargo-fuzz.
cargo build --manifest-path fuzz/Cargo.toml --locked --bins

step "all checks passed"
