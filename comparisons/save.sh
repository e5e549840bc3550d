#!/usr/bin/env bash
# Saving what is fetched: fetchpool -d against wget2 -i, aria2c -i and
# curl -Z --remote-name-all, on 2,000 small files and one 1 GiB file served by a local
# nginx. Wall time and peak RSS (GNU time's %M), median of RUNS runs each, every run into
# a fresh empty folder; each saved set is checked (file count and total bytes).
# Not a test: CI does not run it.
#
#   comparisons/save.sh [RUNS] [WORKERS]     defaults 3 and 16
#
# Needs Debian packages nginx-light, curl, aria2, wget2 and time (installed when run as
# root). Results go to comparisons/out/save.md. Talks to 127.0.0.1 only.
set -euo pipefail

runs=${1:-3}
workers=${2:-16}
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/comparisons/nginx.sh"
out="$root/comparisons/out"
mkdir -p "$out"

need_tools nginx:nginx-light curl:curl aria2c:aria2 wget2:wget2 /usr/bin/time:time

echo "== building fetchpool (release)"
(cd "$root" && cargo build --release --locked -q -p fetchpool)
fetchpool="$root/target/release/fetchpool"

scratch_dir save

mkdir -p "$work/docroot/small" "$work/tmp"
python3 - "$work/docroot/small" <<'EOF'
import os, random, sys
rng = random.Random(42)
for i in range(2000):
    with open(os.path.join(sys.argv[1], f"{i}.html"), "wb") as f:
        f.write(rng.randbytes(rng.randint(512, 4608)))
EOF
head -c 1073741824 /dev/urandom > "$work/docroot/1G.bin"
chmod -R a+rX "$work/docroot"

port=$(free_port)
start_nginx "$work" "listen 127.0.0.1:$port; root $work/docroot;" \
  "sendfile on; tcp_nopush on; default_type application/octet-stream;"
base="http://127.0.0.1:$port"
wait_for "$base/small/0.html"

seq 0 1999 | sed "s#.*#$base/small/&.html#" > "$work/small.txt"
echo "$base/1G.bin" > "$work/big.txt"
sed 's#.*#url = "&"#' "$work/small.txt" > "$work/small.cfg"
sed 's#.*#url = "&"#' "$work/big.txt" > "$work/big.cfg"

# run NAME CASE W COMMAND...: RUNS timed runs into $work/dest (emptied first), then checks.
results="$work/results.tsv"
: > "$results"
run() {
  local name=$1 case=$2 expect_files=$3 expect_bytes=$4
  shift 4
  for i in $(seq "$runs"); do
    rm -rf "$work/dest" && mkdir -p "$work/dest"
    sync
    /usr/bin/time -f "%e %M" -o "$work/time.txt" "$@" >/dev/null 2>&1 || true
    local files bytes
    files=$(find "$work/dest" -type f ! -name '.*' | wc -l)
    bytes=$(find "$work/dest" -type f ! -name '.*' -printf '%s\n' | awk '{s+=$1} END {print s+0}')
    if [ "$files" != "$expect_files" ] || [ "$bytes" != "$expect_bytes" ]; then
      echo "!! $name $case run $i saved $files files, $bytes bytes" >&2
    fi
    echo -e "$case\t$name\t$(cat "$work/time.txt" | tr ' ' '\t')" >> "$results"
  done
}

small_bytes=$(find "$work/docroot/small" -type f -printf '%s\n' | awk '{s+=$1} END {print s}')
echo "== 2,000 small files, $workers at once, $runs runs each"
run fetchpool small 2000 "$small_bytes" "$fetchpool" "$work/small.txt" -w "$workers" --no-proxy -d "$work/dest"
run wget2 small 2000 "$small_bytes" wget2 -q --max-threads="$workers" -nd -P "$work/dest" -i "$work/small.txt"
run aria2c small 2000 "$small_bytes" aria2c -q -j "$workers" -d "$work/dest" -i "$work/small.txt" --file-allocation=none --allow-overwrite=true --auto-file-renaming=false
run "curl -Z" small 2000 "$small_bytes" curl -s -Z --parallel-max "$workers" --remote-name-all --output-dir "$work/dest" -K "$work/small.cfg"

echo "== one 1 GiB file, $runs runs each"
run fetchpool big 1 1073741824 "$fetchpool" "$work/big.txt" --no-proxy -d "$work/dest"
run wget2 big 1 1073741824 wget2 -q -nd -P "$work/dest" -i "$work/big.txt"
run aria2c big 1 1073741824 aria2c -q -d "$work/dest" -i "$work/big.txt" --file-allocation=none --allow-overwrite=true --auto-file-renaming=false
run "curl -Z" big 1 1073741824 curl -s -Z --remote-name-all --output-dir "$work/dest" -K "$work/big.cfg"

python3 - "$results" "$runs" "$workers" > "$out/save.md" <<'EOF'
import statistics, sys
from collections import defaultdict
rows = defaultdict(list)
for line in open(sys.argv[1]):
    case, name, wall, rss = line.rstrip("\n").split("\t")
    rows[(case, name)].append((float(wall), int(rss)))
print(f"Median of {sys.argv[2]} runs; {sys.argv[3]} at once for the small files.\n")
print("| case | tool | wall (s) | peak RSS (MB) |")
print("|---|---|---|---|")
for (case, name), vals in rows.items():
    label = "2,000 small files" if case == "small" else "one 1 GiB file"
    wall = statistics.median(v[0] for v in vals)
    rss = statistics.median(v[1] for v in vals) / 1024
    print(f"| {label} | {name} | {wall:.2f} | {rss:.1f} |")
EOF
cat "$out/save.md"
