"""Verify quadstats.stack.podman_host on a live Debian 13 host (molecule verify, testinfra over SSH).

The tests run in file order: state after converge, leak checks, reboot, secret change, then removal.
"""

import os
import re

import pytest
import testinfra.utils.ansible_runner
from harness.molecule_checks import INVENTORY, RootlessService, canary, canary_file, playbook, reboot, sha256

testinfra_hosts = testinfra.utils.ansible_runner.AnsibleRunner(INVENTORY).get_hosts("all")

USER = "quadstats"
UNIT = "qs-demo-secret-reader.service"
CONTAINER = "qs-demo-secret-reader"
MOUNT_PATH = "/run/secrets/demo_token"
CREDENTIAL = f"/var/lib/quadstats/{USER}/demo_token"
SERVICE = RootlessService(USER, UNIT, CONTAINER)


def unit_log(host):
    return host.run(f"journalctl --no-pager -o cat _SYSTEMD_USER_UNIT={UNIT}").stdout


def test_linger_and_user_manager(host):
    assert host.file(f"/var/lib/systemd/linger/{USER}").exists
    assert host.service(f"user@{SERVICE.uid(host)}.service").is_running


def test_subordinate_ranges(host):
    for name in ("subuid", "subgid"):
        assert re.search(rf"^{USER}:\d+:\d+$", host.file(f"/etc/{name}").content_string, re.M)


def test_directories(host):
    creds = host.file(f"/var/lib/quadstats/{USER}")
    assert creds.is_directory and creds.user == USER and creds.mode == 0o700
    quadlets = host.file(f"/home/{USER}/.config/containers/systemd")
    assert quadlets.is_directory and quadlets.user == USER


def test_credential_file_is_private(host):
    cred = host.file(CREDENTIAL)
    assert cred.user == USER
    assert cred.mode == 0o600
    assert cred.content_string == canary()


def test_unit_active_and_container_reads_the_secret(host):
    assert SERVICE.wait_active(host) == "active"
    assert SERVICE.run(host, f"podman exec {CONTAINER} cat {MOUNT_PATH}").stdout == canary()
    # The container read the secret at start: its log holds the digest, never the value.
    assert sha256(canary()) in unit_log(host)


def test_secret_reaches_the_container_read_only(host):
    attempt = SERVICE.run(host, f"podman exec {CONTAINER} sh -c 'echo x > {MOUNT_PATH}'")
    assert attempt.rc != 0


def test_secret_leaks_nowhere_on_the_host(host):
    SERVICE.assert_no_secret(host, canary())


def test_unit_starts_again_after_reboot(host):
    reboot(host)
    assert SERVICE.wait_active(host) == "active"
    assert SERVICE.run(host, f"podman exec {CONTAINER} cat {MOUNT_PATH}").stdout == canary()


def test_converge_is_idempotent_and_silent_at_vvv(host):
    output = playbook("converge.yml", "-vvv")
    assert re.search(r"changed=0\s", output), output[-3000:]
    assert canary() not in output


def test_check_mode_reports_no_change_on_a_converged_host(host):
    output = playbook("converge.yml", "--check", "--diff")
    assert re.search(r"changed=0\s", output), output[-3000:]
    assert canary() not in output


@pytest.fixture
def changed_secret():
    old = canary()
    new = f"qscanary-changed-{os.urandom(8).hex()}"
    canary_file().write_text(new)
    return old, new


def test_secret_change_restarts_the_unit_with_the_new_value(host, changed_secret):
    old, new = changed_secret
    before = SERVICE.main_pid(host)
    output = playbook("converge.yml", "-vvv")
    assert old not in output and new not in output, "a secret leaked into the -vvv output"
    assert re.search(r"changed=[1-9]", output)
    assert SERVICE.wait_active(host) == "active"
    after = SERVICE.main_pid(host)
    assert before != after, "the unit was not restarted"
    assert SERVICE.run(host, f"podman exec {CONTAINER} cat {MOUNT_PATH}").stdout == new
    assert sha256(new) in unit_log(host)
    SERVICE.assert_no_secret(host, new)


def test_state_absent_leaves_nothing_behind(host):
    user_uid = SERVICE.uid(host)
    playbook("absent.yml")
    assert not host.user(USER).exists
    for path in (
        "/var/lib/quadstats",
        f"/var/lib/systemd/linger/{USER}",
        f"/home/{USER}",
        f"/run/user/{user_uid}",
    ):
        assert not host.file(path).exists, f"{path} left behind"
    for name in ("subuid", "subgid"):
        assert f"{USER}:" not in host.file(f"/etc/{name}").content_string
    assert host.run(f"pgrep -u {user_uid}").stdout == ""
    again = playbook("absent.yml")
    assert re.search(r"changed=0\s", again), again[-3000:]
