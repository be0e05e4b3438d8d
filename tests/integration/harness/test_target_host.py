"""The target-host harness against the real thing: booted systemd-nspawn Debian 13 hosts over SSH."""

from __future__ import annotations

import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from harness.debian_images import LABEL, ensure_image
from harness.target_host import TargetHost

pytestmark = [
    pytest.mark.target,
    pytest.mark.slow,
    pytest.mark.skipif(os.geteuid() != 0, reason="booting systemd-nspawn target hosts needs root"),
    pytest.mark.skipif(shutil.which("systemd-nspawn") is None, reason="systemd-container is not installed"),
]

USER = "qsapp"
IMAGE = "localhost/qs-harness-python:trixie"
_USER_MANAGER_ACTIVE = f"systemctl is-active -q user@$(id -u {USER}).service"


def _ansible_ping(inventory: Path, pattern: str) -> str:
    """``ansible PATTERN -m ping`` through ``inventory`` (must succeed); its stdout."""
    ansible = str(Path(sys.executable).parent / "ansible")
    res = subprocess.run(
        [ansible, "-i", str(inventory), pattern, "-m", "ansible.builtin.ping"],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert res.returncode == 0, res.stdout + res.stderr
    return res.stdout


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory):
    inventory = tmp_path_factory.mktemp("inventory") / "hosts.yml"
    target = TargetHost("qs-it-harness")
    try:
        target.up(inventory=inventory)
        yield target
    finally:
        target.destroy()


def _leftovers(name: str, rootfs: Path, host_dir: Path, host_if: str | None) -> list[str]:
    """What a destroyed host may have left behind, checked independently of the harness's own code."""
    found = []
    if (
        host_if
        and subprocess.run(["ip", "link", "show", "dev", host_if], capture_output=True, check=False).returncode == 0
    ):
        found.append(f"interface {host_if}")
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            argv = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
            mountinfo = Path(f"/proc/{entry}/mountinfo").read_text()
        except OSError:
            continue
        if f"--machine={name}".encode() in argv:
            found.append(f"nspawn process {entry}")
        if f" {rootfs} / " in mountinfo:
            found.append(f"process {entry} inside the rootfs")
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        if str(host_dir) in line.split()[4]:
            found.append(f"mount {line.split()[4]}")
    if host_dir.exists():
        found.append(f"directory {host_dir}")
    return found


def test_inventory_and_ansible_ping(host: TargetHost) -> None:
    inv = Path(host.inventory)
    text = inv.read_text()
    assert "quadstats_targets" in text
    assert f"ansible_host: {host.address}" in text
    assert "pong" in _ansible_ping(inv, "quadstats_targets")


def test_system_running_over_ssh(host: TargetHost) -> None:
    assert host.ssh("systemctl is-system-running").stdout.strip() == "running"
    # sudo must not stall on an unresolvable hostname (Ansible become)
    assert host.ssh("getent hosts $(hostname)").stdout.split()[0] == "127.0.1.1"


def test_python_and_podman_versions(host: TargetHost) -> None:
    assert host.ssh("python3 -c 'import sys; print(sys.version_info[:2])'").stdout.strip() == "(3, 13)"
    out = host.ssh("podman version --format '{{.Client.Version}}'").stdout.strip()
    major, minor = (int(x) for x in re.match(r"(\d+)\.(\d+)", out).groups())
    assert (major, minor) >= (4, 4), out


def test_rootless_user_runs_local_debian_image(host: TargetHost, capsys: pytest.CaptureFixture[str]) -> None:
    host.ssh(
        f"id {USER} >/dev/null 2>&1 || useradd -m -s /bin/bash {USER}; loginctl enable-linger {USER}; "
        f"for i in $(seq 50); do {_USER_MANAGER_ACTIVE} && exit 0; sleep 0.2; done; exit 1"
    )
    ref = ensure_image(host, USER, IMAGE, ["python3"])
    as_user = host.user_env(USER)
    out = host.ssh(f'{as_user} podman run --rm {ref} python3 -c \'print("hello from", __import__("sys").version)\'')
    assert out.stdout.startswith("hello from 3.13"), out.stdout + out.stderr
    label = host.ssh(f"{as_user} podman image inspect --format '{{{{ index .Labels \"{LABEL}\" }}}}' {ref}")
    assert re.fullmatch(r"[0-9a-f]{16}", label.stdout.strip())
    # Same content hash: a second call skips the import and keeps the very same image (an import would
    # make a new image id). How long each path takes: benchmarks/harness_bench.py.
    image_id = host.ssh(f"{as_user} podman image inspect --format '{{{{.Id}}}}' {ref}").stdout
    capsys.readouterr()
    ensure_image(host, USER, IMAGE, ["python3"])
    assert f"image {ref}: already imported for {USER}" in capsys.readouterr().err
    assert host.ssh(f"{as_user} podman image inspect --format '{{{{.Id}}}}' {ref}").stdout == image_id
    # Rootful storage stays untouched: the image lives in the user's storage only.
    assert host.ssh(f"podman image exists {ref}", check=False).returncode != 0


def test_reboot_keeps_state(host: TargetHost) -> None:
    token = secrets.token_hex(8)
    host.ssh(f"echo {token} > /var/lib/qs-harness-marker")
    old_leader = host.leader
    host.reboot()
    assert host.leader != old_leader
    assert host.ssh("cat /var/lib/qs-harness-marker").stdout.strip() == token
    assert host.ssh("systemctl is-system-running").stdout.strip() == "running"
    # A lingering user's manager comes back by itself after the reboot.
    if host.ssh(f"id {USER}", check=False).returncode == 0:
        host.ssh(f"for i in $(seq 50); do {_USER_MANAGER_ACTIVE} && exit 0; sleep 0.2; done; exit 1")


def test_reboot_via_cli_from_another_process(host: TargetHost) -> None:
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    res = subprocess.run(
        [sys.executable, "-m", "harness", "reboot", "--name", host.name],
        capture_output=True,
        text=True,
        check=False,
        env=env,
        timeout=300,
    )
    assert res.returncode == 0, res.stderr
    assert "reboot total" in res.stderr
    reloaded = TargetHost(host.name)
    assert reloaded.leader != host.leader
    host.leader, host.pid, host.host_if = reloaded.leader, reloaded.pid, reloaded.host_if
    assert host.ssh("systemctl is-system-running").stdout.strip() == "running"


def test_two_hosts_at_once_and_destroy_leaves_nothing(tmp_path: Path) -> None:
    inventory = tmp_path / "two.yml"
    hosts = [TargetHost("qs-it-two-a"), TargetHost("qs-it-two-b-with-a-long-name")]
    try:
        # Boot both at the same time: index allocation and inventory merging must not race.
        with ThreadPoolExecutor(max_workers=2) as pool:
            for future in [pool.submit(h.up, inventory=inventory) for h in hosts]:
                future.result()
        assert hosts[0].address != hosts[1].address
        assert hosts[0].host_if != hosts[1].host_if
        assert len(hosts[1].host_if) <= 15  # nspawn shortened ve-<name>; the harness found it anyway
        for h in hosts:
            assert h.ssh("hostname").stdout.strip() == h.name
        assert _ansible_ping(inventory, "all").count("pong") == 2

        # Simulate a killed earlier run on the second host: nspawn SIGKILLed, state file gone.
        b = hosts[1]
        os.kill(b.pid, signal.SIGKILL)
        b.state_path.unlink()
        facts = [(h.name, h.rootfs, h.dir, h.host_if) for h in hosts]
        for h in hosts:
            TargetHost(h.name).destroy()  # a fresh object, as a separate `down` process would be
        for name, rootfs, host_dir, host_if in facts:
            assert _leftovers(name, rootfs, host_dir, host_if) == []
        # The host destroyed with its state is gone from the inventory; the one whose state was
        # lost stays listed until the next `up` of that name rewrites it.
        assert "qs-it-two-a" not in inventory.read_text()
    finally:
        for h in hosts:
            h.destroy()


def test_destroy_is_idempotent() -> None:
    ghost = TargetHost("qs-it-never-booted")
    ghost.destroy()
    ghost.destroy()
    assert not ghost.dir.exists()
