"""The normalised sample model from every value shape (pure)."""

import json
from pathlib import Path

import pytest

from ansible_collections.quadstats.stack.plugins.module_utils.onefs.samples import (
    RowDecoder,
    _decode_dict,
    decode_value,
    rows_to_samples,
    scalar_view,
)

ROWS = json.loads((Path(__file__).parent / "fixtures" / "current_shapes.json").read_text())["stats"]
UNITS = {"cluster.cpu.user.avg": "permil", "node.load.1min": "cents", "node.memory.free": "bytes"}


def by(samples, name, **labels):
    return [s for s in samples if s["name"] == name and all(s["labels"].get(k) == v for k, v in labels.items())]


@pytest.fixture
def decoded():
    return rows_to_samples(ROWS, UNITS, "prod", {4: 3, 5: 4}, include_degraded=True)


def test_scalar_cluster_and_node(decoded):
    samples = decoded[0]
    (cpu,) = by(samples, "cluster.cpu.user.avg")
    assert cpu == {
        "name": "cluster.cpu.user.avg",
        "field": None,
        "labels": {"cluster": "prod"},
        "value": 214,
        "unit": "permil",
        "timestamp": 1700000000,
        "degraded": False,
    }
    (load,) = by(samples, "node.load.1min")
    # The node label is the LNN from the row (3), never the devid (4).
    assert load["labels"] == {"cluster": "prod", "node": "3"}
    assert load["value"] == 1250
    assert load["unit"] == "cents"


def test_uint64_above_2_63_stays_exact(decoded):
    samples = decoded[0]
    (mem,) = by(samples, "node.memory.free")
    assert mem["value"] == 18446744073709551000
    assert isinstance(mem["value"], int)
    assert mem["value"] > 2**63


def test_protostats_list_one_sample_per_numeric_field(decoded):
    samples = decoded[0]
    proto = by(samples, "cluster.protostats.nfs")
    # two ops x 14 numeric fields; op_id is dropped, names become labels
    assert len(proto) == 2 * 14
    assert not any(s["field"] == "op_id" for s in proto)
    getattr_op = by(samples, "cluster.protostats.nfs", op_name="getattr", class_name="namespace_read")
    assert {s["field"]: s["value"] for s in getattr_op}["op_rate"] == 3.25
    assert {s["field"]: s["value"] for s in getattr_op}["op_count"] == 99
    read_time = [s for s in by(samples, "cluster.protostats.nfs", op_name="read") if s["field"] == "time_max"]
    assert [s["value"] for s in read_time] == [9000.0]


def test_total_list_holds_one_unnamed_dict(decoded):
    samples = decoded[0]
    total = by(samples, "cluster.protostats.nfs.total")
    assert len(total) == 11
    assert all(s["labels"] == {"cluster": "prod"} for s in total)
    assert {s["field"]: s["value"] for s in total}["op_rate"] == 43.75


def test_cache_dict(decoded):
    samples = decoded[0]
    cache = {s["field"]: s["value"] for s in by(samples, "node.ifs.cache")}
    assert cache == {
        "l1_data_read_start": 100,
        "l1_data_read_hit": 90,
        "l1_data_read_miss": 10,
        "l2_data_read_start": 10,
        "l2_data_read_hit": 7,
        "l3_data_read_miss": 1,
    }


def test_heat_list_single_field_has_no_field_suffix(decoded):
    samples = decoded[0]
    heat = by(samples, "node.ifs.heat.lock")
    assert [(s["labels"]["path"], s["field"], s["value"]) for s in heat] == [
        ("/ifs/data/projects", None, 120.5),
        ("SYSTEM (0x0)", None, 0.5),
    ]
    assert heat[0]["labels"]["node"] == "3"


def test_clientstats_nested_op_class_values(decoded):
    samples = decoded[0]
    cs = by(samples, "node.clientstats.proto.nfs", class_name="write")
    assert {s["field"]: s["value"] for s in cs} == {
        "op_count": 4,
        "op_rate": 0.5,
        "in_rate": 8192.0,
        "out_rate": 0.0,
        "time_avg": 900.0,
    }
    labels = cs[0]["labels"]
    assert labels["remote_addr"] == "10.1.1.7"
    assert labels["user_name"] == "alice"
    assert labels["protocol"] == "nfs3"
    assert labels["node"] == "3"


def test_disk_list_disk_is_a_label(decoded):
    samples = decoded[0]
    disks = by(samples, "node.disk.busy.all")
    assert [(s["labels"]["disk"], s["field"], s["value"]) for s in disks] == [("1", None, 125), ("2", None, 0)]


def test_degraded_kept_and_flagged_when_included(decoded):
    samples, errors = decoded
    (xfers,) = by(samples, "cluster.disk.xfers.rate")
    assert xfers["degraded"] is True
    assert xfers["value"] == 5120.5
    (err,) = [e for e in errors if e["key"] == "cluster.disk.xfers.rate"]
    assert (err["code"], err["kind"], err["kept"]) == (3, "degraded", True)
    # the shared error shape: kind and message first; no node or devid for a cluster-scoped key
    assert list(err)[:2] == ["kind", "message"]
    assert err["message"].startswith("degraded result")
    assert "node" not in err
    assert "devid" not in err


def test_degraded_dropped_when_excluded():
    samples, errors = rows_to_samples(ROWS, UNITS, "prod", include_degraded=False)
    assert not by(samples, "cluster.disk.xfers.rate")
    (err,) = [e for e in errors if e["key"] == "cluster.disk.xfers.rate"]
    assert err["kept"] is False


def test_transient_and_permanent_rows_give_no_sample(decoded):
    samples, errors = decoded
    assert not by(samples, "node.open.files")
    assert not by(samples, "node.sensor.volt.volts.nv1Vcur")
    kinds = {e["key"]: (e["code"], e["kind"], e.get("node"), e.get("devid")) for e in errors}
    assert kinds["node.open.files"] == (4, "transient", 4, 5)
    assert kinds["node.sensor.volt.volts.nv1Vcur"] == (9, "permanent", 4, 5)


def test_node_filter_keeps_cluster_rows():
    samples = rows_to_samples(ROWS, UNITS, "prod", nodes={4})[0]
    assert by(samples, "cluster.cpu.user.avg")
    assert not by(samples, "node.load.1min")  # node 3 filtered out


def test_node_label_from_devid_map_when_row_has_no_node():
    rows = [{"key": "node.load.1min", "devid": 7, "time": 1, "value": 5, "error": None, "error_code": None}]
    samples = rows_to_samples(rows, {}, "c", {7: 2})[0]
    assert samples[0]["labels"]["node"] == "2"


def test_decode_value_scalar_types():
    assert decode_value(3, {}) == [(None, {}, 3)]
    assert decode_value(2.5, {}) == [(None, {}, 2.5)]
    assert decode_value(True, {}) == [(None, {}, 1)]
    assert decode_value(None, {}) == []


def test_scalar_view_cluster_number_and_node_mapping(decoded):
    samples = decoded[0]
    view = scalar_view(samples)
    assert view["cluster.cpu.user.avg"] == 214
    assert view["node.load.1min"] == {3: 1250}
    assert isinstance(view["cluster.protostats.nfs.total"], list)


def generic_decode(value, base_labels):
    """The dict-by-dict decoder (``_decode_dict``) the shape plans and list columns must agree with."""
    out = []
    items = value if isinstance(value, list) else [value]
    for index, item in enumerate(items):
        if isinstance(item, dict):
            _decode_dict(item, base_labels, out)
        elif isinstance(item, (int, float)) and not isinstance(item, bool):
            out.append(({**base_labels, "index": str(index)}, (None,), (item,)))
    return [
        (field, labels, number) for labels, fields, values in out for field, number in zip(fields, values, strict=True)
    ]


OP = {"class_name": "read", "op_name": "read", "op_id": 0, "op_count": 7, "op_rate": 1.5}
ODD_LISTS = {
    "uniform": [OP, dict(OP, op_name="write", op_count=9)],
    "a number where the first has a label": [OP, dict(OP, op_name=5)],
    "a label where the first has a number": [OP, dict(OP, op_rate="fast")],
    "a null member": [OP, dict(OP, op_rate=None)],
    "a null in the first item": [dict(OP, op_rate=None), OP],
    "op_id as a string": [OP, dict(OP, op_id="x")],
    "a boolean": [OP, dict(OP, op_count=True)],
    "other member names": [OP, {"class_name": "read", "op_rate": 2.0}],
    "one numeric member": [{"path": "/ifs/a", "op_rate": 1.0}, {"path": "/ifs/b", "op_rate": 2}],
    "id labels": [{"disk": 1, "value": 406}, {"disk": 2, "value": 327}],
    "an id label that is a string": [{"disk": 1, "value": 406}, {"disk": "2", "value": 327}],
    "not only dicts": [OP, 3, "x", None],
    "nested lists and a dict label": [
        {"remote_addr": "10.0.0.1", "user": {"id": "UID:1", "name": "u", "n": 3, "f": 0.5}, "op_class_values": [OP]},
        {"remote_addr": "10.0.0.2", "user": {"id": "UID:2"}, "op_class_values": [OP, dict(OP, op_rate=None)]},
    ],
    "no numeric member": [{"path": "/ifs/a"}, {"path": "/ifs/b"}],
}


@pytest.mark.parametrize("name", sorted(ODD_LISTS))
def test_shape_plans_and_list_columns_agree_with_the_generic_decoder(name):
    """Every shortcut of the decoder (shape plans, C-level list columns, label caches) gives exactly
    what decoding each dict on its own gives, also on the second call when the caches are warm."""
    value = ODD_LISTS[name]
    base = {"cluster": "c", "node": "1"}
    decoder = RowDecoder()
    rows = [{"key": "k", "devid": 1, "node": 1, "time": 5, "value": value, "error": None, "error_code": None}]
    expected = [
        {"name": "k", "field": f, "labels": lab, "value": v, "unit": None, "timestamp": 5, "degraded": False}
        for f, lab, v in generic_decode(value, base)
    ]
    for _round in range(2):
        assert decode_value(value, base) == generic_decode(value, base)
        samples, _errors = rows_to_samples(rows, {}, "c", decoder=decoder)
        assert samples == expected


def test_a_reused_decoder_follows_changing_labels_and_node_maps():
    decoder = RowDecoder()
    first = [{"key": "k", "devid": 4, "node": 3, "time": 1, "value": [OP], "error": None, "error_code": None}]
    moved = [dict(first[0], node=5, value=[dict(OP, op_name="write")])]
    assert rows_to_samples(first, {}, "c", decoder=decoder)[0][0]["labels"] == {
        "cluster": "c",
        "node": "3",
        "class_name": "read",
        "op_name": "read",
    }
    labels = rows_to_samples(moved, {}, "c", decoder=decoder)[0][0]["labels"]
    assert labels == {"cluster": "c", "node": "5", "class_name": "read", "op_name": "write"}
    assert decoder.node_answers == [(4, 5)]
