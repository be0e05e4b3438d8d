#!/usr/bin/env bash
# The README's main command: boot a disposable local Debian 13 host, deploy playbooks/site.yml to it (the host is
# in quadstats_hosts: container exporter + stats collector, wired together) and print where to look.
# Usage: scripts/demo.sh up | down | status
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/lib.sh"
cd "$QS_ROOT" || exit
HOST=qs-demo
INVENTORY_DIR="$QS_ROOT/.cache/demo/inventory"
# Until the backend exists, the stats collector pushes (local mode, basic auth) to a test receiver on the
# machine side of the host's veth, and runs the Alloy STAND-IN image (Alloy cannot be pulled here). The container
# exporter runs from the collection's services image, built here from services/Containerfile (no registry).
RECEIVER_DIR="$QS_ROOT/.cache/demo/receiver"
RECEIVER_PORT=19090
SERVICES_IMAGE=localhost/quadstats-services:0.1.0
harness() { python "$QS_ROOT/tests/harness" "$@"; }
receiver() { python "$QS_ROOT/tests/harness/receiver.py" "$@"; }

# The service user's session environment: podman and systemctl --user need it under runuser/sudo.
as_user() { echo "cd / && runuser -u $1 -- env XDG_RUNTIME_DIR=/run/user/$2 DBUS_SESSION_BUS_ADDRESS=unix:path=/run/user/$2/bus"; }

# Exit 3 (as `systemctl status` does for a stopped unit) when the demo host is not up.
require_host() {
  local state
  state=$(harness status --name "$HOST" | python -c 'import json,sys; h = json.load(sys.stdin)[0]
print("running" if h["running"] else "stopped" if h["index"] is not None else "absent")')
  case "$state" in
    running) return 0 ;;
    stopped) echo "$HOST is not running (left over from an earlier run): ./scripts/demo.sh down, then ./scripts/demo.sh up" >&2 ;;
    *) echo "$HOST is not up. Start it with: ./scripts/demo.sh up" >&2 ;;
  esac
  exit 3
}

service_user() {
  ansible-inventory -i "$INVENTORY_DIR" --host "$HOST" | python -c 'import json,sys; print(json.load(sys.stdin)["podman_host_user"])'
}

show() {
  require_host
  local address user uid env
  address=$(harness status --name "$HOST" | python -c 'import json,sys; print(json.load(sys.stdin)[0]["address"])')
  user=$(service_user)
  uid=$(harness ssh --name "$HOST" -- id -u "$user")
  env=$(as_user "$user" "$uid")
  qs_step "what is running on $HOST ($address) for the service user $user (uid $uid)"
  harness ssh --name "$HOST" -- "$env systemctl --user list-units --type=service --no-pager --no-legend && $env podman ps"
  # What the collector's container reaches: its own network namespace, entered by the host's python3.
  local netns_get
  netns_get="nsenter --net --target \$($env podman inspect --format '{{.State.Pid}}' stats-collector) python3 -c \"import urllib.request as u; print(len(u.urlopen('http://127.0.0.1:9886/metrics').read().splitlines()))\""
  qs_step "the stats collector's container reaches the container exporter (lines of /metrics from inside it)"
  harness ssh --name "$HOST" -- "$netns_get" || echo "(not reachable: see the collector and exporter logs below)"
  cat <<EOT

Where to look (from $QS_ROOT):
  inventory    $INVENTORY_DIR/hosts.yml
  log in       .venv/bin/python tests/harness ssh --name $HOST         (root shell on the host)
  receiver     $RECEIVER_DIR/requests.jsonl   ($(wc -l <"$RECEIVER_DIR/requests.jsonl" 2>/dev/null || echo 0) pushes recorded)
  status       ./scripts/demo.sh status
  tear down    ./scripts/demo.sh down

On the host (after "log in"), as root; podman and systemctl --user need the session environment of $user:
  containers   $env podman ps
  user units   $env systemctl --user status
  logs         journalctl _UID=$uid
  collector    journalctl _UID=$uid _SYSTEMD_USER_UNIT=stats-collector.service
               (the Alloy STAND-IN, not Alloy: Alloy cannot be pulled here; it scrapes the exporter and pushes remote write and Loki to the receiver)
  its config   cat /home/$user/.config/stats-collector/config.alloy
               (site.yml put the container exporter in it: 127.0.0.1:9886, reached through pasta -T)
  containers'  python3 -c "import urllib.request as u; print(u.urlopen('http://127.0.0.1:9886/metrics').read().decode())"
  metrics      (the container exporter, cAdvisor names; journal: _SYSTEMD_USER_UNIT=container-exporter.service)
  as the       $netns_get
  collector    (the same page from the collector's own network namespace, where its Alloy scrapes it)
Any of them straight from here: .venv/bin/python tests/harness ssh --name $HOST -- '<command>'
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
  mkdir -p "$INVENTORY_DIR/host_vars"
  (umask 077 && cat >"$INVENTORY_DIR/host_vars/$HOST.yml") <<EOV
---
container_exporter_image: $SERVICES_IMAGE
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
    qs_step "build the services image from services/Containerfile and load it for the service user"
    qs_timed services-image python - "$HOST" "$(service_user)" "$SERVICES_IMAGE" <<'EOP'
import sys
sys.path.insert(0, "tests")
from harness.services_image import build_services_image, load_into_target
from harness.target_host import TargetHost
load_into_target(TargetHost(sys.argv[1]), sys.argv[2], build_services_image(sys.argv[3]))
EOP
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
