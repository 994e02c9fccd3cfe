#!/usr/bin/env bash
# Coverage-guided fuzzing (cargo-fuzz / libFuzzer, nightly toolchain, AddressSanitizer) of the
# parsers and decoders that take bytes from outside: RESP requests, command dispatch, AOF and
# snapshot records, peers' replication batches, the YAML configuration, the HTTP routes. See
# docs/fuzzing.md and the comment at the top of each fuzz/fuzz_targets/*.rs.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET]     (default 10: the short run `make test` does)
#
# For each target it first replays fuzz/regressions/<target>/* (inputs that once crashed it;
# each must pass), then fuzzes for the given time, one target after another, from the corpus
# in fuzz/corpus/<target>/ (seeded by fuzz/seeds.py, grown by every run, not in git), and
# prints executions, exec/s, coverage (libFuzzer's cov: edges and ft: features) and crashes.
# Crashing inputs land in fuzz/artifacts/<target>/. While fuzzing, the targets step around the
# known bugs whose regressions are kept (FUZZ_SKIP_KNOWN=1), so they look for new ones.
# Exits non-zero when a regression fails or fuzzing leaves a crash, timeout, OOM or leak.
#
# FUZZ_TARGETS="a b" limits the targets; FUZZ_TOOLCHAIN names the toolchain (default nightly,
# installed with rustup when missing, as scripts/check-unsafe.sh does); FUZZ_TARGET_DIR puts
# the build elsewhere than fuzz/target (a cold build takes minutes: CI can keep it in a
# directory that outlives its clone). Without a nightly toolchain (none installed and none to
# be fetched) or cargo-fuzz it prints FUZZ NOT RUN and exits 0, unless REQUIRE_FUZZ=1.
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-10}"
tc="${FUZZ_TOOLCHAIN:-nightly}"
all=(resp_parser resp_dispatch aof_record hcrepl_payload config_yaml http_routes)
read -r -a targets <<<"${FUZZ_TARGETS:-${all[*]}}"

# Longest input per target: enough for a few dozen commands, records or requests.
max_len() {
  case "$1" in
    http_routes) echo 2048 ;;
    *) echo 4096 ;;
  esac
}

not_run() {
  if [ "${REQUIRE_FUZZ:-0}" = 1 ]; then
    echo "fuzz: $1" >&2
    exit 1
  fi
  echo "fuzz: FUZZ NOT RUN — $1"
  exit 0
}

if ! cargo +"$tc" --version >/dev/null 2>&1; then
  command -v rustup >/dev/null &&
    timeout 600 rustup toolchain install "$tc" --profile minimal >/dev/null 2>&1 || true
fi
cargo +"$tc" --version >/dev/null 2>&1 || not_run "no $tc toolchain here or to be fetched"
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz: installing cargo-fuzz"
  timeout 900 cargo install cargo-fuzz --locked >/dev/null 2>&1 || true
fi
cargo fuzz --version >/dev/null 2>&1 || not_run "cargo-fuzz is not installed and cannot be"
command -v c++ >/dev/null || not_run "no C++ compiler for libFuzzer (apt-get install -y g++)"

started=$(date +%s)
# The release profile with debug assertions and overflow checks, and ASan (cargo-fuzz's
# defaults); 16 codegen units build faster and fuzz nearly as fast.
mkdir -p fuzz/artifacts
tdir="${FUZZ_TARGET_DIR:-$PWD/fuzz/target}"
if ! cargo +"$tc" fuzz build --codegen-units 16 --target-dir "$tdir" >fuzz/artifacts/build.log 2>&1; then
  tail -30 fuzz/artifacts/build.log >&2
  echo "fuzz: the fuzz targets do not build (fuzz/artifacts/build.log)" >&2
  exit 1
fi
built=$(date +%s)
triple=$(rustc +"$tc" -vV | sed -n 's/^host: //p')
bin=$tdir/$triple/release
python3 fuzz/seeds.py

failed=0
rows=()
for t in "${targets[@]}"; do
  [ -x "$bin/$t" ] || { echo "fuzz: $bin/$t was not built" >&2; exit 1; }
  mkdir -p "fuzz/artifacts/$t" "fuzz/corpus/$t"
  # Regressions: each input must now run cleanly (a hang counts after 5 s).
  regs=0 bad=0
  scratch=$(mktemp -d)
  for f in fuzz/regressions/"$t"/*; do
    [ -f "$f" ] || continue
    regs=$((regs + 1))
    if ! timeout 60 "$bin/$t" -timeout=5 -rss_limit_mb=2048 -artifact_prefix="$scratch/" "$f" \
      >"fuzz/artifacts/$t/regression.log" 2>&1; then
      bad=$((bad + 1))
      echo "fuzz: $t: regression $f FAILS:"
      grep -E -A1 'panicked at' "fuzz/artifacts/$t/regression.log" | head -2 | sed 's/^/    /' || true
      grep -E -m1 'ERROR: libFuzzer: (timeout|out-of-memory)|ERROR: (Address|Leak)Sanitizer' \
        "fuzz/artifacts/$t/regression.log" | sed 's/^/    /' || true
    fi
  done
  rm -rf "$scratch"
  mark=$(mktemp)
  log="fuzz/artifacts/$t/fuzz.log"
  rc=0
  FUZZ_SKIP_KNOWN=1 timeout $((secs + 120)) "$bin/$t" \
    -max_total_time="$secs" -max_len="$(max_len "$t")" -rss_limit_mb=2048 -timeout=10 \
    -print_final_stats=1 -artifact_prefix="fuzz/artifacts/$t/" "fuzz/corpus/$t" >"$log" 2>&1 || rc=$?
  found=$(find "fuzz/artifacts/$t" -maxdepth 1 -newer "$mark" \
    \( -name 'crash-*' -o -name 'timeout-*' -o -name 'oom-*' -o -name 'leak-*' \) | wc -l)
  rm -f "$mark"
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  last=$(grep -E ' cov: [0-9]+' "$log" | tail -1 || true)
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
  corp=$(sed -n 's/.* corp: \([0-9]*\)\/.*/\1/p' <<<"$last")
  rss=$(sed -n 's/^stat::peak_rss_mb: *//p' "$log" | tail -1)
  if [ "$found" -gt 0 ] || [ "$rc" -ne 0 ] || [ "$bad" -gt 0 ]; then
    failed=1
  fi
  if [ "$found" -gt 0 ] || [ "$rc" -ne 0 ]; then
    echo "fuzz: $t: libFuzzer exited $rc, $found new artifact(s) in fuzz/artifacts/$t/:"
    grep -E -A1 'panicked at' "$log" | head -2 | sed 's/^/    /' || true
    grep -E -m2 'ERROR: libFuzzer|ERROR: (Address|Leak)Sanitizer|Test unit written' "$log" |
      sed 's/^/    /' || true
  fi
  rows+=("$(printf '%-15s %10s %8s %6s %7s %6s %7s %6s %8s' "$t" "${execs:-?}" "${rate:-?}" \
    "${cov:-?}" "${ft:-?}" "${corp:-?}" "${rss:-?}" "$((regs - bad))/$regs" "$found")")
done
ended=$(date +%s)

echo
echo "fuzz: $secs s per target; build $((built - started)) s, total $((ended - started)) s ($(date -u +%Y-%m-%dT%H:%MZ))"
printf '%-15s %10s %8s %6s %7s %6s %7s %6s %8s\n' target execs exec/s cov ft corpus rss_mb regr crashes
printf '%s\n' "${rows[@]}"
if [ "$failed" = 1 ]; then
  echo "fuzz: FAILED (reproduce: $bin/<target> <input>; see docs/fuzzing.md)"
  exit 1
fi
echo "fuzz: clean"
