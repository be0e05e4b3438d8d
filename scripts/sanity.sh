#!/usr/bin/env bash
# ansible-test sanity on a copy of the working tree at .../ansible_collections/quadstats/stack
# (ansible-test needs that path; the checkout can live anywhere).
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/lib.sh"
cd "$QS_ROOT" || exit
work="${QS_SANITY_DIR:-$QS_ROOT/.cache/sanity}/ansible_collections/quadstats/stack"
rm -rf "$work"
mkdir -p "$work"
# Tracked files plus new ones git does not ignore: what a commit would hold.
git ls-files -z --cached --others --exclude-standard | rsync -a --from0 --files-from=- ./ "$work/"
cd "$work" || exit
# A git work tree lets ansible-test list exactly these files.
git init -q && git add -A
ansible-test sanity --python "$(python -c 'import sys; print("%d.%d" % sys.version_info[:2])')" \
  --requirements --color no "$@" 2>&1 | qs_quiet_pip
