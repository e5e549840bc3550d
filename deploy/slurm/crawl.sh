#!/usr/bin/env bash
# A crawl over a Slurm cluster, in rounds: each round is the array job of crawl.sbatch
# (every shard once); the report, a job that depends on the whole array (afterany), says
# whether a handed-off link is left. Rounds go on until none is (at most ROUNDS, 50).
#
#   SEEDS=seeds.txt RECORDS=records HANDOFF=handoff deploy/slurm/crawl.sh
#
# SEEDS, RECORDS and HANDOFF must be on a file system every node sees. Run it again after
# an interruption: shards resume their record files.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
export SEEDS=${SEEDS:-seeds.txt} RECORDS=${RECORDS:-records} HANDOFF=${HANDOFF:-handoff}
for round in $(seq 1 "${ROUNDS:-50}"); do
  echo "== round $round"
  array=$(sbatch --parsable --export=ALL "$here/crawl.sbatch")
  # --wait: sbatch returns the report's exit code once it has run, after every task.
  if sbatch --wait --dependency="afterany:${array%%;*}" --job-name=fetchpool-crawl-report \
      --output=fetchpool-crawl-report-%j.log \
      --wrap="fetchpool report --handoff $HANDOFF $RECORDS/shard-*.jsonl"; then
    echo "== the crawl is over after $round round(s)"
    exit 0
  fi
done
echo "the crawl is not over after ${ROUNDS:-50} rounds" >&2
exit 1
