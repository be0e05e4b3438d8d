"""STAND-IN for Grafana Alloy in tests: NOT Alloy; it sends what Alloy would send for a small part of its config.

Grafana Alloy exists in no package source reachable from the test machine, so the molecule scenario of
``quadstats.stack.stats_collector`` (and ``./scripts/demo.sh``) runs this program as ``/usr/bin/alloy`` in the
image ``localhost/qs-alloy-standin:test`` (Debian trixie: python3, python3-protobuf, python3-snappy,
python3-systemd, python3-prometheus-client). Started like Alloy (``alloy run CONFIG
--server.http.listen-addr=... --storage.path=...``), it parses the rendered Alloy config and runs the
components the role uses, speaking the real wire protocols:

* ``prometheus.exporter.unix``: a few node_exporter series read from the mounted ``procfs_path`` and
  ``rootfs_path`` (``node_filesystem_size_bytes`` / ``node_filesystem_avail_bytes`` {device, fstype,
  mountpoint}, ``node_load1/5/15``, ``node_memory_MemTotal_bytes`` / ``MemAvailable_bytes``,
  ``node_cpu_seconds_total`` {cpu, mode}, ``node_boot_time_seconds``), served as a Prometheus text page on
  Alloy's component path
  ``/api/v0/component/prometheus.exporter.unix.<label>/metrics``; nothing else of node_exporter.
* ``discovery.relabel`` / ``loki.relabel`` rules (actions replace, keep, drop), ``discovery.http``
  (Prometheus HTTP SD JSON) and literal target lists.
* ``prometheus.scrape``: every target scraped over HTTP at ``scrape_interval`` (text format), target labels
  added (``honor_labels = false``: clashing scraped labels become ``exported_<name>``), plus ``up``,
  ``scrape_duration_seconds`` and ``scrape_samples_scraped``; forwarded to ``prometheus.remote_write``.
* ``prometheus.remote_write``: Prometheus remote write 1.0 (``prometheus.WriteRequest``, protobuf, snappy
  block, the three headers), basic auth; 5xx/429/connection errors retried, other 4xx dropped.
* ``loki.source.journal``: the mounted journal (python3-systemd), ``__journal_<field>`` labels through the
  relabel rules plus ``labels``, the line is ``MESSAGE``; starts ``max_age`` back, then resumes after the
  cursor it keeps under ``--storage.path`` (saved after each accepted push, so nothing is sent twice
  after a restart).
* ``loki.write``: Loki push (``logproto.PushRequest``, protobuf, snappy block), basic auth, retries as above.

Secrets: ``basic_auth`` ``password_file`` re-read per request and trimmed, as Alloy does. TLS, as Alloy: the
server certificate is verified against ``tls_config { ca_file }`` when given, else against the image's system
CAs (Debian's ca-certificates); only ``insecure_skip_verify = true`` turns verification off.
The protobuf messages come from the backend's own definitions (``services/backend/ingest/proto.py``, put
into the image unchanged), not from a second copy of the schema.

Stand-in only: ``/-/standin`` answers a JSON report (mounts read-only? journal readable? secret in the
environment? starts on this storage volume, what was sent); requests carry ``X-Quadstats-Standin: 1``
and ``X-Quadstats-Standin-Starts: N``. Everything else Alloy does (WAL, clustering, UI, other components,
other node_exporter collectors) is not here.
"""

from __future__ import annotations

import base64
import errno
import functools
import importlib.util
import json
import math
import os
import re
import signal
import socket
import ssl
import sys
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

BANNER = "alloy STAND-IN (quadstats test harness): not Grafana Alloy"
JOURNAL_DIRS = ("/var/log/journal", "/run/log/journal")
WRITERS = ("prometheus.remote_write", "loki.write")
# The backend's protobuf definitions: in the image next to Python's packages, in the repository where they live.
WIRE_PROTO_IN_IMAGE = Path("/usr/lib/python3/dist-packages/quadstats_backend_proto.py")
WIRE_PROTO_IN_REPO = ("services", "backend", "ingest", "proto.py")
USER_AGENT = "alloy-standin (quadstats test harness; not Grafana Alloy)"
REMOTE_WRITE_HEADERS = {
    "Content-Type": "application/x-protobuf",
    "Content-Encoding": "snappy",
    "X-Prometheus-Remote-Write-Version": "0.1.0",
}
MAX_SAMPLES_PER_SEND = 2000  # Alloy's queue_config default
JOURNAL_BATCH_ENTRIES = 1000
BATCH_WAIT = 1.0  # seconds; loki.write's batch_wait default
MAX_RETRIES = 10  # Alloy's max_backoff_retries default (min 500 ms, doubling)
UNIX_PATH = "/api/v0/component/{component}/metrics"
# node_exporter's default exclusions (collector/filesystem_linux.go).
FS_MOUNT_EXCLUDE = re.compile(
    r"^/(dev|proc|run/credentials/.+|sys|var/lib/docker/.+|var/lib/containers/storage/.+)($|/)"
)
FS_TYPE_EXCLUDE = re.compile(
    r"^(autofs|binfmt_misc|bpf|cgroup2?|configfs|debugfs|devpts|devtmpfs|fusectl|hugetlbfs|iso9660|mqueue|nsfs|"
    r"overlay|proc|procfs|pstore|rpc_pipefs|securityfs|selinuxfs|squashfs|erofs|sysfs|tracefs)$"
)
CPU_MODES = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")
USER_HZ = 100
PRIORITY_KEYWORDS = ("emerg", "alert", "crit", "error", "warning", "notice", "info", "debug")


def log(msg: str) -> None:
    print(f"[alloy-standin] {msg}", flush=True)


# ---------------------------------------------------------------------------------------------------------
# Alloy syntax: blocks, attributes, strings, numbers, bools, lists, objects, references, calls
# ---------------------------------------------------------------------------------------------------------
STRING = r'"(?:[^"\\]|\\.)*"'
TOKEN = re.compile(
    rf"(?P<space>\s+)|(?P<comment>//[^\n]*|/\*.*?\*/)|(?P<string>{STRING})|(?P<number>-?\d+(?:\.\d+)?)"
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_]*)|(?P<punct>[{}\[\]=,().])",
    re.DOTALL,
)


class Ref(str):
    """A reference such as ``prometheus.remote_write.default.receiver``."""


class Block(dict):
    """``name "label" { ... }``: ``self.name``, ``self.label``, attributes as items, ``self.blocks``."""

    def __init__(self, name: str, label: str | None) -> None:
        super().__init__()
        self.name, self.label, self.blocks = name, label, []

    @property
    def component(self) -> str:
        return f"{self.name}.{self.label}" if self.label is not None else self.name

    def block(self, name: str) -> Block | None:
        return next((b for b in self.blocks if b.name == name), None)


def tokenize(text: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    while pos < len(text):
        m = TOKEN.match(text, pos)
        if not m:
            raise ValueError(f"config: cannot read near {text[pos : pos + 30]!r}")
        pos = m.end()
        if m.lastgroup not in ("space", "comment"):
            out.append((m.lastgroup, m.group()))
    return out


class Parser:
    def __init__(self, text: str) -> None:
        self.tokens, self.i = tokenize(text), 0

    def peek(self, ahead: int = 0) -> tuple[str, str]:
        j = self.i + ahead
        return self.tokens[j] if j < len(self.tokens) else ("end", "")

    def take(self, value: str | None = None) -> tuple[str, str]:
        tok = self.peek()
        if value is not None and tok[1] != value:
            raise ValueError(f"config: expected {value!r}, found {tok[1]!r}")
        self.i += 1
        return tok

    def dotted(self) -> str:
        parts = [self.take()[1]]
        while self.peek()[1] == "." and self.peek(1)[0] == "name":
            self.take(".")
            parts.append(self.take()[1])
        return ".".join(parts)

    def body(self, block: Block, closing: str) -> Block:
        while self.peek()[1] != closing:
            if self.peek()[0] != "name":
                raise ValueError(f"config: unexpected {self.peek()[1]!r}")
            if self.peek(1)[1] == "=":
                name = self.take()[1]
                self.take("=")
                block[name] = self.expr()
                continue
            name = self.dotted()
            label = json.loads(self.take()[1]) if self.peek()[0] == "string" else None
            self.take("{")
            block.blocks.append(self.body(Block(name, label), "}"))
            self.take("}")
        return block

    def expr(self):  # noqa: PLR0911 - one return per kind of expression
        kind, value = self.peek()
        if kind == "string":
            self.take()
            return json.loads(value)
        if kind == "number":
            self.take()
            return float(value) if "." in value else int(value)
        if value == "[":
            self.take()
            items = []
            while self.peek()[1] != "]":
                items.append(self.expr())
                if self.peek()[1] == ",":
                    self.take()
            self.take("]")
            return items
        if value == "{":
            self.take()
            obj = {}
            while self.peek()[1] != "}":
                key = self.take()
                obj[json.loads(key[1]) if key[0] == "string" else key[1]] = (self.take("="), self.expr())[1]
                if self.peek()[1] == ",":
                    self.take()
            self.take("}")
            return obj
        if kind == "name":
            if value in ("true", "false", "null"):
                self.take()
                return {"true": True, "false": False, "null": None}[value]
            name = self.dotted()
            if self.peek()[1] == "(":
                self.take()
                args = []
                while self.peek()[1] != ")":
                    args.append(self.expr())
                    if self.peek()[1] == ",":
                        self.take()
                self.take(")")
                return call(name, args)
            return socket.gethostname() if name == "constants.hostname" else Ref(name)
        raise ValueError(f"config: unexpected {value!r}")


def call(name: str, args: list):
    if name == "sys.env":
        return os.environ.get(args[0], "")
    raise ValueError(f"config: the stand-in does not implement the function {name}()")


def parse_config(text: str) -> Block:
    parser = Parser(text)
    root = parser.body(Block("", None), "")
    return root


def endpoints(config: str | Block) -> list[dict]:
    """Every writer endpoint: component, url, username, password_file, ca_file, insecure_skip_verify."""
    root = parse_config(config) if isinstance(config, str) else config
    found = []
    for block in root.blocks:
        if block.name not in WRITERS:
            continue
        for ep in (b for b in block.blocks if b.name == "endpoint"):
            auth = ep.block("basic_auth") or {}
            tls = ep.block("tls_config") or {}
            found.append(
                {
                    "component": block.component,
                    "url": ep.get("url"),
                    "username": auth.get("username"),
                    "password_file": auth.get("password_file"),
                    "ca_file": tls.get("ca_file"),
                    "insecure_skip_verify": bool(tls.get("insecure_skip_verify", False)),
                }
            )
    return found


def duration(text: str) -> float:
    """Go duration ("60s", "5m", "1h30m", "500ms") in seconds."""
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)", text)
    if not parts or "".join(a + b for a, b in parts) != text:
        raise ValueError(f"config: {text!r} is not a duration")
    unit = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
    return sum(float(a) * unit[b] for a, b in parts)


# ---------------------------------------------------------------------------------------------------------
# Relabelling (Prometheus semantics for the actions the role uses)
# ---------------------------------------------------------------------------------------------------------
def relabel(labels: dict[str, str], rules: list[dict]) -> dict[str, str] | None:
    """Apply ``rules``; None when a keep/drop rule drops the set."""
    labels = dict(labels)
    for rule in rules:
        value = rule.get("separator", ";").join(labels.get(name, "") for name in rule.get("source_labels", []))
        regex = re.compile(f"^(?:{rule.get('regex', '(.*)')})$")
        match = regex.match(value)
        action = rule.get("action", "replace")
        if (action == "keep" and not match) or (action == "drop" and match):
            return None
        if action == "replace" and match and rule.get("target_label"):
            template = re.sub(r"\$\{?(\d+)\}?", r"\\g<\1>", rule.get("replacement", "$1"))
            result = match.expand(template)
            if result:
                labels[rule["target_label"]] = result
            else:
                labels.pop(rule["target_label"], None)
        elif action not in ("replace", "keep", "drop"):
            raise ValueError(f"config: the stand-in does not implement relabel action {action!r}")
    return labels


def rules_of(block: Block | None) -> list[dict]:
    return [dict(rule) for rule in (block.blocks if block else []) if rule.name == "rule"]


# ---------------------------------------------------------------------------------------------------------
# prometheus.exporter.unix: a few node_exporter series from the mounted host paths
# ---------------------------------------------------------------------------------------------------------
def label_text(labels: dict[str, str]) -> str:
    def esc(v: str) -> str:
        return v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")

    return ", ".join(f'{k}="{esc(v)}"' for k, v in labels.items())


def unescape_mount(path: str) -> str:
    """mountinfo escapes space, tab, newline and backslash as octal."""
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), path)


def mounts(procfs: str) -> list[tuple[str, str, str]]:
    """(device, fstype, mountpoint) of the host's mounts, from PID 1's mountinfo, node_exporter's exclusions applied."""
    out = []
    with open(os.path.join(procfs, "1", "mountinfo")) as fh:
        for line in fh:
            left, _sep, right = line.partition(" - ")
            mountpoint = unescape_mount(left.split()[4])
            fstype, device = right.split()[:2]
            if FS_MOUNT_EXCLUDE.match(mountpoint) or FS_TYPE_EXCLUDE.match(fstype):
                continue
            out.append((unescape_mount(device), fstype, mountpoint))
    return out


def node_samples(procfs: str, rootfs: str) -> list[tuple[str, dict[str, str], float]]:
    """The node_exporter samples the stand-in implements: (name, labels, value)."""
    out: list[tuple[str, dict[str, str], float]] = []
    seen = set()
    for device, fstype, mountpoint in mounts(procfs):
        if mountpoint in seen:
            continue
        try:
            st = os.statvfs(rootfs.rstrip("/") + mountpoint)
        except OSError:
            continue  # node_exporter: node_filesystem_device_error 1, no size
        seen.add(mountpoint)
        labels = {"device": device, "fstype": fstype, "mountpoint": mountpoint}
        out.append(("node_filesystem_size_bytes", labels, float(st.f_blocks * st.f_frsize)))
        out.append(("node_filesystem_avail_bytes", labels, float(st.f_bavail * st.f_frsize)))
    with open(os.path.join(procfs, "loadavg")) as fh:
        loads = fh.read().split()[:3]
    for name, value in zip(("node_load1", "node_load5", "node_load15"), loads, strict=True):
        out.append((name, {}, float(value)))
    with open(os.path.join(procfs, "meminfo")) as fh:
        meminfo = dict(line.split(":", 1) for line in fh if ":" in line)
    for key in ("MemTotal", "MemAvailable"):
        if key in meminfo:
            out.append((f"node_memory_{key}_bytes", {}, float(meminfo[key].split()[0]) * 1024))
    with open(os.path.join(procfs, "stat")) as fh:
        for line in fh:
            fields = line.split()
            if fields and fields[0] == "btime":
                out.append(("node_boot_time_seconds", {}, float(fields[1])))
            if fields and re.fullmatch(r"cpu\d+", fields[0]):
                for mode, ticks in zip(CPU_MODES, fields[1:], strict=False):
                    out.append(("node_cpu_seconds_total", {"cpu": fields[0][3:], "mode": mode}, int(ticks) / USER_HZ))
    return out


NODE_TYPES = {"node_cpu_seconds_total": "counter"}


def exposition(samples: list[tuple[str, dict[str, str], float]]) -> str:
    """Prometheus text format, each family's samples together under its TYPE line."""
    families: dict[str, list[str]] = {}
    for name, labels, value in samples:
        lines = families.setdefault(name, [f"# TYPE {name} {NODE_TYPES.get(name, 'gauge')}"])
        lines.append(f"{name}{{{label_text(labels)}}} {value!r}" if labels else f"{name} {value!r}")
    return "\n".join(line for lines in families.values() for line in lines) + "\n"


def parse_exposition(text: str) -> list[tuple[str, dict[str, str], float]]:
    from prometheus_client.parser import text_string_to_metric_families  # noqa: PLC0415 - image package

    return [(s.name, dict(s.labels), float(s.value)) for f in text_string_to_metric_families(text) for s in f.samples]


# ---------------------------------------------------------------------------------------------------------
# Wire formats (the backend's protobuf definitions) and HTTP
# ---------------------------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=1)
def wire_messages() -> dict[str, type]:
    here = Path(__file__).resolve()
    path = WIRE_PROTO_IN_IMAGE if WIRE_PROTO_IN_IMAGE.exists() else here.parents[3].joinpath(*WIRE_PROTO_IN_REPO)
    spec = importlib.util.spec_from_file_location("quadstats_backend_proto", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.messages(lenient=False)


def write_request(series: list[tuple[dict[str, str], float, int]]) -> bytes:
    """WriteRequest bytes of (labels incl. __name__, value, timestamp ms); labels sorted as Prometheus sends them."""
    msg = wire_messages()["WriteRequest"]()
    for labels, value, millis in series:
        ts = msg.timeseries.add()
        for name in sorted(labels):
            ts.labels.add(name=name, value=labels[name])
        ts.samples.add(value=value, timestamp=millis)
    return msg.SerializeToString()


def push_request(entries: list[tuple[dict[str, str], int, str]]) -> bytes:
    """PushRequest bytes of (labels, unix ns, line), one stream per label set, entries in order."""
    msg = wire_messages()["PushRequest"]()
    streams = {}
    for labels, nanos, line in entries:
        key = "{" + label_text(dict(sorted(labels.items()))) + "}"
        if key not in streams:
            streams[key] = msg.streams.add(labels=key)
        entry = streams[key].entries.add(line=line)
        entry.timestamp.seconds, entry.timestamp.nanos = divmod(nanos, 1_000_000_000)
    return msg.SerializeToString()


def tls_context(url: str, ca_file: str | None = None, insecure: bool = False) -> ssl.SSLContext | None:
    """As Alloy: verified against ``tls_config.ca_file`` when given, else the image's system CAs; never
    unverified unless the config says ``insecure_skip_verify = true``."""
    if not url.startswith("https://"):
        return None
    if insecure:
        return ssl._create_unverified_context()  # noqa: S323 - the config asked for it explicitly
    return ssl.create_default_context(cafile=ca_file or None)


class Sender:
    """One writer endpoint: POSTs with its headers, basic auth from the password file, Alloy's retry rules."""

    def __init__(self, endpoint: dict, starts: int, stats: dict) -> None:
        self.endpoint, self.starts, self.stats = endpoint, starts, stats
        url = str(endpoint["url"])
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"{endpoint['component']}: url {url!r} is not http(s)")
        self.context = tls_context(url, endpoint["ca_file"], endpoint["insecure_skip_verify"])
        if url.startswith("https://") and endpoint["insecure_skip_verify"]:
            log(f"{endpoint['component']}: NOT verifying the TLS certificate of {url} (insecure_skip_verify)")

    def headers(self, extra: dict[str, str]) -> dict[str, str]:
        headers = {"User-Agent": USER_AGENT, "X-Quadstats-Standin": "1", "X-Quadstats-Standin-Starts": str(self.starts)}
        headers.update(extra)
        if self.endpoint["password_file"]:
            with open(self.endpoint["password_file"]) as fh:
                secret = fh.read().strip()
            token = base64.b64encode(f"{self.endpoint['username'] or ''}:{secret}".encode()).decode()
            headers["Authorization"] = f"Basic {token}"
        return headers

    def send(self, body: bytes, headers: dict[str, str]) -> bool:
        """True when accepted; False when dropped (4xx other than 429, or retries used up)."""
        import snappy  # noqa: PLC0415 - image package

        data = snappy.compress(body)
        delay, component = 0.5, self.endpoint["component"]
        for attempt in range(MAX_RETRIES + 1):
            request = urllib.request.Request(  # noqa: S310 - http(s) checked in __init__
                self.endpoint["url"], data=data, headers=self.headers(headers), method="POST"
            )
            try:
                with urllib.request.urlopen(request, timeout=30, context=self.context) as response:  # noqa: S310
                    self.stats["last_status"] = response.status
                    self.stats["requests_ok"] = self.stats.get("requests_ok", 0) + 1
                    return True
            except urllib.error.HTTPError as exc:
                self.stats["last_status"] = exc.code
                detail = exc.read()[:300].decode(errors="replace")
                if exc.code != 429 and 400 <= exc.code < 500:
                    self.stats["dropped"] = self.stats.get("dropped", 0) + 1
                    log(f"{component}: {exc.code}, batch dropped (not retried): {detail}")
                    return False
                log(f"{component}: {exc.code}, retry {attempt + 1}: {detail}")
            except OSError as exc:
                self.stats["last_status"] = f"error: {exc}"
                log(f"{component}: POST {self.endpoint['url']} failed, retry {attempt + 1}: {exc}")
            time.sleep(delay)
            delay = min(delay * 2, 300.0)
        self.stats["dropped"] = self.stats.get("dropped", 0) + 1
        log(f"{component}: retries used up, batch dropped")
        return False


# ---------------------------------------------------------------------------------------------------------
# Components
# ---------------------------------------------------------------------------------------------------------
class Pipelines:
    """The component graph of one config, evaluated the way Alloy wires it (only the parts the role uses)."""

    def __init__(self, root: Block, listen: str, storage: str, starts: int) -> None:
        self.components = {b.component: b for b in root.blocks}
        self.listen, self.storage, self.starts = listen, storage, starts
        self.stats: dict = {"scrape": {}, "journal": {}}  # plus one entry per writer component
        self.sd_cache: dict[str, tuple[float, list]] = {}
        self.senders: dict[str, list[Sender]] = {}
        for ep in endpoints(root):
            stats = self.stats.setdefault(ep["component"], {})
            self.senders.setdefault(ep["component"], []).append(Sender(ep, starts, stats))

    def of(self, kind: str) -> list[Block]:
        return [b for b in self.components.values() if b.name == kind]

    def receivers(self, forward_to: list) -> list[Sender]:
        """Senders of ``[prometheus.remote_write.x.receiver, ...]`` (the role forwards straight to the writers)."""
        out = []
        for ref in forward_to or []:
            component = str(ref).removesuffix(".receiver")
            out.extend(self.senders.get(component, []))
        return out

    # -- targets ------------------------------------------------------------------------------------------
    def targets(self, value) -> list[dict[str, str]]:
        if isinstance(value, list):
            return [{k: str(v) for k, v in t.items()} for t in value]
        ref = str(value)
        if ref.startswith("prometheus.exporter.unix.") and ref.endswith(".targets"):
            component = ref.removesuffix(".targets")
            port = self.listen.rsplit(":", 1)[1]
            return [
                {
                    "__address__": f"127.0.0.1:{port}",
                    "__metrics_path__": UNIX_PATH.format(component=component),
                    "instance": socket.gethostname(),
                    "job": "integrations/unix",
                }
            ]
        if ref.startswith("discovery.relabel.") and ref.endswith(".output"):
            block = self.components[ref.removesuffix(".output")]
            out = (relabel(t, rules_of(block)) for t in self.targets(block["targets"]))
            return [t for t in out if t is not None]
        if ref.startswith("discovery.http.") and ref.endswith(".targets"):
            return self.http_sd(self.components[ref.removesuffix(".targets")])
        raise ValueError(f"config: the stand-in cannot evaluate targets = {ref}")

    def http_sd(self, block: Block) -> list[dict[str, str]]:
        url = block["url"]
        refresh = duration(block.get("refresh_interval", "60s"))
        cached = self.sd_cache.get(url)
        if cached and time.monotonic() - cached[0] < refresh:
            return cached[1]
        tls = block.block("tls_config") or {}
        context = tls_context(url, tls.get("ca_file"), bool(tls.get("insecure_skip_verify", False)))
        try:
            with urllib.request.urlopen(url, timeout=10, context=context) as response:  # noqa: S310
                groups = json.loads(response.read())
        except (OSError, ValueError) as exc:
            log(f"{block.component}: {url}: {exc}")
            return cached[1] if cached else []
        targets = [
            {"__address__": t, **{k: str(v) for k, v in (g.get("labels") or {}).items()}, "__meta_url": url}
            for g in groups
            for t in g.get("targets", [])
        ]
        self.sd_cache[url] = (time.monotonic(), targets)
        return targets

    # -- prometheus.scrape ----------------------------------------------------------------------------------
    def scrape_target(self, component: str, target: dict[str, str], now_ms: int) -> list[tuple[dict, float, int]]:
        labels = {k: v for k, v in target.items() if not k.startswith("__")}
        labels.setdefault("instance", target["__address__"])
        labels.setdefault("job", component)
        url = (
            f"{target.get('__scheme__', 'http')}://{target['__address__']}{target.get('__metrics_path__', '/metrics')}"
        )
        start = time.monotonic()
        try:
            with urllib.request.urlopen(url, timeout=10, context=tls_context(url)) as response:  # noqa: S310
                scraped = parse_exposition(response.read().decode())
            up = 1.0
        except (OSError, ValueError) as exc:
            scraped, up = [], 0.0
            self.stats["scrape"][f"{component} {url}"] = f"down: {exc}"
        took = time.monotonic() - start
        series = []
        for name, sample_labels, value in scraped:
            merged = {}
            for key, val in sample_labels.items():
                if val:  # an empty value is no label: Alloy's scrape drops it (remote write forbids empty values)
                    merged[f"exported_{key}" if key in labels else key] = val
            series.append(({**merged, **labels, "__name__": name}, value, now_ms))
        for name, value in (("up", up), ("scrape_duration_seconds", took), ("scrape_samples_scraped", len(scraped))):
            series.append(({**labels, "__name__": name}, float(value), now_ms))
        if up:
            self.stats["scrape"][f"{component} {url}"] = f"up: {len(scraped)} samples"
        return series

    def scrape_loop(self, block: Block) -> None:
        interval = duration(block.get("scrape_interval", "60s"))
        senders = self.receivers(block.get("forward_to"))
        while True:
            began = time.monotonic()
            now_ms = int(time.time() * 1000)
            series = []
            for target in self.targets(block["targets"]):
                series.extend(self.scrape_target(block.component, target, now_ms))
            for sender in senders:
                external = self.components[sender.endpoint["component"]].get("external_labels") or {}
                batch = [({**external, **labels}, value, ms) for labels, value, ms in series if math.isfinite(value)]
                for i in range(0, len(batch), MAX_SAMPLES_PER_SEND):
                    if sender.send(write_request(batch[i : i + MAX_SAMPLES_PER_SEND]), REMOTE_WRITE_HEADERS):
                        sender.stats["samples_sent"] = sender.stats.get("samples_sent", 0) + len(
                            batch[i : i + MAX_SAMPLES_PER_SEND]
                        )
            time.sleep(max(0.0, interval - (time.monotonic() - began)))

    # -- loki.source.journal --------------------------------------------------------------------------------
    def journal_loop(self, block: Block) -> None:
        from systemd import journal  # noqa: PLC0415 - image package

        class RawReader(journal.Reader):
            def _convert_field(self, key, value):  # every field as text, as Alloy sees them
                return value.decode("utf-8", errors="replace") if isinstance(value, bytes) else value

        stats = self.stats["journal"]
        rules = rules_of(self.components.get(str(block.get("relabel_rules", "")).removesuffix(".rules")))
        constant = {k: str(v) for k, v in (block.get("labels") or {}).items()}
        senders = self.receivers(block.get("forward_to"))
        position = os.path.join(self.storage, f"standin-journal-cursor.{block.label}")
        reader = RawReader(path=block["path"]) if block.get("path") else RawReader()
        cursor = Path(position).read_text().strip() if os.path.exists(position) else ""
        if cursor:
            reader.seek_cursor(cursor)
            entry = reader.get_next()
            if entry and not reader.test_cursor(cursor):
                reader.get_previous()  # the saved entry is gone: start with the next one
            stats["resumed_from_cursor"] = True
        else:
            reader.seek_realtime(int((time.time() - duration(block.get("max_age", "7h"))) * 1_000_000))
            stats["resumed_from_cursor"] = False
        stats.update(entries_sent=0, entries_dropped=0, oldest_sent_realtime_us=None)
        while True:
            batch, last_cursor, began = [], None, 0.0
            while len(batch) < JOURNAL_BATCH_ENTRIES:
                entry = reader.get_next()
                if not entry:
                    left = BATCH_WAIT - (time.monotonic() - began)
                    if last_cursor is not None and left <= 0:
                        break
                    reader.wait(left if last_cursor is not None else 1.0)
                    continue
                if last_cursor is None:
                    began = time.monotonic()
                last_cursor = entry["__CURSOR"]
                made = journal_entry(entry, rules, constant)
                if made:
                    batch.append(made)
            if batch:
                body = push_request(batch)
                # every sender gets the batch (no short cut after a refusal), as Alloy's fan-out does
                results = [s.send(body, {"Content-Type": "application/x-protobuf"}) for s in senders]
                accepted = all(results)
                stats["entries_sent" if accepted else "entries_dropped"] += len(batch)
                oldest = min(nanos for _labels, nanos, _line in batch) // 1000
                if accepted and (stats["oldest_sent_realtime_us"] is None or oldest < stats["oldest_sent_realtime_us"]):
                    stats["oldest_sent_realtime_us"] = oldest
            tmp = position + ".tmp"
            Path(tmp).write_text(last_cursor + "\n")
            os.replace(tmp, position)


def journal_entry(entry: dict, rules: list[dict], constant: dict[str, str]) -> tuple[dict, int, str] | None:
    """(labels, unix ns, line) of a journal entry as loki.source.journal makes it; None when no label is left."""
    labels = dict(constant)
    for field, value in entry.items():
        if field.startswith("__") or isinstance(value, (bytes, bytearray)):
            continue
        labels[f"__journal_{field.lower()}"] = str(value[-1] if isinstance(value, list) else value)
    priority = str(entry.get("PRIORITY", ""))
    if priority.isdigit() and int(priority) < len(PRIORITY_KEYWORDS):
        labels["__journal_priority_keyword"] = PRIORITY_KEYWORDS[int(priority)]
    labels = relabel(labels, rules)
    if labels is None:
        return None
    labels = {k: v for k, v in labels.items() if not k.startswith("__") and v}
    if not labels:
        return None
    message = entry.get("MESSAGE", "")
    message = message[-1] if isinstance(message, list) else message
    return labels, int(entry["__REALTIME_TIMESTAMP"]) * 1000, str(message)


# ---------------------------------------------------------------------------------------------------------
# The stand-in's own checks and HTTP server
# ---------------------------------------------------------------------------------------------------------
def read_only(path: str) -> str:
    """'read-only' when writing below/at ``path`` fails with EROFS/EACCES/EPERM, else what happened."""
    target = os.path.join(path, ".alloy-standin-write-test") if os.path.isdir(path) else path
    try:
        with open(target, "a"):
            pass
    except OSError as exc:
        return "read-only" if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM) else f"error {exc.errno}"
    if os.path.isdir(path):
        os.unlink(target)
    return "WRITABLE"


def journal_access() -> str:
    """'readable' when a journal file can be read, 'denied' when one exists but cannot, 'absent' otherwise."""
    seen_denied = False
    for top in JOURNAL_DIRS:
        for root, _dirs, names in os.walk(top):
            for name in names:
                if name.endswith(".journal"):
                    try:
                        with open(os.path.join(root, name), "rb") as fh:
                            fh.read(8)
                        return "readable"
                    except OSError:
                        seen_denied = True
    return "denied" if seen_denied else "absent"


def count_start(storage: str) -> int:
    os.makedirs(storage, exist_ok=True)
    path = os.path.join(storage, "standin-starts")
    with open(path, "a") as fh:
        fh.write(f"{time.time():.0f}\n")
    with open(path) as fh:
        return len(fh.read().splitlines())


def credentials_report(found: list[dict]) -> dict:
    """Per password file: mounted read-only? the secret anywhere in the environment?"""
    out = {}
    for ep in found:
        path = ep["password_file"]
        if not path or path in out:
            continue
        with open(path) as fh:
            secret = fh.read().strip()
        in_env = bool(secret) and any(secret in v for v in os.environ.values())
        out[path] = {"mount": read_only(path), "in_environment": in_env}
    return out


def make_handler(state: dict):
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            ctype = "text/plain"
            if self.path == "/-/ready":
                ok = state["ready"].is_set()
                status, text = (200, "Alloy stand-in is ready.\n") if ok else (503, "Alloy stand-in is not ready.\n")
            elif self.path == "/-/healthy":
                status, text = 200, "Alloy stand-in is healthy.\n"
            elif self.path == "/-/standin":
                status, text, ctype = 200, json.dumps(state["report"], default=str), "application/json"
            elif self.path in state["unix"]:
                procfs, rootfs = state["unix"][self.path]
                status, text = 200, exposition(node_samples(procfs, rootfs))
            elif self.path == "/metrics":
                status, text = 200, self_metrics(state["report"])
            else:
                status, text = 200, BANNER + "\n"
            data = text.encode()
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args) -> None:
            pass

    return Handler


def self_metrics(report: dict) -> str:
    """The stand-in's own /metrics (named alloy_standin_*, not Alloy's metric names)."""
    samples = [("alloy_standin_starts", {}, float(report["starts"]))]
    for component, stats in report["stats"].items():
        if isinstance(stats, dict) and "requests_ok" in stats:
            samples.append(("alloy_standin_requests_ok_total", {"component": component}, float(stats["requests_ok"])))
    samples.append(
        ("alloy_standin_journal_entries_sent_total", {}, float(report["stats"]["journal"].get("entries_sent", 0)))
    )
    return exposition(samples)


def main(argv: list[str]) -> int:
    log(BANNER)
    if not argv or argv[0] != "run" or len(argv) < 2:
        log("usage: alloy run CONFIG [--server.http.listen-addr=HOST:PORT] [--storage.path=DIR]")
        return 2
    config_path = argv[1]
    flags = dict(arg[2:].split("=", 1) for arg in argv[2:] if arg.startswith("--") and "=" in arg)
    listen = flags.get("server.http.listen-addr", "127.0.0.1:12345")
    storage = flags.get("storage.path", "/var/lib/alloy/data")
    signal.signal(signal.SIGTERM, lambda *_args: sys.exit(0))

    with open(config_path) as fh:
        root = parse_config(fh.read())
    starts = count_start(storage)
    pipelines = Pipelines(root, listen, storage, starts)
    found = endpoints(root)
    state = {
        "ready": threading.Event(),
        "unix": {
            UNIX_PATH.format(component=b.component): (b.get("procfs_path", "/proc"), b.get("rootfs_path", "/"))
            for b in pipelines.of("prometheus.exporter.unix")
        },
        "report": {
            "standin": BANNER,
            "config_path": config_path,
            "starts": starts,
            "endpoints": [{k: e[k] for k in ("component", "url", "username")} for e in found],
            "journal": journal_access(),
            "host_root": read_only("/host/root"),
            "host_proc_readable": os.access("/host/proc/stat", os.R_OK),
            "host_sys_readable": os.path.isdir("/host/sys/kernel"),
            "credentials": credentials_report(found),
            "uid": os.getuid(),
            "groups": os.getgroups(),
            "stats": pipelines.stats,
        },
    }
    host, port = listen.rsplit(":", 1)
    server = ThreadingHTTPServer((host, int(port)), make_handler(state))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    log(f"read {config_path}: {len(found)} endpoint(s); serving on {listen}")

    loops = [(pipelines.scrape_loop, b) for b in pipelines.of("prometheus.scrape")]
    loops += [(pipelines.journal_loop, b) for b in pipelines.of("loki.source.journal")]
    for target, block in loops:
        threading.Thread(target=guarded, args=(target, block), daemon=True, name=block.component).start()
    state["ready"].set()
    log(f"ready: {', '.join(b.component for _t, b in loops)}")
    while True:
        time.sleep(3600)


def guarded(loop, block: Block) -> None:
    """A component that fails is logged and restarted after a pause (Alloy reports it unhealthy)."""
    while True:
        try:
            loop(block)
        except Exception as exc:  # keep the other components running
            log(f"{block.component} failed: {type(exc).__name__}: {exc}; restarting in 5 s")
            time.sleep(5)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
