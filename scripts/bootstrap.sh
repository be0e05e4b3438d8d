#!/usr/bin/env bash
# Install everything the project needs on a fresh Debian/Ubuntu machine (run as root).
# Idempotent: a warm re-run checks stamps and changes nothing.
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/lib.sh"
cd "$QS_ROOT" || exit

if [ "$(id -u)" -ne 0 ]; then
  echo "bootstrap: run as root (it installs Debian packages)." >&2
  exit 1
fi

qs_step "apt packages (requirements/apt.txt)"
mapfile -t apt_pkgs < <(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' requirements/apt.txt)
missing=()
for pkg in "${apt_pkgs[@]}" python3-venv; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q '^install ok installed' || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "    installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "    all present"
fi

qs_step "controller venv (.venv from requirements/controller.lock)"
python=${QS_PYTHON:-python3}
stamp="$QS_VENV/.quadstats-stamp"
want="$("$python" -c 'import sys; print(sys.version.split()[0])') $(sha256sum requirements/controller.lock | cut -d' ' -f1)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  echo "    up to date"
else
  rm -rf "$QS_VENV"
  "$python" -m venv "$QS_VENV"
  "$QS_VENV/bin/pip" install -q --disable-pip-version-check -r requirements/controller.lock 2> >(qs_quiet_pip >&2)
  echo "$want" >"$stamp"
fi

qs_step "browser-test Node packages (tests/browser/package-lock.json)"
if ! command -v npm >/dev/null; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends npm >/dev/null
fi
stamp=tests/browser/node_modules/.quadstats-stamp
want=$(sha256sum tests/browser/package-lock.json | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  echo "    up to date"
else
  (cd tests/browser && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
  echo "$want" >"$stamp"
  echo "    installed"
fi

qs_step "collection path: quadstats.stack resolves from the working tree"
link="$QS_VENV/ansible_collections/quadstats/stack"
if [ "$(readlink "$link" 2>/dev/null)" != "$QS_ROOT" ]; then
  mkdir -p "$(dirname "$link")"
  ln -sfn "$QS_ROOT" "$link"
fi
echo "    $link -> $QS_ROOT"

qs_step "ansible-test pip bootstrap stand-in (no route to its download host)"
pip_version=$("$QS_VENV/bin/python" scripts/ansible_test_pip_version.py)
cache="$HOME/.ansible/test/cache/get_pip_${pip_version//./_}.py"
mkdir -p "$(dirname "$cache")"
if ! cmp -s scripts/ansible_test_get_pip.py "$cache"; then
  cp scripts/ansible_test_get_pip.py "$cache"
fi
echo "    $cache"
