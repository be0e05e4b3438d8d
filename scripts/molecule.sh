#!/usr/bin/env bash
# Every molecule scenario under extensions/molecule (collection layout), each on fresh harness hosts.
# Usage: scripts/molecule.sh [scenario ...]   (default: all but QS_MOLECULE_OPT_IN)
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/lib.sh"
cd "$QS_ROOT" || exit
# Scenarios left out of the default run (none by default; e.g. QS_MOLECULE_OPT_IN=backend skips the backend role
# alone, ~10 min, for a quicker local run: docs/testing.md says what it proves beyond the stack scenario).
QS_MOLECULE_OPT_IN=${QS_MOLECULE_OPT_IN:-}
# Run in the background while the others run one after another: the stack scenario spends most of its time
# waiting (for alerts, boots, heartbeats), and its host names differ from every other scenario's.
QS_MOLECULE_ALONGSIDE=${QS_MOLECULE_ALONGSIDE:-stack}
if [ $# -eq 0 ]; then
  mapfile -t scenarios < <(find extensions/molecule -mindepth 2 -maxdepth 2 -name molecule.yml -printf '%h\n' | xargs -rn1 basename \
    | grep -vxF -f <(tr ' ' '\n' <<<"$QS_MOLECULE_OPT_IN") | sort)
else
  scenarios=("$@")
fi
[ ${#scenarios[@]} -gt 0 ] || { echo "no molecule scenarios found" >&2; exit 1; }

alongside=() in_turn=()
for scenario in "${scenarios[@]}"; do
  if [ ${#scenarios[@]} -gt 1 ] && grep -qxF "$scenario" <(tr ' ' '\n' <<<"$QS_MOLECULE_ALONGSIDE"); then
    alongside+=("$scenario")
  else
    in_turn+=("$scenario")
  fi
done

logs=$(mktemp -d)
declare -A pids=()
for scenario in "${alongside[@]}"; do
  qs_step "molecule test -s $scenario (in the background; its log follows when it ends)"
  (
    status=0
    qs_timed "molecule $scenario" molecule test -s "$scenario" >"$logs/$scenario.log" 2>&1 || status=$?
    echo "$status" >"$logs/$scenario.rc"
  ) &
  pids[$scenario]=$!
done

rc=0
for scenario in "${in_turn[@]}"; do
  qs_step "molecule test -s $scenario"
  qs_timed "molecule $scenario" molecule test -s "$scenario" || rc=1
done

for scenario in "${alongside[@]}"; do
  # progress while it runs on: its newest test or task line, once a minute
  while kill -0 "${pids[$scenario]}" 2>/dev/null; do
    last=$({ grep -E '^(TASK|PLAY|INFO|.*::test_)' "$logs/$scenario.log" || true; } | tail -n1 | cut -c1-160)
    echo "    ... $scenario still running: ${last:-starting}"
    for _ in $(seq 60); do kill -0 "${pids[$scenario]}" 2>/dev/null || break; sleep 1; done
  done
  wait "${pids[$scenario]}" || true
  qs_step "molecule test -s $scenario: its log"
  cat "$logs/$scenario.log"
  [ "$(cat "$logs/$scenario.rc" 2>/dev/null)" = 0 ] || { echo "    molecule $scenario failed" >&2; rc=1; }
done
rm -rf "$logs"
exit "$rc"
