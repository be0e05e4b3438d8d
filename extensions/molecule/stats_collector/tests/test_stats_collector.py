"""Verify quadstats.stack.stats_collector on a live Debian 13 host (molecule verify, testinfra over SSH).

What ran here and what did not: Grafana Alloy itself did NOT run (it exists in no package source
reachable from the test machine). The role deployed the STAND-IN image localhost/qs-alloy-standin:test
(tests/harness/alloy_standin/standin.py) through the same quadlet, config, credential and volume it
deploys for docker.io/grafana/alloy. The stand-in runs the components of the rendered config with the
real protocols: Prometheus remote write (protobuf + snappy) of host series it reads from the mounted
/proc and / (a few node_exporter names), the extra and HTTP-SD targets scraped with `up`, and Loki push
(protobuf + snappy) of the host's journal with the relabelled labels, resuming from a cursor.

Cloud mode goes to a test receiver that decodes and records what arrives (users, token digests, series,
streams); local mode goes to the REAL backend service on a real TimescaleDB (HTTPS, token as the
basic-auth password), whose tables are read. Not proven: that the real Alloy accepts the config or sends
the same series (see docs/stats_collector.md).

The tests run in file order: state after converge, what arrived at the receiver, leak checks, reboot,
idempotence, token change, config change, local mode toward the backend (heartbeat, disks, journal lines
exactly once, also across a collector restart), removal.
"""

import json
import os
import re
import uuid
from pathlib import Path

import psycopg
import pytest
import testinfra.utils.ansible_runner
from harness.molecule_checks import (
    INVENTORY,
    RootlessService,
    canary,
    canary_file,
    changed_tasks,
    ephemeral_dir,
    playbook,
    reboot,
    sha256,
    wait_for,
)
from harness.receiver import records

testinfra_hosts = testinfra.utils.ansible_runner.AnsibleRunner(INVENTORY).get_hosts("all")

USER = "quadstats"
UNIT = "stats-collector.service"
CONTAINER = "stats-collector"
MOUNT_PATH = "/run/secrets/prometheus_api_token"
CREDENTIAL = f"/var/lib/quadstats/{USER}/prometheus_api_token"
QUADLET = f"/home/{USER}/.config/containers/systemd/stats-collector.container"
CONFIG_DIR = f"/home/{USER}/.config/stats-collector"
VOLUME = "stats-collector-data"
IMAGE = "localhost/qs-alloy-standin:test"
METRICS_USER, LOGS_USER = "1234567", "7654321"
EPHEMERAL = ephemeral_dir()
RECEIVER_LOG = EPHEMERAL / "receiver.jsonl"
BACKEND_STATE = EPHEMERAL / "backend" / "state.json"
SERVICE = RootlessService(USER, UNIT, CONTAINER)
NODE_JOB = "integrations/node_exporter"
# The backend's own choice of real filesystems (what it keeps a disk metric for).
PSEUDO_FS = ("tmpfs", "overlay", "proc", "sysfs", "devtmpfs", "devpts", "cgroup", "cgroup2", "mqueue", "nsfs")


def received():
    """The receiver's records (one per request), oldest first."""
    return records(RECEIVER_LOG)


def starts_of(record):
    return int(record["headers"].get("x-quadstats-standin-starts", 0))


def deliveries(path, after_starts=0):
    return [r for r in received() if r["path"] == path and starts_of(r) > after_starts]


def latest_starts():
    return max([starts_of(r) for r in received()] or [0])


def standin_report(host):
    """The stand-in's own JSON report (/-/standin, a stand-in-only endpoint) on the host's loopback."""
    fetch = "import urllib.request as u; print(u.urlopen('http://127.0.0.1:12345/-/standin').read().decode())"
    out = host.run(f'python3 -c "{fetch}"')
    assert out.rc == 0, out.stderr
    return json.loads(out.stdout)


def series_received(path="/api/prom/push"):
    """Every (labels, value, ms) the receiver decoded from remote-write requests on ``path``."""
    return [s for r in received() if r["path"] == path and "series" in (r["body"] or {}) for s in r["body"]["series"]]


def find(series, name, **labels):
    return [s for s in series if s[0].get("__name__") == name and all(s[0].get(k) == v for k, v in labels.items())]


def backend():
    return json.loads(BACKEND_STATE.read_text())


def query(sql, params=()):
    with psycopg.connect(backend()["dsn"], autocommit=True) as conn:
        return conn.execute(sql, params).fetchall()


def assert_no_secret_on_host(host, secret):
    """Nowhere on the host, nor in the quadlet or the Alloy config the role wrote."""
    files = {
        "the quadlet": host.file(QUADLET).content_string,
        "the Alloy config": host.file(f"{CONFIG_DIR}/config.alloy").content_string,
    }
    SERVICE.assert_no_secret(host, secret, files)


def test_unit_active_and_ready_on_loopback_only(host):
    assert wait_for(lambda: SERVICE.state(host) == "active")
    fetch = "import urllib.request as u; print(u.urlopen('http://127.0.0.1:12345/-/ready').read().decode())"
    ready = host.run(f'python3 -c "{fetch}"')
    assert "ready" in ready.stdout, ready.stderr
    sockets = [line.split()[3] for line in host.run("ss -ltnH").stdout.splitlines()]
    listeners = [address for address in sockets if address.endswith(":12345")]
    assert listeners == ["127.0.0.1:12345"], listeners


def test_quadlet_wires_the_token_through_load_credential(host):
    quadlet = host.file(QUADLET).content_string
    assert f"LoadCredential=prometheus_api_token:{CREDENTIAL}" in quadlet
    assert f"Volume=%d/prometheus_api_token:{MOUNT_PATH}:ro" in quadlet
    assert "Environment" not in quadlet and "Secret=" not in quadlet
    config = host.file(f"{CONFIG_DIR}/config.alloy").content_string
    assert f'password_file = "{MOUNT_PATH}"' in config


def test_credential_file_is_private(host):
    cred = host.file(CREDENTIAL)
    assert cred.user == USER
    assert cred.mode == 0o600
    assert cred.content_string == canary()


def test_receiver_saw_the_right_users_and_token(host):
    metrics = wait_for(lambda: deliveries("/api/prom/push"))
    logs = wait_for(lambda: deliveries("/loki/api/v1/push"))
    assert metrics, f"no remote_write request reached the receiver: {received()}"
    assert logs, f"no loki.write request reached the receiver: {received()}"
    for record, user in ((metrics[-1], METRICS_USER), (logs[-1], LOGS_USER)):
        assert record["user"] == user
        assert record["password_sha256"] == sha256(canary())
        assert record["headers"].get("x-quadstats-standin") == "1", "not the stand-in: the test proves nothing"
        assert record["headers"]["content-type"] == "application/x-protobuf"
    assert metrics[-1]["headers"]["content-encoding"] == "snappy"
    assert metrics[-1]["headers"]["x-prometheus-remote-write-version"] == "0.1.0"


def test_standin_saw_the_mounts_alloy_needs(host):
    report = standin_report(host)
    assert report["config_path"] == "/etc/alloy/config.alloy"
    assert report["journal"] == "readable", "journal not readable: systemd-journal group not kept"
    assert report["host_root"] == "read-only"
    assert report["host_proc_readable"] and report["host_sys_readable"]
    assert report["credentials"] == {MOUNT_PATH: {"mount": "read-only", "in_environment": False}}


def test_remote_write_carries_the_hosts_real_series(host):
    """node_exporter names with Alloy's job/instance labels, values equal to what the host itself reads."""
    hostname = host.check_output("hostname")
    node = wait_for(lambda: find(series_received(), "node_memory_MemTotal_bytes", job=NODE_JOB))
    assert node, f"no node series arrived: {[r['path'] for r in received()]}"
    series = series_received()
    meminfo = dict(line.split(":", 1) for line in host.file("/proc/meminfo").content_string.splitlines())
    for labels, value, _ms in find(series, "node_memory_MemTotal_bytes", job=NODE_JOB):
        assert labels == {"__name__": "node_memory_MemTotal_bytes", "job": NODE_JOB, "instance": hostname}
        assert value == int(meminfo["MemTotal"].split()[0]) * 1024
    assert find(series, "node_memory_MemAvailable_bytes", job=NODE_JOB, instance=hostname)
    for name in ("node_load1", "node_load5", "node_load15"):
        assert find(series, name, job=NODE_JOB, instance=hostname), name
    cpus = [
        line.split()[0][3:] for line in host.file("/proc/stat").content_string.splitlines() if re.match(r"cpu\d", line)
    ]
    for cpu in cpus:
        modes = {s[0]["mode"] for s in find(series, "node_cpu_seconds_total", job=NODE_JOB, cpu=cpu)}
        assert {"user", "system", "idle", "iowait"} <= modes, (cpu, modes)
    root = find(series, "node_filesystem_size_bytes", job=NODE_JOB, mountpoint="/")
    assert root, "no node_filesystem_size_bytes for /"
    statvfs = "import os; s = os.statvfs('/'); print(s.f_blocks * s.f_frsize)"
    assert root[-1][1] == int(host.check_output(f'python3 -c "{statvfs}"'))
    assert root[-1][0]["fstype"] and root[-1][0]["device"]
    assert find(series, "node_filesystem_avail_bytes", job=NODE_JOB, mountpoint="/")
    assert all(s[1] == 1 for s in find(series, "up", job=NODE_JOB, instance=hostname))


def test_extra_and_http_sd_targets_are_scraped_with_up(host):
    hostname = host.check_output("hostname")

    def scraped():
        series = series_received()
        return (
            series
            if find(series, "up", job="standin-http-sd-down") and find(series, "up", job="alloy-standin-self")
            else None
        )

    series = wait_for(scraped)
    assert series, "the extra or HTTP-SD targets were not scraped"
    assert [s[1] for s in find(series, "up", job="alloy-standin-self", instance=hostname)][-1] == 1
    assert find(series, "alloy_standin_starts", job="alloy-standin-self", instance=hostname), "nothing scraped from it"
    assert [s[1] for s in find(series, "up", job="standin-http-sd", instance=hostname)][-1] == 1
    assert find(series, "alloy_standin_starts", job="standin-http-sd")
    assert [s[1] for s in find(series, "up", job="standin-http-sd-down")][-1] == 0


def test_loki_push_carries_the_journal_with_the_configured_labels(host):
    hostname = host.check_output("hostname")
    marker = f"qs-standin-cloud-{uuid.uuid4().hex}"
    unit = f"qs-standin-mark-{uuid.uuid4().hex[:8]}.service"
    host.run_expect([0], f"systemd-run --wait --quiet --unit {unit} /bin/echo {marker}")

    def pushed():
        for record in deliveries("/loki/api/v1/push"):
            for stream in (record["body"] or {}).get("streams", []):
                if any(line == marker for _ns, line in stream["entries"]):
                    return stream["labels"]
        return None

    labels = wait_for(pushed)
    assert labels, "the marker line never arrived at the receiver"
    for label in ('job="systemd-journal"', f'instance="{hostname}"', f'host="{hostname}"', f'unit="{unit}"'):
        assert label in labels, (label, labels)
    assert not re.search(r"__journal", labels), labels


def test_secret_leaks_nowhere_on_the_host(host):
    assert_no_secret_on_host(host, canary())


def test_unit_starts_again_after_reboot_with_its_storage(host):
    before = latest_starts()
    reboot(host)
    assert wait_for(lambda: SERVICE.state(host) == "active")
    # A new start counted on the same named volume, and it delivered again with the token.
    again = wait_for(lambda: deliveries("/api/prom/push", after_starts=before))
    assert again, f"no delivery after the reboot: {received()[-2:]}"
    assert starts_of(again[-1]) == before + 1
    assert again[-1]["password_sha256"] == sha256(canary())


def test_converge_is_idempotent_and_silent_at_vvv(host):
    pid = SERVICE.main_pid(host)
    output = playbook("converge.yml", "-vvv")
    assert re.search(r"changed=0\s", output), changed_tasks(output) or output[-3000:]
    assert canary() not in output
    assert SERVICE.main_pid(host) == pid, "an unchanged converge restarted the unit"


def test_check_mode_reports_no_change_on_a_converged_host(host):
    output = playbook("converge.yml", "--check", "--diff")
    assert re.search(r"changed=0\s", output), output[-3000:]
    assert canary() not in output


@pytest.fixture
def changed_token():
    old = canary()
    new = f"qscanary-changed-{os.urandom(8).hex()}"
    canary_file().write_text(new)
    return old, new


def test_token_change_restarts_the_unit_with_the_new_token(host, changed_token):
    old, new = changed_token
    before_pid, before_starts = SERVICE.main_pid(host), latest_starts()
    output = playbook("converge.yml", "-vvv")
    assert old not in output and new not in output, "a token leaked into the -vvv output"
    assert re.search(r"changed=[1-9]", output)
    assert wait_for(lambda: SERVICE.state(host) == "active")
    assert SERVICE.main_pid(host) != before_pid, "the unit was not restarted"
    after = wait_for(lambda: deliveries("/api/prom/push", after_starts=before_starts))
    assert after, "no delivery after the token change"
    assert after[-1]["password_sha256"] == sha256(new)
    assert_no_secret_on_host(host, new)


def test_config_change_restarts_the_unit(host):
    before_pid = SERVICE.main_pid(host)
    output = playbook("converge.yml", "-e", "stats_collector_scrape_interval=30s")
    assert re.search(r"changed=[1-9]", output)
    assert 'scrape_interval = "30s"' in host.file(f"{CONFIG_DIR}/config.alloy").content_string
    assert wait_for(lambda: SERVICE.state(host) == "active")
    assert SERVICE.main_pid(host) != before_pid, "a changed config did not restart the unit"


@pytest.fixture
def local_mode_vars():
    """Extra vars switching to local mode toward the real backend, basic auth with the host's ingest token
    as the password (a 0600 file, not the command line)."""
    state = backend()
    token = Path(state["token_file"]).read_text().strip()
    path = EPHEMERAL / "local-mode.yml"
    path.touch(mode=0o600)
    path.write_text(
        json.dumps(
            {
                "ha_vars": {},
                "stats_collector_cloud_logs_instance": "",
                "stats_collector_local_metrics_url": f"{state['url']}/api/v1/write",
                "stats_collector_local_logs_url": f"{state['url']}/loki/api/v1/push",
                "stats_collector_local_username": "collector",
                "stats_collector_local_password": token,
                # the backend's test CA (the stand-in verifies TLS as Alloy does)
                "stats_collector_ca_cert": Path(state["ca"]).read_text(),
            }
        )
    )
    return path, token


def journal_rows(marker):
    return query("SELECT time, host, unit, fields FROM journal WHERE message = %s", (marker,))


def real_mountpoints(host):
    """The host's mountpoints the backend keeps a disk metric for (findmnt on the host, not the stand-in's view):
    one per filesystem (device and type; bind mounts show as SOURCE[/path]), the shortest mount point."""
    out = host.check_output("findmnt -rn -o TARGET,FSTYPE,SOURCE")
    shortest = {}
    for line in out.splitlines():
        target, fstype, source = line.split(" ", 2)
        target = target.encode().decode("unicode_escape")
        if fstype in PSEUDO_FS or re.match(
            r"^/(dev|proc|sys|run/credentials/.+|var/lib/containers/storage/.+)($|/)", target
        ):
            continue
        key = (source.split("[", 1)[0], fstype)
        shortest[key] = min(shortest.get(key, (len(target), target)), (len(target), target))
    return {target for _length, target in shortest.values()}


def test_local_mode_reaches_the_real_backend(host, local_mode_vars):
    vars_file, token = local_mode_vars
    hostname = host.check_output("hostname")
    output = playbook("converge.yml", "-vvv", "-e", f"@{vars_file}")
    assert token not in output and canary() not in output, "a secret leaked into the -vvv output"
    assert wait_for(lambda: SERVICE.state(host) == "active")
    # The host's heartbeat (a ping named host) and one disk metric per real mountpoint.
    expected = real_mountpoints(host)
    assert "/" in expected

    def metrics():
        rows = query("SELECT name, type, value FROM metrics WHERE host = %s", (hostname,))
        disks = {name for name, kind, _v in rows if kind == "disk"}
        return rows if ("host", "ping", None) in rows and expected <= disks else None

    rows = wait_for(metrics)
    everything = query("SELECT host, name, type FROM metrics")
    assert rows, f"backend metrics: {everything}, expected disks {expected}"
    disks = {name: float(value) for name, kind, value in rows if kind == "disk"}
    assert set(disks) == expected, (disks, expected)
    used = "import os; s = os.statvfs('/'); print(100 * (1 - s.f_bavail / s.f_blocks))"
    assert abs(disks["/"] - float(host.check_output(f'python3 -c "{used}"'))) < 2
    # A line logged on the host arrives once, with the stand-in's labels.
    marker = f"qs-standin-local-{uuid.uuid4().hex}"
    host.run_expect([0], f"logger -t qs-standin-test {marker}")
    rows = wait_for(lambda: journal_rows(marker))
    assert len(rows) == 1, rows
    _time, row_host, _unit, fields = rows[0]
    assert row_host == hostname
    labels = fields["labels"]
    assert labels["job"] == "systemd-journal" and labels["instance"] == hostname and labels["host"] == hostname
    assert labels["syslog_identifier"] == "qs-standin-test"
    # The credential wiring of local mode, and the token nowhere else.
    local_credential = f"/var/lib/quadstats/{USER}/local_basic_auth_password"
    assert host.file(local_credential).mode == 0o600
    assert not host.file(CREDENTIAL).exists, "the cloud token stayed behind in local mode"
    assert "LoadCredential=local_basic_auth_password:" in host.file(QUADLET).content_string
    assert_no_secret_on_host(host, token)
    (EPHEMERAL / "local-marker").write_text(marker)


def test_journal_resumes_after_a_restart_without_resending(host):
    """After a restart the stand-in goes on after its saved cursor: no entry older than it is sent again."""
    first = (EPHEMERAL / "local-marker").read_text()
    [(first_time, *_rest)] = journal_rows(first)
    before = SERVICE.main_pid(host)
    SERVICE.run(host, f"systemctl --user restart {UNIT}")
    assert wait_for(lambda: SERVICE.state(host) == "active" and SERVICE.main_pid(host) != before)
    marker = f"qs-standin-restart-{uuid.uuid4().hex}"
    host.run_expect([0], f"logger -t qs-standin-test {marker}")
    rows = wait_for(lambda: journal_rows(marker))
    assert len(rows) == 1, rows
    assert len(journal_rows(first)) == 1
    journal = standin_report(host)["stats"]["journal"]
    assert journal["resumed_from_cursor"] is True
    oldest = journal["oldest_sent_realtime_us"]
    assert oldest is not None and oldest > first_time.timestamp() * 1_000_000, (
        "the restarted collector sent entries older than the first marker again"
    )


def test_state_absent_removes_it_all(host):
    playbook("absent.yml")
    assert SERVICE.run(host, f"systemctl --user cat {UNIT}").rc != 0, "the unit still exists"
    for path in (QUADLET, CONFIG_DIR, CREDENTIAL, f"/var/lib/quadstats/{USER}/local_basic_auth_password"):
        assert not host.file(path).exists, f"{path} left behind"
    assert SERVICE.run(host, f"podman container exists {CONTAINER}").rc == 1
    assert SERVICE.run(host, f"podman volume exists {VOLUME}").rc == 1
    assert SERVICE.run(host, f"podman image exists {IMAGE}").rc == 1
    assert "12345" not in host.run("ss -ltnH").stdout
    again = playbook("absent.yml")
    assert re.search(r"changed=0\s", again), again[-3000:]
