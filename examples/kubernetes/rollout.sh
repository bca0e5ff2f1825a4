#!/bin/sh
# rollout.sh ROLLOUT WAVES: one rollout of the manifests of this folder, from a machine with
# kubectl: the rollout's directory, the plan shards, the merge, then for each wave K from 1 to
# WAVES (the number of entries of rollout.waves) the wave's Job and its gate. It stops at the
# first gate that fails: the next wave's Job is never created. ROLLOUT is a new id for each
# rollout (lowercase letters, digits, '-'; e.g. the commit and the date): the Jobs' names and
# the directory /shared/ROLLOUT carry it, and a used id is refused.
set -eu
cd "$(dirname "$0")"
[ $# -eq 2 ] || { echo 'usage: rollout.sh ROLLOUT WAVES' >&2; exit 64; }
rollout=$1 waves=$2
case $waves in '' | *[!0-9]* | 0*) echo 'rollout.sh: WAVES is a whole number from 1' >&2; exit 64 ;; esac

# Waits until the Job is Complete (returns 0) or Failed (returns 1). Not `kubectl wait
# --for=condition=complete`: on a Job that failed it does not return until its timeout.
wait_job() {
  while :; do
    state=$(kubectl get "job/$1" -o 'jsonpath={range .status.conditions[?(@.status=="True")]}{.type}{" "}{end}')
    case " $state " in
      *' Complete '*) return 0 ;;
      *' Failed '*) return 1 ;;
    esac
    sleep 10
  done
}
# render.sh checks the id and the wave, then fills them in (apart: a pipe would hide its failure)
create() {
  manifest=$(./render.sh "$@")
  printf '%s\n' "$manifest" | kubectl create -f -
}
stop() {
  echo "rollout.sh: $1" >&2
  exit 1
}

create init-job.yaml "$rollout"
wait_job "kpfleet-init-$rollout" || stop "/shared/$rollout could not be made (an id used before?): kubectl logs job/kpfleet-init-$rollout"
create plan-job.yaml "$rollout"
wait_job "kpfleet-plan-$rollout" || stop "a plan shard failed: kubectl logs job/kpfleet-plan-$rollout"
create merge-job.yaml "$rollout"
wait_job "kpfleet-merge-$rollout" || stop "the merge was refused: kubectl logs job/kpfleet-merge-$rollout"
kubectl logs "job/kpfleet-merge-$rollout" # the plan: review it before the first wave
printf 'Apply this plan, wave by wave? [y/N] '
read -r answer
[ "$answer" = y ] || stop 'not applied'

k=1
while [ "$k" -le "$waves" ]; do
  create apply-wave-job.yaml "$rollout" "$k"
  wait_job "kpfleet-apply-$rollout-w$k" || echo "a shard of wave $k failed: the gate decides"
  create gate-job.yaml "$rollout" "$k"
  # the gate fails (exit 1) when more hosts failed than rollout.max_failures allows, a run was
  # interrupted, or a host of waves 1..K is not reported by its shard: the next wave must not start
  if ! wait_job "kpfleet-gate-$rollout-w$k"; then
    kubectl logs "job/kpfleet-gate-$rollout-w$k" || true
    stop "the gate after wave $k failed: the next wave must not start"
  fi
  k=$((k + 1))
done
kubectl logs "job/kpfleet-gate-$rollout-w$waves"
