"""The PAPI client and sampler against the simulator: auth rules, batching and every fault."""

from __future__ import annotations

import socket
from urllib.parse import parse_qs, urlsplit

import pytest

from ansible_collections.quadstats.stack.plugins.module_utils.onefs.errors import OneFSError
from ansible_collections.quadstats.stack.plugins.module_utils.onefs.groups import GROUP_NAMES, expand
from ansible_collections.quadstats.stack.plugins.module_utils.onefs.sampler import OneFSSampler
from harness.onefs_simulator.server import DEFAULT_CANARY as CANARY_PASSWORD

GOSTATS = expand(groups=GROUP_NAMES)
SCALARS = ["cluster.cpu.user.avg", "node.load.1min", "ifs.bytes.free", "node.memory.used", "cluster.node.count.all"]


def current_targets(sim):
    return [entry[1] for entry in sim.log if entry[1].startswith("/platform/1/statistics/current")]


def by_name(stats, name):
    return [s for s in stats if s["name"] == name]


def test_values_match_the_simulated_cluster(sim, client_factory):
    client = client_factory(sim)
    result = OneFSSampler(client).read(SCALARS)
    now = sim.clock.now()
    lnn_of = {n.devid: n.lnn for n in sim.model.nodes}
    assert all(devid != lnn for devid, lnn in lnn_of.items())
    for key in SCALARS:
        samples = by_name(result["stats"], key)
        if sim.model.metadata[key]["scope"] == "cluster":
            assert [s["value"] for s in samples] == [sim.model.value(key, 0, now)]
            assert samples[0]["labels"] == {"cluster": "simcluster"}
        else:
            expected = {str(lnn_of[n.devid]): sim.model.value(key, n.devid, now) for n in sim.model.nodes}
            assert {s["labels"]["node"]: s["value"] for s in samples} == expected
    assert result["cluster"]["name"] == "SimCluster"
    assert result["cluster"]["version"] == "v9.5.0.0"
    assert result["errors"] == []


def test_protostats_values_survive_the_round_trip(sim, client_factory):
    client = client_factory(sim)
    result = OneFSSampler(client).read(["cluster.protostats.nfs", "cluster.protostats.nfs.total"])
    served = sim.model.value("cluster.protostats.nfs", 0, sim.clock.now())
    got = {(s["labels"]["op_name"], s["field"]): s["value"] for s in by_name(result["stats"], "cluster.protostats.nfs")}
    expected = {
        (op["op_name"], f): v for op in served for f, v in op.items() if f not in ("op_name", "class_name", "op_id")
    }
    assert got == expected
    total = sim.model.value("cluster.protostats.nfs.total", 0, sim.clock.now())[0]
    assert {s["field"]: s["value"] for s in by_name(result["stats"], "cluster.protostats.nfs.total")} == total


def test_gostats_set_is_one_request_per_cycle_and_metadata_is_cached(sim_factory, client_factory):
    sim = sim_factory(nodes=8)
    client = client_factory(sim)
    sampler = OneFSSampler(client)
    first = sampler.read(GOSTATS)
    second = sampler.read(GOSTATS)
    assert sim.counters["current_requests"] == 2
    # second cycle: no login, identity or metadata again - just the one statistics request
    assert second["requests"] == 1
    assert first["requests"] == 4  # login, cluster config, key list, statistics
    assert len({s["name"] for s in second["stats"]}) == 116
    nodes = {s["labels"].get("node") for s in second["stats"]} - {None}
    assert nodes == {str(n) for n in range(1, 9)}


def test_few_keys_fetch_metadata_key_by_key(sim, client_factory):
    client = client_factory(sim)
    OneFSSampler(client).read(["node.load.1min", "ifs.bytes.free"])
    meta_paths = [e[1] for e in sim.log if e[1].startswith("/platform/1/statistics/keys")]
    assert meta_paths == ["/platform/1/statistics/keys/node.load.1min", "/platform/1/statistics/keys/ifs.bytes.free"]


def test_session_requests_carry_cookie_csrf_and_referer_and_logout(sim, client_factory):
    client = client_factory(sim)
    OneFSSampler(client).read(["node.load.1min"])
    client.close()
    gets = [e for e in sim.log if e[0] == "GET"]
    assert gets
    (csrf,) = {e[3]["X-CSRF-Token"] for e in gets}
    assert csrf
    for _method, _path, status, headers in gets:
        assert status == 200
        assert "isisessid=" in headers["Cookie"]
        assert headers["Referer"] == f"https://127.0.0.1:{sim.port}"
        assert headers["Authorization"] is None
    assert sim.counters == {
        "logins": 1,
        "logouts": 1,
        "replacements": 0,
        "current_requests": 1,
        "summary_requests": 0,
        "quota_requests": 0,
    }
    assert sim.sessions == {}


def test_basic_auth_sends_credentials_every_time_and_never_logs_in(sim, client_factory):
    client = client_factory(sim, auth="basic")
    OneFSSampler(client).read(["node.load.1min"])
    assert sim.counters["logins"] == 0
    assert all(e[3]["Authorization"].startswith("Basic ") for e in sim.log)


def test_replacement_cookie_is_honoured(sim, client_factory):
    client = client_factory(sim)
    sampler = OneFSSampler(client)
    sampler.read(["node.load.1min"])
    sim.clock.advance(500)  # 400 s of inactivity left: the server sends a replacement cookie
    sampler.read(["node.load.1min"])
    assert sim.counters["replacements"] == 1
    sim.clock.advance(500)  # the first cookie would now be dead; the replacement is still valid
    sampler.read(["node.load.1min"])
    assert 401 not in sim.statuses()
    assert sim.counters["logins"] == 1


def test_proactive_relogin_before_timeout_absolute(sim_factory, client_factory):
    sim = sim_factory(timeout_inactive=0)  # seen on OneFS 9.5.0.3
    client = client_factory(sim)
    sampler = OneFSSampler(client)
    sampler.read(["node.load.1min"])
    sim.clock.advance(14400 - 30)
    sampler.read(["node.load.1min"])
    assert sim.counters["logins"] == 2
    assert 401 not in sim.statuses()


def test_expired_session_relogs_in_once(sim, client_factory):
    client = client_factory(sim)
    sampler = OneFSSampler(client)
    sampler.read(["node.load.1min"])
    sim.expire_sessions()
    result = sampler.read(["node.load.1min"])
    assert len(result["stats"]) == 4
    assert sim.statuses().count(401) == 1
    assert sim.counters["logins"] == 2


def test_persistent_401_fails_after_one_relogin(sim, client_factory):
    client = client_factory(sim)
    sim.faults.force_401 = -1
    with pytest.raises(OneFSError, match="ISI_PRIV_LOGIN_PAPI") as info:
        OneFSSampler(client).read(["node.load.1min"])
    assert info.value.kind == "authentication"
    assert sim.counters["logins"] == 2
    assert CANARY_PASSWORD not in str(info.value)


@pytest.mark.parametrize("auth", ["session", "basic"])
def test_wrong_password_names_the_login_privilege(sim, client_factory, auth):
    client = client_factory(sim, password="wrong-" + CANARY_PASSWORD, auth=auth)
    with pytest.raises(OneFSError) as info:
        OneFSSampler(client).read(["node.load.1min"])
    assert (info.value.kind, info.value.status) == ("authentication", 401)
    message = str(info.value)
    assert "ISI_PRIV_LOGIN_PAPI" in message
    assert "statsreader" in message
    assert CANARY_PASSWORD not in message


def test_missing_statistics_privilege_is_403(sim_factory, client_factory):
    sim = sim_factory(privileges=("ISI_PRIV_LOGIN_PAPI",))
    client = client_factory(sim)
    with pytest.raises(OneFSError, match="ISI_PRIV_STATISTICS") as info:
        OneFSSampler(client).read(["node.load.1min"])
    assert (info.value.kind, info.value.status) == ("permission", 403)
    assert 403 in sim.statuses()


def test_403_on_statistics_current_names_the_path_without_the_keys(sim_factory, client_factory):
    sim = sim_factory(privileges=("ISI_PRIV_LOGIN_PAPI",))
    client = client_factory(sim)
    keys = GOSTATS
    with pytest.raises(OneFSError) as info:
        client.current(keys)
    message = str(info.value)
    (target,) = current_targets(sim)
    assert len(target) > 3000  # the refused request carried every key
    assert "/platform/1/statistics/current " in message
    assert "?" not in message
    assert not any(key in message for key in keys)
    assert len(message) < 300


def test_tls_failure_names_validate_certs_and_ca_path(sim, client_factory):
    client = client_factory(sim, ca_path=None)
    with pytest.raises(OneFSError) as info:
        client.cluster_identity()
    assert info.value.kind == "tls"
    assert "ca_path" in str(info.value)
    assert "validate_certs" in str(info.value)


def test_validate_certs_opt_out(sim, client_factory):
    client = client_factory(sim, ca_path=None, validate_certs=False)
    assert client.cluster_identity()["name"] == "SimCluster"


def test_unreachable_names_host_and_port(client_factory, sim):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = client_factory(sim, retries=1)
    client.port = port
    with pytest.raises(OneFSError, match=f"127.0.0.1:{port}") as info:
        client.cluster_identity()
    assert info.value.kind == "unreachable"


def test_503_is_retried_with_backoff(sim, client_factory):
    slept = []
    client = client_factory(sim, sleep=slept.append)
    sim.faults.status_503 = 2
    result = OneFSSampler(client).read(["cluster.cpu.user.avg"])
    assert len(result["stats"]) == 1
    assert sim.statuses().count(503) == 2
    assert slept == [0.01, 0.02]


def test_closed_keepalive_connection_is_reopened_without_a_retry(sim, client_factory):
    client = client_factory(sim, retries=0)
    sampler = OneFSSampler(client)
    sampler.read(["node.load.1min"])
    sim.faults.drop_connection = 1
    assert len(sampler.read(["node.load.1min"])["stats"]) == 4
    # a fresh connection that fails is a real error (retries=0)
    sim.faults.drop_connection = 2
    with pytest.raises(OneFSError, match="RemoteDisconnected") as info:
        sampler.read(["node.load.1min"])
    assert info.value.kind == "unreachable"


def test_503_beyond_retries_fails(sim, client_factory):
    client = client_factory(sim, retries=1)
    sim.faults.status_503 = -1
    with pytest.raises(OneFSError) as info:
        client.cluster_identity()
    assert (info.value.kind, info.value.status) == ("api", 503)


def test_malformed_json_is_reported(sim, client_factory):
    client = client_factory(sim, auth="basic")
    sim.faults.malformed_json = 1
    with pytest.raises(OneFSError, match="malformed JSON") as info:
        client.cluster_identity()
    assert info.value.kind == "malformed_response"


def test_slow_response_times_out_then_retry_succeeds(sim, client_factory):
    client = client_factory(sim, auth="basic", timeout=0.3, retries=0)
    sim.faults.slow_seconds = 1.0
    sim.faults.slow_count = 1
    with pytest.raises(OneFSError, match="raise the timeout option") as info:
        client.cluster_identity()
    assert info.value.kind == "timeout"
    # the next request is answered promptly
    assert client.cluster_identity()["name"] == "SimCluster"


def test_uri_too_long_shrinks_batches(sim, client_factory):
    client = client_factory(sim)
    sim.faults.max_uri = 1500
    result = OneFSSampler(client).read(GOSTATS)
    assert len({s["name"] for s in result["stats"]}) == 116
    assert 414 in sim.statuses()
    assert client.max_url_length == 1000
    ok = [t for t, status in ((e[1], e[2]) for e in sim.log) if status == 200 and "statistics/current" in t]
    assert all(len(t) <= 1500 for t in ok)
    keys = [k for t in ok for k in parse_qs(urlsplit(t).query)["key"]]
    assert sorted(keys) == sorted(GOSTATS)


def test_key_rejected_by_current_does_not_sink_the_query(sim, client_factory):
    client = client_factory(sim)
    sim.faults.current_rejects = {"node.load.5min"}
    result = OneFSSampler(client).read(["node.load.1min", "node.load.5min", "ifs.bytes.free"])
    assert result["unknown_keys"] == ["node.load.5min"]
    assert {s["name"] for s in result["stats"]} == {"node.load.1min", "ifs.bytes.free"}
    assert sim.statuses("/platform/1/statistics/current").count(400) == 1


def test_unknown_key_detected_before_querying(sim, client_factory):
    client = client_factory(sim)
    result = OneFSSampler(client).read(["node.load.1min", "node.load.1mn"])
    assert result["unknown_keys"] == ["node.load.1mn"]
    assert "node.load.1min" in result["suggestions"]["node.load.1mn"]
    assert 400 not in sim.statuses()
    (target,) = current_targets(sim)
    assert parse_qs(urlsplit(target).query)["key"] == ["node.load.1min"]


def test_row_error_codes_are_classified_and_permanent_ones_remembered(sim, client_factory):
    client = client_factory(sim)
    dev = sim.model.nodes[1].devid  # LNN 2
    sim.faults.row_errors = {
        ("cluster.cpu.sys.avg", 0): 1,
        ("cluster.cpu.user.avg", 0): 2,
        ("cluster.cpu.idle.avg", 0): 3,
        ("cluster.cpu.intr.avg", 0): 4,
        ("ifs.bytes.free", 0): 5,
        ("ifs.bytes.used", 0): 6,
        ("ifs.bytes.avail", 0): 7,
        ("ifs.bytes.total", 0): 8,
        ("node.load.1min", dev): 9,
        ("node.load.5min", None): 10,
    }
    keys = [*(k for k, _devid in sim.faults.row_errors), "node.load.15min"]
    sampler = OneFSSampler(client, include_degraded=True)
    result = sampler.read(keys)
    errs = {(e["key"], e.get("node")): (e["code"], e["kind"]) for e in result["errors"]}
    assert errs[("cluster.cpu.sys.avg", None)] == (1, "permanent")
    assert errs[("cluster.cpu.idle.avg", None)] == (3, "degraded")
    assert errs[("cluster.cpu.intr.avg", None)] == (4, "transient")
    assert errs[("ifs.bytes.total", None)] == (8, "transient")
    assert errs[("node.load.1min", 2)] == (9, "permanent")
    assert {n for (k, n) in errs if k == "node.load.5min"} == {1, 2, 3, 4}
    names = {s["name"] for s in result["stats"]}
    assert names == {"cluster.cpu.idle.avg", "node.load.1min", "node.load.15min"}
    assert {s["labels"]["node"] for s in by_name(result["stats"], "node.load.1min")} == {"1", "3", "4"}
    (idle,) = by_name(result["stats"], "cluster.cpu.idle.avg")
    assert idle["degraded"] is True
    # second cycle: permanent keys that failed everywhere are no longer queried
    second = sampler.read(keys)
    (target,) = current_targets(sim)[1:]
    queried = parse_qs(urlsplit(target).query)["key"]
    assert "cluster.cpu.sys.avg" not in queried
    assert "node.load.5min" not in queried
    assert "node.load.1min" in queried  # permanent on one node only
    assert "cluster.cpu.intr.avg" in queried  # transient: retried next cycle
    assert set(second["skipped_keys"]) == {"cluster.cpu.sys.avg", "cluster.cpu.user.avg", "node.load.5min"}


def test_down_node_degrades_cluster_values(sim_factory, client_factory):
    sim = sim_factory(down=(2,))
    client = client_factory(sim)
    keys = ["cluster.cpu.user.avg", "node.load.1min", "cluster.node.count.down"]
    dropped = OneFSSampler(client, include_degraded=False).read(keys)
    assert dropped["cluster"]["nodes_down"] == [2]
    assert not by_name(dropped["stats"], "cluster.cpu.user.avg")
    assert [s["value"] for s in by_name(dropped["stats"], "cluster.node.count.down")] == [1]
    assert {s["labels"]["node"] for s in by_name(dropped["stats"], "node.load.1min")} == {"1", "3", "4"}
    kept = OneFSSampler(client, include_degraded=True).read(keys)
    (cpu,) = by_name(kept["stats"], "cluster.cpu.user.avg")
    assert cpu["degraded"] is True
    assert cpu["value"] == sim.model.value("cluster.cpu.user.avg", 0, sim.clock.now())


def test_cache_time_same_value_within_then_new_value(sim, client_factory):
    client = client_factory(sim)
    sampler = OneFSSampler(client)
    key = "cluster.cpu.user.avg"  # policy_cache_time 7
    sim.clock.advance(7 - sim.clock.now() % 7)  # start of a cache period
    first = by_name(sampler.read([key])["stats"], key)[0]
    sim.clock.advance(1)
    again = by_name(sampler.read([key])["stats"], key)[0]
    assert (again["value"], again["timestamp"]) == (first["value"], first["timestamp"])
    sim.clock.advance(7)
    later = by_name(sampler.read([key])["stats"], key)[0]
    assert later["timestamp"] == first["timestamp"] + 7
    assert later["value"] == sim.model.value(key, 0, sim.clock.now())


def test_nodes_filter(sim, client_factory):
    client = client_factory(sim)
    result = OneFSSampler(client, nodes=[1, "3"]).read(["node.load.1min", "cluster.cpu.user.avg"])
    assert {s["labels"].get("node") for s in result["stats"]} == {None, "1", "3"}


def test_uint64_above_2_63_round_trip(sim, client_factory):
    client = client_factory(sim)
    dev = sim.model.nodes[0].devid
    sim.faults.value_overrides = {("node.memory.free", dev): 2**64 - 5}
    result = OneFSSampler(client).read(["node.memory.free"])
    values = {s["labels"]["node"]: s["value"] for s in result["stats"]}
    assert values["1"] == 2**64 - 5
