"""The exporter as a real subprocess against several OneFS simulators with faults injected."""

from __future__ import annotations

import json
import signal
import time

from onefs_exporter_helpers import PASSWORD, cluster_entry, free_port, http_get, metric, parse_metrics

from harness.onefs_simulator.server import PRIV_LOGIN

FAST_GROUPS = [
    {"name": "cpu", "keys": ["cluster.cpu.user.avg", "cluster.cpu.sys.avg"], "interval": 1},
    {"name": "load", "keys": ["node.load.1min", "node.disk.busy.avg", "node.ifs.cache"], "interval": 1},
]


def base_config(clusters, **extra):
    config = {
        "clusters": clusters,
        "stat_groups": FAST_GROUPS,
        "min_update_interval": 1,
        "refresh_interval": 30,
        "sinks": {"prometheus": {"port": free_port()}, "http_sd": {"enabled": True, "port": free_port()}},
    }
    config.update(extra)
    return config


def scrape(port):
    return parse_metrics(http_get(f"http://127.0.0.1:{port}/metrics")[1])


def up_of(samples, name):
    found = metric(samples, "quadstats_onefs_exporter_up", cluster=name)
    return found[0][2] if found else None


def test_three_clusters_with_faults(sim_factory, password_file, exporter_factory):
    alpha = sim_factory(cluster_name="Alpha", seed=1)
    beta = sim_factory(cluster_name="Beta", seed=2)
    beta.privileges = {PRIV_LOGIN}  # login works, statistics answer 403
    port_a = free_port()
    config = base_config(
        [
            cluster_entry("a", alpha, password_file, prometheus_port=port_a),
            cluster_entry("b", beta, password_file),
            cluster_entry("c", None, password_file),  # nothing listens there
        ]
    )
    all_port = config["sinks"]["prometheus"]["port"]
    proc = exporter_factory(config)

    def settled():
        s = scrape(all_port)
        states = (up_of(s, "a"), up_of(s, "b"), up_of(s, "c"))
        # up starts at 0: b and c count as down only once their first failure is counted.
        failed = metric(s, "quadstats_onefs_exporter_errors_total", cluster="b", kind="permission") and metric(
            s, "quadstats_onefs_exporter_errors_total", cluster="c", kind="unreachable"
        )
        return (
            s if states == (1, 0, 0) and failed and metric(s, "isilon_stat_node_load_1min", cluster="alpha") else None
        )

    samples = proc.wait_for(settled, what="a up with values, b and c down after their first failure")
    assert metric(samples, "quadstats_onefs_exporter_errors_total", cluster="b", kind="permission")
    assert metric(samples, "quadstats_onefs_exporter_errors_total", cluster="c", kind="unreachable")

    # Cluster a on its own port: gostats names, cluster label = the OneFS name in lower case, OneFS times.
    own = scrape(port_a)
    cpu = metric(own, "isilon_stat_cluster_cpu_user_avg")
    assert len(cpu) == 1
    assert cpu[0][1] == {"cluster": "alpha"}
    assert cpu[0][3] % 1000 == 0  # OneFS sample time (whole seconds) in milliseconds
    loads = metric(own, "isilon_stat_node_load_1min")
    assert {(s[1]["node"], s[1]["devid"]) for s in loads} == {("1", "2"), ("2", "3"), ("3", "5")}
    assert metric(own, "isilon_stat_node_ifs_cache_l1_data_read_hit", cluster="alpha")
    assert not metric(own, "quadstats_onefs_exporter_up", cluster="b")  # only a's self-metrics here

    # HTTP SD lists both metrics endpoints.
    sd_port = config["sinks"]["http_sd"]["port"]
    doc = json.loads(http_get(f"http://127.0.0.1:{sd_port}/")[1])
    targets = sorted(t for group in doc for t in group["targets"])
    assert targets == sorted([f"127.0.0.1:{all_port}", f"127.0.0.1:{port_a}"])

    # Several cycles later: still one log line per cluster state, not one per cycle.
    time.sleep(3)
    log = proc.log()
    assert log.count("cluster b: collection failed (permission)") == 1, log
    assert log.count("cluster c: collection failed (unreachable)") == 1, log

    # a's answers become malformed: up 0, last values kept until they expire (2 x 1 s), then gone.
    alpha.faults.malformed_json = -1
    samples = proc.wait_for(lambda: (s := scrape(all_port)) and up_of(s, "a") == 0 and s, what="a down")
    assert "cluster a: collection failed (malformed_response)" in proc.log()
    proc.wait_for(
        lambda: not metric(scrape(all_port), "isilon_stat_cluster_cpu_user_avg", cluster="alpha"),
        timeout=10,
        what="a's series to expire",
    )
    alpha.faults.malformed_json = 0
    proc.wait_for(lambda: up_of(scrape(all_port), "a") == 1, what="a up again")
    assert "cluster a: collecting again (was down: malformed_response)" in proc.log()

    # b gets its privilege: up without a restart.
    beta.privileges.add("ISI_PRIV_STATISTICS")
    samples = proc.wait_for(lambda: (s := scrape(all_port)) and up_of(s, "b") == 1 and s, what="b up")
    assert metric(samples, "isilon_stat_cluster_cpu_user_avg", cluster="beta")
    assert metric(samples, "isilon_stat_cluster_cpu_user_avg", cluster="alpha")

    assert proc.stop() == 0
    assert "stopped" in proc.log()
    assert PASSWORD not in proc.log()


def test_session_expiry_node_down_and_401(sim_factory, password_file, exporter_factory):
    sim = sim_factory(cluster_name="Gamma", nodes=4)
    config = base_config([cluster_entry("g", sim, password_file)])
    port = config["sinks"]["prometheus"]["port"]
    proc = exporter_factory(config)
    proc.wait_for(lambda: up_of(scrape(port), "g") == 1, what="g up")

    def renewed(count):
        s = scrape(port)
        found = metric(s, "quadstats_onefs_exporter_session_renewals_total", cluster="g")
        return s if found and found[0][2] >= count else None

    sim.expire_sessions()  # the session expired on the cluster: one re-login, no failed cycle
    samples = proc.wait_for(lambda: renewed(1), what="a session renewal")
    assert up_of(samples, "g") == 1
    sim.faults.force_401 = 1  # a single 401 (e.g. another node answered): one re-login
    samples = proc.wait_for(lambda: renewed(2), what="a second renewal")
    assert up_of(samples, "g") == 1
    assert "collection failed" not in proc.log()

    sim.set_node_up(2, False)

    def node_two_gone():
        s = scrape(port)
        nodes = {x[1]["node"] for x in metric(s, "isilon_stat_node_load_1min")}
        return s if nodes == {"1", "3", "4"} else None

    samples = proc.wait_for(node_two_gone, timeout=15, what="node 2's series to go")
    assert up_of(samples, "g") == 1
    # Cluster values aggregated over nodes are degraded while a node is down: counted, not exported.
    degraded = metric(samples, "quadstats_onefs_exporter_errors_total", cluster="g", kind="degraded")
    assert degraded and degraded[0][2] >= 1
    sim.set_node_up(2, True)
    proc.wait_for(
        lambda: {x[1]["node"] for x in metric(scrape(port), "isilon_stat_node_load_1min")} == {"1", "2", "3", "4"},
        what="node 2 back",
    )
    assert "collection failed" not in proc.log()
    assert proc.stop() == 0


def test_sighup_reload(sim_factory, password_file, exporter_factory, tmp_path):
    one = sim_factory(cluster_name="One")
    two = sim_factory(cluster_name="Two")
    config = base_config([cluster_entry("one", one, password_file)])
    port = config["sinks"]["prometheus"]["port"]
    proc = exporter_factory(config)
    proc.wait_for(lambda: up_of(scrape(port), "one") == 1, what="one up")

    # A wrong configuration is refused and the running one kept.
    proc.config_path.write_text("clusters: []\n")
    proc.signal(signal.SIGHUP)
    proc.wait_for(lambda: "reload refused" in proc.log(), what="the refusal")
    assert "setting clusters: must be a non-empty list" in proc.log()
    assert up_of(scrape(port), "one") == 1

    import yaml  # noqa: PLC0415

    config["clusters"].append(cluster_entry("two", two, password_file))
    proc.config_path.write_text(yaml.safe_dump(config))
    proc.signal(signal.SIGHUP)
    samples = proc.wait_for(lambda: (s := scrape(port)) and up_of(s, "two") == 1 and s, what="two up")
    assert up_of(samples, "one") == 1
    assert "configuration reloaded" in proc.log()
    assert proc.stop() == 0


def test_bad_configuration_exits_2_naming_the_setting(exporter_factory, password_file):
    proc = exporter_factory({"clusters": [{"name": "x", "host": "https://x", "username": "u"}], "sinks": {}})
    assert proc.proc.wait(20) == 2
    log = proc.log()
    assert "setting clusters[0].host: a host name or address without scheme" in log
    assert "setting clusters[0].password_file: is required" in log
    assert "setting sinks: configure at least one sink" in log
