#!/usr/bin/env bash
# Refresh docs/screenshots/: every backend page at desktop (1280x800) and phone (390x844) widths,
# on a real database with realistic data, in headless Chromium (scripts/screenshots.py).
# Needs what the browser tests need: rootful podman (test database), Debian's chromium, Playwright.
#   Usage: scripts/screenshots.sh [--out DIR]
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/lib.sh"
cd "$QS_ROOT"
export PYTHONPATH="$QS_VENV:$QS_ROOT/tests${PYTHONPATH:+:$PYTHONPATH}"
qs_step "screenshots of the backend's pages"
qs_timed screenshots python "$QS_ROOT/scripts/screenshots.py" "$@"
