#!/usr/bin/env bash
# Runs every cargo-fuzz target of fuzz/ for a bounded time, seeded with samples/.
# Usage: scripts/fuzz.sh [seconds per target, default 60] [target...]
# cargo-fuzz wants a nightly compiler; RUSTC_BOOTSTRAP lets the stable one build it,
# without sanitizers (Rust code here is memory-safe; what we look for is panics,
# hangs and runaway memory).
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
secs=${1:-60}; shift || true
targets=("$@"); [ ${#targets[@]} -gt 0 ] || targets=(pdf xml sheet zip text)
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/caregate-fuzz-target} RUSTC_BOOTSTRAP=1
seed() {
  mkdir -p "corpus/$1"
  case $1 in
    pdf) find ../samples -name '*.pdf' -exec cp {} corpus/pdf/ \; ;;
    xml) find ../samples \( -name '*.xml' -o -name '*.nessus' \) -exec cp {} corpus/xml/ \; ;;
    sheet) find ../samples \( -name '*.xlsx' -o -name '*.ods' -o -name '*.csv' \) -exec cp {} corpus/sheet/ \; ;;
    zip) find ../samples \( -name '*.zip' -o -name '*.docx' -o -name '*.odt' \) -exec cp {} corpus/zip/ \; ;;
    text) find ../samples \( -name '*.csv' -o -name '*.txt' \) -exec cp {} corpus/text/ \; ;;
  esac
}
for t in "${targets[@]}"; do
  seed "$t"
  echo "== $t: ${secs}s"
  cargo fuzz run --sanitizer none "$t" "corpus/$t" -- -max_total_time="$secs" -rss_limit_mb=2048 -timeout=30 2>&1 | grep -E '^Done|SUMMARY|panicked|crash-|Test unit written' || true
done
