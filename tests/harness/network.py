"""A target's private network: the veth nspawn creates, addressed from outside (no udev, no networkd inside).

Host ``index`` N gets ``NET_PREFIX.N.0/24``: ``.1`` on the machine side of the veth, ``.2`` on ``host0``
inside, default route via ``.1``. Nothing is routed beyond the machine.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import time
from collections.abc import Sequence

from harness.procs import sh

NET_PREFIX = os.environ.get("QS_NET_PREFIX", "10.213")
IFNAMSIZ = 15


def network_of(index: int) -> ipaddress.IPv4Network:
    return ipaddress.IPv4Network(f"{NET_PREFIX}.{index}.0/24")


def veth_name(name: str) -> str:
    """What nspawn calls the machine side of the veth, as far as it can be predicted."""
    return ("ve-" + name)[:IFNAMSIZ]


def ip_json(args: Sequence[str], netns_pid: int | None = None) -> list[dict]:
    """``ip -j ARGS`` (in the network namespace of ``netns_pid`` when given); [] when it fails or is empty."""
    cmd = ["ip", "-j", *args]
    if netns_pid:
        cmd = ["nsenter", "-t", str(netns_pid), "-n", "--", *cmd]
    res = sh(cmd, check=False)
    if res.returncode != 0 or not res.stdout.strip():
        return []
    return json.loads(res.stdout)


def routed_indexes() -> set[int]:
    """Third octets of ``NET_PREFIX.N.0/24`` networks already routed on this machine."""
    used: set[int] = set()
    for route in ip_json(["route", "show"]):
        dst = route.get("dst", "")
        if dst.startswith(NET_PREFIX + "."):
            with contextlib.suppress(IndexError, ValueError):
                used.add(int(dst.split(".")[2]))
    return used


def first_free_index(used: set[int]) -> int:
    index = next((i for i in range(1, 255) if i not in used), None)
    if index is None:
        raise RuntimeError(f"no free {NET_PREFIX}.N.0/24 network left")
    return index


def address_veth(name: str, leader: int, index: int, timeout: float = 10) -> str:
    """Address both ends of the veth of the target whose PID 1 is ``leader``; return the machine-side name."""
    deadline = time.monotonic() + timeout
    peer = None
    while time.monotonic() < deadline and peer is None:
        links = ip_json(["link", "show", "host0"], netns_pid=leader)
        if links and "link_index" in links[0]:
            peer = links[0]["link_index"]
        else:
            time.sleep(0.05)
    if peer is None:
        raise RuntimeError(f"{name}: host0 did not appear in the target")
    # nspawn shortens ve-<name> to the 15-char interface limit; find it by the peer index.
    ifname = next((link["ifname"] for link in ip_json(["link", "show"]) if link["ifindex"] == peer), None)
    if not ifname:
        raise RuntimeError(f"{name}: machine side of the veth (ifindex {peer}) not found")
    net = network_of(index)
    gateway, address = net.network_address + 1, net.network_address + 2
    sh(["ip", "addr", "replace", f"{gateway}/{net.prefixlen}", "dev", ifname])
    sh(["ip", "link", "set", ifname, "up"])
    inner = ["nsenter", "-t", str(leader), "-n", "--"]
    sh([*inner, "ip", "link", "set", "lo", "up"])
    sh([*inner, "ip", "link", "set", "host0", "up"])
    sh([*inner, "ip", "addr", "replace", f"{address}/{net.prefixlen}", "dev", "host0"])
    sh([*inner, "ip", "route", "replace", "default", "via", str(gateway)])
    return ifname


def remove_veth(ifnames: set[str], timeout: float = 10) -> None:
    """The kernel drops the veth when the target's netns dies, asynchronously: wait, then force."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(ip_json(["link", "show", "dev", n]) for n in ifnames):
        time.sleep(0.1)
    for ifname in ifnames:
        if ip_json(["link", "show", "dev", ifname]):
            sh(["ip", "link", "del", ifname], check=False)
