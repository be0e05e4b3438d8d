"""Verify quadstats.stack.podman_host on a live Debian 13 host (molecule verify, testinfra over SSH).

The tests run in file order: state after converge, leak checks, reboot, secret change, then removal.
"""

import hashlib
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import testinfra.utils.ansible_runner

INVENTORY = os.environ["MOLECULE_INVENTORY_FILE"]
testinfra_hosts = testinfra.utils.ansible_runner.AnsibleRunner(INVENTORY).get_hosts("all")

USER = "quadstats"
UNIT = "qs-demo-secret-reader.service"
CONTAINER = "qs-demo-secret-reader"
MOUNT_PATH = "/run/secrets/demo_token"
CREDENTIAL = f"/var/lib/quadstats/{USER}/demo_token"
SCENARIO = Path(os.environ["MOLECULE_SCENARIO_DIRECTORY"])
EPHEMERAL = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"])
PROJECT = Path(os.environ["MOLECULE_PROJECT_DIRECTORY"])
CANARY_FILE = EPHEMERAL / "canary"


def canary():
    return CANARY_FILE.read_text().strip()


def sha256(text):
    return hashlib.sha256(text.encode()).hexdigest()


def uid(host):
    return host.user(USER).uid


def as_user(host, command):
    """Run a command as the rootless user with its systemd/podman environment."""
    # cd /: runuser keeps root's working directory, which the user may not enter. The bus address lets
    # podman reach the user's systemd (it joins the unit's cgroup through it).
    runtime = f"/run/user/{uid(host)}"
    env = f"XDG_RUNTIME_DIR={runtime} DBUS_SESSION_BUS_ADDRESS=unix:path={runtime}/bus"
    return host.run(f"cd / && runuser -u {USER} -- env {env} {command}")


def playbook(name, *extra):
    """Run a scenario playbook against the molecule inventory; return its full output."""
    result = subprocess.run(
        [Path(sys.executable).parent / "ansible-playbook", "-i", INVENTORY, SCENARIO / name, *extra],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    return output


def wait_for_unit(host, timeout=90):
    deadline = time.monotonic() + timeout
    while True:
        state = as_user(host, f"systemctl --user is-active {UNIT}").stdout.strip()
        if state == "active" or time.monotonic() > deadline:
            return state
        time.sleep(1)


def unit_log(host):
    return host.run(f"journalctl --no-pager -o cat _SYSTEMD_USER_UNIT={UNIT}").stdout


def assert_no_canary_on_host(host, secret):
    """The secret is nowhere but the credential file and the container's read-only mount."""
    places = {
        "podman inspect": as_user(host, f"podman inspect {CONTAINER}").stdout,
        "systemctl --user show": as_user(host, f"systemctl --user show {UNIT}").stdout,
        "the journal": host.run("journalctl --no-pager -o export").stdout,
        "the container environment": as_user(host, f"podman exec {CONTAINER} env").stdout,
        "process command lines": host.run("ps -eo args").stdout,
    }
    for place, text in places.items():
        assert text, f"{place}: nothing read, the check would prove nothing"
        assert secret not in text, f"the secret leaked into {place}"
    environ = host.run(f"grep -l -F -e {secret} /proc/[0-9]*/environ")
    assert environ.stdout == "", f"the secret is in process environments: {environ.stdout}"


def test_linger_and_user_manager(host):
    assert host.file(f"/var/lib/systemd/linger/{USER}").exists
    assert host.service(f"user@{uid(host)}.service").is_running


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
    assert wait_for_unit(host) == "active"
    assert as_user(host, f"podman exec {CONTAINER} cat {MOUNT_PATH}").stdout == canary()
    # The container read the secret at start: its log holds the digest, never the value.
    assert sha256(canary()) in unit_log(host)


def test_secret_reaches_the_container_read_only(host):
    attempt = as_user(host, f"podman exec {CONTAINER} sh -c 'echo x > {MOUNT_PATH}'")
    assert attempt.rc != 0


def test_secret_leaks_nowhere_on_the_host(host):
    assert_no_canary_on_host(host, canary())


def test_unit_starts_again_after_reboot(host):
    subprocess.run(
        [sys.executable, PROJECT / "tests" / "harness", "reboot", "--name", host.backend.get_hostname()],
        check=True,
        capture_output=True,
        timeout=300,
    )
    assert wait_for_unit(host) == "active"
    assert as_user(host, f"podman exec {CONTAINER} cat {MOUNT_PATH}").stdout == canary()


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
    CANARY_FILE.write_text(new)
    return old, new


def test_secret_change_restarts_the_unit_with_the_new_value(host, changed_secret):
    old, new = changed_secret
    before = as_user(host, f"systemctl --user show -P MainPID {UNIT}").stdout.strip()
    output = playbook("converge.yml", "-vvv")
    assert old not in output and new not in output, "a secret leaked into the -vvv output"
    assert re.search(r"changed=[1-9]", output)
    assert wait_for_unit(host) == "active"
    after = as_user(host, f"systemctl --user show -P MainPID {UNIT}").stdout.strip()
    assert before != after, "the unit was not restarted"
    assert as_user(host, f"podman exec {CONTAINER} cat {MOUNT_PATH}").stdout == new
    assert sha256(new) in unit_log(host)
    assert_no_canary_on_host(host, new)


def test_state_absent_leaves_nothing_behind(host):
    user_uid = uid(host)
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
