"""Key metadata, update intervals and cluster identity (pure), on the real key dump."""

import json
from pathlib import Path

import pytest

from ansible_collections.quadstats.stack.plugins.module_utils.onefs import metadata as md
from ansible_collections.quadstats.stack.plugins.module_utils.onefs.errors import OneFSError

KEYS = json.loads((Path(__file__).parents[2] / "harness" / "onefs_simulator" / "statistics-keys.json").read_text())
META = {k["key"]: k for k in KEYS["keys"]}


@pytest.mark.parametrize(
    ("key", "interval"),
    [
        ("cluster.cpu.user.avg", 5),  # first non-persistent policy: 5 s
        ("ifs.bytes.free", 300),  # ifs.bytes.* : 300 s
        ("ifs.percent.used", 300),
        ("node.ifs.heat.lock.total", 10),  # heat: 10 s
        ("cluster.protostats.nfs", 5),  # policies null: the configured minimum
        ("cluster.health", 5),
        ("cluster.node.count.down", 5),
    ],
)
def test_update_interval_from_real_metadata(key, interval):
    assert md.update_interval(META[key]) == interval


def test_minimum_applies_to_policy_less_keys_and_as_floor():
    assert md.update_interval(META["cluster.protostats.nfs"], minimum=30) == 30
    assert md.update_interval(META["cluster.cpu.user.avg"], minimum=30) == 30
    assert md.update_interval(META["ifs.bytes.free"], minimum=30) == 300


def test_persistent_policies_are_skipped():
    meta = {"policies": [{"interval": 120, "persistent": True}, {"interval": 15, "persistent": False}]}
    assert md.update_interval(meta) == 15


def test_cache_time_prefers_policy_cache_time():
    assert md.cache_time(META["cluster.cpu.user.avg"]) == 7
    assert md.cache_time(META["node.cpu.throttling"]) == 5  # policy_cache_time null -> default_cache_time
    assert md.cache_time({"policy_cache_time": None, "default_cache_time": 0}) == 0


def test_parse_key_list_and_split_known():
    metas, resume = md.parse_key_list({"keys": KEYS["keys"], "resume": None})
    assert len(metas) == 125
    assert resume is None
    assert metas["ifs.bytes.free"]["interval"] == 300
    good, bad, hints = md.split_known(["ifs.bytes.free", "ifs.bytes.fre", "nonsense"], metas)
    assert good == ["ifs.bytes.free"]
    assert bad == ["ifs.bytes.fre", "nonsense"]
    assert hints["ifs.bytes.fre"][0] == "ifs.bytes.free"
    assert hints["nonsense"] == []


def test_parse_key_list_rejects_other_payloads():
    with pytest.raises(OneFSError, match="no 'keys' list"):
        md.parse_key_list({"errors": [{"message": "x"}]})


def test_bucket_by_interval():
    metas = md.parse_key_list({"keys": KEYS["keys"]})[0]
    buckets = md.bucket_by_interval(metas)
    assert set(buckets) == {5, 10, 300}
    space = ["ifs.bytes.avail", "ifs.bytes.free", "ifs.bytes.used", "ifs.bytes.total"]
    space += ["ifs.percent.free", "ifs.percent.avail", "ifs.percent.used", "node.ifs.ssd.bytes.used"]
    assert sorted(buckets[300]) == sorted(space)
    assert len(buckets[10]) == 14  # 12 heat totals, node.ifs.heat.lock, node.uptime


def test_parse_cluster_config_identity():
    payload = {
        "name": "prod",
        "guid": "0050",
        "local_lnn": 2,
        "local_devid": 3,
        "has_quorum": True,
        "devices": [
            {"devid": 5, "lnn": 3, "guid": "c", "is_up": False},
            {"devid": 1, "lnn": 1, "guid": "a", "is_up": True},
            {"devid": 3, "lnn": 2, "guid": "b", "is_up": True},
        ],
        "onefs_version": {"release": "v9.5.0.0", "build": "B_9_5_0_004(RELEASE)", "revision": "1"},
    }
    ident = md.parse_cluster_config(payload)
    assert ident["version"] == "v9.5.0.0"
    assert [n["lnn"] for n in ident["nodes"]] == [1, 2, 3]
    assert ident["nodes_up"] == [1, 2]
    assert ident["nodes_down"] == [3]
    assert md.devid_to_lnn(ident) == {1: 1, 3: 2, 5: 3}
