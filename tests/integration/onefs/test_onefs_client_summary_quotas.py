"""Summary statistics and quotas through the core against the simulator."""

from __future__ import annotations

import pytest

from ansible_collections.quadstats.stack.plugins.module_utils.onefs.errors import OneFSError
from ansible_collections.quadstats.stack.plugins.module_utils.onefs.sampler import OneFSSampler
from harness.onefs_simulator.model import quota_list, summary_values
from harness.onefs_simulator.server import PRIV_LOGIN


def test_summary_kinds_equal_what_the_simulator_serves(sim, client_factory):
    sampler = OneFSSampler(client_factory(sim))
    for kind in ("protocol", "client", "drive"):
        samples = sampler.read_summary(kind)
        items = summary_values(sim.model, kind, sim.clock.now())
        numeric = sum(
            1
            for item in items
            for name, value in item.items()
            if name not in ("time", "node") and isinstance(value, (int, float)) and not isinstance(value, bool)
        )
        assert len(samples) == numeric
        assert {s["name"] for s in samples} == {"node.summary." + kind}
        assert {s["labels"]["cluster"] for s in samples} == {"simcluster"}
    assert sim.counters["summary_requests"] == 3


def test_summary_follows_down_nodes_and_needs_the_privilege(sim, client_factory):
    sampler = OneFSSampler(client_factory(sim))
    sim.set_node_up(2, False)
    nodes = {s["labels"]["node"] for s in sampler.read_summary("protocol")}
    assert nodes == {"1", "3", "4"}
    sim.privileges = {PRIV_LOGIN}
    with pytest.raises(OneFSError) as err:
        sampler.read_summary("drive")
    assert err.value.kind == "permission" and "/platform/3/statistics/summary/drive" in str(err.value)


def test_quotas_paged_by_type_and_version_fallback(sim_factory, client_factory):
    sim = sim_factory(quota_count=1600)
    client = client_factory(sim)
    samples = OneFSSampler(client).read_quotas(["directory", "default-directory", "user"])
    expected = quota_list(sim.model, sim.clock.now(), 8, 1600)
    assert {s["labels"]["quota_id"] for s in samples} == {q["id"] for q in expected}
    assert sim.counters["quota_requests"] == 4  # directory needs two pages of 1000, the others one each
    assert all(entry[1].startswith("/platform/8/") for entry in sim.log if "quota" in entry[1])

    old = sim_factory(quota_versions=(1,))
    client = client_factory(old)
    samples = OneFSSampler(client).read_quotas()
    fields = {s["field"] for s in samples}
    assert "usage_fslogical_bytes" in fields and "usage_applogical_bytes" not in fields
    paths = [entry[1].split("?")[0] for entry in old.log if "quota" in entry[1]]
    assert paths[:2] == ["/platform/8/quota/quotas", "/platform/1/quota/quotas"]
    assert set(paths[2:]) == {"/platform/1/quota/quotas"}  # the version is learned once
