#!/usr/bin/env bash
# The sharding simulation of BENCHMARKS.md, section i: SHARDS copies of fetchpool share
# one LINES-line list (`--shard K/N --record --resume`), all at once against a local nginx
# answering on 127.0.0.1-127.0.0.20; one shard is killed (SIGKILL) a third of the way in
# and run again; then `fetchpool report --list` must prove every line done exactly once.
# Then `fetchpool report` alone on 10^8 synthetic records and a 10^8-line list (memory).
# Not a test: CI does not run it.
#
#   comparisons/shards.sh [LINES [SHARDS [WORKERS]]]   (default 10000000 4 16)
#   BIG=1000000 comparisons/shards.sh 100000             (a quick check of the script)
#
# Needs Debian's nginx-light, curl and time; results go to comparisons/out/shards-*.txt. The
# temporary files (about 4 GB for 10^7 lines, 9 GB for the 10^8 records) are removed on
# exit; nginx is stopped.
set -euo pipefail

lines=${1:-10000000}
shards=${2:-4}
workers=${3:-16}
victim=1
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/comparisons/nginx.sh"
out="$root/comparisons/out"
mkdir -p "$out"
for cmd in nginx curl /usr/bin/time python3; do
  command -v "$cmd" >/dev/null || { echo "missing: $cmd (Debian: nginx-light curl time python3)" >&2; exit 1; }
done

(cd "$root" && cargo build --release --locked -q -p fetchpool)
fetchpool="$root/target/release/fetchpool"
work=$(mktemp -d /tmp/fetchpool-shards.XXXXXX)
cleanup() {
  [ -f "$work/nginx.pid" ] && kill "$(cat "$work/nginx.pid")" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

port=$(free_port)
listens=$(for i in $(seq 1 20); do printf 'listen 127.0.0.%s:%s; ' "$i" "$port"; done)
start_nginx "$work" "$listens location / { return 200 \"ok\\n\"; }"
wait_for "http://127.0.0.1:$port/"

echo "== a $lines-line list over 20 hosts"
python3 - "$port" "$lines" "$work/urls.txt" <<'EOF'
import sys
port, n, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
with open(path, "w", buffering=1 << 20) as f:
    for start in range(0, n, 100_000):
        f.write("".join(f"http://127.0.0.{1 + i % 20}:{port}/p/{i}\n"
                        for i in range(start, min(n, start + 100_000))))
EOF

report="$out/shards-$lines.txt"
: > "$report"
run_shard() {
  /usr/bin/time -f "shard $1/$shards$2: %e s, %M KB peak RSS" "$fetchpool" "$work/urls.txt" \
    --shard "$1/$shards" --record "$work/shard-$1.jsonl" --resume \
    -w "$workers" --no-proxy --no-progress > /dev/null 2>> "$work/time-$1.txt" || true
}

echo "== $shards shards of $workers workers at once; shard $victim is killed a third of the way in"
start=$(date +%s.%N)
for k in $(seq 0 $((shards - 1))); do
  run_shard "$k" "" &
  eval "pid_$k=$!"
done
target=$((lines / shards / 3))
for _ in $(seq 1 36000); do
  [ -f "$work/shard-$victim.jsonl" ] && [ "$(wc -l < "$work/shard-$victim.jsonl")" -ge "$target" ] && break
  sleep 0.1
done
pkill -KILL -f -- "^$fetchpool .*--shard $victim/$shards " || true
killed_at=$(wc -l < "$work/shard-$victim.jsonl")
echo "shard $victim/$shards killed after $killed_at records" | tee -a "$report"
wait
sed -i "s|^shard $victim/$shards:|shard $victim/$shards (killed):|" "$work/time-$victim.txt"
run_shard "$victim" " (resumed)"
end=$(date +%s.%N)
cat "$work"/time-*.txt | grep -v "Command terminated" | tee -a "$report"
python3 -c "print(f'all shards: {$end - $start:.1f} s wall for $lines lines ({$lines / ($end - $start):.0f} lines/s)')" | tee -a "$report"

echo "== fetchpool report --list over the $shards record files"
/usr/bin/time -f "report: %e s, %M KB peak RSS" "$fetchpool" report --list "$work/urls.txt" \
  "$work"/shard-*.jsonl 2>&1 | tail -3 | tee -a "$report"
rm -f "$work"/shard-*.jsonl "$work/urls.txt"

big=${BIG:-100000000}
echo "== fetchpool report on $big synthetic records and a $big-line list"
seq 1 $big | awk '{printf "{\"line\":%d,\"url\":\"http://h/%d\",\"result\":\"fetched\",\"bytes\":3,\"elapsed_ms\":1.5}\n", $1, $1}' > "$work/big.jsonl"
seq 1 $big | awk '{printf "http://h/%d\n", $1}' > "$work/big.txt"
/usr/bin/time -f "report of $big: %e s, %M KB peak RSS" "$fetchpool" report --list "$work/big.txt" \
  "$work/big.jsonl" 2>&1 | tail -2 | tee -a "$report"
echo "== results in $report"
