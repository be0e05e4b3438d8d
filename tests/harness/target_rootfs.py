"""The target's root filesystem: the cached Debian 13 base tree with the harness's test-environment
adjustments, and the per-host identity written into each host's copy of it.

See docs/testing.md for why each adjustment exists; none of them belongs in a role.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from pathlib import Path

from harness.procs import sh
from harness.rootfs import cached_tree

ROOTFS_BUILDER_VERSION = "1"

# The facts in shared/notes/target-host.md: what a Debian 13 podman host needs.
TARGET_PACKAGES: tuple[str, ...] = (
    "systemd",
    "systemd-sysv",
    "dbus",
    "dbus-user-session",
    "libpam-systemd",
    "podman",
    "python3",
    "uidmap",
    "passt",
    "fuse-overlayfs",
    "sudo",
    "iproute2",
    "ca-certificates",
    "openssh-server",
    "procps",
    # podman_host installs it on real hosts (become_user without pipelining); test targets have no mirror.
    "acl",
    # netavark's firewall for rootless bridge networks (quadlet .network, the backend role); podman_host installs it.
    "nftables",
)

# ---------------------------------------------------------------------------------------------
# Test-environment adjustments baked into the cached rootfs (the harness's, never a role's).
# ---------------------------------------------------------------------------------------------
ADJUST_FILES = {
    # crun: "controller pids is not available" (no controllers in the unified hierarchy nspawn
    # hands over) and "create keyring: Operation not permitted" (nspawn's seccomp blocks keyctl).
    "etc/containers/containers.conf.d/50-quadstats-test-env.conf": (
        "# quadstats test harness only (docs/testing.md): systemd-nspawn target quirks.\n"
        "[containers]\n"
        "pids_limit = 0\n"
        "keyring = false\n"
    ),
    # pasta: "Failed to open() /dev/net/tun: Permission denied" (nspawn copies the machine's 0600
    # nodes); rootless fuse-overlayfs needs /dev/fuse likewise.
    "etc/tmpfiles.d/quadstats-test-devices.conf": (
        "# quadstats test harness only (docs/testing.md)\nz /dev/net/tun 0666 - - -\nz /dev/fuse 0666 - - -\n"
    ),
    # networkd never configures host0 here (no udev), so network-online.target would never be
    # reached and podman's rootless units (podman-user-wait-network-online) would stall ~90 s at
    # every boot. Online here means: the harness has addressed host0 from outside.
    "etc/systemd/system/quadstats-test-network-online.service": (
        "# quadstats test harness only (docs/testing.md)\n"
        "[Unit]\n"
        "Description=quadstats test harness: online once host0 has its address\n"
        "After=network.target\n"
        "Before=network-online.target\n"
        "[Service]\n"
        "Type=oneshot\n"
        "RemainAfterExit=yes\n"
        "TimeoutStartSec=60\n"
        "ExecStart=/bin/sh -c 'until ip -4 -o addr show dev host0 | grep -q inet; do sleep 0.2; done'\n"
    ),
    "etc/systemd/system/network-online.target.d/quadstats-test.conf": (
        "# quadstats test harness only\n[Unit]\nWants=quadstats-test-network-online.service\n"
    ),
    "etc/systemd/system/multi-user.target.d/quadstats-test-online.conf": (
        "# quadstats test harness only: pull network-online.target in at boot, as a networked host does\n"
        "[Unit]\nWants=network-online.target\n"
    ),
    "etc/ssh/sshd_config.d/quadstats-test.conf": (
        "# quadstats test harness only: key-only root login for Ansible, no reverse DNS wait.\n"
        "PermitRootLogin prohibit-password\n"
        "PasswordAuthentication no\n"
        "UseDNS no\n"
    ),
}
# Units that cannot work in this sandbox (no network beyond the veth, no udev) and would
# otherwise leave the target "degraded". Masked in the image, documented in docs/testing.md.
MASKED_UNITS = (
    "apt-daily.timer",
    "apt-daily-upgrade.timer",
    "apt-daily.service",
    "apt-daily-upgrade.service",
    "systemd-networkd-wait-online.service",
)


def _adjust_rootfs(root: Path) -> None:
    for rel, text in ADJUST_FILES.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    for unit in MASKED_UNITS:
        link = root / "etc/systemd/system" / unit
        link.unlink(missing_ok=True)
        link.symlink_to("/dev/null")
    # Host keys and machine-id are made per host at first boot / by the harness.
    for key in (root / "etc/ssh").glob("ssh_host_*"):
        key.unlink()
    (root / "etc/machine-id").write_text("")


def base_rootfs(packages: Sequence[str] = TARGET_PACKAGES, rebuild: bool = False) -> Path:
    """The cached target rootfs (built on first use): ``/var/cache/quadstats/rootfs/<hash>/rootfs``."""
    extra = json.dumps({"files": ADJUST_FILES, "masked": MASKED_UNITS}, sort_keys=True)
    return cached_tree("rootfs", packages, ROOTFS_BUILDER_VERSION, _adjust_rootfs, extra_key=extra, rebuild=rebuild)


def write_identity(rootfs: Path, name: str, key_path: Path) -> None:
    """Hostname, ``/etc/hosts``, machine-id, SSH host keys and a new root keypair (private half at ``key_path``)."""
    (rootfs / "etc/hostname").write_text(name + "\n")
    (rootfs / "etc/hosts").write_text(
        "127.0.0.1\tlocalhost\n"
        # sudo (Ansible become) stalls ~12 s per call when the hostname does not resolve
        f"127.0.1.1\t{name}\n"
        "::1\tlocalhost ip6-localhost ip6-loopback\n"
        "ff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n"
    )
    (rootfs / "etc/machine-id").write_text(uuid.uuid4().hex + "\n")
    key_path.parent.mkdir(parents=True, exist_ok=True)
    for f in (key_path, key_path.with_suffix(".pub")):
        f.unlink(missing_ok=True)
    sh(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"quadstats-harness@{name}", "-f", str(key_path)])
    ssh_dir = rootfs / "root/.ssh"
    ssh_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    auth = ssh_dir / "authorized_keys"
    auth.write_text(key_path.with_suffix(".pub").read_text())
    auth.chmod(0o600)
    # The target regenerates host keys at first boot if none exist (ssh-keygen -A).
    sh(["chroot", str(rootfs), "ssh-keygen", "-A"])
