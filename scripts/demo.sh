#!/usr/bin/env bash
# The README's main command: boot a disposable local Debian 13 host, deploy playbooks/site.yml to it
# and print where to look.   Usage: scripts/demo.sh up | down | status
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/lib.sh"
cd "$QS_ROOT" || exit
HOST=qs-demo
INVENTORY_DIR="$QS_ROOT/.cache/demo/inventory"
# Until the backend exists, the stats collector pushes (local mode, basic auth) to a test receiver on the
# machine side of the host's veth, and runs the Alloy STAND-IN image (Alloy cannot be pulled here).
RECEIVER_DIR="$QS_ROOT/.cache/demo/receiver"
RECEIVER_PORT=19090
harness() { python "$QS_ROOT/tests/harness" "$@"; }
receiver() { python "$QS_ROOT/tests/harness/receiver.py" "$@"; }

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
  collector    journalctl _UID=\$(id -u $user) _SYSTEMD_USER_UNIT=stats-collector.service
               (the Alloy STAND-IN, not Alloy: Alloy cannot be pulled here)
  receiver     $RECEIVER_DIR/requests.jsonl   ($(wc -l <"$RECEIVER_DIR/requests.jsonl" 2>/dev/null || echo 0) pushes recorded)
  tear down    ./scripts/demo.sh down
EOT
}

start_receiver() {
  local address
  address=$(harness status --name "$HOST" | python -c 'import json,sys; print(json.load(sys.stdin)[0]["address"])')
  address="${address%.*}.1"
  mkdir -p "$RECEIVER_DIR"
  chmod 0700 "$RECEIVER_DIR"
  receiver start --address "$address" --port "$RECEIVER_PORT" --log "$RECEIVER_DIR/requests.jsonl" \
    --pidfile "$RECEIVER_DIR/receiver.pid" --lifetime 7200 >/dev/null
  # Local mode toward the receiver; the password reaches the container only as a LoadCredential file.
  (umask 077 && cat >"$INVENTORY_DIR/group_vars/all.yml") <<EOV
---
stats_collector_image: localhost/qs-alloy-standin:test
stats_collector_image_pull: never
stats_collector_local_metrics_url: http://$address:$RECEIVER_PORT/api/v1/write
stats_collector_local_logs_url: http://$address:$RECEIVER_PORT/loki/api/v1/push
stats_collector_local_username: demo
stats_collector_local_password: $(python -c 'import secrets; print(secrets.token_hex(16))')
EOV
}

case "${1:-up}" in
  up)
    "$QS_ROOT/scripts/bootstrap.sh"
    qs_step "boot $HOST (disposable Debian 13, systemd-nspawn, private veth)"
    rm -rf "$INVENTORY_DIR"
    mkdir -p "$INVENTORY_DIR"
    cp -r inventory.example/group_vars "$INVENTORY_DIR/"
    qs_timed boot harness up --name "$HOST" --inventory "$INVENTORY_DIR/hosts.yml" --group quadstats_hosts >/dev/null
    qs_step "start the test receiver and import the Alloy STAND-IN image"
    start_receiver
    qs_timed stand-in ansible-playbook -i "$INVENTORY_DIR" tests/harness/alloy_standin/import.yml \
      -e qs_standin_hosts=quadstats_hosts
    qs_step "deploy playbooks/site.yml"
    qs_timed deploy ansible-playbook -i "$INVENTORY_DIR" playbooks/site.yml
    show
    ;;
  status) show ;;
  down)
    receiver stop --pidfile "$RECEIVER_DIR/receiver.pid"
    harness down --name "$HOST"
    rm -rf "$INVENTORY_DIR" "$RECEIVER_DIR"
    echo "$HOST is gone"
    ;;
  *)
    echo "usage: $0 up | down | status" >&2
    exit 2
    ;;
esac
