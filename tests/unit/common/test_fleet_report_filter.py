# Copyright: quadstats.stack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

import csv
import io

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.quadstats.stack.plugins.filter import fleet_report as fr

GiB = 1024**3
HOSTVARS = {
    "web1": {
        "ansible_facts": {
            "quadstats_containers": {
                "containers": [
                    {
                        "name": "db",
                        "state": "running",
                        "gauges": {
                            "memory_working_set_bytes": 67510272,
                            "memory_limit_bytes": 512 * 1024**2,
                            "restart_count": 2,
                        },
                        "rates": {"cpu_percent": 12.3456},
                    },
                    {
                        "name": "web|front",
                        "state": "running",
                        "gauges": {"memory_working_set_bytes": 1000, "memory_limit_bytes": None, "restart_count": 0},
                        "rates": {},
                    },
                ]
            }
        }
    },
    "web2": {"ansible_facts": {}},
    "ctl": {
        "ansible_facts": {
            "quadstats_onefs": {
                "prod": {
                    "cluster": {"name": "prod", "nodes_down": [3]},
                    "stats": [
                        {"name": "cluster.health", "field": None, "labels": {"cluster": "prod"}, "value": 1},
                        {"name": "ifs.bytes.used", "field": None, "labels": {"cluster": "prod"}, "value": 3 * GiB},
                        {"name": "ifs.bytes.total", "field": None, "labels": {"cluster": "prod"}, "value": 4 * GiB},
                    ],
                },
                "lab": {"cluster": {"name": "lab", "nodes_down": []}, "stats": []},
            }
        }
    },
}


def report():
    return fr.fleet_report(HOSTVARS, container_hosts=["web1", "web2", "missing"], cluster_hosts=["ctl"])


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, None),
        (0, "0 B"),
        (1023, "1023 B"),
        (1024, "1.0 KiB"),
        (67510272, "64.4 MiB"),
        (3 * GiB, "3.0 GiB"),
        (2**60, "1024.0 PiB"),
    ],
)
def test_human_bytes(value, text):
    assert fr.human_bytes(value) == text


def test_container_rows_are_rounded_and_keep_raw_values():
    rows = report()["containers"]
    assert [r["container"] for r in rows] == ["db", "web|front"]
    db, front = rows
    assert db == {
        "host": "web1",
        "container": "db",
        "state": "running",
        "cpu_percent": "12.3",
        "memory": "64.4 MiB",
        "memory_limit": "512.0 MiB",
        "restarts": 2,
        "raw": {"memory_bytes": 67510272, "memory_limit_bytes": 512 * 1024**2, "cpu_percent": 12.3456},
    }
    assert front["memory_limit"] == "unlimited"
    assert front["cpu_percent"] is None


def test_cluster_rows_health_capacity_nodes_down():
    rows = report()["clusters"]
    assert [r["cluster"] for r in rows] == ["lab", "prod"]
    lab, prod = rows
    assert prod["health"] == "attention"
    assert prod["capacity_used"] == "75.0"
    assert prod["capacity"] == "3.0 GiB of 4.0 GiB"
    assert prod["nodes_down"] == "3"
    assert prod["raw"] == {"used_bytes": 3 * GiB, "total_bytes": 4 * GiB, "health": 1, "nodes_down": [3]}
    assert lab["health"] is None
    assert lab["nodes_down"] == "none"


def test_renderings():
    out = report()
    text = out["text"].splitlines()
    assert text[0] == "Containers"
    assert text[1].split() == ["host", "container", "state", "CPU", "%", "memory", "limit", "restarts"]
    assert text[3].split()[:4] == ["web1", "db", "running", "12.3"]
    assert "web|front" in text[4] and " - " in text[4]
    assert "| web1 | web\\|front | running | - | 1000 B | unlimited | 0 |" in out["markdown"]
    parsed = list(csv.DictReader(io.StringIO(out["csv_clusters"])))
    assert parsed[1]["cluster"] == "prod" and parsed[1]["capacity_used"] == "75.0"
    assert next(iter(csv.DictReader(io.StringIO(out["csv_containers"]))))["memory"] == "64.4 MiB"


def test_empty_fleet_says_none():
    out = fr.fleet_report({}, container_hosts=[], cluster_hosts=[])
    assert out["text"] == "Containers\n(none)\n\nOneFS clusters\n(none)"


def test_not_hostvars_is_a_clear_error():
    with pytest.raises(AnsibleFilterError, match="expects hostvars"):
        fr.fleet_report(["web1"])
