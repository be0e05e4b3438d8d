# Shared shell settings for the project's scripts; source it, do not run it.
# shellcheck shell=bash
set -euo pipefail
QS_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
QS_VENV="$QS_ROOT/.venv"
export QS_ROOT QS_VENV
export PATH="$QS_VENV/bin:$PATH"
export ANSIBLE_CONFIG="$QS_ROOT/ansible.cfg"
# The collection resolves by FQCN from the working tree through this path (made by bootstrap).
export ANSIBLE_COLLECTIONS_PATH="$QS_VENV"

qs_step() { printf '\n==> %s\n' "$*"; }

# Drop pip's "Location ... is ignored" lines, caused by find-links in this machine's pip.conf.
qs_quiet_pip() { sed -u '/is ignored: it is neither a file nor a directory/d'; }

# Run a command, print how long it took, and return the command's own exit status.
qs_timed() {
  local label=$1 start rc=0
  shift
  start=$EPOCHREALTIME
  "$@" || rc=$?
  awk -v a="$start" -v b="$EPOCHREALTIME" -v l="$label" 'BEGIN { printf "    [%s: %.1fs]\n", l, b - a }'
  return "$rc"
}
