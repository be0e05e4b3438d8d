"""Helpers shared by the molecule verifiers (testinfra over SSH, see docs/testing.md).

A rootless quadlet service is named by its user, unit and container; the helpers run commands as
that user, run scenario playbooks against molecule's inventory, wait on units and prove that a
secret leaked nowhere it must not be. They read molecule's environment, so they only work inside
``molecule verify``.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

INVENTORY = os.environ.get("MOLECULE_INVENTORY_FILE", "")


def scenario_dir() -> Path:
    return Path(os.environ["MOLECULE_SCENARIO_DIRECTORY"])


def ephemeral_dir() -> Path:
    return Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"])


def project_dir() -> Path:
    return Path(os.environ["MOLECULE_PROJECT_DIRECTORY"])


def canary_file() -> Path:
    """The random secret that create.yml wrote for this run."""
    return ephemeral_dir() / "canary"


def canary() -> str:
    return canary_file().read_text().strip()


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def playbook(name: str, *extra: str, inventory: str | Path = "") -> str:
    """Run a scenario playbook against the molecule inventory (or ``inventory``); fail on error; return its full
    output."""
    result = subprocess.run(
        [Path(sys.executable).parent / "ansible-playbook", "-i", inventory or INVENTORY, scenario_dir() / name, *extra],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    # molecule forces colour (ANSIBLE_FORCE_COLOR): without the escapes, "host : ok=… changed=0" reads as printed
    output = re.sub(r"\x1b\[[0-9;]*m", "", result.stdout + result.stderr)
    assert result.returncode == 0, output[-5000:]
    return output


def changed_tasks(output: str) -> list[str]:
    """``host: task`` for each task a playbook's output reports changed (what an idempotence failure names)."""
    found, task = [], ""
    for line in output.splitlines():
        if line.startswith("TASK ["):
            task = line[len("TASK [") : line.rfind("]")]
        elif line.startswith("changed: ["):
            found.append(f"{line[len('changed: [') : line.index(']')]}: {task}")
    return found


def reboot(host) -> None:
    """Stop and boot the harness host again (state kept); returns once it is ready."""
    subprocess.run(
        [sys.executable, project_dir() / "tests" / "harness", "reboot", "--name", host.backend.get_hostname()],
        check=True,
        capture_output=True,
        timeout=300,
    )


def wait_for(predicate, timeout: float = 120, interval: float = 1):
    """Poll until predicate() is truthy and return its last value; the timeout only bounds a hang."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)


@dataclass(frozen=True)
class RootlessService:
    user: str
    unit: str
    container: str

    def uid(self, host) -> int:
        return host.user(self.user).uid

    def run(self, host, command: str):
        """Run a command as the user. ``cd /``: runuser keeps root's directory, which the user may not
        enter; the bus address lets podman reach the user's systemd (it joins the unit's cgroup)."""
        runtime = f"/run/user/{self.uid(host)}"
        env = f"XDG_RUNTIME_DIR={runtime} DBUS_SESSION_BUS_ADDRESS=unix:path={runtime}/bus"
        return host.run(f"cd / && runuser -u {self.user} -- env {env} {command}")

    def state(self, host) -> str:
        return self.run(host, f"systemctl --user is-active {self.unit}").stdout.strip()

    def main_pid(self, host) -> str:
        return self.run(host, f"systemctl --user show -P MainPID {self.unit}").stdout.strip()

    def wait_active(self, host, timeout: float = 120) -> str:
        """The unit's state once it is active, or its last state when the timeout ran out."""
        last = []

        def active():
            last[:] = [self.state(host)]
            return last[0] == "active"

        wait_for(active, timeout)
        return last[0]

    def assert_no_secret(self, host, secret: str, extra_places: dict[str, str] | None = None) -> None:
        """The secret is nowhere but its credential file and the container's read-only mount."""
        places = {
            "podman inspect": self.run(host, f"podman inspect {self.container}").stdout,
            "systemctl --user show": self.run(host, f"systemctl --user show {self.unit}").stdout,
            # cat -v: export writes multi-line fields in binary (a length prefix that need not be UTF-8)
            "the journal": host.run("journalctl --no-pager -o export | cat -v").stdout,
            "the container environment": self.run(host, f"podman exec {self.container} env").stdout,
            "process command lines": host.run("ps -eo args").stdout,
            **(extra_places or {}),
        }
        for place, text in places.items():
            assert text, f"{place}: nothing read, the check would prove nothing"
            assert secret not in text, f"the secret leaked into {place}"
        environ = host.run(f"grep -l -F -e {secret} /proc/[0-9]*/environ")
        assert environ.stdout == "", f"the secret is in process environments: {environ.stdout}"
