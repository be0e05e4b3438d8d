#!/usr/bin/env bash
# The README's main command: the whole quadstats stack on two disposable local Debian 13 hosts, with a OneFS
# cluster and Telegram stood in for on this machine, deployed by playbooks/site.yml; then it prints where to look.
#   qs-demo-backend  quadstats_backend (TimescaleDB, the backend, Prometheus), quadstats_hosts (container exporter
#                    + stats collector) and quadstats_onefs_exporters (the OneFS exporter polling the simulator)
#   qs-demo-host     quadstats_hosts: a monitored host running the demo application qs-demo-app
# Usage: scripts/demo.sh up | down | status | stop-app | start-app | messages
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/lib.sh"
cd "$QS_ROOT" || exit
BACKEND=qs-demo-backend
HOST=qs-demo-host
DEMO_DIR="$QS_ROOT/.cache/demo"
INVENTORY_DIR="$DEMO_DIR/inventory"
SERVERS_DIR="$DEMO_DIR/servers"
SERVICE_USER=quadstats
export QS_IMAGE_IDS_FILE="$DEMO_DIR/image-ids.json"
harness() { python "$QS_ROOT/tests/harness" "$@"; }
boot() { harness up --name "$1" --inventory "$INVENTORY_DIR/hosts.yml" --group "$2" >/dev/null; }
servers() { python "$QS_ROOT/tests/harness/stack_servers.py" "$@"; }
json_field() { python -c 'import json,sys; d=json.load(sys.stdin)
for k in sys.argv[1].split("."): d = d[int(k)] if k.isdigit() else d[k]
print(d)' "$1"; }
address_of() { harness status --name "$1" | json_field 0.address; }

# The service user's session environment: podman and systemctl --user need it under runuser.
as_user() { echo "cd / && runuser -u $SERVICE_USER -- env XDG_RUNTIME_DIR=/run/user/\$(id -u $SERVICE_USER) DBUS_SESSION_BUS_ADDRESS=unix:path=/run/user/\$(id -u $SERVICE_USER)/bus"; }

# Exit 3 (as `systemctl status` does for a stopped unit) when a demo host is not up.
require_hosts() {
  local name state
  for name in "$BACKEND" "$HOST"; do
    state=$(harness status --name "$name" | python -c 'import json,sys; h = json.load(sys.stdin)[0]
print("running" if h["running"] else "stopped" if h["index"] is not None else "absent")')
    case "$state" in
      running) ;;
      stopped) echo "$name is not running (left over from an earlier run): ./scripts/demo.sh down, then up" >&2; exit 3 ;;
      *) echo "$name is not up. Start the demo with: ./scripts/demo.sh up" >&2; exit 3 ;;
    esac
  done
}

write_inventory() {
  local backend_address=$1 peer=$2 state=$SERVERS_DIR/state.json secret
  # The backend host is a monitored host too (its own containers, disks and journal) and polls the cluster.
  cat >"$INVENTORY_DIR/groups.yml" <<EOG
---
all:
  children:
    quadstats_hosts:
      hosts:
        $BACKEND:
    quadstats_onefs_exporters:
      hosts:
        $BACKEND:
EOG
  mkdir -p "$INVENTORY_DIR/group_vars" "$INVENTORY_DIR/host_vars"
  secret=$(python -c 'import secrets; print(secrets.token_urlsafe(24))')
  (umask 077 && cat >"$INVENTORY_DIR/group_vars/all.yml") <<EOV
---
podman_host_user: $SERVICE_USER
# No registry here: the services image is built from services/Containerfile and loaded (tests/harness/stack_prepare.yml).
container_exporter_image: localhost/quadstats-services:0.1.0
onefs_exporter_image: localhost/quadstats-services:0.1.0
# Grafana Alloy cannot be pulled here: its STAND-IN speaks remote write and Loki push (tests/harness/alloy_standin).
stats_collector_image: localhost/qs-alloy-standin:test
stats_collector_image_pull: never
stats_collector_scrape_interval: 15s
# Demo pace: a heartbeat every 15 s; a container silent for 1 minute alerts.
container_exporter_interval: 15
quadstats_heartbeat: {minutes_till_alert: 1}
EOV
  (umask 077 && cat >"$INVENTORY_DIR/host_vars/$BACKEND.yml") <<EOV
---
# The URL the monitored host and your browser use (the generated certificate names this address).
backend_url: https://$backend_address:8443
backend_web: true
backend_timescaledb_image: localhost/qs-timescaledb:trixie
backend_timescaledb_image_pull: never
backend_prometheus: true
backend_prometheus_image: localhost/qs-prometheus:trixie
backend_prometheus_image_pull: never
backend_prometheus_scrape_interval: 15s
backend_prometheus_evaluation_interval: 15s
backend_alerts: {evaluation_interval_seconds: 10}
# Telegram: the Bot API STAND-IN on this machine records every message (./scripts/demo.sh messages).
backend_telegram_enabled: true
backend_telegram_token: "demo:$secret"
backend_telegram_chat_id: "-1000000000042"
backend_telegram_api_base_url: $(json_field telegram.url <"$state")
backend_telegram_ca_cert: "{{ lookup('ansible.builtin.file', '$(json_field telegram.ca <"$state")') }}"
# The OneFS cluster: the PAPI simulator on this machine ($peer), with its own test CA.
onefs_exporter_clusters:
  - name: $(json_field onefs.cluster <"$state")
    host: $peer
    port: $(json_field onefs.port <"$state")
    username: $(json_field onefs.username <"$state")
    password: "{{ lookup('ansible.builtin.file', '$(json_field onefs.password_file <"$state")') }}"
    ca_cert: "{{ lookup('ansible.builtin.file', '$(json_field onefs.ca <"$state")') }}"
EOV
}

# The uid/gid of postgres and prometheus in the Debian-built stand-in images (known after they are loaded).
write_image_ids() {
  cat >>"$INVENTORY_DIR/host_vars/$BACKEND.yml" <<EOV
backend_timescaledb_uid: $(json_field postgres.uid <"$QS_IMAGE_IDS_FILE")
backend_timescaledb_gid: $(json_field postgres.gid <"$QS_IMAGE_IDS_FILE")
backend_prometheus_uid: $(json_field prometheus.uid <"$QS_IMAGE_IDS_FILE")
backend_prometheus_gid: $(json_field prometheus.gid <"$QS_IMAGE_IDS_FILE")
EOV
}

check_route() {
  local backend_address=$1
  harness ssh --name "$HOST" -- python3 -c "\"import socket; socket.create_connection(('$backend_address', 22), 5); print('$HOST reaches $BACKEND at $backend_address')\""
}

app() {
  require_hosts
  harness ssh --name "$HOST" -- "$(as_user) systemctl --user $1 qs-demo-app.service"
  echo "qs-demo-app: $1 ($(date -u +%H:%M:%S) UTC)"
}

messages() {
  local file=$SERVERS_DIR/telegram.jsonl
  [ -s "$file" ] || { echo "(no Telegram message recorded yet)"; return 0; }
  python - "$file" <<'EOP'
import json, sys, time
for line in open(sys.argv[1]):
    m = json.loads(line)
    print(time.strftime("%H:%M:%S", time.gmtime(m["time"])), "UTC |", (m["json"] or {}).get("text", "").replace("\n", " | "))
EOP
}

show() {
  require_hosts
  local backend_address prometheus_key
  backend_address=$(address_of "$BACKEND")
  qs_step "what runs on $BACKEND ($backend_address) and $HOST ($(address_of "$HOST")) for the service user $SERVICE_USER"
  for name in "$BACKEND" "$HOST"; do
    echo "--- $name"
    harness ssh --name "$name" -- "$(as_user) podman ps --format '{{.Names}}  {{.Status}}'"
  done
  harness ssh --name "$BACKEND" -- cat "/var/lib/quadstats/$SERVICE_USER/backend-ca/ca.pem" >"$DEMO_DIR/backend-ca.pem"
  prometheus_key="${QS_HOSTS_DIR:-/var/lib/quadstats/hosts}/$BACKEND/ssh/id_ed25519"
  cat <<EOT

The backend     https://$backend_address:8443   (this machine only: the hosts' private network)
  log in        user admin, password: .venv/bin/python tests/harness ssh --name $BACKEND -- cat /var/lib/quadstats/$SERVICE_USER/backend-admin-password
  its CA        $DEMO_DIR/backend-ca.pem   (the private CA the role made; import it or accept the browser's warning)
Prometheus      https://127.0.0.1:9090 on $BACKEND (no authentication, so loopback only). From here, through SSH:
                ssh -N -L 9090:127.0.0.1:9090 -i $prometheus_key -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null root@$backend_address &
                then https://127.0.0.1:9090 (the certificate names 127.0.0.1; CA above)
Telegram        the Bot API STAND-IN records every message: ./scripts/demo.sh messages

Three things to try
 1. Stop a container on the monitored host and watch the alert:
      ./scripts/demo.sh stop-app      (systemctl --user stop qs-demo-app.service on $HOST)
    within about 1.5 minutes: https://$backend_address:8443/ shows "$HOST - container qs-demo-app" as an alert,
    and ./scripts/demo.sh messages shows "Alert: $HOST - container qs-demo-app". Then
      ./scripts/demo.sh start-app     -> "OK again: ..." on both within about 30 s.
 2. Filter the journal for that container:
      https://$backend_address:8443/journal?container=qs-demo-app
 3. Query a OneFS metric of the cluster (the simulator, polled by the OneFS exporter on $BACKEND):
      .venv/bin/python tests/harness ssh --name $BACKEND -- python3 -c "\"import ssl,urllib.request as u; print(u.urlopen('https://127.0.0.1:9090/api/v1/query?query=isilon_stat_cluster_health', context=ssl.create_default_context(cafile='/var/lib/quadstats/$SERVICE_USER/backend-ca/ca.pem')).read().decode())\""
    (or in Prometheus's UI through the tunnel above: isilon_stat_cluster_health, isilon_stat_ifs_percent_used)

Logs on a host (root shell: .venv/bin/python tests/harness ssh --name $HOST):
  journalctl _UID=\$(id -u $SERVICE_USER)       every service of the stack
  $(as_user) systemctl --user status
status: ./scripts/demo.sh status     tear down: ./scripts/demo.sh down
EOT
}

case "${1:-up}" in
  up)
    "$QS_ROOT/scripts/bootstrap.sh"
    qs_step "boot $BACKEND and $HOST (disposable Debian 13, systemd-nspawn, a private network each)"
    rm -rf "$INVENTORY_DIR"
    mkdir -p "$INVENTORY_DIR"
    chmod 0700 "$DEMO_DIR"
    qs_timed boot-backend boot "$BACKEND" quadstats_backend
    qs_timed boot-host boot "$HOST" quadstats_hosts
    backend_address=$(address_of "$BACKEND")
    peer="${backend_address%.*}.1"
    check_route "$backend_address"
    qs_step "start the OneFS simulator and the Telegram Bot API stand-in on $peer (this machine)"
    servers start --address "$peer" --dir "$SERVERS_DIR" >/dev/null
    write_inventory "$backend_address" "$peer"
    qs_step "load the images (no registry here): services image, Alloy STAND-IN, TimescaleDB and Prometheus stand-ins"
    qs_timed images ansible-playbook -i "$INVENTORY_DIR" tests/harness/stack_prepare.yml -e qs_standin_hosts=quadstats_hosts
    write_image_ids
    qs_step "deploy playbooks/site.yml"
    qs_timed deploy ansible-playbook -i "$INVENTORY_DIR" playbooks/site.yml
    show
    ;;
  status) show ;;
  stop-app) app stop ;;
  start-app) app start ;;
  messages) messages ;;
  down)
    servers stop --dir "$SERVERS_DIR"
    for name in "$BACKEND" "$HOST" qs-demo; do harness down --name "$name"; done
    rm -rf "$INVENTORY_DIR" "$SERVERS_DIR" "$DEMO_DIR/receiver" "$QS_IMAGE_IDS_FILE" "$DEMO_DIR/backend-ca.pem"
    echo "the demo is gone"
    ;;
  *)
    echo "usage: $0 up | down | status | stop-app | start-app | messages" >&2
    exit 2
    ;;
esac
