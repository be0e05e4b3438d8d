"""gostats idic.toml → the exporter's YAML: every setting either converted or named."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

from ansible_collections.quadstats.stack.services.onefs_exporter.config import parse_config
from ansible_collections.quadstats.stack.services.onefs_exporter.migrate import migrate_file

REPO = Path(__file__).resolve().parents[3]
# The sections and settings of gostats' example configuration (written for this test).
GOSTATS_TOML = """
[global]
version = "v0.40"
stats_processor = "prometheus"
max_retries = 8
min_update_interval_override = 10
include_degraded = true
fetch_by_statgroup = true
active_stat_groups = ["cluster_cpu_stats", "node_load_stats", "missing_group"]
mystery_option = 1

[logging]
logfile = "gostats.log"
log_level = "notice"

[prometheus]
authenticated = false
expiry_multiplier = 3

[prom_http_sd]
enabled = true
listen_addr = "collector.example.com"
sd_port = 9999

[[cluster]]
hostname = "prod-isilon.example.com"
username = "statsreader"
password = "$env:PROD_PW"
verify-ssl = true
authtype = "session"
prometheus_port = 9101

[[cluster]]
hostname = "dr-isilon.example.com"
username = "statsreader"
password = "plain-secret-value"
authtype = "basic-auth"
prometheus_port = 9102
preserve_case = true

[[cluster]]
hostname = "old.example.com"
username = "x"
password = "y"
disabled = true

[summary_stats]
protocol = true
client = false
drive = true

[[statgroup]]
name = "cluster_cpu_stats"
update_interval = "*"
stats = ["cluster.cpu.sys.avg", "cluster.cpu.user.avg"]

[[statgroup]]
name = "node_load_stats"
update_interval = "*2"
stats = ["node.load.1min"]

[[statgroup]]
name = "unused_stats"
update_interval = "30"
stats = ["ifs.bytes.total"]
"""


def test_migrate_converts_and_names_the_rest(tmp_path):
    toml = tmp_path / "idic.toml"
    toml.write_text(GOSTATS_TOML)
    text, notes = migrate_file(toml)
    assert "plain-secret-value" not in text and "plain-secret-value" not in "\n".join(notes)
    data = yaml.safe_load(text)
    prod, dr = data["clusters"]
    assert prod == {
        "name": "prod-isilon",
        "host": "prod-isilon.example.com",
        "port": 8080,
        "auth": "session",
        "username": "statsreader",
        "password_file": "/run/credentials/onefs_exporter/prod-isilon.password",
        "verify": True,
        "retries": 8,
        "prometheus_port": 9101,
        "summary": ["protocol", "drive"],
    }
    assert dr["auth"] == "basic" and dr["preserve_case"] is True and "verify" in dr
    assert [g["name"] for g in data["stat_groups"]] == ["cluster_cpu_stats", "node_load_stats"]
    assert data["stat_groups"][1]["interval"] == "*2"
    assert data["min_update_interval"] == 10 and data["include_degraded"] is True
    assert data["expiry_multiplier"] == 3 and data["log_level"] == "info"
    assert data["sinks"]["http_sd"] == {
        "enabled": True,
        "listen_address": "0.0.0.0",
        "port": 9999,
        "target_host": "collector.example.com",
    }
    joined = "\n".join(notes)
    for expected in (
        "unknown setting global.mystery_option",
        "global.fetch_by_statgroup not carried over",
        "logging.logfile not carried over",
        "'missing_group', which has no [[statgroup]]",
        "'unused_stats' is not in active_stat_groups",
        "cluster[2] (old.example.com) is disabled",
        "environment variable PROD_PW",
        "clusters[1].verify: gostats' default",
    ):
        assert expected in joined, expected
    # The result is a valid configuration once the password files exist.
    parse_config(data, read_secrets=False)


def test_migrate_influx_v2_and_cli(tmp_path):
    toml = tmp_path / "idic.toml"
    toml.write_text(
        '[global]\nstats_processor = "influxdbv2"\n[influxdbv2]\nhost = "influx"\nport = "8086"\norg = "o"\n'
        'bucket = "b"\naccess_token = "t0ken"\nuse_ssl = true\n'
        '[[cluster]]\nhostname = "10.1.2.3"\nusername = "u"\npassword = "p"\n'
        '[[statgroup]]\nname = "g"\nupdate_interval = "*"\nstats = ["cluster.health"]\n'
    )
    result = subprocess.run(
        [sys.executable, "-m", "ansible_collections.quadstats.stack.services.onefs_exporter", "migrate", str(toml)],
        capture_output=True,
        text=True,
        check=False,
        env={"PYTHONPATH": str(REPO / ".venv"), "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr
    assert "t0ken" not in result.stdout + result.stderr
    data = yaml.safe_load(result.stdout)
    assert data["sinks"]["influxdb"] == {
        "version": 2,
        "url": "https://influx:8086",
        "org": "o",
        "bucket": "b",
        "token_file": "/run/credentials/onefs_exporter/influxdb.token",
        "verify": True,
    }
    assert data["clusters"][0]["name"] == "10.1.2.3"
    assert "sinks.influxdb.token_file: write the InfluxDB token" in result.stderr
    parse_config(data, read_secrets=False)
