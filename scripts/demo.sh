#!/usr/bin/env bash
# The README's main command: boot a disposable local Debian 13 host, deploy playbooks/site.yml to it
# and print where to look.   Usage: scripts/demo.sh up | down | status
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/lib.sh"
cd "$QS_ROOT" || exit
HOST=qs-demo
INVENTORY_DIR="$QS_ROOT/.cache/demo/inventory"
harness() { python "$QS_ROOT/tests/harness" "$@"; }

show() {
  local address user="quadstats"
  address=$(harness status --name "$HOST" | python -c 'import json,sys; print(json.load(sys.stdin)[0]["address"])')
  qs_step "what is running on $HOST ($address)"
  harness ssh --name "$HOST" -- "cd / && runuser -u $user -- env XDG_RUNTIME_DIR=/run/user/\$(id -u $user) \
    DBUS_SESSION_BUS_ADDRESS=unix:path=/run/user/\$(id -u $user)/bus sh -c \
    'systemctl --user list-units --type=service --no-pager --no-legend; podman ps'"
  cat <<EOT

Where to look:
  inventory    $INVENTORY_DIR/hosts.yml
  log in       python tests/harness ssh --name $HOST
  user units   runuser -u $user -- env XDG_RUNTIME_DIR=/run/user/\$(id -u $user) systemctl --user status
  logs         journalctl _UID=\$(id -u $user)       (on the host, as root)
  tear down    ./scripts/demo.sh down
EOT
}

case "${1:-up}" in
  up)
    "$QS_ROOT/scripts/bootstrap.sh"
    qs_step "boot $HOST (disposable Debian 13, systemd-nspawn, private veth)"
    rm -rf "$INVENTORY_DIR"
    mkdir -p "$INVENTORY_DIR"
    cp -r inventory.example/group_vars "$INVENTORY_DIR/"
    qs_timed boot harness up --name "$HOST" --inventory "$INVENTORY_DIR/hosts.yml" --group quadstats_hosts >/dev/null
    qs_step "deploy playbooks/site.yml"
    qs_timed deploy ansible-playbook -i "$INVENTORY_DIR" playbooks/site.yml
    show
    ;;
  status) show ;;
  down)
    harness down --name "$HOST"
    rm -rf "$INVENTORY_DIR"
    echo "$HOST is gone"
    ;;
  *)
    echo "usage: $0 up | down | status" >&2
    exit 2
    ;;
esac
