"""The container_exporter role's rendered settings and quadlet, and its checks before anything changes.

One ``ansible-playbook`` run renders every case through the role's argument_specs, defaults, vars, ``validate``
tasks and Ansible's templating (``tests/unit/role_render``). Each rendered file is then read by the daemon's own
parser (``services/container_exporter/settings.py``), so the role can only write settings the exporter accepts.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from ansible_collections.quadstats.stack.services.container_exporter.settings import parse_settings
from unit.role_render import assert_check_failed, render_role, rendered_case

CANARY = "qscanary-container-role-render-4712"
CA = "-----BEGIN CERTIFICATE-----\nMIIBtest\n-----END CERTIFICATE-----\n"
CREDS = "/var/lib/quadstats/quadstats"
SECRETS = "/run/credentials/container_exporter"
BACKEND = {"url": "https://backend.example.com", "token": CANARY}

CASES = {
    "defaults": {},
    "backend_disks": {
        "container_exporter_backend": {**BACKEND, "minutes_till_alert": 5, "ca_cert": CA, "timeout": 3},
        "container_exporter_disk_mounts": ["/srv", "/var/lib/containers"],
        "container_exporter_interval": 30,
    },
    "everywhere_influx_v2": {
        "container_exporter_publish_address": "0.0.0.0",
        "container_exporter_host": "web1",
        "container_exporter_metrics": ["cpu", "state"],
        "container_exporter_discovery_labels": {"app": "", "tier": "web"},
        "container_exporter_stdout": True,
        "container_exporter_influxdb": {
            "url": "https://influx.example.com:8086",
            "org": "o",
            "bucket": "b",
            "token": CANARY,
            "ca_cert": CA,
        },
    },
    "ipv6_influx_v1": {
        "container_exporter_publish_address": "::1",
        "container_exporter_port": 9900,
        "container_exporter_influxdb": {
            "version": 1,
            "url": "http://influx:8086",
            "database": "containers",
            "username": "w",
            "password": CANARY,
        },
    },
}

# (case vars, the message must contain each of these)
ERROR_CASES = {
    "backend_without_token": (
        {"container_exporter_backend": {"url": "https://b.example.com"}},
        ["container_exporter_backend.token is empty", "Ansible Vault"],
    ),
    "backend_url_with_path_only": (
        {"container_exporter_backend": {**BACKEND, "url": "backend.example.com/metric"}},
        ["container_exporter_backend.url must be the backend's http:// or https:// base URL"],
    ),
    "alert_before_two_intervals": (
        {"container_exporter_backend": {**BACKEND, "minutes_till_alert": 1}, "container_exporter_interval": 60},
        ["container_exporter_backend.minutes_till_alert (1) is less than two collection intervals"],
    ),
    "influx_v2_no_token": (
        {"container_exporter_influxdb": {"url": "https://i:8086", "org": "o", "bucket": "b"}},
        ["version 2 needs org, bucket and token", "missing: token"],
    ),
    "influx_v1_no_database": (
        {"container_exporter_influxdb": {"version": 1, "url": "http://i:8086"}},
        ["version 1 needs database"],
    ),
    "disk_root": ({"container_exporter_disk_mounts": ["/"]}, ["container_exporter_disk_mounts: / cannot be mounted"]),
    "disk_under_proc": (
        {"container_exporter_disk_mounts": ["/srv", "/proc/1"]},
        ["container_exporter_disk_mounts: /proc/1 cannot be mounted"],
    ),
    "disk_relative": (
        {"container_exporter_disk_mounts": ["srv"]},
        ["container_exporter_disk_mounts: srv must be absolute"],
    ),
    "port_zero": ({"container_exporter_port": 0}, ["container_exporter_port is 0"]),
    "interval_zero": (
        {"container_exporter_interval": 0},
        ["container_exporter_interval is 0", "between 0.05 and 3600"],
    ),
    "unknown_metric": ({"container_exporter_metrics": ["cpu", "gpu"]}, ["container_exporter_metrics", "gpu"]),
    "ca_not_pem": (
        {"container_exporter_backend": {**BACKEND, "ca_cert": "/etc/ca.pem"}},
        ["container_exporter_backend: ca_cert is not a PEM certificate"],
    ),
}


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return render_role(
        "container_exporter",
        {**CASES, **{name: case[0] for name, case in ERROR_CASES.items()}},
        {
            "container-exporter.yml.j2": "container-exporter.yml",
            "container-exporter.container.j2": "container-exporter.container",
        },
        ["container_exporter__credentials", "container_exporter__base_url", "container_exporter__ca_files"],
        out=tmp_path_factory.mktemp("container_exporter_role"),
        secret=CANARY,
    )


def case_files(rendered: Path, case: str) -> tuple[dict, str, dict]:
    text, quadlet, derived = rendered_case(rendered, case, ["container-exporter.yml", "container-exporter.container"])
    derived = {key.removeprefix("container_exporter__"): value for key, value in derived.items()}
    return yaml.safe_load(text), quadlet, derived


def lines(quadlet: str, key: str) -> list[str]:
    return [line for line in quadlet.splitlines() if line.startswith(key + "=")]


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_daemon_accepts_the_rendered_settings(rendered: Path, case: str) -> None:
    settings, quadlet, _derived = case_files(rendered, case)
    parsed = parse_settings(settings)
    assert parsed["engine"] == {
        "kind": "podman",
        "socket": "/run/podman/podman.sock",
        "podman_command": None,
        "timeout": 10,
    }
    assert parsed["listen"]["host"] == "0.0.0.0"
    for name in ("container-exporter.yml", "container-exporter.container", "derived.json"):
        assert CANARY not in (rendered / case / name).read_text(), f"{name} holds a secret"
    assert "Environment" not in quadlet and "Secret=" not in quadlet


def test_defaults_local_listener_socket_cgroups_and_namespaces(rendered: Path) -> None:
    settings, quadlet, derived = case_files(rendered, "defaults")
    parsed = parse_settings(settings)
    assert parsed["host"] == "defaults"  # the inventory name: the daemon itself would see the container's name
    assert not any(parsed["sinks"][sink]["enabled"] for sink in ("stdout", "influxdb", "backend"))
    assert lines(quadlet, "PublishPort") == ["PublishPort=127.0.0.1:9886:9886"]
    assert lines(quadlet, "PodmanArgs") == ["PodmanArgs=--pid=host", "PodmanArgs=--cgroupns=host"]
    assert lines(quadlet, "Volume") == [
        "Volume=/home/quadstats/.config/container-exporter:/etc/quadstats:ro",
        "Volume=%t/podman/podman.sock:/run/podman/podman.sock",
        "Volume=/sys/fs/cgroup:/sys/fs/cgroup:ro",
    ]
    assert "UserNS=keep-id:uid=10001,gid=10001\n" in quadlet and "ReadOnly=true\n" in quadlet
    assert "After=network-online.target podman.socket\n" in quadlet
    assert lines(quadlet, "LoadCredential") == []
    assert derived == {"credentials": [], "base_url": "http://127.0.0.1:9886", "ca_files": {}}


def test_backend_token_is_a_credential_and_disks_are_mounted_read_only(rendered: Path) -> None:
    settings, quadlet, derived = case_files(rendered, "backend_disks")
    backend = parse_settings(settings)["sinks"]["backend"]
    cred = "container-exporter-backend.token"
    assert backend["enabled"] and backend["token_file"] == f"{SECRETS}/{cred}"
    assert (backend["url"], backend["minutes_till_alert"], backend["timeout"]) == (
        "https://backend.example.com",
        5,
        3.0,
    )
    assert backend["ca_file"] == "/etc/quadstats/ca/backend.pem" and backend["verify"] is True
    assert lines(quadlet, "LoadCredential") == [f"LoadCredential={cred}:{CREDS}/{cred}"]
    assert f"Volume=%d/{cred}:{SECRETS}/{cred}:ro" in lines(quadlet, "Volume")
    assert {"Volume=/srv:/srv:ro", "Volume=/var/lib/containers:/var/lib/containers:ro"} <= set(lines(quadlet, "Volume"))
    assert settings["disk"]["mounts"] == ["/srv", "/var/lib/containers"]
    assert derived["credentials"] == [cred] and list(derived["ca_files"]) == ["backend"]


def test_published_everywhere_with_influx_v2(rendered: Path) -> None:
    settings, quadlet, derived = case_files(rendered, "everywhere_influx_v2")
    parsed = parse_settings(settings)
    influx = parsed["sinks"]["influxdb"]
    cred = "container-exporter-influxdb.secret"
    assert (influx["version"], influx["org"], influx["bucket"]) == (2, "o", "b")
    assert influx["token_file"] == f"{SECRETS}/{cred}" and influx["ca_file"] == "/etc/quadstats/ca/influxdb.pem"
    assert lines(quadlet, "LoadCredential") == [f"LoadCredential={cred}:{CREDS}/{cred}"]
    assert lines(quadlet, "PublishPort") == ["PublishPort=9886:9886"]
    assert derived["base_url"] == "http://127.0.0.1:9886"
    assert parsed["host"] == "web1" and parsed["collection"]["metrics"] == ["cpu", "state"]
    assert parsed["discovery"]["labels"] == {"app": "", "tier": "web"} and parsed["sinks"]["stdout"]["enabled"]


def test_ipv6_listener_and_influx_v1(rendered: Path) -> None:
    settings, quadlet, derived = case_files(rendered, "ipv6_influx_v1")
    influx = parse_settings(settings)["sinks"]["influxdb"]
    assert (influx["version"], influx["database"], influx["username"]) == (1, "containers", "w")
    assert influx["password_file"] == f"{SECRETS}/container-exporter-influxdb.secret"
    assert lines(quadlet, "PublishPort") == ["PublishPort=[::1]:9900:9900"]
    assert derived["base_url"] == "http://[::1]:9900"


@pytest.mark.parametrize("case", sorted(ERROR_CASES))
def test_checks_name_the_variable_and_the_fix(rendered: Path, case: str) -> None:
    assert_check_failed(rendered, case, ERROR_CASES[case][1], secret=CANARY, not_rendered="container-exporter.yml")
