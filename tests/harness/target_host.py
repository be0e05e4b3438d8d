"""Disposable Debian 13 (trixie) target hosts: debootstrap rootfs + systemd-nspawn + veth + sshd.

One host = one directory ``/var/lib/quadstats/hosts/<name>/`` holding its writable rootfs (a copy
of the cached base rootfs, so state survives a reboot), its per-run SSH keypair, ``state.json``
(so another process can reboot or tear it down) and the nspawn console log. Host ``index`` N gets
the private network ``10.213.N.0/24``: the machine side of the veth is ``.1``, the target ``.2``.

This module is the host's lifecycle (create, boot, wait, stop, reboot, destroy); the rest lives by
concern and is re-exported here for existing callers:

- ``harness.target_rootfs``: the cached base rootfs, its test-environment adjustments, per-host identity
- ``harness.network``: index allocation and the veth's addresses
- ``harness.access``: commands inside the host, SSH, ``user_env``, the YAML inventory
- ``harness.host_state``: the state directory and the machine-wide lock
- ``harness.procs``: processes, cgroups and mounts (also for cleaning up after killed runs)

See docs/testing.md for why each test-environment adjustment exists; none of them belongs in a role.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import yaml

from harness import host_state
from harness.access import (
    INNER_PATH,
    INVENTORY_GROUP,
    SSH_OPTS,
    HostAccess,
    inventory_entry,
    remove_from_inventory,
    write_inventory,
)
from harness.host_state import hosts_with_state, recorded_indexes, state_lock
from harness.network import (
    NET_PREFIX,
    address_veth,
    first_free_index,
    network_of,
    remove_veth,
    routed_indexes,
    veth_name,
)
from harness.procs import (
    all_pids,
    cgroup_dir,
    children,
    cmdline,
    kill_cgroup,
    kill_until_gone,
    mount_ns_root,
    ns_id,
    pid_alive,
    remove_cgroup,
    sh,
    umount_below,
)
from harness.rootfs import log
from harness.target_rootfs import ADJUST_FILES, MASKED_UNITS, TARGET_PACKAGES, base_rootfs, write_identity

# Names callers import from here (they predate the split).
__all__ = [
    "ADJUST_FILES",
    "INNER_PATH",
    "INVENTORY_GROUP",
    "MASKED_UNITS",
    "NAME_RE",
    "NET_PREFIX",
    "SSH_OPTS",
    "TARGET_PACKAGES",
    "TargetHost",
    "base_rootfs",
    "cgroup_dir",
    "hosts_with_state",
    "inventory_entry",
    "pid_alive",
    "remove_from_inventory",
    "veth_name",
    "write_inventory",
]

NAME_RE = re.compile(r"^[a-z][a-z0-9-]{0,30}$")


class TargetHost(HostAccess):
    """A Debian 13 host booted with systemd-nspawn. ``index`` picks the /24 (auto when None)."""

    def __init__(self, name: str, index: int | None = None, packages: Sequence[str] = TARGET_PACKAGES) -> None:
        if not NAME_RE.match(name):
            raise ValueError(f"host name {name!r}: use 1-31 chars of [a-z0-9-], starting with a letter")
        self.name = name
        self.index = index
        self.packages = tuple(packages)
        self.dir = host_state.STATE_ROOT / name
        self.rootfs = self.dir / "rootfs"
        self.key_path = self.dir / "ssh" / "id_ed25519"
        self.state_path = self.dir / "state.json"
        self.log_path = self.dir / "nspawn.log"
        self.cgroup = cgroup_dir(name)
        self.pid: int | None = None  # systemd-nspawn
        self.leader: int | None = None  # the target's PID 1 (systemd), child of nspawn
        self.host_if: str | None = None
        self.inventory: str | None = None
        self.timings: dict[str, float] = {}
        self._popen: subprocess.Popen | None = None
        if self.state_path.exists():
            self._load_state()

    # -- addressing -----------------------------------------------------------------------
    @property
    def network(self) -> ipaddress.IPv4Network:
        if self.index is None:
            raise RuntimeError(f"{self.name}: no index allocated yet")
        return network_of(self.index)

    @property
    def gateway(self) -> str:
        return str(self.network.network_address + 1)

    @property
    def address(self) -> str:
        return str(self.network.network_address + 2)

    # -- state ------------------------------------------------------------------------------
    def _load_state(self) -> None:
        state = json.loads(self.state_path.read_text())
        if self.index is None:
            self.index = state.get("index")
        self.pid = state.get("pid")
        self.leader = state.get("leader")
        self.host_if = state.get("host_if")
        self.inventory = state.get("inventory")

    def _save_state(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        state = {
            "name": self.name,
            "index": self.index,
            "address": self.address if self.index is not None else None,
            "gateway": self.gateway if self.index is not None else None,
            "pid": self.pid,
            "leader": self.leader,
            "host_if": self.host_if,
            "rootfs": str(self.rootfs),
            "key": str(self.key_path),
            "inventory": self.inventory,
            "log": str(self.log_path),
        }
        tmp = self.state_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=2) + "\n")
        tmp.rename(self.state_path)

    def status(self) -> dict:
        running = self._is_running()
        return {
            "name": self.name,
            "index": self.index,
            "address": self.address if self.index is not None else None,
            "running": running,
            "pid": self.pid,
            "leader": self.leader,
            "host_if": self.host_if,
            "inventory": self.inventory,
        }

    def _phase(self, label: str) -> contextlib.AbstractContextManager[None]:
        @contextlib.contextmanager
        def cm() -> Iterator[None]:
            start = time.monotonic()
            try:
                yield
            finally:
                took = time.monotonic() - start
                self.timings[label] = round(took, 2)
                log(f"{self.name}: {label}: {took:.1f}s")

        return cm()

    # -- lifecycle --------------------------------------------------------------------------
    def create(self) -> None:
        """Fresh writable rootfs from the cache, per-host identity and a new SSH keypair."""
        with self._phase("rootfs cache"):
            base = base_rootfs(self.packages) / "rootfs"
        with state_lock():
            if self.index is None:
                self.index = first_free_index(routed_indexes() | recorded_indexes())
            elif not 1 <= self.index <= 254:
                raise ValueError(f"index {self.index}: must be 1..254")
            self.dir.mkdir(parents=True, exist_ok=True)
            self._save_state()  # claims the index for concurrent allocators
        with self._phase("copy rootfs"):
            shutil.rmtree(self.rootfs, ignore_errors=True)
            sh(["cp", "-a", "--reflink=auto", str(base), str(self.rootfs)])
        with self._phase("identity + ssh key"):
            write_identity(self.rootfs, self.name, self.key_path)
        self._save_state()

    def boot(self) -> None:
        """Start systemd-nspawn in the background and give both veth ends their addresses."""
        if self._is_running():
            raise RuntimeError(f"{self.name} is already running (leader pid {self.leader})")
        self._kill_stale()
        env = dict(os.environ, SYSTEMD_NSPAWN_UNIFIED_HIERARCHY="1", SYSTEMD_NSPAWN_API_VFS_WRITABLE="1")
        cmd = [
            "systemd-nspawn",
            "-D",
            str(self.rootfs),
            "-b",
            "--register=no",
            "--keep-unit",
            f"--machine={self.name}",
            "--network-veth",
            "--console=read-only",
        ]
        if self.cgroup:
            remove_cgroup(self.cgroup)
            self.cgroup.mkdir(parents=True, exist_ok=True)
            # Join the host's own cgroup first, then exec nspawn (same pid) from there.
            cmd = ["sh", "-c", 'echo $$ > "$0" && exec "$@"', str(self.cgroup / "cgroup.procs"), *cmd]
        with self._phase("boot (nspawn start)"):
            with self.log_path.open("ab") as logf:
                logf.write(f"\n===== boot {time.strftime('%Y-%m-%dT%H:%M:%S')} =====\n".encode())
                logf.flush()
                self._popen = subprocess.Popen(
                    cmd, env=env, stdin=subprocess.DEVNULL, stdout=logf, stderr=logf, start_new_session=True
                )
            self.pid = self._popen.pid
            self.leader = self._wait_leader()
            self._save_state()
        with self._phase("network"):
            self.host_if = address_veth(self.name, self.leader, self.index)
            self._save_state()

    def _wait_leader(self, timeout: float = 30) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._popen and self._popen.poll() is not None:
                raise RuntimeError(
                    f"systemd-nspawn exited ({self._popen.returncode}); see {self.log_path}:\n{self._log_tail()}"
                )
            for child in children(self.pid):
                if Path(f"/proc/{child}/comm").read_text().strip() == "systemd":
                    return child
            time.sleep(0.05)
        raise RuntimeError(f"{self.name}: no systemd inside after {timeout}s; see {self.log_path}:\n{self._log_tail()}")

    def _log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return ""

    def wait_ready(self, timeout: float = 180) -> None:
        """Wait for ``systemctl is-system-running`` == running (fail with the failed units) and SSH."""
        with self._phase("systemd running"):
            deadline = time.monotonic() + timeout
            state = ""
            while time.monotonic() < deadline:
                res = self.run(["systemctl", "is-system-running", "--wait"], check=False, timeout=timeout)
                state = res.stdout.strip()
                if state in ("running", "degraded", "maintenance", "stopping"):
                    break
                time.sleep(0.2)
            if state != "running":
                failed = self.run(["systemctl", "--failed", "--no-legend", "--plain"], check=False).stdout
                detail = self.run(
                    "for u in $(systemctl --failed --no-legend --plain | awk '{print $1}'); do "
                    'echo "--- $u"; journalctl -b -u "$u" --no-pager -n 15; done',
                    check=False,
                ).stdout
                raise RuntimeError(f"{self.name}: system state {state!r}; failed units:\n{failed}\n{detail}")
        with self._phase("sshd"):
            self.run(["systemctl", "start", "ssh.service"])
            deadline = time.monotonic() + 60
            last = ""
            while time.monotonic() < deadline:
                with contextlib.suppress(OSError), socket.create_connection((self.address, 22), timeout=2):
                    res = self.ssh("true", check=False)
                    if res.returncode == 0:
                        return
                    last = res.stderr
                time.sleep(0.2)
            raise RuntimeError(f"{self.name}: ssh to root@{self.address} failed: {last}")

    def up(self, inventory: Path | None = None, group: str = INVENTORY_GROUP) -> None:
        """create + boot + wait_ready (+ inventory). Tears everything down again if any step fails."""
        start = time.monotonic()
        try:
            self.destroy(quiet=True)
            self.create()
            self.boot()
            self.wait_ready()
            if inventory:
                self.inventory = str(Path(inventory).resolve())
                write_inventory(Path(inventory), [self], group)
                self._save_state()
        except BaseException:
            log(f"{self.name}: up failed, tearing down (console log: {self.log_path})")
            tail = self._log_tail(40)
            self.destroy(quiet=True, keep_log=True)
            if tail:
                log(f"{self.name}: last console lines:\n{tail}")
            raise
        self.timings["up total"] = round(time.monotonic() - start, 2)
        log(f"{self.name}: up total: {self.timings['up total']:.1f}s  ->  ssh root@{self.address}")

    def stop(self, timeout: float = 30) -> None:
        """Orderly poweroff (SIGRTMIN+4 to the target's systemd), SIGKILL after ``timeout``."""
        with self._phase("stop"):
            if self._is_running():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self.leader, signal.SIGRTMIN + 4)
                deadline = time.monotonic() + timeout
                while time.monotonic() < deadline and (pid_alive(self.leader) or pid_alive(self.pid)):
                    if self._popen:
                        self._popen.poll()
                    time.sleep(0.1)
            self._kill_all()
            self.pid = self.leader = None
            if self.state_path.exists():
                self._save_state()

    def _kill_all(self) -> None:
        """Kill every process of this host, reap nspawn and wait until its veth is gone."""
        self._kill_stale()
        if self._popen:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._popen.wait(timeout=5)
            self._popen = None
        remove_veth({self.host_if, veth_name(self.name)} - {None})

    def reboot(self) -> None:
        """Stop and boot again on the same rootfs (state kept); wait until ready."""
        start = time.monotonic()
        self.stop()
        self.boot()
        self.wait_ready()
        self.timings["reboot total"] = round(time.monotonic() - start, 2)
        log(f"{self.name}: reboot total: {self.timings['reboot total']:.1f}s")

    def destroy(self, quiet: bool = False, keep_log: bool = False) -> None:
        """Leave no process, veth, mount or directory behind. Idempotent; works from any state."""
        start = time.monotonic()
        self._kill_all()
        if self.cgroup:
            remove_cgroup(self.cgroup)
        umount_below(self.dir)
        # nspawn leaves a propagation dir per machine name and a lock file per image inode.
        propagate = Path("/run/systemd/nspawn/propagate") / self.name
        umount_below(propagate)
        shutil.rmtree(propagate, ignore_errors=True)
        with contextlib.suppress(OSError):
            st = self.rootfs.stat()
            Path(f"/run/systemd/nspawn/locks/inode-{st.st_dev}:{st.st_ino}").unlink(missing_ok=True)
        if self.inventory:
            with contextlib.suppress(OSError, yaml.YAMLError):
                remove_from_inventory(Path(self.inventory), self.name)
        if self.dir.exists():
            if keep_log and self.log_path.exists():
                kept = host_state.STATE_ROOT / f".{self.name}.last-failed-nspawn.log"
                shutil.copyfile(self.log_path, kept)
            shutil.rmtree(self.dir)
        self.pid = self.leader = None
        self.host_if = self.inventory = None
        took = time.monotonic() - start
        self.timings["destroy"] = round(took, 2)
        if not quiet:
            log(f"{self.name}: destroy: {took:.1f}s")

    # -- finding our processes, also those of killed earlier runs ----------------------------
    def _root_matches(self, root_field: str) -> bool:
        rootfs = str(self.rootfs)
        return root_field == rootfs or (
            len(root_field) > 1
            and rootfs.endswith(f"/{self.name}/rootfs")
            and root_field.endswith(f"/{self.name}/rootfs")
        )

    def _is_running(self) -> bool:
        """Our recorded PID 1 is alive and really ours (a pid may have been reused since it was recorded)."""
        root = mount_ns_root(self.leader) if pid_alive(self.leader) else None
        return root is not None and self._root_matches(root)

    def _our_processes(self) -> list[int]:
        """nspawn processes for this machine name and every process living in our rootfs.

        A process is "in our rootfs" when the root mount of its mount namespace is our rootfs
        directory (``/proc/PID/root`` reads as ``/`` from outside, ``mountinfo`` does not lie).
        """
        ours = []
        me = os.getpid()
        own_ns = ns_id(me, "mnt")
        verdict: dict[str, bool] = {}
        for pid in all_pids():
            if pid == me:
                continue
            argv = cmdline(pid)
            if argv and argv[0].endswith("systemd-nspawn") and f"--machine={self.name}" in argv:
                ours.append(pid)
                continue
            ns = ns_id(pid, "mnt")
            if ns is None or ns == own_ns:
                continue
            if ns not in verdict:
                root = mount_ns_root(pid)
                verdict[ns] = root is not None and self._root_matches(root)
            if verdict[ns]:
                ours.append(pid)
        return ours

    def _kill_stale(self) -> None:
        kill_cgroup(self.cgroup)
        # Killing the target's PID 1 takes its whole PID namespace with it; nspawn then exits.
        kill_until_gone(self._our_processes, self.name, poll=self._popen.poll if self._popen else None)
