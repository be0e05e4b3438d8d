"""POST /api/v1/write: remote write reduced to a heartbeat per host and disk usage per filesystem."""

from __future__ import annotations

import math
import struct
from datetime import UTC, datetime

import snappy

from ansible_collections.quadstats.stack.services.backend.ingest import proto
from harness.backend_testing import bearer

MS = 1_764_500_000_000
# Prometheus' staleness marker: a NaN with this exact bit pattern.
STALE = struct.unpack("<d", struct.pack("<Q", 0x7FF0000000000002))[0]
HEADERS = {
    "Content-Type": "application/x-protobuf",
    "Content-Encoding": "snappy",
    "X-Prometheus-Remote-Write-Version": "0.1.0",
}


def write_request(series):
    """A snappy WriteRequest built with the published prompb schema: [(labels, [(ms, value)])]."""
    request = proto.messages(lenient=False)["WriteRequest"]()
    for labels, samples in series:
        ts = request.timeseries.add()
        for name, value in labels.items():
            ts.labels.add(name=name, value=value)
        for millis, value in samples:
            ts.samples.add(timestamp=millis, value=value)
    return snappy.compress(request.SerializeToString())


def fs(name, host, mount, fstype, value, *, millis=MS):
    labels = {
        "__name__": name,
        "instance": f"{host}:9100",
        "job": "node",
        "mountpoint": mount,
        "fstype": fstype,
        "device": "/dev/x",
    }
    return (labels, [(millis, value)])


def test_heartbeat_and_disk_usage_per_filesystem(client, make_token, query):
    token = make_token("*")
    body = write_request(
        [
            ({"__name__": "up", "instance": "web1:9100", "job": "node"}, [(MS - 15000, 1.0), (MS, 1.0)]),
            fs("node_filesystem_avail_bytes", "web1", "/", "ext4", 25.0),
            fs("node_filesystem_size_bytes", "web1", "/", "ext4", 100.0),
            fs("node_filesystem_avail_bytes", "web1", "/run", "tmpfs", 1.0),
            fs("node_filesystem_size_bytes", "web1", "/run", "tmpfs", 100.0),
            fs("node_filesystem_avail_bytes", "web1", "/proc/x", "ext4", 1.0),
            fs("node_filesystem_size_bytes", "web1", "/proc/x", "ext4", 100.0),
            fs("node_filesystem_avail_bytes", "web2", "/data", "xfs", 5.0, millis=MS + 2000),
            fs("node_filesystem_size_bytes", "web2", "/data", "xfs", 50.0, millis=MS + 2000),
            ({"__name__": "node_load1", "host": "web3"}, [(MS, STALE)]),
        ]
    )
    answer = client.post("/api/v1/write", content=body, headers={**bearer(token), **HEADERS})
    assert answer.status_code == 204, answer.text
    got = query("SELECT host, name, type, value, reported_at FROM metrics ORDER BY host, name")
    at = datetime.fromtimestamp(MS / 1000, UTC)
    at2 = datetime.fromtimestamp((MS + 2000) / 1000, UTC)
    assert got == [
        ("web1", "/", "disk", "75.0", at),
        ("web1", "host", "ping", None, at),
        ("web2", "/data", "disk", "90.0", at2),
        ("web2", "host", "ping", None, at2),
    ]


def test_a_host_token_may_only_write_its_own_series(client, make_token, query):
    token = make_token("web1")
    own = write_request([({"__name__": "up", "instance": "web1:9100"}, [(MS, 1.0)]), ({"__name__": "x"}, [(MS, 2.0)])])
    assert client.post("/api/v1/write", content=own, headers={**bearer(token), **HEADERS}).status_code == 204
    assert query("SELECT host, name FROM metrics") == [("web1", "host")]
    other = write_request([({"__name__": "up", "instance": "web2:9100"}, [(MS, 1.0)])])
    answer = client.post("/api/v1/write", content=other, headers={**bearer(token), **HEADERS})
    assert answer.status_code == 403
    assert answer.json()["detail"].startswith("timeseries[0]: host label")


def test_bad_bodies_are_4xx(client, make_token):
    token = make_token("*")
    h = {**bearer(token), **HEADERS}
    assert (
        client.post("/api/v1/write", content=b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff", headers=h).status_code
        == 400
    )
    assert client.post("/api/v1/write", content=snappy.compress(b"\x0a\xff"), headers=h).status_code == 400
    gz = client.post("/api/v1/write", content=b"x", headers={**h, "Content-Encoding": "gzip"})
    assert gz.status_code == 415
    far = write_request([({"__name__": "up", "host": "h"}, [(2**62, 1.0)])])
    answer = client.post("/api/v1/write", content=far, headers=h)
    assert answer.status_code == 422
    assert "out of range" in answer.json()["detail"]
    assert math.isnan(STALE)
