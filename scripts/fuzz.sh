#!/usr/bin/env bash
# Coverage-guided fuzzing of the parsers (cargo fuzz, libFuzzer with
# AddressSanitizer) with the targets in fuzz/fuzz_targets/ and the corpus
# kept in fuzz/corpus/.
#
#   scripts/fuzz.sh smoke [SECONDS]   every target for SECONDS (default 60),
#                                     two at a time; what scripts/test.sh runs
#   scripts/fuzz.sh long [RUNS]       every target for RUNS executions
#                                     (default 10^7), then minimises the
#                                     corpus and writes bench/reports/fuzz.md
#
# FUZZ_TARGETS (space-separated) picks some targets; a long run of some
# keeps the report's rows of the others.
#
# Needs cargo-fuzz and a nightly toolchain (`rustup toolchain install
# nightly`, `cargo install cargo-fuzz`); `smoke` says so and stops without
# failing when either is missing, `long` fails. A crash fails the run and
# leaves its input in fuzz/artifacts/TARGET/.
set -euo pipefail
cd "$(dirname "$0")/.."
say() { printf '\033[1;34m==>\033[0m %s\n' "$*"; }
mode="${1:-smoke}"
all_targets=(tick_json batch_body timestamp identifiers decimal stream_id sse_parser order_request ws_request)
read -r -a targets <<< "${FUZZ_TARGETS:-${all_targets[*]}}"
target_dir="$(pwd)/${CARGO_TARGET_DIR:-target}/fuzz"

if ! cargo fuzz --version >/dev/null 2>&1 || ! rustup run nightly rustc --version >/dev/null 2>&1; then
  msg="cargo-fuzz or a nightly toolchain is missing (rustup toolchain install nightly; cargo install cargo-fuzz)"
  [ "$mode" = smoke ] && { say "skipping the fuzz smoke run: $msg"; exit 0; }
  echo "$msg" >&2; exit 1
fi

say "building the fuzz targets (nightly, AddressSanitizer)"
cargo +nightly fuzz build --target-dir "$target_dir" -O -a 2>&1 | tail -n 2

log_dir="$(mktemp -d)"
trap 'rm -rf "$log_dir"' EXIT

# Runs one target with libFuzzer's options "$@"; its log goes to $log_dir.
# New inputs go to the kept corpus in a long run, to a scratch folder in a
# smoke run (which reads the kept corpus but leaves the tree as it was).
run_target() {
  local t=$1; shift
  mkdir -p "fuzz/corpus/$t" "fuzz/artifacts/$t"
  local corpus=("fuzz/corpus/$t") extra=()
  # SSE events are short: long inputs only slow the parser target down.
  [ "$t" = sse_parser ] && extra=(-max_len=1024)
  if [ "$mode" = smoke ]; then
    mkdir -p "$log_dir/corpus-$t"
    corpus=("$log_dir/corpus-$t" "fuzz/corpus/$t")
  fi
  if cargo +nightly fuzz run --target-dir "$target_dir" -O -a "$t" "${corpus[@]}" -- \
      -artifact_prefix="fuzz/artifacts/$t/" -print_final_stats=1 "${extra[@]}" "$@" > "$log_dir/$t.log" 2>&1; then
    echo ok > "$log_dir/$t.status"
  else
    echo failed > "$log_dir/$t.status"
  fi
}

stat() { awk -v k="stat::$2:" '$1 == k {print $2}' "$log_dir/$1.log" | tail -n 1; }

case "$mode" in
  smoke) secs="${2:-60}"; options=(-max_total_time="$secs"); say "fuzzing each target for $secs s, two at a time" ;;
  long) runs="${2:-10000000}"; options=(-runs="$runs"); say "fuzzing each target for $runs executions, two at a time" ;;
  *) echo "usage: scripts/fuzz.sh smoke [SECONDS] | long [RUNS]" >&2; exit 2 ;;
esac

started=$(date +%s)
for ((i = 0; i < ${#targets[@]}; i += 2)); do
  run_target "${targets[i]}" "${options[@]}" &
  if ((i + 1 < ${#targets[@]})); then run_target "${targets[i + 1]}" "${options[@]}" & fi
  wait
done
elapsed=$(( $(date +%s) - started ))

failed=0
printf '%-12s %14s %10s %10s %8s\n' target executions exec/s new-units crashes
for t in "${targets[@]}"; do
  crashes=$(find "fuzz/artifacts/$t" -type f | wc -l)
  printf '%-12s %14s %10s %10s %8s\n' "$t" "$(stat "$t" number_of_executed_units)" \
    "$(stat "$t" average_exec_per_sec)" "$(stat "$t" new_units_added)" "$crashes"
  if [ "$(cat "$log_dir/$t.status")" != ok ] || [ "$crashes" -gt 0 ]; then
    failed=1
    say "$t failed; the end of its log:"
    tail -n 30 "$log_dir/$t.log"
  fi
done

if [ "$mode" = long ] && [ "$failed" = 0 ]; then
  say "minimising the corpus (cargo fuzz cmin)"
  for t in "${targets[@]}"; do
    cargo +nightly fuzz cmin --target-dir "$target_dir" -O -a "$t" "fuzz/corpus/$t" > "$log_dir/$t.cmin" 2>&1
  done
  report=bench/reports/fuzz.md
  previous="$(cat "$report" 2>/dev/null || true)"
  {
    echo "# Fuzzing: the long run"
    echo
    echo "\`scripts/fuzz.sh long $runs\` with cargo fuzz (libFuzzer, AddressSanitizer, nightly $(rustup run nightly rustc --version | awk '{print $2}')), two targets at a time. Each row is the last long run of its target; the latest, on $(date -u +%Y-%m-%d), ran ${targets[*]} in $elapsed s."
    echo
    echo "- machine: $(nproc) cores, $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo), $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo)"
    echo "- target: ≥ 10^7 executions per parser, 0 crashes"
    echo
    echo "| target | what it checks | executions | exec/s | new corpus units | corpus after cmin | crashes |"
    echo "| --- | --- | ---: | ---: | ---: | ---: | ---: |"
    for t in "${all_targets[@]}"; do
      if [[ " ${targets[*]} " != *" $t "* ]]; then
        # Not run this time: its row from the last long run.
        grep -F "| \`$t\` |" <<< "$previous" || true
        continue
      fi
      what=$(sed -n 's|^//! ||p' "fuzz/fuzz_targets/$t.rs" | tr '\n' ' ' | sed 's/ *$//')
      echo "| \`$t\` | $what | $(stat "$t" number_of_executed_units) | $(stat "$t" average_exec_per_sec) | $(stat "$t" new_units_added) | $(find "fuzz/corpus/$t" -type f | wc -l) | $(find "fuzz/artifacts/$t" -type f | wc -l) |"
    done
    echo
    echo "The baseline of each run is its seed corpus (fuzz/corpus/, kept in the repository and grown by each long run)."
  } > "$report"
  say "wrote $report"
fi
exit "$failed"
