# kpsim background transition completer: flip.sh kpsim-flip ROOT MODULE TOKEN DELAY
# shellcheck shell=bash
export KPSIM_ROOT="$2"
m="$3" token="$4"
sleep "$5"
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
source "$KPSIM_LIB/kernel.sh"
# A kpatch polling this transition completes it on its own clock; wait until it is done.
while [[ -r "$ST/poll/$m" ]] && read -r poller <"$ST/poll/$m" && kill -0 "$poller" 2>/dev/null; do
  sleep 0.05
done
lock
if [[ -r "$ST/trans/$m" ]] && read -r t target <"$ST/trans/$m" && [[ "$t" == "$token" ]]; then
  read -r _ _ _ target _ <"$ST/trans/$m"
  complete_transition "$m" "$target"
fi
unlock
