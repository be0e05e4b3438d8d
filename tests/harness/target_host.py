"""Disposable Debian 13 (trixie) target hosts: debootstrap rootfs + systemd-nspawn + veth + sshd.

One host = one directory ``/var/lib/quadstats/hosts/<name>/`` holding its writable rootfs (a copy
of the cached base rootfs, so state survives a reboot), its per-run SSH keypair, ``state.json``
(so another process can reboot or tear it down) and the nspawn console log. Host ``index`` N gets
the private network ``10.213.N.0/24``: the machine side of the veth is ``.1``, the target ``.2``.

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
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path

import yaml

from harness.rootfs import cached_tree, log

STATE_ROOT = Path(os.environ.get("QS_HOSTS_DIR", "/var/lib/quadstats/hosts"))
NET_PREFIX = os.environ.get("QS_NET_PREFIX", "10.213")
INVENTORY_GROUP = "quadstats_targets"
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
)

NAME_RE = re.compile(r"^[a-z][a-z0-9-]{0,30}$")
IFNAMSIZ = 15
INNER_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
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


# ---------------------------------------------------------------------------------------------
# Process / interface / mount helpers (also used to clean up after killed runs).
# ---------------------------------------------------------------------------------------------
def _proc_state(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return stat.rsplit(")", 1)[1].split()[0]


def pid_alive(pid: int | None) -> bool:
    return bool(pid) and _proc_state(pid) not in (None, "Z", "X")


def _cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return []
    return [a.decode(errors="replace") for a in raw.split(b"\0") if a]


def _all_pids() -> Iterator[int]:
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            yield int(entry)


def _children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except (FileNotFoundError, ProcessLookupError):
        return []


def _ns_id(pid: int, ns: str) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/ns/{ns}")
    except OSError:
        return None


def _mount_ns_root(pid: int) -> str | None:
    """Source path (inside its filesystem) of the ``/`` mount that ``pid`` sees."""
    try:
        with open(f"/proc/{pid}/mountinfo") as fh:
            for line in fh:
                fields = line.split()
                if fields[4] == "/":
                    return fields[3].replace("\\040", " ")
    except OSError:
        return None
    return None


def _cgroup2_mount() -> Path | None:
    with open("/proc/self/mountinfo") as fh:
        for line in fh:
            pre, post = line.split(" - ", 1)
            if post.split()[0] == "cgroup2":
                return Path(pre.split()[4])
    return None


def cgroup_dir(name: str) -> Path | None:
    """A cgroup2 directory of this host's own, so targets never share a cgroup tree.

    systemd-nspawn puts the container in ``<own cgroup>/payload``; every nspawn started from the
    same cgroup would share one tree, and one target's systemd would then wait for (and try to
    kill) another target's processes in a same-named unit cgroup (e.g. ``user@0.service``).
    """
    mount = _cgroup2_mount()
    if mount is None:
        return None
    own = next(
        (ln.split(":", 2)[2] for ln in Path("/proc/self/cgroup").read_text().splitlines() if ln.startswith("0::")), "/"
    )
    return mount / own.strip("/") / "quadstats" / name


def _remove_cgroup(path: Path, timeout: float = 10) -> None:
    """Kill every process in the cgroup subtree and remove it (deepest first)."""
    if not path.is_dir():
        return
    kill = path / "cgroup.kill"
    if kill.exists():
        with contextlib.suppress(OSError):
            kill.write_text("1")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            if "populated 0" in (path / "cgroup.events").read_text():
                break
        time.sleep(0.05)
    dirs = sorted((p for p in path.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True)
    for d in [*dirs, path]:
        with contextlib.suppress(OSError):
            d.rmdir()


def veth_name(name: str) -> str:
    """What nspawn calls the machine side of the veth, as far as it can be predicted."""
    return ("ve-" + name)[:IFNAMSIZ]


def _ip_json(args: Sequence[str], netns_pid: int | None = None) -> list[dict]:
    cmd = ["ip", "-j", *args]
    if netns_pid:
        cmd = ["nsenter", "-t", str(netns_pid), "-n", "--", *cmd]
    res = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if res.returncode != 0 or not res.stdout.strip():
        return []
    return json.loads(res.stdout)


def _sh(cmd: Sequence[str], check: bool = True) -> subprocess.CompletedProcess[str]:
    res = subprocess.run(list(cmd), capture_output=True, text=True, check=False)
    if check and res.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({res.returncode}): {res.stderr.strip() or res.stdout.strip()}")
    return res


@contextlib.contextmanager
def _global_lock() -> Iterator[None]:
    import fcntl  # noqa: PLC0415 - only the allocator needs it

    STATE_ROOT.mkdir(parents=True, exist_ok=True)
    with (STATE_ROOT / ".lock").open("w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _subnets_in_use() -> set[int]:
    """Third octets of NET_PREFIX.N.0/24 networks already routed on this machine or recorded."""
    used: set[int] = set()
    for route in _ip_json(["route", "show"]):
        dst = route.get("dst", "")
        if dst.startswith(NET_PREFIX + "."):
            with contextlib.suppress(IndexError, ValueError):
                used.add(int(dst.split(".")[2]))
    if STATE_ROOT.is_dir():
        for state in STATE_ROOT.glob("*/state.json"):
            with contextlib.suppress(ValueError, OSError, KeyError):
                used.add(int(json.loads(state.read_text())["index"]))
    return used


def hosts_with_state() -> list[str]:
    if not STATE_ROOT.is_dir():
        return []
    return sorted(p.name for p in STATE_ROOT.iterdir() if p.is_dir() and not p.name.startswith("."))


# ---------------------------------------------------------------------------------------------
# Inventory
# ---------------------------------------------------------------------------------------------
def inventory_entry(host: TargetHost) -> dict:
    return {
        "ansible_host": host.address,
        "ansible_user": "root",
        "ansible_ssh_private_key_file": str(host.key_path),
        "ansible_ssh_common_args": "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null",
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
    with _global_lock():  # several `up`s may share one inventory
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
    with _global_lock():
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


# ---------------------------------------------------------------------------------------------
# The host
# ---------------------------------------------------------------------------------------------
class TargetHost:
    """A Debian 13 host booted with systemd-nspawn. ``index`` picks the /24 (auto when None)."""

    def __init__(self, name: str, index: int | None = None, packages: Sequence[str] = TARGET_PACKAGES) -> None:
        if not NAME_RE.match(name):
            raise ValueError(f"host name {name!r}: use 1-31 chars of [a-z0-9-], starting with a letter")
        self.name = name
        self.index = index
        self.packages = tuple(packages)
        self.dir = STATE_ROOT / name
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
        return ipaddress.IPv4Network(f"{NET_PREFIX}.{self.index}.0/24")

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
        running = pid_alive(self.leader) and self._is_our_leader(self.leader)
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
        with _global_lock():
            if self.index is None:
                used = _subnets_in_use()
                self.index = next((i for i in range(1, 255) if i not in used), None)
                if self.index is None:
                    raise RuntimeError(f"no free {NET_PREFIX}.N.0/24 network left")
            elif not 1 <= self.index <= 254:
                raise ValueError(f"index {self.index}: must be 1..254")
            self.dir.mkdir(parents=True, exist_ok=True)
            self._save_state()  # claims the index for concurrent allocators
        with self._phase("copy rootfs"):
            shutil.rmtree(self.rootfs, ignore_errors=True)
            _sh(["cp", "-a", "--reflink=auto", str(base), str(self.rootfs)])
        with self._phase("identity + ssh key"):
            (self.rootfs / "etc/hostname").write_text(self.name + "\n")
            (self.rootfs / "etc/hosts").write_text(
                "127.0.0.1\tlocalhost\n"
                # sudo (Ansible become) stalls ~12 s per call when the hostname does not resolve
                f"127.0.1.1\t{self.name}\n"
                "::1\tlocalhost ip6-localhost ip6-loopback\n"
                "ff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n"
            )
            (self.rootfs / "etc/machine-id").write_text(uuid.uuid4().hex + "\n")
            self.key_path.parent.mkdir(parents=True, exist_ok=True)
            for f in (self.key_path, self.key_path.with_suffix(".pub")):
                f.unlink(missing_ok=True)
            _sh(
                [
                    "ssh-keygen",
                    "-q",
                    "-t",
                    "ed25519",
                    "-N",
                    "",
                    "-C",
                    f"quadstats-harness@{self.name}",
                    "-f",
                    str(self.key_path),
                ]
            )
            ssh_dir = self.rootfs / "root/.ssh"
            ssh_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            auth = ssh_dir / "authorized_keys"
            auth.write_text(self.key_path.with_suffix(".pub").read_text())
            auth.chmod(0o600)
            # The target regenerates host keys at first boot if none exist (ssh-keygen -A).
            _sh(["chroot", str(self.rootfs), "ssh-keygen", "-A"])
        self._save_state()

    def boot(self) -> None:
        """Start systemd-nspawn in the background and give both veth ends their addresses."""
        if self.leader and pid_alive(self.leader) and self._is_our_leader(self.leader):
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
            _remove_cgroup(self.cgroup)
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
            self._setup_network()
            self._save_state()

    def _wait_leader(self, timeout: float = 30) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._popen and self._popen.poll() is not None:
                raise RuntimeError(
                    f"systemd-nspawn exited ({self._popen.returncode}); see {self.log_path}:\n{self._log_tail()}"
                )
            for child in _children(self.pid):
                if Path(f"/proc/{child}/comm").read_text().strip() == "systemd":
                    return child
            time.sleep(0.05)
        raise RuntimeError(f"{self.name}: no systemd inside after {timeout}s; see {self.log_path}:\n{self._log_tail()}")

    def _log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return ""

    def _setup_network(self, timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        peer = None
        while time.monotonic() < deadline and peer is None:
            links = _ip_json(["link", "show", "host0"], netns_pid=self.leader)
            if links and "link_index" in links[0]:
                peer = links[0]["link_index"]
            else:
                time.sleep(0.05)
        if peer is None:
            raise RuntimeError(f"{self.name}: host0 did not appear in the target")
        # nspawn shortens ve-<name> to the 15-char interface limit; find it by the peer index.
        ifname = next((link["ifname"] for link in _ip_json(["link", "show"]) if link["ifindex"] == peer), None)
        if not ifname:
            raise RuntimeError(f"{self.name}: machine side of the veth (ifindex {peer}) not found")
        self.host_if = ifname
        plen = self.network.prefixlen
        _sh(["ip", "addr", "replace", f"{self.gateway}/{plen}", "dev", ifname])
        _sh(["ip", "link", "set", ifname, "up"])
        inner = ["nsenter", "-t", str(self.leader), "-n", "--"]
        _sh([*inner, "ip", "link", "set", "lo", "up"])
        _sh([*inner, "ip", "link", "set", "host0", "up"])
        _sh([*inner, "ip", "addr", "replace", f"{self.address}/{plen}", "dev", "host0"])
        _sh([*inner, "ip", "route", "replace", "default", "via", self.gateway])

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
            if self.leader and pid_alive(self.leader) and self._is_our_leader(self.leader):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self.leader, signal.SIGRTMIN + 4)
                deadline = time.monotonic() + timeout
                while time.monotonic() < deadline and (pid_alive(self.leader) or pid_alive(self.pid)):
                    if self._popen:
                        self._popen.poll()
                    time.sleep(0.1)
            self._kill_stale()
            if self._popen:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self._popen.wait(timeout=5)
                self._popen = None
            self._remove_veth()
            self.pid = self.leader = None
            if self.state_path.exists():
                self._save_state()

    def _remove_veth(self, timeout: float = 10) -> None:
        """The kernel drops the veth when the target's netns dies, asynchronously: wait, then force."""
        names = {self.host_if, veth_name(self.name)} - {None}
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and any(_ip_json(["link", "show", "dev", n]) for n in names):
            time.sleep(0.1)
        for ifname in names:
            if _ip_json(["link", "show", "dev", ifname]):
                _sh(["ip", "link", "del", ifname], check=False)

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
        self._kill_stale()
        if self._popen:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._popen.wait(timeout=5)
            self._popen = None
        self._remove_veth()
        if self.cgroup:
            _remove_cgroup(self.cgroup)
        self._umount_below(self.dir)
        # nspawn leaves a propagation dir per machine name and a lock file per image inode.
        propagate = Path("/run/systemd/nspawn/propagate") / self.name
        self._umount_below(propagate)
        shutil.rmtree(propagate, ignore_errors=True)
        with contextlib.suppress(OSError):
            st = self.rootfs.stat()
            Path(f"/run/systemd/nspawn/locks/inode-{st.st_dev}:{st.st_ino}").unlink(missing_ok=True)
        if self.inventory:
            with contextlib.suppress(OSError, yaml.YAMLError):
                remove_from_inventory(Path(self.inventory), self.name)
        if self.dir.exists():
            if keep_log and self.log_path.exists():
                kept = STATE_ROOT / f".{self.name}.last-failed-nspawn.log"
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

    def _is_our_leader(self, pid: int) -> bool:
        root = _mount_ns_root(pid)
        return root is not None and self._root_matches(root)

    def _our_processes(self) -> list[int]:
        """nspawn processes for this machine name and every process living in our rootfs.

        A process is "in our rootfs" when the root mount of its mount namespace is our rootfs
        directory (``/proc/PID/root`` reads as ``/`` from outside, ``mountinfo`` does not lie).
        """
        ours = []
        me = os.getpid()
        own_ns = _ns_id(me, "mnt")
        verdict: dict[str, bool] = {}
        for pid in _all_pids():
            if pid == me:
                continue
            argv = _cmdline(pid)
            if argv and argv[0].endswith("systemd-nspawn") and f"--machine={self.name}" in argv:
                ours.append(pid)
                continue
            ns = _ns_id(pid, "mnt")
            if ns is None or ns == own_ns:
                continue
            if ns not in verdict:
                root = _mount_ns_root(pid)
                verdict[ns] = root is not None and self._root_matches(root)
            if verdict[ns]:
                ours.append(pid)
        return ours

    def _kill_stale(self, timeout: float = 15) -> None:
        if self.cgroup and (self.cgroup / "cgroup.kill").exists():
            with contextlib.suppress(OSError):
                (self.cgroup / "cgroup.kill").write_text("1")
        # Killing the target's PID 1 takes its whole PID namespace with it; nspawn then exits.
        deadline = time.monotonic() + timeout
        while True:
            if self._popen:
                self._popen.poll()  # reap nspawn so it stops counting as alive
            left = [p for p in self._our_processes() if pid_alive(p)]
            if not left:
                return
            if time.monotonic() >= deadline:
                raise RuntimeError(f"{self.name}: processes survive SIGKILL: {left}")
            for pid in left:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.1)

    @staticmethod
    def _umount_below(path: Path) -> None:
        prefix = str(path)
        mounts = []
        with open("/proc/self/mountinfo") as fh:
            for line in fh:
                mnt = line.split()[4].replace("\\040", " ")
                if mnt == prefix or mnt.startswith(prefix + "/"):
                    mounts.append(mnt)
        for mnt in sorted(mounts, key=len, reverse=True):
            _sh(["umount", "-l", mnt], check=False)

    # -- running commands ---------------------------------------------------------------------
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
