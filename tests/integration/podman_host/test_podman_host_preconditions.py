"""podman_host fails fast, with a message naming the cause and the fix, before changing anything.

Real conditions, no mocks: this machine's own podman is Debian 12's 4.3.1 (too old for quadlets);
a booted Debian 13 target provides a masked user manager and a user without subordinate ids.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from harness.target_host import TargetHost

PLAYBOOK = Path(__file__).parent / "playbooks" / "apply_podman_host.yml"
ROOT_ONLY = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")


def apply_role(inventory, **variables):
    result = subprocess.run(
        [
            Path(sys.executable).parent / "ansible-playbook",
            "-i",
            inventory,
            PLAYBOOK,
            "-e",
            json.dumps(variables),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    return result.returncode, result.stdout + result.stderr


def podman_version():
    out = subprocess.run(["podman", "--version"], capture_output=True, text=True, check=False).stdout
    found = re.search(r"(\d+)\.(\d+)\.(\d+)", out)
    return tuple(int(x) for x in found.groups()) if found else None


@ROOT_ONLY
@pytest.mark.podman
def test_podman_older_than_4_4_fails_before_any_change(tmp_path):
    version = podman_version()
    if version is None or version >= (4, 4, 0):
        pytest.skip(f"needs a podman older than 4.4 on this machine (found {version})")
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(
        "all:\n  hosts:\n    localhost:\n      ansible_connection: local\n"
        f"      ansible_python_interpreter: {sys.executable}\n"
    )
    rc, output = apply_role(inventory, podman_host_user="qs-too-old", podman_host_install_packages=False)
    assert rc != 0
    assert "too old for quadlets" in output
    assert ".".join(map(str, version)) in output
    assert "4.4" in output
    assert subprocess.run(["getent", "passwd", "qs-too-old"], capture_output=True, check=False).returncode != 0


@pytest.fixture(scope="module")
def target(tmp_path_factory):
    if os.geteuid() != 0 or shutil.which("systemd-nspawn") is None:
        pytest.skip("booting target hosts needs root and systemd-container")
    inventory = tmp_path_factory.mktemp("ph-pre") / "hosts.yml"
    host = TargetHost("qs-ph-pre")
    try:
        host.up(inventory=inventory)
        yield host, inventory
    finally:
        host.destroy()


@pytest.mark.target
@pytest.mark.slow
def test_missing_user_manager_is_named_with_the_fix(target):
    host, inventory = target
    host.ssh("systemctl mask user@.service")
    try:
        rc, output = apply_role(inventory, podman_host_user="qs-nomgr")
    finally:
        host.ssh("systemctl unmask user@.service")
    assert rc != 0
    assert "No systemd user manager is running for 'qs-nomgr'" in output
    assert "user@.service is not masked" in output


@pytest.mark.target
@pytest.mark.slow
def test_missing_subordinate_ids_fail_unless_managed_then_get_added(target):
    host, inventory = target
    # A system user gets no subordinate ids from useradd.
    host.ssh("useradd --system --create-home --shell /usr/sbin/nologin qs-nosub")
    assert "qs-nosub:" not in host.ssh("cat /etc/subuid").stdout

    rc, output = apply_role(
        inventory, podman_host_user="qs-nosub", podman_host_user_create=False, podman_host_subids_manage=False
    )
    assert rc != 0
    assert "User 'qs-nosub' has no range in /etc/subuid" in output
    assert "usermod --add-subuids" in output
    # Failed before linger: nothing was changed for the user.
    assert host.ssh("test -e /var/lib/systemd/linger/qs-nosub", check=False).returncode != 0

    rc, output = apply_role(inventory, podman_host_user="qs-nosub", podman_host_user_create=False)
    assert rc == 0, output[-3000:]
    for name in ("subuid", "subgid"):
        ranges = [line.split(":") for line in host.ssh(f"cat /etc/{name}").stdout.split()]
        mine = [r for r in ranges if r[0] == "qs-nosub"]
        assert len(mine) == 1 and mine[0][2] == "65536", ranges
        start = int(mine[0][1])
        others_end = max([int(r[1]) + int(r[2]) for r in ranges if r[0] != "qs-nosub"] + [100000])
        assert start >= others_end, f"/etc/{name}: new range {start} overlaps one ending at {others_end}"
    assert host.ssh("test -e /var/lib/systemd/linger/qs-nosub", check=False).returncode == 0
