"""The simulated cluster: identity, key metadata and deterministic values of every shape.

Values are a pure function of (seed, key, devid, cache bucket), so a test can compute what the
simulator serves without talking to it, and re-querying within a key's cache time returns the
same value (as OneFS does).
"""

from __future__ import annotations

import hashlib
import json
import random
import struct
from dataclasses import dataclass, field
from pathlib import Path

KEYS_FILE = Path(__file__).with_name("statistics-keys.json")
DEFAULT_CACHE_TIME = 5
TIB = 1 << 40
GIB = 1 << 30

PROTO_OPS = {
    "nfs": [
        ("read", "read"),
        ("write", "write"),
        ("namespace_read", "getattr"),
        ("namespace_read", "lookup"),
        ("namespace_read", "access"),
        ("namespace_write", "create"),
        ("namespace_write", "remove"),
        ("namespace_write", "setattr"),
        ("namespace_read", "readdir"),
        ("other", "commit"),
        ("other", "fsstat"),
        ("namespace_read", "readdirplus"),
    ],
    "nfs4": [
        ("read", "read"),
        ("write", "write"),
        ("namespace_read", "getattr"),
        ("namespace_read", "lookup"),
        ("other", "compound"),
        ("session_state", "sequence"),
        ("file_state", "open"),
        ("file_state", "close"),
    ],
    "smb2": [
        ("read", "read"),
        ("write", "write"),
        ("create", "create"),
        ("file_state", "close"),
        ("namespace_read", "query_info"),
        ("namespace_read", "query_directory"),
        ("other", "ioctl"),
        ("session_state", "tree_connect"),
    ],
    "cifs": [("read", "read"), ("write", "write"), ("namespace_read", "trans2:qpathinfo"), ("file_state", "close")],
    "hdfs": [("read", "read"), ("write", "write"), ("namespace_read", "getfileinfo"), ("namespace_write", "mkdirs")],
    "http": [("read", "get"), ("write", "put"), ("namespace_read", "head"), ("other", "options")],
    "ftp": [("read", "retr"), ("write", "stor"), ("namespace_read", "list")],
    "papi": [("read", "get"), ("write", "put"), ("write", "post"), ("namespace_write", "delete")],
    "nlm": [("file_state", "lock"), ("file_state", "unlock"), ("file_state", "test")],
    "siq": [("read", "read"), ("write", "write")],
    "jobd": [("other", "job_status"), ("other", "job_start")],
    "irp": [("other", "irp_read"), ("other", "irp_write")],
    "lsass_in": [("other", "lookup_user"), ("other", "get_groups")],
    "lsass_out": [("other", "ldap_search"), ("other", "kerberos")],
}
OP_FIELDS = ("in", "out", "time")
HEAT_PATHS = ("/ifs/data/projects", "/ifs/home/alice", "/ifs/data/render/frames", "/ifs/.ifsvar", "SYSTEM (0x0)")
CACHE_FIELDS = [
    f"{level}_{kind}_{op}_{res}"
    for level in ("l1", "l2", "l3")
    for kind in ("data", "meta")
    for op in ("read", "prefetch")
    for res in ("start", "hit", "miss", "wait")
]


def load_key_metadata(path=KEYS_FILE):
    data = json.loads(Path(path).read_text())
    return {item["key"]: item for item in data["keys"]}


def cache_time_of(meta):
    return meta.get("policy_cache_time") or meta.get("default_cache_time") or DEFAULT_CACHE_TIME


@dataclass
class Node:
    devid: int
    lnn: int
    is_up: bool = True


def default_nodes(count, down=()):
    """LNN 1..count with devids that differ from LNNs (as after node replacements)."""
    return [Node(devid=lnn + 1 + lnn // 3, lnn=lnn, is_up=lnn not in set(down)) for lnn in range(1, count + 1)]


@dataclass
class ClusterModel:
    seed: int = 0
    name: str = "SimCluster"
    nodes: list = field(default_factory=lambda: default_nodes(3))
    release: str = "v9.5.0.0"
    metadata: dict = field(default_factory=load_key_metadata)

    def __post_init__(self):
        self.guid = hashlib.sha256(f"{self.seed}:{self.name}".encode()).hexdigest()[:34]

    # ------------------------------------------------------------ identity
    def cluster_config(self, local_lnn=None):
        local = next((n for n in self.nodes if n.is_up), self.nodes[0])
        if local_lnn is not None:
            local = next(n for n in self.nodes if n.lnn == local_lnn)
        version = self.release.lstrip("v")
        return {
            "name": self.name,
            "guid": self.guid,
            "description": "quadstats OneFS simulator",
            "encoding": "utf-8",
            "has_quorum": sum(n.is_up for n in self.nodes) * 2 > len(self.nodes),
            "is_compliance": False,
            "is_virtual": False,
            "is_vonefs": False,
            "join_mode": "Manual",
            "local_devid": local.devid,
            "local_lnn": local.lnn,
            "local_serial": f"SIM{local.devid:05d}",
            "devices": [
                {"devid": n.devid, "lnn": n.lnn, "guid": f"{self.guid[:30]}{n.devid:04d}", "is_up": n.is_up}
                for n in self.nodes
            ],
            "onefs_version": {
                "build": f"B_9_5_0_{self.seed % 1000:03d}(RELEASE)",
                "copyright": "Copyright (c) simulated",
                "reldate": 1680000000,
                "release": self.release,
                "revision": str(int.from_bytes(hashlib.sha256(self.release.encode()).digest()[:8], "big")),
                "type": "Isilon OneFS",
                "version": version,
            },
            "timezone": {"abbreviation": "UTC", "custom": "", "name": "UTC", "path": "UTC"},
            "upgrade_type": None,
        }

    def up_nodes(self):
        return [n for n in self.nodes if n.is_up]

    # ------------------------------------------------------------ node churn (mid-run changes)
    def node(self, lnn):
        found = [n for n in self.nodes if n.lnn == lnn]
        if not found:
            raise ValueError(f"no node with LNN {lnn}; LNNs: {sorted(n.lnn for n in self.nodes)}")
        return found[0]

    def set_up(self, lnn, is_up):
        """Take the node with this LNN down (``False``) or bring it back (``True``)."""
        self.node(lnn).is_up = bool(is_up)

    def change_lnn(self, lnn, new_lnn):
        """Give a node another LNN (as ``isi config`` lnnset does); its devid stays."""
        if any(n.lnn == new_lnn for n in self.nodes):
            raise ValueError(f"LNN {new_lnn} is taken")
        self.node(lnn).lnn = new_lnn

    # ------------------------------------------------------------ values
    def bucket(self, key, now):
        """(bucket number, value time) of ``key`` at ``now``: values change once per cache time."""
        ct = cache_time_of(self.metadata[key])
        b = int(now // ct)
        return b, b * ct

    def _rng(self, key, devid, bucket):
        digest = hashlib.blake2b(f"{self.seed}|{key}|{devid}|{bucket}".encode(), digest_size=8).digest()
        return random.Random(struct.unpack("<Q", digest)[0])

    def value(self, key, devid, now):  # noqa: PLR0911 - one return per value shape
        """The value served for ``key`` on ``devid`` (0 = cluster) at simulated time ``now``."""
        meta = self.metadata[key]
        b, _t = self.bucket(key, now)
        rng = self._rng(key, devid, b)
        kind = meta["type"]
        if kind == "stats_proto_opstat_list":
            return self._protostats(key, rng)
        if kind == "stats_cache_data":
            cache = {name: rng.randrange(0, 5_000_000) for name in CACHE_FIELDS}
            cache["oldest_page_age"] = rng.randrange(60, 86_400)  # seconds; Dell's cache panel reads it
            return cache
        if kind == "stats_heat_list":
            return [{"op_rate": round(rng.uniform(0, 900), 3), "path": p} for p in HEAT_PATHS]
        if kind == "stats_client_proto_list_v2":
            return self._clients(key, rng, devid)
        if kind == "stats_node_disk_list":
            return [{"disk": bay, "value": rng.randrange(0, 1000)} for bay in range(1, 13)]
        special = self._special(key, devid, now)
        if special is not None:
            return special
        return self._scalar(meta, rng)

    def _scalar(self, meta, rng):
        units = meta["units"]
        key = meta["key"]
        if units == "permil":
            val = rng.randrange(300, 950) if ".idle." in key else rng.randrange(5, 350)
        elif units == "cents":
            val = rng.randrange(0, 1600)
        elif units == "percent":
            val = rng.uniform(0, 100)
        elif units in ("bytes per second",):
            val = rng.uniform(0, 2.5e9)
        elif units in ("operations per second", "packets per second"):
            val = rng.uniform(0, 60000)
        elif units == "errors per second":
            val = rng.choice((0.0, 0.0, 0.0, rng.uniform(0, 3)))
        elif units == "seconds":
            val = rng.randrange(3600, 40_000_000) if meta["type"] != "double" else rng.uniform(0.0001, 0.03)
        elif units == "volts":
            val = rng.uniform(0.95, 1.05)
        elif units == "bytes":
            if key.startswith("node.memory."):
                val = rng.randrange(8 * GIB, 200 * GIB)
            elif ".xfer.size." in key:
                val = rng.uniform(4096, 131072)
            else:
                val = rng.randrange(1 * TIB, 40 * TIB)
        else:
            val = rng.randrange(0, 400)
        if meta["type"] == "double":
            return round(float(val), 6)
        return int(val)

    def _special(self, key, devid, now):  # noqa: PLR0911 - one return per derived key
        up = self.up_nodes()
        if key == "cluster.node.count.all":
            return len(self.nodes)
        if key == "cluster.node.count.down":
            return len(self.nodes) - len(up)
        if key == "cluster.health":
            return 0 if len(up) == len(self.nodes) else 1
        if key.startswith("ifs.bytes.") and key[10:] in ("avail", "free", "used", "total"):
            return self._space(now)[key[10:]]
        if key.startswith("ifs.percent."):
            space = self._space(now)
            part = {"free": "free", "avail": "avail", "used": "used"}[key[12:]]
            return round(100.0 * space[part] / space["total"], 4)
        if key == "node.cpu.throttling":
            return 0
        return None

    def _space(self, now):
        ct = cache_time_of(self.metadata["ifs.bytes.total"])
        rng = self._rng("ifs.space", 0, int(now // ct))
        total = len(self.nodes) * 96 * TIB
        used = int(total * rng.uniform(0.35, 0.85))
        free = total - used
        avail = int(free * 0.93)
        return {"total": total, "used": used, "free": free, "avail": avail}

    def _protostats(self, key, rng):
        parts = key.split(".")
        total = parts[-1] == "total"
        proto = parts[2]
        rows = []
        ops = PROTO_OPS.get(proto, [("other", "op")])
        for op_id, (class_name, op_name) in enumerate(ops):
            row = {}
            if not total:
                row.update(class_name=class_name, op_name=op_name, op_id=op_id)
            count = rng.randrange(0, 2_000_000)
            row["op_count"] = count
            row["op_rate"] = round(rng.uniform(0, 5000), 3)
            for f in OP_FIELDS:
                lo = rng.uniform(0, 100) if f == "time" else rng.uniform(0, 4096)
                hi = lo + rng.uniform(0, 50000)
                row[f + "_min"] = round(lo, 3)
                row[f + "_max"] = round(hi, 3)
                row[f + ("_avg" if f == "time" else "_rate")] = round((lo + hi) / 2, 3)
                row[f + "_std_dev"] = round((hi - lo) / 4, 3)
            rows.append(row)
            if total:
                break
        return rows

    def _clients(self, key, rng, devid):
        proto = key.rsplit(".", 1)[1]
        clients = []
        for i in range(3):
            client = {
                "local_addr": f"10.20.0.{devid}",
                "local_name": f"10.20.0.{devid}",
                "remote_addr": f"10.30.{devid}.{10 + i}",
                "remote_name": f"client{10 + i:02d}.example.test",
                "protocol": proto + "3" if proto == "nfs" else proto,
                "user": {"id": f"UID:{2000 + i}", "name": f"user{i}", "type": "user"},
                "op_class_values": [],
            }
            for class_name in ("read", "write", "namespace_read"):
                client["op_class_values"].append(
                    {
                        "class_name": class_name,
                        "op_count": rng.randrange(0, 100000),
                        "op_rate": round(rng.uniform(0, 800), 3),
                        "in_rate": round(rng.uniform(0, 1e7), 3),
                        "out_rate": round(rng.uniform(0, 1e7), 3),
                        "time_avg": round(rng.uniform(0, 5000), 3),
                    }
                )
            clients.append(client)
        return clients


# ------------------------------------------------------------ summary statistics and quotas
SUMMARY_CACHE_TIME = 5
SUMMARY_PROTOCOLS = ("nfs3", "smb2")
DRIVE_BAYS = 4
QUOTA_CACHE_TIME = 300


def summary_values(model, kind, now):
    """Items of /platform/3/statistics/summary/<kind> (protocol, client, drive) for the up nodes."""
    bucket = int(now // SUMMARY_CACHE_TIME)
    stamp = bucket * SUMMARY_CACHE_TIME
    items = []
    for node in model.up_nodes():
        rng = model._rng("summary." + kind, node.devid, bucket)
        if kind == "protocol":
            for proto in SUMMARY_PROTOCOLS:
                for class_name, op in PROTO_OPS["nfs" if proto == "nfs3" else proto][:4]:
                    item = {"class": class_name, "node": node.lnn, "operation": op, "protocol": proto}
                    item.update(_rates(rng, ("in", "out"), standard_dev=True))
                    item.update(_times(rng, standard_dev=True))
                    item.update(operation_count=rng.randrange(0, 10**6), operation_rate=round(rng.uniform(0, 4000), 3))
                    item["time"] = stamp
                    items.append(item)
        elif kind == "client":
            for i in range(2):
                item = {
                    "class": ("read", "write")[i],
                    "local_addr": f"10.20.0.{node.devid}",
                    "local_name": f"node{node.lnn}.sim.test",
                    "node": node.lnn,
                    "protocol": SUMMARY_PROTOCOLS[i],
                    "remote_addr": f"10.30.{node.devid}.{10 + i}",
                    "remote_name": f"client{10 + i:02d}.example.test",
                    "user": {"id": f"UID:{2000 + i}", "name": f"user{i}", "type": "user"},
                    "num_operations": rng.randrange(0, 10**5),
                    "operation_rate": round(rng.uniform(0, 900), 3),
                }
                item.update(_rates(rng, ("in", "out"), standard_dev=False))
                item.update(_times(rng, standard_dev=False))
                item["time"] = stamp
                items.append(item)
        elif kind == "drive":
            for bay in range(1, DRIVE_BAYS + 1):
                items.append(
                    {
                        "access_latency": round(rng.uniform(0, 20), 3),
                        "access_slow": round(rng.uniform(0, 2), 3),
                        "busy": round(rng.uniform(0, 100), 3),
                        "bytes_in": round(rng.uniform(0, 2e8), 3),
                        "bytes_out": round(rng.uniform(0, 2e8), 3),
                        "drive_id": f"{node.lnn}:{bay}",
                        "iosched_latency": round(rng.uniform(0, 30), 3),
                        "iosched_queue": round(rng.uniform(0, 8), 3),
                        "time": stamp,
                        "type": "SSD" if bay == 1 else "SATA",
                        "used_bytes_percent": round(rng.uniform(10, 90), 3),
                        "used_inodes": float(rng.randrange(0, 10**7)),
                        "xfer_size_in": round(rng.uniform(4096, 131072), 3),
                        "xfer_size_out": round(rng.uniform(4096, 131072), 3),
                        "xfers_in": round(rng.uniform(0, 500), 3),
                        "xfers_out": round(rng.uniform(0, 500), 3),
                    }
                )
        else:
            raise ValueError(f"unknown summary kind {kind!r}")
    return items


def _rates(rng, names, standard_dev):
    out = {}
    for name in names:
        lo = rng.uniform(0, 4096)
        hi = lo + rng.uniform(0, 65536)
        out.update({name: round(rng.uniform(0, 1e8), 3), name + "_min": round(lo, 3), name + "_max": round(hi, 3)})
        out[name + "_avg"] = round((lo + hi) / 2, 3)
        if standard_dev:
            out[name + "_standard_dev"] = round((hi - lo) / 4, 3)
    return out


def _times(rng, standard_dev):
    lo = rng.uniform(0, 200)
    hi = lo + rng.uniform(0, 40000)
    out = {"time_avg": round((lo + hi) / 2, 3), "time_max": round(hi, 3), "time_min": round(lo, 3)}
    if standard_dev:
        out["time_standard_dev"] = round((hi - lo) / 4, 3)
    return out


QUOTA_LAYOUT = (
    # (type, path, persona, thresholds_on, hard, soft, advisory)
    ("directory", "/ifs/data/projects", None, "fslogicalsize", 50 * TIB, 40 * TIB, 30 * TIB),
    ("directory", "/ifs/data/render", None, "physicalsize", 20 * TIB, None, 15 * TIB),
    ("directory", "/ifs/home/alice", None, "applogicalsize", 500 * GIB, 400 * GIB, None),
    ("default-directory", "/ifs/home", None, "fslogicalsize", 1 * TIB, None, None),
    ("user", "/ifs/home", {"id": "UID:2001", "name": "bob", "type": "user"}, "fslogicalsize", 200 * GIB, None, None),
    ("directory", "/ifs/data/scratch", None, "fslogicalsize", None, None, None),
)


def quota_list(model, now, version=8, count=None):
    """Quotas as /platform/<version>/quota/quotas lists them (version 8 usage with ready flags)."""
    bucket = int(now // QUOTA_CACHE_TIME)
    layout = QUOTA_LAYOUT if count is None else [QUOTA_LAYOUT[i % len(QUOTA_LAYOUT)] for i in range(count)]
    out = []
    for index, (qtype, base_path, persona, on, hard, soft, advisory) in enumerate(layout):
        path = base_path if index < len(QUOTA_LAYOUT) else f"{base_path}/{index}"
        rng = model._rng("quota", index, bucket)
        limit = hard or soft or advisory or 10 * TIB
        used = int(limit * rng.uniform(0.2, 1.1))
        ready = index != 2 or bucket % 2 == 0  # one quota is still being scanned every other period
        thresholds = {"advisory": advisory, "hard": hard, "soft": soft, "soft_grace": 604800 if soft else None}
        for name, value in (("advisory", advisory), ("hard", hard), ("soft", soft)):
            thresholds[name + "_exceeded"] = bool(value) and used > value
            thresholds[name + "_last_exceeded"] = 1_690_000_000 if bool(value) and used > value else None
        thresholds["percent_advisory"] = None
        thresholds["percent_soft"] = None
        quota = {
            "container": qtype == "directory",
            "description": "",
            "efficiency_ratio": round(rng.uniform(0.5, 1.0), 4),
            "enforced": hard is not None or soft is not None,
            "id": hashlib.sha256(f"{model.seed}:{qtype}:{path}".encode()).hexdigest()[:22],
            "include_snapshots": False,
            "linked": None if qtype != "user" else False,
            "path": path,
            "persona": persona,
            "ready": ready,
            "reduction_ratio": round(rng.uniform(1.0, 2.5), 4),
            "thresholds": thresholds,
            "thresholds_on": on,
            "type": qtype,
        }
        if version >= 8:
            quota["usage"] = {
                "applogical": int(used * 0.98),
                "applogical_ready": ready,
                "fslogical": used,
                "fslogical_ready": ready,
                "fsphysical": int(used * 1.2),
                "fsphysical_ready": ready,
                "inodes": rng.randrange(1000, 10**7),
                "inodes_ready": ready,
                "physical": int(used * 1.25),
                "physical_ready": ready,
                "physical_data": int(used * 1.05),
                "physical_data_ready": ready,
                "physical_protection": int(used * 0.2),
                "physical_protection_ready": ready,
                "shadow_refs": 0,
                "shadow_refs_ready": ready,
            }
        else:
            del quota["thresholds_on"], quota["efficiency_ratio"], quota["reduction_ratio"]
            quota["usage"] = {"inodes": rng.randrange(1000, 10**7), "logical": used, "physical": int(used * 1.25)}
        out.append(quota)
    return out
