"""Per-row error classification, actionable messages and the exposition encoders (pure)."""

import re

import pytest

from ansible_collections.quadstats.stack.plugins.module_utils.onefs import errors
from ansible_collections.quadstats.stack.plugins.module_utils.onefs.exposition import (
    prometheus_name,
    to_influx,
    to_prometheus,
)

CLASSES = [(1, "permanent"), (2, "permanent"), (3, "degraded"), (4, "transient"), (5, "transient")]
CLASSES += [(6, "transient"), (7, "transient"), (8, "transient"), (9, "permanent"), (10, "permanent"), (42, "unknown")]


@pytest.mark.parametrize(("code", "kind"), CLASSES)
def test_row_error_classes(code, kind):
    assert errors.classify_row_error(code)[0] == kind


def test_no_error_codes():
    assert errors.classify_row_error(None) is None
    assert errors.classify_row_error(0) is None


def test_messages_name_the_fix():
    assert "ISI_PRIV_LOGIN_PAPI" in errors.auth_failed_message("u", "h", 8080)
    assert "ISI_PRIV_STATISTICS" in errors.forbidden_message("u", "h", 8080, "/p")
    tls = errors.tls_failed_message("h", 8080, "self-signed")
    assert "validate_certs" in tls
    assert "ca_path" in tls
    assert "h:8080" in errors.unreachable_message("h", 8080, "refused")
    msg = str(errors.OneFSUnknownKeyError(["node.load.1mn"], {"node.load.1mn": ["node.load.1min"]}))
    assert "node.load.1mn" in msg
    assert "did you mean: node.load.1min" in msg


def sample(name, value, field=None, ts=1700000000, **labels):
    return {"name": name, "field": field, "labels": labels, "value": value, "unit": None, "timestamp": ts}


def test_prometheus_names_are_gostats_names():
    assert prometheus_name("cluster.cpu.user.avg") == "isilon_stat_cluster_cpu_user_avg"
    assert prometheus_name("cluster.protostats.nfs", "op_rate") == "isilon_stat_cluster_protostats_nfs_op_rate"
    assert prometheus_name("node.clientstats.active.lsass_out") == "isilon_stat_node_clientstats_active_lsass_out"


def test_to_prometheus_format():
    text = to_prometheus(
        [
            sample("cluster.cpu.user.avg", 214, cluster="prod"),
            sample("cluster.protostats.nfs", 40.5, "op_rate", cluster="prod", op_name="read", class_name="read"),
            sample("node.memory.free", 18446744073709551000, cluster="prod", node="3"),
            sample("node.ifs.heat.lock", 1.5, cluster="prod", node="3", path='/ifs/a "b"'),
        ],
        {"cluster.cpu.user.avg": "Cluster average of user CPU"},
    )
    lines = text.splitlines()
    assert "# HELP isilon_stat_cluster_cpu_user_avg Cluster average of user CPU" in lines
    assert "# TYPE isilon_stat_cluster_cpu_user_avg gauge" in lines
    assert 'isilon_stat_cluster_cpu_user_avg{cluster="prod"} 214' in lines
    assert 'isilon_stat_cluster_protostats_nfs_op_rate{class_name="read",cluster="prod",op_name="read"} 40.5' in lines
    assert 'isilon_stat_node_memory_free{cluster="prod",node="3"} 18446744073709551000' in lines
    assert 'isilon_stat_node_ifs_heat_lock{cluster="prod",node="3",path="/ifs/a \\"b\\""} 1.5' in lines
    sample_line = re.compile(r'^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_]\w*="([^"\\]|\\.)*",?)*\})? \S+$')
    assert all(sample_line.match(line) for line in lines if not line.startswith("#"))


def test_to_influx_groups_fields_and_escapes():
    text = to_influx(
        [
            sample("cluster.cpu.user.avg", 214, cluster="prod"),
            sample("cluster.protostats.nfs", 40.5, "op_rate", cluster="prod", op_name="read"),
            sample("cluster.protostats.nfs", 1200, "op_count", cluster="prod", op_name="read"),
            sample("node.ifs.heat.lock", 1.5, cluster="prod", node="3", path="/ifs/my dir,x=1"),
        ]
    )
    assert text == (
        "cluster.cpu.user.avg,cluster=prod value=214.0 1700000000000000000\n"
        "cluster.protostats.nfs,cluster=prod,op_name=read op_rate=40.5,op_count=1200.0 1700000000000000000\n"
        "node.ifs.heat.lock,cluster=prod,node=3,path=/ifs/my\\ dir\\,x\\=1 value=1.5 1700000000000000000\n"
    )


def test_encoders_say_nothing_for_nothing():
    assert to_influx([sample("k", float("nan"))]) == ""
    assert to_influx([]) == ""
    assert to_prometheus([]) == ""


def test_prometheus_timestamps_are_milliseconds():
    text = to_prometheus([sample("cluster.cpu.user.avg", 1, cluster="c")], timestamps=True)
    assert text.endswith('isilon_stat_cluster_cpu_user_avg{cluster="c"} 1 1700000000000\n')


def test_errors_carry_the_shared_kinds():
    from ansible_collections.quadstats.stack.plugins.module_utils import errors as shared  # noqa: PLC0415

    exc = errors.OneFSUnknownKeyError(["a.b"])
    assert isinstance(exc, shared.QuadstatsError)
    assert exc.kind == shared.KIND_NOT_FOUND
    assert errors.OneFSError("x", 403, shared.KIND_PERMISSION).to_dict(key="k") == {
        "kind": "permission",
        "message": "x",
        "status": 403,
        "key": "k",
    }


def test_forbidden_message_drops_the_query():
    target = "/platform/1/statistics/current?devid=all" + "&key=node.load.1min" * 400
    message = errors.forbidden_message("u", "h", 8080, target)
    assert "/platform/1/statistics/current " in message
    assert "key=" not in message
    assert len(message) < 300
