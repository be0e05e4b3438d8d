#!/usr/bin/env bash
# The README's test command: set-up, then every quality gate; non-zero if any gate fails.
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/lib.sh"
cd "$QS_ROOT" || exit
qs_timed bootstrap "$QS_ROOT/scripts/bootstrap.sh"

failed=()
gate() {
  local name=$1
  shift
  qs_step "gate: $name"
  if qs_timed "$name" "$@"; then
    echo "    PASS $name"
  else
    echo "    FAIL $name"
    failed+=("$name")
  fi
}

pytest_gate() {
  local rc=0
  pytest "$@" || rc=$?
  # Exit 5 means no test was collected: the suite is gone, which is a failure, said plainly.
  [ "$rc" -ne 5 ] || echo "pytest collected no tests" >&2
  return "$rc"
}

gate ruff-lint ruff check .
gate ruff-format ruff format --check .
gate ansible-lint ansible-lint --offline --profile production
gate ansible-test-sanity scripts/sanity.sh
gate pytest pytest_gate
if [ -x scripts/molecule.sh ]; then
  gate molecule scripts/molecule.sh
fi

qs_step "summary"
if [ ${#failed[@]} -gt 0 ]; then
  echo "FAILED gates: ${failed[*]}"
  exit 1
fi
echo "all gates passed"
