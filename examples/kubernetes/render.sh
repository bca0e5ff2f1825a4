#!/bin/sh
# render.sh FILE ROLLOUT [WAVE]: prints one manifest of this folder with its placeholders filled:
# @rollout@ (the rollout's id: its Jobs' names and its directory on the shared volume) and @wave@
# (the wave an apply or gate Job is for). The placeholders appear nowhere else, so nothing else of
# the manifest is rewritten (a `value: '1'` stays '1'). Both values are checked before sed sees
# them: lowercase letters, digits and '-' for the id (a part of a Job name), digits for the wave.
set -eu
usage() {
  echo "usage: render.sh FILE ROLLOUT [WAVE]: $1" >&2
  exit 64
}
[ $# -ge 2 ] && [ $# -le 3 ] || usage 'two or three arguments'
file=$1 rollout=$2 wave=${3-}
case $rollout in
  '' | -* | *- | *[!a-z0-9-]*) usage "the rollout id must be lowercase letters, digits and '-', not starting or ending with '-'" ;;
esac
[ ${#rollout} -le 30 ] || usage 'the rollout id must be at most 30 characters (Job names are at most 63)'
case $wave in
  *[!0-9]* | 0*) usage 'the wave must be a whole number from 1' ;;
esac
if grep -q '@wave@' "$file"; then
  [ -n "$wave" ] || usage "$file is the Job of one wave: give the wave"
elif [ -n "$wave" ]; then
  usage "$file is not the Job of a wave"
fi
sed -e "s/@rollout@/$rollout/g" -e "s/@wave@/$wave/g" "$file"
