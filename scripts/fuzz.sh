#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz) with clang in build-fuzz/ and runs
# each for a while: the longer run that the 20-second ctest runs (label
# "fuzz") only sample. See --help.
set -euo pipefail
cd "$(dirname "$0")/.."

targets_all=(fuzz_record_reader fuzz_codec)

usage() {
  cat <<'EOF'
usage: scripts/fuzz.sh [SECONDS [TARGET...]] [-- LIBFUZZER_FLAG...]

Builds the libFuzzer targets in build-fuzz/ (CC, default clang, with
-fsanitize=fuzzer,address,undefined; tests/fuzz is configured on its own, so
MPI and hwloc are not needed) and runs each TARGET for SECONDS (default 60),
one after the other, from its seed corpus tests/fuzz/corpus/TARGET/.

Targets: fuzz_record_reader  the record splitter (job/input.c) against an
                             independent split of the files into records
         fuzz_codec          the pair, varint and run decoders (kv/codec.h,
                             kv/run.c) against independent decoders

Inputs that reach new code are kept in build-fuzz/corpus/TARGET/, so each run
starts where the last one stopped; the seeds in the source tree are never
written. A target that finds a failure leaves the input in
build-fuzz/fuzz-artifacts/ and its log in build-fuzz/TARGET.log; the
script goes on with the other targets, prints the command that reproduces
the failure, and exits 1. Flags after -- go to every target (for example
-- -jobs=4 -workers=4, or -- -max_len=16384).

Needs clang and its runtime: on Debian 12 the packages clang and
libclang-rt-14-dev (scripts/install-deps.sh installs what is missing).

examples:
  scripts/fuzz.sh                      # both targets, 60 s each
  scripts/fuzz.sh 600 fuzz_codec       # one target for ten minutes
EOF
}

seconds=60
seconds_given=0
targets=()
flags=()
while [ $# -gt 0 ]; do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    --) shift; flags=("$@"); break ;;
    *)
      if [ ${#targets[@]} -eq 0 ] && [ "$seconds_given" -eq 0 ] && [[ "$1" =~ ^[0-9]+$ ]]; then
        seconds=$1
        seconds_given=1
      elif [[ " ${targets_all[*]} " == *" $1 "* ]]; then
        targets+=("$1")
      else
        echo "fuzz.sh: unknown target or argument '$1' (see --help)" >&2
        exit 64
      fi ;;
  esac
  shift
done
[ "$seconds" -gt 0 ] || { echo "fuzz.sh: SECONDS must be at least 1" >&2; exit 64; }
[ ${#targets[@]} -gt 0 ] || targets=("${targets_all[@]}")

bash scripts/install-deps.sh clang libclang-rt-14-dev
root=$(pwd)
build=build-fuzz
CC=${CC:-clang} cmake -S tests/fuzz -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo > /dev/null
cmake --build "$build" -j "$(nproc)" --target mpimr_fuzz_targets > /dev/null
for t in "${targets[@]}"; do
  if [ ! -x "$build/tests/fuzz/$t" ]; then
    echo "fuzz.sh: $build/tests/fuzz/$t was not built: ${CC:-clang} cannot link -fsanitize=fuzzer" \
         "(install libclang-rt-14-dev)" >&2
    exit 1
  fi
done

failed=0
for t in "${targets[@]}"; do
  mkdir -p "$build/corpus/$t" "$build/fuzz-artifacts"
  log="$build/$t.log"
  echo "fuzz.sh: $t for $seconds s (log: $log)"
  status=0
  # From inside the build tree, where -jobs puts its fuzz-N.log files.
  (cd "$build" && "./tests/fuzz/$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="fuzz-artifacts/$t-" ${flags[@]+"${flags[@]}"} \
    "corpus/$t" "$root/tests/fuzz/corpus/$t") > "$log" 2>&1 || status=$?
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  inputs=$(find "$build/corpus/$t" -type f | wc -l)
  if [ "$status" -eq 0 ]; then
    echo "fuzz.sh: $t: ${runs:-?} runs (${rate:-?}/s), $inputs inputs in $build/corpus/$t, nothing found"
  else
    failed=1
    artifact=$(sed -n 's/.*Test unit written to //p' "$log" | tail -1)
    artifact=${artifact:+$build/$artifact}
    tail -n 40 "$log" >&2
    echo "fuzz.sh: $t FAILED (exit $status); reproduce with: $build/tests/fuzz/$t ${artifact:-<input>}" >&2
  fi
done
exit "$failed"
