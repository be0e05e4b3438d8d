"""A long-running sampler follows the cluster: node churn, key metadata and errors have a lifetime."""

from __future__ import annotations

import logging

import pytest

from ansible_collections.quadstats.stack.plugins.module_utils.onefs.groups import GROUP_NAMES, expand
from ansible_collections.quadstats.stack.plugins.module_utils.onefs.papi_client import PapiClient
from ansible_collections.quadstats.stack.plugins.module_utils.onefs.sampler import OneFSSampler

REFRESH = 60.0
NODE_KEYS = ["node.load.1min", "cluster.cpu.user.avg", "cluster.node.count.down"]


def node_values(result, key):
    return {s["labels"]["node"]: s["value"] for s in result["stats"] if s["name"] == key}


def config_reads(sim):
    return sum(1 for entry in sim.log if entry[1] == "/platform/1/cluster/config")


@pytest.fixture
def sampler(sim, client_factory):
    return OneFSSampler(client_factory(sim, refresh_interval=REFRESH), include_degraded=True)


def test_node_down_back_and_new_lnn_are_followed_in_the_next_cycle(sim, sampler, caplog):
    caplog.set_level(logging.INFO, logger="quadstats.onefs")
    first = sampler.read(NODE_KEYS)
    assert set(node_values(first, "node.load.1min")) == {"1", "2", "3", "4"}
    assert first["cluster"]["nodes_down"] == []

    sim.set_node_up(2, False)
    down = sampler.read(NODE_KEYS)
    assert set(node_values(down, "node.load.1min")) == {"1", "3", "4"}
    assert down["cluster"]["nodes_down"] == [2]
    assert down["requests"] == 2  # the statistics, then the identity again (the rows disagreed with it)
    assert any("node map changed" in r.getMessage() for r in caplog.records)

    sim.set_node_up(2, True)
    back = sampler.read(NODE_KEYS)
    assert set(node_values(back, "node.load.1min")) == {"1", "2", "3", "4"}
    assert back["cluster"]["nodes_down"] == []

    devid = sim.model.node(3).devid
    sim.change_lnn(3, 7)
    moved = sampler.read(NODE_KEYS)
    now = sim.clock.now()
    assert set(node_values(moved, "node.load.1min")) == {"1", "2", "4", "7"}
    assert node_values(moved, "node.load.1min")["7"] == sim.model.value("node.load.1min", devid, now)
    assert moved["cluster"]["nodes_up"] == [1, 2, 4, 7]
    # nothing changed since: one request per cycle again
    assert sampler.read(NODE_KEYS)["requests"] == 1


def test_identity_is_refreshed_within_one_interval_when_rows_cannot_tell(sim, sampler):
    keys = ["ifs.bytes.free"]  # cluster-scoped and not aggregated from nodes: rows say nothing of nodes
    assert sampler.read(keys)["cluster"]["nodes_down"] == []
    sim.set_node_up(4, False)
    sim.clock.advance(REFRESH / 2)
    stale = sampler.read(keys)
    assert stale["cluster"]["nodes_down"] == []  # still trusted
    assert stale["requests"] == 1
    sim.clock.advance(REFRESH / 2)
    fresh = sampler.read(keys)
    assert fresh["cluster"]["nodes_down"] == [4]
    assert config_reads(sim) == 2


def test_unknown_key_is_looked_up_again_after_the_refresh_interval(sim, sampler):
    meta = sim.model.metadata.pop("node.load.5min")  # the cluster before an upgrade
    keys = ["node.load.1min", "node.load.5min"]
    assert sampler.read(keys)["unknown_keys"] == ["node.load.5min"]
    sim.model.metadata["node.load.5min"] = meta
    assert sampler.read(keys)["unknown_keys"] == ["node.load.5min"]  # remembered within the interval
    sim.clock.advance(REFRESH)
    result = sampler.read(keys)
    assert result["unknown_keys"] == []
    assert set(node_values(result, "node.load.5min")) == {"1", "2", "3", "4"}


def test_permanent_errors_are_retried_after_the_refresh_interval(sim, sampler):
    keys = ["cluster.cpu.sys.avg", "cluster.cpu.user.avg"]
    sim.faults.row_errors = {("cluster.cpu.sys.avg", 0): 9}  # not configured
    assert [e["kind"] for e in sampler.read(keys)["errors"]] == ["permanent"]
    assert sampler.read(keys)["skipped_keys"] == ["cluster.cpu.sys.avg"]
    sim.faults.row_errors = {}  # configured now
    sim.clock.advance(REFRESH)
    result = sampler.read(keys)
    assert result["skipped_keys"] == []
    assert {s["name"] for s in result["stats"]} == set(keys)


def test_known_key_rejected_refreshes_identity_and_metadata_at_once(sim, sampler, caplog):
    caplog.set_level(logging.INFO, logger="quadstats.onefs")
    keys = ["node.load.1min", "node.load.5min"]
    sampler.read(keys)
    generation = sampler.client.generation
    sim.faults.current_rejects = {"node.load.5min"}  # metadata knows it, statistics/current no longer does
    result = sampler.read(keys)
    assert result["unknown_keys"] == ["node.load.5min"]
    assert sampler.client.generation == generation + 1
    assert any("rejected known key(s) node.load.5min" in r.getMessage() for r in caplog.records)
    before = config_reads(sim)
    sampler.read(keys)  # no clock advance: the identity is read again at once
    assert config_reads(sim) == before + 1


def test_refresh_interval_must_be_positive():
    with pytest.raises(ValueError, match="refresh_interval"):
        PapiClient("cluster.example.com", refresh_interval=0)


def test_url_budget_halved_after_414_is_learned_again_after_the_refresh(sim, sampler):
    keys = expand(groups=GROUP_NAMES)
    sim.faults.max_uri = 1500
    sampler.read(keys)
    assert sampler.client.max_url_length == 1000
    sim.faults.max_uri = 8192  # the web server's limit is back to normal
    assert sampler.read(keys)["requests"] > 1  # still small batches within the interval
    sim.clock.advance(REFRESH)
    sampler.read(keys)  # the refresh: identity, key list, statistics in one request again
    assert sampler.client.max_url_length == 8000
    assert sampler.read(keys)["requests"] == 1


def test_key_metadata_is_answered_again_only_while_nothing_was_learned(sim, client_factory):
    client = client_factory(sim, refresh_interval=REFRESH)
    keys = ["node.load.1min", "cluster.cpu.user.avg", "no.such.key"]
    metas, unknown, hints = client.key_metadata(keys)
    assert unknown == ["no.such.key"]
    hints["no.such.key"].append("changed by the caller")  # callers get their own lists
    again = client.key_metadata(keys)
    assert again[0] is metas  # the same answer: nothing learned since
    assert again[1] == ["no.such.key"]
    assert "changed by the caller" not in again[2]["no.such.key"]
    assert client.key_metadata(keys[:2])[0] == {k: metas[k] for k in keys[:2]}  # another key list, its own answer
    sim.clock.advance(REFRESH)  # the scheduled refresh: learned again, a new answer
    refreshed = client.key_metadata(keys)
    assert refreshed[0] is not metas
    assert refreshed[0] == metas
