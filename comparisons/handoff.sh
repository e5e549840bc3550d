#!/usr/bin/env bash
# A distributed crawl on one machine: a generated site over HOSTS loopback hosts
# (127.0.0.2 ...), PAGES pages each, whose pages link mostly to other hosts; 4 shards
# (--shard K/4 --shard-by host --handoff) run together, round after round, until
# `fetchpool report --handoff` says the crawl is over, against one process with the same
# total workers. Prints the rounds, wall time, pages per second, the peak RSS of a shard
# and of the one process, and checks both fetched the same URLs, each once.
# Not a test: CI does not run it.
#
#   comparisons/handoff.sh [HOSTS] [PAGES] [WORKERS_PER_SHARD]     defaults 50 200 4
#
# Needs Debian packages nginx-light and time (installed when run as root). Results go to
# comparisons/out/handoff.txt. Talks to 127.0.0.0/8 only.
set -euo pipefail

hosts=${1:-50}
pages=${2:-200}
per_shard=${3:-4}
shards=4
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/comparisons/nginx.sh"
out="$root/comparisons/out"
mkdir -p "$out"

need_tools nginx:nginx-light /usr/bin/time:time

echo "== building fetchpool (release)"
(cd "$root" && cargo build --release --locked -q -p fetchpool)
fetchpool="$root/target/release/fetchpool"

scratch_dir handoff

port=$(free_port)
# The site: page n of host h links to one page of its own host and four of others.
python3 - "$work/docroot" "$hosts" "$pages" "$port" <<'EOF'
import os, sys
root, hosts, pages, port = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
def url(h, n):
    return f"http://127.0.0.{h % hosts + 2}:{port}/p/{n % pages}.html"
for h in range(hosts):
    d = os.path.join(root, f"127.0.0.{h + 2}", "p")
    os.makedirs(d, exist_ok=True)
    for n in range(pages):
        links = [url(h, n * n + 1), url(h + 1, 5 * n + 1), url(3 * h + n, n + 7),
                 url(h + 2, n + 3), url(7 * h + 3 * n + 1, 2 * n + 11)]
        body = "".join(f'<a href="{l}">link</a>\n' for l in links)
        with open(os.path.join(d, f"{n}.html"), "w") as f:
            f.write(f"<!doctype html><html><body><h1>{h}/{n}</h1>\n{body}</body></html>\n")
EOF
chmod -R a+rX "$work/docroot"
listens=$(for h in $(seq 2 $((hosts + 1))); do printf 'listen 127.0.0.%s:%s; ' "$h" "$port"; done)
start_nginx "$work" "$listens root $work/docroot/\$server_addr;" "default_type text/html;"
wait_for "http://127.0.0.2:$port/p/0.html"
wait_for "http://127.0.0.$((hosts + 1)):$port/p/0.html"
for h in $(seq 2 $((hosts + 1))); do echo "http://127.0.0.$h:$port/p/0.html"; done > "$work/seeds.txt"

common=(--crawl --no-proxy --no-progress --depth 1000 --ignore-robots)

echo "== $shards shards, $per_shard workers each, in rounds"
mkdir -p "$work/d/records"
peak=0
start=$(date +%s.%N)
rounds=0
while :; do
  rounds=$((rounds + 1))
  [ "$rounds" -le 50 ] || { echo "no end after 50 rounds" >&2; exit 1; }
  for k in $(seq 0 $((shards - 1))); do
    /usr/bin/time -f "%M" -o "$work/d/rss-$k" "$fetchpool" "$work/seeds.txt" "${common[@]}" \
      -w "$per_shard" --shard "$k/$shards" --shard-by host --handoff "$work/d/handoff" \
      --record "$work/d/records/shard-$k.jsonl" --resume > /dev/null 2>> "$work/d/stderr" || true &
  done
  wait
  for k in $(seq 0 $((shards - 1))); do
    rss=$(tail -1 "$work/d/rss-$k")
    [ "$rss" -gt "$peak" ] && peak=$rss
  done
  if "$fetchpool" report --handoff "$work/d/handoff" "$work/d"/records/shard-*.jsonl > /dev/null; then
    break
  fi
done
end=$(date +%s.%N)
sharded_wall=$(python3 -c "print(f'{$end - $start:.2f}')")
sharded_peak=$peak

echo "== one process, $((shards * per_shard)) workers"
/usr/bin/time -f "%e %M" -o "$work/one-time" "$fetchpool" "$work/seeds.txt" "${common[@]}" \
  -w $((shards * per_shard)) -f jsonl > "$work/one.jsonl" 2>/dev/null || true
read -r one_wall one_peak < "$work/one-time"

python3 - "$work" "$rounds" "$sharded_wall" "$sharded_peak" "$one_wall" "$one_peak" "$hosts" "$pages" "$shards" "$per_shard" > "$out/handoff.txt" <<'EOF'
import glob, json, sys
work, rounds, s_wall, s_peak, o_wall, o_peak, hosts, pages, shards, per = sys.argv[1:]
def final(lines):
    last = {}
    for line in lines:
        v = json.loads(line)
        if "url" in v and v.get("result") != "queued":
            last[v["url"]] = v
    return last
sharded = {}
for path in glob.glob(f"{work}/d/records/shard-*.jsonl"):
    mine = final(open(path))
    overlap = set(mine) & set(sharded)
    assert not overlap, f"recorded by two shards: {sorted(overlap)[:3]}"
    sharded.update(mine)
one = final(open(f"{work}/one.jsonl"))
same = set(sharded) == set(one)
fetched = sum(1 for v in sharded.values() if v.get("result") == "fetched")
print(f"site: {hosts} hosts x {pages} pages; {shards} shards x {per} workers against one process x {int(shards) * int(per)} workers")
print(f"shards: {rounds} rounds, {len(sharded)} URLs ({fetched} fetched), {s_wall} s, {len(sharded) / float(s_wall):.0f} URLs/s, peak RSS of a shard {int(s_peak) / 1024:.1f} MB")
print(f"one process: {len(one)} URLs, {o_wall} s, {len(one) / float(o_wall):.0f} URLs/s, peak RSS {int(o_peak) / 1024:.1f} MB")
print(f"same URL set: {same}")
EOF
cat "$out/handoff.txt"
