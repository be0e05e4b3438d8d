"""Verify quadstats.stack.stats_collector on a live Debian 13 host (molecule verify, testinfra over SSH).

What ran here and what did not: Grafana Alloy itself did NOT run (it exists in no package source
reachable from the test machine). The role deployed the STAND-IN image localhost/qs-alloy-standin:test
(tests/harness/alloy_standin/standin.py) through the same quadlet, config, credential and volume it
deploys for docker.io/grafana/alloy. These tests therefore prove the wiring the real Alloy depends on:
the rendered config at /etc/alloy/config.alloy, the token reaching the container only through
LoadCredential and the read-only %d mount, the basic-auth user and token arriving at the receiver for
both the remote_write and loki.write endpoints, the journal readable through the kept systemd-journal
group, the host mounts read-only, the storage volume surviving restarts, /-/ready published on
127.0.0.1, restarts on token change, reboot, idempotence and removal. They do not prove that Alloy
accepts the config, scrapes metrics or ships journal entries (see the golden tests and docs).

The tests run in file order: state after converge, leak checks, reboot, idempotence, token change,
config change, a switch to local mode with basic auth (its password also a credential), removal.
"""

import json
import os
import re

import pytest
import testinfra.utils.ansible_runner
from harness.molecule_checks import (
    INVENTORY,
    RootlessService,
    canary,
    canary_file,
    ephemeral_dir,
    playbook,
    reboot,
    sha256,
    wait_for,
)

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
SERVICE = RootlessService(USER, UNIT, CONTAINER)


def received():
    """The receiver's records (one per request), oldest first."""
    if not RECEIVER_LOG.exists():
        return []
    return [json.loads(line) for line in RECEIVER_LOG.read_text().splitlines() if line.strip()]


def deliveries(path, after_starts=0):
    return [r for r in received() if r["path"] == path and (r["body"] or {}).get("starts", 0) > after_starts]


def latest_starts():
    return max([(r["body"] or {}).get("starts", 0) for r in received()] or [0])


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


def test_standin_saw_the_mounts_alloy_needs(host):
    report = deliveries("/api/prom/push")[-1]["body"]
    assert report["config_path"] == "/etc/alloy/config.alloy"
    assert report["journal"] == "readable", "journal not readable: systemd-journal group not kept"
    assert report["host_root"] == "read-only"
    assert report["host_proc_readable"] and report["host_sys_readable"]
    assert report["credential_mount"] == "read-only"
    assert report["secret_in_environment"] is False


def test_secret_leaks_nowhere_on_the_host(host):
    assert_no_secret_on_host(host, canary())


def test_unit_starts_again_after_reboot_with_its_storage(host):
    before = latest_starts()
    reboot(host)
    assert wait_for(lambda: SERVICE.state(host) == "active")
    # A new start counted on the same named volume, and it delivered again with the token.
    again = wait_for(lambda: deliveries("/api/prom/push", after_starts=before))
    assert again, f"no delivery after the reboot: {received()[-2:]}"
    assert again[-1]["body"]["starts"] == before + 1
    assert again[-1]["password_sha256"] == sha256(canary())


def test_converge_is_idempotent_and_silent_at_vvv(host):
    pid = SERVICE.main_pid(host)
    output = playbook("converge.yml", "-vvv")
    assert re.search(r"changed=0\s", output), output[-3000:]
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
    """Extra vars switching the scenario to local mode with basic auth (a 0600 file, not the command line)."""
    secret = f"qslocal-{os.urandom(8).hex()}"
    path = EPHEMERAL / "local-mode.yml"
    path.touch(mode=0o600)
    receiver = "https://{{ qs_receiver_address }}"
    path.write_text(
        json.dumps(
            {
                "ha_vars": {},
                "stats_collector_cloud_logs_instance": "",
                "stats_collector_local_metrics_url": f"{receiver}/api/v1/write",
                "stats_collector_local_logs_url": f"{receiver}/loki/api/v1/push",
                "stats_collector_local_username": "collector",
                "stats_collector_local_password": secret,
            }
        )
    )
    return path, secret


def test_local_mode_with_basic_auth(host, local_mode_vars):
    vars_file, secret = local_mode_vars
    before_starts = latest_starts()
    output = playbook("converge.yml", "-vvv", "-e", f"@{vars_file}")
    assert secret not in output and canary() not in output, "a secret leaked into the -vvv output"
    assert wait_for(lambda: SERVICE.state(host) == "active")
    metrics = wait_for(lambda: deliveries("/api/v1/write", after_starts=before_starts))
    logs = wait_for(lambda: deliveries("/loki/api/v1/push", after_starts=before_starts))
    assert metrics and logs, f"local mode delivered nothing: {received()[-2:]}"
    for record in (metrics[-1], logs[-1]):
        assert record["user"] == "collector"
        assert record["password_sha256"] == sha256(secret)
    local_credential = f"/var/lib/quadstats/{USER}/local_basic_auth_password"
    assert host.file(local_credential).mode == 0o600
    assert not host.file(CREDENTIAL).exists, "the cloud token stayed behind in local mode"
    assert "LoadCredential=local_basic_auth_password:" in host.file(QUADLET).content_string
    assert_no_secret_on_host(host, secret)


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
