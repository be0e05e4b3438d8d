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

# The names of the tests that failed, kept for the summary (the molecule gate's output comes after).
pytest_failures=$(mktemp)
trap 'rm -f "$pytest_failures"' EXIT

pytest_gate() {
  local rc=0 log
  log=$(mktemp)
  # Two workers: most of the suite waits on podman, booted hosts, databases and Chromium, so a
  # second worker fills the waits (docs/testing.md). A file's tests stay on one worker, in order,
  # sharing its module fixtures. QS_PYTEST_WORKERS=0 runs them in this process.
  pytest -n "${QS_PYTEST_WORKERS:-2}" --dist loadfile "$@" 2>&1 | tee "$log" || rc=$?
  # -ra's short summary names each failed or erroring test on a line of its own.
  grep -E '^(FAILED|ERROR) ' "$log" | cut -c1-240 >"$pytest_failures" || true
  rm -f "$log"
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
  if [ -s "$pytest_failures" ]; then
    echo "pytest: $(wc -l <"$pytest_failures") failed or erroring test(s):"
    sed 's/^/  /' "$pytest_failures"
  fi
  exit 1
fi
echo "all gates passed"
