#!/usr/bin/env bash
# Runs the keyspace's unsafe core — entry blocks (src/store/entry.rs) and the table that owns
# them (src/store/table.rs) — under Miri, which checks every pointer access, allocation and
# free for undefined behaviour. Installs nightly's Miri when it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! cargo +nightly miri --version >/dev/null 2>&1; then
  command -v rustup >/dev/null || { echo "miri: rustup is needed to install Miri" >&2; exit 1; }
  rustup toolchain install nightly --profile minimal --component miri,rust-src
fi
# Isolation off: the tests read the clock (filters seed from it).
MIRIFLAGS="${MIRIFLAGS:--Zmiri-disable-isolation}" cargo +nightly miri test --lib -- \
  store::entry store::table::tests::colliding store::table::tests::scan_of
