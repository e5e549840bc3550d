#!/usr/bin/env bash
# fetchpool against the document's Python example, curl --parallel, xargs -P curl, aria2c and
# wget2, all fetching from one local nginx. Not a test: CI does not run it.
#
#   comparisons/run.sh           full run (under 30 minutes on 2 cores)
#   comparisons/run.sh --quick   a smaller run (under 3 minutes)
#   comparisons/run.sh --only-g  only section g (the process pool and --executor process)
#   comparisons/run.sh --only-h  only section h, issue 12's table: 10,000 small files at 5 and
#                                64 workers with CPU per URL, the 1 GiB body, and latency-bound
#                                lists (50 ms answers from 20 hosts; needs Debian's
#                                libnginx-mod-http-echo, installed as root)
#
# Needs Debian packages nginx-light, hyperfine, curl, aria2, wget2, time and wrk; installs
# the missing ones with apt-get when run as root, otherwise says which to install.
# Results (markdown and JSON from hyperfine, plus text files) go to comparisons/out/.
# Everything talks to 127.0.0.1 only; nginx is stopped and the temporary docroot removed on
# exit.
set -euo pipefail

quick=0 only_g=0 only_h=0
[ "${1:-}" = "--quick" ] && quick=1
[ "${1:-}" = "--only-g" ] && only_g=1
[ "${1:-}" = "--only-h" ] && only_h=1

root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/comparisons/nginx.sh"
out="$root/comparisons/out"
mkdir -p "$out"

# ---- tools ----
need_tools nginx:nginx-light hyperfine:hyperfine curl:curl aria2c:aria2 wget2:wget2 wrk:wrk /usr/bin/time:time python3:python3

echo "== building fetchpool (release)"
(cd "$root" && cargo build --release --locked -q -p fetchpool -p fetchpool-comparisons)
fetchpool="$root/target/release/fetchpool"
ceiling="$root/target/release/reqwest-ceiling"

# ---- docroot and nginx ----
scratch_dir bench

echo "== generating the docroot in $work"
python3 - "$work/docroot" <<'EOF'
import os, random, sys
root = sys.argv[1]
os.makedirs(os.path.join(root, "small"), exist_ok=True)
rng = random.Random(42)
for i in range(10_000):
    size = rng.randint(512, 4608)          # 0.5 - 4.5 KB
    with open(os.path.join(root, "small", f"{i}.html"), "wb") as f:
        f.write(b"x" * size)
EOF
truncate -s 100M "$work/docroot/100M.bin"
truncate -s 1G "$work/docroot/1G.bin"
chmod -R a+rX "$work/docroot"

port=$(free_port)
start_nginx "$work" "listen 127.0.0.1:$port; root $work/docroot;" \
  "sendfile on; tcp_nopush on; default_type application/octet-stream;"
base="http://127.0.0.1:$port"
wait_for "$base/small/0.html"
echo "== nginx on $base"

# URL lists: N small files, as a plain list, a curl config and one URL per line for xargs.
make_lists() {
  local n=$1
  python3 - "$base" "$n" "$work" <<'EOF'
import sys
base, n, work = sys.argv[1], int(sys.argv[2]), sys.argv[3]
urls = [f"{base}/small/{i % 10000}.html" for i in range(n)]
open(f"{work}/urls-{n}.txt", "w").write("\n".join(urls) + "\n")
open(f"{work}/curl-{n}.cfg", "w").write("".join(f'url = "{u}"\noutput = "/dev/null"\n' for u in urls))
EOF
}

{
  echo "# Machine"
  echo "- $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(uname -sr)"
  echo "- $(lscpu | sed -n 's/^Model name: *//p')"
  echo "- $("$fetchpool" --version), $(python3 --version), $(curl --version | head -1 | cut -d' ' -f1-2), $(aria2c --version | head -1), $(wget2 --version | head -1 | cut -d' ' -f1-3), nginx $(nginx -v 2>&1 | cut -d/ -f2)"
} > "$out/machine.md"

if [ $only_g = 0 ] && [ $only_h = 0 ]; then
# ---- a. many small URLs ----
sizes="2000 10000"
workers="5 64"
[ $quick = 1 ] && sizes="1000"
runs=5
for n in $sizes; do
  make_lists "$n"
  list="$work/urls-$n.txt"
  for w in $workers; do
    echo "== a. $n small URLs, $w workers"
    aria_dir="$work/aria"
    # xargs+curl and aria2c take ~100x longer than the others; timing them on the largest
    # list would take most of the 30 minutes, so they run on the smaller lists only.
    slow=()
    if [ "$n" -le 2000 ]; then
      slow=(-n "xargs -P curl" "xargs -P $w -n 1 curl -s -o /dev/null < $list"
            -n aria2c "rm -rf $aria_dir; aria2c -q -j $w -i $list -d $aria_dir --allow-overwrite=true --auto-file-renaming=false")
    fi
    hyperfine --warmup 1 --runs $runs --style basic \
      --export-markdown "$out/small-$n-w$w.md" --export-json "$out/small-$n-w$w.json" \
      -n fetchpool "$fetchpool $list -w $w --no-proxy" \
      -n reqwest-ceiling "$ceiling $list $w" \
      -n python-example "python3 $root/comparisons/python_example.py $list $w" \
      -n "curl --parallel" "curl -s --parallel --parallel-max $w -K $work/curl-$n.cfg" \
      -n wget2 "wget2 -q --no-config --max-threads $w -i $list -O /dev/null" \
      "${slow[@]}"
  done
done

echo "== a. ceiling: wrk, 64 connections, one small file"
wrk -t 2 -c 64 -d 10s "$base/small/1.html" > "$out/wrk-c64.txt"
cat "$out/wrk-c64.txt"

# ---- b. one 1 GiB body ----
echo "== b. one 1 GiB body"
echo "$base/1G.bin" > "$work/big.txt"
hyperfine --warmup 1 --runs $runs --style basic \
  --export-markdown "$out/big-1G.md" --export-json "$out/big-1G.json" \
  -n fetchpool "$fetchpool $work/big.txt --no-proxy" \
  -n curl "curl -s -o /dev/null $base/1G.bin" \
  -n python-example "python3 $root/comparisons/python_example.py $work/big.txt 1"
{
  echo "tool peak_rss_kb elapsed_s"
  for tool in fetchpool curl python; do
    case $tool in
      fetchpool) cmd=("$fetchpool" "$work/big.txt" --no-proxy) ;;
      curl) cmd=(curl -s -o /dev/null "$base/1G.bin") ;;
      python) cmd=(python3 "$root/comparisons/python_example.py" "$work/big.txt" 1) ;;
    esac
    /usr/bin/time -f "$tool %M %e" "${cmd[@]}" 2>&1 >/dev/null | tail -1
  done
} | tee "$out/big-1G-rss.txt"

# ---- c. a 1,000,000-line list ----
lines=1000000
[ $quick = 1 ] && lines=100000
echo "== c. a $lines-line list, 64 workers"
make_lists "$lines"
python3 "$root/comparisons/first_result.py" "$fetchpool" "$work/urls-$lines.txt" -w 64 --no-proxy -f jsonl \
  | tee "$out/lines-$lines.txt"

# ---- d. executor micro-benchmarks ----
if [ $quick = 0 ]; then
  echo "== d. executor micro-benchmarks"
  (cd "$root" && cargo bench --locked -p fetchpool-futures --bench executor) | tee "$out/executor-bench.txt"
  python3 "$root/comparisons/python_executor_overhead.py" | tee "$out/python-executor.txt"
fi

fi

if [ $only_h = 0 ]; then
# ---- g. the process pool, and --executor process ----
echo "== g. the process pool against Python's ProcessPoolExecutor"
(cd "$root" && cargo build --release --locked -p fetchpool-comparisons --bin process-pool)
"$root/target/release/process-pool" --repeat 5 | tee "$out/process-pool.txt"
python3 "$root/comparisons/python_process_pool.py" --repeat 3 | tee "$out/python-process-pool.txt"
n=2000
make_lists "$n"
echo "== g. $n small URLs, 5 workers: threads or processes"
hyperfine --warmup 1 --runs 10 --style basic \
  --export-markdown "$out/executors.md" \
  -n "threads" "$fetchpool $work/urls-$n.txt -w 5 --no-proxy > /dev/null" \
  -n "processes" "$fetchpool $work/urls-$n.txt -w 5 --no-proxy --executor process > /dev/null" \
  -n "processes, max 100 tasks each" "$fetchpool $work/urls-$n.txt -w 5 --no-proxy --executor process --max-tasks-per-child 100 > /dev/null" \
  || true

fi

# ---- h. issue 12's table: small files with CPU per URL, the 1 GiB body, then latency ----
if [ $only_g = 0 ]; then
  make_lists 10000
  for w in 5 64; do
    echo "== h. 10,000 small files, $w workers: median wall and CPU (user + system) per URL"
    hyperfine -N --warmup 2 --runs 15 --style basic --output=null \
      --export-json "$out/h-small-w$w.json" \
      -n fetchpool "$fetchpool $work/urls-10000.txt -w $w --no-proxy" \
      -n "curl --parallel" "curl -s --parallel --parallel-max $w -K $work/curl-10000.cfg" \
      -n wget2 "wget2 -q --no-config --max-threads $w -i $work/urls-10000.txt -O /dev/null" \
      > /dev/null
    python3 - "$out/h-small-w$w.json" <<'SUMMARY' | tee "$out/h-small-w$w.txt"
import json, statistics, sys
for r in json.load(open(sys.argv[1]))["results"]:
    cpu = (r["user"] + r["system"]) / 10000 * 1e6
    print(f'{r["command"]:16} {statistics.median(r["times"]) * 1000:5.0f} ms  {cpu:5.1f} us CPU per URL')
SUMMARY
  done
  echo "== h. one 1 GiB body: median wall, and fetchpool's peak RSS"
  echo "$base/1G.bin" > "$work/big.txt"
  hyperfine -N --warmup 1 --runs 12 --style basic --export-markdown "$out/h-big.md" \
    -n fetchpool "$fetchpool $work/big.txt --no-proxy" \
    -n curl "curl -s -o /dev/null $base/1G.bin"
  /usr/bin/time -f "fetchpool: %M KB peak RSS" "$fetchpool" "$work/big.txt" --no-proxy 2>&1 >/dev/null \
    | tail -1 | tee "$out/h-big-rss.txt"
fi

# ---- h. latency-bound: every answer takes 50 ms, from 20 loopback addresses ----
echo_module=/usr/lib/nginx/modules/ngx_http_echo_module.so
if [ $only_g = 1 ]; then
  :
elif [ ! -f "$echo_module" ] && [ "$(id -u)" = 0 ]; then
  apt-get install -y -q libnginx-mod-http-echo >/dev/null
fi
if [ $only_g = 1 ]; then
  :
elif [ -f "$echo_module" ]; then
  lat="$work/lat"
  lport=$(free_port)
  listens=$(for i in $(seq 1 20); do printf 'listen 127.0.0.%s:%s; ' "$i" "$lport"; done)
  start_nginx "$lat" "$listens location / { echo_sleep 0.05; echo ok; }" "" \
    "load_module $echo_module;"
  python3 - "$lport" "$lat" <<'LISTS'
import sys
port, lat = sys.argv[1], sys.argv[2]
for n in (4000, 10000):
    urls = [f"http://127.0.0.{1 + i % 20}:{port}/slow?{i}" for i in range(n)]
    open(f"{lat}/u{n}.txt", "w").write("\n".join(urls) + "\n")
    open(f"{lat}/u{n}.cfg", "w").write("".join(f'url = "{u}"\noutput = "/dev/null"\n' for u in urls))
LISTS
  echo "== h. 4,000 URLs answering after 50 ms, 20 hosts, 100 workers (ideal: 2.0 s)"
  hyperfine -N --warmup 1 --runs 5 --style basic --export-markdown "$out/latency-100.md" \
    -n fetchpool "$fetchpool $lat/u4000.txt -w 100 --no-proxy" \
    -n "curl --parallel" "curl -s --parallel --parallel-max 100 -K $lat/u4000.cfg -o /dev/null" \
    -n wget2 "wget2 -q --no-config --max-threads 100 -i $lat/u4000.txt -O /dev/null" || true
  : > "$out/latency-rss.txt"
  for w in 1000 5000; do
    echo "== h. 10,000 such URLs, $w workers: wall time and peak RSS (3 runs each)"
    for _ in 1 2 3; do
      /usr/bin/time -f "fetchpool $w: %e s, %M KB" "$fetchpool" "$lat/u10000.txt" -w "$w" --no-proxy > /dev/null
      /usr/bin/time -f "wget2 $w: %e s, %M KB" wget2 -q --no-config --max-threads "$w" -i "$lat/u10000.txt" -O /dev/null
      if [ "$w" = 1000 ]; then
        /usr/bin/time -f "curl $w: %e s, %M KB" curl -s --parallel --parallel-max "$w" -K "$lat/u10000.cfg" -o /dev/null
      fi
    done 2>&1 | grep -E '^(fetchpool|wget2|curl) ' | tee -a "$out/latency-rss.txt"
  done
  kill "$(cat "$lat/nginx.pid")" 2>/dev/null || true
else
  echo "== h. skipped: install Debian's libnginx-mod-http-echo"
fi

echo "== done: results in $out"
