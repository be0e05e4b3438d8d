"""Golden tests of the stats_collector role's rendered Alloy config and quadlet, and of its validation.

One ``ansible-playbook`` run renders every case (one inventory host per case, local connection) through
the role's own defaults, vars, ``validate`` tasks and Ansible's templating (``render.yml``). The golden
files under ``golden/`` are what the role must produce; update them only after reading the diff.
``QS_UPDATE_GOLDEN=1`` rewrites them.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
ROLE = ROOT / "roles" / "stats_collector"
GOLDEN = HERE / "golden"
CANARY = "glc_canary-not-a-real-token-4711"

# Host facts the role gets from podman_host (podman_host_facts) and the journal stat at run time.
HOST = {
    "podman_host_facts": {
        "user": "quadstats",
        "home": "/home/quadstats",
        "quadlet_dir": "/home/quadstats/.config/containers/systemd",
        "credentials_dir": "/var/lib/quadstats/quadstats",
    },
    "stats_collector_instance": "monitor-01",
    "stats_collector__journal_mounts": ["/var/log/journal", "/run/log/journal"],
}
STACK = "prometheus-prod-24-prod-eu-west-2.grafana.net"
CLOUD = {"cloud_instance": STACK, "cloud_user": 1234567}
CLOUD_WITH_TOKEN = {**CLOUD, "cloud_api_token": CANARY}
BACKEND = {"url": "https://b:8443", "username": "h", "password": CANARY}

GOLDEN_CASES = {
    "cloud": {
        "ha_vars": {**CLOUD, "cloud_api_token": CANARY, "dns_upstream": "9.9.9.9"},
        "stats_collector_cloud_logs_instance": "logs-prod-012.grafana.net",
        "stats_collector_cloud_logs_user": 654321,
        "stats_collector_scrape_targets": [
            {"address": "host.containers.internal:9101", "job": "quadstats_containers"},
            {"address": "10.0.0.5:9102", "job": "onefs", "labels": {"cluster": "isilon-a"}},
        ],
    },
    "local": {
        "stats_collector_local_metrics_url": "http://backend.example.net:9090/api/v1/write",
        "stats_collector_local_logs_url": "http://backend.example.net:3100/loki/api/v1/push",
        "stats_collector_http_sd_url": "http://backend.example.net:8080/sd/targets.json",
    },
    "local_auth": {
        "stats_collector_local_metrics_url": "https://backend.example.net/api/v1/write",
        "stats_collector_local_logs_url": "https://backend.example.net/loki/api/v1/push",
        "stats_collector_local_username": "collector",
        "stats_collector_local_password": CANARY,
        # What playbooks/site.yml passes from the backend's facts: its private CA.
        "stats_collector_ca_cert": "-----BEGIN CERTIFICATE-----\nTUlJQg==\n-----END CERTIFICATE-----\n",
        # An extra receiver on the loopback (no password sent there); site.yml no longer sets one (the backend relays).
        "stats_collector_local_extra_metrics_urls": ["https://127.0.0.1:9090/api/v1/write"],
        "stats_collector_host_loopback_ports": [9090],
    },
    # Grafana Cloud mode as playbooks/site.yml wires it: the same series to the backend too (its token, its CA).
    "cloud_backend": {
        **CLOUD,
        "cloud_api_token": CANARY,
        "stats_collector_cloud_backend": {
            "url": "https://backend.example.net:8443",
            "username": "monitor-01",
            "password": CANARY + "-backend",
            "ca_cert": "-----BEGIN CERTIFICATE-----\nTUlJQg==\n-----END CERTIFICATE-----\n",
        },
    },
    # What playbooks/site.yml passes on a host with both exporters (ports unsorted and repeated on purpose).
    "local_exporters": {
        "stats_collector_local_metrics_url": "http://backend.example.net:9090/api/v1/write",
        "stats_collector_scrape_targets": [{"address": "127.0.0.1:9886", "job": "container_exporter"}],
        "stats_collector_http_sd_url": "http://127.0.0.1:9999/sd",
        "stats_collector_host_loopback_ports": [9999, 9886, 9100, 9101, 9886],
    },
}

# (case vars, the message must contain each of these)
ERROR_CASES = {
    "extra_metrics_url_not_http": (
        {
            "stats_collector_local_metrics_url": "https://backend.example.net/api/v1/write",
            "stats_collector_local_extra_metrics_urls": ["127.0.0.1:9090/api/v1/write"],
        },
        ["stats_collector_local_extra_metrics_urls: 127.0.0.1:9090/api/v1/write must be http:// or https://"],
    ),
    "cloud_instance_url": (
        {**CLOUD, "cloud_instance": f"https://{STACK}/api/prom", "cloud_api_token": CANARY},
        [
            f"cloud_instance 'https://{STACK}/api/prom' must be the host name only",
            "Remove 'https://' and '/api/prom'",
            "cloud_instance: prometheus-prod-24-prod-eu-west-2.grafana.net",
        ],
    ),
    "cloud_instance_scheme_only": (
        {**CLOUD, "cloud_instance": "https://prometheus-prod-24-prod-eu-west-2.grafana.net", "cloud_api_token": CANARY},
        ["Remove 'https://' so that it reads: cloud_instance: prometheus-prod-24-prod-eu-west-2.grafana.net"],
    ),
    "cloud_instance_trailing_path": (
        {**CLOUD, "cloud_instance": "prometheus-prod-24-prod-eu-west-2.grafana.net/", "cloud_api_token": CANARY},
        ["Remove '/' so that it reads: cloud_instance: prometheus-prod-24-prod-eu-west-2.grafana.net"],
    ),
    "cloud_instance_not_a_host": (
        {**CLOUD, "cloud_instance": "my stack", "cloud_api_token": CANARY},
        ["cloud_instance 'my stack' is not a host name"],
    ),
    "cloud_user_not_numeric": (
        {**CLOUD, "cloud_user": "grafanacloud-me-prom", "cloud_api_token": CANARY},
        ["cloud_user must be the numeric User id", "cloud_user: 1234567"],
    ),
    "cloud_token_empty": (
        {"ha_vars": {**CLOUD, "cloud_api_token": ""}},
        ["cloud_api_token is empty"],
    ),
    "both_modes": (
        {**CLOUD, "cloud_api_token": CANARY, "stats_collector_local_metrics_url": "http://b:9090/api/v1/write"},
        ["both destinations are configured", "unset stats_collector_local_metrics_url"],
    ),
    "neither_mode": (
        {},
        ["no destination is configured", "cloud_instance, cloud_user and", "stats_collector_local_metrics_url"],
    ),
    "logs_user_missing": (
        {**CLOUD, "cloud_api_token": CANARY, "stats_collector_cloud_logs_instance": "logs-prod-012.grafana.net"},
        ["stats_collector_cloud_logs_user must be the numeric User id"],
    ),
    "cloud_backend_in_local_mode": (
        {
            "stats_collector_local_metrics_url": "https://b/api/v1/write",
            "stats_collector_cloud_backend": BACKEND,
        },
        ["stats_collector_cloud_backend is for Grafana Cloud mode", "point stats_collector_local_metrics_url"],
    ),
    "cloud_backend_plain_http": (
        {**CLOUD_WITH_TOKEN, "stats_collector_cloud_backend": {**BACKEND, "url": "http://b:8443/api/v1/write"}},
        ["stats_collector_cloud_backend.url 'http://b:8443/api/v1/write' must be the backend's", "https://"],
    ),
    "cloud_backend_no_password": (
        {**CLOUD_WITH_TOKEN, "stats_collector_cloud_backend": {"url": "https://b:8443", "username": "h"}},
        ["stats_collector_cloud_backend needs username and password", "password missing"],
    ),
    "local_url_no_scheme": (
        {"stats_collector_local_metrics_url": "backend:9090/api/v1/write"},
        ["stats_collector_local_metrics_url 'backend:9090/api/v1/write' must be an http:// or https:// URL"],
    ),
    "local_password_missing": (
        {"stats_collector_local_metrics_url": "http://b:9090/api/v1/write", "stats_collector_local_username": "u"},
        ["stats_collector_local_password is empty while stats_collector_local_username is set"],
    ),
    "loopback_ports_bad": (
        {
            "stats_collector_local_metrics_url": "http://b:9090/api/v1/write",
            "stats_collector_host_loopback_ports": [9886, 12345, 70000],
        },
        ["stats_collector_host_loopback_ports: 70000, 12345 cannot be forwarded", "other than 12345"],
    ),
    "local_username_missing": (
        {"stats_collector_local_metrics_url": "http://b:9090/api/v1/write", "stats_collector_local_password": CANARY},
        ["stats_collector_local_username is empty while stats_collector_local_password is set"],
    ),
}


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("stats_collector")
    hosts = {}
    for name, case in {**GOLDEN_CASES, **{k: v[0] for k, v in ERROR_CASES.items()}}.items():
        hosts[name] = {
            **HOST,
            **case,
            "ansible_connection": "local",
            "ansible_python_interpreter": sys.executable,
            "qs_role_dir": str(ROLE),
            "qs_out_dir": str(out),
        }
    inventory = out / "inventory.yml"
    inventory.write_text(yaml.safe_dump({"all": {"hosts": hosts}}))
    result = subprocess.run(
        [Path(sys.executable).parent / "ansible-playbook", "-i", inventory, HERE / "render.yml", "-vvv"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
        check=False,
    )
    output = result.stdout + result.stderr
    (out / "ansible.log").write_text(output)
    # Every case either rendered or recorded its validation error (rescued): the play itself succeeds.
    assert result.returncode == 0, output[-5000:]
    assert CANARY not in output, "a secret reached the -vvv output"
    return out


@pytest.mark.parametrize("case", sorted(GOLDEN_CASES))
@pytest.mark.parametrize("name", ["config.alloy", "stats-collector.container"])
def test_rendered_file_matches_golden(rendered: Path, case: str, name: str) -> None:
    got = rendered / case / name
    assert not (rendered / case / "error.txt").exists(), (rendered / case / "error.txt").read_text()
    golden = GOLDEN / case / name
    if os.environ.get("QS_UPDATE_GOLDEN"):
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(got.read_text())
    assert got.read_text() == golden.read_text()


@pytest.mark.parametrize("case", sorted(GOLDEN_CASES))
def test_rendered_files_hold_no_secret(rendered: Path, case: str) -> None:
    for path in (rendered / case).iterdir():
        assert CANARY not in path.read_text(), f"{path.name} holds the secret"


@pytest.mark.parametrize("case", sorted(ERROR_CASES))
def test_validation_names_the_variable_and_the_fix(rendered: Path, case: str) -> None:
    error = rendered / case / "error.txt"
    assert error.exists(), f"{case}: validation passed, it must fail"
    message = error.read_text()
    for expected in ERROR_CASES[case][1]:
        assert expected in message
    assert CANARY not in message
    assert not (rendered / case / "config.alloy").exists()
