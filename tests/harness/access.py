"""Reaching a target host: commands inside it (nsenter), root over real SSH, a rootless user's
environment, and the YAML inventory Ansible and molecule use.

``HostAccess`` is the part of ``TargetHost`` that runs commands; it needs the host's ``name``,
``leader`` (the target's PID 1), ``address`` and ``key_path``.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from harness.host_state import state_lock
from harness.procs import pid_alive

if TYPE_CHECKING:
    from harness.target_host import TargetHost

INVENTORY_GROUP = "quadstats_targets"
INNER_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# The first two options go into the inventory too: hosts get new keys on every `up`.
SSH_OPTS = (
    "-o",
    "StrictHostKeyChecking=no",
    "-o",
    "UserKnownHostsFile=/dev/null",
    "-o",
    "LogLevel=ERROR",
    "-o",
    "BatchMode=yes",
    "-o",
    "ConnectTimeout=5",
)


class HostAccess:
    name: str
    leader: int | None
    key_path: Path
    address: str

    def run(
        self, cmd: str | Sequence[str], check: bool = True, timeout: float | None = 120, user: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run ``cmd`` inside the target (all its namespaces) via nsenter; a str goes to ``sh -c``."""
        if not self.leader or not pid_alive(self.leader):
            raise RuntimeError(f"{self.name} is not running")
        argv = ["sh", "-c", cmd] if isinstance(cmd, str) else list(cmd)
        if user:
            argv = ["runuser", "-u", user, "--", *argv]
        full = ["nsenter", "-t", str(self.leader), "-a", "--", "env", "-i", f"PATH={INNER_PATH}", "HOME=/root"]
        full += ["LANG=C.UTF-8", *argv]
        res = subprocess.run(full, capture_output=True, text=True, timeout=timeout, check=False)
        if check and res.returncode != 0:
            raise RuntimeError(f"{self.name}: {argv} failed ({res.returncode}):\n{res.stdout}{res.stderr}")
        return res

    def ssh_argv(self) -> list[str]:
        return ["ssh", *SSH_OPTS, "-i", str(self.key_path), f"root@{self.address}"]

    def ssh(self, cmd: str, check: bool = True, timeout: float | None = 300) -> subprocess.CompletedProcess[str]:
        """Run ``cmd`` (a shell string) as root over real SSH, like Ansible does."""
        res = subprocess.run([*self.ssh_argv(), cmd], capture_output=True, text=True, timeout=timeout, check=False)
        if check and res.returncode != 0:
            raise RuntimeError(f"{self.name}: ssh {cmd!r} failed ({res.returncode}):\n{res.stdout}{res.stderr}")
        return res

    def user_env(self, user: str) -> str:
        """Shell prefix running a command as ``user`` with its systemd/podman environment."""
        uid = int(self.run(["id", "-u", user]).stdout)
        return (
            f"cd / && runuser -u {user} -- env XDG_RUNTIME_DIR=/run/user/{uid}"
            f" DBUS_SESSION_BUS_ADDRESS=unix:path=/run/user/{uid}/bus HOME=$(getent passwd {user} | cut -d: -f6)"
        )


# ---------------------------------------------------------------------------------------------
# Inventory
# ---------------------------------------------------------------------------------------------
def inventory_entry(host: TargetHost) -> dict:
    return {
        "ansible_host": host.address,
        "ansible_user": "root",
        "ansible_ssh_private_key_file": str(host.key_path),
        "ansible_ssh_common_args": " ".join(SSH_OPTS[:4]),
        "ansible_python_interpreter": "/usr/bin/python3",
    }


_INVENTORY_HEADER = "# Written by the quadstats target-host harness (tests/harness); regenerated on every `up`.\n"


def _dump_inventory(path: Path, data: dict) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(_INVENTORY_HEADER + yaml.safe_dump(data, sort_keys=False, default_flow_style=False))
    tmp.rename(path)


def write_inventory(path: Path, hosts: Sequence[TargetHost], group: str = INVENTORY_GROUP) -> Path:
    """Add (or update) ``hosts`` under ``all.children.<group>.hosts`` of the YAML inventory at ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with state_lock():  # several `up`s may share one inventory
        data: dict = {}
        if path.exists():
            data = yaml.safe_load(path.read_text()) or {}
        grp = data.setdefault("all", {}).setdefault("children", {}).setdefault(group, {})
        entries = grp.get("hosts") or {}
        for host in hosts:
            entries[host.name] = inventory_entry(host)
        grp["hosts"] = entries
        _dump_inventory(path, data)
    return path


def remove_from_inventory(path: Path, name: str) -> None:
    path = Path(path)
    with state_lock():
        if not path.exists():
            return
        data = yaml.safe_load(path.read_text()) or {}
        changed = False
        for grp in (data.get("all", {}).get("children") or {}).values():
            if isinstance(grp, dict) and name in (grp.get("hosts") or {}):
                del grp["hosts"][name]
                changed = True
        if changed:
            _dump_inventory(path, data)
