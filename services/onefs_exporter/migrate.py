# Copyright: quadstats.stack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""gostats ``idic.toml`` → the exporter's YAML configuration.

The format is the one of gostats' example configuration (``example_isi_data_insights_d.toml`` in
tenortim/gostats and ``configs/gostats.example.toml`` in Isilon/powerscale_data_insights, read
2026-11-30): ``[global]``, ``[logging]``, ``[influxdb]``, ``[influxdbv2]``, ``[prometheus]``,
``[prom_http_sd]``, ``[[cluster]]``, ``[summary_stats]``, ``[[statgroup]]``.

Passwords and tokens are never copied: each becomes a ``*_file`` path the user fills (the notes say
which). Settings without an equivalent, and settings gostats does not know either, are named in
the notes, never dropped silently.
"""

from __future__ import annotations

import re
import tomllib

import yaml

from ansible_collections.quadstats.stack.services.common.config import ConfigError

CREDENTIALS_DIR = "/run/credentials/onefs_exporter"
# gostats settings this exporter does not carry over, with the reason.
NOT_CARRIED = {
    "global.version": "config file version of gostats; not needed",
    "global.stats_processor_max_retries": "the InfluxDB sink retries 429/5xx and connection errors itself "
    "(bounded queue: sinks.influxdb.max_pending_batches)",
    "global.stats_processor_retry_interval": "the InfluxDB sink retries after min_update_interval",
    "global.fetch_by_statgroup": "always on: one statistics/current request per stat group per cycle",
    "global.stat_timeout": "not sent; the request timeout is clusters[].timeout",
    "global.stat_retries": "transient per-value errors are read again in the next cycle",
    "global.stat_retry_interval": "transient per-value errors are read again in the next cycle",
    "logging.logfile": "the exporter logs to stderr (the journal keeps it)",
    "logging.logfile_format": "the exporter logs text lines to stderr",
    "logging.log_to_stdout": "the exporter logs to stderr",
    "prometheus.authenticated": "listeners bind 127.0.0.1 by default; put a proxy in front for auth",
    "prometheus.username": "no basic auth on the listeners",
    "prometheus.password": "no basic auth on the listeners",
    "prometheus.tls_cert": "no TLS on the listeners; put a proxy in front",
    "prometheus.tls_key": "no TLS on the listeners; put a proxy in front",
    "prometheus.instance_label_name": "not supported; the cluster label is always 'cluster'",
}
KNOWN = {
    "global": {
        "stats_processor",
        "max_retries",
        "min_update_interval_override",
        "preserve_case",
        "include_degraded",
        "active_stat_groups",
    },
    "logging": {"log_level"},
    "influxdb": {"host", "port", "database", "authenticated", "username", "password", "use_ssl", "skip_ssl_verify"},
    "influxdbv2": {"host", "port", "org", "bucket", "access_token", "use_ssl", "skip_ssl_verify"},
    "prometheus": {"expiry_multiplier"},
    "prom_http_sd": {"enabled", "listen_addr", "sd_port"},
    "summary_stats": {"protocol", "client", "drive"},
}
CLUSTER_KEYS = {"hostname", "username", "password", "verify-ssl", "authtype", "disabled", "prometheus_port"}
CLUSTER_KEYS |= {"preserve_case"}
STATGROUP_KEYS = {"name", "update_interval", "stats"}
LOG_LEVELS = {"trace": "debug", "debug": "debug", "info": "info", "notice": "info", "warn": "warning"}
LOG_LEVELS |= {"warning": "warning", "error": "error", "critical": "error"}


def _interval(value):
    text = str(value).strip()
    if re.fullmatch(r"\*\d*", text):
        return "*" if text in ("*", "*1") else text
    try:
        number = float(text)
    except ValueError:
        raise ConfigError(f"statgroup update_interval {value!r} is neither '*', '*N' nor seconds") from None
    return int(number) if number.is_integer() else number


def _cluster_name(hostname, taken):
    base = re.sub(r"[^A-Za-z0-9_.-]", "-", hostname.split(".")[0] if not hostname[0].isdigit() else hostname)
    name, n = base, 2
    while name in taken:
        name, n = f"{base}-{n}", n + 1
    taken.add(name)
    return name


def _secret_note(setting, value, path, what):
    source = ""
    if isinstance(value, str) and value.startswith("$env:"):
        source = f" (gostats read it from the environment variable {value[5:]})"
    return f"{setting}: write the {what}{source} into {path} (mode 0600); it is not copied here"


def _section_notes(doc):
    """Notes for settings of the single sections that are not carried over or unknown."""
    notes = []
    for section, value in doc.items():
        if section in ("cluster", "statgroup"):
            continue
        if section not in KNOWN:
            notes.append(f"unknown setting [{section}]: gostats does not know it either; not carried over")
            continue
        for name in value if isinstance(value, dict) else {}:
            dotted = f"{section}.{name}"
            if dotted in NOT_CARRIED:
                notes.append(f"{dotted} not carried over: {NOT_CARRIED[dotted]}")
            elif name not in KNOWN[section]:
                notes.append(f"unknown setting {dotted}: not carried over")
    return notes


def _stat_groups(doc, glob, notes):
    groups_by_name = {}
    for index, group in enumerate(doc.get("statgroup", [])):
        notes.extend(
            f"unknown setting statgroup[{index}].{name}: not carried over"
            for name in group
            if name not in STATGROUP_KEYS
        )
        groups_by_name[group.get("name")] = group
    active = glob.get("active_stat_groups", list(groups_by_name))
    out = []
    for name in active:
        group = groups_by_name.get(name)
        if group is None:
            notes.append(f"global.active_stat_groups names {name!r}, which has no [[statgroup]]: left out")
            continue
        interval = _interval(group.get("update_interval", "*"))
        out.append({"name": name, "keys": list(group.get("stats", [])), "interval": interval})
    notes.extend(
        f"[[statgroup]] {name!r} is not in active_stat_groups: left out"
        for name in groups_by_name
        if name not in active
    )
    return out


def _cluster(item, index, glob, context, notes):
    """One [[cluster]] → a cluster entry (None when disabled). ``context``: (processor, summary, taken, count)."""
    processor, summary, taken, count = context
    notes.extend(
        f"unknown setting cluster[{index}].{name}: not carried over" for name in item if name not in CLUSTER_KEYS
    )
    hostname = str(item.get("hostname", "")).strip()
    if not hostname:
        raise ConfigError(f"cluster[{index}] has no hostname")
    if item.get("disabled"):
        notes.append(f"cluster[{index}] ({hostname}) is disabled in gostats: left out")
        return None
    name = _cluster_name(hostname, taken)
    path = f"{CREDENTIALS_DIR}/{name}.password"
    entry = {
        "name": name,
        "host": hostname,
        "port": 8080,
        "auth": "basic" if item.get("authtype") == "basic-auth" else "session",
        "username": item.get("username", ""),
        "password_file": path,
        "verify": bool(item.get("verify-ssl", True)),
    }
    if "verify-ssl" not in item:
        notes.append(f"clusters[{count}].verify: gostats' default was used as true; set ca_file for a private CA")
    notes.append(_secret_note(f"clusters[{count}].password_file", item.get("password"), path, "password"))
    if "max_retries" in glob:
        retries = int(glob["max_retries"])
        entry["retries"] = min(retries, 10) if retries > 0 else 10  # gostats' 0 means forever
    if item.get("preserve_case", glob.get("preserve_case")):
        entry["preserve_case"] = True
    if processor == "prometheus" and item.get("prometheus_port"):
        entry["prometheus_port"] = int(item["prometheus_port"])
    if summary:
        entry["summary"] = summary
    return entry


def migrate(doc):
    """gostats TOML mapping → (YAML config mapping, notes)."""
    notes = _section_notes(doc)
    glob = doc.get("global", {})
    processor = glob.get("stats_processor", "influxdb")
    stat_groups = _stat_groups(doc, glob, notes)
    summary = [k for k in ("protocol", "client", "drive") if doc.get("summary_stats", {}).get(k)]
    clusters = []
    taken = set()
    for index, item in enumerate(doc.get("cluster", [])):
        entry = _cluster(item, index, glob, (processor, summary, taken, len(clusters)), notes)
        if entry is not None:
            clusters.append(entry)
    out = {"clusters": clusters, "stat_groups": stat_groups}
    out["min_update_interval"] = glob.get("min_update_interval_override", 5)
    out["include_degraded"] = bool(glob.get("include_degraded", False))
    if "expiry_multiplier" in doc.get("prometheus", {}):
        out["expiry_multiplier"] = max(1, doc["prometheus"]["expiry_multiplier"])
    level = doc.get("logging", {}).get("log_level")
    if level:
        out["log_level"] = LOG_LEVELS.get(str(level).lower(), "info")
    out["sinks"] = _sinks(doc, processor, clusters, notes)
    return out, notes


def _sinks(doc, processor, clusters, notes):
    sinks = {}
    if processor == "prometheus":
        # gostats listens on every interface; say so explicitly (our default is 127.0.0.1).
        sinks["prometheus"] = {"listen_address": "0.0.0.0"}  # noqa: S104 - what gostats did
        if not any("prometheus_port" in c for c in clusters):
            notes.append("no cluster has prometheus_port: set sinks.prometheus.port for one listener for all clusters")
        sd = doc.get("prom_http_sd", {})
        if sd.get("enabled"):
            sinks["http_sd"] = {"enabled": True, "listen_address": "0.0.0.0", "port": int(sd.get("sd_port", 9999))}  # noqa: S104
            if sd.get("listen_addr"):
                sinks["http_sd"]["target_host"] = sd["listen_addr"]
    elif processor in ("influxdb", "influxdbv2"):
        src = doc.get(processor, {})
        scheme = "https" if src.get("use_ssl") else "http"
        sink = {
            "version": 1 if processor == "influxdb" else 2,
            "url": f"{scheme}://{src.get('host', 'localhost')}:{src.get('port', 8086)}",
        }
        if processor == "influxdb":
            sink["database"] = src.get("database", "isi_data_insights")
            if src.get("authenticated"):
                sink["username"] = src.get("username", "")
                sink["password_file"] = f"{CREDENTIALS_DIR}/influxdb.password"
                notes.append(
                    _secret_note(
                        "sinks.influxdb.password_file", src.get("password"), sink["password_file"], "InfluxDB password"
                    )
                )
        else:
            sink["org"] = src.get("org", "")
            sink["bucket"] = src.get("bucket", "")
            sink["token_file"] = f"{CREDENTIALS_DIR}/influxdb.token"
            notes.append(
                _secret_note("sinks.influxdb.token_file", src.get("access_token"), sink["token_file"], "InfluxDB token")
            )
        if scheme == "https":
            sink["verify"] = not src.get("skip_ssl_verify", False)
        sinks["influxdb"] = sink
    elif processor == "discard":
        sinks["discard"] = {}
    else:
        raise ConfigError(
            f"global.stats_processor {processor!r} is not one of influxdb, influxdbv2, prometheus, discard"
        )
    return sinks


def migrate_file(path):
    """Read a gostats TOML file; returns (YAML text, notes)."""
    try:
        with open(path, "rb") as handle:
            doc = tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"{path} does not exist") from None
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path} is not a readable TOML file: {exc}") from None
    data, notes = migrate(doc)
    header = (
        f"# Converted from the gostats configuration {path}.\n"
        "# Passwords and tokens are not copied: write each into the file its *_file setting names.\n"
    )
    return header + yaml.safe_dump(data, sort_keys=False, default_flow_style=False), notes
