#!/usr/bin/env bash
# A crawl over many pods, in rounds: each round is the Indexed Job of crawl-round.yaml
# (every shard once, together); then the Job of crawl-report.yaml says whether a handed-off
# link is left. Rounds go on until none is (at most ROUNDS, 50 by default).
#
#   kubectl create configmap fetchpool-seeds --from-file=seeds.txt
#   deploy/kubernetes/crawl.sh
#
# Needs kubectl with access to the cluster. Run it again after an interruption: every shard
# resumes its record file, and handed-off links are consumed once.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
for round in $(seq 1 "${ROUNDS:-50}"); do
  echo "== round $round"
  kubectl delete job fetchpool-crawl fetchpool-crawl-report --ignore-not-found --wait
  kubectl apply -f "$here/crawl-round.yaml"
  kubectl wait --for=condition=complete job/fetchpool-crawl --timeout=24h
  kubectl apply -f "$here/crawl-report.yaml"
  # The report Job ends Complete (nothing left) or Failed (another round).
  until state=$(kubectl get job fetchpool-crawl-report \
      -o jsonpath='{.status.succeeded}/{.status.failed}') && [ "$state" != "/" ]; do
    sleep 5
  done
  kubectl logs job/fetchpool-crawl-report | tail -1
  if [ "${state%%/*}" = 1 ]; then
    echo "== the crawl is over after $round round(s)"
    exit 0
  fi
done
echo "the crawl is not over after ${ROUNDS:-50} rounds" >&2
exit 1
