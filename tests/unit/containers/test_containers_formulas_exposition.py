"""Formulas and the Prometheus / InfluxDB / JSON lines encoders."""

from __future__ import annotations

import json
import re

from ansible_collections.quadstats.stack.plugins.module_utils.containers import exposition, formulas

SERIES = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)\{((?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*",?)*)\} (\S+)$')


def sample(name="web", **extra):
    base = {
        "labels": {"id": "abc", "name": name, "image": "localhost/img:1"},
        "counters": {"cpu_usage_ns": 2_500_000_000, "net_rx_bytes": 10, "net_tx_bytes": 20, "blkio_write_bytes": 5},
        "gauges": {"memory_usage_bytes": 300, "memory_working_set_bytes": 200, "memory_limit_bytes": None},
        "rates": {"cpu_percent": 50.0},
        "timestamp": 1_700_000_000.25,
    }
    base.update(extra)
    return base


def test_cpu_percent_is_relative_to_one_core():
    assert formulas.cpu_percent(0, 1_000_000_000, 0, 1_000_000_000) == 100.0
    assert formulas.cpu_percent(0, 2_000_000_000, 0, 1_000_000_000) == 200.0
    assert formulas.cpu_percent(5, 4, 0, 10) is None  # counter reset
    assert formulas.cpu_percent(0, 1, 5, 5) is None


def test_rates_between_two_samples():
    before = {"cpu_usage_ns": 0, "net_rx_bytes": 100, "blkio_write_ops": 9}
    after = {"cpu_usage_ns": 1_000_000_000, "net_rx_bytes": 300, "blkio_write_ops": 1}
    assert formulas.rates(before, after, 0) == {}
    out = formulas.rates(before, after, 2_000_000_000)
    assert out["cpu_percent"] == 50.0
    assert out["net_rx_bytes_per_second"] == 100.0
    assert "blkio_write_ops_per_second" not in out  # reset: no rate rather than a negative one
    assert out["interval_seconds"] == 2.0


def test_statvfs_usage_like_mini_collector():
    assert formulas.statvfs_usage(blocks=100, bavail=30, bfree=40, frsize=4096) == {
        "used_bytes": 70 * 4096,
        "limit_bytes": 100 * 4096,
        "free_bytes": 30 * 4096,
        "reserved_bytes": 10 * 4096,
    }
    assert formulas.memory_percent(50, 200) == 25.0
    assert formulas.memory_percent(50, None) is None


def test_prometheus_text_format_0_0_4_with_the_name_on_every_series():
    text = exposition.to_prometheus(
        [sample("web"), sample('we"ird\\name', disk={"/data": {"used_bytes": 1, "limit_bytes": 2}})],
        extra_labels={"host": "h1"},
    )
    assert text.endswith("\n")
    families = {}
    for line in text.splitlines():
        if line.startswith("# HELP "):
            continue
        if line.startswith("# TYPE "):
            name, mtype = line.split(" ")[2:]
            assert mtype in ("counter", "gauge")
            assert name.endswith("_total") == (mtype == "counter")
            families[name] = mtype
            continue
        match = SERIES.match(line)
        assert match, line
        assert match.group(1) in families
        assert 'name="' in match.group(2)
        assert 'host="h1"' in match.group(2)
        float(match.group(3))
    assert 'name="we\\"ird\\\\name"' in text
    assert 'container_cpu_usage_seconds_total{host="h1",id="abc",image="localhost/img:1",name="web"} 2.5' in text
    # unlimited is 0 like cAdvisor; rx and tx are their own counters (statspout set them to memory %)
    assert 'container_spec_memory_limit_bytes{host="h1",id="abc",image="localhost/img:1",name="web"} 0' in text
    assert 'container_network_receive_bytes_total{host="h1",id="abc",image="localhost/img:1",name="web"} 10' in text
    assert 'container_network_transmit_bytes_total{host="h1",id="abc",image="localhost/img:1",name="web"} 20' in text
    assert 'container_fs_usage_bytes{host="h1",id="abc",image="localhost/img:1",mountpoint="/data",name="we' in text
    assert exposition.to_prometheus([]) == ""


def test_influx_line_protocol():
    text = exposition.to_influx(
        [sample("my web,1", labels={"id": "abc", "name": "my web,1", "image": "", "unit": "a=b"})]
    )
    line = text.rstrip("\n")
    head, fields, stamp = line.rsplit(" ", 2)
    assert head == "container,id=abc,name=my\\ web\\,1,unit=a\\=b"  # empty image tag dropped
    assert "cpu_usage_ns=2500000000i" in fields
    assert "cpu_percent=50.0" in fields
    assert "memory_limit_bytes" not in fields  # unknown/unlimited left out
    assert stamp == "1700000000250000000"  # seconds since the epoch -> nanoseconds


def test_prometheus_timestamps_in_milliseconds_on_request():
    plain = exposition.to_prometheus([sample("web")])
    stamped = exposition.to_prometheus([sample("web")], timestamps=True)
    assert " 1700000000250\n" not in plain
    series = [line for line in stamped.splitlines() if not line.startswith("#")]
    assert series and all(line.endswith(" 1700000000250") for line in series)


def test_json_lines_round_trip():
    text = exposition.to_json_lines([sample("a"), sample("b")])
    lines = text.splitlines()
    assert len(lines) == 2
    assert [json.loads(x)["labels"]["name"] for x in lines] == ["a", "b"]
