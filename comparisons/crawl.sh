#!/usr/bin/env bash
# The crawl comparison of BENCHMARKS.md, section j: fetchpool --crawl against wget2 -r at
# equal threads, on a generated local site of PAGES pages (each linking to four others,
# all reachable from the first), served by nginx on 127.0.0.1. Both save every page under
# a fresh folder and find every page. Not a test: CI does not run it.
#
#   comparisons/crawl.sh [PAGES [THREADS [RUNS]]]   (default 100000 8 3)
#
# Needs Debian's nginx-light, wget2 and time. Results: comparisons/out/crawl-PAGES.txt.
set -euo pipefail

pages=${1:-100000}
threads=${2:-8}
runs=${3:-3}
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/comparisons/nginx.sh"
out="$root/comparisons/out"
mkdir -p "$out"
for cmd in nginx wget2 curl /usr/bin/time python3; do
  command -v "$cmd" >/dev/null || { echo "missing: $cmd (Debian: nginx-light wget2 time)" >&2; exit 1; }
done
(cd "$root" && cargo build --release --locked -q -p fetchpool)
fetchpool="$root/target/release/fetchpool"
work=$(mktemp -d /tmp/fetchpool-crawl.XXXXXX)
shm=$(mktemp -d /dev/shm/fetchpool-crawl.XXXXXX)
cleanup() {
  rm -rf "$shm"
  [ -n "${KEEP:-}" ] && return
  [ -f "$work/nginx.pid" ] && kill "$(cat "$work/nginx.pid")" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

echo "== a site of $pages pages"
python3 - "$work/site" "$pages" <<'EOF'
import os, sys
root, n = sys.argv[1], int(sys.argv[2])
os.makedirs(root)
for i in range(n):
    links = "".join(f'<a href="p{j % n}.html">p{j % n}</a>\n'
                    for j in (i + 1, 2 * i + 1, 7 * i + 3, 13 * i + 5))
    with open(f"{root}/p{i}.html", "w") as f:
        f.write(f"<!doctype html><html><head><title>page {i}</title></head><body>\n"
                f"<p>Page {i} of the generated site.</p>\n{links}</body></html>\n")
EOF
chmod 755 "$work"
chmod -R a+rX "$work/site"
port=$(free_port)
start_nginx "$work" "listen 127.0.0.1:$port; root $work/site;" "sendfile on; default_type text/html;"
seed="http://127.0.0.1:$port/p0.html"
wait_for "$seed"

report="$out/crawl-$pages.txt"
echo "# $pages pages, $threads threads, $(nproc) cores; wall s, peak RSS KB, files saved" > "$report"
for run in $(seq 1 "$runs"); do
  for tool in fetchpool wget2; do
    # Pages are saved to memory (tmpfs), a new folder each run: on ext4, creating files
    # right after 100,000 deletions is several times slower (its recently-deleted inode
    # check), which measured the file system, not the crawlers.
    dl="$shm/dl-$tool-$run"
    mkdir -p "$dl"
    case $tool in
      fetchpool) cmd=("$fetchpool" "$seed" --crawl --depth 1000 --ignore-robots -w "$threads" --no-proxy
                      --no-progress -d "$dl") ;;
      wget2) cmd=(wget2 -q --no-config -r -l 0 --max-threads "$threads" --no-robots
                  -P "$dl" "$seed") ;;
    esac
    /usr/bin/time -f "%e %M" -o "$work/time" "${cmd[@]}" > /dev/null 2>&1 || true
    files=$(find "$dl" -type f | wc -l)
    echo "$tool run $run: $(cat "$work/time") $files" | tee -a "$report"
  done
done
echo "== results in $report"
