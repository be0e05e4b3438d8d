"""Verify quadstats.stack.podman_host on a live Debian 13 host (molecule verify, testinfra over SSH).

converge.yml deployed the same demo unit for two service users in one play (every entry point ran for
one user, then the other): each must have landed in its own home, with its own uid, secret and config,
and run as its own user. The tests run in file order: state after converge, leak checks, reboot,
check mode at -vvv, secret change, then removal.
"""

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
)

testinfra_hosts = testinfra.utils.ansible_runner.AnsibleRunner(INVENTORY).get_hosts("all")

UNIT = "qs-demo-secret-reader.service"
CONTAINER = "qs-demo-secret-reader"
MOUNT_PATH = "/run/secrets/demo_token"
USER, SECOND = "quadstats", "qs-second"
SECOND_UID = 2345  # podman_host_user_uid in molecule.yml
SERVICES = {user: RootlessService(user, UNIT, CONTAINER) for user in (USER, SECOND)}
SERVICE = SERVICES[USER]
each_user = pytest.mark.parametrize("user", list(SERVICES))


def secret(user):
    """The user's demo secret: create.yml's canary, or the file converge's password lookup made."""
    return canary() if user == USER else (ephemeral_dir() / f"canary-{SECOND}").read_text().strip()


def credential(user):
    return f"/var/lib/quadstats/{user}/demo_token"


def unit_log(host, user):
    uid = SERVICES[user].uid(host)
    return host.run(f"journalctl --no-pager -o cat _UID={uid} _SYSTEMD_USER_UNIT={UNIT}").stdout


def container_pid(host, user):
    return SERVICES[user].run(host, f"podman inspect -f '{{{{.State.Pid}}}}' {CONTAINER}").stdout.strip()


def owner_uid(host, path):
    return int(host.run(f"stat -c %u {path}").stdout)


@each_user
def test_linger_and_user_manager(host, user):
    assert host.file(f"/var/lib/systemd/linger/{user}").exists
    assert host.service(f"user@{SERVICES[user].uid(host)}.service").is_running


def test_each_user_has_its_own_uid_and_subordinate_ranges(host):
    assert host.user(SECOND).uid == SECOND_UID
    assert host.user(USER).uid != SECOND_UID
    for name in ("subuid", "subgid"):
        ranges = re.findall(rf"^({USER}|{SECOND}):(\d+):(\d+)$", host.file(f"/etc/{name}").content_string, re.M)
        assert sorted(r[0] for r in ranges) == sorted(SERVICES), ranges
        first, second = sorted(ranges, key=lambda r: int(r[1]))
        assert int(first[1]) + int(first[2]) <= int(second[1]), f"/etc/{name}: overlapping ranges {ranges}"


@each_user
def test_directories(host, user):
    creds = host.file(f"/var/lib/quadstats/{user}")
    assert creds.is_directory and creds.user == user and creds.mode == 0o700
    quadlets = host.file(f"/home/{user}/.config/containers/systemd")
    assert quadlets.is_directory and quadlets.user == user


@each_user
def test_each_unit_lands_in_its_own_home_with_its_own_uid(host, user):
    uid, group = SERVICES[user].uid(host), host.user(user).group
    quadlet = host.file(f"/home/{user}/.config/containers/systemd/{CONTAINER}.container")
    config = host.file(f"/home/{user}/.config/qs-demo/demo.conf")
    cred = host.file(credential(user))
    for file in (quadlet, config, cred):
        assert file.exists, f"{file.path} missing"
        assert (owner_uid(host, file.path), file.group) == (uid, group), f"{file.path} not owned by {user}"
    assert f"LoadCredential=demo_token:{credential(user)}\n" in quadlet.content_string
    assert config.content_string == f"deployed-for={user}\n"
    assert cred.mode == 0o600
    assert cred.content_string == secret(user)


@each_user
def test_each_unit_runs_as_its_user_with_its_own_secret_and_config(host, user):
    service = SERVICES[user]
    assert service.wait_active(host) == "active"
    uid = service.uid(host)
    # The unit's main process (conmon) and the container's first process run under the user's uid.
    for pid in (service.main_pid(host), container_pid(host, user)):
        assert int(pid) > 0 and owner_uid(host, f"/proc/{pid}") == uid, f"pid {pid} does not run as {user}"
    assert service.run(host, f"podman exec {CONTAINER} cat {MOUNT_PATH}").stdout == secret(user)
    assert service.run(host, f"podman exec {CONTAINER} cat /etc/qs-demo/demo.conf").stdout == f"deployed-for={user}\n"
    # The container read its secret and config at start: its log holds the digest, never the value.
    log = unit_log(host, user)
    assert sha256(secret(user)) in log and f"deployed-for={user}" in log
    other = next(u for u in SERVICES if u != user)
    assert sha256(secret(other)) not in log and f"deployed-for={other}" not in log


def test_secret_reaches_the_container_read_only(host):
    attempt = SERVICE.run(host, f"podman exec {CONTAINER} sh -c 'echo x > {MOUNT_PATH}'")
    assert attempt.rc != 0


@each_user
def test_secret_leaks_nowhere_on_the_host(host, user):
    SERVICES[user].assert_no_secret(host, secret(user))


def test_units_start_again_after_reboot(host):
    reboot(host)
    for user, service in SERVICES.items():
        assert service.wait_active(host) == "active", user
        assert service.run(host, f"podman exec {CONTAINER} cat {MOUNT_PATH}").stdout == secret(user)


def test_check_mode_reports_no_change_and_no_secret_at_vvv(host):
    # molecule's idempotence step proved a real second run changes nothing; this run shows every task's
    # arguments, results and diffs, and the secret-change test below does the same for a real run that writes.
    output = playbook("converge.yml", "--check", "--diff", "-vvv")
    assert re.search(r"changed=0\s", output), output[-3000:]
    for user in SERVICES:
        assert secret(user) not in output, f"{user}'s secret leaked into the -vvv output"


@pytest.fixture
def changed_secret():
    old = canary()
    new = f"qscanary-changed-{os.urandom(8).hex()}"
    canary_file().write_text(new)
    return old, new


def test_secret_change_restarts_only_that_users_unit_with_the_new_value(host, changed_secret):
    old, new = changed_secret
    before = {user: service.main_pid(host) for user, service in SERVICES.items()}
    output = playbook("converge.yml", "-vvv")
    assert old not in output and new not in output, "a secret leaked into the -vvv output"
    assert re.search(r"changed=[1-9]", output)
    assert SERVICE.wait_active(host) == "active"
    assert SERVICE.main_pid(host) != before[USER], "the unit was not restarted"
    assert SERVICES[SECOND].main_pid(host) == before[SECOND], "the other user's unchanged unit was restarted"
    assert SERVICE.run(host, f"podman exec {CONTAINER} cat {MOUNT_PATH}").stdout == new
    assert sha256(new) in unit_log(host, USER)
    SERVICE.assert_no_secret(host, new)


def test_state_absent_leaves_nothing_behind(host):
    uids = {user: service.uid(host) for user, service in SERVICES.items()}
    playbook("absent.yml")
    for user, uid in uids.items():
        assert not host.user(user).exists
        for path in (f"/var/lib/systemd/linger/{user}", f"/home/{user}", f"/run/user/{uid}"):
            assert not host.file(path).exists, f"{path} left behind"
        for name in ("subuid", "subgid"):
            assert f"{user}:" not in host.file(f"/etc/{name}").content_string
        assert host.run(f"pgrep -u {uid}").stdout == ""
    assert not host.file("/var/lib/quadstats").exists, "/var/lib/quadstats left behind"
    again = playbook("absent.yml")
    assert re.search(r"changed=0\s", again), again[-3000:]
