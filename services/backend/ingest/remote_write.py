# Copyright: quadstats.stack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""``POST /api/v1/write``: Prometheus remote write 1.0 (snappy protobuf), reduced to the seed's two signals.

The backend is no TSDB. From the series it keeps, per host (``host``/``hostname`` label, else
``instance`` without its port):

- a **heartbeat**: the ping metric named ``host``, stamped with the newest sample of any series;
- **disk usage per filesystem**: a disk metric named by the mountpoint, ``100 * (1 - avail/size)``
  from ``node_filesystem_avail_bytes`` and ``node_filesystem_size_bytes`` of the same request,
  pseudo filesystems and the kernel's/runtime's mountpoints excluded.

Stale markers and other non-finite values are ignored. Everything else in the request is dropped here;
with ``prometheus_relay`` set, the accepted body goes on to Prometheus as received (services/backend/relay.py).
"""

from __future__ import annotations

import math

from fastapi import APIRouter, Request, Response
from google.protobuf.message import DecodeError

from ansible_collections.quadstats.stack.services.backend.auth import Principal
from ansible_collections.quadstats.stack.services.backend.http import (
    AUTH_RESPONSES,
    Sender,
    bad_request,
    binary_body,
    require_host,
    snappy_decode,
)
from ansible_collections.quadstats.stack.services.backend.ingest import proto
from ansible_collections.quadstats.stack.services.backend.ingest.journal import time_from_micros
from ansible_collections.quadstats.stack.services.backend.ingest.labels import host_of
from ansible_collections.quadstats.stack.services.backend.ingest.metric import MetricRow

router = APIRouter(tags=["ingest"])
HEARTBEAT_NAME = "host"
AVAIL, SIZE = "node_filesystem_avail_bytes", "node_filesystem_size_bytes"
PSEUDO_FSTYPES = frozenset(
    [
        "autofs",
        "binfmt_misc",
        "bpf",
        "cgroup",
        "cgroup2",
        "configfs",
        "debugfs",
        "devpts",
        "devtmpfs",
        "efivarfs",
        "fusectl",
        "hugetlbfs",
        "mqueue",
        "nsfs",
        "overlay",
        "proc",
        "procfs",
        "pstore",
        "ramfs",
        "rpc_pipefs",
        "securityfs",
        "selinuxfs",
        "squashfs",
        "sysfs",
        "tmpfs",
        "tracefs",
        "fuse.lxcfs",
        "fuse.gvfsd-fuse",
        "fuse.portal",
        "nfsd",
    ]
)
# node_exporter's own default exclusion of mount points.
PSEUDO_MOUNT_PREFIXES = (
    "/dev",
    "/proc",
    "/sys",
    "/run/credentials/",
    "/var/lib/docker/",
    "/var/lib/containers/storage/",
)


def real_filesystem(labels: dict[str, str]) -> bool:
    mount = labels.get("mountpoint", "")
    if not mount.startswith("/") or labels.get("fstype", "") in PSEUDO_FSTYPES:
        return False
    return not any(mount == p.rstrip("/") or mount.startswith(p.rstrip("/") + "/") for p in PSEUDO_MOUNT_PREFIXES)


def one_mount_per_filesystem(filesystems: dict) -> dict:
    """One entry per filesystem: the mount points of one device and type (bind mounts, e.g. the files and
    directories a container host binds in, or btrfs subvolumes) all report the same space, so only the
    shortest mount point stays. Entries without a device label all stay."""
    shortest: dict[tuple, tuple[int, str]] = {}
    for (host, mount), seen in filesystems.items():
        if "device" in seen:
            key = (host, *seen["device"])
            shortest[key] = min(shortest.get(key, (len(mount), mount)), (len(mount), mount))
    kept = {(key[0], mount) for key, (_length, mount) in shortest.items()}
    return {
        (host, mount): seen
        for (host, mount), seen in filesystems.items()
        if "device" not in seen or (host, mount) in kept
    }


def reduce_write_request(request, who: Principal) -> list[MetricRow]:
    """Heartbeats and disk metrics from a parsed ``WriteRequest`` (403 for a series of another host)."""
    heartbeat: dict[str, int] = {}
    filesystems: dict[tuple[str, str], dict[str, tuple[int, float]]] = {}
    for i, series in enumerate(request.timeseries):
        labels = {proto.text(label.name): proto.text(label.value) for label in series.labels}
        host = require_host(who, host_of(labels), f"timeseries[{i}]: host label")
        samples = [(s.timestamp, s.value) for s in series.samples if math.isfinite(s.value)]
        if host is None or not samples:
            continue
        newest = max(samples)
        heartbeat[host] = max(heartbeat.get(host, newest[0]), newest[0])
        name = labels.get("__name__")
        if name in (AVAIL, SIZE) and real_filesystem(labels):
            seen = filesystems.setdefault((host, labels["mountpoint"]), {})
            if name not in seen or seen[name][0] <= newest[0]:
                seen[name] = newest
            if labels.get("device"):
                seen["device"] = (labels["device"], labels.get("fstype", ""))
    rows = []
    for host, millis in sorted(heartbeat.items()):
        rows.append(MetricRow(host, HEARTBEAT_NAME, "ping", None, _time(millis, "heartbeat")))
    for (host, mount), seen in sorted(one_mount_per_filesystem(filesystems).items()):
        if AVAIL in seen and SIZE in seen and seen[SIZE][1] > 0:
            used = 100.0 * (1.0 - seen[AVAIL][1] / seen[SIZE][1])
            when = _time(max(seen[AVAIL][0], seen[SIZE][0]), mount)
            rows.append(MetricRow(host, mount, "disk", f"{min(max(used, 0.0), 100.0):.1f}", when))
    return rows


def _time(millis: int, what: str):
    try:
        return time_from_micros(millis * 1000)
    except ValueError:
        raise bad_request(f"samples of {what}", f"timestamp {millis} ms is out of range", 422) from None


@router.post(
    "/api/v1/write",
    status_code=204,
    response_class=Response,
    summary="Prometheus remote write 1.0 (keeps a heartbeat per host and disk usage per filesystem)",
    openapi_extra=binary_body("application/x-protobuf"),
    responses=AUTH_RESPONSES,
)
async def write(request: Request, who: Sender) -> Response:
    limits = request.app.state.settings.ingest
    encoding = (request.headers.get("content-encoding") or "snappy").strip().lower()
    if encoding != "snappy":
        raise bad_request("Content-Encoding", "remote write bodies are snappy (block format)", 415)
    body = await request.body()
    data = snappy_decode(body, limits.max_decompressed_bytes)
    message = proto.messages()["WriteRequest"]()
    try:
        message.ParseFromString(data)
    except DecodeError:
        raise bad_request("body", "not a Prometheus WriteRequest (prompb, protobuf)") from None
    await request.app.state.metric_writer.upsert(reduce_write_request(message, who))
    relay = getattr(request.app.state, "relay", None)
    if relay is not None:  # accepted: every series is the sender's own
        relay.offer(body)
    return Response(status_code=204)
