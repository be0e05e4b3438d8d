# Copyright: quadstats.stack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The container exporter's settings: one YAML file validated at start (standard library + PyYAML).

Every setting has a default; unknown settings are errors so a typo never goes unnoticed.
:func:`parse_settings` raises :class:`ConfigError` with one ``setting <name>: <problem>`` line per
wrong setting. Secrets (the backend token, InfluxDB credentials) are ``*_file`` paths read with
``read_secret_file`` when the sink is built, never values in the file. docs/containers.md lists
every setting.
"""

from __future__ import annotations

import copy
import math
import socket
from typing import Any

from ansible_collections.quadstats.stack.plugins.module_utils.containers.sampler import ALL_METRICS, SOURCES
from ansible_collections.quadstats.stack.services.common.config import ConfigError, load_yaml_file
from ansible_collections.quadstats.stack.services.common.logs import LEVELS

DEFAULT_CONFIG = "/etc/quadstats/container-exporter.yml"
DEFAULT_PORT = 9886

# (default, checker) per setting; a nested dict is a section. Checkers return the clean value or raise ValueError.


def _number(low=None, high=None, integer=False):
    def check(value):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"must be a number (got {value!r})")
        if integer and not isinstance(value, int):
            raise ValueError(f"must be a whole number (got {value!r})")
        if not math.isfinite(value) or (low is not None and value < low) or (high is not None and value > high):
            raise ValueError(f"must be between {low} and {high} (got {value!r})")
        return value

    return check


def _text(allowed=None, empty=False):
    def check(value):
        if not isinstance(value, str) or (not empty and not value):
            raise ValueError(f"must be a non-empty string (got {value!r})")
        if allowed and value not in allowed:
            raise ValueError("must be one of {} (got {!r})".format(", ".join(allowed), value))
        return value

    return check


def _optional(check):
    def inner(value):
        return None if value is None else check(value)

    return inner


def _boolean(value):
    if not isinstance(value, bool):
        raise ValueError(f"must be true or false (got {value!r})")
    return value


def _paths(value):
    if not isinstance(value, list) or not all(isinstance(p, str) and p.startswith("/") for p in value):
        raise ValueError(f"must be a list of absolute paths (got {value!r})")
    return list(dict.fromkeys(value))


def _metrics(value):
    if not isinstance(value, list) or not value or any(m not in ALL_METRICS for m in value):
        raise ValueError("must be a non-empty list of {} (got {!r})".format(", ".join(ALL_METRICS), value))
    return list(dict.fromkeys(value))


def _labels(value):
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        raise ValueError(f"must be a mapping of engine label to value ('' = any value) (got {value!r})")
    return {k: "" if v is None else str(v) for k, v in value.items()}


def _url(value):
    if not isinstance(value, str) or not value.startswith(("http://", "https://")):
        raise ValueError(f"must be an http:// or https:// URL (got {value!r})")
    return value.rstrip("/")


_TLS = {"verify": (True, _boolean), "ca_file": (None, _optional(_text()))}

SCHEMA = {
    "host": (None, _optional(_text())),
    "log_level": ("info", _text(LEVELS)),
    "engine": {
        "kind": ("auto", _text(("auto", "podman", "docker"))),
        "socket": (None, _optional(_text())),
        "podman_command": ("podman", _optional(_text())),
        "timeout": (10, _number(0.1, 600)),
    },
    "discovery": {
        "resync_seconds": (300, _number(5, 86400)),
        "backoff_max_seconds": (30, _number(1, 3600)),
        "labels": ({}, _labels),
    },
    "collection": {
        "interval": (15, _number(0.05, 3600)),
        "scrape_max_age": (5, _number(0, 3600)),
        "source": ("auto", _text(SOURCES)),
        "metrics": (list(ALL_METRICS), _metrics),
        "container_mounts": ([], _paths),
    },
    "disk": {"mounts": ([], _paths)},
    "listen": {
        "enabled": (True, _boolean),
        "host": ("127.0.0.1", _text()),
        "port": (DEFAULT_PORT, _number(0, 65535, integer=True)),
        "engine_labels": (True, _boolean),
    },
    "buffer": {
        "max_batches": (40, _number(1, 100000, integer=True)),
        "retry_max_seconds": (300, _number(0.1, 86400)),
        "flush_seconds": (5, _number(0, 300)),
    },
    "sinks": {
        "stdout": {"enabled": (False, _boolean)},
        "influxdb": {
            "enabled": (False, _boolean),
            "url": (None, _optional(_url)),
            "version": (2, _number(1, 2, integer=True)),
            "database": (None, _optional(_text())),
            "retention_policy": (None, _optional(_text())),
            "username": (None, _optional(_text())),
            "password_file": (None, _optional(_text())),
            "org": (None, _optional(_text())),
            "bucket": (None, _optional(_text())),
            "token_file": (None, _optional(_text())),
            "measurement": ("container", _text()),
            "timeout": (10, _number(0.1, 600)),
            **_TLS,
        },
        "backend": {
            "enabled": (False, _boolean),
            "url": (None, _optional(_url)),
            "token_file": (None, _optional(_text())),
            "minutes_till_alert": (5, _number(1, 100000, integer=True)),
            "batch_items": (500, _number(1, 100000, integer=True)),
            "timeout": (10, _number(0.1, 600)),
            **_TLS,
        },
    },
}


def _walk(schema, data, prefix, errors):
    out = {}
    if not isinstance(data, dict):
        errors.append(f"setting {prefix.rstrip('.') or '(top level)'}: must be a mapping (got {data!r})")
        data = {}
    for key in data:
        if key not in schema:
            errors.append(f"setting {prefix}{key}: unknown setting (check the spelling; docs/containers.md lists them)")
    for key, spec in schema.items():
        name = prefix + key
        if isinstance(spec, dict):
            out[key] = _walk(spec, data.get(key) or {}, name + ".", errors)
            continue
        default, check = spec
        if key not in data:
            out[key] = copy.deepcopy(default)
            continue
        try:
            out[key] = check(data[key])
        except ValueError as exc:
            errors.append(f"setting {name}: {exc}")
    return out


def _cross_checks(cfg, errors):
    influx = cfg["sinks"]["influxdb"]
    if influx["enabled"]:
        need = ("url", "database") if influx["version"] == 1 else ("url", "org", "bucket", "token_file")
        errors.extend(f"setting sinks.influxdb.{k}: required when the InfluxDB v{influx['version']} sink is enabled"
                      for k in need if not influx[k])  # fmt: skip
        if influx["version"] == 1 and bool(influx["username"]) != bool(influx["password_file"]):
            errors.append("setting sinks.influxdb.password_file: username and password_file go together")
    backend = cfg["sinks"]["backend"]
    if backend["enabled"]:
        errors.extend(f"setting sinks.backend.{k}: required when the backend sink is enabled"
                      for k in ("url", "token_file") if not backend[k])  # fmt: skip
        interval = cfg["collection"]["interval"]
        if backend["minutes_till_alert"] * 60 < 2 * interval:
            errors.append(
                f"setting sinks.backend.minutes_till_alert: {backend['minutes_till_alert']} minutes is less than "
                f"two collection intervals ({interval} s): every late ping would alert; raise it"
            )


def parse_settings(data: Any) -> dict:
    """Validated settings with defaults filled in; :class:`ConfigError` lists every wrong setting."""
    errors: list[str] = []
    cfg = _walk(SCHEMA, data if data is not None else {}, "", errors)
    if not errors:
        _cross_checks(cfg, errors)
    if errors:
        raise ConfigError("\n".join(errors))
    if not cfg["host"]:
        cfg["host"] = socket.gethostname()
    return cfg


def load_settings(path) -> dict:
    return parse_settings(load_yaml_file(path))


def push_sinks_enabled(cfg) -> bool:
    return any(cfg["sinks"][name]["enabled"] for name in ("stdout", "influxdb", "backend"))
