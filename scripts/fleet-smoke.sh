#!/usr/bin/env bash
# Issue 3's done-criterion, as a script: bring up the real-SSH fleet (64 hosts by default), reach
# a host from a plain shell with the generated key and known_hosts, run `sudo kpatch list`, bring
# the fleet down and check that nothing is left running. Needs root.
set -euo pipefail
cd "$(dirname "$0")/.."
hosts=${1:-64}
mkdir -p test/.tmp
dir=$(mktemp -d "$PWD/test/.tmp/smoke.XXXXXX")
trap 'npm run -s fleet -- down --dir "$dir" >/dev/null 2>&1 || true' EXIT

start=$(date +%s%N)
npm run -s fleet -- up --hosts "$hosts" --dir "$dir" --subnet 90
took=$((($(date +%s%N) - start) / 1000000))
echo "fleet-smoke: $hosts hosts up in ${took} ms (target: 64 in under 20 s; checked by npm run bench)"

state="$dir/state.json"
key=$(node -p "require('$state').key")
known=$(node -p "require('$state').knownHosts")
last=$(node -p "require('$state').hosts.at(-1).address")
echo "\$ ssh -i $key -o UserKnownHostsFile=$known kpfleet@$last sudo kpatch list"
ssh -i "$key" -o UserKnownHostsFile="$known" -o BatchMode=yes kpfleet@"$last" sudo kpatch list | tee "$dir/list.out"
grep -q '^Loaded patch modules:' "$dir/list.out"

namespaces=$(node -p "require('$state').hosts.map(h => h.mntns).join('\n')")
npm run -s fleet -- down --dir "$dir"
left=0
for p in /proc/[0-9]*; do
  ns=$(readlink "$p/ns/mnt" 2>/dev/null) || continue
  if grep -qxF "$ns" <<<"$namespaces"; then left=$((left + 1)); fi
done
[ "$left" -eq 0 ] || { echo "fleet-smoke: $left processes left behind" >&2; exit 1; }
echo "fleet-smoke: down left no process behind"
