"""The onefs_exporter role's rendered configuration and quadlet, and its checks before anything changes.

One ``ansible-playbook`` run renders every case (one inventory host per case, local connection) through
the role's argument_specs, defaults, vars, ``validate`` tasks and Ansible's templating (``tests/unit/role_render``).
Each rendered configuration is then read by the daemon's own parser (``services/onefs_exporter/config.py``),
so the role can only write files the exporter accepts.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from ansible_collections.quadstats.stack.services.onefs_exporter.config import parse_config
from unit.role_render import assert_check_failed, render_role, rendered_case

CANARY = "qscanary-onefs-role-render-4711"
CA = "-----BEGIN CERTIFICATE-----\nMIIBtest\n-----END CERTIFICATE-----\n"
CREDS = "/var/lib/quadstats/quadstats"


def cluster(name, **extra):
    return {"name": name, "host": f"{name}.example.com", "username": "statsreader", "password": CANARY, **extra}


CASES = {
    "defaults_two_clusters": {
        "onefs_exporter_clusters": [
            cluster("prod", ca_cert=CA, prometheus_port=9101, summary=["protocol"], quotas=True),
            cluster("dr", port=8081, auth="basic", verify=False, ca_file="/etc/ssl/dr-ca.pem", timeout=12.5),
        ],
    },
    "everywhere_influx_v2": {
        "onefs_exporter_clusters": [cluster("prod", ca_cert=CA)],
        "onefs_exporter_publish_address": "0.0.0.0",
        "onefs_exporter_http_sd_target_host": "exporter.example.com",
        "onefs_exporter_stat_groups": [
            {"name": "cluster_cpu_stats"},
            {"name": "mine", "keys": ["node.load.1min"], "interval": "*2"},
        ],
        "onefs_exporter_influxdb": {
            "version": 2,
            "url": "https://influx.example.com:8086",
            "org": "o",
            "bucket": "b",
            "token": CANARY,
            "ca_cert": CA,
        },
    },
    "cluster_ports_only_influx_v1": {
        "onefs_exporter_clusters": [cluster("a", prometheus_port=9101), cluster("b", prometheus_port=9102)],
        "onefs_exporter_prometheus_port": 0,
        "onefs_exporter_http_sd_enabled": False,
        "onefs_exporter_influxdb": {"url": "http://influx:8086", "username": "w", "password": CANARY},
    },
}

# (case vars, the message must contain each of these)
ERROR_CASES = {
    "no_cluster": ({}, ["onefs_exporter_clusters is empty"]),
    "names_twice": (
        {"onefs_exporter_clusters": [cluster("prod"), cluster("prod", prometheus_port=9101)]},
        ["the name(s) prod are used by more than one cluster"],
    ),
    "bad_name": ({"onefs_exporter_clusters": [cluster("-x")]}, ['the name(s) "-x" are not allowed']),
    "host_with_scheme": (
        {"onefs_exporter_clusters": [{**cluster("prod"), "host": "https://prod.example.com/platform"}]},
        ["the host of prod (https://prod.example.com/platform) must be a host name or address only"],
    ),
    "host_with_port": (
        {"onefs_exporter_clusters": [{**cluster("prod"), "host": "prod.example.com:8080"}]},
        ["must be a host name or address only", "as the cluster's port"],
    ),
    "password_empty": (
        {"onefs_exporter_clusters": [{**cluster("prod"), "password": ""}]},
        ["the cluster(s) prod have an empty password", "Ansible Vault"],
    ),
    "password_missing": (
        {"onefs_exporter_clusters": [{"name": "prod", "host": "prod", "username": "u"}]},
        ["missing required arguments: password", "onefs_exporter_clusters"],
    ),
    "ports_twice": (
        {"onefs_exporter_clusters": [cluster("a", prometheus_port=9100)]},
        ["Listener port(s) 9100 are used twice", "onefs_exporter_prometheus_port"],
    ),
    "ca_both": (
        {"onefs_exporter_clusters": [cluster("a", ca_cert=CA, ca_file="/etc/ca.pem")]},
        ["set both ca_cert (PEM text) and ca_file"],
    ),
    "ca_not_pem": (
        {"onefs_exporter_clusters": [cluster("a", ca_cert="/etc/ca.pem")]},
        ["ca_cert of a is not a PEM certificate"],
    ),
    "no_sink": (
        {
            "onefs_exporter_clusters": [cluster("a")],
            "onefs_exporter_prometheus_port": 0,
            "onefs_exporter_http_sd_enabled": False,
        },
        ["No sink is configured"],
    ),
    "influx_v2_no_token": (
        {
            "onefs_exporter_clusters": [cluster("a")],
            "onefs_exporter_influxdb": {"version": 2, "url": "https://i:8086", "org": "o", "bucket": "b"},
        },
        ["version 2 needs org, bucket and token", "missing: token"],
    ),
}


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return render_role(
        "onefs_exporter",
        {**CASES, **{name: case[0] for name, case in ERROR_CASES.items()}},
        {"onefs_exporter.yml.j2": "onefs_exporter.yml", "onefs-exporter.container.j2": "onefs-exporter.container"},
        ["onefs_exporter__credentials", "onefs_exporter__probe_url", "onefs_exporter__url_host"],
        out=tmp_path_factory.mktemp("onefs_exporter_role"),
        secret=CANARY,
    )


def case_files(rendered: Path, case: str) -> tuple[dict, str, dict]:
    config, quadlet, derived = rendered_case(rendered, case, ["onefs_exporter.yml", "onefs-exporter.container"])
    derived = {key.removeprefix("onefs_exporter__"): value for key, value in derived.items()}
    return yaml.safe_load(config), quadlet, derived


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_daemon_accepts_the_rendered_configuration(rendered: Path, case: str) -> None:
    config, quadlet, _derived = case_files(rendered, case)
    parsed = parse_config(config, read_secrets=False)
    assert [c.name for c in parsed.clusters] == [c["name"] for c in CASES[case]["onefs_exporter_clusters"]]
    for name in ("onefs_exporter.yml", "onefs-exporter.container", "derived.json"):
        assert CANARY not in (rendered / case / name).read_text(), f"{name} holds a password"
    assert "Environment" not in quadlet and "Secret=" not in quadlet


def test_each_password_is_its_own_credential_mounted_read_only(rendered: Path) -> None:
    config, quadlet, derived = case_files(rendered, "defaults_two_clusters")
    assert derived["credentials"] == ["onefs-exporter-prod.password", "onefs-exporter-dr.password"]
    for name in ("prod", "dr"):
        cred = f"onefs-exporter-{name}.password"
        assert f"LoadCredential={cred}:{CREDS}/{cred}\n" in quadlet
        assert f"Volume=%d/{cred}:/run/credentials/onefs_exporter/{cred}:ro\n" in quadlet
    files = {c["name"]: c["password_file"] for c in config["clusters"]}
    assert files == {n: f"/run/credentials/onefs_exporter/onefs-exporter-{n}.password" for n in ("prod", "dr")}
    assert "UserNS=keep-id:uid=10001,gid=10001\n" in quadlet
    assert "Pull=never\n" in quadlet


def test_cas_listeners_and_options(rendered: Path) -> None:
    config, quadlet, derived = case_files(rendered, "defaults_two_clusters")
    prod, dr = config["clusters"]
    assert prod["ca_file"] == "/etc/quadstats/ca/cluster-prod.pem"
    assert dr["ca_file"] == "/etc/quadstats-host-ca/dr.pem"
    assert "Volume=/etc/ssl/dr-ca.pem:/etc/quadstats-host-ca/dr.pem:ro\n" in quadlet
    assert (dr["port"], dr["auth"], dr["verify"], dr["timeout"]) == (8081, "basic", False, 12.5)
    assert (prod["summary"], prod["quotas"], prod["prometheus_port"]) == (["protocol"], True, 9101)
    published = sorted(line for line in quadlet.splitlines() if line.startswith("PublishPort="))
    assert published == [f"PublishPort=127.0.0.1:{p}:{p}" for p in (9100, 9101, 9999)]
    assert config["sinks"]["http_sd"]["target_host"] == "127.0.0.1"
    assert derived["probe_url"] == "http://127.0.0.1:9100/metrics"


def test_published_everywhere_with_influx_v2(rendered: Path) -> None:
    config, quadlet, derived = case_files(rendered, "everywhere_influx_v2")
    published = sorted(line for line in quadlet.splitlines() if line.startswith("PublishPort="))
    assert published == ["PublishPort=9100:9100", "PublishPort=9999:9999"]
    assert config["sinks"]["http_sd"]["target_host"] == "exporter.example.com"
    assert derived["probe_url"] == "http://127.0.0.1:9100/metrics"
    influx = config["sinks"]["influxdb"]
    cred = "onefs-exporter-influxdb.secret"
    assert influx["token_file"] == f"/run/credentials/onefs_exporter/{cred}"
    assert influx["ca_file"] == "/etc/quadstats/ca/influxdb.pem"
    assert f"LoadCredential={cred}:{CREDS}/{cred}\n" in quadlet
    assert config["stat_groups"] == [
        {"name": "cluster_cpu_stats"},
        {"name": "mine", "keys": ["node.load.1min"], "interval": "*2"},
    ]


def test_cluster_listeners_only(rendered: Path) -> None:
    config, quadlet, derived = case_files(rendered, "cluster_ports_only_influx_v1")
    assert "port" not in config["sinks"]["prometheus"] and "http_sd" not in config["sinks"]
    assert config["sinks"]["influxdb"]["password_file"].endswith("/onefs-exporter-influxdb.secret")
    assert derived["probe_url"] == "http://127.0.0.1:9101/metrics"
    published = sorted(line for line in quadlet.splitlines() if line.startswith("PublishPort="))
    assert published == ["PublishPort=127.0.0.1:9101:9101", "PublishPort=127.0.0.1:9102:9102"]


@pytest.mark.parametrize("case", sorted(ERROR_CASES))
def test_checks_name_the_variable_and_the_fix(rendered: Path, case: str) -> None:
    assert_check_failed(rendered, case, ERROR_CASES[case][1], secret=CANARY, not_rendered="onefs_exporter.yml")
