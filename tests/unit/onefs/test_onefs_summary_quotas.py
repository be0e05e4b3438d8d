"""Summary statistics and quotas: the pure parsers and their gostats/goquotas names."""

from __future__ import annotations

import pytest

from ansible_collections.quadstats.stack.plugins.module_utils.onefs.errors import OneFSError
from ansible_collections.quadstats.stack.plugins.module_utils.onefs.exposition import to_influx, to_prometheus
from ansible_collections.quadstats.stack.plugins.module_utils.onefs.quotas import (
    parse_quota_page,
    quota_fields,
    quota_labels,
    quota_samples,
)
from ansible_collections.quadstats.stack.plugins.module_utils.onefs.summary import summary_samples, summary_target

PROTOCOL_ITEM = {
    "class": "read",
    "in": 10.5,
    "in_standard_dev": 1.0,
    "node": 3,
    "operation": "read",
    "operation_count": 7,
    "operation_rate": 2.5,
    "protocol": "nfs3",
    "time": 1700000005,
    "time_avg": 120.0,
}
CLIENT_ITEM = {
    "class": "write",
    "local_addr": "10.0.0.1",
    "node": 1,
    "num_operations": 4,
    "protocol": "smb2",
    "remote_addr": "10.9.9.9",
    "time": 1700000005,
    "user": {"id": "UID:1", "name": "alice", "type": "user"},
}
DRIVE_ITEM = {"busy": 12.5, "drive_id": "2:4", "time": 1700000005, "type": "SSD", "used_inodes": 12.0}


def test_summary_names_labels_and_time():
    samples = summary_samples("protocol", {"protocol": [PROTOCOL_ITEM]}, "prod")
    assert {s["field"] for s in samples} == {"in", "in_standard_dev", "operation_count", "operation_rate", "time_avg"}
    assert samples[0]["labels"] == {
        "cluster": "prod",
        "class": "read",
        "node": "3",
        "operation": "read",
        "protocol": "nfs3",
    }
    assert {s["timestamp"] for s in samples} == {1700000005}
    text = to_prometheus(samples, timestamps=True)
    assert 'isilon_stat_node_summary_protocol_operation_rate{class="read",cluster="prod",node="3"' in text
    assert text.rstrip().endswith("1700000005000")


def test_summary_client_user_and_drive_without_node():
    client = summary_samples("client", {"client": [CLIENT_ITEM]}, "c")
    assert client[0]["labels"]["user_name"] == "alice" and client[0]["field"] == "num_operations"
    drive = summary_samples("drive", {"drive": [DRIVE_ITEM]}, "c")
    assert {s["field"] for s in drive} == {"busy", "used_inodes"}
    assert drive[0]["labels"] == {"cluster": "c", "drive_id": "2:4", "type": "SSD"}


def test_summary_malformed_and_kinds():
    with pytest.raises(OneFSError) as err:
        summary_samples("drive", {"errors": [{"message": "x"}]}, "c")
    assert err.value.kind == "malformed_response"
    assert summary_target("drive") == "/platform/3/statistics/summary/drive?degraded=true"
    with pytest.raises(ValueError, match="summary kind"):
        summary_target("heat")


QUOTA_V8 = {
    "container": True,
    "enforced": True,
    "id": "q1",
    "include_snapshots": False,
    "linked": None,
    "path": "/ifs/data",
    "persona": None,
    "ready": True,
    "thresholds": {"hard": 1000, "soft": None, "advisory": 500, "hard_exceeded": False, "soft_grace": None},
    "thresholds_on": "physicalsize",
    "type": "directory",
    "usage": {
        "fslogical": 100,
        "fslogical_ready": True,
        "physical": 400,
        "physical_ready": True,
        "inodes": 9,
        "inodes_ready": False,
    },
}


def test_quota_fields_follow_goquotas():
    fields = dict(quota_fields(QUOTA_V8))
    assert fields["usage_bytes"] == 400  # thresholds_on physicalsize
    assert fields["hard_bytes"] == 1000 and fields["hard_utilization_ratio"] == 0.4
    assert fields["advisory_utilization_ratio"] == 0.8
    assert "soft_bytes" not in fields and "usage_inodes" not in fields  # unset, not ready
    assert fields["present"] == 1 and fields["container"] == 1 and fields["hard_exceeded"] == 0
    labels = quota_labels(QUOTA_V8, "prod")
    assert labels["linked"] == "" and labels["include_snapshots"] == "false" and labels["quota_type"] == "directory"
    text = to_prometheus(quota_samples([QUOTA_V8], "prod"))
    assert "isilon_quota_hard_bytes{" in text and 'path="/ifs/data"' in text
    assert to_influx(quota_samples([QUOTA_V8], "prod")).startswith("quota,cluster=prod,")


def test_quota_v1_usage_and_page_errors():
    v1 = dict(QUOTA_V8, usage={"logical": 50, "physical": 60, "inodes": 3}, thresholds_on=None)
    fields = dict(quota_fields(v1))
    assert fields["usage_fslogical_bytes"] == 50 and fields["usage_bytes"] == 50 and fields["usage_inodes"] == 3
    assert parse_quota_page({"quotas": [QUOTA_V8], "resume": None}) == ([QUOTA_V8], None)
    for bad in ({}, {"quotas": [{"id": "x"}]}):
        with pytest.raises(OneFSError):
            parse_quota_page(bad)
