"""Verify the whole stack deployed by playbooks/site.yml on two booted Debian 13 hosts (molecule verify).

What runs for real: systemd, rootless podman, the backend service, PostgreSQL 17 + TimescaleDB and Prometheus
(Debian trixie packages in images built here), the container and OneFS exporters, HTTPS with the backend role's
CA between the hosts. Stand-ins, named as such: the collectors run the Alloy STAND-IN (remote write + Loki push of
the host's real figures and journal; Alloy cannot be pulled here), the OneFS cluster is the PAPI simulator and
Telegram is the Bot API stand-in recording each message on the machine (tests/harness/stack_servers.py).

In file order: wiring (tokens, CA, what reached the backend), an alert round trip (container stopped: exactly
one Telegram alert within the ping timeout + 30 s, shown on the dashboard; started: exactly one recovery) with a
backend restart and a database restart while the alert is pending, the same after a reboot of both hosts,
journal markers neither lost nor duplicated across all of it, secrets nowhere, a second converge at -vvv after
all that (changed=0: the scenario's idempotence check), the dashboards' PromQL on the deployed Prometheus,
a host removed from the inventory and revoked, then added back, Grafana Cloud mode (site.yml again with cloud_*
set: the collectors push to a cloud stand-in, the backend still alerts), absent.
"""

from __future__ import annotations

import http.cookiejar
import json
import os
import re
import shlex
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

import testinfra.utils.ansible_runner
import yaml
from harness import dashboards
from harness.molecule_checks import (
    INVENTORY,
    RootlessService,
    canary,
    changed_tasks,
    ephemeral_dir,
    playbook,
    project_dir,
    sha256,
    wait_for,
)
from harness.receiver import records

testinfra_hosts = testinfra.utils.ansible_runner.AnsibleRunner(INVENTORY).get_hosts("all")
RUNNER = testinfra.utils.ansible_runner.AnsibleRunner(INVENTORY)
BACKEND, HOST, APP, USER = "qs-stack-backend", "qs-stack-host", "qs-demo-app", "quadstats"
CREDENTIALS = f"/var/lib/quadstats/{USER}"
CA = f"{CREDENTIALS}/backend-ca/ca.pem"
EPHEMERAL = ephemeral_dir()
MESSAGES = EPHEMERAL / "servers" / "telegram.jsonl"
MARKERS = EPHEMERAL / "markers.json"
# Grafana Cloud mode: the users of the metrics (Prometheus) and logs (Loki) data sources
CLOUD_USER, CLOUD_LOGS_USER = "1234567", "7654321"
# minutes_till_alert (1) + 30 s, plus the evaluation interval (5 s) and one heartbeat interval (5 s)
ALERT_WITHIN = 60 + 30 + 10
UNITS = {
    BACKEND: ["backend.service", "backend-timescaledb.service", "backend-prometheus.service",
              "container-exporter.service", "stats-collector.service", "onefs-exporter.service"],
    HOST: ["container-exporter.service", "stats-collector.service", f"{APP}.service"],
}  # fmt: skip
CONTAINERS = {"backend.service": "backend", "backend-timescaledb.service": "backend-timescaledb",
              "backend-prometheus.service": "backend-prometheus", "container-exporter.service": "container-exporter",
              "stats-collector.service": "stats-collector", "onefs-exporter.service": "onefs-exporter",
              f"{APP}.service": APP}  # fmt: skip


def on(name):
    return RUNNER.get_host(name)


def service(unit):
    return RootlessService(USER, unit, CONTAINERS[unit])


def sql(query: str) -> list[list[str]]:
    """Rows of a query in the backend's database (psql in the database container, as the service user)."""
    out = service("backend-timescaledb.service").run(
        on(BACKEND),
        "podman exec backend-timescaledb /bin/sh /etc/quadstats-db/timescaledb.sh psql -At -F '|' -c "
        + json.dumps(query),
    )
    assert out.rc == 0, out.stderr
    return [line.split("|") for line in out.stdout.splitlines() if line]


def app_records() -> list[tuple[float, str]]:
    """(when the stand-in received it, text) of each Telegram message about the app."""
    if not MESSAGES.exists():
        return []
    sent = [json.loads(line) for line in MESSAGES.read_text().splitlines()]
    # the messages are Telegram HTML
    found = [(r["time"], re.sub(r"<[^>]+>", "", (r["json"] or {}).get("text", ""))) for r in sent]
    # every message naming the app, whatever sent it (the backend's heartbeat rule or a Prometheus rule relayed
    # to its Alertmanager API): "exactly one alert" counts them all
    return [(when, text) for when, text in found if APP in text]


def app_messages() -> list[str]:
    return [text for _when, text in app_records()]


def tokens() -> dict[str, str]:
    host = on(BACKEND)
    names = host.check_output(f"ls {CREDENTIALS}/backend-ingest-tokens").split()
    return {n: host.file(f"{CREDENTIALS}/backend-ingest-tokens/{n}").content_string.strip() for n in names}


def secrets() -> dict[str, str]:
    suffixes = ("-database", "-admin", "-telegram", "-session-key-long-enough-for-signing")
    found = {f"canary{suffix}": canary() + suffix for suffix in suffixes}
    found.update({f"token of {n}": t for n, t in tokens().items()})
    return found


def fresh_rows(hostname: str, since: str) -> int:
    """How many of the host's heartbeat, app heartbeat and root disk rows the backend updated after ``since``."""
    query = (
        f"SELECT count(*) FROM metrics WHERE host = '{hostname}' AND reported_at > '{since}' "  # noqa: S608
        f"AND (name, type) IN (('host', 'ping'), ('container {APP}', 'ping'), ('/', 'disk'))"
    )
    return int(sql(query)[0][0])


def backend_https() -> tuple[str, ssl.SSLContext]:
    """The backend's URL as the monitored host reaches it, and a TLS context trusting only the role's CA."""
    base = f"https://{RUNNER.get_variables(BACKEND)['ansible_host']}:8443"
    return base, ssl.create_default_context(cadata=on(BACKEND).file(CA).content_string)


def ingest_status(token: str) -> int:
    """The HTTP status of an empty ``POST /metric`` with ``token`` (the token is checked before the body)."""
    base, context = backend_https()
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    request = urllib.request.Request(f"{base}/metric", data=b"[]", method="POST", headers=headers)  # noqa: S310
    try:
        with urllib.request.urlopen(request, context=context, timeout=30) as answer:  # noqa: S310 - https
            return answer.status
    except urllib.error.HTTPError as exc:
        return exc.code


def drop_host(node, name: str):
    """An inventory (as loaded YAML) without host ``name`` in any group."""
    if isinstance(node, dict):
        return {key: drop_host(value, name) for key, value in node.items() if key != name}
    return node


def cloud_receiver(*args) -> None:
    """tests/harness/receiver.py start|stop: the Grafana Cloud stand-in (records each push, decoded)."""
    command = [sys.executable, project_dir() / "tests" / "harness" / "receiver.py", *map(str, args)]
    subprocess.run(command, check=True, capture_output=True, timeout=120)


def cloud_stand_in(name: str) -> dict:
    """Start the Grafana Cloud stand-in for host ``name`` on the machine side of its veth (HTTPS on 443)."""
    peer = ".".join([*RUNNER.get_variables(name)["ansible_host"].split(".")[:3], "1"])
    found = {"peer": peer, "log": EPHEMERAL / f"cloud-{name}.jsonl", "pidfile": EPHEMERAL / f"cloud-{name}.pid"}
    cloud_receiver("start", "--address", peer, "--port", 443, "--tls", "--ca-out", EPHEMERAL / f"cloud-{name}-ca.pem",
                   "--log", found["log"], "--pidfile", found["pidfile"], "--lifetime", 900)  # fmt: skip
    return found


def log_markers(count: int = 3) -> None:
    """Log marker lines on the monitored host and remember them (the journal test counts them at the end)."""
    run = json.loads(MARKERS.read_text()) if MARKERS.exists() else {"id": uuid.uuid4().hex[:12], "n": 0}
    for _marker in range(count):
        run["n"] += 1
        on(HOST).run_expect([0], f"logger -t qs-stack-marker qs-stack-marker-{run['id']}-{run['n']}")
    MARKERS.write_text(json.dumps(run))


def session() -> tuple[urllib.request.OpenerDirector, str]:
    """A logged-in web session of the admin (the local login form with its CSRF token)."""
    base, context = backend_https()
    opener = urllib.request.build_opener(
        urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()), urllib.request.HTTPSHandler(context=context)
    )
    page = opener.open(f"{base}/login").read().decode()
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    form = urllib.parse.urlencode(
        {"csrf_token": csrf, "next": "/", "username": "admin", "password": canary() + "-admin"}
    ).encode()
    opener.open(urllib.request.Request(f"{base}/login", data=form, method="POST")).read()  # noqa: S310 - https
    return opener, base


def dashboard_row(state: str) -> bool:
    opener, base = session()
    page = opener.open(f"{base}/?host={HOST}&state={state}").read().decode()
    return f"container {APP}" in page


def app(action: str) -> None:
    service(f"{APP}.service").run(on(HOST), f"systemctl --user {action} {APP}.service")


def settle(label: str, quiet: float = 30, timeout: float = 300) -> list[str]:
    """Wait until no message about the app arrived for ``quiet`` seconds: a restart or reboot that kept its
    heartbeat away longer than the ping timeout alerts and recovers by itself (correctly); those messages are
    printed, not counted as the round trip's."""
    seen, last_change, deadline = app_messages(), time.monotonic(), time.monotonic() + timeout
    start = len(seen)
    while time.monotonic() - last_change < quiet and time.monotonic() < deadline:
        time.sleep(3)
        now = app_messages()
        if len(now) != len(seen):
            seen, last_change = now, time.monotonic()
    if len(seen) > start:
        print(f"{label}: messages while settling: {seen[start:]}")
    return seen


def alert_round_trip(label: str, while_pending=None) -> None:
    """Stop the app: exactly one alert within the ping timeout + 30 s, on the dashboard; start: one recovery.
    ``while_pending`` runs right after the stop, while the backend waits for the missing heartbeat to alert."""
    before = settle(label)
    app("stop")
    stopped = time.time()  # the stand-in stamps each message with this machine's clock
    if while_pending:
        while_pending()
        print(f"{label}: {time.time() - stopped:.0f} s after the stop, done with what ran meanwhile")
    assert wait_for(lambda: len(app_messages()) > len(before), timeout=ALERT_WITHIN + 60, interval=2), (
        f"{label}: no Telegram alert about {APP}"
    )
    took = app_records()[len(before)][0] - stopped
    print(f"{label}: alert {took:.0f} s after the stop")
    assert took <= ALERT_WITHIN, f"{label}: the alert took {took:.0f} s"
    assert app_messages()[len(before)].startswith(f"Alert: {HOST} - container {APP}")
    assert dashboard_row("alert"), f"{label}: the alert is not on the dashboard"
    app("start")
    started = time.monotonic()
    assert wait_for(lambda: len(app_messages()) > len(before) + 1, timeout=120, interval=2), (
        f"{label}: no recovery message"
    )
    print(f"{label}: recovery {time.monotonic() - started:.0f} s after the start")
    time.sleep(20)  # a repeated message would arrive here
    new = app_messages()[len(before) :]
    assert len(new) == 2, f"{label}: expected one alert and one recovery, got {new}"
    assert new[1].startswith(f"OK again: {HOST} - container {APP}"), new
    assert dashboard_row("ok"), f"{label}: the recovery is not on the dashboard"


def restart(host_name: str, unit: str) -> None:
    svc = service(unit)
    before = svc.main_pid(on(host_name))
    svc.run(on(host_name), f"systemctl --user restart {unit}")
    assert svc.wait_active(on(host_name), timeout=300) == "active"
    assert svc.main_pid(on(host_name)) != before


def reboot(name: str) -> None:
    subprocess.run(
        [sys.executable, project_dir() / "tests" / "harness", "reboot", "--name", name],
        check=True, capture_output=True, timeout=600,
    )  # fmt: skip


# ------------------------------------------------------------------------------------------------------------
def test_every_unit_active_on_both_hosts():
    for name, units in UNITS.items():
        for unit in units:
            assert service(unit).wait_active(on(name), timeout=300) == "active", (name, unit)


def test_each_monitored_host_has_its_own_token_hashed_on_the_backend():
    kept = tokens()
    hostnames = {on(n).check_output("hostname") for n in UNITS}
    assert set(kept) == hostnames, kept.keys()
    assert len(set(kept.values())) == len(kept)
    hashes = {row[0] for row in sql("SELECT encode(token_sha256, 'hex') FROM ingest_tokens")}
    for name, token in kept.items():
        assert on(BACKEND).file(f"{CREDENTIALS}/backend-ingest-tokens/{name}").mode == 0o600
        digest = on(BACKEND).check_output(f"printf %s {token} | sha256sum").split()[0]
        assert digest in hashes, name
        assert token not in json.dumps(sql("SELECT * FROM ingest_tokens"))
        # delivered to the host as 0600 credentials: the collector's password and the heartbeat token
        host = on(BACKEND if name == on(BACKEND).check_output("hostname") else HOST)
        for path in (f"{CREDENTIALS}/local_basic_auth_password", f"{CREDENTIALS}/container-exporter-backend.token"):
            cred = host.file(path)
            assert cred.mode == 0o600 and cred.content_string.strip() == token, (name, path)


def test_clients_trust_the_backends_ca_and_nothing_else():
    host = on(HOST)
    config = host.file(f"/home/{USER}/.config/stats-collector/config.alloy").content_string
    backend_url = f"https://{RUNNER.get_variables(BACKEND)['ansible_host']}:8443"
    assert f'url = "{backend_url}/api/v1/write"' in config
    assert f'url = "{backend_url}/loki/api/v1/push"' in config
    assert config.count('ca_file = "/etc/alloy/ca.pem"') == 2
    installed = host.file(f"/home/{USER}/.config/stats-collector/ca.pem").content_string
    assert installed == on(BACKEND).file(CA).content_string
    # a client without the CA is refused by its own verification
    probe = (
        "import ssl, urllib.request as u\n"
        f"try: u.urlopen('{backend_url}/healthz', timeout=10); print('accepted')\n"
        "except Exception as exc: print(type(exc).__name__, exc)"
    )
    out = host.run(f"python3 -c {shlex.quote(probe)}")
    assert "CERTIFICATE_VERIFY_FAILED" in out.stdout, out.stdout + out.stderr
    # the backend host's own collector writes to the backend only: the backend relays to Prometheus
    own = on(BACKEND).file(f"/home/{USER}/.config/stats-collector/config.alloy").content_string
    assert 'url = "https://127.0.0.1:8443/api/v1/write"' in own and ":9090" not in own


def test_the_backend_holds_heartbeats_disks_and_journal_of_the_monitored_host():
    hostname = on(HOST).check_output("hostname")

    def rows():
        found = {(r[0], r[1]) for r in sql(f"SELECT name, type FROM metrics WHERE host = '{hostname}'")}  # noqa: S608
        return found if {("host", "ping"), (f"container {APP}", "ping"), ("/", "disk")} <= found else None

    assert wait_for(rows, timeout=180, interval=3), sql("SELECT host, name, type FROM metrics")
    query = f"SELECT count(*) FROM journal WHERE host = '{hostname}' AND container = '{APP}'"  # noqa: S608
    line = wait_for(lambda: sql(query)[0][0] != "0", timeout=120, interval=3)
    assert line, f"no journal line of {APP} in the backend"
    log_markers()


def test_no_collector_batch_is_refused():
    """Every series a collector sends is for its own host: the backend refuses (403) a batch naming another, and
    the collector drops it. The backend host's OneFS series came from 127.0.0.1 targets and were refused so."""
    for name in UNITS:
        refused = on(name).run("journalctl --no-pager -o cat -t stats-collector | grep -E 'batch dropped|40[0-9],'")
        assert refused.stdout == "", f"{name}: the collector's batches were refused:\n{refused.stdout[-2000:]}"


def test_alert_round_trip_across_a_backend_and_a_database_restart():
    """The backend and then its database restart while the alert is pending: the missing heartbeat still alerts
    exactly once and in time (the pending state lives in the database, the sending in its outbox), and the
    recovery comes once; journal lines logged around the restarts are counted at the end."""

    def restarts():
        log_markers()
        restart(BACKEND, "backend.service")
        log_markers()
        restart(BACKEND, "backend-timescaledb.service")
        log_markers()

    alert_round_trip("across a backend and a database restart", while_pending=restarts)


def test_alert_round_trip_after_a_reboot_of_both_hosts():
    log_markers()
    reboot(HOST)
    reboot(BACKEND)
    for name, units in UNITS.items():
        for unit in units:
            assert service(unit).wait_active(on(name), timeout=600) == "active", (name, unit)
    log_markers()
    # after the boot the app's heartbeat must be back before its stop can alert
    assert wait_for(lambda: dashboard_row("ok"), timeout=180, interval=5)
    alert_round_trip("after a reboot of both hosts")


def test_no_journal_line_lost_or_duplicated():
    run = json.loads(MARKERS.read_text())
    prefix = f"qs-stack-marker-{run['id']}-"
    logged = on(HOST).check_output(f"journalctl -t qs-stack-marker -o cat --no-pager | grep -c {prefix} || true")
    persistent = on(HOST).run("ls /var/log/journal/*/system.journal").rc == 0
    if persistent:  # a volatile journal forgets the lines before the reboot; then only the backend's count is checked
        assert int(logged) == run["n"], f"the host's journal holds {logged} of {run['n']} markers"
    print(f"markers: {run['n']} logged, {logged} in the host's journal (persistent: {persistent})")

    query = f"SELECT message, count(*) FROM journal WHERE message LIKE '{prefix}%' GROUP BY message"  # noqa: S608

    def stored():
        rows = sql(query)
        return rows if len(rows) == run["n"] else None

    rows = wait_for(stored, timeout=180, interval=3) or sql(query)
    assert len(rows) == run["n"], f"lost: {run['n'] - len(rows)} of {run['n']}"
    assert all(count == "1" for _message, count in rows), f"duplicated: {[r for r in rows if r[1] != '1']}"


def test_secrets_leak_nowhere():
    """Each secret (canaries, every host's token) nowhere but its credential file and the container's mount."""
    found = secrets()
    for name, units in UNITS.items():
        host = on(name)
        places = {
            # cat -v: export writes multi-line fields in binary (a length prefix that need not be UTF-8)
            "the journal": host.run("journalctl --no-pager -o export | cat -v").stdout,
            "process command lines": host.run("ps -eo args").stdout,
        }
        for unit in units:
            svc = service(unit)
            places[f"podman inspect {svc.container}"] = svc.run(host, f"podman inspect {svc.container}").stdout
            places[f"systemctl --user show {unit}"] = svc.run(host, f"systemctl --user show {unit}").stdout
            places[f"the environment of {svc.container}"] = svc.run(host, f"podman exec {svc.container} env").stdout
        for place, text in places.items():
            assert text, f"{name}: {place}: nothing read, the check would prove nothing"
            for label, secret in found.items():
                assert secret not in text, f"{label} leaked into {place} on {name}"
        patterns = " ".join(f"-e {secret}" for secret in found.values())
        environ = host.run(f"grep -l -F {patterns} /proc/[0-9]*/environ")
        assert environ.stdout == "", f"a secret is in process environments on {name}: {environ.stdout}"


def test_converge_again_changes_nothing_and_shows_no_secret():
    output = playbook("converge.yml", "-vvv")
    assert re.search(r"qs-stack-backend\s*:.*changed=0\s", output), changed_tasks(output)
    assert re.search(r"qs-stack-host\s*:.*changed=0\s", output), changed_tasks(output)
    for label, secret in secrets().items():
        assert secret not in output, f"{label} in the -vvv output"


def test_check_mode_with_diff_on_the_deployed_stack_changes_nothing():
    output = playbook("converge.yml", "--check", "--diff")
    assert re.search(r"qs-stack-backend\s*:.*changed=0\s", output), changed_tasks(output)
    assert re.search(r"qs-stack-host\s*:.*changed=0\s", output), changed_tasks(output)
    for label, secret in secrets().items():
        assert secret not in output, f"{label} in the --check --diff output"


def test_every_dashboard_query_returns_data():
    """Every panel's PromQL of the hosts, containers, OneFS and backend dashboards on the deployed Prometheus,
    which holds the monitored host's series too (relayed by the backend)."""
    key = f"/var/lib/quadstats/hosts/{BACKEND}/ssh/id_ed25519"
    address = RUNNER.get_variables(BACKEND)["ansible_host"]
    ca = EPHEMERAL / "backend-ca.pem"
    ca.write_text(on(BACKEND).file(CA).content_string)
    tunnel = subprocess.Popen(
        ["ssh", "-N", "-L", "19090:127.0.0.1:9090", "-i", key, "-o", "StrictHostKeyChecking=no",
         "-o", "UserKnownHostsFile=/dev/null", "-o", "ExitOnForwardFailure=yes", f"root@{address}"],
    )  # fmt: skip
    try:
        os.environ["SSL_CERT_FILE"] = str(ca)
        # the tunnel's end is 127.0.0.1, which the certificate names
        api = dashboards.PrometheusAPI("https://127.0.0.1:19090")
        assert wait_for(lambda: _up(api), timeout=60), "Prometheus not reachable through the tunnel"
        # the monitored host writes to the backend only; the backend relays its series to Prometheus
        monitored = f'node_load1{{instance="{on(HOST).check_output("hostname")}"}}'
        assert wait_for(lambda: api.series_count(monitored, True, 120) > 0, timeout=180, interval=3), monitored
        problems, checked = dashboards.evaluate(api, window=600)
        print("\n".join(checked))
        problems = [p for p in problems if not any(p.startswith(panel) for panel in NOT_ON_THESE_HOSTS)]
        assert not problems, "\n".join(problems)
    finally:
        tunnel.terminate()
        os.environ.pop("SSL_CERT_FILE", None)


# Panels that cannot have data on the test hosts, with the reason.
NOT_ON_THESE_HOSTS = {
    "quadstats / Containers / Memory working set": "no cgroup controllers inside the nspawn targets (docs/testing.md)",
}


def _up(api) -> bool:
    try:
        return api.series_count("up", True, 60) > 0
    except OSError:
        return False


def test_a_host_removed_and_revoked_then_added_back_touches_only_itself_and_the_token_list():
    """site.yml on an inventory without the monitored host, with -e backend_ingest_revoke_absent=true: its token is
    revoked (hash and kept file gone: the backend answers 401) and nothing else changes; the full inventory again:
    only that host and the backend's token list change (a new token, no restart of the backend), data flows again."""
    hostname = on(HOST).check_output("hostname")
    old = tokens()[hostname]
    assert ingest_status(old) != 401, "the host's token is refused before it is revoked: the check proves nothing"
    backend_pid = service("backend.service").main_pid(on(BACKEND))
    # beside molecule's inventory file, so the scenario's group_vars next to it apply too
    without = Path(INVENTORY).with_name(f"without-{HOST}.yml")
    without.write_text(yaml.safe_dump(drop_host(yaml.safe_load(Path(INVENTORY).read_text()), HOST)))
    try:
        removed = playbook("converge.yml", "-e", "backend_ingest_revoke_absent=true", inventory=without)
    finally:
        without.unlink()
    assert not re.search(rf"^{HOST}\s*:", removed, re.MULTILINE), "the removed host was in the play"
    changed = changed_tasks(removed)
    assert changed and all("revoke" in task.lower() or "token" in task.lower() for task in changed), changed
    assert hostname not in tokens()
    assert ingest_status(old) == 401, "the revoked token is still accepted"
    assert ingest_status(tokens()[on(BACKEND).check_output("hostname")]) != 401

    switched = sql("SELECT now()")[0][0]
    added = playbook("converge.yml")
    on_backend = [task for task in changed_tasks(added) if task.startswith(f"{BACKEND}:")]
    assert on_backend and all("token" in task.lower() for task in on_backend), on_backend
    assert service("backend.service").main_pid(on(BACKEND)) == backend_pid, "the backend restarted"
    new = tokens()[hostname]
    assert new != old
    assert wait_for(lambda: fresh_rows(hostname, switched) == 3, timeout=120, interval=3), "no data after re-adding"


def test_grafana_cloud_mode_sends_to_the_cloud_and_keeps_alerts_on_the_backend():
    """site.yml with cloud_* set: both collectors push metrics (remote write) and the journal (Loki push) to
    "Grafana Cloud" (a STAND-IN: the test receiver on the machine side of each host's veth, HTTPS with its own test
    CA, decoding and recording what arrives), while the container exporters keep sending heartbeats and disk usage
    to the backend and the collectors the same series to the backend too (each host's heartbeat and disk usage), so
    the backend still alerts: the same round trip as above."""
    token = canary() + "-cloud"
    token_sha256 = sha256(token)
    receivers = {name: cloud_stand_in(name) for name in UNITS}
    # each host pushes to its own veth's machine side, as each would reach grafana.net
    peer = "{{ (ansible_host.split('.')[:3] + ['1']) | join('.') }}"
    cloud_vars = EPHEMERAL / "cloud-vars.json"
    cloud_vars.write_text(json.dumps({
        "cloud_instance": peer, "cloud_user": CLOUD_USER, "cloud_api_token": token,
        "stats_collector_cloud_logs_instance": peer, "stats_collector_cloud_logs_user": CLOUD_LOGS_USER,
        "stats_collector_ca_cert": "{{ lookup('file', qs_ephemeral ~ '/cloud-' ~ inventory_hostname ~ '-ca.pem') }}",
    }))  # fmt: skip
    try:
        others = [(name, unit) for name, units in UNITS.items() for unit in units if unit != "stats-collector.service"]
        pids = {(name, unit): service(unit).main_pid(on(name)) for name, unit in others}
        output = playbook("converge.yml", "-e", f"@{cloud_vars}")
        assert token not in output
        switched = sql("SELECT now()")[0][0]
        for (name, unit), pid in pids.items():
            assert service(unit).main_pid(on(name)) == pid, f"{name}: {unit} restarted by the switch to cloud mode"
        collector = service("stats-collector.service")
        for name, receiver in receivers.items():
            config = on(name).file(f"/home/{USER}/.config/stats-collector/config.alloy").content_string
            # metrics to the cloud and to the backend (its heartbeat and disk rows), the journal to the cloud only
            backend = "127.0.0.1" if name == BACKEND else RUNNER.get_variables(BACKEND)["ansible_host"]
            assert f"https://{receiver['peer']}/api/prom/push" in config, config
            assert f"https://{backend}:8443/api/v1/write" in config, config
            assert f"https://{receiver['peer']}/loki/api/v1/push" in config and "8443/loki" not in config, config
            hostname = on(name).check_output("hostname")

            def pushed(path, user, log=receiver["log"], hostname=hostname):
                return [
                    r for r in records(log)
                    if r["path"].endswith(path) and r["user"] == user and r["password_sha256"] == token_sha256
                    and hostname in json.dumps(r["body"])
                ] or None  # fmt: skip

            metrics = wait_for(lambda: pushed("/api/prom/push", CLOUD_USER), timeout=120, interval=3)
            assert metrics, f"{name}: no remote write at the cloud stand-in: {records(receiver['log'])[-3:]}"
            names = {labels.get("__name__") for r in metrics for labels, _value, _ms in r["body"]["series"]}
            assert {"node_load1", "node_filesystem_avail_bytes"} <= names, names
            assert wait_for(lambda: pushed("/loki/api/v1/push", CLOUD_LOGS_USER), timeout=120, interval=3), name
            for place in (f"podman inspect {collector.container}", "systemctl --user show stats-collector.service"):
                assert token not in collector.run(on(name), place).stdout, f"the cloud token is in {place} on {name}"
        # the monitored host's heartbeat and disk usage (collector) and its app's heartbeat (exporter) still arrive
        hostname = on(HOST).check_output("hostname")
        assert wait_for(lambda: fresh_rows(hostname, switched) == 3, timeout=120, interval=3)
        alert_round_trip("in Grafana Cloud mode")
    finally:
        for receiver in receivers.values():
            cloud_receiver("stop", "--pidfile", receiver["pidfile"])


def test_absent_removes_every_role():
    playbook("absent.yml")
    for name, units in UNITS.items():
        for unit in units:
            if unit == f"{APP}.service":
                continue
            assert service(unit).run(on(name), f"systemctl --user cat {unit}").rc != 0, (name, unit)
    assert not on(BACKEND).file(f"{CREDENTIALS}/backend-ingest-tokens").exists
    again = playbook("absent.yml")
    assert not re.search(r"changed=[1-9]", again), again[-3000:]
