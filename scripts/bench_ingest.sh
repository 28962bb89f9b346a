#!/usr/bin/env bash
# Ingest throughput of two caregate builds, alternated in the same run, as a user sees
# it: `caregate serve` on the full stack (RabbitMQ, PostgreSQL, Garage, from
# scripts/services.sh) with no worker, and `caregate submit --server` sending a dossier of
# small files one after the other. Each run gets a fresh database, queue prefix and
# buckets. Prints one line per run and the median per build.
#
#   scripts/bench_ingest.sh BEFORE_BINARY AFTER_BINARY [FILES=1000] [ROUNDS=3]
set -euo pipefail

before=$1 after=$2 files=${3:-1000} rounds=${4:-3}
state=${CAREGATE_SERVICES_DIR:-$HOME/.cache/caregate-services}
# shellcheck disable=SC1091
source "$state/env"
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

mkdir -p "$work/dossier"
python3 - "$work/dossier" "$files" <<'EOF'
import os, sys
out, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    with open(os.path.join(out, f"piece-{i:05d}.txt"), "w") as f:
        f.write(f"pièce justificative n° {i}\n" + "contenu du rapport d'exposition " * 300)
EOF

run() { # binary label round
  local bin=$1 label=$2 round=$3 id="bench_${2}_${3}_$$"
  psql -q -h 127.0.0.1 -U postgres -d postgres -c "CREATE DATABASE $id" >/dev/null
  local port=$((20000 + RANDOM % 20000))
  export CAREGATE_BACKENDS__DATABASE__URL="postgres://postgres@127.0.0.1:5432/$id"
  export CAREGATE_BACKENDS__AMQP__PREFIX="$id"
  export CAREGATE_BACKENDS__S3__QUARANTINE_BUCKET="${id//_/-}-q" CAREGATE_BACKENDS__S3__EVIDENCE_BUCKET="${id//_/-}-e"
  export CAREGATE_BACKENDS__S3__CREATE_BUCKETS=true CAREGATE_BACKENDS__DATA_DIR="$work/data-$id" CAREGATE_LOG=error
  export CAREGATE_CONFIG="$work/none.toml"
  "$bin" account add depot --role submitter --establishment 750000001 >/dev/null
  local token
  token=$("$bin" account token depot)
  CAREGATE_LISTEN="127.0.0.1:$port" "$bin" serve >/dev/null 2>&1 &
  local serve=$!
  for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
  local t0 t1
  t0=$(date +%s.%N)
  CAREGATE_TOKEN=$token "$bin" submit --establishment 750000001 --server "http://127.0.0.1:$port" --wait-secs 0 "$work/dossier" >/dev/null 2>&1 || true
  t1=$(date +%s.%N)
  kill $serve; wait $serve 2>/dev/null || true
  local n
  n=$(psql -qtA -h 127.0.0.1 -U postgres -d "$id" -c "SELECT COUNT(*) FROM evidence")
  psql -q -h 127.0.0.1 -U postgres -d postgres -c "DROP DATABASE $id" >/dev/null
  local secs
  secs=$(echo "$t1 - $t0" | bc -l)
  printf '%s\tround %s\t%s files recorded\t%.2f s\t%.1f files/s\n' "$label" "$round" "$n" "$secs" "$(echo "$n / $secs" | bc -l)"
  echo "$label $(echo "$n / $secs" | bc -l)" >> "$work/rates"
}

for r in $(seq "$rounds"); do
  # ABBA order, so a drift of the machine during the run weighs on both alike.
  if (( r % 2 )); then run "$before" before "$r"; run "$after" after "$r"; else run "$after" after "$r"; run "$before" before "$r"; fi
done
for label in before after; do
  printf '%s median: %.1f files/s\n' "$label" "$(grep "^$label " "$work/rates" | awk '{print $2}' | sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}')"
done
