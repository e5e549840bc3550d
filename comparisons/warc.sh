#!/usr/bin/env bash
# What --warc-file costs: fetchpool on 10,000 small files (0.5-4.5 KB of random bytes:
# incompressible, and no two alike, so nothing is deduplicated: the worst case for the
# archive) with and without --warc-file (gzip, and --no-warc-compression), at 5 and 64
# workers, timed by hyperfine (the commands interleaved, each WARC removed before a run);
# then one 1 GiB body with and without --warc-file: wall time and peak RSS (GNU time),
# and the archive checked by warcio (its payload digest against the file's SHA-1).
# Not a test: CI does not run it.
#
#   comparisons/warc.sh [RUNS]     default 10
#
# Needs Debian packages nginx-light, hyperfine, time and python3-venv (installed when run
# as root) and warcio (PyPI, installed in target/ci-venv as .ci/run does). Results go to
# comparisons/out/warc-*.{md,json,txt}. Talks to 127.0.0.1 only.
set -euo pipefail

runs=${1:-10}
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/comparisons/nginx.sh"
out="$root/comparisons/out"
mkdir -p "$out"

need_tools nginx:nginx-light hyperfine:hyperfine /usr/bin/time:time
python3 -c 'import ensurepip' 2>/dev/null || need_packages python3-venv
venv="$root/target/ci-venv"
if [ ! -x "$venv/bin/warcio" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q warcio cdxj-indexer
fi

echo "== building fetchpool (release)"
(cd "$root" && cargo build --release --locked -q -p fetchpool)
fetchpool="$root/target/release/fetchpool"

scratch_dir warc

mkdir -p "$work/docroot/small" "$work/warc"
python3 - "$work/docroot/small" <<'EOF'
import os, random, sys
rng = random.Random(42)
for i in range(10_000):
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
seq 0 9999 | sed "s#.*#$base/small/&.html#" > "$work/small.txt"

for w in 5 64; do
  echo "== 10,000 small files, $w workers, $runs runs each"
  hyperfine -N --warmup 1 --runs "$runs" \
    --prepare "rm -rf $work/warc/a.warc.gz $work/warc/a.warc" \
    --export-markdown "$out/warc-small-$w.md" --export-json "$out/warc-small-$w.json" \
    -n "no archive" "$fetchpool $work/small.txt -w $w --no-proxy --no-progress" \
    -n "warc, gzip" "$fetchpool $work/small.txt -w $w --no-proxy --no-progress --warc-file $work/warc/a" \
    -n "warc, no compression" "$fetchpool $work/small.txt -w $w --no-proxy --no-progress --warc-file $work/warc/a --no-warc-compression"
done

echo "== one 1 GiB body, with and without --warc-file"
{
  echo "one 1 GiB body of random bytes: wall (s), peak RSS (KB)"
  /usr/bin/time -f "no archive: %e s, %M KB" "$fetchpool" "$base/1G.bin" --no-proxy 2>&1 >/dev/null | tail -1
  rm -f "$work/warc/big.warc.gz"
  /usr/bin/time -f "--warc-file (gzip): %e s, %M KB" "$fetchpool" "$base/1G.bin" --no-proxy \
    --warc-file "$work/warc/big" 2>&1 >/dev/null | tail -1
  ls -l "$work/warc/big.warc.gz" | awk '{print "archive: " $5 " bytes"}'
  /usr/bin/time -f "warcio check: %e s" "$venv/bin/warcio" check "$work/warc/big.warc.gz" 2>&1 | tail -1
  archived=$("$venv/bin/warcio" index -f warc-type,warc-payload-digest "$work/warc/big.warc.gz" |
    python3 -c 'import json,sys; print([json.loads(l)["warc-payload-digest"] for l in sys.stdin if "response" in l][0])')
  expected=$(python3 -c 'import base64,hashlib,sys; h=hashlib.sha1()
with open(sys.argv[1],"rb") as f:
    for b in iter(lambda: f.read(1<<20), b""): h.update(b)
print("sha1:"+base64.b32encode(h.digest()).decode())' "$work/docroot/1G.bin")
  echo "payload digest: archived $archived, file $expected"
  [ "$archived" = "$expected" ] && echo "digests agree"
} | tee "$out/warc-big.txt"
cat "$out"/warc-small-*.md
