# Copyright: quadstats.stack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The OneFS exporter's configuration: one YAML file validated at start (stdlib + PyYAML).

Every wrong setting gives one ``setting <path>: <problem>`` line; unknown settings are errors, so a
typo never goes unnoticed. Passwords and tokens are files (``*_file``), read at start and at each
reload. docs/onefs.md ("The exporter") lists every setting.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ansible_collections.quadstats.stack.plugins.module_utils.onefs import groups as builtin_groups
from ansible_collections.quadstats.stack.plugins.module_utils.onefs.quotas import DEFAULT_QUOTA_TYPES, QUOTA_TYPES
from ansible_collections.quadstats.stack.plugins.module_utils.onefs.summary import SUMMARY_KINDS
from ansible_collections.quadstats.stack.services.common.config import ConfigError, load_yaml_file, read_secret_file
from ansible_collections.quadstats.stack.services.common.logs import LEVELS

DEFAULT_CONFIG = "/etc/quadstats/onefs_exporter.yml"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_INTERVAL = re.compile(r"^\*(\d*)$")


@dataclass(frozen=True)
class Interval:
    """A stat group's update interval: fixed ``seconds``, or ``multiplier`` x each key's own interval."""

    seconds: float | None = None
    multiplier: int = 1

    def for_key(self, key_interval, minimum):
        if self.seconds is not None:
            return max(self.seconds, minimum)
        return max(float(key_interval or minimum) * self.multiplier, minimum)

    def spelled(self):
        if self.seconds is not None:
            return self.seconds
        return "*" if self.multiplier == 1 else f"*{self.multiplier}"


@dataclass(frozen=True)
class StatGroup:
    name: str
    keys: tuple
    interval: Interval


@dataclass(frozen=True)
class Cluster:
    name: str
    host: str
    port: int
    auth: str
    username: str
    password_file: str
    ca_file: str | None
    verify: bool
    timeout: float
    retries: int
    prometheus_port: int | None
    cluster_label: str | None
    preserve_case: bool
    stat_groups: tuple  # names; empty: every group
    summary: tuple
    quotas: bool
    password: str = field(repr=False, compare=False, default="")


@dataclass(frozen=True)
class Influx:
    version: int
    url: str
    database: str | None
    username: str | None
    password_file: str | None
    org: str | None
    bucket: str | None
    token_file: str | None
    ca_file: str | None
    verify: bool
    timeout: float
    max_pending_batches: int
    secret: str = field(repr=False, compare=False, default="")


@dataclass(frozen=True)
class Config:
    clusters: tuple
    stat_groups: dict
    min_update_interval: float
    expiry_multiplier: float
    include_degraded: bool
    summary_interval: float
    quota_interval: float
    quota_types: tuple
    refresh_interval: float
    prometheus_listen: str
    prometheus_port: int | None
    timestamps: bool
    http_sd_enabled: bool
    http_sd_listen: str
    http_sd_port: int | None
    http_sd_target_host: str | None
    influx: Influx | None
    discard: bool
    log_level: str


class _Reader:
    """Collects every problem of a settings mapping, so one run names them all."""

    def __init__(self):
        self.problems = []

    def fail(self, path, message):
        self.problems.append(f"setting {path}: {message}")

    def section(self, data, path, allowed):
        if data is None:
            return {}
        if not isinstance(data, dict):
            self.fail(path, f"must be a mapping, not {type(data).__name__}")
            return {}
        for name in data:
            if name not in allowed:
                self.fail(
                    f"{path}.{name}" if path else str(name), "unknown setting (docs/onefs.md lists every setting)"
                )
        return data

    def str_(self, where, name, default=None, *, required=False, pattern=None, hint=""):
        data, path = where
        value = data.get(name, default)
        if value is None:
            if required:
                self.fail(f"{path}.{name}".lstrip("."), "is required" + (f" ({hint})" if hint else ""))
            return None
        if not isinstance(value, str) or not value.strip():
            self.fail(f"{path}.{name}".lstrip("."), "must be a non-empty string")
            return None
        if pattern is not None and not pattern.match(value):
            self.fail(f"{path}.{name}".lstrip("."), hint or f"{value!r} is not allowed")
        return value

    def bool_(self, where, name, default):
        data, path = where
        value = data.get(name, default)
        if not isinstance(value, bool):
            self.fail(f"{path}.{name}".lstrip("."), f"must be true or false, got {value!r}")
            return default
        return value

    def number(self, where, name, default, bounds, *, integer=False):
        data, path = where
        low, high = bounds
        value = data.get(name, default)
        if value is None:
            return None
        kinds = (int,) if integer else (int, float)
        if isinstance(value, bool) or not isinstance(value, kinds) or not low <= value <= high:
            what = "an integer" if integer else "a number"
            self.fail(f"{path}.{name}".lstrip("."), f"must be {what} from {low} to {high}, got {value!r}")
            return default
        return value

    def choice(self, where, name, default, choices):
        data, path = where
        value = data.get(name, default)
        if value not in choices:
            self.fail(f"{path}.{name}".lstrip("."), f"must be one of {', '.join(map(str, choices))}, got {value!r}")
            return default
        return value


def parse_interval(value):
    """``"*"``, ``"*N"`` (N x each key's own interval) or seconds → :class:`Interval`; ValueError if wrong."""
    if isinstance(value, bool):
        raise ValueError
    if isinstance(value, (int, float)) and value > 0:
        return Interval(seconds=float(value))
    if isinstance(value, str):
        text = value.strip()
        match = _INTERVAL.match(text)
        if match:
            mult = int(match.group(1) or 1)
            if mult >= 1:
                return Interval(multiplier=mult)
        try:
            seconds = float(text)
        except ValueError:
            raise ValueError from None
        if seconds > 0:
            return Interval(seconds=seconds)
    raise ValueError


_GROUP_KEYS = ("name", "keys", "interval")
_CLUSTER_KEYS = (
    "name",
    "host",
    "port",
    "auth",
    "username",
    "password_file",
    "ca_file",
    "verify",
    "timeout",
    "retries",
    "prometheus_port",
    "cluster_label",
    "preserve_case",
    "stat_groups",
    "summary",
    "quotas",
)
_TOP_KEYS = (
    "clusters",
    "stat_groups",
    "min_update_interval",
    "expiry_multiplier",
    "include_degraded",
    "summary_interval",
    "quotas",
    "refresh_interval",
    "sinks",
    "log_level",
)


def _stat_groups(r, data):
    groups = {}
    raw = data.get("stat_groups")
    if raw is None:
        # The 13 stat groups of gostats' example configuration, each at the keys' own interval.
        return {name: StatGroup(name, tuple(keys), Interval()) for name, keys in builtin_groups.GROUPS.items()}
    if not isinstance(raw, list):
        r.fail("stat_groups", "must be a list of {name, keys, interval}")
        return groups
    for index, raw_item in enumerate(raw):
        path = f"stat_groups[{index}]"
        item = r.section(raw_item, path, _GROUP_KEYS)
        name = r.str_((item, path), "name", required=True, pattern=_NAME, hint="letters, digits, '_', '.', '-'")
        keys = item.get("keys")
        if name in builtin_groups.GROUPS and keys is None:
            keys = builtin_groups.GROUPS[name]  # a shipped group by name
        if not isinstance(keys, list) or not keys or not all(isinstance(k, str) and k for k in keys):
            r.fail(f"{path}.keys", "must be a non-empty list of statistics keys (e.g. cluster.cpu.user.avg)")
            keys = []
        try:
            interval = parse_interval(item.get("interval", "*"))
        except ValueError:
            r.fail(
                f"{path}.interval",
                f"must be '*', '*N' (N times each key's own interval) or seconds > 0, got {item.get('interval')!r}",
            )
            interval = Interval()
        if name in groups:
            r.fail(f"{path}.name", f"stat group {name!r} is defined twice")
        if name:
            groups[name] = StatGroup(name, tuple(dict.fromkeys(keys)), interval)
    return groups


def _clusters(r, data, groups, read_secrets):
    raw = data.get("clusters")
    if not isinstance(raw, list) or not raw:
        r.fail("clusters", "must be a non-empty list of clusters (name, host, username, password_file, ...)")
        return ()
    out = []
    names, ports = set(), set()
    for index, raw_item in enumerate(raw):
        path = f"clusters[{index}]"
        item = r.section(raw_item, path, _CLUSTER_KEYS)
        name = r.str_((item, path), "name", required=True, pattern=_NAME, hint="letters, digits, '_', '.', '-'")
        host = r.str_((item, path), "host", required=True)
        if host and ("://" in host or "/" in host):
            r.fail(f"{path}.host", f"a host name or address without scheme or path, got {host!r}")
        username = r.str_((item, path), "username", required=True)
        password_file = r.str_((item, path), "password_file", required=True, hint="a file holding the password")
        prom_port = r.number((item, path), "prometheus_port", None, (1, 65535), integer=True)
        selected = item.get("stat_groups")
        if selected is None:
            selected = []
        elif not isinstance(selected, list) or any(g not in groups for g in selected):
            r.fail(f"{path}.stat_groups", f"must be a list of stat group names from: {', '.join(groups)}")
            selected = []
        summary = item.get("summary") or []
        if not isinstance(summary, list) or any(k not in SUMMARY_KINDS for k in summary):
            r.fail(f"{path}.summary", f"must be a list of: {', '.join(SUMMARY_KINDS)}")
            summary = []
        if name in names:
            r.fail(f"{path}.name", f"cluster name {name!r} is used twice")
        if prom_port is not None and prom_port in ports:
            r.fail(f"{path}.prometheus_port", f"port {prom_port} is used by another cluster")
        names.add(name)
        ports.add(prom_port)
        password = ""
        if password_file and read_secrets:
            try:
                password = read_secret_file(password_file, f"{path}.password_file")
            except ConfigError as exc:
                r.problems.append(str(exc))
        out.append(
            Cluster(
                name=name or "",
                host=host or "",
                port=r.number((item, path), "port", 8080, (1, 65535), integer=True),
                auth=r.choice((item, path), "auth", "session", ("session", "basic")),
                username=username or "",
                password_file=password_file or "",
                ca_file=r.str_((item, path), "ca_file"),
                verify=r.bool_((item, path), "verify", True),
                timeout=float(r.number((item, path), "timeout", 30, (1, 600))),
                retries=r.number((item, path), "retries", 1, (0, 10), integer=True),
                prometheus_port=prom_port,
                cluster_label=r.str_((item, path), "cluster_label"),
                preserve_case=r.bool_((item, path), "preserve_case", False),
                stat_groups=tuple(selected),
                summary=tuple(dict.fromkeys(summary)),
                quotas=r.bool_((item, path), "quotas", False),
                password=password,
            )
        )
    return tuple(out)


def _influx(r, data, read_secrets):
    path = "sinks.influxdb"
    data = r.section(
        data,
        path,
        (
            "version",
            "url",
            "database",
            "username",
            "password_file",
            "org",
            "bucket",
            "token_file",
            "ca_file",
            "verify",
            "timeout",
            "max_pending_batches",
        ),
    )
    version = r.choice((data, path), "version", 1, (1, 2))
    url = r.str_((data, path), "url", required=True, hint="e.g. https://influx.example.com:8086")
    if url and not url.startswith(("http://", "https://")):
        r.fail(f"{path}.url", f"must start with http:// or https://, got {url!r}")
    database = r.str_((data, path), "database", "isi_data_insights" if version == 1 else None)
    org = r.str_((data, path), "org", required=version == 2)
    bucket = r.str_((data, path), "bucket", required=version == 2)
    token_file = r.str_((data, path), "token_file", required=version == 2, hint="a file holding the API token")
    username = r.str_((data, path), "username")
    password_file = r.str_((data, path), "password_file")
    if version == 1 and bool(username) != bool(password_file):
        r.fail(path, "username and password_file go together (InfluxDB v1 basic auth)")
    secret = ""
    secret_file, secret_setting = (token_file, "token_file") if version == 2 else (password_file, "password_file")
    if secret_file and read_secrets:
        try:
            secret = read_secret_file(secret_file, f"{path}.{secret_setting}")
        except ConfigError as exc:
            r.problems.append(str(exc))
    return Influx(
        version=version,
        url=(url or "").rstrip("/"),
        database=database,
        username=username,
        password_file=password_file,
        org=org,
        bucket=bucket,
        token_file=token_file,
        ca_file=r.str_((data, path), "ca_file"),
        verify=r.bool_((data, path), "verify", True),
        timeout=float(r.number((data, path), "timeout", 10, (1, 300))),
        max_pending_batches=r.number((data, path), "max_pending_batches", 1000, (1, 1_000_000), integer=True),
        secret=secret,
    )


def parse_config(data, read_secrets=True):
    """Validate a settings mapping; :class:`ConfigError` lists every wrong setting."""
    r = _Reader()
    data = r.section(data, "", _TOP_KEYS)
    groups = _stat_groups(r, data)
    clusters = _clusters(r, data, groups, read_secrets)
    quotas = r.section(data.get("quotas"), "quotas", ("interval", "types"))
    quota_types = quotas.get("types", list(DEFAULT_QUOTA_TYPES))
    if not isinstance(quota_types, list) or not quota_types or any(t not in QUOTA_TYPES for t in quota_types):
        r.fail("quotas.types", f"must be a list of: {', '.join(QUOTA_TYPES)}")
        quota_types = list(DEFAULT_QUOTA_TYPES)
    sinks = r.section(data.get("sinks"), "sinks", ("prometheus", "http_sd", "influxdb", "discard"))
    prom = r.section(sinks.get("prometheus"), "sinks.prometheus", ("listen_address", "port", "timestamps"))
    sd = r.section(sinks.get("http_sd"), "sinks.http_sd", ("enabled", "listen_address", "port", "target_host"))
    influx = _influx(r, sinks["influxdb"], read_secrets) if sinks.get("influxdb") is not None else None
    sd_enabled = r.bool_((sd, "sinks.http_sd"), "enabled", bool(sd))
    sd_port = r.number((sd, "sinks.http_sd"), "port", 9999 if sd_enabled else None, (1, 65535), integer=True)
    prom_port = r.number((prom, "sinks.prometheus"), "port", None, (1, 65535), integer=True)
    discard = sinks.get("discard") is not None
    if sd_enabled and prom_port is None and not any(c.prometheus_port for c in clusters):
        r.fail("sinks.http_sd", "lists Prometheus endpoints: set sinks.prometheus.port or clusters[].prometheus_port")
    if not (prom_port or any(c.prometheus_port for c in clusters) or influx or discard):
        r.fail("sinks", "configure at least one sink: prometheus.port, clusters[].prometheus_port, influxdb or discard")
    used = [p for p in [prom_port, sd_port if sd_enabled else None] + [c.prometheus_port for c in clusters] if p]
    if len(used) != len(set(used)):
        r.fail("sinks", f"listener ports must differ, got {sorted(used)}")
    config = Config(
        clusters=clusters,
        stat_groups=groups,
        min_update_interval=float(r.number((data, ""), "min_update_interval", 5, (1, 86400))),
        expiry_multiplier=float(r.number((data, ""), "expiry_multiplier", 2, (1, 100))),
        include_degraded=r.bool_((data, ""), "include_degraded", False),
        summary_interval=float(r.number((data, ""), "summary_interval", 5, (1, 86400))),
        quota_interval=float(r.number((quotas, "quotas"), "interval", 300, (10, 86400))),
        quota_types=tuple(quota_types),
        refresh_interval=float(r.number((data, ""), "refresh_interval", 300, (10, 86400))),
        prometheus_listen=r.str_((prom, "sinks.prometheus"), "listen_address", "127.0.0.1"),
        prometheus_port=prom_port,
        timestamps=r.bool_((prom, "sinks.prometheus"), "timestamps", True),
        http_sd_enabled=sd_enabled,
        http_sd_listen=r.str_((sd, "sinks.http_sd"), "listen_address", "127.0.0.1"),
        http_sd_port=sd_port,
        http_sd_target_host=r.str_((sd, "sinks.http_sd"), "target_host"),
        influx=influx,
        discard=discard,
        log_level=r.choice((data, ""), "log_level", "info", LEVELS),
    )
    if r.problems:
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(r.problems))
    return config


def load_config(path, read_secrets=True):
    return parse_config(load_yaml_file(path), read_secrets=read_secrets)


def cluster_groups(config, cluster):
    """The stat groups a cluster polls (its own list, or all)."""
    names = cluster.stat_groups or tuple(config.stat_groups)
    return [config.stat_groups[name] for name in names]
