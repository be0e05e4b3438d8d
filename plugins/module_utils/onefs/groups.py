# Copyright: quadstats.stack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Named key groups shipped with the collection: the stat groups of gostats' example
configuration (116 keys in 13 groups), by the same names."""

from __future__ import annotations

_PROTOCOLS = ("nfs", "nlm", "cifs", "ftp", "http", "siq", "jobd", "smb2", "nfs4", "irp", "lsass_in", "lsass_out")
_PROTOCOLS += ("papi", "hdfs")
_HEAT = ("lock", "blocked", "contended", "deadlocked", "write", "read", "lookup", "rename", "link", "unlink")
_HEAT += ("getattr", "setattr")

GROUPS = {
    "cluster_cpu_stats": [f"cluster.cpu.{m}.avg" for m in ("sys", "user", "idle", "intr")],
    "cluster_network_traffic_stats": [
        f"cluster.net.ext.{what}.{way}.rate" for what in ("bytes", "packets", "errors") for way in ("in", "out")
    ],
    "cluster_client_activity_stats": [
        f"node.clientstats.active.{p}"
        for p in ("ftp", "hdfs", "http", "lsass_out", "jobd", "nfs", "nfs4", "nlm", "papi", "siq", "cifs", "smb2")
    ]
    + [f"node.clientstats.connected.{p}" for p in ("ftp", "hdfs", "http", "nfs", "nlm", "papi", "siq", "cifs")],
    "cluster_health_stats": ["cluster.health", "cluster.node.count.all", "cluster.node.count.down"],
    "ifs_space_stats": [f"ifs.bytes.{m}" for m in ("avail", "free", "used", "total")]
    + [f"ifs.percent.{m}" for m in ("free", "avail", "used")],
    "ifs_rate_stats": ["ifs.bytes.in.rate", "ifs.bytes.out.rate", "ifs.ops.in.rate", "ifs.ops.out.rate"],
    "node_load_stats": [
        "node.cpu.throttling",
        "node.load.1min",
        "node.load.5min",
        "node.load.15min",
        "node.memory.used",
        "node.memory.free",
        "node.open.files",
    ],
    "node_disk_stats": [
        "node.disk.bytes.out.rate.avg",
        "node.disk.bytes.in.rate.avg",
        "node.disk.busy.avg",
        "node.disk.xfers.out.rate.avg",
        "node.disk.xfers.in.rate.avg",
        "node.disk.xfer.size.out.avg",
        "node.disk.xfer.size.in.avg",
        "node.disk.access.latency.avg",
        "node.disk.access.slow.avg",
        "node.disk.iosched.queue.avg",
        "node.disk.iosched.latency.avg",
    ],
    "node_net_stats": [
        f"node.net.{net}.{what}.{way}.rate"
        for what in ("bytes", "errors")
        for net in ("int", "ext")
        for way in ("in", "out")
    ],
    "cluster_disk_rate_stats": [
        "cluster.disk.xfers.rate",
        "cluster.disk.xfers.in.rate",
        "cluster.disk.xfers.out.rate",
        "cluster.disk.bytes.in.rate",
        "cluster.disk.bytes.out.rate",
    ],
    "cluster_proto_stats": [f"cluster.protostats.{p}" for p in _PROTOCOLS]
    + [f"cluster.protostats.{p}.total" for p in _PROTOCOLS],
    "cache_stats": ["node.ifs.cache"],
    "heat_total_stats": [f"node.ifs.heat.{h}.total" for h in _HEAT],
}

GROUP_NAMES = tuple(GROUPS)


def expand(keys=None, groups=None):
    """Requested keys followed by the keys of the named groups, first occurrence wins."""
    out = []
    seen = set()
    for name in groups or []:
        if name not in GROUPS:
            raise ValueError("unknown key group '{}'; known groups: {}".format(name, ", ".join(GROUP_NAMES)))
    for key in list(keys or []) + [k for name in groups or [] for k in GROUPS[name]]:
        if key not in seen:
            seen.add(key)
            out.append(key)
    return out
